//! The kiosk's state machine, on the main thread: turns lines, button
//! presses and worker reports into jobs, replies and screen updates.

use super::protocol::{parse, Command, ErrorCode, Event, ProtocolError, Rating, HELP};
use super::outputs::{Outputs, Target};
use super::store::ImageStore;
use super::worker::{Job, ModelInfo, WorkerEvent};
use super::{Msg, SourceId};
use crate::board::{AttractConfig, Board, ButtonAction, DuringGeneration, Preset};
use crate::display::{present, Display, Screen};
use crate::pipeline::Request;
use super::ratings::{Finished, Ratings};
use crate::provenance::feedback::FeedbackLog;
use crate::provenance::filter::PromptFilter;
use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

struct Running {
    id: u64,
    to: Target,
    cancel: Arc<AtomicBool>,
    cancelled_by: Option<SourceId>,
    prompt: String,
    steps: usize,
}

/// The on-screen answer to a blocked prompt.
const BLOCKED_SCREEN: &str = "Sorry, that prompt can't be drawn here. Try another!";

pub struct Controller {
    board_name: String,
    presets: Vec<Preset>,
    capacity: usize,
    during_generation: DuringGeneration,
    attract: Option<AttractConfig>,
    info: ModelInfo,
    store: ImageStore,
    jobs: Option<Sender<Job>>,
    outputs: Outputs,
    queue: VecDeque<(Job, Target)>,
    current: Option<Running>,
    seed: Option<u64>,
    steps: Option<usize>,
    generated: u64,
    blocked: u64,
    ratings: Ratings,
    filter: PromptFilter,
    next_preset: usize,
    last_input: Instant,
    last_attract: Option<Instant>,
    screen: Screen,
    display: Option<Box<dyn Display>>,
    display_ok: bool,
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
    ) -> Controller {
        let screen = Screen {
            title: board.name.clone(),
            presets: board.presets.iter().map(|p| p.label().to_string()).collect(),
            status: "ready".into(),
            idle: true,
            ..Screen::default()
        };
        let ratings = Ratings::new(board.kiosk_id(), &info.model_sha256, feedback);
        Controller {
            board_name: board.name.clone(),
            presets: board.presets.clone(),
            capacity: board.queue.capacity,
            during_generation: board.buttons.during_generation,
            attract: board.attract.clone(),
            info,
            store,
            jobs: Some(jobs),
            outputs: Outputs::default(),
            queue: VecDeque::new(),
            current: None,
            seed: None,
            steps: None,
            generated: 0,
            blocked: 0,
            ratings,
            filter,
            next_preset: 0,
            last_input: Instant::now(),
            last_attract: None,
            screen,
            display,
            display_ok: true,
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
            queue_capacity: self.capacity,
        };
        self.redraw();
        self.send(Target::All, &ready);
    }

    /// Cancel what runs, drop what waits, close the worker's job channel.
    pub fn stop(&mut self) {
        if let Some(r) = &self.current {
            r.cancel.store(true, Ordering::SeqCst);
        }
        self.queue.clear();
        self.jobs = None;
        self.screen.progress = None;
        self.screen.status = "stopped".into();
        self.redraw();
    }

    pub fn has_attract(&self) -> bool {
        self.attract.is_some()
    }

    pub fn is_idle(&self) -> bool {
        self.current.is_none() && self.queue.is_empty()
    }

    pub fn handle(&mut self, msg: Msg) -> Flow {
        match msg {
            Msg::Line { source, line } => {
                self.last_input = Instant::now();
                match line.and_then(|l| parse(&l)) {
                    Ok(Some(cmd)) => self.command(source, cmd),
                    Ok(None) => {}
                    Err(e) => self.send(Target::One(source), &Event::error(e)),
                }
            }
            Msg::Closed { .. } => {}
            Msg::Button { action, preset } => {
                self.last_input = Instant::now();
                self.button(action, preset);
            }
            Msg::Worker(e) => self.worker_event(e),
            Msg::Shutdown => return Flow::Stop,
        }
        Flow::Continue
    }

    /// Called when no message came for a while: attract mode.
    pub fn tick(&mut self) {
        let Some(a) = &self.attract else { return };
        let idle_for = Duration::from_secs_f64(a.idle_minutes * 60.0);
        let every = Duration::from_secs_f64(a.interval_seconds);
        let due = self.last_attract.is_none_or(|t| t.elapsed() >= every);
        if self.is_idle() && self.last_input.elapsed() >= idle_for && due && !self.presets.is_empty() {
            self.last_attract = Some(Instant::now());
            let n = self.advance_preset();
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
                self.screen.status = BLOCKED_SCREEN.into();
                self.redraw();
                let e = ProtocolError::new(ErrorCode::Blocked, "this prompt is not allowed on this kiosk; please try another one");
                self.send(to, &Event::error(e));
            }
            Command::Prompt(prompt) => {
                let seed = self.seed.unwrap_or_else(random_seed);
                self.submit(prompt, seed, self.steps, to);
            }
            Command::Seed(seed) => {
                self.seed = seed;
                self.send(to, &self.status());
            }
            Command::Steps(steps) => match steps {
                Some(n) if !self.info.steps.contains(&n) => self.send(to, &self.bad_steps(n)),
                _ => {
                    self.steps = steps;
                    self.send(to, &self.status());
                }
            },
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
                let n = self.advance_preset();
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

    /// The next preset in turn, counted from 1.
    fn advance_preset(&mut self) -> usize {
        let n = self.next_preset % self.presets.len().max(1) + 1;
        self.next_preset = n;
        n
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
        if self.current.is_some() && self.queue.len() >= self.capacity {
            let e = ProtocolError::new(ErrorCode::Busy, format!("the queue is full ({} waiting); try again later", self.queue.len()));
            return self.send(to, &Event::error(e));
        }
        let (id, path) = self.store.allocate(seed);
        let job = Job { id, request: Request::new(prompt.clone(), seed), steps, path, cancel: Arc::new(AtomicBool::new(false)) };
        let position = if self.current.is_some() { self.queue.len() + 1 } else { 0 };
        self.send(to, &Event::Accepted { id, prompt, seed, steps, position });
        self.queue.push_back((job, to));
        self.start_next();
    }

    fn start_next(&mut self) {
        if self.current.is_some() {
            return;
        }
        let Some((job, to)) = self.queue.pop_front() else {
            return;
        };
        let Some(jobs) = &self.jobs else { return };
        self.current = Some(Running {
            id: job.id,
            to,
            cancel: job.cancel.clone(),
            cancelled_by: None,
            prompt: job.request.prompt.clone(),
            steps: job.steps,
        });
        self.screen.prompt = Some(job.request.prompt.clone());
        self.screen.progress = Some((0, job.steps));
        self.screen.status = format!("generating 0/{}", job.steps);
        self.screen.idle = false;
        if jobs.send(job).is_err() {
            log::error!("the generation thread has stopped");
        }
        self.redraw();
    }

    fn cancel(&mut self, by: Option<SourceId>) {
        match &mut self.current {
            Some(r) => {
                r.cancel.store(true, Ordering::SeqCst);
                r.cancelled_by = by;
            }
            None => {
                let e = ProtocolError::new(ErrorCode::NothingToCancel, "no generation is running");
                self.send(by.map_or(Target::All, Target::One), &Event::error(e));
            }
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

    fn worker_event(&mut self, event: WorkerEvent) {
        let Some(running) = &self.current else { return };
        let (id, to) = (running.id, running.to);
        match event {
            WorkerEvent::Progress { id: eid, step, of } if eid == id => {
                self.screen.progress = Some((step, of));
                self.screen.status = format!("generating {step}/{of}");
                self.redraw();
                self.send(to, &Event::Progress { id, step, of });
            }
            WorkerEvent::Done { id: eid, ms, seed, path, sha256, image } if eid == id => {
                let running = self.current.take();
                let prompt = running.as_ref().map(|r| r.prompt.clone());
                self.generated += 1;
                self.ratings.last = running.map(|r| Finished { id, prompt: r.prompt, seed, steps: r.steps, sha256: sha256.clone() });
                // On screen first, then announced: whoever gets `done` sees the picture.
                self.screen.image = Some(image);
                self.screen.prompt = prompt;
                self.screen.progress = None;
                self.screen.status = format!("ready - #{id}, seed {seed}, {:.1} s", ms as f64 / 1000.0);
                self.redraw();
                self.send(to, &Event::Done { id, ms, seed, path: path.display().to_string(), sha256 });
            }
            WorkerEvent::Cancelled { id: eid } if eid == id => {
                let by = self.current.take().and_then(|r| r.cancelled_by);
                let e = Event::Error { code: ErrorCode::Cancelled, message: format!("generation {id} was cancelled"), id: Some(id) };
                self.send(to, &e);
                if let Some(by) = by.filter(|&b| to != Target::One(b) && to != Target::All) {
                    self.send(Target::One(by), &e);
                }
                self.screen.progress = None;
                self.screen.status = "cancelled".into();
                self.redraw();
            }
            WorkerEvent::Failed { id: eid, write, message } if eid == id => {
                self.current = None;
                let code = if write { ErrorCode::WriteFailed } else { ErrorCode::GenerationFailed };
                self.send(to, &Event::Error { code, message: message.clone(), id: Some(id) });
                self.screen.progress = None;
                self.screen.status = format!("error: {message}");
                self.redraw();
            }
            other => log::warn!("stale report from the generation thread: {other:?}"),
        }
        self.start_next();
    }

    fn status(&self) -> Event {
        let (current, step, of) = match &self.current {
            Some(r) => {
                let (s, o) = self.screen.progress.unwrap_or((0, 0));
                (Some(r.id), Some(s), Some(o))
            }
            None => (None, None, None),
        };
        Event::Status {
            state: if self.current.is_some() { "generating" } else { "idle" },
            current,
            step,
            of,
            queue: self.queue.len(),
            seed: self.seed,
            steps: self.steps.unwrap_or(self.info.default_steps),
            generated: self.generated,
            blocked: self.blocked,
        }
    }

    fn bad_steps(&self, n: usize) -> Event {
        let list = self.info.steps.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ");
        Event::error(ProtocolError::new(
            ErrorCode::BadArgument,
            format!("steps must be one of {list} for model {} (got {n})", self.info.name),
        ))
    }

    fn send(&mut self, to: Target, event: &Event) {
        self.outputs.send(to, event);
    }

    fn redraw(&mut self) {
        let Some(display) = &mut self.display else { return };
        match present(display.as_mut(), &self.screen) {
            Ok(()) => self.display_ok = true,
            Err(e) => {
                // Report once per outage, keep running without the screen.
                if std::mem::replace(&mut self.display_ok, false) {
                    log::error!("{e}");
                    self.send(Target::All, &Event::error(ProtocolError::new(ErrorCode::Display, e.to_string())));
                }
            }
        }
    }
}

fn random_seed() -> u64 {
    use rand_core::{OsRng, RngCore};
    // Seeds a person can retype, as `generate` picks them.
    OsRng.next_u32() as u64
}
