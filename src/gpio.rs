//! GPIO lines as board files name them: by number on a chip, or by name on
//! any chip (Jetson names its lines differently from the Pi). One lookup for
//! every driver that requests lines (SPI panels' DC/reset/backlight, buttons).

use serde::Deserialize;
use std::path::{Path, PathBuf};

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

/// The chip board files mean when they name none.
pub fn default_chip() -> PathBuf {
    PathBuf::from("/dev/gpiochip0")
}

/// The chip and offset of `line`: a number is on `chip`, a name is looked
/// up on every chip. None: no line has that name.
pub fn resolve(chip: &Path, line: &LineRef) -> Option<(PathBuf, u32)> {
    match line {
        LineRef::Number(n) => Some((chip.to_path_buf(), *n)),
        LineRef::Name(name) => gpiocdev::find_named_line(name).map(|found| (found.chip, found.info.offset)),
    }
}
