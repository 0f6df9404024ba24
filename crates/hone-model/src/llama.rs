//! The Llama-family decoder: Llama 2/3 (Touvron et al. 2023), Mistral 7B (Jiang et al. 2023)
//! and Qwen2 (Yang et al. 2024) are the same pre-norm transformer with RMSNorm, SwiGLU,
//! RoPE and grouped-query attention, differing only in switches read from `config.json`
//! (q/k/v bias, tied embeddings, RoPE scaling, sliding window).
//!
//! Reference: transformers' `modeling_llama.py` / `modeling_qwen2.py`; module paths mirror
//! PyTorch's (`model.layers.{i}.self_attn.q_proj`) so checkpoints load as they are.
//! Every projection is a [`LoraLinear`], and the forward pass takes the adapter to apply, so
//! the same weights serve as policy (adapter on) and reference (adapter off).

use std::sync::Arc;

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::VarBuilder;
use rand::Rng;

use crate::base_weight::BaseWeight;
use crate::cache::KvCache;
use crate::config::Config;
use crate::lora::{LinearSpec, LoraContext, LoraLinear};
use crate::norm::{NormedInput, RmsNorm};
use crate::rope::RotaryEmbedding;
use crate::weights::Weights;
use crate::Result;

#[derive(Debug, Clone)]
struct Attention {
    q_proj: LoraLinear,
    k_proj: LoraLinear,
    v_proj: LoraLinear,
    o_proj: LoraLinear,
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
    sliding_window: Option<usize>,
    rope: Arc<RotaryEmbedding>,
}

impl Attention {
    fn new(cfg: &Config, w: &Weights, prefix: &str, rope: Arc<RotaryEmbedding>) -> Result<Self> {
        let h = cfg.hidden_size;
        let q = cfg.num_attention_heads * cfg.head_dim;
        let kv = cfg.num_key_value_heads * cfg.head_dim;
        Ok(Self {
            q_proj: w.linear(prefix, "q_proj", h, q, cfg.qkv_bias)?,
            k_proj: w.linear(prefix, "k_proj", h, kv, cfg.qkv_bias)?,
            v_proj: w.linear(prefix, "v_proj", h, kv, cfg.qkv_bias)?,
            o_proj: w.linear(prefix, "o_proj", q, h, cfg.o_bias)?,
            num_heads: cfg.num_attention_heads,
            num_kv_heads: cfg.num_key_value_heads,
            head_dim: cfg.head_dim,
            sliding_window: cfg.sliding_window,
            rope,
        })
    }

    /// `x + attention(norm(x))` for `input` = `(x, norm)`: the output projection adds itself
    /// to the residual stream.
    fn forward(
        &self,
        input: &NormedInput,
        offset: usize,
        cache: Option<&mut KvCache>,
        layer: usize,
        lora: &LoraContext,
    ) -> Result<Tensor> {
        let residual = input.input();
        let (b, t, _) = residual.dims3()?;
        let q = self.q_proj.forward_normed(input, lora)?;
        let k = self.k_proj.forward_normed(input, lora)?;
        let v = self.v_proj.forward_normed(input, lora)?;
        if cache.is_none() && offset == 0 && crate::fused::supports(&q) {
            // The whole sequence at once (training, scoring): one op from the projections.
            let (cos, sin) = self.rope.tables(0, t)?;
            let out = crate::fused::rotary_attention(
                &q,
                &k,
                &v,
                self.num_heads,
                self.num_kv_heads,
                &cos,
                &sin,
                self.sliding_window,
            )?;
            return self.o_proj.forward_added_to(&out, residual, lora);
        }
        let heads = |y: Tensor, n: usize| -> Result<Tensor> {
            Ok(y.reshape((b, t, n, self.head_dim))?.transpose(1, 2)?)
        };
        let q = self.rope.apply(&heads(q, self.num_heads)?, offset)?;
        let k = self.rope.apply(&heads(k, self.num_kv_heads)?, offset)?;
        let v = heads(v, self.num_kv_heads)?;
        let window = self.sliding_window;
        let (k, v, padding_mask) = match cache {
            Some(cache) => {
                let (k, v) = cache.append(layer, &k, &v)?;
                let s = k.dim(2)?;
                // Built once a step and shared by the layers (on a GPU each build is a copy
                // to the device).
                let mask = cache.padding_mask((t, offset, s, window), |padding| {
                    if padding.len() != b {
                        return Err(crate::ModelError::invalid(
                            "cache",
                            format!(
                                "holds the left padding of {} rows for a batch of {b}",
                                padding.len()
                            ),
                        ));
                    }
                    padded_causal_mask(t, offset, s, window, padding, residual.device())
                })?;
                (k, v, mask)
            }
            None => (k, v.contiguous()?, None),
        };
        let s = k.dim(2)?;

        // Grouped-query attention without copying K/V: the query heads that share a K/V head
        // are stacked along the sequence axis.
        let group = self.num_heads / self.num_kv_heads;
        let q = q
            .contiguous()?
            .reshape((b, self.num_kv_heads, group * t, self.head_dim))?;
        let scores = (q.matmul(&k.t()?)? / (self.head_dim as f64).sqrt())?;
        let scores = scores.reshape((b, self.num_kv_heads, group, t, s))?;
        let mask = match padding_mask {
            Some(mask) => Some(mask),
            None => causal_mask(t, offset, s, window, residual.device())?,
        };
        let scores = match mask {
            Some(mask) => scores.broadcast_add(&mask.to_dtype(scores.dtype())?)?,
            None => scores,
        };
        let probs = softmax_f32(&scores)?.reshape((b, self.num_kv_heads, group * t, s))?;
        let out = probs
            .matmul(&v)?
            .reshape((b, self.num_heads, t, self.head_dim))?;
        let out = out
            .transpose(1, 2)?
            .reshape((b, t, self.num_heads * self.head_dim))?;
        self.o_proj.forward_added_to(&out, residual, lora)
    }
}

