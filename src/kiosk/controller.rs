//! The kiosk's state machine, on the main thread: turns lines, button
//! presses and worker reports into jobs, replies and screen updates. The
//! queue, attract mode, ratings and the screen each live in their own file.

use super::attract::Attract;
use super::msg::{Msg, SourceId};
use super::outputs::{Outputs, Target};
use super::protocol::{parse, Command, ErrorCode, Event, ProtocolError, Rating, HELP};
use super::queue::{CancelOutcome, JobQueue, Running};
use super::ratings::{Finished, Ratings};
use super::screen_state::ScreenState;
use super::store::ImageStore;
use super::worker::{Backlog, Job, ModelInfo, WorkerEvent};
use crate::board::{Board, Preset};
use crate::display::{Display, DisplayError};
use crate::feedback::FeedbackLog;
use crate::filter::PromptFilter;
use crate::input::{ButtonAction, DuringGeneration};
use crate::noise::random_seed;
use std::io::Write;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::Sender;
use std::sync::Arc;

// `/status` and the snapshot for observers.
mod report;
// `/seed`, `/steps` and `/best`: what the next pictures are made with.
mod settings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

pub struct Controller {
    board_name: String,
    presets: Vec<Preset>,
    during_generation: DuringGeneration,
    info: ModelInfo,
    outputs: Outputs,
    queue: JobQueue,
    attract: Attract,
    ratings: Ratings,
    filter: PromptFilter,
    screen: ScreenState,
    /// Progress reports not handled yet (a slow display skips the older).
    backlog: Backlog,
    /// `[output] min_free_mb`: less free space is reported.
    min_free_mb: u64,
    /// When the generation thread last reported (or a generation started).
    last_worker_report: std::time::Instant,
    stuck_after: std::time::Duration,
    /// `/seed` and `/steps` settings (None: random seed, the model's default).
    seed: Option<u64>,
    steps: Option<usize>,
    /// `/best` (None: the board's `[model] best_of`).
    best_of: Option<usize>,
    board_best_of: usize,
    generated: u64,
    blocked: u64,
    /// Events a broker link had to drop (its buffer was full): in `/status`.
    dropped_events: Option<Arc<AtomicU64>>,
}

impl Controller {
    pub fn new(
        board: &Board,
        info: ModelInfo,
        store: ImageStore,
        jobs: Sender<Job>,
        display: Option<Box<dyn Display>>,
        feedback: FeedbackLog,
        filter: PromptFilter,
        backlog: Backlog,
    ) -> Controller {
        let labels = board.presets.iter().map(|p| p.label().to_string()).collect();
        let ratings = Ratings::new(board.kiosk_id(), &info.model_sha256, feedback);
        Controller {
            board_name: board.name.clone(),
            presets: board.presets.clone(),
            during_generation: board.buttons.during_generation,
            info,
            outputs: Outputs::default(),
            queue: JobQueue::new(board.queue.capacity, store, jobs),
            attract: Attract::new(board.attract.clone()),
            ratings,
            filter,
            backlog,
            min_free_mb: board.output.min_free_mb,
            last_worker_report: std::time::Instant::now(),
            stuck_after: std::time::Duration::from_secs(board.queue.stuck_seconds),
            screen: ScreenState::new(board.name.clone(), labels, display),
            seed: None,
            steps: None,
            best_of: None,
            board_best_of: board.model.best_of.unwrap_or(1),
            generated: 0,
            blocked: 0,
            dropped_events: None,
        }
    }

    pub fn add_output(&mut self, name: &str, writer: Box<dyn Write + Send>) -> SourceId {
        self.outputs.add(name, writer)
    }

    pub fn output_name(&self, source: SourceId) -> &str {
        self.outputs.name(source)
    }

    /// Say `ready` everywhere and draw the idle screen.
    pub fn start(&mut self) {
        let ready = Event::Ready {
            version: env!("CARGO_PKG_VERSION").to_string(),
            board: self.board_name.clone(),
            model: self.info.name.clone(),
            steps: self.info.steps.clone(),
            default_steps: self.info.default_steps,
            presets: self.presets.iter().map(|p| p.label().to_string()).collect(),
            queue_capacity: self.queue.capacity(),
        };
        let e = self.screen.on_ready();
        self.display_error(e);
        self.send(Target::All, &ready);
    }

    /// Cancel what runs, drop what waits, close the worker's job channel.
    pub fn stop(&mut self) {
        self.queue.stop();
        let e = self.screen.on_ended("stopped".into());
        self.display_error(e);
    }

    pub fn has_attract(&self) -> bool {
        self.attract.enabled()
    }

    pub fn is_idle(&self) -> bool {
        self.queue.is_idle()
    }

    pub fn handle(&mut self, msg: Msg) -> Flow {
        match msg {
            Msg::Line { source, line } => {
                self.attract.touch();
                match line.and_then(|l| parse(&l)) {
                    Ok(Some(cmd)) => self.command(source, cmd),
                    Ok(None) => {}
                    Err(e) => self.send(Target::One(source), &Event::error(e)),
                }
            }
            Msg::Closed { .. } => {}
            Msg::Button { action, preset } => {
                self.attract.touch();
                self.button(action, preset);
            }
            Msg::Worker(e) => self.worker_event(e),
            Msg::Shutdown => return Flow::Stop,
        }
        Flow::Continue
    }

