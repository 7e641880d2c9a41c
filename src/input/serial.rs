//! A serial tty (UART, USB CDC, or a pseudo-terminal in tests) opened raw
//! with termios: 8N1, no echo, no line editing, no CR/LF translation, the
//! board's baud rate. Plain termios calls (not TCGETS2), so it also works
//! under qemu-user.

use super::InputError;
use nix::fcntl::OFlag;
use nix::sys::termios::{self, BaudRate, ControlFlags, FlushArg, SetArg, SpecialCharacterIndices};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use serde::Deserialize;

/// Open `path` read-write as a raw tty at `baud`.
pub fn open_raw(path: &Path, baud: u32) -> Result<File, InputError> {
    let fail = |message: String| InputError::Serial { device: path.display().to_string(), message };
    let rate = baud_rate(baud).ok_or_else(|| fail(format!("unsupported baud rate {baud}")))?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(OFlag::O_NOCTTY.bits())
        .open(path)
        .map_err(|e| fail(e.to_string()))?;
    let mut t = termios::tcgetattr(&file).map_err(|e| fail(format!("not a terminal ({e})")))?;
    termios::cfmakeraw(&mut t);
    termios::cfsetspeed(&mut t, rate).map_err(|e| fail(e.to_string()))?;
    t.control_flags |= ControlFlags::CLOCAL | ControlFlags::CREAD;
    t.control_flags &= !(ControlFlags::CSTOPB | ControlFlags::CRTSCTS);
    // Block until at least one byte arrives.
    t.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
    t.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
    termios::tcsetattr(&file, SetArg::TCSANOW, &t).map_err(|e| fail(e.to_string()))?;
    // Whatever arrived before we listened is not a request to us.
    let _ = termios::tcflush(&file, FlushArg::TCIFLUSH);
    Ok(file)
}

fn baud_rate(baud: u32) -> Option<BaudRate> {
    Some(match baud {
        1200 => BaudRate::B1200,
        2400 => BaudRate::B2400,
        4800 => BaudRate::B4800,
        9600 => BaudRate::B9600,
        19200 => BaudRate::B19200,
        38400 => BaudRate::B38400,
        57600 => BaudRate::B57600,
        115200 => BaudRate::B115200,
        230400 => BaudRate::B230400,
        460800 => BaudRate::B460800,
        921600 => BaudRate::B921600,
        1000000 => BaudRate::B1000000,
        2000000 => BaudRate::B2000000,
        _ => return None,
    })
}

/// A serial line that survives its device going away (a USB CDC cable
/// pulled, a gadget reset): reads block until the device is back, writes
/// while it is gone are dropped. Reading never reports end of input.
pub struct Reconnecting {
    path: PathBuf,
    baud: u32,
    slot: Arc<Mutex<Option<File>>>,
    reader: Option<File>,
}

/// The writing half of a [`Reconnecting`] line.
pub struct ReconnectingWriter {
    slot: Arc<Mutex<Option<File>>>,
}

const RETRY: Duration = Duration::from_secs(1);

impl Reconnecting {
    /// Open now (failing if the device cannot be opened at start-up).
    pub fn open(path: &Path, baud: u32) -> Result<(Reconnecting, ReconnectingWriter), InputError> {
        let file = open_raw(path, baud)?;
        let writer = file.try_clone().map_err(|e| InputError::Serial {
            device: path.display().to_string(),
            message: e.to_string(),
        })?;
        let slot = Arc::new(Mutex::new(Some(writer)));
        let reader = Reconnecting { path: path.to_path_buf(), baud, slot: slot.clone(), reader: Some(file) };
        Ok((reader, ReconnectingWriter { slot }))
    }

    fn reconnect(&mut self) {
        *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.reader = None;
        log::error!("serial device {} is gone; waiting for it to come back", self.path.display());
        loop {
            std::thread::sleep(RETRY);
            if let Ok(file) = open_raw(&self.path, self.baud) {
                if let Ok(w) = file.try_clone() {
                    *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(w);
                    self.reader = Some(file);
                    log::warn!("serial device {} is back", self.path.display());
                    return;
                }
            }
        }
    }
}

impl Read for Reconnecting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let result = match &mut self.reader {
                Some(f) => f.read(buf),
                None => Ok(0),
            };
            match result {
                Ok(n) if n > 0 => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // End of file or an error (EIO on hang-up): the device went away.
                _ => self.reconnect(),
            }
        }
    }
}

impl Write for ReconnectingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.slot.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(f) => f.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.slot.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

/// The `[serial]` section of a board file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialConfig {
    /// e.g. /dev/serial0 (UART), /dev/ttyACM0 or /dev/ttyGS0 (USB CDC).
    pub device: PathBuf,
    #[serde(default = "default_baud")]
    pub baud: u32,
}

/// The serial speed when a board file gives none.
pub const DEFAULT_BAUD: u32 = 115_200;

fn default_baud() -> u32 {
    DEFAULT_BAUD
}
