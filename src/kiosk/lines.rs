//! Splitting a byte stream (serial, stdin) into protocol lines of at most
//! [`MAX_LINE`] bytes, without ever buffering more than that.

use super::protocol::{ErrorCode, ProtocolError, MAX_LINE};
use std::io::{ErrorKind, Read};

/// Reads `\n`-terminated lines; a trailing `\r` is dropped.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    line: Vec<u8>,
    /// The current line went over the limit: skip to its end, then report it once.
    overflow: bool,
    eof: bool,
}

impl<R: Read> LineReader<R> {
    pub fn new(inner: R) -> Self {
        LineReader { inner, buf: vec![0; 4096], start: 0, end: 0, line: Vec::new(), overflow: false, eof: false }
    }

    /// The next line (`Ok(Ok(text))`), a malformed one (`Ok(Err(..))`), or
    /// `Err` at end of input or on a read error.
    pub fn next_line(&mut self) -> std::io::Result<Result<String, ProtocolError>> {
        loop {
            if self.start == self.end {
                if self.eof {
                    return Err(ErrorKind::UnexpectedEof.into());
                }
                match self.inner.read(&mut self.buf) {
                    Ok(0) => {
                        self.eof = true;
                        if self.overflow || !self.line.is_empty() {
                            return Ok(self.finish());
                        }
                        continue;
                    }
                    Ok(n) => {
                        self.start = 0;
                        self.end = n;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            let chunk = &self.buf[self.start..self.end];
            let (take, newline) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (chunk.len(), false),
            };
            if !self.overflow {
                if self.line.len() + take > MAX_LINE + 1 {
                    // +1: room for a '\r' before the '\n'.
                    self.overflow = true;
                    self.line.clear();
                } else {
                    self.line.extend_from_slice(&chunk[..take]);
                }
            }
            self.start += take + newline as usize;
            if newline {
                return Ok(self.finish());
            }
        }
    }

    fn finish(&mut self) -> Result<String, ProtocolError> {
        let mut line = std::mem::take(&mut self.line);
        if std::mem::take(&mut self.overflow) {
            return Err(too_long());
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.len() > MAX_LINE {
            return Err(too_long());
        }
        String::from_utf8(line)
            .map_err(|_| ProtocolError::new(ErrorCode::InvalidUtf8, "the line is not valid UTF-8"))
    }
}

fn too_long() -> ProtocolError {
    ProtocolError::new(ErrorCode::LineTooLong, format!("the line is longer than {MAX_LINE} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> Vec<Result<String, ErrorCode>> {
        // A reader returning 7 bytes at a time exercises lines split across reads.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(7).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut r = LineReader::new(Trickle(input));
        let mut out = Vec::new();
        while let Ok(l) = r.next_line() {
            out.push(l.map_err(|e| e.code));
        }
        out
    }

    #[test]
    fn splits_limits_and_validates() {
        let mut input = b"one\r\ntwo\n".to_vec();
        input.extend(vec![b'x'; MAX_LINE]);
        input.push(b'\n');
        input.extend(vec![b'y'; MAX_LINE + 1]);
        input.extend(b"\n\xff\xfe\nlast");
        let got = all(&input);
        assert_eq!(got[0], Ok("one".into()));
        assert_eq!(got[1], Ok("two".into()));
        assert_eq!(got[2].as_ref().unwrap().len(), MAX_LINE);
        assert_eq!(got[3], Err(ErrorCode::LineTooLong));
        assert_eq!(got[4], Err(ErrorCode::InvalidUtf8));
        assert_eq!(got[5], Ok("last".into()));
        assert_eq!(got.len(), 6);
    }

    #[test]
    fn huge_line_is_one_error() {
        let mut input = vec![b'z'; 100_000];
        input.extend(b"\nok\n");
        assert_eq!(all(&input), vec![Err(ErrorCode::LineTooLong), Ok("ok".into())]);
    }
}
