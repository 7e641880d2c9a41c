//! Per-step progress for the terminal: a bar on a TTY, plain lines otherwise.

use crate::pipeline::Progress;
use std::io::IsTerminal;
use std::ops::ControlFlow;

pub struct ProgressBar {
    bar: Option<indicatif::ProgressBar>,
    plain: bool,
}

impl ProgressBar {
    /// `enabled = false` (e.g. --json) shows nothing.
    pub fn new(steps: usize, enabled: bool) -> ProgressBar {
        let tty = std::io::stderr().is_terminal();
        let bar = (enabled && tty).then(|| {
            let bar = indicatif::ProgressBar::new(steps as u64);
            let style = indicatif::ProgressStyle::with_template("{msg:>9} [{bar:30}] {pos}/{len} steps {elapsed}")
                .expect("valid template")
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message("encoding");
            bar
        });
        ProgressBar { bar, plain: enabled && !tty }
    }

    pub fn update(&mut self, p: Progress) -> ControlFlow<()> {
        if let Some(bar) = &self.bar {
            match p {
                Progress::TextEncoded => bar.set_message("denoising"),
                Progress::Step { step, .. } => {
                    bar.set_position(step as u64);
                    bar.set_message(if step == bar.length().unwrap_or(0) as usize { "decoding" } else { "denoising" });
                }
                Progress::Decoded => bar.set_message("done"),
                Progress::Preview { .. } => {}
            }
        } else if self.plain {
            if let Progress::Step { step, of } = p {
                eprintln!("step {step}/{of}");
            }
        }
        ControlFlow::Continue(())
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
