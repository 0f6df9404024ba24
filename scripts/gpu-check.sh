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
#   3. whole runs: `hone train` DPO on bench/data/support-16.jsonl (3 epochs, batch 4, r 16) with
#      gradient checkpointing off and on: training seconds, the device's peak memory against the
#      plan's estimates, and the final loss, which checkpointing must not change;
# on a GPU, nvidia-smi samples the device's memory in use every 100 ms around each process of
# Hone and of the peer, the one memory measure that is the same for both;
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

gpu_index=0
case "$device" in cuda:*) gpu_index="${device#cuda:}" ;; esac
# Runs the command after the file name while nvidia-smi samples the GPU's memory in use every
# 100 ms, and writes the largest sample (MiB, every process's, CUDA context included) to the
# file: the same measure for Hone and the peer, whatever their allocators report. On the CPU
# it only runs the command.
sampled() {
    local peak_file="$1"; shift
    if [ "$device" = cpu ] || ! command -v nvidia-smi >/dev/null; then
        "$@"
        return
    fi
    nvidia-smi -i "$gpu_index" --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$models/memory-used" &
    local sampler=$! rc=0
    "$@" || rc=$?
    kill "$sampler"
    wait "$sampler" 2>/dev/null || true
    sort -n "$models/memory-used" | tail -1 > "$peak_file"
    return $rc
}

for shape in $shapes; do
    model="$models/$shape"
    t0=$(date +%s)
    "$hone" model new-tiny --shape "$shape" --seed 0 --out "$model" >&2
    echo "gpu-check: $shape written in $(( $(date +%s) - t0 )) s" >&2
    "$hone" --device "$device" bench parity --model "$model" --steps "$steps" --json > "$out/$shape-parity.json"
    for measure in forward train dpo generate; do
        sampled "$out/$shape-hone-$measure.device-mib" \
            "$hone" --device "$device" bench engine --model "$model" --only "$measure" --json > "$out/$shape-hone-$measure.json"
        if [ -n "$peer" ]; then
            sampled "$out/$shape-peer-$measure.device-mib" \
                "$python" "$here/bench/peer_pytorch.py" --model "$model" --device "$peer_device" --dtype "$peer_dtype" \
                --threads "$(nproc)" --only "$measure" > "$out/$shape-peer-$measure.json" 2> "$out/$shape-peer-$measure.err" ||
                { cat "$out/$shape-peer-$measure.err" >&2; exit 1; }
        fi
    done
    # Whole fine-tune runs, checkpointing off and on (the checkpoint op's device forward runs here).
    for checkpointing in off on; do
        ws="$models/ws-$shape-$checkpointing"
        HONE_WORKSPACE="$ws" "$hone" project create gpu-check >/dev/null
        HONE_WORKSPACE="$ws" "$hone" import "$here/bench/data/support-16.jsonl" --project gpu-check >/dev/null
        HONE_WORKSPACE="$ws" sampled "$out/$shape-train-$checkpointing.device-mib" \
            "$hone" --device "$device" train --project gpu-check --model "$model" --method dpo \
            --epochs 3 --batch-size 4 --lr 5e-5 --lora-r 16 --lora-alpha 32 --no-eval \
            --gradient-checkpointing "$checkpointing" --json > "$out/$shape-train-$checkpointing.json"
        rm -rf "$ws"
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
TRAIN_LOSS_ABS, TRAIN_LOSS_REL = 1e-4, 0.02

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
sampled = lambda name: float(open(os.path.join(out, name)).read()) if os.path.exists(os.path.join(out, name)) else None
print("| shape | measure | Hone tokens/s | PyTorch tokens/s | Hone ÷ PyTorch | Hone peak MiB | PyTorch peak MiB | Hone sampled MiB | PyTorch sampled MiB | MFU of measured peak | MFU of datasheet peak |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
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
              f"| {fmt(sampled(f'{shape}-hone-{measure}.device-mib'))} | {fmt(sampled(f'{shape}-peer-{measure}.device-mib'))} "
              f"| {fmt(mfu, '.1f')}{'%' if mfu is not None else ''} | {fmt(mfu_sheet, '.1f')}{'%' if mfu_sheet is not None else ''} |")
print("\n## Whole runs: `hone train` DPO, 16 pairs, 3 epochs, batch 4, r 16\n")
print("| shape | gradient checkpointing | training (s) | plan (s) | peak memory (MiB) | plan (MiB) | final loss |")
print("|---|---|---|---|---|---|---|")
for shape in shapes:
    losses = {}
    for checkpointing in ("off", "on"):
        r = load(f"{shape}-train-{checkpointing}.json")
        if r is None:
            failures.append(f"{shape}: no training run with checkpointing {checkpointing}")
            continue
        m = r["version"]["metrics"]
        stage = r["plan"]["stages"][0]
        peak = sampled(f"{shape}-train-{checkpointing}.device-mib") or r.get("peak_memory_mib")
        losses[checkpointing] = m["dpo/loss"]
        if stage["gradient_checkpointing"] != (checkpointing == "on"):
            failures.append(f"{shape}: asked for checkpointing {checkpointing}, the plan chose otherwise")
        print(f"| {shape} | {checkpointing} | {m['dpo/train_seconds']:.1f} "
              f"| {stage['estimated_seconds']:.1f} | {fmt(peak)} | {r['plan']['estimated_memory_mib']:.0f} | {m['dpo/loss']:.6f} |")
    tolerance = TRAIN_LOSS_ABS + (TRAIN_LOSS_REL * abs(losses.get("off", 0)) if device != "cpu" else 0)
    if len(losses) == 2 and abs(losses["off"] - losses["on"]) > tolerance:
        failures.append(f"{shape}: checkpointing changed the final loss ({losses['off']} against {losses['on']})")
print(f"\nWith checkpointing on, the final loss must equal the loss with it off within {TRAIN_LOSS_ABS:g} in f32 (the "
      f"CPU: the recomputed layers repeat the first pass's dropout masks), within {TRAIN_LOSS_ABS:g} + {TRAIN_LOSS_REL:.0%} "
      "in bf16 (a GPU), where the order in which a layer's bf16 activation gradients are summed differs between the two "
      "and each sum rounds to 8 bits. On a GPU the peak memory is the largest of nvidia-smi's samples of the device's "
      "memory in use, every 100 ms (every process's, CUDA context included); on the CPU the process's peak RSS.\n")

h = load(f"{shapes[0]}-hone-train.json")
if h:
    print(f"\nHone's measured matmul peak ({h['device']['dtype']}): {h['matmul_tflops']:.2f} TFLOP/s. "
          "MFU counts 4 × matmul parameters FLOPs per training token (forward, and backward to the input only: "
          "the base is frozen). On a GPU, Hone's peak memory is the device's memory in use after a step (every process's, "
          "CUDA context included), PyTorch's its allocator's peak; on the CPU both are peak RSS. The sampled columns "
          "are the same measure for both: the largest of nvidia-smi's samples of the device's memory in use while the "
          "process ran, every 100 ms.")
print(f"\nwall time: {seconds} s")
if failures:
    print("\nFAILED: " + "; ".join(failures))
    sys.exit(1)
PY
