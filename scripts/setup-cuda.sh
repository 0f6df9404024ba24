#!/usr/bin/env bash
# Sets up what `cargo build --features cuda` needs, on a machine with or without a GPU, into a
# cache outside the clone, once, and prints the prefix (a CUDA_PATH):
#   - NVIDIA's CUDA 13.0 compiler, headers and libraries from PyPI's wheels (nvcc, crt, nvvm,
#     cudart, cccl, nvrtc, cuBLAS, cuRAND), unpacked into one prefix with the unversioned
#     `lib*.so` names the linker looks for;
#   - a link stub for the driver library `libcuda.so.1` (the driver is not a package: the CUDA
#     toolkit ships such a stub in lib/stubs for the same reason). The stub defines every driver
#     function cudarc declares; at run time the GPU driver's own libcuda.so.1 is found by its
#     soname (on a machine without a driver, the stub's folder on LD_LIBRARY_PATH lets the
#     CUDA build start and run on the CPU).
# 13.0 because the binary's PTX must be no newer than the driver's CUDA (driver 580 = CUDA 13.0);
# see README "GPU builds" for choosing CUDA_COMPUTE_CAP.
# Use: prefix="$(bash scripts/setup-cuda.sh)"; export CUDA_PATH="$prefix" PATH="$prefix/bin:$PATH"
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${HONE_CACHE:-/var/tmp/hone-cache}"
version="13.0.88"
prefix="$cache/cuda-$version"
wheels=(
    "nvidia-cuda-nvcc==13.0.88"
    "nvidia-cuda-crt==13.0.88"
    "nvidia-nvvm==13.0.88"
    "nvidia-cuda-runtime==13.0.96"
    "nvidia-cuda-cccl==13.0.85"
    "nvidia-cuda-nvrtc==13.0.88"
    "nvidia-cublas==13.0.2.14"
    "nvidia-curand==10.4.0.35"
)

if [ ! -e "$prefix/.complete" ]; then
    mkdir -p "$cache/wheels-cuda"
    python3 -m pip download --quiet --no-deps --dest "$cache/wheels-cuda" "${wheels[@]}" >&2
    tmp="$(mktemp -d "$cache/.cuda-XXXXXX")"
    for spec in "${wheels[@]}"; do
        name="${spec%%==*}"
        ver="${spec##*==}"
        wheel="$(ls "$cache/wheels-cuda/${name//-/_}-$ver-"*.whl)"
        python3 -m zipfile -e "$wheel" "$tmp/unpacked" >&2
    done
    root="$tmp/unpacked/nvidia/cu13"
    # zipfile drops the executable bit.
    chmod +x "$root"/bin/* "$root"/nvvm/bin/* 2>/dev/null || true
    # The linker wants lib<name>.so; the wheels carry only the versioned sonames.
    for lib in "$root"/lib/lib*.so.*; do
        base="$(basename "$lib")"
        case "$base" in *builtins* | *.alt.*) continue ;; esac
        ln -sf "$base" "$root/lib/${base%%.so.*}.so"
    done
    # The driver stub: every cu* function cudarc's driver bindings call, each returning
    # CUDA_ERROR_STUB_LIBRARY (34) as NVIDIA's own stub does, so a CUDA build that finds the
    # stub instead of a driver (e.g. through LD_LIBRARY_PATH in CI) sees no GPU and uses the CPU.
    cudarc_src="$(cargo metadata --format-version 1 --locked --features hone-cli/cuda |
        python3 -c 'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"]=="cudarc").rsplit("/",1)[0])')"
    grep -ohE '^\s+fn cu[A-Z][A-Za-z0-9_]*\(' "$cudarc_src/src/driver/sys/mod.rs" |
        sed -E 's/^\s+fn (cu[A-Za-z0-9_]+)\(/int \1(void) { return 34; }/' | sort -u >"$tmp/cuda_stub.c"
    [ -s "$tmp/cuda_stub.c" ] || { echo "setup-cuda: no driver functions found in $cudarc_src" >&2; exit 1; }
    mkdir -p "$root/lib/stubs"
    cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$root/lib/stubs/libcuda.so" "$tmp/cuda_stub.c"
    ln -sf libcuda.so "$root/lib/stubs/libcuda.so.1"
    rm -rf "$prefix"
    mv "$root" "$prefix"
    rm -rf "$tmp"
    touch "$prefix/.complete"
fi
echo "$prefix"
