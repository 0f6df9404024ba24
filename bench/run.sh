#!/usr/bin/env bash
# Runs Hone's engine benchmark and its PyTorch peer in the same session, with the same
# threads, and prints a table of tokens/s and ratios (Hone ÷ PyTorch). The peer needs
# `pip install torch transformers peft` (PYTHON=path/to/python to choose the interpreter).
#   bash bench/run.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hone-target}"
threads="${THREADS:-$(nproc)}"
python="${PYTHON:-python3}"
quick=""
[ "${1:-}" = "--quick" ] && quick=1
out=$(mktemp -d)
BENCH_QUICK=$quick RAYON_NUM_THREADS=$threads cargo bench -q -p hone-model --bench engine > "$out/hone.json"
"$python" bench/peer_pytorch.py ${quick:+--quick} --threads "$threads" > "$out/peer.json" 2> "$out/peer.err" || { cat "$out/peer.err"; exit 1; }
"$python" - "$out/hone.json" "$out/peer.json" <<'PY'
import json, sys
hone, peer = (json.load(open(p)) for p in sys.argv[1:3])
print(f"model: {hone['parameters']/1e6:.0f}M parameters (peer counts {peer['parameters']/1e6:.0f}M), threads: hone {hone['threads']}, peer {peer['threads']}")
print(f"peer: {peer['engine']}")
print("| measure | Hone tokens/s | PyTorch tokens/s | Hone ÷ PyTorch |")
print("|---|---|---|---|")
for key, label in [("forward_tokens_per_s", "forward (4×128, no grad)"),
                   ("lora_train_tokens_per_s", "LoRA r=8 forward+backward (4×128)"),
                   ("generate_tokens_per_s", "greedy generation (64 new tokens, batch 1)")]:
    print(f"| {label} | {hone[key]:.0f} | {peer[key]:.0f} | {hone[key]/peer[key]:.2f}× |")
PY
