#!/usr/bin/env bash
# Alternates `hone bench engine`'s LoRA SFT and DPO steps (4 × 128 tokens) of several hone
# binaries with PyTorch + PEFT's (`bench/peer_pytorch.py`), one process per measure, ROUNDS
# times, so that a change's effect is seen against this VM's drift (±10–20% between runs).
# Prints one line per measure: round, engine, step, tokens/s, peak MiB.
#   BINS="/path/hone-before /path/hone-after" PYTHON=… bash bench/step-ab.sh
# MODEL defaults to the imported SmolLM2 folder `bench/run.sh --real` writes; THREADS to 2.
set -euo pipefail
cd "$(dirname "$0")/.."
model="${MODEL:-${HONE_CACHE:-/var/tmp/hone-cache}/smollm2-hf}"
threads="${THREADS:-2}"
python="${PYTHON:-python3}"
field() { # STEP: the JSON key of that step's tokens/s
    [ "$1" = train ] && echo lora_train_tokens_per_s || echo dpo_tokens_per_s
}
report() { # ROUND NAME STEP: reads the JSON on stdin
    python3 -c 'import json, sys
d = json.load(sys.stdin)
print(sys.argv[1], sys.argv[2], sys.argv[3], round(d[sys.argv[4]], 1), round(d["peak_rss_mib"]))' "$@"
}
for round in $(seq "${ROUNDS:-2}"); do
    for step in train dpo; do
        for bin in ${BINS:?BINS: the hone binaries to compare}; do
            RAYON_NUM_THREADS="$threads" "$bin" --device cpu bench engine --model "$model" --only "$step" --json |
                report "$round" "$(basename "$bin")" "$step" "$(field "$step")"
        done
        "$python" bench/peer_pytorch.py --model "$model" --threads "$threads" --only "$step" 2>/dev/null |
            report "$round" torch "$step" "$(field "$step")"
    done
done