    /// Called when no message came for a while: attract mode.
    pub fn tick(&mut self) {
        if let Some(n) = self.attract.due(self.is_idle(), self.presets.len()) {
            self.submit_preset(n, Target::All);
        }
    }

    fn command(&mut self, source: SourceId, cmd: Command) {
        let to = Target::One(source);
        match cmd {
            Command::Prompt(prompt) if self.filter.check(&prompt).is_some() => {
                // The matched entry goes to the log only: the reply does not
                // teach visitors the list.
                log::info!("blocked a prompt (list entry {:?})", self.filter.check(&prompt).unwrap_or(""));
                self.blocked += 1;
                let e = self.screen.on_blocked();
                self.display_error(e);
                let e = ProtocolError::new(ErrorCode::Blocked, "this prompt is not allowed on this kiosk; please try another one");
                self.send(to, &Event::error(e));
            }
            Command::Prompt(prompt) => {
                let seed = self.seed.unwrap_or_else(random_seed);
                self.submit(prompt, seed, self.steps, to);
            }
            Command::Seed(seed) => self.set_seed(seed, to),
            Command::Steps(steps) => self.set_steps(steps, to),
            Command::BestOf(n) => self.set_best_of(n, to),
            Command::Preset(n) => self.submit_preset(n, to),
            Command::Rate(r) => self.rate(r, to),
            Command::Cancel => self.cancel(Some(source)),
            Command::Status => self.send(to, &self.status()),
            Command::Help => self.send(to, &Event::Help { commands: HELP.iter().map(|s| s.to_string()).collect() }),
        }
    }

    fn button(&mut self, action: ButtonAction, preset: Option<usize>) {
        let generates = matches!(action, ButtonAction::Preset | ButtonAction::NextPreset | ButtonAction::RandomPreset);
        if generates && self.during_generation == DuringGeneration::Ignore && !self.is_idle() {
            log::info!("button {action:?} ignored: a generation is running");
            return;
        }
        match action {
            ButtonAction::Preset => self.submit_preset(preset.unwrap_or(1), Target::All),
            ButtonAction::NextPreset => {
                let n = self.attract.advance(self.presets.len());
                self.submit_preset(n, Target::All)
            }
            ButtonAction::RandomPreset => {
                let n = if self.presets.is_empty() { 1 } else { (random_seed() as usize % self.presets.len()) + 1 };
                self.submit_preset(n, Target::All)
            }
            ButtonAction::RateUp => self.rate(Rating::Up, Target::All),
            ButtonAction::RateDown => self.rate(Rating::Down, Target::All),
            ButtonAction::Cancel => self.cancel(None),
        }
    }

    fn submit_preset(&mut self, n: usize, to: Target) {
        let Some(p) = (n >= 1).then(|| self.presets.get(n - 1)).flatten().cloned() else {
            let e = ProtocolError::new(ErrorCode::NoSuchPreset, format!("preset {n} does not exist; there are {}", self.presets.len()));
            return self.send(to, &Event::error(e));
        };
        let seed = p.seed.or(self.seed).unwrap_or_else(random_seed);
        self.submit(p.prompt, seed, p.steps.or(self.steps), to);
    }

    fn submit(&mut self, prompt: String, seed: u64, steps: Option<usize>, to: Target) {
        let steps = steps.unwrap_or(self.info.default_steps);
        if !self.info.steps.contains(&steps) {
            return self.send(to, &self.bad_steps(steps));
        }
        let best_of = self.best_of.unwrap_or(self.board_best_of);
        match self.queue.push(prompt.clone(), seed, steps, best_of, to) {
            Some(a) => {
                self.send(to, &Event::Accepted { id: a.id, prompt, seed, steps, position: a.position });
                self.start_next();
            }
            None => {
                let e = ProtocolError::new(ErrorCode::Busy, format!("the queue is full ({} waiting); try again later", self.queue.waiting()));
                self.send(to, &Event::error(e));
            }
        }
    }

    fn start_next(&mut self) {
        let Some(r) = self.queue.start_next() else { return };
        self.last_worker_report = std::time::Instant::now();
        let (prompt, steps) = (r.prompt.clone(), r.steps);
        let e = self.screen.on_start(&prompt, steps);
        self.display_error(e);
    }

    /// Every `/cancel` gets `cancelled` (when the generation stops) or
    /// `nothing_to_cancel` (none runs, it is being cancelled already, or it
    /// ended before the request took effect: see worker_event).
    fn cancel(&mut self, by: Option<SourceId>) {
        let message = match self.queue.cancel(by) {
            CancelOutcome::Asked => return,
            CancelOutcome::AlreadyCancelling(id) => format!("generation {id} is being cancelled already"),
            CancelOutcome::NothingRunning => "no generation is running".to_string(),
        };
        let e = ProtocolError::new(ErrorCode::NothingToCancel, message);
        self.send(by.map_or(Target::All, Target::One), &Event::error(e));
    }