/// `[t, s]` with −∞ where query `offset + i` must not see key `j` (the future, or beyond
/// the sliding window); `None` when nothing is masked (one new token, no window).
fn causal_mask(
    t: usize,
    offset: usize,
    s: usize,
    window: Option<usize>,
    device: &Device,
) -> Result<Option<Tensor>> {
    let outside_window = |i: usize, j: usize| window.is_some_and(|w| j + w <= i);
    if t == 1 && (0..s).all(|j| !outside_window(offset, j)) {
        return Ok(None);
    }
    let mask: Vec<f32> = (0..t)
        .flat_map(|i| (0..s).map(move |j| (i, j)))
        .map(|(i, j)| {
            if j > offset + i || outside_window(offset + i, j) {
                f32::NEG_INFINITY
            } else {
                0.0
            }
        })
        .collect();
    Ok(Some(Tensor::from_vec(mask, (t, s), device)?))
}

/// `[b, 1, 1, t, s]`: [`causal_mask`] for each row, and −∞ where a real position would see its
/// row's left padding (`left_padding[r]` positions). A padding position sees the padding
/// before it, so its own softmax has something to weigh and its values stay finite (a masked
/// key's weight is 0, and 0 × NaN would not be).
fn padded_causal_mask(
    t: usize,
    offset: usize,
    s: usize,
    window: Option<usize>,
    left_padding: &[usize],
    device: &Device,
) -> Result<Tensor> {
    let outside_window = |i: usize, j: usize| window.is_some_and(|w| j + w <= i);
    let mask: Vec<f32> = left_padding
        .iter()
        .flat_map(|&pad| (0..t).flat_map(move |i| (0..s).map(move |j| (pad, offset + i, j))))
        .map(|(pad, query, key)| {
            let padding_seen = key < pad && query >= pad;
            if key > query || outside_window(query, key) || padding_seen {
                f32::NEG_INFINITY
            } else {
                0.0
            }
        })
        .collect();
    Ok(Tensor::from_vec(
        mask,
        (left_padding.len(), 1, 1, t, s),
        device,
    )?)
}

/// Softmax over the last axis in f32. candle's fused kernel has no backward, so it is used
/// only when no gradient flows; with gradients, Hone's fused op on the CPU and candle's
/// composition elsewhere.
fn softmax_f32(x: &Tensor) -> Result<Tensor> {
    let dtype = x.dtype();
    let x = x.to_dtype(DType::F32)?;
    let p = if !x.track_op() {
        candle_nn::ops::softmax_last_dim(&x.contiguous()?)?
    } else if crate::fused::supports(&x) {
        crate::fused::softmax_last_dim(&x)?
    } else {
        candle_nn::ops::softmax(&x, D::Minus1)?
    };
    Ok(p.to_dtype(dtype)?)
}

#[derive(Debug, Clone)]
struct Mlp {
    gate_proj: LoraLinear,
    up_proj: LoraLinear,
    down_proj: LoraLinear,
}

impl Mlp {
    fn new(cfg: &Config, w: &Weights, prefix: &str) -> Result<Self> {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        Ok(Self {
            gate_proj: w.linear(prefix, "gate_proj", h, i, cfg.mlp_bias)?,
            up_proj: w.linear(prefix, "up_proj", h, i, cfg.mlp_bias)?,
            down_proj: w.linear(prefix, "down_proj", i, h, cfg.mlp_bias)?,
        })
    }

