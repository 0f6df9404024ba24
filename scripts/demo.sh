#!/usr/bin/env bash
# The main job, from a fresh clone: set up, build `hone`, and run it on the bundled example data.
# Until the starter model lands this imports the example feedback into a fresh workspace and
# shows what it holds (`hone stats`) and the TRL data it makes (`hone export`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

cargo build --release -p hone-cli
hone="$CARGO_TARGET_DIR/release/hone"
workspace="${HONE_DEMO_WORKSPACE:-$(mktemp -d -t hone-demo-XXXXXX)}"

"$hone" --workspace "$workspace" project create support --description "Help-desk answers: correct, polite, concise"
"$hone" --workspace "$workspace" import examples/support-preferences.jsonl --project support
"$hone" --workspace "$workspace" import examples/support-prompts.csv --project support
"$hone" --workspace "$workspace" stats --project support
"$hone" --workspace "$workspace" export --project support --format all --out "$workspace/export"
echo "workspace: $workspace"