    /// A cancel request that came too late (the job ended otherwise).
    fn cancel_came_too_late(&mut self, running: Option<&Running>, id: u64) {
        if let Some(by) = running.filter(|r| r.cancel.load(std::sync::atomic::Ordering::SeqCst)).and_then(|r| r.cancelled_by) {
            let e = ProtocolError::new(ErrorCode::NothingToCancel, format!("generation {id} ended before it could be cancelled"));
            self.send(Target::One(by), &Event::error(e));
        }
    }

    /// Record the vote in the feedback log (fsynced) and only then say `rated`.
    fn rate(&mut self, rating: Rating, to: Target) {
        match self.ratings.record(rating) {
            Ok(Some(id)) => self.send(to, &Event::Rated { id, rating }),
            Ok(None) => self.send(to, &Event::error(ProtocolError::new(ErrorCode::NothingToRate, "no picture to rate yet"))),
            Err(e) => {
                log::error!("{e}");
                self.send(to, &Event::error(ProtocolError::new(ErrorCode::WriteFailed, e.to_string())));
            }
        }
    }

    /// A generation runs and its thread has been silent too long.
    pub fn worker_stuck(&self) -> bool {
        super::service::is_stuck(self.queue.current().is_some(), self.last_worker_report.elapsed(), self.stuck_after)
    }

    fn worker_event(&mut self, event: WorkerEvent) {
        self.last_worker_report = std::time::Instant::now();
        // Behind the worker (a slow display): skip drawing this report.
        let draw = match event {
            WorkerEvent::Progress { .. } | WorkerEvent::Preview { .. } => !self.backlog.handled(),
            _ => true,
        };
        let Some(running) = self.queue.current() else { return };
        let (id, to) = (running.id, running.to);
        match event {
            WorkerEvent::Preview { id: eid, image } if eid == id => {
                // On screen only: the serial `progress` event stays small.
                let e = self.screen.on_preview(image, draw);
                self.display_error(e);
            }
            WorkerEvent::Progress { id: eid, step, of } if eid == id => {
                let e = self.screen.on_progress(step, of, draw);
                self.display_error(e);
                self.send(to, &Event::Progress { id, step, of });
            }
            WorkerEvent::Done { id: eid, ms, seed, path, sha256, image, score } if eid == id => {
                let running = self.queue.finish();
                self.cancel_came_too_late(running.as_ref(), id);
                let prompt = running.as_ref().map(|r| r.prompt.clone());
                self.generated += 1;
                self.ratings.last = running.map(|r| Finished { id, prompt: r.prompt, seed, steps: r.steps, sha256: sha256.clone(), path: path.clone() });
                // On screen first, then announced: whoever gets `done` sees the picture.
                let mut status = format!("ready - #{id}, seed {seed}, {:.1} s", ms as f64 / 1000.0);
                if let Some((score, n)) = score {
                    status = format!("{status} - best of {n}, score {score:.2}");
                }
                if let Some(mb) = self.low_disk() {
                    log::warn!("{mb} MB free where pictures go");
                    status = format!("{status} - disk: {mb} MB free");
                }
                let e = self.screen.on_done(image, prompt, status);
                self.display_error(e);
                let score = score.map(|(s, _)| s);
                self.send(to, &Event::Done { id, ms, seed, path: path.display().to_string(), sha256, score });
                if let Err(e) = self.queue.prune_pictures() {
                    log::warn!("cannot remove old pictures: {e}");
                }
            }
            WorkerEvent::Cancelled { id: eid } if eid == id => {
                let by = self.queue.finish().and_then(|r| r.cancelled_by);
                let e = Event::Error { code: ErrorCode::Cancelled, message: format!("generation {id} was cancelled"), id: Some(id) };
                self.send(to, &e);
                if let Some(by) = by.filter(|&b| to != Target::One(b) && to != Target::All) {
                    self.send(Target::One(by), &e);
                }
                let e = self.screen.on_ended("cancelled".into());
                self.display_error(e);
            }
            WorkerEvent::Failed { id: eid, write, message } if eid == id => {
                let running = self.queue.finish();
                self.cancel_came_too_late(running.as_ref(), id);
                let code = if write { ErrorCode::WriteFailed } else { ErrorCode::GenerationFailed };
                self.send(to, &Event::Error { code, message: message.clone(), id: Some(id) });
                let e = self.screen.on_ended(format!("error: {message}"));
                self.display_error(e);
            }
            other => log::warn!("stale report from the generation thread: {other:?}"),
        }
        self.start_next();
    }

    fn send(&mut self, to: Target, event: &Event) {
        self.outputs.send(to, event);
    }

    /// A display that just stopped working: logged and said once per outage.
    fn display_error(&mut self, error: Option<DisplayError>) {
        if let Some(e) = error {
            log::error!("{e}");
            self.send(Target::All, &Event::error(ProtocolError::new(ErrorCode::Display, e.to_string())));
        }
    }
}

