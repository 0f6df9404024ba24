//! Reading a checkpoint's tensors by name, with errors that say which tensor and what shape.

use std::path::PathBuf;

use candle_core::Tensor;
use candle_nn::VarBuilder;

use crate::lora::{LinearSpec, LoraLinear};
use crate::{ModelError, Result};

pub(crate) struct Weights<'a> {
    vb: VarBuilder<'a>,
    /// Where the tensors come from, for error messages.
    source: PathBuf,
}

impl<'a> Weights<'a> {
    pub fn new(vb: VarBuilder<'a>) -> Self {
        Self {
            vb,
            source: PathBuf::from("the checkpoint"),
        }
    }

    pub fn with_source(vb: VarBuilder<'a>, source: PathBuf) -> Self {
        Self { vb, source }
    }

    pub fn vb(&self) -> &VarBuilder<'a> {
        &self.vb
    }

    /// The tensor `name` (a full path), which must have `shape`.
    pub fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        if !self.vb.contains_tensor(name) {
            return Err(ModelError::MissingTensor {
                name: name.into(),
                path: self.source.clone(),
            });
        }
        let t = self.vb.get_unchecked(name)?;
        if t.dims() != shape {
            return Err(ModelError::Shape {
                name: name.into(),
                expected: shape.to_vec(),
                found: t.dims().to_vec(),
            });
        }
        Ok(t)
    }

    /// The projection `{prefix}.{module}`: weight `[out, in]` and, if `bias`, bias `[out]`.
    pub fn linear(
        &self,
        prefix: &str,
        module: &'static str,
        in_dim: usize,
        out_dim: usize,
        bias: bool,
    ) -> Result<LoraLinear> {
        let path = format!("{prefix}.{module}");
        let weight = self.tensor(&format!("{path}.weight"), &[out_dim, in_dim])?;
        let bias = if bias {
            Some(self.tensor(&format!("{path}.bias"), &[out_dim])?)
        } else {
            None
        };
        Ok(LoraLinear::new(
            LinearSpec {
                path,
                module,
                in_dim,
                out_dim,
            },
            weight,
            bias,
        ))
    }
}
