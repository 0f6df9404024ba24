#!/usr/bin/env bash
# The main job, from a fresh clone: set up, build `hone` (release), and run `hone demo` — the whole
# human-feedback loop on the starter model, which is built on first use (about 90 s on 2 cores)
# and cached in /var/tmp/hone-starter. Each run uses a fresh workspace unless
# HONE_DEMO_WORKSPACE names one. Extra arguments go to `hone demo` (e.g. --rlhf, --quick).
# On a machine with an NVIDIA GPU (nvidia-smi lists it) hone is built with CUDA and the loop's
# models run there (`--device auto`); the starter model itself is always built on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

# With a GPU that nvidia-smi lists, setup.sh chose the CUDA build (HONE_CARGO_FEATURES).
# shellcheck disable=SC2086
cargo build --release -p hone-cli $HONE_CARGO_FEATURES
hone="$CARGO_TARGET_DIR/release/hone"
workspace="${HONE_DEMO_WORKSPACE:-$(mktemp -d -t hone-demo-XXXXXX)}"
"$hone" --workspace "$workspace" demo --starter "${HONE_STARTER_DIR:-/var/tmp/hone-starter}" "$@"
