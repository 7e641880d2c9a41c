//! The `[serial]`, `[buttons]` and `[[button]]` sections of a board file.

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialConfig {
    /// e.g. /dev/serial0 (UART), /dev/ttyACM0 or /dev/ttyGS0 (USB CDC).
    pub device: PathBuf,
    #[serde(default = "default_baud")]
    pub baud: u32,
}

fn default_baud() -> u32 {
    115_200
}

/// A GPIO line, by number on its chip or by name (Jetson names differ from the Pi's).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum LineRef {
    Number(u32),
    Name(String),
}

impl std::fmt::Display for LineRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineRef::Number(n) => write!(f, "line {n}"),
            LineRef::Name(s) => write!(f, "line \"{s}\""),
        }
    }
}

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
    #[serde(default = "super::display::default_chip")]
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
            chip: super::display::default_chip(),
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
    pub line: LineRef,
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
