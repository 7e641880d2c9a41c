//! The kiosk itself: one channel that inputs and the worker send into, the
//! controller that handles every message on this thread, and the worker
//! thread that runs generations.

use super::controller::{Controller, Flow};
use super::lines::LineReader;
use super::msg::{Msg, SourceId};
use super::snapshot::{Observer, Snapshot};
use super::store;
use super::worker::{self, Painter};
use crate::board::Board;
use crate::display::Display;
use crate::feedback::FeedbackLog;
use crate::watermark::Stamp;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum KioskError {
    #[error("cannot use the output folder {path}: {message}")]
    OutputDir { path: String, message: String },
    #[error(transparent)]
    Feedback(#[from] crate::feedback::FeedbackError),
    #[error("board file: {0}")]
    Filter(#[from] crate::filter::FilterError),
    #[error(transparent)]
    Display(#[from] crate::display::DisplayError),
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    #[error("{0}")]
    Model(String),
    #[error("{0}")]
    Setup(String),
}

pub struct Kiosk {
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    controller: Controller,
    worker: JoinHandle<()>,
    open_inputs: usize,
    stop: Stopper,
    observers: Vec<Box<dyn Observer>>,
}

/// Stops a running [`Kiosk`] before it handles any further message.
#[derive(Clone)]
pub struct Stopper {
    flag: Arc<AtomicBool>,
    tx: Sender<Msg>,
}

impl Stopper {
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        // Wakes the loop if it waits for a message.
        let _ = self.tx.send(Msg::Shutdown);
    }
}

impl Kiosk {
    /// Start the worker thread with `painter`; nothing is read until inputs are added.
    pub fn new(board: &Board, painter: Box<dyn Painter>, display: Option<Box<dyn Display>>) -> Result<Kiosk, KioskError> {
        let (tx, rx) = channel();
        let store = store::ImageStore::open(&board.output.dir).map(|s| s.keeping(board.output.keep, board.output.keep_mb)).map_err(|e| KioskError::OutputDir {
            path: board.output.dir.display().to_string(),
            message: e.to_string(),
        })?;
        let feedback = FeedbackLog::open(&board.data_dir())?;
        let filter = board.prompt_filter()?;
        let info = painter.describe();
        let (job_tx, job_rx) = channel();
        let events = tx.clone();
        let stamp = Stamp::new(board.provenance.key.as_deref(), board.provenance.device_id);
        let signer = board.provenance.signer().map_err(KioskError::Setup)?;
        let backlog = worker::Backlog::default();
        let worker_backlog = backlog.clone();
        let worker = std::thread::Builder::new()
            .name("kiosk-worker".into())
            .spawn(move || worker::run(painter, stamp, signer, job_rx, events, Msg::Worker, worker_backlog))
            .expect("spawn worker thread");
        let controller = Controller::new(board, info, store, job_tx, display, feedback, filter, backlog);
        let stop = Stopper { flag: Arc::new(AtomicBool::new(false)), tx: tx.clone() };
        Ok(Kiosk { tx, rx, controller, worker, open_inputs: 0, stop, observers: Vec::new() })
    }

    /// A sender for other inputs (buttons, signals, tests).
    pub fn sender(&self) -> Sender<Msg> {
        self.tx.clone()
    }

    /// What stops the kiosk at once (signals): unlike [`Msg::Shutdown`] it
    /// does not wait behind the messages already queued.
    pub fn stopper(&self) -> Stopper {
        self.stop.clone()
    }

    /// Read the line protocol from `reader` on its own thread; replies to it go to `writer`.
    pub fn add_source<R: Read + Send + 'static>(
        &mut self,
        name: &str,
        reader: R,
        writer: Box<dyn Write + Send>,
    ) -> SourceId {
        let source = self.controller.add_output(name, writer);
        self.open_inputs += 1;
        let tx = self.tx.clone();
        std::thread::Builder::new()
            .name(format!("kiosk-in-{name}"))
            .spawn(move || read_lines(source, reader, tx))
            .expect("spawn input thread");
        source
    }

    /// An input that sends its own [`Msg::Line`]s to [`Kiosk::sender`] (the
    /// broker link): replies to it go to `writer`; it never closes.
    pub fn add_output(&mut self, name: &str, writer: Box<dyn Write + Send>) -> SourceId {
        self.keep_open();
        self.controller.add_output(name, writer)
    }

    /// The loaded model's name.
    pub fn model_name(&self) -> String {
        self.controller.info().name.clone()
    }

    /// Count an input that sends [`Msg`]s itself (buttons): the kiosk then
    /// keeps running after every line source has closed.
    pub fn keep_open(&mut self) {
        self.open_inputs += 1;
    }

    /// Tell `observer` what the kiosk does after every message that changed it.
    pub fn observe(&mut self, observer: Box<dyn Observer>) {
        self.observers.push(observer);
    }

    /// Report `counter` (events a broker link dropped) in `/status`.
    pub fn report_dropped_events(&mut self, counter: Arc<std::sync::atomic::AtomicU64>) {
        self.controller.report_dropped_events(counter);
    }

    /// Serve until [`Msg::Shutdown`], or (without attract mode) until every
    /// input has closed and the queue is empty. Returns once the worker
    /// thread has stopped.
    pub fn run(self) -> Result<(), KioskError> {
        let Kiosk { tx, rx, mut controller, worker, mut open_inputs, stop, mut observers } = self;
        drop(tx);
        drop(stop.tx);
        controller.start();
        let mut service = super::service::Service::from_env();
        service.ready();
        // With attract mode the kiosk has something to do without any input
        // (an exhibit that only cycles its presets): it runs until stopped.
        let forever = controller.has_attract();
        let mut draining = open_inputs == 0 && !forever;
        let mut last: Option<Snapshot> = None;
        loop {
            tell_observers(&mut observers, &controller, &mut last);
            service.tick(controller.worker_stuck());
            let msg = match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => {
                    controller.tick();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            if stop.flag.load(Ordering::SeqCst) {
                break;
            }
            if let Msg::Closed { source, error } = &msg {
                if let Some(e) = error {
                    log::warn!("input {} failed: {e}", controller.output_name(*source));
                }
                open_inputs = open_inputs.saturating_sub(1);
                draining = open_inputs == 0 && !forever;
            }
            if controller.handle(msg) == Flow::Stop {
                break;
            }
            if draining && controller.is_idle() {
                break;
            }
        }
        service.stopping();
        controller.stop();
        let snapshot = controller.snapshot();
        for o in &mut observers {
            o.stopped(&snapshot);
        }
        drop(controller);
        let _ = worker.join();
        Ok(())
    }
}

/// Give observers the snapshot when it differs from the last one given.
fn tell_observers(observers: &mut [Box<dyn Observer>], controller: &Controller, last: &mut Option<Snapshot>) {
    if observers.is_empty() {
        return;
    }
    let now = controller.snapshot();
    if last.as_ref() != Some(&now) {
        for o in observers.iter_mut() {
            o.changed(&now);
        }
        *last = Some(now);
    }
}

fn read_lines<R: Read>(source: SourceId, reader: R, tx: Sender<Msg>) {
    let mut lines = LineReader::new(reader);
    loop {
        match lines.next_line() {
            Ok(line) => {
                if tx.send(Msg::Line { source, line }).is_err() {
                    return;
                }
            }
            Err(e) => {
                let error = (e.kind() != std::io::ErrorKind::UnexpectedEof).then(|| e.to_string());
                let _ = tx.send(Msg::Closed { source, error });
                return;
            }
        }
    }
}
