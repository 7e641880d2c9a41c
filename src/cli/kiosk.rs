//! `edgepaint kiosk --board board/NAME.toml`: the unattended device loop
//! ([`crate::kiosk`]). This file only parses the command line.

use super::ModelArg;
use crate::board::Board;
use crate::bundle::locate;
use crate::display::{DisplayConfig, DisplaySpec};
use crate::kiosk::{KioskError, Overrides, Painter};
use crate::pipeline::{Options, Pipeline};
use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct KioskArgs {
    /// Board file (display, inputs, presets), e.g. board/desktop.toml
    /// (default: /etc/edgepaint/board.toml, the installed package's).
    #[arg(long, value_name = "FILE.toml")]
    pub board: Option<PathBuf>,
    /// Serial tty to read prompts from, instead of the board's.
    #[arg(long, value_name = "DEV")]
    pub serial: Option<PathBuf>,
    /// Display instead of the board's: png:DIR, fb:PATH or none.
    #[arg(long, value_name = "png:DIR|fb:PATH|none")]
    pub display: Option<DisplaySpec>,
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
    #[command(flatten)]
    pub broker: super::broker_args::BrokerArgs,
    /// This kiosk's name on the broker (topics edgepaint/NAME/...; default:
    /// the board's `[mqtt] name`, else its kiosk id or name).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// The installed package's board file (scripts/deb.sh).
pub const SYSTEM_BOARD: &str = "/etc/edgepaint/board.toml";

fn board_file(given: Option<PathBuf>) -> Result<PathBuf> {
    match given {
        Some(path) => Ok(path),
        None if std::path::Path::new(SYSTEM_BOARD).is_file() => Ok(PathBuf::from(SYSTEM_BOARD)),
        None => anyhow::bail!(
            "no board file: give --board FILE.toml (board/*.toml in a checkout or a dist bundle, /usr/share/edgepaint/boards/*.toml once installed); {SYSTEM_BOARD} does not exist"
        ),
    }
}

pub fn run(args: KioskArgs, threads: usize) -> Result<()> {
    let board = Board::load(&board_file(args.board)?)?;
    let overrides = Overrides {
        serial: args.serial,
        no_serial: args.no_serial,
        display: args.display,
        output: args.output,
        stdin: if args.no_stdin { Some(false) } else { args.stdin.then_some(true) },
        no_buttons: args.no_buttons,
        key: args.key,
        mqtt: crate::fleet::MqttConfig { name: args.name, ..args.broker.config() },
    };
    let model = args.model.model;
    crate::kiosk::run_board(board, &overrides, threads, move |board| {
        let dir = locate(model.as_deref().or(board.model.dir.as_deref()));
        let mut pipeline = Pipeline::load(&dir, Options::new(board.model.low_memory, board.model.memory_mb))
            .map_err(|e| KioskError::Model(format!("cannot load the model bundle {}: {e}", dir.display())))?;
        // Previews cost decoder runs: only where there is a screen to show them.
        if !matches!(board.display, DisplayConfig::None) {
            pipeline
                .set_preview(Some(board.model.preview.kind(pipeline.bundle_preview())))
                .map_err(|e| KioskError::Model(format!("board [model] preview: {e}")))?;
        }
        // Loaded now, so that a bundle without one fails at start, not at the first picture.
        if board.model.best_of.is_some_and(|n| n > 1) {
            pipeline.load_scorer().map_err(|e| KioskError::Model(format!("board [model] best_of: {e}")))?;
        }
        Ok(Box::new(pipeline) as Box<dyn Painter>)
    })?;
    Ok(())
}
