#!/usr/bin/env bash
# The main job, from a fresh clone: set up, build `hone` (release), and run `hone demo` — the whole
# human-feedback loop on the starter model, which is built on first use (about 90 s on 2 cores)
# and cached in /var/tmp/hone-starter. Each run uses a fresh workspace unless
# HONE_DEMO_WORKSPACE names one. Extra arguments go to `hone demo` (e.g. --rlhf, --quick).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

cargo build --release -p hone-cli
hone="$CARGO_TARGET_DIR/release/hone"
workspace="${HONE_DEMO_WORKSPACE:-$(mktemp -d -t hone-demo-XXXXXX)}"
"$hone" --workspace "$workspace" demo --starter "${HONE_STARTER_DIR:-/var/tmp/hone-starter}" "$@"
