//! Buttons: edge events in, debounced presses out, each bound (in the board
//! file) to a preset or an action. The logic is independent of where the
//! events come from: GPIO ([`super::gpio`]) on a board, a fake in tests.

use crate::board::{ButtonAction, ButtonConfig};
use crate::kiosk::Msg;
use std::sync::mpsc::Sender;
use std::time::Duration;

/// One edge on button `button` (its index in the board's [[button]] list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub button: usize,
    /// true: the button went down (active), false: released.
    pub pressed: bool,
    /// Monotonic time of the edge.
    pub at: Duration,
}

/// Where edges come from. `Ok(None)`: the source has closed.
pub trait EdgeSource: Send {
    fn next_edge(&mut self) -> std::io::Result<Option<Edge>>;
}

/// An edge source that survives its device going away (a GPIO chip that is
/// unbound, a USB GPIO expander pulled out): a read error is logged, and the
/// source is reopened every `retry` until it is back, as the serial line is.
/// Presses while it is gone are lost; the kiosk keeps serving its other
/// inputs meanwhile.
pub struct Reopening<F> {
    open: F,
    source: Option<Box<dyn EdgeSource>>,
    retry: Duration,
}

impl<F> Reopening<F>
where
    F: FnMut() -> std::io::Result<Box<dyn EdgeSource>> + Send,
{
    pub fn new(source: Box<dyn EdgeSource>, open: F, retry: Duration) -> Self {
        Reopening { open, source: Some(source), retry }
    }
}

impl<F> EdgeSource for Reopening<F>
where
    F: FnMut() -> std::io::Result<Box<dyn EdgeSource>> + Send,
{
    fn next_edge(&mut self) -> std::io::Result<Option<Edge>> {
        loop {
            let source = match &mut self.source {
                Some(source) => source,
                None => match (self.open)() {
                    Ok(source) => {
                        log::warn!("buttons are back");
                        self.source.insert(source)
                    }
                    Err(_) => {
                        std::thread::sleep(self.retry);
                        continue;
                    }
                },
            };
            match source.next_edge() {
                Err(e) => {
                    log::error!("buttons stopped ({e}); reopening every {:?}", self.retry);
                    self.source = None;
                    std::thread::sleep(self.retry);
                }
                other => return other,
            }
        }
    }
}

/// Turns bouncy edges into clean presses: an edge within `period` of the
/// last accepted edge of the same button is contact bounce and ignored; a
/// press is reported when the button goes down.
pub struct Debouncer {
    period: Duration,
    lines: Vec<LineState>,
}

#[derive(Clone, Copy, Default)]
struct LineState {
    pressed: bool,
    last: Option<Duration>,
}

impl Debouncer {
    pub fn new(buttons: usize, period: Duration) -> Debouncer {
        Debouncer { period, lines: vec![LineState::default(); buttons] }
    }

    /// Some(button) when this edge is a new press.
    pub fn edge(&mut self, e: Edge) -> Option<usize> {
        let s = self.lines.get_mut(e.button)?;
        if s.last.is_some_and(|t| e.at.saturating_sub(t) < self.period) {
            return None;
        }
        if s.pressed == e.pressed {
            return None;
        }
        s.pressed = e.pressed;
        s.last = Some(e.at);
        e.pressed.then_some(e.button)
    }
}

/// The kiosk message a press of `button` sends.
pub fn binding(button: &ButtonConfig) -> Msg {
    let preset = (button.action == ButtonAction::Preset).then_some(button.preset).flatten();
    Msg::Button { action: button.action, preset }
}

/// Read edges until the source closes (or the kiosk goes away), sending one
/// message per debounced press.
pub fn run(mut source: Box<dyn EdgeSource>, buttons: &[ButtonConfig], debounce: Duration, tx: Sender<Msg>) {
    let mut debouncer = Debouncer::new(buttons.len(), debounce);
    loop {
        match source.next_edge() {
            Ok(Some(edge)) => {
                if let Some(b) = debouncer.edge(edge) {
                    log::info!("button {} ({:?}) pressed", b + 1, buttons[b].action);
                    if tx.send(binding(&buttons[b])).is_err() {
                        return;
                    }
                }
            }
            Ok(None) => return,
            Err(e) => {
                log::error!("buttons stopped: {e}");
                return;
            }
        }
    }
}