    /// `mlp(norm(x))` for `input` = `(x, norm)`.
    fn forward(&self, input: &NormedInput, lora: &LoraContext) -> Result<Tensor> {
        let gate = self.gate_proj.forward_normed(input, lora)?;
        let up = self.up_proj.forward_normed(input, lora)?;
        self.down_proj.forward_swiglu(&gate, &up, lora)
    }
}

#[derive(Debug, Clone)]
struct DecoderLayer {
    self_attn: Attention,
    mlp: Mlp,
    input_layernorm: RmsNorm,
    post_attention_layernorm: RmsNorm,
}

impl DecoderLayer {
    fn linears(&self) -> impl Iterator<Item = &LoraLinear> {
        let (a, m) = (&self.self_attn, &self.mlp);
        [
            &a.q_proj,
            &a.k_proj,
            &a.v_proj,
            &a.o_proj,
            &m.gate_proj,
            &m.up_proj,
            &m.down_proj,
        ]
        .into_iter()
    }

    fn new(cfg: &Config, w: &Weights, i: usize, rope: Arc<RotaryEmbedding>) -> Result<Self> {
        let prefix = format!("model.layers.{i}");
        Ok(Self {
            self_attn: Attention::new(cfg, w, &format!("{prefix}.self_attn"), rope)?,
            mlp: Mlp::new(cfg, w, &format!("{prefix}.mlp"))?,
            input_layernorm: RmsNorm::new(
                cfg.hidden_size,
                cfg.rms_norm_eps,
                w.vb().pp(format!("{prefix}.input_layernorm")),
            )?,
            post_attention_layernorm: RmsNorm::new(
                cfg.hidden_size,
                cfg.rms_norm_eps,
                w.vb().pp(format!("{prefix}.post_attention_layernorm")),
            )?,
        })
    }

    fn forward(
        &self,
        x: &Tensor,
        offset: usize,
        cache: Option<&mut KvCache>,
        i: usize,
        lora: &LoraContext,
    ) -> Result<Tensor> {
        let attention_input = NormedInput::new(x, &self.input_layernorm);
        let h = self
            .self_attn
            .forward(&attention_input, offset, cache, i, lora)?;
        let mlp_input = NormedInput::new(&h, &self.post_attention_layernorm);
        Ok((&h + self.mlp.forward(&mlp_input, lora)?)?)
    }
}

/// A causal language model: embeddings, decoder layers, final norm, and the LM head (the
/// embedding matrix itself when tied).
#[derive(Debug, Clone)]
pub struct Model {
    config: Config,
    embed_tokens: BaseWeight,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    lm_head: Option<BaseWeight>,
    device: Device,
    dtype: DType,
}

impl Model {
    /// Builds the model from `vb` (a checkpoint, or tensors made in memory), with the
    /// checkpoint's module paths.
    pub fn new(config: &Config, vb: VarBuilder) -> Result<Self> {
        Self::from_weights(config, Weights::new(vb))
    }

