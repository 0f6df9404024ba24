#!/usr/bin/env bash
# The GPU check: Hone on a CUDA device against the CPU (parity) and against PyTorch + PEFT on
# the same device (speed), on random models of real shapes built on that machine. It needs no
# network and no Rust toolchain there: only a CUDA build of `hone` (see README "GPU builds"),
# this script and bench/peer_pytorch.py, and a Python with torch, transformers and peft for the
# peer (skipped, and said so, when that Python lacks them).
#
#   bash scripts/gpu-check.sh [--hone PATH] [--device cuda|cuda:N|cpu] [--shapes "smollm2-135m llama-1b"]
#                             [--python PATH] [--out DIR] [--peak-tflops N] [--steps N]
#
# For each shape (`hone model new-tiny --shape S --seed 0`):
#   1. parity: `hone bench parity`: log-probs on the device in f32 and in its low precision
#      (bf16) against the CPU in f32; the loss curves of LoRA SFT and DPO steps;
#   2. speed: `hone bench engine` and the peer, one measure per process (forward, LoRA SFT
#      step, LoRA DPO step, greedy generation): tokens/s, peak memory, MFU;
# then one table, printed and written to OUT/summary.md beside every JSON result.
# --peak-tflops is the card's dense bf16 peak from its datasheet (989 for an H100/H200 SXM),
# for MFU against it besides MFU against the matmul peak Hone measures.
# CI runs it with `--device cpu --shapes tiny` so that the script cannot rot.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
hone="${HONE_BIN:-${CARGO_TARGET_DIR:-/var/tmp/hone-target}/release/hone}"
device="cuda"
shapes="smollm2-135m llama-1b"
python="${PYTHON:-python3}"
out=""
peak_tflops=""
steps=5
while [ $# -gt 0 ]; do
    case "$1" in
        --hone) hone="$2"; shift 2 ;;
        --device) device="$2"; shift 2 ;;
        --shapes) shapes="$2"; shift 2 ;;
        --python) python="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --peak-tflops) peak_tflops="$2"; shift 2 ;;
        --steps) steps="$2"; shift 2 ;;
        *) echo "gpu-check: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
[ -x "$hone" ] || { echo "gpu-check: no hone binary at $hone (--hone PATH)" >&2; exit 2; }
out="${out:-$(mktemp -d)}"
mkdir -p "$out"
models="$(mktemp -d)"
trap 'rm -rf "$models"' EXIT
start=$(date +%s)

peer=1
if ! "$python" -c 'import torch, transformers, peft' 2>/dev/null; then
    peer=""
    echo "gpu-check: $python lacks torch, transformers or peft: the PyTorch peer is skipped" >&2
fi
case "$device" in
    cpu) peer_device=cpu; peer_dtype=float32 ;;
    cuda*) peer_device="$device"; peer_dtype=bfloat16 ;;
    *) echo "gpu-check: --device is cuda, cuda:N or cpu" >&2; exit 2 ;;
esac

for shape in $shapes; do
    model="$models/$shape"
    t0=$(date +%s)
    "$hone" model new-tiny --shape "$shape" --seed 0 --out "$model" >&2
    echo "gpu-check: $shape written in $(( $(date +%s) - t0 )) s" >&2
    "$hone" --device "$device" bench parity --model "$model" --steps "$steps" --json > "$out/$shape-parity.json"
    for measure in forward train dpo generate; do
        "$hone" --device "$device" bench engine --model "$model" --only "$measure" --json > "$out/$shape-hone-$measure.json"
        if [ -n "$peer" ]; then
            "$python" "$here/bench/peer_pytorch.py" --model "$model" --device "$peer_device" --dtype "$peer_dtype" \
                --threads "$(nproc)" --only "$measure" > "$out/$shape-peer-$measure.json" 2> "$out/$shape-peer-$measure.err" ||
                { cat "$out/$shape-peer-$measure.err" >&2; exit 1; }
        fi
    done
    rm -rf "$model"
done

"$python" - "$out" "$device" "$shapes" "${peak_tflops:-0}" "$(( $(date +%s) - start ))" <<'PY' | tee "$out/summary.md"
import json, os, sys

out, device, shapes, peak_tflops, seconds = sys.argv[1], sys.argv[2], sys.argv[3].split(), float(sys.argv[4]), sys.argv[5]
load = lambda name: json.load(open(os.path.join(out, name))) if os.path.exists(os.path.join(out, name)) else None
fmt = lambda x, spec=".0f": "—" if x is None else format(x, spec)
failures = []

# Stated tolerances: f32 log-probs as the issue asks; the low precision's from bf16's 8-bit
# mantissa (weights, activations and logits each rounded: a logit of ~20 moves by ~0.04 on its
# own; crates/hone-model/tests/model/precision.rs measures 0.11 max on its fixture).
F32_MAX, LOW_MAX, LOW_MEAN, CURVE_ABS, CURVE_REL = 1e-4, 0.5, 0.05, 0.05, 0.02

