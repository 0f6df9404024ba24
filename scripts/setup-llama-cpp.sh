#!/usr/bin/env bash
# Sets up llama.cpp (through llama-cpp-python, which builds it from source) in a virtual
# environment outside the clone, once, and prints its python. The built wheel is cached in
# $HONE_CACHE/wheels, so a new environment installs in seconds; the first build takes ~10 min
# on 2 cores. The real-model tier uses it to check the GGUF files Hone writes.
set -euo pipefail
cache="${HONE_CACHE:-/var/tmp/hone-cache}"
version="0.3.36"
venv="$cache/llama-cpp-$version"
if "$venv/bin/python" -c "import llama_cpp" >/dev/null 2>&1; then
    echo "$venv/bin/python"
    exit 0
fi
mkdir -p "$cache/wheels"
wheel="$(ls "$cache"/wheels/llama_cpp_python-"$version"-*.whl 2>/dev/null | head -n 1 || true)"
if [ -z "$wheel" ]; then
    echo "setup-llama-cpp: building llama-cpp-python $version (llama.cpp from source, once)" >&2
    builder="$(mktemp -d)"
    python3 -m venv "$builder/venv"
    # Portable CPU code (no -march=native: the cache may move between machines), the library only.
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF" \
        "$builder/venv/bin/pip" wheel --quiet --no-deps -w "$cache/wheels" "llama-cpp-python==$version" >&2
    rm -rf "$builder"
    wheel="$(ls "$cache"/wheels/llama_cpp_python-"$version"-*.whl | head -n 1)"
fi
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet "$wheel" numpy >&2
echo "$venv/bin/python"