    pub(crate) fn from_weights(config: &Config, w: Weights) -> Result<Self> {
        let device = w.vb().device().clone();
        let dtype = w.vb().dtype();
        let rope = Arc::new(RotaryEmbedding::new(config, dtype, &device)?);
        let embed_tokens = w.base_weight(
            "model.embed_tokens.weight",
            &[config.vocab_size, config.hidden_size],
        )?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| DecoderLayer::new(config, &w, i, rope.clone()))
            .collect::<Result<Vec<_>>>()?;
        let norm = RmsNorm::new(
            config.hidden_size,
            config.rms_norm_eps,
            w.vb().pp("model.norm"),
        )?;
        let lm_head = if config.tie_word_embeddings {
            None
        } else {
            Some(w.base_weight("lm_head.weight", &[config.vocab_size, config.hidden_size])?)
        };
        Ok(Self {
            config: config.clone(),
            embed_tokens,
            layers,
            norm,
            lm_head,
            device,
            dtype,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Every projection an adapter can target, in layer order.
    pub fn linear_specs(&self) -> Vec<LinearSpec> {
        self.linears().map(|l| l.spec().clone()).collect()
    }

    fn linears(&self) -> impl Iterator<Item = &LoraLinear> {
        self.layers.iter().flat_map(DecoderLayer::linears)
    }

    fn linears_mut(&mut self) -> impl Iterator<Item = &mut LoraLinear> {
        self.layers.iter_mut().flat_map(|l| {
            let (a, m) = (&mut l.self_attn, &mut l.mlp);
            [
                &mut a.q_proj,
                &mut a.k_proj,
                &mut a.v_proj,
                &mut a.o_proj,
                &mut m.gate_proj,
                &mut m.up_proj,
                &mut m.down_proj,
            ]
        })
    }

    /// Final hidden states `[batch, seq, hidden]` for `input_ids` `[batch, seq]` starting at
    /// position `offset` (the cache's length when decoding). Right padding needs no mask:
    /// real tokens come first and attention is causal.
    pub fn hidden_states(
        &self,
        input_ids: &Tensor,
        offset: usize,
        mut cache: Option<&mut KvCache>,
        lora: &LoraContext,
    ) -> Result<Tensor> {
        let (b, t) = input_ids.dims2()?;
        if offset + t > self.config.max_position_embeddings {
            return Err(crate::ModelError::invalid(
                "input",
                format!(
                    "{} positions exceed the model's max_position_embeddings ({})",
                    offset + t,
                    self.config.max_position_embeddings
                ),
            ));
        }
        let mut x = self.embed_tokens.rows(input_ids, self.dtype)?.reshape((
            b,
            t,
            self.config.hidden_size,
        ))?;
        let checkpointed = match lora.adapter {
            Some(adapter) if lora.grad && lora.checkpoint_layers && cache.is_none() => {
                Some(adapter)
            }
            _ => None,
        };
        for (i, layer) in self.layers.iter().enumerate() {
            // One dropout seed per layer, so a checkpointed layer's recomputation draws the
            // masks of its first pass (and checkpointing changes no result).
            let seed = lora
                .dropout_rng
                .map(|rng| rng.lock().expect("dropout rng").random::<u64>());
            x = match checkpointed {
                Some(adapter) => {
                    let paths: Vec<&str> =
                        layer.linears().map(|l| l.spec().path.as_str()).collect();
                    let layer = layer.clone();
                    crate::checkpoint::checkpointed_layer(
                        &x,
                        adapter,
                        &paths,
                        seed,
                        Arc::new(move |x: &Tensor, lora: &LoraContext| {
                            layer.forward(x, offset, None, i, lora)
                        }),
                    )?
                }
                None => {
                    let rng = seed.map(crate::checkpoint::layer_rng);
                    let layer_lora = LoraContext {
                        adapter: lora.adapter,
                        dropout_rng: rng.as_ref(),
                        grad: lora.grad,
                        checkpoint_layers: false,
                    };
                    layer.forward(&x, offset, cache.as_deref_mut(), i, &layer_lora)?
                }
            };
        }
        if let Some(cache) = cache {
            cache.advance(t);
        }
        Ok(self.norm.forward(&x)?)
    }

    /// Logits `[.., vocab]` of hidden states `[.., hidden]`: apply the LM head only where
    /// logits are needed (the last position, or the completion's positions).
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        let head = self.lm_head.as_ref().unwrap_or(&self.embed_tokens);
        head.matmul_t(hidden)
    }

    /// The LM head's weight `[vocab, hidden]` when it is a dense f32 tensor no gradient flows to
    /// (not a full-parameter run's variable): what the fused head-and-log-prob op takes.
    pub fn frozen_dense_head(&self) -> Option<&Tensor> {
        let head = self.lm_head.as_ref().unwrap_or(&self.embed_tokens);
        head.as_dense()
            .filter(|w| w.dtype() == DType::F32 && !w.track_op())
    }

    /// Logits at every position, `[batch, seq, vocab]` (tests and small inputs).
    pub fn forward(&self, input_ids: &Tensor, lora: &LoraContext) -> Result<Tensor> {
        self.logits(&self.hidden_states(input_ids, 0, None, lora)?)
    }

    /// The base weights with `adapter` folded in, under the checkpoint's names (export of
    /// merged full weights).
    pub fn merged_tensors(&self, adapter: &crate::lora::Adapter) -> Result<Vec<(String, Tensor)>> {
        self.tensors_with(|linear| linear.merged_weight(adapter, self.dtype))
    }

    /// The weights under the checkpoint's names (what `model.safetensors` holds), dense
    /// (dequantized when the model runs from quantized weights).
    pub fn named_weights(&self) -> Result<Vec<(String, Tensor)>> {
        self.tensors_with(|linear| linear.dense_weight(self.dtype))
    }

    /// The bytes the weights hold (quantized matrices at their stored size).
    pub fn weight_bytes(&self) -> usize {
        let dense = |t: &Tensor| t.elem_count() * t.dtype().size_in_bytes();
        let mut bytes = self.embed_tokens.bytes()
            + self.lm_head.as_ref().map_or(0, BaseWeight::bytes)
            + dense(self.norm.weight());
        for layer in &self.layers {
            bytes += dense(layer.input_layernorm.weight())
                + dense(layer.post_attention_layernorm.weight());
        }
        for linear in self.linears() {
            bytes += linear.weight().bytes() + linear.bias().map_or(0, dense);
        }
        bytes
    }

    /// Whether the projections run from quantized weights (a GGUF file's).
    pub fn is_quantized(&self) -> bool {
        self.embed_tokens.is_quantized() || self.linears().any(|l| l.weight().is_quantized())
    }

    /// A copy of this model whose every weight is a trainable variable (full-parameter
    /// fine-tuning of small models), with the variables under the checkpoint's names. The
    /// projections then take candle's plain matmul, which computes the weights' gradients.
    pub fn with_trainable_weights(&self) -> Result<(Model, Vec<(String, candle_core::Var)>)> {
        let vars = self
            .named_weights()?
            .into_iter()
            .map(|(name, t)| Ok((name, candle_core::Var::from_tensor(&t)?)))
            .collect::<Result<Vec<_>>>()?;
        let tensors = vars
            .iter()
            .map(|(name, v)| (name.clone(), v.as_tensor().clone()))
            .collect();
        let vb = VarBuilder::from_tensors(tensors, self.dtype, &self.device);
        Ok((Self::new(&self.config, vb)?, vars))
    }

    fn tensors_with(
        &self,
        linear_weight: impl Fn(&LoraLinear) -> Result<Tensor>,
    ) -> Result<Vec<(String, Tensor)>> {
        let mut out = vec![(
            "model.embed_tokens.weight".to_string(),
            self.embed_tokens.dense(self.dtype)?,
        )];
        for (i, layer) in self.layers.iter().enumerate() {
            let prefix = format!("model.layers.{i}");
            out.push((
                format!("{prefix}.input_layernorm.weight"),
                layer.input_layernorm.weight().clone(),
            ));
            out.push((
                format!("{prefix}.post_attention_layernorm.weight"),
                layer.post_attention_layernorm.weight().clone(),
            ));
        }
        for linear in self.linears() {
            out.push((
                format!("{}.weight", linear.spec().path),
                linear_weight(linear)?,
            ));
            if let Some(bias) = linear.bias() {
                out.push((format!("{}.bias", linear.spec().path), bias.clone()));
            }
        }
        out.push(("model.norm.weight".into(), self.norm.weight().clone()));
        if let Some(head) = &self.lm_head {
            out.push(("lm_head.weight".into(), head.dense(self.dtype)?));
        }
        Ok(out)
    }

    /// Folds `adapter` into the base weights (PEFT's merge-and-unload).
    pub fn merge_adapter(&mut self, adapter: &crate::lora::Adapter) -> Result<()> {
        let dtype = self.dtype;
        for linear in self.linears_mut() {
            linear.merge(adapter, dtype)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_padded_row_hides_its_padding_from_its_real_positions_only() {
        // Row 0 has 2 padding positions, row 1 none; 4 positions; a window of 3.
        let mask = padded_causal_mask(4, 0, 4, Some(3), &[2, 0], &Device::Cpu).unwrap();
        let rows = mask.squeeze(1).unwrap().squeeze(1).unwrap();
        let seen = |m: Vec<Vec<f32>>| -> Vec<Vec<u8>> {
            m.iter()
                .map(|r| r.iter().map(|v| u8::from(v.is_finite())).collect())
                .collect()
        };
        let padded = seen(rows.get(0).unwrap().to_vec2().unwrap());
        let plain = seen(rows.get(1).unwrap().to_vec2().unwrap());
        // Padding positions see the padding before them; real ones only real keys, causally,
        // within the window.
        assert_eq!(
            padded,
            vec![
                vec![1, 0, 0, 0],
                vec![1, 1, 0, 0],
                vec![0, 0, 1, 0],
                vec![0, 0, 1, 1]
            ]
        );
        assert_eq!(
            plain,
            vec![
                vec![1, 0, 0, 0],
                vec![1, 1, 0, 0],
                vec![1, 1, 1, 0],
                vec![0, 1, 1, 1]
            ]
        );
        // Decoding one more token at position 4 of 5 keys: the window leaves 3 keys.
        let step = padded_causal_mask(1, 4, 5, Some(3), &[2, 0], &Device::Cpu).unwrap();
        let step = step.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let step: Vec<u8> = step.iter().map(|v| u8::from(v.is_finite())).collect();
        assert_eq!(step, vec![0, 0, 1, 1, 1, 0, 0, 1, 1, 1]);
    }
}
