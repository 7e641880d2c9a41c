//! What the C allocator does with the memory tract frees (glibc on Linux;
//! elsewhere these are no-ops).
//!
//! glibc keeps freed blocks for reuse rather than giving them back. After a
//! graph is loaded, the ONNX protobuf's buffers are holes between the weights:
//! SD-Turbo's int8 UNet (869 MB of weights) sat at 1.69 GB resident after
//! loading, 1.00 GB after [`release_free_memory`]. During a step, large
//! activations freed again stay resident at their high-water mark unless
//! every block over 64 KiB gets its own mapping ([`return_freed_blocks_at_once`]):
//! the UNet's peak in `--low-memory` mode 2.10 -> 1.62 GB, for about twice as
//! many page faults (measured in runs/dql; README, "Real-size models").
//! libc is used directly: no allocator crate offers these two calls.

/// Give freed heap pages back to the system (malloc_trim): after a graph is
/// loaded or dropped. Takes milliseconds.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused pages; no pointer is involved.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// From now on, allocate every block over 64 KiB as its own mapping, so that
/// freeing it returns it to the system at once (M_MMAP_THRESHOLD; glibc's
/// default grows up to 32 MiB and then keeps such blocks). Process-wide; for
/// low-memory mode, where a lower peak is worth the page faults.
pub fn return_freed_blocks_at_once() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt changes a tuning parameter; no pointer is involved.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 10);
    }
}
