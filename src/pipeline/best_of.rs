//! Best of N: N candidates from seeds seed, seed + 1, …, each scored against
//! the prompt by the bundle's scorer, the highest kept. Reproducible: the
//! kept picture is exactly `generate` with its own seed.

use super::{ms, Generated, Pipeline, PipelineError, Progress, Request};
use crate::scorer::Scorer;
use std::ops::ControlFlow;
use std::time::Instant;

/// The most candidates one request may ask for.
pub const MAX_BEST_OF: usize = 16;

/// One candidate's seed and score.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Candidate {
    pub seed: u64,
    pub score: f32,
}

#[derive(Debug, Clone)]
pub struct BestOf {
    /// The candidate kept (its own seed and timings).
    pub kept: Generated,
    pub kept_score: f32,
    /// Every candidate in the order made (`kept` is one of them).
    pub candidates: Vec<Candidate>,
    /// Scoring all candidates (the prompt's embedding included).
    pub score_ms: f64,
    /// All candidates, made and scored.
    pub total_ms: f64,
}

/// `n` in 1..=MAX_BEST_OF, and no fixed initial latents (every candidate
/// would start from the same noise).
pub fn check_best_of(n: usize, request: &Request) -> Result<(), PipelineError> {
    if !(1..=MAX_BEST_OF).contains(&n) {
        return Err(PipelineError::BadRequest(format!("best-of must be 1 to {MAX_BEST_OF} (not {n})")));
    }
    if n > 1 && request.initial_latents.is_some() {
        return Err(PipelineError::BadRequest(
            "best-of needs seeded noise: with fixed initial latents every candidate would be the same picture".into(),
        ));
    }
    Ok(())
}

impl Pipeline {
    /// Load the bundle's scorer now (it is otherwise loaded by the first
    /// best-of); an error when the bundle has none. Returns the load time in ms.
    pub fn load_scorer(&mut self) -> Result<f64, PipelineError> {
        if self.scorer.is_none() {
            self.scorer = Some(Scorer::load(&self.bundle)?);
        }
        Ok(self.scorer.as_ref().map_or(0.0, |s| s.load_ms))
    }

    /// Make `n` candidates and keep the best (see the module). Progress
    /// counts every candidate's steps (step `k · steps + s` of `n · steps`);
    /// the text is reported encoded once and the picture decoded once.
    pub fn generate_best_of(
        &mut self,
        request: &Request,
        n: usize,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<BestOf, PipelineError> {
        check_best_of(n, request)?;
        self.check(request)?;
        // Out of its slot while the pipeline generates (both need borrowing).
        let scorer = match self.scorer.take() {
            Some(s) => s,
            None => Scorer::load(&self.bundle)?,
        };
        let result = best_of(self, &scorer, request, n, progress);
        self.scorer = Some(scorer);
        result
    }
}

fn best_of(
    pipeline: &mut Pipeline,
    scorer: &Scorer,
    request: &Request,
    n: usize,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<BestOf, PipelineError> {
    let started = Instant::now();
    let t0 = Instant::now();
    let text = scorer.text_embedding(&request.prompt)?;
    let mut score_ms = ms(t0);
    let mut best: Option<(Generated, f32)> = None;
    let mut candidates = Vec::with_capacity(n);
    for k in 0..n {
        let candidate = Request { seed: request.seed.wrapping_add(k as u64), ..request.clone() };
        let last = k + 1 == n;
        let generated = pipeline.generate(&candidate, &mut |p| match p {
            Progress::TextEncoded if k > 0 => ControlFlow::Continue(()),
            Progress::Decoded if !last => ControlFlow::Continue(()),
            Progress::Step { step, of } => progress(Progress::Step { step: k * of + step, of: n * of }),
            Progress::Preview { step, of, image } => progress(Progress::Preview { step: k * of + step, of: n * of, image }),
            other => progress(other),
        })?;
        let t0 = Instant::now();
        let score = scorer.score(&generated.image, &text)?;
        score_ms += ms(t0);
        candidates.push(Candidate { seed: generated.seed, score });
        // A NaN score (a broken scorer graph) never wins.
        if best.as_ref().is_none_or(|(_, s)| score > *s || s.is_nan()) {
            best = Some((generated, score));
        }
    }
    let Some((kept, kept_score)) = best else {
        return Err(PipelineError::BadRequest("no candidates were made".into()));
    };
    Ok(BestOf { kept, kept_score, candidates, score_ms, total_ms: ms(started) })
}
