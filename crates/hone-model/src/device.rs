//! Choosing where the model runs, and saying why.

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

/// The device in use, its dtype for the base weights (LoRA stays f32), and why.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    pub device: Device,
    pub dtype: DType,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceReport {
    pub device: String,
    pub dtype: String,
    pub reason: String,
}

impl DeviceInfo {
    pub fn cpu(reason: &str) -> Self {
        // CPU matmul has no bf16 kernel: f32.
        Self {
            device: Device::Cpu,
            dtype: DType::F32,
            reason: reason.into(),
        }
    }

    pub fn name(&self) -> String {
        match &self.device {
            Device::Cpu => "cpu".into(),
            Device::Cuda(_) => "cuda".into(),
            Device::Metal(_) => "metal".into(),
        }
    }

    pub fn report(&self) -> DeviceReport {
        DeviceReport {
            device: self.name(),
            dtype: format!("{:?}", self.dtype).to_lowercase(),
            reason: self.reason.clone(),
        }
    }
}

/// Resolves `choice` to a device; asking for a GPU this build cannot use is an error.
pub fn select(choice: DeviceChoice) -> Result<DeviceInfo> {
    match choice {
        DeviceChoice::Cpu => Ok(DeviceInfo::cpu("asked for the CPU")),
        DeviceChoice::Cuda(n) => {
            if !candle_core::utils::cuda_is_available() {
                return Err(crate::ModelError::invalid(
                    "device",
                    "this build of Hone has no CUDA support (build with --features cuda)",
                ));
            }
            Ok(DeviceInfo {
                device: Device::new_cuda(n)?,
                dtype: DType::BF16,
                reason: format!("asked for cuda:{n}"),
            })
        }
        DeviceChoice::Metal => {
            if !candle_core::utils::metal_is_available() {
                return Err(crate::ModelError::invalid(
                    "device",
                    "this build of Hone has no Metal support (build with --features metal)",
                ));
            }
            Ok(DeviceInfo {
                device: Device::new_metal(0)?,
                dtype: DType::F16,
                reason: "asked for metal".into(),
            })
        }
        DeviceChoice::Auto => {
            if candle_core::utils::cuda_is_available() {
                if let Ok(device) = Device::new_cuda(0) {
                    return Ok(DeviceInfo {
                        device,
                        dtype: DType::BF16,
                        reason: "a CUDA GPU is present".into(),
                    });
                }
            }
            if candle_core::utils::metal_is_available() {
                if let Ok(device) = Device::new_metal(0) {
                    return Ok(DeviceInfo {
                        device,
                        dtype: DType::F16,
                        reason: "a Metal GPU is present".into(),
                    });
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
