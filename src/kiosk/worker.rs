//! The generation thread: takes one job at a time, reports each denoising
//! step, writes the picture to disk (atomically) and only then reports it
//! done. A job's cancel flag is checked between steps.

use crate::credentials::Signer;
use crate::image::RgbImage;
use crate::picture;
use crate::pipeline::{BestOf, Generated, Pipeline, PipelineError, Progress, Request};
use crate::watermark::Stamp;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

/// What the kiosk needs from a model: the pipeline in production, a scripted
/// fake in tests that must control timing (cancel, busy).
pub trait Painter: Send {
    /// The model's name, step counts it was distilled for, and default.
    fn describe(&self) -> ModelInfo;
    fn paint(
        &mut self,
        request: &Request,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<Generated, PipelineError>;
    /// The best of `n` candidates by the model's scorer (`n` > 1). A model
    /// without one refuses (the controller checks [`ModelInfo::scorer`] first).
    fn paint_best_of(
        &mut self,
        request: &Request,
        n: usize,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<BestOf, PipelineError> {
        let _ = (request, n, progress);
        Err(PipelineError::BadRequest("this model has no scorer".into()))
    }
    /// PNG text metadata for a picture made from this request.
    fn metadata(&self, prompt: &str, seed: u64, steps: usize) -> Vec<(String, String)>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    pub name: String,
    /// sha256 of the bundle's model.toml (watermark model id, feedback log).
    pub model_sha256: String,
    pub steps: Vec<usize>,
    pub default_steps: usize,
    /// The bundle has a self-check scorer (`/best N` with N > 1).
    pub scorer: bool,
}

impl Painter for Pipeline {
    fn describe(&self) -> ModelInfo {
        let b = self.bundle();
        ModelInfo {
            name: b.manifest.name.clone(),
            model_sha256: b.manifest_sha256.clone(),
            steps: b.step_counts(),
            default_steps: b.manifest.scheduler.default_steps,
            scorer: b.manifest.scorer.is_some(),
        }
    }

    fn paint(
        &mut self,
        request: &Request,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<Generated, PipelineError> {
        self.generate(request, progress)
    }

    fn paint_best_of(
        &mut self,
        request: &Request,
        n: usize,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<BestOf, PipelineError> {
        self.generate_best_of(request, n, progress)
    }

    fn metadata(&self, prompt: &str, seed: u64, steps: usize) -> Vec<(String, String)> {
        picture::metadata(self.bundle(), prompt, seed, steps)
    }
}

pub struct Job {
    pub id: u64,
    pub request: Request,
    pub steps: usize,
    /// Candidates to make and score (1: one picture, no scoring).
    pub best_of: usize,
    pub path: PathBuf,
    pub cancel: Arc<AtomicBool>,
}

#[derive(Debug)]
pub enum WorkerEvent {
    Progress { id: u64, step: usize, of: usize },
    /// The picture as it stands after a step (previews on: board `[model] preview`).
    Preview { id: u64, image: Arc<RgbImage> },
    /// `seed`: the kept picture's; `score`: its score and the candidate count (best of several).
    Done { id: u64, ms: u64, seed: u64, path: PathBuf, sha256: String, image: Arc<RgbImage>, score: Option<(f32, usize)> },
    Cancelled { id: u64 },
    Failed { id: u64, write: bool, message: String },
}

/// Run jobs until the job channel closes. `send` wraps events for the kiosk's channel.
/// Every picture is watermarked with `stamp` before it is saved or shown,
/// and signed by `signer` (Content Credentials) when there is one.
pub fn run<M: Send + 'static>(
    mut painter: Box<dyn Painter>,
    stamp: Stamp,
    signer: Option<Signer>,
    jobs: Receiver<Job>,
    events: Sender<M>,
    wrap: fn(WorkerEvent) -> M,
    backlog: Backlog,
) {
    let model_sha256 = painter.describe().model_sha256;
    for job in jobs {
        let started = Instant::now();
        let send = |e: WorkerEvent| {
            let _ = events.send(wrap(e));
        };
        let mut on_progress = |p: Progress| {
            match p {
                Progress::Step { step, of } => {
                    backlog.sent();
                    send(WorkerEvent::Progress { id: job.id, step, of });
                }
                Progress::Preview { image, .. } => {
                    backlog.sent();
                    send(WorkerEvent::Preview { id: job.id, image: Arc::new(image) });
                }
                _ => {}
            }
            if job.cancel.load(Ordering::SeqCst) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let request = Request { steps: Some(job.steps), ..job.request.clone() };
        let painted = match job.best_of {
            0 | 1 => painter.paint(&request, &mut on_progress).map(|g| (g, None)),
            n => painter.paint_best_of(&request, n, &mut on_progress).map(|b| (b.kept, Some((b.kept_score, n)))),
        };
        let event = match painted {
            Ok((generated, score)) => {
                let mut metadata = painter.metadata(&request.prompt, generated.seed, generated.steps);
                if let Some((s, n)) = score {
                    metadata.push(("best_of".to_string(), n.to_string()));
                    metadata.push(("score".to_string(), format!("{s:.4}")));
                }
                match picture::save(&job.path, &generated.image, &stamp, &model_sha256, &metadata, signer.as_ref()) {
                    Ok(saved) => WorkerEvent::Done {
                        id: job.id,
                        ms: started.elapsed().as_millis() as u64,
                        seed: generated.seed,
                        path: job.path.clone(),
                        sha256: saved.sha256,
                        image: Arc::new(saved.image),
                        score,
                    },
                    Err(e) => WorkerEvent::Failed { id: job.id, write: true, message: e.to_string() },
                }
            }
            Err(PipelineError::Cancelled) => WorkerEvent::Cancelled { id: job.id },
            Err(e) => WorkerEvent::Failed { id: job.id, write: false, message: e.to_string() },
        };
        send(event);
    }
}

/// Progress reports sent by the worker and not yet handled by the
/// controller: when more are waiting, a slow display skips drawing the older
/// ones instead of falling behind the generation (and a shutdown behind it).
#[derive(Debug, Clone, Default)]
pub struct Backlog(Arc<std::sync::atomic::AtomicUsize>);

impl Backlog {
    fn sent(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    /// One report handled; whether newer ones are waiting behind it.
    pub fn handled(&self) -> bool {
        let before = self.0.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| Some(n.saturating_sub(1))).unwrap_or(0);
        before > 1
    }
}
