//! The generation queue: the running job, the ones waiting behind it (at
//! most `capacity`), and the picture ids, handed to the worker thread one
//! at a time.

use super::outputs::Target;
use super::msg::SourceId;
use super::store::ImageStore;
use super::worker::Job;
use crate::pipeline::Request;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;

/// The job the worker has.
pub struct Running {
    pub id: u64,
    pub to: Target,
    pub cancel: Arc<AtomicBool>,
    pub cancelled_by: Option<SourceId>,
    pub prompt: String,
    pub steps: usize,
}

pub struct JobQueue {
    capacity: usize,
    store: ImageStore,
    jobs: Option<Sender<Job>>,
    waiting: VecDeque<(Job, Target)>,
    current: Option<Running>,
}

/// A request the queue took: its id and how many wait before it (0: it runs now).
pub struct Accepted {
    pub id: u64,
    pub position: usize,
}

impl JobQueue {
    pub fn new(capacity: usize, store: ImageStore, jobs: Sender<Job>) -> JobQueue {
        JobQueue { capacity, store, jobs: Some(jobs), waiting: VecDeque::new(), current: None }
    }

    /// Free space where pictures go, in MB.
    pub fn free_mb(&self) -> Option<u64> {
        self.store.free_mb()
    }

    /// Remove the oldest pictures beyond the output folder's limit.
    pub fn prune_pictures(&self) -> std::io::Result<Vec<std::path::PathBuf>> {
        self.store.prune()
    }

    /// Requests that may wait behind the running one.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn is_idle(&self) -> bool {
        self.current.is_none() && self.waiting.is_empty()
    }

    pub fn current(&self) -> Option<&Running> {
        self.current.as_ref()
    }

    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Queue a request, or None when one runs and `capacity` wait already.
    pub fn push(&mut self, prompt: String, seed: u64, steps: usize, best_of: usize, to: Target) -> Option<Accepted> {
        if self.current.is_some() && self.waiting.len() >= self.capacity {
            return None;
        }
        let (id, path) = self.store.allocate(seed);
        let cancel = Arc::new(AtomicBool::new(false));
        let job = Job { id, request: Request::new(prompt, seed), steps, best_of, path, cancel };
        let position = if self.current.is_some() { self.waiting.len() + 1 } else { 0 };
        self.waiting.push_back((job, to));
        Some(Accepted { id, position })
    }

    /// Hand the next waiting job to the worker if none runs; the job started.
    pub fn start_next(&mut self) -> Option<&Running> {
        if self.current.is_some() {
            return None;
        }
        let (job, to) = self.waiting.pop_front()?;
        let jobs = self.jobs.as_ref()?;
        let running = Running {
            id: job.id,
            to,
            cancel: job.cancel.clone(),
            cancelled_by: None,
            prompt: job.request.prompt.clone(),
            steps: job.steps,
        };
        if jobs.send(job).is_err() {
            log::error!("the generation thread has stopped");
        }
        self.current = Some(running);
        self.current.as_ref()
    }

    /// Ask the running job to stop (`by`: who asked; answered when it ends).
    pub fn cancel(&mut self, by: Option<SourceId>) -> CancelOutcome {
        match &mut self.current {
            Some(r) if r.cancel.load(Ordering::SeqCst) => CancelOutcome::AlreadyCancelling(r.id),
            Some(r) => {
                r.cancel.store(true, Ordering::SeqCst);
                r.cancelled_by = by;
                CancelOutcome::Asked
            }
            None => CancelOutcome::NothingRunning,
        }
    }

    /// The running job has ended (done, cancelled or failed).
    pub fn finish(&mut self) -> Option<Running> {
        self.current.take()
    }

    /// Cancel what runs, drop what waits, close the worker's job channel.
    pub fn stop(&mut self) {
        if let Some(r) = &self.current {
            r.cancel.store(true, Ordering::SeqCst);
        }
        self.waiting.clear();
        self.jobs = None;
    }
}

/// What a cancel request did: every request gets an answer (issue 18).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The running job will stop at its next step; `cancelled` comes then.
    Asked,
    /// Someone asked already: this request is answered `nothing_to_cancel`.
    AlreadyCancelling(u64),
    NothingRunning,
}
