//! Buttons: edge events in, debounced presses out, each bound (in the board
//! file) to a preset or an action. The logic is independent of where the
//! events come from: GPIO ([`super::gpio`]) on a board, a fake in tests.

use serde::Deserialize;
use std::path::PathBuf;
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

/// A debounced press, as the board file binds it: the action and, for
/// `Preset`, which preset (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Press {
    pub action: ButtonAction,
    pub preset: Option<usize>,
}

/// What a press of `button` means.
pub fn binding(button: &ButtonConfig) -> Press {
    let preset = (button.action == ButtonAction::Preset).then_some(button.preset).flatten();
    Press { action: button.action, preset }
}

/// Read edges until the source closes, handing one [`Press`] per debounced
/// press to `on_press`; stops early when it returns false (its receiver is gone).
pub fn run(
    mut source: Box<dyn EdgeSource>,
    buttons: &[ButtonConfig],
    debounce: Duration,
    mut on_press: impl FnMut(Press) -> bool,
) {
    let mut debouncer = Debouncer::new(buttons.len(), debounce);
    loop {
        match source.next_edge() {
            Ok(Some(edge)) => {
                if let Some(b) = debouncer.edge(edge) {
                    log::info!("button {} ({:?}) pressed", b + 1, buttons[b].action);
                    if !on_press(binding(&buttons[b])) {
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

// The `[buttons]` and `[[button]]` sections of a board file.

/// What a button press does while a generation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DuringGeneration {
    /// Queue the request (a full queue answers `busy`).
    #[default]
    Queue,
    /// Drop presses that would start a generation.
    Ignore,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ButtonsConfig {
    #[serde(default = "crate::gpio::default_chip")]
    pub chip: PathBuf,
    #[serde(default = "default_debounce")]
    pub debounce_ms: u64,
    /// Buttons pull the line to ground (internal pull-up enabled).
    #[serde(default = "yes")]
    pub active_low: bool,
    #[serde(default)]
    pub during_generation: DuringGeneration,
}

impl Default for ButtonsConfig {
    fn default() -> Self {
        ButtonsConfig {
            chip: crate::gpio::default_chip(),
            debounce_ms: default_debounce(),
            active_low: true,
            during_generation: DuringGeneration::Queue,
        }
    }
}

fn default_debounce() -> u64 {
    30
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ButtonConfig {
    pub line: crate::gpio::LineRef,
    pub action: ButtonAction,
    /// For `action = "preset"`: which [[preset]], counted from 1.
    pub preset: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ButtonAction {
    /// Generate the preset given by `preset`.
    Preset,
    NextPreset,
    RandomPreset,
    RateUp,
    RateDown,
    Cancel,
}
