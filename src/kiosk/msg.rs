//! What flows into the kiosk's one channel: lines from the inputs, button
//! presses, the worker's reports and the shutdown request.

use super::protocol::ProtocolError;
use super::worker::WorkerEvent;
use crate::input::ButtonAction;

/// An input's index, as given by [`super::Kiosk::add_source`]; replies go back to it.
pub type SourceId = usize;

#[derive(Debug)]
pub enum Msg {
    /// One line from a source, or why it was malformed.
    Line { source: SourceId, line: Result<String, ProtocolError> },
    /// The source reached end of input (or failed with `error`).
    Closed { source: SourceId, error: Option<String> },
    /// A debounced button press: its action and, for `Preset`, the preset (from 1).
    Button { action: ButtonAction, preset: Option<usize> },
    Worker(WorkerEvent),
    /// SIGTERM or the like: cancel what runs and stop.
    Shutdown,
}
