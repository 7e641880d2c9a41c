//! Where replies go: one writer per input source (stdout for stdin, the tty
//! for a serial line). A reply goes to one of them or to all.

use super::protocol::Event;
use super::msg::SourceId;
use std::io::Write;

/// Who hears about something: the source that asked, or every output
/// (button presses, attract mode, start-up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    One(SourceId),
    All,
}

struct Output {
    name: String,
    writer: Box<dyn Write + Send>,
    /// The last write failed (logged once per outage).
    failing: bool,
}

#[derive(Default)]
pub struct Outputs {
    list: Vec<Output>,
}

impl Outputs {
    pub fn add(&mut self, name: &str, writer: Box<dyn Write + Send>) -> SourceId {
        self.list.push(Output { name: name.to_string(), writer, failing: false });
        self.list.len() - 1
    }

    pub fn name(&self, source: SourceId) -> &str {
        self.list.get(source).map(|o| o.name.as_str()).unwrap_or("?")
    }

    /// Write the event as one line and flush. A failing output is skipped
    /// quietly after the first warning; it may come back (a serial line).
    pub fn send(&mut self, to: Target, event: &Event) {
        let line = event.to_line();
        for (i, out) in self.list.iter_mut().enumerate() {
            if to != Target::All && to != Target::One(i) {
                continue;
            }
            let w = &mut out.writer;
            match w.write_all(line.as_bytes()).and_then(|_| w.flush()) {
                Ok(()) => out.failing = false,
                Err(e) if !std::mem::replace(&mut out.failing, true) => log::warn!("cannot write to {}: {e}", out.name),
                Err(_) => {}
            }
        }
    }
}
