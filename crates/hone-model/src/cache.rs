//! The key/value cache of incremental decoding: each layer's keys and values so far.

use candle_core::Tensor;

use crate::Result;

#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    pub fn new(num_layers: usize) -> Self {
        Self {
            layers: vec![None; num_layers],
            len: 0,
        }
    }

    /// Positions already cached: the offset of the next input.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `k`, `v` `[batch, kv_heads, new, head_dim]` to layer `layer` and returns the
    /// whole keys and values.
    pub(crate) fn append(
        &mut self,
        layer: usize,
        k: &Tensor,
        v: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let (k, v) = match &self.layers[layer] {
            None => (k.contiguous()?, v.contiguous()?),
            Some((pk, pv)) => (Tensor::cat(&[pk, k], 2)?, Tensor::cat(&[pv, v], 2)?),
        };
        self.layers[layer] = Some((k.clone(), v.clone()));
        Ok((k, v))
    }

    pub(crate) fn advance(&mut self, new: usize) {
        self.len += new;
    }
}
