//! Inputs of the kiosk besides stdin: a serial tty and GPIO buttons. Each
//! runs on its own thread and feeds the kiosk's channel.

pub mod buttons;
pub mod gpio;
pub mod serial;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum InputError {
    #[error("serial device {device}: {message}")]
    Serial { device: String, message: String },
    #[error("buttons ({chip}): {message}")]
    Gpio { chip: String, message: String },
}
