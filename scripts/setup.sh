#!/usr/bin/env bash
# Installs what building and testing Hone needs on a fresh Debian machine, then returns.
# Safe to run again: it installs only what is missing. Sourced by demo.sh and test.sh; a
# script that needs more Debian packages lists them in HONE_APT_PACKAGES before sourcing.
set -euo pipefail

# OpenBLAS: on x86-64 the engine's training products run on it, linked statically
# (crates/hone-model/build.rs).
base_packages="build-essential pkg-config"
[ "$(dpkg --print-architecture)" = amd64 ] && base_packages="$base_packages libopenblas-pthread-dev"
need_apt=()
for package in $base_packages ${HONE_APT_PACKAGES:-}; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$package")
done
if ((${#need_apt[@]})); then
    echo "setup: installing ${need_apt[*]} with apt" >&2
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo is missing; install the Rust toolchain (https://rustup.rs, 1.89 or newer) and run this again" >&2
    exit 1
fi

# One warm build folder outside the clone, shared by the demo, the tests and CI.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hone-target}"

# A machine whose `nvidia-smi` lists a GPU builds `hone` with CUDA (HONE_CUDA=0 to build for
# the CPU only): the CUDA 13.0 compiler and libraries come from PyPI into the cache
# (scripts/setup-cuda.sh), the kernels are compiled for that GPU's compute capability.
# HONE_CARGO_FEATURES is what demo.sh passes to cargo.
HONE_CARGO_FEATURES=""
if [ "${HONE_CUDA:-1}" != 0 ] && command -v nvidia-smi >/dev/null 2>&1 &&
    gpu="$(nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader 2>/dev/null | head -n 1)" && [ -n "$gpu" ]; then
    cap="${gpu##*, }"
    export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-${cap/./}}"
    cuda_prefix="$(bash "$(dirname "${BASH_SOURCE[0]}")/setup-cuda.sh")"
    export CUDA_PATH="$cuda_prefix" PATH="$cuda_prefix/bin:$PATH"
    HONE_CARGO_FEATURES="--features cuda"
    echo "setup: nvidia-smi found ${gpu%%, *} (compute capability $cap): building with CUDA for compute capability $CUDA_COMPUTE_CAP" >&2
fi
export HONE_CARGO_FEATURES
