#!/usr/bin/env python3
"""PEFT's log-probs for the tokens `hone score --json` scored, with the same base and adapter:
the reference crates/hone-cli/tests/cli/trl_job.rs compares an imported version with.

    python peft_logprobs.py BASE_FOLDER ADAPTER_FOLDER < hone-score.json

Reads Hone's JSON (prompt_token_ids, token_ids) on stdin and prints {"logprobs": [...]}, the
log-probability of each completion token given everything before it, in f32 on the CPU.
"""

import json
import os
import sys

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM


def main():
    base, adapter = sys.argv[1], sys.argv[2]
    scored = json.load(sys.stdin)
    prompt, completion = scored["prompt_token_ids"], scored["token_ids"]
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    model = PeftModel.from_pretrained(model, adapter).eval()
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    start = len(prompt)
    out = [logprobs[start - 1 + i, t].item() for i, t in enumerate(completion)]
    print(json.dumps({"logprobs": out}))


if __name__ == "__main__":
    main()
