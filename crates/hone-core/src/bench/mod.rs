//! `hone bench`: measures of the engine on one device, shipped in the `hone` binary so that a
//! GPU machine without a Rust toolchain can run them (`scripts/gpu-check.sh`), and so that
//! `bench/run.sh` and the GPU check measure with the same code.
//!
//! - [`engine`]: tokens/s of a forward pass, a LoRA SFT step, a LoRA DPO step and greedy
//!   generation, with peak memory and the share of the device's matmul peak reached.
//! - [`parity`]: the device against the CPU on the same weights: log-probs in f32 and in the
//!   device's low precision, and the loss curves of a few SFT and DPO steps.
//! - [`plan_memory`]: the plan's predicted training peak for 1B, 3B and 8B Llama shapes with
//!   an f32, bf16 or Q4_K_M base.

pub mod engine;
pub mod parity;
pub mod plan_memory;

use std::time::Instant;

use candle_core::Device;

/// Median seconds of `reps` runs of `f` after one warm-up, each ended by a device
/// synchronisation (GPU kernels run asynchronously); `after` runs after each (a memory sample),
/// and then, untimed, the step-end hook that hands freed memory back, as a training run does
/// between its steps (`hone_train::step_end`).
pub(crate) fn median_seconds(
    device: &Device,
    reps: usize,
    mut f: impl FnMut() -> crate::Result<()>,
    mut after: impl FnMut(),
) -> crate::Result<f64> {
    f()?;
    device.synchronize().map_err(hone_model::ModelError::from)?;
    after();
    hone_train::step_end::run_hook();
    let mut times = Vec::with_capacity(reps.max(1));
    for _ in 0..reps.max(1) {
        let start = Instant::now();
        f()?;
        device.synchronize().map_err(hone_model::ModelError::from)?;
        times.push(start.elapsed().as_secs_f64());
        after();
        hone_train::step_end::run_hook();
    }
    Ok(crate::numbers::median(times).unwrap_or(f64::NAN))
}

/// The process's peak resident memory (VmHWM), in MiB; `None` where /proc is missing.
pub(crate) fn peak_rss_mib() -> Option<f64> {
    hone_model::device::process_peak_memory_bytes().map(|b| b as f64 / (1024.0 * 1024.0))
}

/// Deterministic token ids in `[3, vocab)`, as the PyTorch peer makes them
/// (`bench/peer_pytorch.py`): `i · 7919 mod (vocab − 3) + 3`.
pub(crate) fn token_ids(count: usize, vocab: usize) -> Vec<u32> {
    (0..count)
        .map(|i| (i * 7919 % (vocab - 3) + 3) as u32)
        .collect()
}
