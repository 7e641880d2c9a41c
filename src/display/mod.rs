//! The attached screen. One layout ([`layout::render`]) draws a [`Screen`]
//! into a [`Frame`] with embedded-graphics; back-ends behind the [`Display`]
//! trait only present frames: `png` (files), `fb` (Linux framebuffer), `spi`
//! (ST7789/ILI9341 through mipidsi).

pub mod config;
pub mod fb;
pub mod frame;
pub mod layout;
pub mod png;
pub mod screen;
pub mod spi;
pub mod spi_hw;

pub use config::{DisplayConfig, DisplaySpec};
pub use fb::{FbConfig, Rotation};
pub use frame::Frame;
pub use png::PngConfig;
pub use spi::{PanelChip, SpiConfig};
pub use screen::Screen;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum DisplayError {
    #[error("display {device}: {message}")]
    Device { device: String, message: String },
}

impl DisplayError {
    pub fn device(device: impl std::fmt::Display, message: impl std::fmt::Display) -> DisplayError {
        DisplayError::Device { device: device.to_string(), message: message.to_string() }
    }
}

/// A screen back-end: presents whole frames of its own size.
pub trait Display: Send {
    /// Width and height the layout must draw at.
    fn size(&self) -> (u32, u32);
    fn show(&mut self, frame: &Frame) -> Result<(), DisplayError>;
}

/// Draw the screen at the display's size and present it.
pub fn present(display: &mut dyn Display, screen: &Screen) -> Result<(), DisplayError> {
    let (w, h) = display.size();
    let frame = layout::render(screen, w, h);
    display.show(&frame)
}

/// Open the back-end a board's `[display]` names (None: no screen).
pub fn open(config: &DisplayConfig) -> Result<Option<Box<dyn Display>>, DisplayError> {
    Ok(match config {
        DisplayConfig::None => None,
        DisplayConfig::Png(p) => {
            Some(Box::new(png::PngDisplay::with_ring(p.dir.clone(), p.width, p.height, p.latest_only, p.keep_frames)?))
        }
        DisplayConfig::Fb(f) => Some(Box::new(fb::FbDisplay::open(f)?)),
        DisplayConfig::Spi(s) => Some(spi_hw::open(s)?),
    })
}
