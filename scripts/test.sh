#!/usr/bin/env bash
# The whole test suite, from a fresh clone: set up, then run every test (release build:
# candle is ~160x slower in debug). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

cargo test --workspace --release --locked
