//! Button edges from the GPIO character device (gpiocdev): lines by number
//! on the board's chip or by name on any chip (Jetson names its lines
//! differently from the Pi), pull-ups for active-low buttons, both edges.

use super::buttons::{ButtonConfig, ButtonsConfig, Edge, EdgeSource};
use super::InputError;
use gpiocdev::line::{Bias, EdgeDetection, EdgeKind, Offset};
use gpiocdev::Request;
use std::path::PathBuf;
use std::time::Duration;

pub struct GpioButtons {
    request: Request,
    /// Line offset → button index.
    offsets: Vec<(Offset, usize)>,
}

impl GpioButtons {
    /// Request every button line (all must be on one chip).
    pub fn open(config: &ButtonsConfig, buttons: &[ButtonConfig]) -> Result<GpioButtons, InputError> {
        let mut chip: Option<PathBuf> = None;
        let mut offsets = Vec::new();
        for (i, b) in buttons.iter().enumerate() {
            let (c, offset) = crate::gpio::resolve(&config.chip, &b.line).ok_or_else(|| InputError::Gpio {
                chip: config.chip.display().to_string(),
                message: format!("button[{i}]: no GPIO {} exists", b.line),
            })?;
            if chip.as_ref().is_some_and(|p| *p != c) {
                return Err(InputError::Gpio {
                    chip: c.display().to_string(),
                    message: format!("button[{i}]: all buttons must be on one GPIO chip"),
                });
            }
            chip = Some(c);
            offsets.push((offset, i));
        }
        let chip = chip.unwrap_or_else(|| config.chip.clone());
        let lines: Vec<Offset> = offsets.iter().map(|o| o.0).collect();
        let mut builder = Request::builder();
        builder.on_chip(&chip).with_consumer("edgepaint").with_lines(&lines).as_input();
        builder.with_edge_detection(EdgeDetection::BothEdges);
        if config.active_low {
            builder.as_active_low().with_bias(Bias::PullUp);
        }
        let request = builder
            .request()
            .map_err(|e| InputError::Gpio { chip: chip.display().to_string(), message: e.to_string() })?;
        Ok(GpioButtons { request, offsets })
    }
}

impl EdgeSource for GpioButtons {
    fn next_edge(&mut self) -> std::io::Result<Option<Edge>> {
        loop {
            let e = self.request.read_edge_event().map_err(std::io::Error::other)?;
            if let Some(&(_, button)) = self.offsets.iter().find(|(o, _)| *o == e.offset) {
                return Ok(Some(Edge {
                    button,
                    pressed: e.kind == EdgeKind::Rising,
                    at: Duration::from_nanos(e.timestamp_ns),
                }));
            }
        }
    }
}
