//! A kiosk from a board file: the command line's overrides applied, the
//! devices opened (display, serial line, buttons) before the model is
//! loaded, so a wrong path fails at once; then the inputs wired to the loop.

use super::event_loop::{Kiosk, KioskError};
use super::msg::Msg;
use super::worker::Painter;
use crate::board::Board;
use crate::display::DisplaySpec;
use crate::input::buttons::{EdgeSource, Reopening};
use crate::input::gpio::GpioButtons;
use crate::input::serial::{Reconnecting, DEFAULT_BAUD};
use crate::input::SerialConfig;
use nix::sys::signal::{SigSet, Signal};
use std::path::PathBuf;
use std::time::Duration;

/// What the command line changes in a board file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Serial tty instead of the board's (same baud rate).
    pub serial: Option<PathBuf>,
    /// Ignore the board's serial line.
    pub no_serial: bool,
    pub display: Option<DisplaySpec>,
    /// Folder for finished pictures.
    pub output: Option<PathBuf>,
    /// Some(true): read stdin even if the board says not to; Some(false): never.
    pub stdin: Option<bool>,
    /// Ignore the board's buttons.
    pub no_buttons: bool,
    /// Watermark key instead of the board's.
    pub key: Option<String>,
    /// Broker settings over the board's `[mqtt]` (`--mqtt`, `--name`).
    pub mqtt: crate::fleet::MqttConfig,
}

impl Overrides {
    pub fn apply(&self, board: &mut Board) {
        if let Some(dev) = &self.serial {
            let baud = board.serial.as_ref().map_or(DEFAULT_BAUD, |s| s.baud);
            board.serial = Some(SerialConfig { device: dev.clone(), baud });
        }
        if self.no_serial {
            board.serial = None;
        }
        if let Some(key) = &self.key {
            board.provenance.key = Some(key.clone());
        }
        if self.no_buttons {
            board.button.clear();
        }
        if let Some(out) = &self.output {
            board.output.dir = out.clone();
        }
        if let Some(stdin) = self.stdin {
            board.stdin.enabled = stdin;
        }
        if let Some(spec) = &self.display {
            board.display = board.display.replaced_by(spec);
        }
        board.mqtt = board.mqtt.overridden_by(&self.mqtt);
    }
}

/// Run the kiosk a board file describes until SIGTERM/SIGINT/SIGHUP or (without
/// attract mode) until its inputs close. `load_painter` loads the model once
/// the devices are open; the graphs run on `threads` threads.
pub fn run_board(
    mut board: Board,
    overrides: &Overrides,
    threads: usize,
    load_painter: impl FnOnce(&Board) -> Result<Box<dyn Painter>, KioskError>,
) -> Result<(), KioskError> {
    overrides.apply(&mut board);
    // The signals are taken by one thread (sigwait) and become a clean
    // shutdown; blocked before any other thread exists, so all inherit it.
    let signals = SigSet::from_iter([Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP]);
    signals.thread_block().map_err(|e| KioskError::Setup(format!("cannot block signals: {e}")))?;
    crate::runtime::set_threads(threads);

    let kiosk = Kiosk::from_board(&board, load_painter)?;
    let stop = kiosk.stopper();
    std::thread::Builder::new()
        .name("kiosk-signals".into())
        .spawn(move || {
            if let Ok(sig) = signals.wait() {
                log::info!("{sig}: finishing");
                stop.stop();
            }
        })
        .map_err(|e| KioskError::Setup(e.to_string()))?;
    kiosk.run()
}

impl Kiosk {
    /// Open the board's display, serial line and buttons, load the painter,
    /// and wire stdin (if enabled), the serial line and the buttons.
    pub fn from_board(
        board: &Board,
        load_painter: impl FnOnce(&Board) -> Result<Box<dyn Painter>, KioskError>,
    ) -> Result<Kiosk, KioskError> {
        let display = crate::display::open(&board.display)?;
        let serial = match &board.serial {
            Some(s) => Some((s.device.clone(), Reconnecting::open(&s.device, s.baud)?)),
            None => None,
        };
        let buttons = match board.button.is_empty() {
            true => None,
            false => Some(GpioButtons::open(&board.buttons, &board.button)?),
        };
        let broker = super::broker::prepare(board)?;
        let painter = load_painter(board)?;

        let mut kiosk = Kiosk::new(board, painter, display)?;
        if let Some(broker) = broker {
            broker.attach(&mut kiosk)?;
        }
        if board.stdin.enabled {
            kiosk.add_source("stdin", std::io::stdin(), Box::new(std::io::stdout()));
        }
        if let Some((device, (reader, writer))) = serial {
            kiosk.add_source(&device.display().to_string(), reader, Box::new(writer));
        }
        if let Some(source) = buttons {
            let (config, lines) = (board.buttons.clone(), board.button.clone());
            let reopen = move || {
                GpioButtons::open(&config, &lines)
                    .map(|b| Box::new(b) as Box<dyn EdgeSource>)
                    .map_err(std::io::Error::other)
            };
            let source = Reopening::new(Box::new(source), reopen, Duration::from_secs(1));
            let (buttons, debounce, tx) =
                (board.button.clone(), Duration::from_millis(board.buttons.debounce_ms), kiosk.sender());
            std::thread::Builder::new()
                .name("kiosk-buttons".into())
                .spawn(move || {
                    crate::input::buttons::run(Box::new(source), &buttons, debounce, |p| {
                        tx.send(Msg::Button { action: p.action, preset: p.preset }).is_ok()
                    })
                })
                .map_err(|e| KioskError::Setup(e.to_string()))?;
            kiosk.keep_open();
        }
        Ok(kiosk)
    }
}
