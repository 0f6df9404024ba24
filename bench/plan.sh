#!/usr/bin/env bash
# The plan's time and memory estimates against measured `hone train` runs: SmolLM2-135M-Instruct
# (its GGUF from PyPI, imported) and the starter model, each in a fresh workspace
# (so the estimate is the one from the model's shape and the CPU's measured rate, not a previous run's throughput), every method (SFT,
# DPO, KTO, a reward model, RLHF: a reward model then PPO against it), the SmolLM2 runs also on
# its GGUF file's quantized base (--base-weights quantized) and with gradient checkpointing
# (--gradient-checkpointing on); with LLAMA1B=DIR, a 1B Llama's DPO and SFT too. Prints the
# table of BENCHMARKS.md "Plan estimates", with the CPU rates each plan's probe measured.
#   [LLAMA1B=/var/tmp/hone-cache/llama1b-smollm2tok] bash bench/plan.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hone-target}"
cache="${HONE_CACHE:-/var/tmp/hone-cache}"
cargo build -q --release --locked -p hone-cli
hone="$CARGO_TARGET_DIR/release/hone"
gguf="$(bash scripts/fetch-smollm2.sh)"
smol="$cache/smollm2-hf"
[ -f "$smol/config.json" ] || "$hone" model import-gguf "$gguf" --out "$smol" >&2
starter="$cache/starter"
[ -f "$starter/config.json" ] || "$hone" starter build --out "$starter" >&2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
pairs=bench/data/support-16.jsonl
# The same answers as SFT examples (prompt, completion = the chosen answer).
python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(json.dumps({"prompt": r["prompt"], "completion": r["chosen"]}))' "$pairs" > "$out/sft.jsonl"
# Each pair as two KTO verdicts (TRL's unpaired format): the chosen answer good, the rejected bad.
python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(json.dumps({"prompt": r["prompt"], "completion": r["chosen"], "label": True}))
    print(json.dumps({"prompt": r["prompt"], "completion": r["rejected"], "label": False}))' "$pairs" > "$out/kto.jsonl"

