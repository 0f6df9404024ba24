#!/usr/bin/env bash
# The whole test suite, from a fresh clone: set up, then run every test. CI runs exactly this.
#   1. Rust: every crate's tests (release build: candle is ~160x slower in debug), including
#      the check that the UI's generated TypeScript types are up to date;
#   2. the web UI: type check, unit tests (Vitest), production build;
#   3. end to end: the built UI in headless Chromium against a real `hone serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
HONE_APT_PACKAGES="chromium sqlite3"
source scripts/setup.sh
if ! command -v npm >/dev/null 2>&1; then
    echo "test: npm is missing; install Node.js 20 or newer with npm and run this again" >&2
    exit 1
fi

cargo test --workspace --release --locked

npm ci --no-audit --no-fund
npm run check
npm run test:unit
npm run build
HONE_BIN="$CARGO_TARGET_DIR/release/hone" CHROMIUM=/usr/bin/chromium npm run test:e2e
