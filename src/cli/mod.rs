//! The command line: a thin shell over the library. Errors become one line
//! on stderr and exit code 2; nothing here panics on bad input.

mod bench;
mod broker_args;
mod convert;
mod feedback;
#[cfg(feature = "mqtt")]
mod fleet;
mod generate;
mod info;
mod kiosk;
mod progress_bar;
mod score;
#[cfg(feature = "mqtt")]
mod send;
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
    /// Threads for the model's kernels (default: every core).
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: Option<u32>,
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
    /// Time each stage of a model (text encoder, denoiser step, decoder, whole image).
    Bench(bench::BenchArgs),
    /// How well a picture matches one or more prompts (the bundle's self-check scorer).
    Score(score::ScoreArgs),
    /// Check files (PNG, JPEG) for the edgepaint watermark and show their metadata.
    Verify(verify::VerifyArgs),
    /// The kiosk's thumbs-up/down log (export it for fine-tuning).
    Feedback(feedback::FeedbackArgs),
    /// Write a bundle in NNEF form (for builds without the ONNX parser).
    Convert(convert::ConvertArgs),
    /// Send a prompt to a kiosk (or all) on an MQTT broker, and follow it with --wait.
    #[cfg(feature = "mqtt")]
    Send(send::SendArgs),
    /// List the kiosks on an MQTT broker (from their retained status).
    #[cfg(feature = "mqtt")]
    Fleet(fleet::FleetArgs),
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
    // Our warnings always; the libraries' (the inference engine's CPU-feature probing under
    // qemu, for one) only with --verbose, so a failing command stays one line.
    let (own, others) = match cli.verbose {
        true => (log::LevelFilter::Info, log::LevelFilter::Info),
        false => (log::LevelFilter::Warn, log::LevelFilter::Error),
    };
    let _ = env_logger::Builder::new()
        .filter_level(others)
        .filter_module("edgepaint", own)
        .parse_env("EDGEPAINT_LOG")
        .try_init();
    if !matches!(cli.command, Command::Kiosk(_)) {
        // `edgepaint verify *.png | head`: end quietly when the reader goes,
        // as other command-line tools do, instead of panicking on EPIPE. The
        // kiosk keeps Rust's default (ignored), so a closed stdout is an error
        // it handles, not its death.
        use nix::sys::signal::{signal, SigHandler, Signal};
        // SAFETY: the default disposition, set before any other thread exists.
        let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
    }
    let threads = kernel_threads(cli.threads);
    let result = match cli.command {
        Command::Generate(args) => {
            crate::runtime::set_threads(threads);
            generate::run(args, cli.verbose)
        }
        Command::Info(args) => info::run(args),
        Command::Score(args) => {
            crate::runtime::set_threads(threads);
            score::run(args)
        }
        // The kiosk starts its threads itself, after blocking signals.
        Command::Kiosk(args) => kiosk::run(args, threads),
        Command::Bench(args) => {
            crate::runtime::set_threads(threads);
            bench::run(args, threads)
        }
        Command::Feedback(args) => feedback::run(args),
        Command::Convert(args) => convert::run(args),
        // verify has its own exit codes (0 marked, 1 unmarked, 2 unreadable).
        Command::Verify(args) => return verify::run(args),
        // send has its own exit codes (0 done, 1 not done by all, 2 error).
        #[cfg(feature = "mqtt")]
        Command::Send(args) => return send::run(args),
        #[cfg(feature = "mqtt")]
        Command::Fleet(args) => fleet::run(args),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            EXIT_ERROR
        }
    }
}

/// The threads asked for, by default every core: a kiosk or a one-shot
/// command has the board to itself. A build without multi-threaded kernels
/// runs on one, and says so when more were asked for.
fn kernel_threads(asked: Option<u32>) -> usize {
    if !crate::runtime::MULTITHREADED {
        if asked.is_some_and(|n| n > 1) {
            eprintln!("warning: this edgepaint was built without multi-threaded kernels (cargo feature `threads`): running on 1 thread");
        }
        return 1;
    }
    asked.map(|t| t as usize).unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
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
    shown(&parts.join(": ").replace('\n', " "))
}

/// Text from a file (a manifest's name, a picture's metadata) as it may be
/// printed on a terminal: control characters escaped (`\u{1b}`), so a
/// hostile name cannot move the cursor or clear the screen.
fn shown(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn shown_escapes_control_characters_only() {
        assert_eq!(super::shown("a\u{1b}[2Jb\0c é"), "a\\u{1b}[2Jb\\u{0}c é");
    }
}
