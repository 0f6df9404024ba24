#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets: the importers, chat templates, model and adapter
# configs) for a bounded time each, from the committed seeds in fuzz/corpus/, with cargo-fuzz
# (libFuzzer). What the fuzzer adds to a corpus, and any crashing input, stays outside the
# clone, under /var/tmp. A crash, a timeout or memory past the limit fails the run and names the
# input, which `cargo fuzz run <target> <file>` replays.
#   bash scripts/fuzz.sh [seconds per target, default 20] [target ...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
shift || true
cargo_fuzz="${CARGO_HOME:-$HOME/.cargo}/bin/cargo-fuzz"
if [ ! -x "$cargo_fuzz" ]; then
    cargo install cargo-fuzz --locked
fi
work="${HONE_FUZZ_DIR:-/var/tmp/hone-fuzz}"
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || mapfile -t targets < <(cd fuzz && "$cargo_fuzz" list)
# Safe Rust throughout, so no AddressSanitizer (`-s none`): coverage guidance and the targets'
# own checks find panics, hangs and runaway memory. Its flags are stable rustc's.
"$cargo_fuzz" build --fuzz-dir fuzz -s none --target-dir "$work/target"
for target in "${targets[@]}"; do
    mkdir -p "$work/corpus/$target" "$work/artifacts/$target"
    echo "fuzz: $target for ${seconds}s"
    "$cargo_fuzz" run --fuzz-dir fuzz -s none --target-dir "$work/target" "$target" \
        "$work/corpus/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$work/artifacts/$target/" -print_final_stats=1 2>&1 |
        grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+== ERROR|SUMMARY|thread .* panicked|Test unit written|INFO: seed corpus)' ||
        true
    # grep hides the fuzzer's progress lines; its exit status is the run's.
    [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "fuzz: $target failed; its input is in $work/artifacts/$target/" >&2; exit 1; }
done
