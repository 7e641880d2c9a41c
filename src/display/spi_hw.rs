//! The real wiring of an SPI panel: spidev for the bus, the GPIO character
//! device (gpiocdev) for the DC, reset and backlight lines.

use super::{Display, DisplayError};
use super::spi::SpiConfig;
use crate::gpio::LineRef;
use gpiocdev::line::{Offset, Value};
use gpiocdev::Request;
use linux_embedded_hal::spidev::{SpiModeFlags, SpidevOptions};
use linux_embedded_hal::{Delay, SpidevDevice};
use std::path::Path;

/// Open the bus and lines the board file names and initialise the panel.
pub fn open(config: &SpiConfig) -> Result<Box<dyn Display>, DisplayError> {
    let device = config.spidev.display().to_string();
    let fail = |m: String| DisplayError::device(&device, m);
    let mut spi = SpidevDevice::open(&config.spidev).map_err(|e| fail(format!("{e:?}")))?;
    let options = SpidevOptions::new()
        .bits_per_word(8)
        .max_speed_hz(config.speed_hz)
        .mode(SpiModeFlags::SPI_MODE_0)
        .build();
    spi.configure(&options).map_err(|e| fail(e.to_string()))?;
    let dc = GpioOut::open(&config.gpio_chip, &config.dc, "dc")?;
    let reset = config.reset.as_ref().map(|l| GpioOut::open(&config.gpio_chip, l, "reset")).transpose()?;
    let backlight = config.backlight.as_ref().map(|l| GpioOut::open(&config.gpio_chip, l, "backlight")).transpose()?;
    let display = super::spi::build(config, spi, dc, reset, &mut Delay)?;
    // Keep the backlight line requested (and on) for as long as the process runs.
    if let Some(b) = backlight {
        std::mem::forget(b);
    }
    Ok(display)
}

/// One output line, as an embedded-hal pin.
pub struct GpioOut {
    request: Request,
    offset: Offset,
}

impl GpioOut {
    fn open(chip: &Path, line: &LineRef, what: &str) -> Result<GpioOut, DisplayError> {
        let fail = |m: String| DisplayError::device(chip.display(), format!("{what} {line}: {m}"));
        let (chip, offset) = crate::gpio::resolve(chip, line).ok_or_else(|| fail("no such line".into()))?;
        let request = Request::builder()
            .on_chip(chip)
            .with_consumer(format!("edgepaint-{what}"))
            .with_line(offset)
            .as_output(Value::Active)
            .request()
            .map_err(|e| fail(e.to_string()))?;
        Ok(GpioOut { request, offset })
    }
}

/// A failed GPIO write, with gpiocdev's message.
#[derive(Debug)]
pub struct GpioError(pub String);

impl embedded_hal::digital::Error for GpioError {
    fn kind(&self) -> embedded_hal::digital::ErrorKind {
        embedded_hal::digital::ErrorKind::Other
    }
}

impl embedded_hal::digital::ErrorType for GpioOut {
    type Error = GpioError;
}

impl embedded_hal::digital::OutputPin for GpioOut {
    fn set_low(&mut self) -> Result<(), GpioError> {
        self.request.set_value(self.offset, Value::Inactive).map_err(|e| GpioError(e.to_string()))
    }
    fn set_high(&mut self) -> Result<(), GpioError> {
        self.request.set_value(self.offset, Value::Active).map_err(|e| GpioError(e.to_string()))
    }
}
