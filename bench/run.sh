#!/usr/bin/env bash
# Benchmark: `llmcost report` on a generated 100k-call log against the naive parse-and-tokenize script.
# Whole-process wall time and peak memory via GNU time; run it a few times and take the median.
#   bash bench/run.sh [CALLS]        (needs llmcost installed; writes under bench/out/)
set -euo pipefail
calls="${1:-100000}"
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/out/$calls"
[[ -f "$out/openai.jsonl" ]] || python "$here/make_log.py" "$out" --calls "$calls"
du -sh "$out"
echo "== llmcost report"
/usr/bin/time -f "wall %e s, peak %M KB" llmcost report "$out" -o "$out/report.html" --json "$out/summary.json"
echo "== naive: json.loads + tokenize every message"
/usr/bin/time -f "wall %e s, peak %M KB" python "$here/naive.py" "$out/openai.jsonl" "$out/anthropic.jsonl"
