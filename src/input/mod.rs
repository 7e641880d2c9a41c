//! Inputs of the kiosk besides stdin: a serial tty and GPIO buttons. Each
//! runs on its own thread and hands what it reads to a callback or a
//! reader; inputs know nothing of the kiosk.

pub mod buttons;
pub mod gpio;
pub mod serial;

pub use buttons::{ButtonAction, ButtonConfig, ButtonsConfig, DuringGeneration, Press};
pub use serial::SerialConfig;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum InputError {
    #[error("serial device {device}: {message}")]
    Serial { device: String, message: String },
    #[error("buttons ({chip}): {message}")]
    Gpio { chip: String, message: String },
}
