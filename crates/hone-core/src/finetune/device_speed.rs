//! How fast a plan assumes the device trains before a run on it was measured: the CPU's
//! fixed figure, or a GPU's matmul throughput measured once (a second or so) and kept per
//! device in `<workspace>/devices.json`, so later plans on that GPU do not measure again.

use std::collections::BTreeMap;
use std::path::Path;

use hone_model::DeviceInfo;
use serde::{Deserialize, Serialize};

use super::recipe::Speed;

/// The cache file, in the workspace folder.
pub const DEVICES_FILE: &str = "devices.json";

/// One device's measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub dtype: String,
    pub matmul_flops: f64,
    /// Seconds since the Unix epoch.
    pub measured_at: u64,
}

/// `n` of the probe's `n × n` products and how many are timed.
const PROBE_SIZE: usize = 4096;
const PROBE_REPS: usize = 20;

/// The speed to plan with on `device`; a GPU is measured on first use and remembered. A
/// failed measurement falls back to the CPU figure (and the plan's time is then a guess).
pub fn speed(workspace: &Path, device: &DeviceInfo) -> Speed {
    if !device.is_gpu() {
        return Speed::Cpu;
    }
    let key = format!("{} ({})", device.name, device.description);
    let dtype = hone_model::device::dtype_name(device.dtype).to_string();
    let path = workspace.join(DEVICES_FILE);
    let mut known: BTreeMap<String, Measured> = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    if let Some(m) = known.get(&key).filter(|m| m.dtype == dtype) {
        return Speed::Gpu {
            matmul_flops: m.matmul_flops,
        };
    }
    match hone_model::device::matmul_flops(device, PROBE_SIZE, PROBE_REPS) {
        Ok(matmul_flops) => {
            known.insert(
                key,
                Measured {
                    dtype,
                    matmul_flops,
                    measured_at: std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs()),
                },
            );
            let bytes = serde_json::to_vec_pretty(&known).expect("JSON");
            if let Err(e) = crate::export::write_atomically(&path, &bytes) {
                tracing::warn!(error = %e, "cannot keep the device's measured speed");
            }
            Speed::Gpu { matmul_flops }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot measure the device's matmul speed");
            Speed::Cpu
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_plans_with_its_fixed_figure_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(speed(dir.path(), &DeviceInfo::cpu("test")), Speed::Cpu);
        assert!(!dir.path().join(DEVICES_FILE).exists());
    }
}
