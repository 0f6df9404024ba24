//! Reading a checkpoint's tensors by name, with errors that say which tensor and what shape.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use candle_core::quantized::QTensor;
use candle_core::Tensor;
use candle_nn::VarBuilder;

use crate::base_weight::BaseWeight;
use crate::lora::{LinearSpec, LoraLinear};
use crate::{ModelError, Result};

pub(crate) struct Weights<'a> {
    vb: VarBuilder<'a>,
    /// Where the tensors come from, for error messages.
    source: PathBuf,
    /// Matrices kept quantized (a GGUF file's), by checkpoint name; they take precedence over `vb`.
    quantized: HashMap<String, Arc<QTensor>>,
}

impl<'a> Weights<'a> {
    pub fn new(vb: VarBuilder<'a>) -> Self {
        Self::with_source(vb, PathBuf::from("the checkpoint"))
    }

    pub fn with_source(vb: VarBuilder<'a>, source: PathBuf) -> Self {
        Self {
            vb,
            source,
            quantized: HashMap::new(),
        }
    }

    /// `vb` for the dense tensors, and quantized matrices by checkpoint name.
    pub fn with_quantized(
        vb: VarBuilder<'a>,
        source: PathBuf,
        quantized: HashMap<String, Arc<QTensor>>,
    ) -> Self {
        Self {
            vb,
            source,
            quantized,
        }
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

    /// The matrix `name`, quantized when it was given so, which must have `shape`.
    pub fn base_weight(&self, name: &str, shape: &[usize]) -> Result<BaseWeight> {
        let Some(q) = self.quantized.get(name) else {
            return Ok(BaseWeight::Dense(self.tensor(name, shape)?));
        };
        if q.shape().dims() != shape {
            return Err(ModelError::Shape {
                name: name.into(),
                expected: shape.to_vec(),
                found: q.shape().dims().to_vec(),
            });
        }
        Ok(BaseWeight::Quantized(q.clone()))
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
        let weight = self.base_weight(&format!("{path}.weight"), &[out_dim, in_dim])?;
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
