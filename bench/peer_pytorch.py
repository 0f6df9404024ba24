"""The peer of `cargo bench -p hone-model --bench engine`: the same ~125M-parameter Llama
(random weights), the same shapes and the same thread count, in PyTorch + transformers + PEFT.
Prints one JSON object with the same keys.

    python bench/peer_pytorch.py [--quick] [--threads N]
"""
import argparse
import json
import statistics
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM


def config(quick: bool) -> LlamaConfig:
    hidden, layers, inter, vocab, heads = (256, 4, 688, 8000, 8) if quick else (768, 12, 2048, 32000, 12)
    return LlamaConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=4, head_dim=hidden // heads, rms_norm_eps=1e-5,
        rope_theta=10000.0, max_position_embeddings=1024, tie_word_embeddings=False,
        bos_token_id=1, eos_token_id=2,
    )


def timed(reps, f):
    f()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = config(args.quick)
    model = LlamaForCausalLM(cfg).eval()
    model.config._attn_implementation = "sdpa"
    batch, seq, reps, new_tokens = 4, 128, 5, 64
    ids = torch.tensor([(i * 7919 % (cfg.vocab_size - 3) + 3) for i in range(batch * seq)]).reshape(batch, seq)

    def forward():
        with torch.no_grad():
            model(input_ids=ids)

    forward_s = timed(reps, forward)

    peft_model = get_peft_model(
        model,
        LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, task_type="CAUSAL_LM",
                   target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
    )
    peft_model.train()
    half = seq // 2

    def train_step():
        # As Hone does: the LM head only at the completion's positions, log-sum-exp + gather.
        hidden = peft_model.base_model.model.model(input_ids=ids).last_hidden_state
        logits = peft_model.base_model.model.lm_head(hidden[:, half - 1 : seq - 1, :]).float()
        targets = ids[:, half:]
        logp = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)
        loss = -logp.sum(-1).mean()
        loss.backward()
        peft_model.zero_grad(set_to_none=True)

    train_s = timed(reps, train_step)
    peft_model.eval()
    base = peft_model.base_model.model
    prompt = ids[:1, :16]

    def gen():
        with torch.no_grad():
            with peft_model.disable_adapter():
                out = base.generate(prompt, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, use_cache=True)
        assert out.shape[1] == 16 + new_tokens

    gen_s = timed(reps, gen)
    params = sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)
    print(json.dumps({
        "engine": f"pytorch {torch.__version__} + transformers + peft",
        "parameters": params,
        "threads": torch.get_num_threads(),
        "forward_tokens_per_s": batch * seq / forward_s,
        "lora_train_tokens_per_s": batch * seq / train_s,
        "generate_tokens_per_s": new_tokens / gen_s,
        "seconds": {"forward": forward_s, "lora_train": train_s, "generate": gen_s},
        "shape": {"batch": batch, "seq": seq, "new_tokens": new_tokens, "lora_rank": 8},
    }, indent=2))


if __name__ == "__main__":
    main()
