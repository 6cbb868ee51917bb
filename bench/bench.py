"""Whole-process benchmark: `llmcost report` (in memory and with --db) against the naive script and the DuckDB
scan floor, on one folder of logs. Wall, CPU (user+sys), CPU/wall and peak RSS come from GNU time (`/usr/bin/time
-v`), the medians of --runs runs; per-stage seconds from the report's own LLMCOST_TIMINGS=1 lines.

    python bench/make_log.py /tmp/logs20k --calls 20000
    python bench/bench.py /tmp/logs20k --runs 3 --label "20k calls" > /tmp/20k.md
    python bench/bench.py ../shared/traces/mini_swe_agent_deepseek_test --runs 3 --label "real traces"

Prints Markdown (machine, date, the table, the stages) for bench/RESULTS.md. Runs the code of this checkout
(PYTHONPATH is set to it), not whatever llmcost is installed. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analyzer.inputs import expand_paths  # noqa: E402 - after the path is set

TIME = "/usr/bin/time"


@dataclass
class Run:
    wall: float
    cpu: float
    rss_kb: int
    stages: dict[str, float] = field(default_factory=dict)


def _seconds(clock: str) -> float:
    """GNU time's "h:mm:ss" or "m:ss.ss"."""
    parts = [float(p) for p in clock.split(":")]
    out = 0.0
    for p in parts:
        out = out * 60 + p
    return out


def run_once(cmd: list[str], env: dict[str, str], before: list[Path]) -> Run:
    for p in before:  # a fresh database every run: each run ingests the whole log
        p.unlink(missing_ok=True)
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        proc = subprocess.run([TIME, "-v", "-o", tf.name, *cmd], env=env, capture_output=True, text=True)
        report = Path(tf.name).read_text()
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")

    def field_of(name: str) -> str:
        m = re.search(rf"^\s*{re.escape(name)}: (.+)$", report, re.M)
        if not m:
            raise SystemExit(f"GNU time printed no {name!r}:\n{report}")
        return m.group(1).strip()

    timing = re.finditer(r"^llmcost: timing: (.+) ([0-9.]+) s$", proc.stderr, re.M)
    stages = {m.group(1): float(m.group(2)) for m in timing}
    return Run(
        wall=_seconds(field_of("Elapsed (wall clock) time (h:mm:ss or m:ss)")),
        cpu=float(field_of("User time (seconds)")) + float(field_of("System time (seconds)")),
        rss_kb=int(field_of("Maximum resident set size (kbytes)")),
        stages=stages,
    )


def machine() -> str:
    nproc = os.cpu_count()
    mem = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.rstrip()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return (
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; llmcost commit {commit.stdout.strip() or '?'}; "
        f"Python {platform.python_version()}\n"
        f"- `nproc`: {nproc} ({model})\n"
        f"- `free -h`:\n\n```\n{mem}\n```\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("logs", help="a folder (or file) of logs")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--label", default=None)
    ap.add_argument("--skip", action="append", default=[], help="leave out a variant (memory, db, naive, scan)")
    args = ap.parse_args()
    if not shutil.which(TIME):
        raise SystemExit(f"{TIME} (GNU time) is needed: apt-get install time")
    files = [str(p) for p, _ in expand_paths([args.logs])]
    size = sum(Path(f).stat().st_size for f in files)
    work = Path(tempfile.mkdtemp(prefix="llmcost-bench-"))
    db = work / "bench.duckdb"
    py = sys.executable
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LLMCOST_TIMINGS": "1"}
    env.pop("LLMCOST_PROGRESS_DELAY", None)
    outputs = ["-o", str(work / "report.html"), "--json", str(work / "summary.json")]
    variants = {
        "memory": ("`llmcost report` (in memory)", [py, "-m", "analyzer", "report", args.logs, *outputs], []),
        "db": (
            "`llmcost report --db` (new database)",
            [py, "-m", "analyzer", "report", args.logs, "--db", str(db), *outputs],
            [db, Path(f"{db}.wal")],
        ),
        "naive": ("naive script (bench/naive.py)", [py, str(ROOT / "bench" / "naive.py"), *files], []),
        "scan": ("DuckDB scan floor (bench/scan.py)", [py, str(ROOT / "bench" / "scan.py"), *files], []),
    }
    results: dict[str, list[Run]] = {}
    for key, (name, cmd, before) in variants.items():
        if key in args.skip:
            continue
        results[key] = []
        for i in range(args.runs):
            r = run_once(cmd, env, before)
            results[key].append(r)
            say = f"{name} run {i + 1}: wall {r.wall:.2f} s, cpu {r.cpu:.2f} s, rss {r.rss_kb / 1024:.0f} MiB"
            print(say, file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)

    label = args.label or args.logs
    naive_wall = statistics.median(r.wall for r in results["naive"]) if "naive" in results else None
    print(f"### {label}: {len(files)} file(s), {size / 1e6:,.0f} MB on disk\n")
    print(machine())
    print(f"Medians of {args.runs} run(s) each.\n")
    print("| what | wall s | CPU s (user+sys) | CPU/wall | peak RSS | naive wall / this wall |")
    print("|---|---:|---:|---:|---:|---:|")
    for key, runs in results.items():
        wall = statistics.median(r.wall for r in runs)
        cpu = statistics.median(r.cpu for r in runs)
        rss = statistics.median(r.rss_kb for r in runs) / 1024
        ratio = f"{naive_wall / wall:.2f}x" if naive_wall and key != "naive" else ""
        print(f"| {variants[key][0]} | {wall:.2f} | {cpu:.2f} | {cpu / wall:.2f} | {rss:,.0f} MiB | {ratio} |")
    staged = [k for k in ("memory", "db") if k in results]
    if staged:
        names: list[str] = []
        for k in staged:
            for r in results[k]:
                names.extend(n for n in r.stages if n not in names)
        print("\nPer stage (LLMCOST_TIMINGS=1), median seconds:\n")
        print("| stage | " + " | ".join(variants[k][0] for k in staged) + " |")
        print("|---|" + "---:|" * len(staged))
        for n in names:
            cells = []
            for k in staged:
                vals = [r.stages[n] for r in results[k] if n in r.stages]
                cells.append(f"{statistics.median(vals):.2f}" if vals else "")
            print(f"| {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
