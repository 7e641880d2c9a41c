//! The `[display]` section of a board file.

use super::input::LineRef;
use serde::Deserialize;
use std::path::PathBuf;

/// Which screen the kiosk draws on. `kind` selects the back-end.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DisplayConfig {
    /// No screen (serial/stdin only).
    #[default]
    None,
    Png(PngConfig),
    Fb(FbConfig),
    Spi(SpiConfig),
}

/// Every frame written as a PNG into `dir` (frame-NNNNNN.png and latest.png).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PngConfig {
    pub dir: PathBuf,
    #[serde(default = "default_width")]
    pub width: u32,
    #[serde(default = "default_height")]
    pub height: u32,
    /// Keep only latest.png instead of one file per frame.
    #[serde(default)]
    pub latest_only: bool,
}

fn default_width() -> u32 {
    320
}
fn default_height() -> u32 {
    240
}

/// A Linux framebuffer. For a character device (/dev/fbN) the geometry comes
/// from the device and any value given here must agree; for a plain file
/// (tests, a remote viewer) width, height and bpp are required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FbConfig {
    pub device: PathBuf,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// 16 (RGB565) or 32 (XRGB8888).
    pub bpp: Option<u32>,
    /// Bytes per row (default: width × bpp / 8).
    pub line_length: Option<u32>,
    /// For a screen mounted sideways or upside down: the picture is turned
    /// clockwise by this many degrees onto the framebuffer (0, 90, 180, 270;
    /// width and height stay the framebuffer's own).
    #[serde(default)]
    pub rotation: Rotation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Controller {
    St7789,
    Ili9341,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "u32")]
pub enum Rotation {
    #[default]
    Deg0,
    Deg90,
    Deg180,
    Deg270,
}

impl Rotation {
    /// The layout's size on a device of `width` × `height` turned this way.
    pub fn layout_size(self, width: u32, height: u32) -> (u32, u32) {
        match self {
            Rotation::Deg90 | Rotation::Deg270 => (height, width),
            Rotation::Deg0 | Rotation::Deg180 => (width, height),
        }
    }
}

impl TryFrom<u32> for Rotation {
    type Error = String;
    fn try_from(v: u32) -> Result<Self, String> {
        match v {
            0 => Ok(Rotation::Deg0),
            90 => Ok(Rotation::Deg90),
            180 => Ok(Rotation::Deg180),
            270 => Ok(Rotation::Deg270),
            _ => Err(format!("rotation must be 0, 90, 180 or 270 (got {v})")),
        }
    }
}

/// An SPI TFT panel driven through mipidsi (spidev + GPIO character device).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpiConfig {
    pub controller: Controller,
    /// e.g. /dev/spidev0.0
    pub spidev: PathBuf,
    #[serde(default = "default_speed")]
    pub speed_hz: u32,
    /// Size after rotation, as the layout sees it.
    pub width: u32,
    pub height: u32,
    #[serde(default)]
    pub rotation: Rotation,
    /// GPIO chip of the DC/reset/backlight lines (default /dev/gpiochip0).
    #[serde(default = "default_chip")]
    pub gpio_chip: PathBuf,
    pub dc: LineRef,
    pub reset: Option<LineRef>,
    pub backlight: Option<LineRef>,
    /// Many ST7789 modules need inverted colours.
    #[serde(default)]
    pub invert_colors: bool,
    /// Panel wired BGR instead of RGB.
    #[serde(default)]
    pub bgr: bool,
    /// Offset of the visible area in the controller's memory (e.g. 240×240 ST7789: 0, 80 when rotated).
    #[serde(default)]
    pub offset_x: u16,
    #[serde(default)]
    pub offset_y: u16,
}

fn default_speed() -> u32 {
    32_000_000
}

pub(super) fn default_chip() -> PathBuf {
    PathBuf::from("/dev/gpiochip0")
}

impl DisplayConfig {
    /// The layout's size in pixels, where the board file fixes it.
    pub fn size(&self) -> Option<(u32, u32)> {
        match self {
            DisplayConfig::None => None,
            DisplayConfig::Png(p) => Some((p.width, p.height)),
            DisplayConfig::Fb(f) => f.width.zip(f.height).map(|(w, h)| f.rotation.layout_size(w, h)),
            DisplayConfig::Spi(s) => Some((s.width, s.height)),
        }
    }

    pub(super) fn check(&self) -> Result<(), (String, String)> {
        let small = |w: u32, h: u32| w < 64 || h < 64 || w > 8192 || h > 8192;
        match self {
            DisplayConfig::None => Ok(()),
            DisplayConfig::Png(p) if small(p.width, p.height) => {
                Err(("display.width".into(), "width and height must be 64..=8192".into()))
            }
            DisplayConfig::Spi(s) if small(s.width, s.height) => {
                Err(("display.width".into(), "width and height must be 64..=8192".into()))
            }
            DisplayConfig::Fb(f) => match f.bpp {
                Some(16) | Some(32) | None => Ok(()),
                Some(b) => Err(("display.bpp".into(), format!("must be 16 or 32 (got {b})"))),
            },
            _ => Ok(()),
        }
    }
}
