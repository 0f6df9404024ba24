#!/usr/bin/env bash
# Import throughput and memory: TRL preference files of N pairs into a fresh workspace,
# timed with peak memory (GNU time). Usage: bash bench/import.sh [N ...]   (default 8000 100000)
#   HONE_BIN=path/to/hone to time another build (default: the release build in CARGO_TARGET_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
hone="${HONE_BIN:-${CARGO_TARGET_DIR:-/var/tmp/hone-target}/release/hone}"
[ -x "$hone" ] || cargo build --release --locked -p hone-cli
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(8000 100000)
work="$(mktemp -d /var/tmp/hone-bench-import.XXXXXX)"
trap 'rm -rf "$work"' EXIT
printf '| pairs | file | seconds | pairs/s | peak memory |\n|---|---|---|---|---|\n'
for n in "${sizes[@]}"; do
    file="$work/pairs-$n.jsonl"
    # ~700 bytes a line: a prompt with context and two answers of a few sentences.
    python3 - "$n" "$file" <<'PY'
import json, sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    for i in range(n):
        f.write(json.dumps({
            "prompt": f"Question number {i} about topic {i % 97}? " + "context " * 20,
            "chosen": f"Good answer {i} " + "detail " * 30,
            "rejected": f"Bad answer {i} " + "detail " * 30,
        }) + "\n")
PY
    ws="$work/ws-$n"
    "$hone" --workspace "$ws" project create bench >/dev/null
    /usr/bin/time -f "%e %M" -o "$work/time" \
        "$hone" --workspace "$ws" import "$file" --project bench --max-bytes 4000000000 >/dev/null 2>&1
    read -r seconds kib < "$work/time"
    mib=$(( $(stat -c %s "$file") / 1048576 ))
    awk -v n="$n" -v s="$seconds" -v k="$kib" -v m="$mib" \
        'BEGIN { printf "| %d | %d MiB | %.1f | %.0f | %.0f MiB |\n", n, m, s, n / s, k / 1024 }'
done
