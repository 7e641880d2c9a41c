//! `edgepaint kiosk --board board/NAME.toml`: the unattended device loop,
//! reading the line protocol from stdin and the board's serial tty.

use super::ModelArg;
use crate::board::{Board, DisplayConfig, FbConfig, PngConfig, SerialConfig};
use crate::bundle::locate;
use crate::kiosk::{Kiosk, Msg};
use crate::pipeline::{Options, Pipeline};
use anyhow::{bail, Context, Result};
use nix::sys::signal::{SigSet, Signal};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct KioskArgs {
    /// Board file (display, inputs, presets), e.g. board/desktop.toml.
    #[arg(long, value_name = "FILE.toml")]
    pub board: PathBuf,
    /// Serial tty to read prompts from, instead of the board's.
    #[arg(long, value_name = "DEV")]
    pub serial: Option<PathBuf>,
    /// Display instead of the board's: png:DIR, fb:PATH or none.
    #[arg(long, value_name = "png:DIR|fb:PATH|none")]
    pub display: Option<String>,
    /// Folder for finished pictures, instead of the board's.
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Do not read stdin (e.g. under systemd).
    #[arg(long)]
    pub no_stdin: bool,
    /// Read stdin even if the board file says not to.
    #[arg(long, conflicts_with = "no_stdin")]
    pub stdin: bool,
    /// Ignore the board's serial line (to try a board file on a desktop).
    #[arg(long, conflicts_with = "serial")]
    pub no_serial: bool,
    /// Ignore the board's buttons (to try a board file on a desktop).
    #[arg(long)]
    pub no_buttons: bool,
    /// Watermark key, instead of the board's `[provenance] key`.
    #[arg(long, env = "EDGEPAINT_KEY", hide_env_values = true)]
    pub key: Option<String>,
    #[command(flatten)]
    pub model: ModelArg,
}

pub fn run(args: KioskArgs, threads: usize) -> Result<()> {
    let mut board = Board::load(&args.board)?;
    apply_overrides(&mut board, &args)?;

    // SIGTERM/SIGINT are taken by one thread (sigwait) and become a clean
    // shutdown; block them before any other thread exists, so all inherit it.
    let signals = SigSet::from_iter([Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP]);
    signals.thread_block().context("cannot block signals")?;
    crate::runtime::set_threads(threads);

    // Devices first: a wrong path fails at once, not after loading the model.
    let display = crate::display::open(&board.display)?;
    let serial = match &board.serial {
        Some(s) => Some((s.device.clone(), crate::input::serial::Reconnecting::open(&s.device, s.baud)?)),
        None => None,
    };
    let buttons = match board.button.is_empty() {
        true => None,
        false => Some(crate::input::gpio::GpioButtons::open(&board.buttons, &board.button)?),
    };
    let dir = locate(args.model.model.as_deref().or(board.model.dir.as_deref()));
    let pipeline = Pipeline::load(&dir, Options { low_memory: board.model.low_memory })
        .with_context(|| format!("cannot load the model bundle {}", dir.display()))?;

    let mut kiosk = Kiosk::new(&board, Box::new(pipeline), display)?;
    let tx = kiosk.sender();
    std::thread::Builder::new().name("kiosk-signals".into()).spawn(move || {
        if let Ok(sig) = signals.wait() {
            log::info!("{sig}: finishing");
            let _ = tx.send(Msg::Shutdown);
        }
    })?;
    if (board.stdin.enabled || args.stdin) && !args.no_stdin {
        kiosk.add_source("stdin", std::io::stdin(), Box::new(std::io::stdout()));
    }
    if let Some((device, (reader, writer))) = serial {
        kiosk.add_source(&device.display().to_string(), reader, Box::new(writer));
    }
    if let Some(source) = buttons {
        use crate::input::buttons::{EdgeSource, Reopening};
        let (config, lines) = (board.buttons.clone(), board.button.clone());
        let reopen = move || {
            crate::input::gpio::GpioButtons::open(&config, &lines)
                .map(|b| Box::new(b) as Box<dyn EdgeSource>)
                .map_err(std::io::Error::other)
        };
        let source = Reopening::new(Box::new(source), reopen, Duration::from_secs(1));
        let (buttons, debounce, tx) =
            (board.button.clone(), Duration::from_millis(board.buttons.debounce_ms), kiosk.sender());
        std::thread::Builder::new()
            .name("kiosk-buttons".into())
            .spawn(move || crate::input::buttons::run(Box::new(source), &buttons, debounce, tx))?;
        kiosk.keep_open();
    }
    kiosk.run()?;
    Ok(())
}

fn apply_overrides(board: &mut Board, args: &KioskArgs) -> Result<()> {
    if let Some(dev) = &args.serial {
        let baud = board.serial.as_ref().map_or(115_200, |s| s.baud);
        board.serial = Some(SerialConfig { device: dev.clone(), baud });
    }
    if args.no_serial {
        board.serial = None;
    }
    if let Some(key) = &args.key {
        board.provenance.key = Some(key.clone());
    }
    if args.no_buttons {
        board.button.clear();
    }
    if let Some(out) = &args.output {
        board.output.dir = out.clone();
    }
    if let Some(spec) = &args.display {
        let (w, h) = board.display.size().unwrap_or((320, 240));
        board.display = match spec.split_once(':') {
            Some(("png", dir)) if !dir.is_empty() => {
                DisplayConfig::Png(PngConfig { dir: dir.into(), width: w, height: h, latest_only: false })
            }
            Some(("fb", path)) if !path.is_empty() => match &board.display {
                DisplayConfig::Fb(f) => DisplayConfig::Fb(FbConfig { device: path.into(), ..f.clone() }),
                _ => DisplayConfig::Fb(FbConfig {
                    device: path.into(),
                    width: Some(w),
                    height: Some(h),
                    bpp: Some(32),
                    line_length: None,
                    rotation: Default::default(),
                }),
            },
            None if spec == "none" => DisplayConfig::None,
            _ => bail!("--display must be png:DIR, fb:PATH or none (got {spec:?})"),
        };
    }
    Ok(())
}
