"""The peer of `hone bench engine`: the same model, the same shapes, token ids and thread
count, in PyTorch + transformers + PEFT. Prints one JSON object with the same keys.

    python bench/peer_pytorch.py [--quick] [--threads N] [--model DIR] [--device cuda --dtype bfloat16]

Without --model, the ~125M-parameter random Llama of bench/run.sh (the shape `hone model
new-tiny --shape bench-125m` writes); with it, a model folder (bench/run.sh --real passes
SmolLM2-135M-Instruct imported from its GGUF; scripts/gpu-check.sh the random models of real
shapes it builds). On CUDA the frozen base is in --dtype and PEFT keeps the LoRA weights in
float32 (its autocast_adapter_dtype default), as Hone does.
"""
import argparse
import json
import resource
import statistics
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM


def config(quick: bool) -> LlamaConfig:
    hidden, layers, inter, vocab, heads = (256, 4, 688, 8000, 8) if quick else (768, 12, 2048, 32000, 12)
    return LlamaConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=4, head_dim=hidden // heads, rms_norm_eps=1e-5,
        rope_theta=10000.0, max_position_embeddings=1024, tie_word_embeddings=False,
        bos_token_id=1, eos_token_id=2,
    )


def synchronize():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(reps, f):
    if reps == 0:
        return float("nan")
    f()
    synchronize()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        f()
        synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", help="a Hugging Face model folder instead of the random model")
    parser.add_argument("--only", choices=["forward", "train", "dpo", "generate"], help="run one measure (its peak memory alone)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"], help="the frozen base's dtype")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    if args.model:
        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=dtype).to(device).eval()
        cfg = model.config
    else:
        cfg = config(args.quick)
        model = LlamaForCausalLM(cfg).to(device=device, dtype=dtype).eval()
    model.config._attn_implementation = "sdpa"
    batch, seq, reps, new_tokens = args.batch, args.seq, args.reps, args.new_tokens
    ids = torch.tensor([(i * 7919 % (cfg.vocab_size - 3) + 3) for i in range(batch * seq)]).reshape(batch, seq).to(device)

    def forward():
        with torch.no_grad():
            model(input_ids=ids)

    reps_for = lambda name: reps if args.only in (None, name) else 0
    forward_s = timed(reps_for("forward"), forward)

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

    train_s = timed(reps_for("train"), train_step)

    # DPO step as TRL computes it: chosen and rejected concatenated in one forward, reference
    # log-probs precomputed, loss −log σ(β·Δ) (TRL's "sigmoid"), β = 0.1.
    rejected_ids = ids.clone()
    rejected_ids[:, half:] = (ids[:, half:] + 1) % cfg.vocab_size
    both = torch.cat([ids, rejected_ids], 0)

    def completion_logp_sums(model_forward, input_ids):
        hidden = model_forward(input_ids=input_ids).last_hidden_state
        logits = peft_model.base_model.model.lm_head(hidden[:, half - 1 : seq - 1, :]).float()
        targets = input_ids[:, half:]
        return (logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)).sum(-1)

    with torch.no_grad(), peft_model.disable_adapter():
        reference = completion_logp_sums(peft_model.base_model.model.model, both)

    def dpo_step():
        ratios = completion_logp_sums(peft_model.base_model.model.model, both) - reference
        margin = ratios[:batch] - ratios[batch:]
        loss = -torch.nn.functional.logsigmoid(0.1 * margin).mean()
        loss.backward()
        peft_model.zero_grad(set_to_none=True)

    dpo_s = timed(reps_for("dpo"), dpo_step)
    peft_model.eval()
    base = peft_model.base_model.model
    prompt = ids[:1, :16]

    def gen():
        with torch.no_grad():
            with peft_model.disable_adapter():
                out = base.generate(prompt, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, use_cache=True)
        assert out.shape[1] == 16 + new_tokens

    gen_s = timed(reps_for("generate"), gen)
    params = sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)
    on_gpu = device.type == "cuda"
    print(json.dumps({
        "engine": f"pytorch {torch.__version__} + transformers + peft ({args.dtype})",
        "device": torch.cuda.get_device_name(device) if on_gpu else "cpu",
        "parameters": params,
        "threads": torch.get_num_threads(),
        "forward_tokens_per_s": batch * seq / forward_s,
        "lora_train_tokens_per_s": batch * seq / train_s,
        "generate_tokens_per_s": new_tokens / gen_s,
        "dpo_tokens_per_s": 2 * batch * seq / dpo_s,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        # What PyTorch's caching allocator handed out at most (Hone reports the device's memory
        # in use, which includes the CUDA context: compare with care).
        "peak_device_mib": torch.cuda.max_memory_allocated(device) / 2**20 if on_gpu else None,
        "seconds": {"forward": forward_s, "lora_train": train_s, "dpo": dpo_s, "generate": gen_s},
        "shape": {"batch": batch, "seq": seq, "new_tokens": new_tokens, "lora_rank": 8},
    }, indent=2))


if __name__ == "__main__":
    main()