run() { # NAME MODEL DATA METHOD EPOCHS BATCH R ALPHA [more `hone train` flags]
    if [ -n "${ROWS:-}" ] && ! grep -qE "$ROWS" <<< "$1"; then return 0; fi
    local ws="$out/ws-$RANDOM"
    HONE_WORKSPACE="$ws" "$hone" project create p >/dev/null
    HONE_WORKSPACE="$ws" "$hone" import "$3" --project p >/dev/null
    HONE_WORKSPACE="$ws" "$hone" --device cpu train --project p --model "$2" --method "$4" \
        --epochs "$5" --batch-size "$6" --lora-r "$7" --lora-alpha "$8" "${@:9}" --no-eval --json \
        > "$ws.json"
    python3 - "$1" "$ws.json" "$ws/devices.json" <<'PY'
import json, sys
name, path, devices = sys.argv[1:]
o = json.load(open(path))
# The CPU's rates the plan's probe measured (step_probe.rs): a step's wide and thin products,
# FLOP/s, and a streamed value's cost, seconds.
rates = [d["cpu"] for d in json.load(open(devices)).values() if "cpu" in d][0]
probe = (f'{rates["product_flops"] / 1e9:.0f} / {rates["thin_product_flops"] / 1e9:.0f}'
         f' | {rates["seconds_per_value"] * 1e9:.1f}')
# rlhf trains two versions in one process: the reward model, then PPO against it.
parts = [(f"{name}: reward model", o["reward_model"]), (f"{name}: PPO", o["ppo"])] if "ppo" in o else [(name, o)]
for label, part in parts:
    stage = part["plan"]["stages"][0]
    s = part["version"]["metrics"][f"{stage['method']}/train_seconds"]
    e = stage["estimated_seconds"]
    em, mm = part["plan"]["estimated_memory_mib"], part["peak_memory_mib"]
    print(f"| {label} | {stage['tokens']} | {probe} | {e:.1f} | {s:.1f} | {e/s:.2f} | {em:.0f} | {mm:.0f} | {em/mm:.2f} |")
PY
}
echo "| run | tokens | products GFLOP/s, wide / thin | ns a value | estimated s | measured s | ratio | estimated MiB | measured MiB | ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|"
run "SmolLM2 DPO, 16 pairs, batch 4, 3 epochs, r 16" "$smol" "$pairs" dpo 3 4 16 32
run "SmolLM2 DPO, 7 pairs, batch 4, 3 epochs, r 8" "$smol" examples/support-preferences.jsonl dpo 3 4 8 16
run "SmolLM2 SFT, 16 examples, batch 4, 3 epochs, r 16" "$smol" "$out/sft.jsonl" sft 3 4 16 32
run "SmolLM2 KTO, 32 verdicts, batch 4, 3 epochs, r 16" "$smol" "$out/kto.jsonl" kto 3 4 16 32
run "SmolLM2 reward model, 16 pairs, batch 4, 3 epochs, r 16" "$smol" "$pairs" rm 3 4 16 32
run "SmolLM2 RLHF, 16 pairs, batch 4, 3 epochs, r 16, 4 PPO iterations" "$smol" "$pairs" rlhf 3 4 16 32 --ppo-iterations 4
run "SmolLM2 DPO, 16 pairs, batch 4, 3 epochs, r 16, quantized base" "$smol" "$pairs" dpo 3 4 16 32 --base-weights quantized
run "SmolLM2 SFT, 16 examples, batch 4, 3 epochs, r 16, quantized base" "$smol" "$out/sft.jsonl" sft 3 4 16 32 --base-weights quantized
run "SmolLM2 DPO, 16 pairs, batch 4, 3 epochs, r 16, gradient checkpointing" "$smol" "$pairs" dpo 3 4 16 32 --gradient-checkpointing on
# Larger batches: the activations and logits grow with the rows, the rest does not.
run "SmolLM2 DPO, 16 pairs, batch 8, 2 epochs, r 16" "$smol" "$pairs" dpo 2 8 16 32
run "SmolLM2 DPO, 16 pairs, batch 16, 2 epochs, r 16" "$smol" "$pairs" dpo 2 16 16 32
run "SmolLM2 DPO, 16 pairs, batch 16, 2 epochs, r 16, gradient checkpointing" "$smol" "$pairs" dpo 2 16 16 32 --gradient-checkpointing on
run "SmolLM2 SFT, 16 examples, batch 16, 2 epochs, r 16" "$smol" "$out/sft.jsonl" sft 2 16 16 32
run "SmolLM2 SFT, 16 examples, batch 16, 2 epochs, r 16, gradient checkpointing" "$smol" "$out/sft.jsonl" sft 2 16 16 32 --gradient-checkpointing on
run "SmolLM2 SFT, 16 examples, batch 4, 3 epochs, r 16, gradient checkpointing" "$smol" "$out/sft.jsonl" sft 3 4 16 32 --gradient-checkpointing on
run "starter DPO, 16 pairs, batch 4, 3 epochs, r 8" "$starter" "$pairs" dpo 3 4 8 16
run "starter SFT, 16 examples, batch 4, 3 epochs, r 8" "$starter" "$out/sft.jsonl" sft 3 4 8 16
run "starter KTO, 32 verdicts, batch 4, 3 epochs, r 8" "$starter" "$out/kto.jsonl" kto 3 4 8 16
run "starter reward model, 16 pairs, batch 4, 3 epochs, r 8" "$starter" "$pairs" rm 3 4 8 16
run "starter RLHF, 16 pairs, batch 4, 3 epochs, r 8, 20 PPO iterations" "$starter" "$pairs" rlhf 3 4 8 16
run "starter DPO, 16 pairs, batch 4, 20 epochs, r 8" "$starter" "$pairs" dpo 20 4 8 16
# A random Llama of Llama-3.2-1B's body with SmolLM2's tokenizer (`python bench/make_llama_1b.py
# DIR SMOLLM2_DIR`), where products dominate a step as they do not at 135M.
if [ -n "${LLAMA1B:-}" ]; then
    run "1B Llama DPO, 16 pairs, batch 4, 1 epoch, r 16" "$LLAMA1B" "$pairs" dpo 1 4 16 32
    run "1B Llama SFT, 16 examples, batch 4, 1 epoch, r 16" "$LLAMA1B" "$out/sft.jsonl" sft 1 4 16 32
fi
