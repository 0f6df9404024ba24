//! How many threads candle's CPU kernels use, counted once per process.
//!
//! candle 0.11 asks `utils::get_num_threads()` on every CPU matmul. Unless `RAYON_NUM_THREADS`
//! is set, that counts the physical cores with `num_cpus::get_physical()`, which reads and
//! parses `/proc/cpuinfo` on each call wherever the kernel gives no `cpu_capacity` (most x86
//! machines, VMs included). Measured on a 2-core VM (BENCHMARKS.md "One count of the cores"):
//! the starter model's `hone train --method rlhf` took 29.5 s with the count taken per matmul
//! and 13.0 s with it set, its DPO 1.95 s and 1.27 s; on SmolLM2 the step's products are large
//! enough that it cost a few percent. [`settle`] counts once and writes the count where candle
//! and rayon read it.

/// The environment variable candle and rayon take their thread count from.
pub const THREADS_VAR: &str = "RAYON_NUM_THREADS";

/// Sets `RAYON_NUM_THREADS` to candle's own default (the physical cores) when it is unset or
/// not a positive number, so that no later matmul counts the cores again; a count the user
/// set is kept. Returns the count in force.
///
/// Call it first thing in `main`, before any other thread exists: the environment must not
/// change while another thread may read it.
pub fn settle() -> usize {
    let threads = candle_core::utils::get_num_threads();
    if user_count().is_none() {
        std::env::set_var(THREADS_VAR, threads.to_string());
    }
    threads
}

/// The count the environment gives, when candle would take it (a positive integer, written
/// as candle parses it: no spaces).
fn user_count() -> Option<usize> {
    std::env::var(THREADS_VAR)
        .ok()
        .and_then(|text| text.parse::<usize>().ok())
        .filter(|n| *n > 0)
}