print(f"# GPU check: {device}\n")
first = load(f"{shapes[0]}-parity.json")
if first:
    d = first["device"]
    mem = f", {d['memory_mib'] / 1024:.0f} GiB" if d.get("memory_mib") else ""
    print(f"device: {d['device']} — {d['description']}{mem}; base weights in {d['dtype']} ({d['reason']})\n")

print("## Parity with the CPU (f32, fused kernels)\n")
print("| shape | f32 max \\|Δ log-prob\\| | low dtype | max \\|Δ\\| | mean \\|Δ\\| | SFT curve max \\|Δ\\| | DPO curve max \\|Δ\\| | within tolerance |")
print("|---|---|---|---|---|---|---|---|")
for shape in shapes:
    p = load(f"{shape}-parity.json")
    if p is None:
        failures.append(f"{shape}: no parity result")
        continue
    curve_ok = all(
        abs(a - b) <= CURVE_ABS + CURVE_REL * abs(a)
        for c in (p["sft"], p["dpo"]) for a, b in zip(c["reference"], c["device"])
    )
    ok = p["f32_max_abs_diff"] <= F32_MAX and p["low_max_abs_diff"] <= LOW_MAX and p["low_mean_abs_diff"] <= LOW_MEAN and curve_ok
    if not ok:
        failures.append(f"{shape}: parity outside the stated tolerance")
    print(f"| {shape} | {p['f32_max_abs_diff']:.2e} | {p['low_dtype']} | {p['low_max_abs_diff']:.3f} | {p['low_mean_abs_diff']:.4f} "
          f"| {p['sft']['max_abs_diff']:.4f} | {p['dpo']['max_abs_diff']:.4f} | {'yes' if ok else 'NO'} |")
print(f"\nTolerances: f32 ≤ {F32_MAX:g}; low precision max ≤ {LOW_MAX}, mean ≤ {LOW_MEAN} nats per token; "
      f"loss curves within {CURVE_ABS} + {CURVE_REL:.0%} of the CPU's at every step.\n")

print("## Speed, side by side on the same device\n")
print("| shape | measure | Hone tokens/s | PyTorch tokens/s | Hone ÷ PyTorch | Hone peak MiB | PyTorch peak MiB | MFU of measured peak | MFU of datasheet peak |")
print("|---|---|---|---|---|---|---|---|---|")
keys = [("forward", "forward_tokens_per_s", "forward (4×128)"), ("train", "lora_train_tokens_per_s", "LoRA SFT step (4×128)"),
        ("dpo", "dpo_tokens_per_s", "LoRA DPO step (4 pairs × 2 × 128)"), ("generate", "generate_tokens_per_s", "greedy generation (64 new)")]
for shape in shapes:
    for measure, key, label in keys:
        h, p = load(f"{shape}-hone-{measure}.json"), load(f"{shape}-peer-{measure}.json")
        if h is None:
            failures.append(f"{shape}: no {measure} result")
            continue
        rate = h[key]
        gpu = device != "cpu"
        h_mem = h["peak_device_mib"] if gpu else h["peak_rss_mib"]
        p_rate = p[key] if p else None
        p_mem = (p.get("peak_device_mib") if gpu else p["peak_rss_mib"]) if p else None
        mfu = mfu_sheet = None
        if measure == "train" and h.get("train_mfu_of_measured_peak") is not None:
            mfu = 100 * h["train_mfu_of_measured_peak"]
            if peak_tflops > 0:
                mfu_sheet = mfu * h["matmul_tflops"] / peak_tflops
        ratio = rate / p_rate if p_rate else None
        print(f"| {shape} | {label} | {fmt(rate)} | {fmt(p_rate)} | {fmt(ratio, '.2f')}{'×' if ratio else ''} | {fmt(h_mem)} | {fmt(p_mem)} "
              f"| {fmt(mfu, '.1f')}{'%' if mfu is not None else ''} | {fmt(mfu_sheet, '.1f')}{'%' if mfu_sheet is not None else ''} |")
h = load(f"{shapes[0]}-hone-train.json")
if h:
    print(f"\nHone's measured matmul peak ({h['device']['dtype']}): {h['matmul_tflops']:.2f} TFLOP/s. "
          "MFU counts 4 × matmul parameters FLOPs per training token (forward, and backward to the input only: "
          "the base is frozen). On a GPU, Hone's peak memory is the device's memory in use (every process's, CUDA "
          "context included), PyTorch's its allocator's peak; on the CPU both are peak RSS.")
print(f"\nwall time: {seconds} s")
if failures:
    print("\nFAILED: " + "; ".join(failures))
    sys.exit(1)
PY
