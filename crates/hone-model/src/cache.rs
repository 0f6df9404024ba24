//! The key/value cache of incremental decoding: each layer's keys and values so far.

use candle_core::Tensor;

use crate::Result;

#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
    /// Each row's padding positions at its start (empty when no row is padded).
    left_padding: Vec<usize>,
}

impl KvCache {
    pub fn new(num_layers: usize) -> Self {
        Self {
            layers: vec![None; num_layers],
            len: 0,
            left_padding: Vec::new(),
        }
    }

    /// A cache for rows of prompts of different lengths decoded as one batch, each padded on
    /// the left to the longest: row `r`'s first `left_padding[r]` positions are padding, which
    /// no later position attends to. A row's real tokens sit at positions shifted by its
    /// padding, which rotary attention does not see (it depends on positions' differences).
    pub fn left_padded(num_layers: usize, left_padding: Vec<usize>) -> Self {
        let left_padding = if left_padding.iter().all(|p| *p == 0) {
            Vec::new()
        } else {
            left_padding
        };
        Self {
            left_padding,
            ..Self::new(num_layers)
        }
    }

    /// Each row's padding positions, or empty when no row is padded.
    pub(crate) fn left_padding(&self) -> &[usize] {
        &self.left_padding
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
