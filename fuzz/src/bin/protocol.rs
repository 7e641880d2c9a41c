//! Kiosk input: a byte stream split into lines (`LineReader`), each line
//! parsed as a command, each refusal turned into its `error` reply.

use edgepaint::kiosk::lines::LineReader;
use edgepaint::kiosk::protocol::{parse, Event};
use edgepaint::kiosk::MAX_LINE;
use std::io::Read;

/// Hands out the input a few bytes at a time (as a serial line does), so
/// lines split across reads are covered; the first byte picks the chunk size.
struct Trickle<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.data.len().min(self.chunk).min(out.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Some((&first, rest)) = data.split_first() else { return };
        let mut reader = LineReader::new(Trickle { data: rest, chunk: first as usize + 1 });
        while let Ok(line) = reader.next_line() {
            match line {
                Ok(line) => {
                    assert!(line.len() <= MAX_LINE && !line.contains('\n'), "{line:?}");
                    if let Err(e) = parse(&line) {
                        Event::error(e).to_line();
                    }
                }
                Err(e) => {
                    Event::error(e).to_line();
                }
            }
        }
    });
}
