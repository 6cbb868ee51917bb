#!/usr/bin/env bash
# The nightly audit's incremental cost: one new day (500 calls) on top of a 30-day database (15,000 calls),
# `llmcost ingest` of the day alone and the whole `llmcost audit`, each on a fresh copy of the month's database.
# GNU time: wall s, user s, sys s, peak RSS KB; and the "read logs" stage (LLMCOST_TIMINGS=1). RUNS runs each.
#   bash bench/incremental.sh [CODE_DIR ...]     (default: this checkout; name an older one to compare, e.g.
#                                                 mkdir /tmp/old && git archive main | tar -x -C /tmp/old)
#   RUNS=3 CALLS=15000 DAY_CALLS=500 OUT=bench/out/incremental bash bench/incremental.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
out="${OUT:-$here/out/incremental}"
runs="${RUNS:-3}"
mkdir -p "$out"
export PYTHONPATH="$root"
[[ -f "$out/month/openai.jsonl" ]] ||
  python "$here/make_log.py" "$out/month" --calls "${CALLS:-15000}" --days 30 --start 2025-11-01 --seed 1
[[ -f "$out/day/openai.jsonl" ]] ||
  python "$here/make_log.py" "$out/day" --calls "${DAY_CALLS:-500}" --days 1 --start 2025-12-01 --seed 2
[[ -f "$out/month.duckdb" ]] || python -m analyzer ingest "$out/month" --db "$out/month.duckdb" >/dev/null
dirs=("$@")
[[ ${#dirs[@]} -gt 0 ]] || dirs=("$root")
for code in "${dirs[@]}"; do
  for what in ingest audit; do
    for i in $(seq "$runs"); do
      cp "$out/month.duckdb" "$out/run.duckdb"
      rm -rf "$out/audit"
      if [[ $what == ingest ]]; then
        cmd=(python -m analyzer ingest "$out/day" --db "$out/run.duckdb")
      else
        cmd=(python -m analyzer audit "$out/day" --db "$out/run.duckdb" --out-dir "$out/audit" --day 2025-12-01)
      fi
      t=$(LLMCOST_TIMINGS=1 PYTHONPATH="$code" /usr/bin/time -f "%e %U %S %M" "${cmd[@]}" 2>&1 >/dev/null |
        awk '/timing: read logs/ {r=$(NF-1)} /^[0-9.]+ [0-9.]+ [0-9.]+ [0-9]+$/ {t=$0} END {print t, r}')
      read -r wall user sys rss readlogs <<<"$t"
      echo "$code $what run $i: wall ${wall} s, cpu $(echo "$user + $sys" | bc) s, peak ${rss} KB, read logs ${readlogs} s"
    done
  done
done
rm -f "$out/run.duckdb" "$out/run.duckdb.wal"
