//! The process allocator. Tensor buffers are large and short-lived: with the system allocator
//! each new one is fresh pages from the OS, faulted in and zeroed (measured: ~30% of a LoRA
//! training step on CPU). mimalloc, told never to return freed memory, reuses them as
//! PyTorch's caching allocator does.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in `mimalloc.h` (v2 and v3): -1 means never purge freed memory.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps freed memory for reuse, unless `MIMALLOC_PURGE_DELAY` (mimalloc's own setting, in
/// milliseconds) says otherwise: mimalloc read it at start-up and it is left as it is.
pub fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // Safety: sets a process-wide option; no memory is touched.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}
