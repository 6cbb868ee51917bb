"""Whole-process benchmark: `llmcost report` (in memory and with --db) against the naive script and the DuckDB
scan floor, on one folder of logs.

    python bench/make_log.py /tmp/logs20k --calls 20000
    python bench/bench.py /tmp/logs20k --runs 3 --label "20k calls" > /tmp/20k.md
    python bench/bench.py /tmp/logs20k --workers 2 --workers 1 --skip naive    # 2 against 1 worker process
    python bench/bench.py ../shared/traces/mini_swe_agent_deepseek_test --runs 3 --label "real traces"
    python bench/bench.py /tmp/logs20k --stored --skip db --skip naive --skip scan  # also `report --db` on a store

For each run, under GNU time (`/usr/bin/time -v`) while a sampler thread reads the whole process tree every
~50 ms (psutil if installed, else /proc):

- wall seconds;
- CPU seconds, user+sys of every process of the run: GNU time's figure (it counts every child its parent
  reaped), or the sum of each sampled process's last CPU if that is larger (a pool worker whose parent exits
  without reaping it escapes GNU time);
- peak memory as the peak of the SUM of the resident sets of every process of the tree (the report and its
  worker processes; pages a forked worker shares with its parent are counted once per process, so this is an
  upper bound); the same with file-backed pages (RssFile: the shared libraries, polars, DuckDB, Python, that
  every process maps) counted once, as the largest process's (closer to what the machine gives up; anonymous
  copy-on-write pages a worker still shares with the fork server are still counted twice); and GNU time's
  maximum RSS, which is one process's;
- per-stage seconds from the report's own `LLMCOST_TIMINGS=1` lines;
- the 1-minute load average during the run (a shared machine shows here).

Runs go round-robin (run 1 of every variant, then run 2, ...) so a burst of someone else's load spreads over the
variants; tables give medians. `--workers N` (repeatable) runs the report variants with LLMCOST_WORKERS=N, so one
table shows 1 against 2 workers; without it llmcost picks its default. `--raw FILE` appends every run as a JSON
line. `--stored` adds `llmcost report --db STORE` on a database ingested once before the runs (not timed): the
read-only path of a report on a nightly job's store, where the rebuilt threads are laid over `requests` by a view
(a query over it once took 14 GB at 1M calls that took 0.4 GB from the logs). Prints Markdown (machine, date, the
table, the stages) for bench/RESULTS.md. Runs the code of this checkout (PYTHONPATH is set to it), not whatever
llmcost is installed, byte-compiled first (`compiled`: as a user's second run finds it). Not a test: nothing here
asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analyzer.inputs import expand_paths  # noqa: E402 - after the path is set

try:
    import psutil  # optional: not a dependency of llmcost; /proc does the same on Linux
except ImportError:
    psutil = None

TIME = "/usr/bin/time"
WORKERS_ENV = "LLMCOST_WORKERS"  # analyzer/backends/base.py's default --workers
SAMPLE_EVERY = 0.05  # seconds between samples of the process tree
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass
class Run:
    wall: float
    cpu: float  # user+sys of the whole tree: the larger of GNU time's and the samples'
    rss_kb: int  # GNU time: the largest single process
    tree_rss_kb: int  # peak of the sum over every process of the tree
    # the same with file-backed pages (the shared libraries every process maps: polars, DuckDB, Python) counted
    # once, as the largest process's, instead of once per process
    tree_own_kb: int
    processes: int  # most processes alive at once in the tree
    load: tuple[float, float]  # lowest and highest 1-minute load average seen during the run
    gnu_cpu: float = 0.0
    sampled_cpu: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)


@dataclass
class Variant:
    name: str
    cmd: list[str]
    env: dict[str, str]
    before: list[Path]  # files removed before each run (a fresh database)


def _file_rss(pid: int) -> int:
    """Bytes of the resident set that are file-backed (RssFile of /proc/PID/status), 0 if unknown."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"RssFile:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _tree_proc(root: int) -> dict[tuple[int, int], tuple[int, int, float]]:
    """{(pid, start time): (RSS bytes, file-backed RSS bytes, CPU seconds)} for every descendant of `root`, from
    /proc/PID/stat and status."""
    stats: dict[int, list[str]] = {}
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                raw = fh.read().decode(errors="replace")
        except OSError:  # ended between listdir and open
            continue
        rest = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) ": comm may hold spaces and parentheses
        pid = int(name)
        stats[pid] = rest
        children.setdefault(int(rest[1]), []).append(pid)
    out: dict[tuple[int, int], tuple[int, float]] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        f = stats[pid]  # fields 3.. of proc(5): f[0] is state; utime f[11], stime f[12], starttime f[19], rss f[21]
        out[(pid, int(f[19]))] = (int(f[21]) * PAGE, _file_rss(pid), (int(f[11]) + int(f[12])) / TICKS)
    return out


