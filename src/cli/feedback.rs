//! `edgepaint feedback export`: the kiosk's feedback log as a table for
//! preference fine-tuning.

use crate::board::Board;
use crate::feedback::export::{pairs, rows, to_csv, PAIR_COLUMNS, ROW_COLUMNS};
use crate::feedback::{read_log_skipping, FILE_NAME};
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct FeedbackArgs {
    #[command(subcommand)]
    pub command: FeedbackCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum FeedbackCommand {
    /// Write the log as a table: one row per rated picture, or with --pairs
    /// one row per (liked, disliked) pair of pictures of the same prompt.
    Export(ExportArgs),
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The kiosk's board file (its data folder holds the log).
    #[arg(long, value_name = "FILE.toml", conflicts_with = "data")]
    pub board: Option<PathBuf>,
    /// The data folder with feedback.jsonl (default: the data home,
    /// ~/.local/share/edgepaint, or /var/lib/edgepaint for the service).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Preference pairs (chosen, rejected) instead of one row per picture.
    #[arg(long)]
    pub pairs: bool,
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
    /// Where to write the table (default: stdout).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(args: FeedbackArgs) -> Result<()> {
    let FeedbackCommand::Export(args) = args.command;
    let dir = match (&args.board, &args.data) {
        (Some(board), _) => Board::load(board)?.data_dir(),
        (None, Some(dir)) => dir.clone(),
        (None, None) => crate::data_home::data_home()?,
    };
    let log = dir.join(FILE_NAME);
    if !log.is_file() {
        bail!("no feedback log at {}", log.display());
    }
    let (entries, bad) = read_log_skipping(&log)?;
    for b in &bad {
        eprintln!("warning: {}: line {} is not a feedback entry, skipped ({})", log.display(), b.line, b.message);
    }
    if !bad.is_empty() {
        eprintln!("warning: {} of {} lines skipped", bad.len(), bad.len() + entries.len());
    }
    let rows = rows(&entries);
    let text = match (args.pairs, args.format) {
        (false, Format::Csv) => to_csv(&rows, ROW_COLUMNS),
        (true, Format::Csv) => to_csv(&pairs(&rows), PAIR_COLUMNS),
        (false, Format::Jsonl) => json_lines(&rows),
        (true, Format::Jsonl) => json_lines(&pairs(&rows)),
    };
    match &args.output {
        Some(path) => std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    Ok(())
}

fn json_lines<T: serde::Serialize>(records: &[T]) -> String {
    records.iter().map(|r| serde_json::to_string(r).expect("records serialize") + "\n").collect()
}
