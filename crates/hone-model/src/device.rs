//! Choosing where the model runs, in which precision, and saying why.
//!
//! On a GPU the frozen base weights are bf16 (f16 on CUDA cards before compute capability 8.0,
//! and on Metal); LoRA weights, their gradients, AdamW's state, the loss and every
//! log-softmax stay f32 (`lora::linear`, `score`, hone-train's optimiser). On the CPU everything
//! is f32: candle's CPU matmul has no bf16 kernel (it widens to f32 and back).

use candle_core::{DType, Device};
use serde::Serialize;

use crate::Result;

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// A GPU when this build supports one and one is present, else the CPU.
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
    Metal,
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "metal" => Ok(Self::Metal),
            "cuda" => Ok(Self::Cuda(0)),
            other => match other.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
                Some(n) => Ok(Self::Cuda(n)),
                None => Err(format!(
                    "unknown device {other:?}; expected auto, cpu, cuda, cuda:N or metal"
                )),
            },
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
            Self::Metal => f.write_str("metal"),
        }
    }
}

impl Serialize for DeviceChoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DeviceChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The device in use, its dtype for the base weights (LoRA stays f32), what it is, and why
/// it was chosen.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    pub device: Device,
    pub dtype: DType,
    pub reason: String,
    /// `cpu`, `cuda:N` or `metal`.
    pub name: String,
    /// What the device is: the GPU's name and compute capability, or the CPU's threads.
    pub description: String,
    /// The device's memory (the machine's RAM for the CPU), when known.
    pub memory_bytes: Option<u64>,
}

/// [`DeviceInfo`] as plans, `hone model info` and the UI show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceReport {
    pub device: String,
    pub description: String,
    pub dtype: String,
    pub memory_mib: Option<f64>,
    pub reason: String,
}

impl DeviceInfo {
    /// The CPU, in f32.
    pub fn cpu(reason: &str) -> Self {
        Self {
            device: Device::Cpu,
            dtype: DType::F32,
            reason: reason.into(),
            name: "cpu".into(),
            description: format!("CPU, {} threads", candle_core::utils::get_num_threads()),
            memory_bytes: machine_memory_bytes(),
        }
    }

    /// The same device with the base weights in `dtype` (f32, bf16 or f16): the GPU's mixed
    /// precision can be run, slowly, on the CPU too — tests do, to check that path without a GPU.
    pub fn with_dtype(self, dtype: DType) -> Self {
        Self { dtype, ..self }
    }

    pub fn name(&self) -> String {
        self.name.clone()
    }

    pub fn is_gpu(&self) -> bool {
        !self.device.is_cpu()
    }

    pub fn report(&self) -> DeviceReport {
        DeviceReport {
            device: self.name.clone(),
            description: self.description.clone(),
            dtype: dtype_name(self.dtype).into(),
            memory_mib: self.memory_bytes.map(|b| b as f64 / (1024.0 * 1024.0)),
            reason: self.reason.clone(),
        }
    }
}

/// `f32`, `bf16`, `f16`, … as the plan and the CLI write them.
pub fn dtype_name(dtype: DType) -> &'static str {
    dtype.as_str()
}

/// The machine's RAM, from /proc/meminfo (None elsewhere).
fn machine_memory_bytes() -> Option<u64> {
    proc_kib_field("/proc/meminfo", "MemTotal:")
}

/// This process's peak resident memory so far (Linux's `VmHWM`), in bytes; `None` elsewhere.
pub fn process_peak_memory_bytes() -> Option<u64> {
    proc_kib_field("/proc/self/status", "VmHWM:")
}

/// This process's resident memory now (Linux's `VmRSS`), in bytes; `None` elsewhere.
pub fn process_resident_memory_bytes() -> Option<u64> {
    proc_kib_field("/proc/self/status", "VmRSS:")
}

