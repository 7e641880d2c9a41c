//! SPI TFT panels (ST7789, ILI9341 family) through mipidsi: the frame is
//! pushed in RGB565, one CASET/RASET/RAMWR per run of rows that changed
//! since the last frame sent (a step's preview: the picture and the progress
//! bar, not the whole screen; at 32 MHz a full 320×240 frame is about 40 ms
//! of bus time). Generic over the
//! SPI device and pins so tests can record the bus; [`open`] wires the real
//! ones (spidev + GPIO character device).

use super::{Display, DisplayError, Frame};
use super::fb::Rotation;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::OutputPin;
use embedded_hal::spi::SpiDevice;
use mipidsi::interface::SpiInterface;
use mipidsi::models::{Model, ILI9341Rgb565, ST7789};
use mipidsi::options::{ColorInversion, ColorOrder, Orientation};
use embedded_graphics::pixelcolor::Rgb565;
use serde::Deserialize;
use crate::gpio::LineRef;
use std::path::PathBuf;

/// Bytes mipidsi batches per SPI write (spidev's default limit is 4096).
const CHUNK: usize = 4096;

struct Panel<SPI: SpiDevice, DC: OutputPin, RST: OutputPin, M: Model<ColorFormat = Rgb565>> {
    inner: mipidsi::Display<SpiInterface<'static, SPI, DC>, M, RST>,
    width: u32,
    height: u32,
    device: String,
    /// What the panel shows now (None at first and after a failed write:
    /// the next frame is sent whole).
    shown: Option<Vec<Rgb565>>,
}

impl<SPI, DC, RST, M> Display for Panel<SPI, DC, RST, M>
where
    SPI: SpiDevice + Send,
    DC: OutputPin + Send,
    RST: OutputPin + Send,
    M: Model<ColorFormat = Rgb565> + Send,
{
    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn show(&mut self, frame: &Frame) -> Result<(), DisplayError> {
        let (w, h) = (frame.width.min(self.width) as usize, frame.height.min(self.height) as usize);
        let pixels = frame.to_rgb565();
        let stride = frame.width as usize;
        let shown = self.shown.take().filter(|s| s.len() == pixels.len());
        for (x0, y0, x1, y1) in changed(shown.as_deref(), &pixels, stride, w, h) {
            let rows = (y0..=y1).flat_map(|y| pixels[y * stride + x0..=y * stride + x1].iter().copied());
            self.inner
                .set_pixels(x0 as u16, y0 as u16, x1 as u16, y1 as u16, rows)
                .map_err(|e| DisplayError::device(&self.device, format!("SPI write failed: {e:?}")))?;
        }
        self.shown = Some(pixels);
        Ok(())
    }
}

/// The rectangles (x0, y0, x1, y1, inclusive) of the top-left w × h pixels
/// in which `new` differs from `shown`: one per run of changed rows (so the
/// picture and the progress bar below it are two windows, not the screen
/// between them); the whole area when nothing is shown yet.
fn changed(shown: Option<&[Rgb565]>, new: &[Rgb565], stride: usize, w: usize, h: usize) -> Vec<(usize, usize, usize, usize)> {
    if w == 0 || h == 0 {
        return Vec::new();
    }
    let Some(shown) = shown else { return vec![(0, 0, w - 1, h - 1)] };
    let mut windows: Vec<(usize, usize, usize, usize)> = Vec::new();
    for y in 0..h {
        let row = y * stride;
        let differs = |x: &usize| shown[row + x] != new[row + x];
        let Some(first) = (0..w).find(differs) else { continue };
        let last = (0..w).rev().find(differs).unwrap_or(first);
        match windows.last_mut() {
            Some((x0, _, x1, y1)) if *y1 + 1 == y => {
                (*x0, *x1, *y1) = ((*x0).min(first), (*x1).max(last), y);
            }
            _ => windows.push((first, y, last, y)),
        }
    }
    windows
}

/// Initialise the panel the board describes on the given bus and pins.
pub fn build<SPI, DC, RST>(
    config: &SpiConfig,
    spi: SPI,
    dc: DC,
    reset: Option<RST>,
    delay: &mut impl DelayNs,
) -> Result<Box<dyn Display>, DisplayError>
where
    SPI: SpiDevice + Send + 'static,
    DC: OutputPin + Send + 'static,
    RST: OutputPin + Send + 'static,
{
    match config.controller {
        PanelChip::St7789 => build_model(ST7789, config, spi, dc, reset, delay),
        PanelChip::Ili9341 => build_model(ILI9341Rgb565, config, spi, dc, reset, delay),
    }
}

fn build_model<M, SPI, DC, RST>(
    model: M,
    config: &SpiConfig,
    spi: SPI,
    dc: DC,
    reset: Option<RST>,
    delay: &mut impl DelayNs,
) -> Result<Box<dyn Display>, DisplayError>
where
    M: Model<ColorFormat = Rgb565> + Send + 'static,
    SPI: SpiDevice + Send + 'static,
    DC: OutputPin + Send + 'static,
    RST: OutputPin + Send + 'static,
{
    let device = config.spidev.display().to_string();
    // The panel lives as long as the kiosk; its transfer buffer too.
    let buffer: &'static mut [u8] = Box::leak(vec![0u8; CHUNK].into_boxed_slice());
    let di = SpiInterface::new(spi, dc, buffer);
    let (rotation, swapped) = match config.rotation {
        Rotation::Deg0 => (mipidsi::options::Rotation::Deg0, false),
        Rotation::Deg90 => (mipidsi::options::Rotation::Deg90, true),
        Rotation::Deg180 => (mipidsi::options::Rotation::Deg180, false),
        Rotation::Deg270 => (mipidsi::options::Rotation::Deg270, true),
    };
    // mipidsi wants the panel's native (unrotated) size.
    let (w, h) = (config.width as u16, config.height as u16);
    let native = if swapped { (h, w) } else { (w, h) };
    let builder = mipidsi::Builder::new(model, di)
        .display_size(native.0, native.1)
        .display_offset(config.offset_x, config.offset_y)
        .orientation(Orientation::new().rotate(rotation))
        .invert_colors(if config.invert_colors { ColorInversion::Inverted } else { ColorInversion::Normal })
        .color_order(if config.bgr { ColorOrder::Bgr } else { ColorOrder::Rgb });
    let fail = |e: String| DisplayError::device(&device, format!("panel initialisation failed: {e}"));
    let (width, height) = (config.width, config.height);
    Ok(match reset {
        Some(rst) => {
            let inner = builder.reset_pin(rst).init(delay).map_err(|e| fail(format!("{e:?}")))?;
            Box::new(Panel { inner, width, height, device: device.clone(), shown: None })
        }
        // No reset line: mipidsi sends a software reset instead.
        None => {
            let inner = builder.init(delay).map_err(|e| fail(format!("{e:?}")))?;
            Box::new(Panel { inner, width, height, device: device.clone(), shown: None })
        }
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
/// The panel's controller chip (mipidsi model).
pub enum PanelChip {
    St7789,
    Ili9341,
}

/// An SPI TFT panel driven through mipidsi (spidev + GPIO character device).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpiConfig {
    pub controller: PanelChip,
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
    #[serde(default = "crate::gpio::default_chip")]
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
