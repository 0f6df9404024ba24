//! Tensor names: llama.cpp's (`blk.N.attn_q.weight`) and Hugging Face's
//! (`model.layers.N.self_attn.q_proj.weight`), both ways, for the llama and qwen2 architectures.

/// The per-block tensors: llama.cpp's name → Hugging Face's module path inside `model.layers.N`.
const BLOCK: &[(&str, &str)] = &[
    ("attn_norm", "input_layernorm"),
    ("ffn_norm", "post_attention_layernorm"),
    ("attn_q", "self_attn.q_proj"),
    ("attn_k", "self_attn.k_proj"),
    ("attn_v", "self_attn.v_proj"),
    ("attn_output", "self_attn.o_proj"),
    ("ffn_gate", "mlp.gate_proj"),
    ("ffn_up", "mlp.up_proj"),
    ("ffn_down", "mlp.down_proj"),
];

/// The tensors outside the blocks.
const GLOBAL: &[(&str, &str)] = &[
    ("token_embd", "model.embed_tokens"),
    ("output_norm", "model.norm"),
    ("output", "lm_head"),
];

/// A tensor name understood: which layer (if any), which module, and the suffix (`weight`/`bias`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorName {
    pub layer: Option<usize>,
    /// llama.cpp's module name (`attn_q`, `token_embd`, …).
    pub gguf_module: &'static str,
    /// Hugging Face's module path (`self_attn.q_proj`, `model.embed_tokens`, …).
    pub hf_module: &'static str,
    pub suffix: &'static str,
}

fn suffix(s: &str) -> Option<&'static str> {
    match s {
        "weight" => Some("weight"),
        "bias" => Some("bias"),
        _ => None,
    }
}

impl TensorName {
    /// Parses a llama.cpp tensor name; `None` for names this engine has no place for.
    pub fn from_gguf(name: &str) -> Option<Self> {
        let (stem, suffix) = name
            .rsplit_once('.')
            .and_then(|(stem, s)| Some((stem, suffix(s)?)))?;
        if let Some(rest) = stem.strip_prefix("blk.") {
            let (layer, module) = rest.split_once('.')?;
            let layer: usize = layer.parse().ok()?;
            let &(gguf_module, hf_module) = BLOCK.iter().find(|(g, _)| *g == module)?;
            return Some(Self {
                layer: Some(layer),
                gguf_module,
                hf_module,
                suffix,
            });
        }
        let &(gguf_module, hf_module) = GLOBAL.iter().find(|(g, _)| *g == stem)?;
        Some(Self {
            layer: None,
            gguf_module,
            hf_module,
            suffix,
        })
    }

    /// The layer and the Hugging Face module of a projection path such as
    /// `model.layers.3.self_attn.q_proj` (an adapter's target), as llama.cpp names it.
    pub fn from_hf_module(path: &str) -> Option<Self> {
        let rest = path.strip_prefix("model.layers.")?;
        let (layer, module) = rest.split_once('.')?;
        let layer: usize = layer.parse().ok()?;
        let &(gguf_module, hf_module) = BLOCK.iter().find(|(_, h)| *h == module)?;
        Some(Self {
            layer: Some(layer),
            gguf_module,
            hf_module,
            suffix: "weight",
        })
    }

    pub fn gguf(&self) -> String {
        match self.layer {
            Some(l) => format!("blk.{l}.{}.{}", self.gguf_module, self.suffix),
            None => format!("{}.{}", self.gguf_module, self.suffix),
        }
    }

    pub fn hf(&self) -> String {
        match self.layer {
            Some(l) => format!("model.layers.{l}.{}.{}", self.hf_module, self.suffix),
            None => format!("{}.{}", self.hf_module, self.suffix),
        }
    }

    /// The Hugging Face tensor name as llama.cpp names it (`model.norm.weight` → `output_norm.weight`).
    pub fn from_hf(name: &str) -> Option<Self> {
        let (stem, suffix) = name
            .rsplit_once('.')
            .and_then(|(stem, s)| Some((stem, suffix(s)?)))?;
        if let Some(mut parsed) = Self::from_hf_module(stem) {
            parsed.suffix = suffix;
            return Some(parsed);
        }
        let &(gguf_module, hf_module) = GLOBAL.iter().find(|(_, h)| *h == stem)?;
        Some(Self {
            layer: None,
            gguf_module,
            hf_module,
            suffix,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_both_ways() {
        for (gguf, hf) in [
            (
                "blk.12.attn_q.weight",
                "model.layers.12.self_attn.q_proj.weight",
            ),
            ("blk.0.attn_k.bias", "model.layers.0.self_attn.k_proj.bias"),
            (
                "blk.3.ffn_norm.weight",
                "model.layers.3.post_attention_layernorm.weight",
            ),
            ("token_embd.weight", "model.embed_tokens.weight"),
            ("output.weight", "lm_head.weight"),
        ] {
            let parsed =
                TensorName::from_gguf(gguf).unwrap_or_else(|| panic!("{gguf} should parse"));
            assert_eq!(parsed.hf(), hf);
            assert_eq!(TensorName::from_hf(hf).expect("parses back").gguf(), gguf);
        }
        assert_eq!(
            TensorName::from_gguf("rope_freqs.weight"),
            None,
            "not a tensor of the decoder"
        );
        assert_eq!(
            TensorName::from_gguf("blk.x.attn_q.weight"),
            None,
            "a layer must be a number"
        );
        assert_eq!(
            TensorName::from_hf_module("model.layers.4.mlp.down_proj")
                .map(|n| n.gguf())
                .as_deref(),
            Some("blk.4.ffn_down.weight")
        );
    }
}
