"""When a run's memory peaks, and in which process: every process of the command's tree sampled every 100 ms (as
bench.py samples it), then the summed peak with each process's share at that moment, each process's own peak, and
the summed peak in each tenth of the run. For `llmcost report`, the report's stages are placed on the same clock
from its `LLMCOST_TIMINGS=1` lines (set here), so the peak is named by the stage the parent was in.

    python bench/memory_timeline.py -- python -m analyzer report /tmp/bench/1M -o r.html --json r.json

Nothing here asserts anything.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import SAMPLE_EVERY, TreeSampler  # noqa: E402 - after the path is set

MIB = 1 << 20
STAGE = re.compile(r"llmcost: timing: (.+?) ([0-9.]+) s$")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = ap.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("no command given")
    sampler = TreeSampler(os.getpid())
    if sampler.read is None:
        sys.exit("no /proc and no psutil: nothing to sample")
    env = {**os.environ, "LLMCOST_TIMINGS": "1"}
    # stderr to a file, read once the command ends: a pipe read only then would stop a command that writes more
    # than the pipe holds (~64 KB: many warnings, a traceback) until it is killed
    series: list[tuple[float, dict[int, int]]] = []
    names: dict[int, str] = {}
    with tempfile.TemporaryFile(mode="w+") as log:
        start = time.monotonic()
        child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True)
        while child.poll() is None:
            tree = sampler.read(os.getpid())
            snap = {pid: rss for (pid, _), (rss, _, _) in tree.items()}
            for pid in snap:
                if pid not in names:
                    names[pid] = _name(pid)
            series.append((time.monotonic() - start, snap))
            time.sleep(SAMPLE_EVERY)
        ended = time.monotonic() - start
        log.seek(0)
        err = log.read()
    stages, total = _stages(err)
    lead = max(0.0, ended - total) if total else 0.0  # the stages' clock starts once the imports are done
    stages = [(end + lead, name) for end, name in stages]
    if not series:
        sys.exit("the command ended before the first sample")
    t, snap = max(series, key=lambda s: sum(s[1].values()))
    print(f"summed peak {sum(snap.values()) // MIB:,} MiB at {t:.1f} s ({_stage_at(stages, t)}):")
    for pid, rss in sorted(snap.items(), key=lambda p: -p[1]):
        print(f"  {rss // MIB:>7,} MiB  {pid:>7}  {names[pid]}")
    print("each process's own peak:")
    peaks: dict[int, tuple[int, float]] = {}
    for when, s in series:
        for pid, rss in s.items():
            if rss > peaks.get(pid, (0, 0.0))[0]:
                peaks[pid] = (rss, when)
    for pid, (rss, when) in sorted(peaks.items(), key=lambda p: -p[1][0]):
        print(f"  {rss // MIB:>7,} MiB at {when:6.1f} s ({_stage_at(stages, when)})  {pid:>7}  {names[pid]}")
    print("the summed peak in each tenth of the run:")
    n = len(series)
    for i in range(10):
        part = series[i * n // 10 : (i + 1) * n // 10]
        if part:
            when, s = max(part, key=lambda x: sum(x[1].values()))
            top = max(s.values(), default=0)
            print(
                f"  {part[0][0]:6.1f}-{part[-1][0]:6.1f} s: {sum(s.values()) // MIB:>7,} MiB at {when:.1f} s "
                f"({_stage_at(stages, when)}; largest process {top // MIB:,} MiB)"
            )


def _name(pid: int) -> str:
    """The process's command line (its start: a pool's workers share their fork server's) and its parent."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            line = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode(errors="replace")
        parent = stat[stat.rindex(")") + 2 :].split()[1]
    except (OSError, ValueError, IndexError):
        return "?"
    return f"(of {parent}) {' '.join(line.split())[:80]}"


def _stages(err: str) -> tuple[list[tuple[float, str]], float]:
    """Each stage's end, in seconds from the report's first stage, from its timing lines (in the order run), and
    the stages' total."""
    out: list[tuple[float, str]] = []
    at = total = 0.0
    for line in err.splitlines():
        m = STAGE.match(line.strip())
        if m is None or m.group(1).startswith("savings workers"):
            continue
        if m.group(1) == "total":
            total = float(m.group(2))
        else:
            at += float(m.group(2))
            out.append((at, m.group(1)))
    return out, total


def _stage_at(stages: list[tuple[float, str]], t: float) -> str:
    """The stage running at `t` seconds of the run."""
    if not stages:
        return "no stage timings"
    for end, name in stages:
        if t <= end:
            return name
    return "after the last stage"


if __name__ == "__main__":
    main()
