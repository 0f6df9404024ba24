#!/usr/bin/env bash
# Sets up TRL, PEFT, transformers, accelerate and PyTorch (CPU use) in a virtual environment
# outside the clone, once, and prints its python. The hand-off test (issue 18) runs the TRL job
# `hone export --format trl-job` writes with TRL itself, and takes its adapter back. Pinned, so
# the cached environment is the one the test was written against; ~4 GB (PyPI's torch brings
# its CUDA libraries), a few minutes the first time.
set -euo pipefail
cache="${HONE_CACHE:-/var/tmp/hone-cache}"
venv="$cache/trl-1.16.0"
if "$venv/bin/python" -c "import trl, peft, accelerate, datasets" >/dev/null 2>&1; then
    echo "$venv/bin/python"
    exit 0
fi
echo "setup-trl: installing TRL 1.16.0 and PyTorch into $venv (once)" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --cache-dir "$cache/pip" \
    torch==2.15.0 transformers==5.25.0 peft==0.21.2 trl==1.16.0 accelerate==1.16.0 datasets==5.2.0 pyyaml >&2
echo "$venv/bin/python"
