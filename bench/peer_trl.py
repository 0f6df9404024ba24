"""The peer of a whole `hone train --method dpo|sft` run: TRL's DPOTrainer or SFTTrainer with
PEFT on the same model folder, data, LoRA and hyper-parameters, on the CPU. Prints one JSON
object: the process's wall time, the training's (trainer.train(); DPO's reference log-probs
are precomputed before it, in the trainer's constructor, and timed apart as
`reference_seconds`: Hone's stage time includes its reference pass), the peak resident memory
and the loss of each step.

    python bench/peer_trl.py --model DIR --data FILE.jsonl [--method dpo|sft] [--threads N] [--bf16]

FILE.jsonl holds {"prompt", "chosen", "rejected"} strings, as `hone import` reads them; they
become TRL's conversational format (a user turn, an assistant turn), so both sides render them
with the model's chat template. SFT trains on the chosen answers as prompt-completion pairs
(loss on the completion only, as Hone's SFT). TRL's configs default to bf16 autocast even on the CPU; this
script runs f32 (Hone's CPU dtype) unless --bf16. bench/trl.sh runs it beside Hone.
"""
import argparse
import contextlib
import json
import resource
import sys
import tempfile
import time

started = time.perf_counter()

import datasets  # noqa: E402
import torch  # noqa: E402
from peft import LoraConfig  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402
from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--method", choices=["dpo", "sft"], default="dpo")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--r", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=32)
    ap.add_argument("--dropout", type=float, default=0.05)
    ap.add_argument("--bf16", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    rows = [json.loads(line) for line in open(args.data) if line.strip()]
    pairs = [
        {
            "prompt": [{"role": "user", "content": r["prompt"]}],
            "chosen": [{"role": "assistant", "content": r["chosen"]}],
            "rejected": [{"role": "assistant", "content": r["rejected"]}],
        }
        for r in rows
    ]
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    lora = LoraConfig(
        task_type="CAUSAL_LM", r=args.r, lora_alpha=args.alpha,
        lora_dropout=args.dropout, target_modules="all-linear",
    )
    common = dict(
        per_device_train_batch_size=args.batch_size, num_train_epochs=args.epochs,
        learning_rate=args.lr, lr_scheduler_type="linear", warmup_steps=0, max_grad_norm=1.0,
        logging_steps=1, save_strategy="no", report_to=[], use_cpu=True, bf16=args.bf16,
        seed=0, dataloader_num_workers=0, disable_tqdm=True,
    )
    # DPOTrainer precomputes the reference log-probs in its constructor: timed here.
    reference = {"seconds": 0.0}
    precompute = DPOTrainer._precompute_ref_logps

    def timed_precompute(self, *a, **k):
        t = time.perf_counter()
        try:
            return precompute(self, *a, **k)
        finally:
            reference["seconds"] += time.perf_counter() - t

    DPOTrainer._precompute_ref_logps = timed_precompute
    with tempfile.TemporaryDirectory() as out:
        if args.method == "dpo":
            trainer = DPOTrainer(
                model=model, processing_class=tokenizer, peft_config=lora,
                args=DPOConfig(output_dir=out, beta=0.1, precompute_ref_log_probs=True, **common),
                train_dataset=datasets.Dataset.from_list(pairs),
            )
        else:
            rows_sft = [{"prompt": p["prompt"], "completion": p["chosen"]} for p in pairs]
            trainer = SFTTrainer(
                model=model, processing_class=tokenizer, peft_config=lora,
                args=SFTConfig(output_dir=out, completion_only_loss=True, **common),
                train_dataset=datasets.Dataset.from_list(rows_sft),
            )
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):  # the trainer prints its logs
            trainer.train()
        train_seconds = time.perf_counter() - t0
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h and "grad_norm" in h]
    if args.method == "dpo":
        tokens = sum(
            len(r["prompt_ids"]) * 2 + len(r["chosen_ids"]) + len(r["rejected_ids"])
            for r in trainer.train_dataset
        ) * args.epochs
    else:
        tokens = sum(len(r["input_ids"]) for r in trainer.train_dataset) * args.epochs
    trainer_name = "DPOTrainer" if args.method == "dpo" else "SFTTrainer"
    print(json.dumps({
        "engine": f"TRL {trainer_name} + PEFT (torch {torch.__version__}, {'bf16 autocast' if args.bf16 else 'f32'})",
        "threads": torch.get_num_threads(),
        "method": args.method,
        "pairs": len(pairs),
        "steps": len(losses),
        "train_seconds": train_seconds,
        "reference_seconds": reference["seconds"],
        "process_seconds": time.perf_counter() - started,
        "tokens": tokens,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "losses": losses,
    }))


if __name__ == "__main__":
    main()
