//! The key/value cache of incremental decoding: each layer's keys and values so far.

use candle_core::Tensor;

use crate::Result;

#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
    /// Each row's padding positions at its start (empty when no row is padded).
    left_padding: Vec<usize>,
    /// The last step's attention mask over the padding, with the (new positions, offset,
    /// keys, window) it was built for: every layer of a step uses the same one.
    padding_mask: Option<(MaskKey, Tensor)>,
}

/// (new positions, offset, keys, sliding window) of a step's attention.
pub(crate) type MaskKey = (usize, usize, usize, Option<usize>);

impl KvCache {
    pub fn new(num_layers: usize) -> Self {
        Self {
            layers: vec![None; num_layers],
            len: 0,
            left_padding: Vec::new(),
            padding_mask: None,
        }
    }

    /// A cache for rows of prompts of different lengths decoded as one batch, each padded on
    /// the left to the longest: row `r`'s first `left_padding[r]` positions are padding, which
    /// no real position attends to. A row's real tokens sit at positions shifted by its
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

    /// The attention mask of a step over the rows' padding, built by `build` from each row's
    /// padding the first time a step's layers ask for it; `None` when no row is padded.
    pub(crate) fn padding_mask(
        &mut self,
        key: MaskKey,
        build: impl FnOnce(&[usize]) -> Result<Tensor>,
    ) -> Result<Option<Tensor>> {
        if self.left_padding.is_empty() {
            return Ok(None);
        }
        if let Some((built_for, mask)) = &self.padding_mask {
            if *built_for == key {
                return Ok(Some(mask.clone()));
            }
        }
        let mask = build(&self.left_padding)?;
        self.padding_mask = Some((key, mask.clone()));
        Ok(Some(mask))
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
