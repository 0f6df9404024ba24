#!/usr/bin/env bash
# Regenerates the UI's TypeScript API types (ui/src/lib/api/types/) from the Rust types with
# ts-rs. The test suite checks that the committed files are what this writes.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hone-target}"
HONE_UPDATE_TS=1 cargo test --release -p hone-api --test bindings
echo "wrote $(ls ui/src/lib/api/types | wc -l) files to ui/src/lib/api/types"
