#!/usr/bin/env bash
# Runs Hone's engine benchmark and its PyTorch peer in the same session, with the same
# threads, one measure per process (so each peak memory is that measure's), and prints a
# table of tokens/s, peak memory and ratios (Hone ÷ PyTorch). The peer needs
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
cargo bench -q -p hone-model --bench engine --no-run
for measure in forward train dpo generate; do
    BENCH_QUICK=$quick BENCH_ONLY=$measure cargo bench -q -p hone-model --bench engine > "$out/hone-$measure.json"
    "$python" bench/peer_pytorch.py ${quick:+--quick} --threads "$threads" --only "$measure" > "$out/peer-$measure.json" 2> "$out/peer.err" || { cat "$out/peer.err"; exit 1; }
done
"$python" - "$out" <<'PY'
import json, sys
out = sys.argv[1]
load = lambda who, m: json.load(open(f"{out}/{who}-{m}.json"))
first = load("hone", "forward"); peer = load("peer", "forward")
print(f"model: {first['parameters']/1e6:.0f}M parameters (peer counts {peer['parameters']/1e6:.0f}M), threads: hone {first['threads']}, peer {peer['threads']}")
print(f"peer: {peer['engine']}")
print("| measure | Hone tokens/s | PyTorch tokens/s | Hone ÷ PyTorch | Hone peak MiB | PyTorch peak MiB | memory ratio |")
print("|---|---|---|---|---|---|---|")
for m, key, label in [("forward", "forward_tokens_per_s", "forward (4×128, no grad)"),
                      ("train", "lora_train_tokens_per_s", "LoRA r=8 SFT step, forward+backward (4×128)"),
                      ("dpo", "dpo_tokens_per_s", "LoRA r=8 DPO step (4 pairs × 2 × 128)"),
                      ("generate", "generate_tokens_per_s", "greedy generation (64 new tokens, batch 1)")]:
    h, p = load("hone", m), load("peer", m)
    print(f"| {label} | {h[key]:.0f} | {p[key]:.0f} | {h[key]/p[key]:.2f}× | {h['peak_rss_mib']:.0f} | {p['peak_rss_mib']:.0f} | {h['peak_rss_mib']/p['peak_rss_mib']:.2f}× |")
PY
