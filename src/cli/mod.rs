//! The command line: a thin shell over the library. Errors become one line
//! on stderr and exit code 2; nothing here panics on bad input.

mod feedback;
mod generate;
mod info;
mod kiosk;
mod progress_bar;
mod verify;

use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "edgepaint", version, about = "Offline text-to-image for small boards")]
pub struct Cli {
    /// Log diagnostics and print per-stage timings.
    #[arg(long, short, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Turn a prompt into a PNG.
    Generate(generate::GenerateArgs),
    /// Describe a model bundle.
    Info(info::InfoArgs),
    /// Run unattended: prompts from stdin, serial and buttons, pictures on a display.
    Kiosk(kiosk::KioskArgs),
    /// Check files (PNG, JPEG) for the edgepaint watermark and show their metadata.
    Verify(verify::VerifyArgs),
    /// The kiosk's thumbs-up/down log (export it for fine-tuning).
    Feedback(feedback::FeedbackArgs),
}

/// Where the model is: `--model DIR`, else $EDGEPAINT_MODEL, else the shipped one.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArg {
    /// Model bundle folder (default: $EDGEPAINT_MODEL, else models/scenes next to the binary).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
}

pub const EXIT_ERROR: i32 = 2;

pub fn main() -> i32 {
    run(std::env::args_os().collect())
}

pub fn run(args: Vec<OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_ERROR } else { 0 };
        }
    };
    let level = if cli.verbose { log::LevelFilter::Info } else { log::LevelFilter::Warn };
    let _ = env_logger::Builder::new().filter_level(level).parse_env("EDGEPAINT_LOG").try_init();
    let result = match cli.command {
        Command::Generate(args) => generate::run(args, cli.verbose),
        Command::Info(args) => info::run(args),
        Command::Kiosk(args) => kiosk::run(args),
        Command::Feedback(args) => feedback::run(args),
        // verify has its own exit codes (0 marked, 1 unmarked, 2 unreadable).
        Command::Verify(args) => return verify::run(args),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            EXIT_ERROR
        }
    }
}

/// The error and its causes on one line, without a backtrace.
fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ").replace('\n', " ")
}
