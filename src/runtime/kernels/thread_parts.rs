//! Work split into parts over tract's thread pool (`--threads`), for our
//! own kernels (conv3x3.rs, matmul.rs), which run inside tract's plan and so
//! must use the threads tract was given, not a pool of their own.

/// Below this many multiply-adds a kernel runs on one thread (the pool's
/// start costs more than it saves).
pub(super) const PARALLEL_MACS: usize = 1 << 22;

/// Parts a parallel kernel is split into, at least where its size allows:
/// enough to keep 2-4 threads evenly busy.
const MIN_PARTS: usize = 8;

/// Blocks to cut each of `units` independent pieces of work (bands, batch
/// items) into along a dimension of `length`, for about [`MIN_PARTS`] parts
/// in all, each block at least `min_block` long.
pub(super) fn blocks_per_unit(units: usize, length: usize, min_block: usize) -> usize {
    MIN_PARTS.div_ceil(units).min(length / min_block).max(1)
}

/// `job(first, last)` over `0..count`, split into one contiguous part per
/// thread of tract's pool (`--threads`) when `parallel`; otherwise, or in a
/// build without the `threads` feature, all on the calling thread.
#[cfg(feature = "threads")]
pub(super) fn in_parts(parallel: bool, count: usize, job: &(dyn Fn(usize, usize) + Sync)) {
    use tract_nnef::prelude::multithread::{current_tract_executor, Executor};
    match current_tract_executor() {
        Executor::MultiThread(pool) if parallel && count > 1 => {
            let parts = pool.current_num_threads().min(count);
            pool.scope(|scope| {
                for t in 0..parts {
                    scope.spawn(move |_| job(t * count / parts, (t + 1) * count / parts));
                }
            });
        }
        _ => job(0, count),
    }
}

#[cfg(not(feature = "threads"))]
pub(super) fn in_parts(_parallel: bool, count: usize, job: &(dyn Fn(usize, usize) + Sync)) {
    job(0, count)
}

/// A buffer the parts of [`in_parts`] write, each its own region.
#[derive(Clone, Copy)]
pub(super) struct Shared<T = f32>(pub(super) *mut T);
// SAFETY: each part writes only its own region (see the callers).
unsafe impl<T> Send for Shared<T> {}
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// The element at `offset` (a method, so closures capture the whole
    /// `Shared`, not its raw pointer).
    pub(super) fn at(self, offset: usize) -> *mut T {
        self.0.wrapping_add(offset)
    }
}
