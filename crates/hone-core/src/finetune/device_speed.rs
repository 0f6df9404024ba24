//! How fast a plan assumes the device trains before a run on it was measured: on a GPU its
//! matmul throughput (a second or so), on the CPU the costs of a training step's products and
//! streamed values from products and a real training step ([`super::step_probe`], ~1.3 s),
//! measured once and kept per device in `<workspace>/devices.json`, so later plans on it do not
//! measure again. The CPU's key names its threads: a run with another thread count is measured
//! anew.

use std::collections::BTreeMap;
use std::path::Path;

use hone_model::DeviceInfo;
use serde::{Deserialize, Serialize};

use super::step_time::{CpuRates, Speed, FALLBACK_CPU};

/// The cache file, in the workspace folder.
pub const DEVICES_FILE: &str = "devices.json";

/// One device's measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub dtype: String,
    /// A GPU's matmul rate in `dtype`, FLOP/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matmul_flops: Option<f64>,
    /// The CPU's step rates. A CPU entry without them (written before the step probe, when
    /// the CPU was one matmul rate) is measured again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuRates>,
    /// The kernel the CPU's products ran on (`hone_model::fused::product_kernel`). CPU rates
    /// measured on another kernel (or before it was recorded) are measured again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// Seconds since the Unix epoch.
    pub measured_at: u64,
}

/// `n` of the GPU probe's `n × n` products and how many are timed.
const GPU_PROBE: (usize, usize) = (4096, 20);

/// The speed to plan with on `device`, measured on first use and remembered. A failed
/// measurement falls back to [`FALLBACK_CPU`] (and the plan's time is then a guess).
pub fn speed(workspace: &Path, device: &DeviceInfo) -> Speed {
    let key = format!("{} ({})", device.name, device.description);
    let dtype = hone_model::device::dtype_name(device.dtype).to_string();
    let path = workspace.join(DEVICES_FILE);
    let mut known: BTreeMap<String, Measured> = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let remembered = known.get(&key).filter(|m| m.dtype == dtype);
    let measured = if device.is_gpu() {
        if let Some(matmul_flops) = remembered.and_then(|m| m.matmul_flops) {
            return Speed::Gpu { matmul_flops };
        }
        hone_model::device::matmul_flops(device, GPU_PROBE.0, GPU_PROBE.1)
            .map(|flops| (Some(flops), None))
    } else {
        let kernel = hone_model::fused::product_kernel();
        if let Some(rates) = remembered
            .filter(|m| m.kernel.as_deref() == Some(kernel.as_str()))
            .and_then(|m| m.cpu)
            .filter(|rates| rates.thin_product_flops > 0.0)
        {
            return Speed::Cpu(rates);
        }
        super::step_probe::measure(&device.device).map(|rates| (None, Some(rates)))
    };
    match measured {
        Ok((matmul_flops, cpu)) => {
            known.insert(
                key,
                Measured {
                    dtype,
                    matmul_flops,
                    cpu,
                    kernel: (!device.is_gpu()).then(hone_model::fused::product_kernel),
                    measured_at: std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs()),
                },
            );
            let bytes = serde_json::to_vec_pretty(&known).expect("JSON");
            if let Err(e) = crate::export::write_atomically(&path, &bytes) {
                tracing::warn!(error = %e, "cannot keep the device's measured speed");
            }
            match (matmul_flops, cpu) {
                (Some(matmul_flops), _) => Speed::Gpu { matmul_flops },
                (None, Some(rates)) => Speed::Cpu(rates),
                (None, None) => Speed::Cpu(FALLBACK_CPU),
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot measure the device's training speed");
            Speed::Cpu(FALLBACK_CPU)
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
        let key = format!("cpu ({})", cpu.description);
        assert!(key.contains("threads"), "{key}");
        let path = dir.path().join(DEVICES_FILE);
        // A file from before the step probe: the CPU as one matmul rate. It is measured anew.
        std::fs::write(
            &path,
            format!(r#"{{"{key}": {{"dtype": "f32", "matmul_flops": 2e11, "measured_at": 1}}}}"#),
        )
        .unwrap();
        let Speed::Cpu(rates) = speed(dir.path(), &cpu) else {
            panic!("the CPU planned as a GPU");
        };
        assert!((1e9..1e14).contains(&rates.product_flops), "{rates:?}");
        let known: BTreeMap<String, Measured> =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let kept = known[&key].cpu.unwrap();
        // serde_json reads floats back to within an ulp, not always exactly.
        assert!((kept.product_flops / rates.product_flops - 1.0).abs() < 1e-12);
        assert!(known[&key].measured_at > 1);
        // A remembered figure is used as it is, not measured again.
        let mut edited = known.clone();
        let remembered = CpuRates {
            product_flops: 123e9,
            thin_product_flops: 61e9,
            seconds_per_value: 5e-9,
        };
        edited.get_mut(&key).unwrap().cpu = Some(remembered);
        std::fs::write(&path, serde_json::to_vec(&edited).unwrap()).unwrap();
        assert_eq!(speed(dir.path(), &cpu), Speed::Cpu(remembered));
        // Rates measured on the products' kernel are recorded with its name; rates of another
        // kernel (a build with another one, or from before the name was kept) are measured anew.
        assert_eq!(
            known[&key].kernel.as_deref(),
            Some(hone_model::fused::product_kernel().as_str())
        );
        for other in [Some("another kernel".to_string()), None] {
            let mut stale = edited.clone();
            stale.get_mut(&key).unwrap().kernel = other;
            std::fs::write(&path, serde_json::to_vec(&stale).unwrap()).unwrap();
            assert_ne!(speed(dir.path(), &cpu), Speed::Cpu(remembered));
        }
        // Rates from before the thin products were measured apart (no `thin_product_flops`)
        // are measured anew.
        let mut entry = serde_json::to_value(&edited).unwrap();
        entry[&key]["cpu"]
            .as_object_mut()
            .unwrap()
            .remove("thin_product_flops");
        std::fs::write(&path, serde_json::to_vec(&entry).unwrap()).unwrap();
        let Speed::Cpu(again) = speed(dir.path(), &cpu) else {
            panic!("the CPU planned as a GPU");
        };
        // Measured, not the remembered wide rate with a zero thin one.
        assert_ne!(again.product_flops, remembered.product_flops, "{again:?}");
        assert!(again.thin_product_flops > 0.0, "{again:?}");
        let kept: BTreeMap<String, Measured> =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert!(kept[&key].cpu.unwrap().thin_product_flops > 0.0);
    }
}
