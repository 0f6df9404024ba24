//! How fast a plan assumes the device trains before a run on it was measured: its matmul
//! throughput, measured once (a tenth of a second on a CPU, a second or so on a GPU) and kept
//! per device in `<workspace>/devices.json`, so later plans on it do not measure again. The
//! CPU's key names its threads: a run with another thread count is measured anew.

use std::collections::BTreeMap;
use std::path::Path;

use hone_model::DeviceInfo;
use serde::{Deserialize, Serialize};

use super::step_time::{Speed, FALLBACK_CPU_FLOPS};

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

/// `n` of the probe's `n × n` products and how many are timed, on a GPU and on the CPU (what
/// `step_time`'s CPU constants were fitted against).
/// The CPU's figure is the best of [`CPU_ROUNDS`] rounds [`CPU_ROUND_GAP`] apart: a fresh
/// process's first products measured up to a fifth below its later ones on a 2-core VM, and
/// 2 of 25 plans in one `bench/plan.sh` run (session 36) measured half the rate in all of four
/// back-to-back rounds (~0.2 s), another process holding one of the two cores meanwhile,
/// which doubled their time estimates. Spread over ~0.5 s the probe is likelier to find the
/// cores free; it runs once per workspace and device.
const GPU_PROBE: (usize, usize) = (4096, 20);
const CPU_PROBE: (usize, usize) = (1024, 4);
const CPU_ROUNDS: usize = 8;
const CPU_ROUND_GAP: std::time::Duration = std::time::Duration::from_millis(25);

/// The speed to plan with on `device`, measured on first use and remembered. A failed
/// measurement falls back to [`FALLBACK_CPU_FLOPS`] on the CPU's terms (and the plan's time is
/// then a guess).
pub fn speed(workspace: &Path, device: &DeviceInfo) -> Speed {
    let gpu = device.is_gpu();
    let as_speed = |matmul_flops| {
        if gpu {
            Speed::Gpu { matmul_flops }
        } else {
            Speed::Cpu { matmul_flops }
        }
    };
    let key = format!("{} ({})", device.name, device.description);
    let dtype = hone_model::device::dtype_name(device.dtype).to_string();
    let path = workspace.join(DEVICES_FILE);
    let mut known: BTreeMap<String, Measured> = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    if let Some(m) = known.get(&key).filter(|m| m.dtype == dtype) {
        return as_speed(m.matmul_flops);
    }
    let measured = if gpu {
        hone_model::device::matmul_flops(device, GPU_PROBE.0, GPU_PROBE.1)
    } else {
        (0..CPU_ROUNDS)
            .map(|round| {
                if round > 0 {
                    std::thread::sleep(CPU_ROUND_GAP);
                }
                hone_model::device::matmul_flops(device, CPU_PROBE.0, CPU_PROBE.1)
            })
            .reduce(|best, next| Ok(best?.max(next?)))
            .expect("at least one round")
    };
    match measured {
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
            as_speed(matmul_flops)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot measure the device's matmul speed");
            Speed::Cpu {
                matmul_flops: FALLBACK_CPU_FLOPS,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_is_measured_once_and_remembered_under_its_thread_count() {
        let dir = tempfile::tempdir().unwrap();
        let cpu = DeviceInfo::cpu("test");
        let Speed::Cpu { matmul_flops } = speed(dir.path(), &cpu) else {
            panic!("the CPU planned as a GPU");
        };
        assert!((1e8..1e14).contains(&matmul_flops), "{matmul_flops}");
        let path = dir.path().join(DEVICES_FILE);
        let known: BTreeMap<String, Measured> =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let key = format!("cpu ({})", cpu.description);
        assert!(key.contains("threads"), "{key}");
        // serde_json reads floats back to within an ulp, not always exactly.
        assert!((known[&key].matmul_flops / matmul_flops - 1.0).abs() < 1e-12);
        // A remembered figure is used as it is, not measured again.
        let mut edited = known.clone();
        edited.get_mut(&key).unwrap().matmul_flops = 123e9;
        std::fs::write(&path, serde_json::to_vec(&edited).unwrap()).unwrap();
        assert_eq!(
            speed(dir.path(), &cpu),
            Speed::Cpu {
                matmul_flops: 123e9
            }
        );
    }
}
