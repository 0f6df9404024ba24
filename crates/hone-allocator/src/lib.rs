//! The allocator Hone's binaries install (`hone`, `hone-desktop`): [`Allocator`] as the
//! `#[global_allocator]`, [`keep_freed_memory`] first thing in `main`, and
//! [`release_freed_memory`] as the training loop's step-end hook (`hone_train::step_end`).
//!
//! Tensor buffers are large and short-lived: with the system allocator each new one is fresh
//! pages from the OS, faulted in and zeroed (measured: ~30% of a LoRA training step on CPU).
//! mimalloc keeps freed memory for reuse within a training step, as PyTorch's caching allocator
//! does, and hands it back to the OS between steps: kept across steps, the next step's tensors
//! land at other addresses and resident memory climbs with each step (issue 16: +200 MiB over a
//! four-step 1B DPO run, at ~1% of its time).

pub use mimalloc::MiMalloc as Allocator;

/// `mi_option_purge_delay` in `mimalloc.h` (v2 and v3), in milliseconds.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// A delay no run reaches (~28 hours): freed memory is purged only when
/// [`release_freed_memory`] forces it. Not -1 ("never"): mimalloc decides when it creates a
/// segment whether that segment may ever be purged. Fits a 32-bit `long` (Windows) after
/// mimalloc multiplies it by 10 for its arenas.
const PURGE_ONLY_WHEN_ASKED_MS: std::os::raw::c_long = 100_000_000;

/// Keeps freed memory for reuse until [`release_freed_memory`], unless `MIMALLOC_PURGE_DELAY`
/// (mimalloc's own setting) says otherwise: mimalloc read it at start-up and it is left as it
/// is. Call before any thread is started.
pub fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // Safety: sets a process-wide option; no memory is touched.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_ONLY_WHEN_ASKED_MS) }
    }
}

/// Hands the memory freed so far back to the OS: the calling thread's (where tensors are
/// allocated) and the rayon workers' (gemm's packing buffers), and the process's free
/// segments.
pub fn release_freed_memory() {
    // Safety: mimalloc's own collection; it frees nothing that is in use.
    let collect = || unsafe { libmimalloc_sys::mi_collect(true) };
    rayon::broadcast(|_| collect());
    collect();
}
