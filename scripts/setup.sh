#!/usr/bin/env bash
# Installs what building and testing Hone needs on a fresh Debian machine, then returns.
# Safe to run again: it installs only what is missing. Sourced by demo.sh and test.sh; a
# script that needs more Debian packages lists them in HONE_APT_PACKAGES before sourcing.
set -euo pipefail

need_apt=()
for package in build-essential pkg-config ${HONE_APT_PACKAGES:-}; do
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
