//! A process-wide hook run on the training thread after each optimiser step (and PPO iteration), when the step's
//! graphs and activations are freed. The binary that owns the allocator sets it to hand that
//! memory back to the OS (`hone-allocator`): otherwise the next step's tensors land
//! at other addresses and resident memory climbs with each step (issue 16).

use std::sync::OnceLock;

static HOOK: OnceLock<fn()> = OnceLock::new();

/// Sets the hook; returns false when one was set already (the first one stays).
pub fn set_hook(hook: fn()) -> bool {
    HOOK.set(hook).is_ok()
}

/// Runs the hook, if one is set: the trainer after each step, and anything else that just
/// freed large buffers (the plan's CPU probe).
pub fn run_hook() {
    if let Some(hook) = HOOK.get() {
        hook();
    }
}
