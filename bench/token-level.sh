#!/usr/bin/env bash
# The token-level ablation (issue 19): the demo's loop four times on the same starter model,
# with the same seed and so the same simulated expert's feedback (comparisons, rankings,
# ratings, edits, span marks), the fine-tune mapping that feedback
#   whole:  as whole answers (the default: an edit is a demonstration and a pair, a marked
#           answer an undesirable example, which the auto recipe leaves out beside pairs);
#   edits:  edits on their changed tokens, and edit pairs compared on them
#           (--token-level edits,pairs);
#   spans:  marked answers with unlikelihood on their marked tokens (--token-level spans);
#   all:    both (--token-level all);
# then each v1 against the base on the held-out prompts, as the demo's expert judges them:
# win-rate (ties excluded) with its 95% Wilson interval, the share of held-out answers that
# still hold what the expert marks (another topic's procedure: incorrect; a rude remark;
# padding: not concise; any of them), and the mean KL to the base per answer.
#
#   bash bench/token-level.sh [--quick]        # extra arguments go to every `hone demo`
#
# Takes about 4 × 7 minutes on 2 cores (the starter model is built once, in the cache).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hone-target}"
cache="${HONE_CACHE:-/var/tmp/hone-cache}"
cargo build -q --release --locked -p hone-cli
hone="$CARGO_TARGET_DIR/release/hone"
out="${OUT:-$(mktemp -d)}"
mkdir -p "$out"
starter="$cache/token-level-starter$(printf '%s' "$*" | tr -c 'a-z0-9' '-')"
for variant in whole edits spans all; do
    case "$variant" in
        whole) flags=() ;;
        edits) flags=(--token-level edits,pairs) ;;
        spans) flags=(--token-level spans) ;;
        all) flags=(--token-level all) ;;
    esac
    echo "token-level: $variant ${flags[*]}" >&2
    HONE_WORKSPACE="$out/ws-$variant" "$hone" --device cpu demo --json --starter "$starter" \
        ${flags[@]+"${flags[@]}"} "$@" > "$out/$variant.json" 2> "$out/$variant.log" ||
        { tail -20 "$out/$variant.log" >&2; exit 1; }
done

python3 - "$out" <<'PY'
import json, os, sys

out = sys.argv[1]
share = lambda part, whole: f"{100 * (whole - part) / whole:.0f}%" if whole else "n/a"
print("| mapping | v1 vs base (wins–ties–losses) | win-rate [95% interval] | incorrect | rude | not concise | any mark | KL to base |")
print("|---|---|---|---|---|---|---|---|")
base = None
for variant in ("whole", "edits", "spans", "all"):
    r = json.load(open(os.path.join(out, f"{variant}.json")))
    e = r["v1_eval"]
    h, q = e["versus_base"], e["version_quality"]
    base = e["base_quality"]
    interval = e.get("interval95")
    rate = e.get("win_rate")
    rate = "n/a" if rate is None else f"{100 * rate:.0f}%" + (f" [{100 * interval[0]:.0f}–{100 * interval[1]:.0f}%]" if interval else "")
    print(f"| {variant} | {h['wins']}–{h['ties']}–{h['losses']} | {rate} | {share(q['correct'], q['answers'])} "
          f"| {share(q['polite'], q['answers'])} | {share(q['concise'], q['answers'])} | {share(q['perfect'], q['answers'])} "
          f"| {e['kl_to_base']:.2f} |")
q = base
print(f"| the base itself | | | {share(q['correct'], q['answers'])} | {share(q['polite'], q['answers'])} "
      f"| {share(q['concise'], q['answers'])} | {share(q['perfect'], q['answers'])} | 0 |")
print()
for variant in ("edits", "spans", "all"):
    plan = json.load(open(os.path.join(out, f"{variant}.json"))).get("plan") or {}
    for note in plan.get("notes", []):
        if note.startswith("token-level"):
            print(f"- {variant}: {note}")
PY
