"""A random Llama of Llama-3.2-1B's body (1.07B parameters) with SmolLM2's tokenizer and
vocabulary (49,152), saved by transformers as a Hugging Face folder: the larger model of
`bench/trl.sh` (MODEL=DIR), issue 16's 1B comparison with TRL. Random weights from seed 0;
the tokenizer files come from the SmolLM2 folder (`hone model import-gguf` of its GGUF).

    python bench/make_llama_1b.py OUT_DIR SMOLLM2_DIR
"""
import os
import shutil
import sys

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def main():
    out, smollm2 = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=49152, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
        num_attention_heads=32, num_key_value_heads=8, head_dim=64, hidden_act="silu",
        max_position_embeddings=8192, rms_norm_eps=1e-5, rope_theta=500000.0,
        tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2,
    )
    model = LlamaForCausalLM(config).to(torch.float32)
    model.save_pretrained(out, safe_serialization=True)
    for name in ["tokenizer.json", "tokenizer_config.json", "generation_config.json"]:
        shutil.copy(os.path.join(smollm2, name), out)
    print(f"{sum(p.numel() for p in model.parameters()) / 1e9:.2f}B parameters in {out}")


if __name__ == "__main__":
    main()