def _tree_psutil(root: int) -> dict[tuple[int, int], tuple[int, int, float]]:
    out: dict[tuple[int, int], tuple[int, int, float]] = {}
    try:
        procs = psutil.Process(root).children(recursive=True)
    except psutil.Error:
        return out
    for p in procs:
        try:
            with p.oneshot():
                t = p.cpu_times()
                m = p.memory_info()
                out[(p.pid, int(p.create_time() * 1000))] = (m.rss, getattr(m, "shared", 0), t.user + t.system)
        except psutil.Error:
            continue
    return out


class TreeSampler(threading.Thread):
    """Samples the process tree under `root` until stopped: the peak of its summed RSS, each process's last CPU."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.read = _tree_psutil if psutil is not None else _tree_proc if os.path.isdir("/proc") else None
        self.peak_rss = 0
        self.peak_own = 0
        self.most = 0
        self.cpu: dict[tuple[int, int], float] = {}
        self.loads: list[float] = []
        self.halt = threading.Event()

    def run(self) -> None:
        if self.read is None:
            return
        last_load = 0.0
        while not self.halt.is_set():
            tree = self.read(self.root)
            self.peak_rss = max(self.peak_rss, sum(rss for rss, _, _ in tree.values()))
            if tree:
                own = sum(rss - f for rss, f, _ in tree.values()) + max(f for _, f, _ in tree.values())
                self.peak_own = max(self.peak_own, own)
            self.most = max(self.most, len(tree))
            for key, (_, _, cpu) in tree.items():
                self.cpu[key] = max(cpu, self.cpu.get(key, 0.0))
            now = time.monotonic()
            if now - last_load >= 1.0:
                self.loads.append(os.getloadavg()[0])
                last_load = now
            self.halt.wait(SAMPLE_EVERY)

    def stop(self) -> None:
        self.halt.set()
        self.join()
        self.loads.append(os.getloadavg()[0])


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
        proc = subprocess.Popen(
            [TIME, "-v", "-o", tf.name, *cmd], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        sampler = TreeSampler(proc.pid)  # the tree under GNU time: the command and everything it starts
        sampler.start()
        _, stderr = proc.communicate()
        sampler.stop()
        report = Path(tf.name).read_text()
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{stderr[-2000:]}")

    def field_of(name: str) -> str:
        m = re.search(rf"^\s*{re.escape(name)}: (.+)$", report, re.M)
        if not m:
            raise SystemExit(f"GNU time printed no {name!r}:\n{report}")
        return m.group(1).strip()

    timing = re.finditer(r"^llmcost: timing: (.+) ([0-9.]+) s$", stderr, re.M)
    stages = {m.group(1): float(m.group(2)) for m in timing}
    # analyzer/savings/partitioned.py: "savings workers N, lanes L, bins B, CPU s C1 C2 ..." (the workers' own CPU;
    # before lanes, without "lanes L")
    line = r"^llmcost: timing: savings workers (\d+), (?:lanes (\d+), )?bins (\d+), CPU s ([0-9. ]+)$"
    if m := re.search(line, stderr, re.M):
        stages["savings replays: lanes"] = float(m.group(2) or 1)
        stages["savings replays: bins"] = float(m.group(3))
        stages["savings replays: workers' CPU s"] = sum(float(x) for x in m.group(4).split())
    gnu_cpu = float(field_of("User time (seconds)")) + float(field_of("System time (seconds)"))
    sampled_cpu = sum(sampler.cpu.values())
    rss_kb = int(field_of("Maximum resident set size (kbytes)"))
    return Run(
        wall=_seconds(field_of("Elapsed (wall clock) time (h:mm:ss or m:ss)")),
        cpu=max(gnu_cpu, sampled_cpu),
        rss_kb=rss_kb,
        # a run shorter than one sample interval: GNU time's one process is all there is
        tree_rss_kb=max(sampler.peak_rss // 1024, rss_kb),
        tree_own_kb=sampler.peak_own // 1024 or rss_kb,
        processes=sampler.most,
        load=(min(sampler.loads), max(sampler.loads)),
        gnu_cpu=gnu_cpu,
        sampled_cpu=sampled_cpu,
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


STORED = "stored.duckdb"  # the database of the `stored` variant, in the run's work folder


def variants_of(args: argparse.Namespace, files: list[str], work: Path) -> dict[str, Variant]:
    py = sys.executable
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LLMCOST_TIMINGS": "1"}
    env.pop("LLMCOST_PROGRESS_DELAY", None)
    env.pop(WORKERS_ENV, None)  # llmcost's own default unless --workers says otherwise
    db = work / "bench.duckdb"
    outputs = ["-o", str(work / "report.html"), "--json", str(work / "summary.json")]
    out: dict[str, Variant] = {}
    for w in args.workers or [None]:
        wenv = env if w is None else {**env, WORKERS_ENV: str(w)}
        tag = "" if w is None else f", {w} worker{'s' if w > 1 else ''}"
        suffix = "" if w is None else f"-w{w}"
        out["memory" + suffix] = Variant(
            f"`llmcost report` (in memory{tag})", [py, "-m", "analyzer", "report", args.logs, *outputs], wenv, []
        )
        out["db" + suffix] = Variant(
            f"`llmcost report --db` (new database{tag})",
            [py, "-m", "analyzer", "report", args.logs, "--db", str(db), *outputs],
            wenv,
            [db, Path(f"{db}.wal")],
        )
        if args.stored:
            out["stored" + suffix] = Variant(
                f"`llmcost report --db` (a stored database, read-only{tag})",
                [py, "-m", "analyzer", "report", "--db", str(work / STORED), *outputs],
                wenv,
                [],
            )
    out["naive"] = Variant("naive script (bench/naive.py)", [py, str(ROOT / "bench" / "naive.py"), *files], env, [])
    out["scan"] = Variant("DuckDB scan floor (bench/scan.py)", [py, str(ROOT / "bench" / "scan.py"), *files], env, [])
    return {k: v for k, v in out.items() if k.split("-w")[0] not in args.skip}


def compiled() -> None:
    """The checkout's modules byte-compiled, as any run writes them for the next one where Python may write them.
    This machine sets PYTHONDONTWRITEBYTECODE=1, so without this every run, and every fork server, compiled the
    whole package again: ~0.1 s of each process's start (`python -m analyzer --help`: 0.44 against 0.33 s), which
    a user pays once. (The naive script is one file run as a script: Python compiles it every time either way.)"""
    import compileall

    compileall.compile_dir(ROOT / "analyzer", quiet=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("logs", help="a folder (or file) of logs")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--label", default=None)
    ap.add_argument("--skip", action="append", default=[], help="leave out a variant (memory, db, stored, naive, scan)")
    ap.add_argument(
        "--workers", type=int, action="append", default=[], help=f"run the report with {WORKERS_ENV}=N (repeatable)"
    )
    ap.add_argument("--raw", type=Path, help="append every run to this file as a JSON line")
    ap.add_argument(
        "--stored", action="store_true", help="also run `report --db` on a database ingested once before the runs"
    )
    args = ap.parse_args()
    if not shutil.which(TIME):
        raise SystemExit(f"{TIME} (GNU time) is needed: apt-get install time")
    files = [str(p) for p, _ in expand_paths([args.logs])]
    size = sum(Path(f).stat().st_size for f in files)
    compiled()
    work = Path(tempfile.mkdtemp(prefix="llmcost-bench-"))
    variants = variants_of(args, files, work)
    if any(k.startswith("stored") for k in variants):  # the store the `stored` variant reads, made once, not timed
        made = subprocess.run(
            [sys.executable, "-m", "analyzer", "ingest", args.logs, "--db", str(work / STORED)],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
        )
        if made.returncode != 0:
            raise SystemExit(f"llmcost ingest {args.logs} failed (exit {made.returncode}): no store for --stored")
    label = args.label or args.logs
    results: dict[str, list[Run]] = {k: [] for k in variants}
    started = datetime.now(UTC)
    try:
        for i in range(args.runs):
            for key, v in variants.items():
                r = run_once(v.cmd, v.env, v.before)
                results[key].append(r)
                print(
                    f"{v.name} run {i + 1}: wall {r.wall:.2f} s, cpu {r.cpu:.2f} s (GNU time {r.gnu_cpu:.2f}, "
                    f"samples {r.sampled_cpu:.2f}), peak RSS sum {r.tree_rss_kb / 1024:,.0f} MiB over up to "
                    f"{r.processes} processes (largest one {r.rss_kb / 1024:,.0f} MiB; shared libraries once "
                    f"{r.tree_own_kb / 1024:,.0f} MiB), "
                    f"load {r.load[0]:.1f}-{r.load[1]:.1f}",
                    file=sys.stderr,
                )
                if args.raw:
                    with args.raw.open("a") as fh:
                        fh.write(json.dumps({"label": label, "variant": key, "run": i + 1, **asdict(r)}) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ended = datetime.now(UTC)
    print(f"### {label}: {len(files)} file(s), {size / 1e6:,.0f} MB on disk\n")
    print(machine())
    loads = [x for runs in results.values() for r in runs for x in r.load]
    print(
        f"Runs from {started:%H:%M} to {ended:%H:%M} UTC, round-robin; 1-minute load average during them "
        f"{min(loads):.1f}-{max(loads):.1f} (2 cores: above ~1 means other work shared them). "
        f"Medians of {args.runs} run(s) each.\n"
    )
    print(table(results, variants))
    print(stage_table(results, variants))


def table(results: dict[str, list[Run]], variants: dict[str, Variant]) -> str:
    naive_wall = statistics.median(r.wall for r in results["naive"]) if results.get("naive") else None
    lines = [
        "| what | wall s | CPU s (user+sys, all processes) | CPU/wall | peak memory (sum of processes) "
        "| the same, shared libraries once | largest process (GNU time) | naive wall / this wall |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, runs in results.items():
        wall = statistics.median(r.wall for r in runs)
        cpu = statistics.median(r.cpu for r in runs)
        tree = statistics.median(r.tree_rss_kb for r in runs) / 1024
        own = statistics.median(r.tree_own_kb for r in runs) / 1024
        rss = statistics.median(r.rss_kb for r in runs) / 1024
        ratio = f"{naive_wall / wall:.2f}x" if naive_wall and key != "naive" else ""
        lines.append(
            f"| {variants[key].name} | {wall:.2f} | {cpu:.2f} | {cpu / wall:.2f} | {tree:,.0f} MiB | {own:,.0f} MiB "
            f"| {rss:,.0f} MiB "
            f"| {ratio} |"
        )
    return "\n".join(lines)


def stage_table(results: dict[str, list[Run]], variants: dict[str, Variant]) -> str:
    staged = [k for k in results if k.startswith(("memory", "db", "stored"))]
    if not staged:
        return ""
    names: list[str] = []
    for k in staged:
        for r in results[k]:
            names.extend(n for n in r.stages if n not in names)
    lines = [
        "\nPer stage (LLMCOST_TIMINGS=1), median seconds:\n",
        "| stage | " + " | ".join(variants[k].name for k in staged) + " |",
        "|---|" + "---:|" * len(staged),
    ]
    for n in names:
        cells = []
        for k in staged:
            vals = [r.stages[n] for r in results[k] if n in r.stages]
            cells.append(f"{statistics.median(vals):.2f}" if vals else "")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
