//! Loading several graphs (and their segments) on all cores at once.
//!
//! tract reads, declutters and optimizes a graph on one thread, and an
//! SD-size bundle is 30+ files: loaded one after another that was most of a
//! 10 s start-up on two cores. Within one graph, a segment can only be pinned
//! once the segments before it are read (its inputs are their outputs), but
//! optimizing — the other half of the work — needs nothing from its
//! neighbours. So the work is two kinds of job on a few worker threads:
//! *read* file `ix` of graph `g` (after which file `ix + 1` of `g` can be
//! read) and *optimize* it. Optimize jobs go first, so at most a few read but
//! not yet optimized files are held at once (memory stays near the
//! one-at-a-time peak).
//!
//! Hand-written on std threads because the loader must work in builds
//! without rayon (the `threads` feature) and needs this dependency order,
//! which a plain parallel map does not express.

use super::segments::{Chain, Part, Read};
use super::{InputSpec, RuntimeError, SegmentFile};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// One graph to load: its files in order, and the graph's inputs.
pub(super) type Files<'a> = (&'a [SegmentFile], &'a [InputSpec]);

enum Job<'a> {
    Read { graph: usize, ix: usize, chain: Chain<'a> },
    Optimize { graph: usize, ix: usize, read: Read },
}

struct State<'a> {
    /// Each graph's chain: what its next file is pinned with.
    chains: Vec<Chain<'a>>,
    parts: Vec<Vec<Option<Part>>>,
    /// Read jobs that can start: (graph, file index).
    readable: VecDeque<(usize, usize)>,
    optimizable: VecDeque<(usize, usize, Read)>,
    /// Jobs being worked on now.
    running: usize,
    /// The first error; once set no new job starts.
    failed: Option<RuntimeError>,
}

impl<'a> State<'a> {
    fn next_job(&mut self) -> Option<Job<'a>> {
        if self.failed.is_some() {
            return None;
        }
        if let Some((graph, ix, read)) = self.optimizable.pop_front() {
            return Some(Job::Optimize { graph, ix, read });
        }
        let (graph, ix) = self.readable.pop_front()?;
        Some(Job::Read { graph, ix, chain: self.chains[graph].clone() })
    }

    fn fail(&mut self, e: RuntimeError) {
        self.failed.get_or_insert(e);
    }
}

/// Load every file of every graph on up to `workers` threads; returns each
/// graph's parts in order, or the first error met.
pub(super) fn load(graphs: &[Files], workers: usize) -> Result<Vec<Vec<Part>>, RuntimeError> {
    let state = Mutex::new(State {
        chains: graphs.iter().map(|(files, inputs)| Chain::new(files, inputs)).collect(),
        parts: graphs.iter().map(|(files, _)| files.iter().map(|_| None).collect()).collect(),
        readable: graphs.iter().enumerate().filter(|(_, (files, _))| !files.is_empty()).map(|(g, _)| (g, 0)).collect(),
        optimizable: VecDeque::new(),
        running: 0,
        failed: None,
    });
    let changed = Condvar::new();
    let files: usize = graphs.iter().map(|(f, _)| f.len()).sum();
    let workers = workers.clamp(1, files.max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| work(&state, &changed));
        }
    });
    let state = state.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = state.failed {
        return Err(e);
    }
    Ok(state.parts.into_iter().map(|parts| parts.into_iter().flatten().collect()).collect())
}

/// One worker: take the next job, do it outside the lock, record the result,
/// until no job is left and none is running.
fn work(state: &Mutex<State>, changed: &Condvar) {
    loop {
        let job = {
            let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(job) = s.next_job() {
                    s.running += 1;
                    break job;
                }
                if s.running == 0 {
                    changed.notify_all();
                    return;
                }
                s = changed.wait(s).unwrap_or_else(|p| p.into_inner());
            }
        };
        match job {
            Job::Read { graph, ix, mut chain } => {
                let result = chain.read(ix);
                let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                match result {
                    Ok(read) => {
                        if ix + 1 < chain.len() {
                            s.readable.push_back((graph, ix + 1));
                        }
                        s.chains[graph] = chain;
                        s.optimizable.push_back((graph, ix, read));
                    }
                    Err(e) => s.fail(e),
                }
                s.running -= 1;
            }
            Job::Optimize { graph, ix, read } => {
                let result = read.optimize();
                let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                match result {
                    Ok(part) => s.parts[graph][ix] = Some(part),
                    Err(e) => s.fail(e),
                }
                s.running -= 1;
            }
        }
        changed.notify_all();
    }
}

/// Loading threads set by `--threads` (0: not set).
static WORKERS: AtomicUsize = AtomicUsize::new(0);

#[cfg_attr(not(feature = "threads"), allow(dead_code))]
pub(super) fn set_workers(n: usize) {
    WORKERS.store(n, Ordering::Relaxed);
}

/// Worker threads for loading: as set, else one per core (also in builds
/// without multi-threaded kernels, where `--threads` does not apply).
pub(super) fn workers() -> usize {
    match WORKERS.load(Ordering::Relaxed) {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n,
    }
}