/// Starts this process's peak resident memory over from what it holds now (Linux: writing 5
/// to `/proc/self/clear_refs` resets `VmHWM`); does nothing elsewhere or when refused.
pub fn reset_process_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A `kB` field of a `/proc` file, in bytes.
fn proc_kib_field(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// A CUDA device with its name, memory and the dtype its compute capability supports.
#[cfg(feature = "cuda")]
fn cuda(ordinal: usize, reason: String) -> Result<DeviceInfo> {
    let device = Device::new_cuda(ordinal).map_err(|e| {
        // candle's error carries a backtrace after its first line.
        let cause = e.to_string();
        let cause = cause.lines().next().unwrap_or_default().to_owned();
        crate::ModelError::invalid(
            "device",
            format!(
                "cuda:{ordinal} cannot be used ({cause}); does `nvidia-smi` list it, with a driver for CUDA 13.0 or newer?"
            ),
        )
    })?;
    let Device::Cuda(cuda) = &device else {
        unreachable!("new_cuda gives a CUDA device")
    };
    let stream = cuda.cuda_stream();
    let context = stream.context();
    let gpu = context.name().unwrap_or_else(|_| "unknown GPU".into());
    let (major, minor) = context.compute_capability().unwrap_or((0, 0));
    // bf16 arithmetic needs compute capability 8.0 (Ampere) or newer.
    let dtype = if major >= 8 { DType::BF16 } else { DType::F16 };
    Ok(DeviceInfo {
        device,
        dtype,
        reason,
        name: format!("cuda:{ordinal}"),
        description: format!("{gpu}, compute capability {major}.{minor}"),
        memory_bytes: context.total_mem().ok().map(|b| b as u64),
    })
}

#[cfg(not(feature = "cuda"))]
fn cuda(_ordinal: usize, _reason: String) -> Result<DeviceInfo> {
    Err(crate::ModelError::invalid(
        "device",
        "this build of Hone has no CUDA support (build with --features cuda; README \"GPU builds\")",
    ))
}

fn metal(reason: String) -> Result<DeviceInfo> {
    if !candle_core::utils::metal_is_available() {
        return Err(crate::ModelError::invalid(
            "device",
            "this build of Hone has no Metal support (build with --features metal on macOS)",
        ));
    }
    Ok(DeviceInfo {
        device: Device::new_metal(0)?,
        dtype: DType::F16,
        reason,
        name: "metal".into(),
        description: "Apple GPU (Metal)".into(),
        memory_bytes: None,
    })
}

/// Resolves `choice` to a device; asking for a GPU this build cannot use is an error.
pub fn select(choice: DeviceChoice) -> Result<DeviceInfo> {
    match choice {
        DeviceChoice::Cpu => Ok(DeviceInfo::cpu("asked for the CPU")),
        DeviceChoice::Cuda(n) => cuda(n, format!("asked for cuda:{n}")),
        DeviceChoice::Metal => metal("asked for metal".into()),
        DeviceChoice::Auto => {
            if candle_core::utils::cuda_is_available() {
                match cuda(0, "a CUDA GPU is present".into()) {
                    Ok(info) => return Ok(info),
                    Err(e) => tracing::info!(error = %e, "no usable CUDA device"),
                }
            }
            if candle_core::utils::metal_is_available() {
                if let Ok(info) = metal("a Metal GPU is present".into()) {
                    return Ok(info);
                }
            }
            let why = if cfg!(any(feature = "cuda", feature = "metal")) {
                "no GPU was found"
            } else {
                "this build has no GPU support (features cuda, metal)"
            };
            Ok(DeviceInfo::cpu(why))
        }
    }
}

/// Bytes of device memory in use now (total − free, every process's), for a GPU; `None` on
/// the CPU (its peak is the process's resident set) and on Metal.
pub fn memory_in_use(info: &DeviceInfo) -> Option<u64> {
    #[cfg(feature = "cuda")]
    if let Device::Cuda(cuda) = &info.device {
        let stream = cuda.cuda_stream();
        let (free, total) = stream.context().mem_get_info().ok()?;
        return Some(total.saturating_sub(free) as u64);
    }
    let _ = info;
    None
}

/// The device's measured matmul throughput in its base dtype, FLOP/s: `reps` products of two
/// `n × n` matrices after one warm-up, timed between device synchronisations. Plans size a GPU
/// run from it before any run on that GPU has been measured.
pub fn matmul_flops(info: &DeviceInfo, n: usize, reps: usize) -> Result<f64> {
    let random = || -> Result<candle_core::Tensor> {
        Ok(candle_core::Tensor::randn(0f32, 1.0, (n, n), &info.device)?.to_dtype(info.dtype)?)
    };
    let (a, b) = (random()?, random()?);
    a.matmul(&b)?;
    info.device.synchronize()?;
    let start = std::time::Instant::now();
    for _ in 0..reps.max(1) {
        a.matmul(&b)?;
    }
    info.device.synchronize()?;
    let seconds = start.elapsed().as_secs_f64().max(1e-9);
    Ok(2.0 * (n as f64).powi(3) * reps.max(1) as f64 / seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_and_print_back() {
        for text in ["auto", "cpu", "cuda:0", "cuda:3", "metal"] {
            let choice: DeviceChoice = text.parse().unwrap();
            assert_eq!(choice.to_string(), text);
        }
        assert_eq!(
            "cuda".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Cuda(0)
        );
        let err = "gpu".parse::<DeviceChoice>().unwrap_err();
        assert!(
            err.contains("expected auto, cpu, cuda, cuda:N or metal"),
            "{err}"
        );
    }

    #[test]
    fn the_cpu_is_f32_and_reports_its_memory() {
        let cpu = select(DeviceChoice::Cpu).unwrap();
        assert_eq!(cpu.dtype, DType::F32);
        let report = cpu.report();
        assert_eq!(
            (report.device.as_str(), report.dtype.as_str()),
            ("cpu", "f32")
        );
        assert!(report.memory_mib.is_some_and(|m| m > 100.0), "{report:?}");
        assert_eq!(cpu.with_dtype(DType::BF16).report().dtype, "bf16");
    }

    #[test]
    fn the_matmul_probe_measures_a_plausible_rate() {
        let flops = matmul_flops(&DeviceInfo::cpu("test"), 128, 3).unwrap();
        // Any CPU of this century does 128³ products between 10 MFLOP/s and 100 TFLOP/s.
        assert!((1e7..1e14).contains(&flops), "{flops}");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn asking_a_cpu_build_for_cuda_says_how_to_get_it() {
        let err = select(DeviceChoice::Cuda(0)).unwrap_err().to_string();
        assert!(err.contains("--features cuda"), "{err}");
    }
}
