"""Progress on long work: a display on a terminal only, per-stage timings on request, bytes read while ingesting."""

from __future__ import annotations

import gzip
import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest

from analyzer import progress
from analyzer.cli import cli
from analyzer.store import Store

from .conftest import ROOT, SAMPLES

STAGES = ("read logs", "price requests", "threads", "savings replays", "render html")


@pytest.fixture(autouse=True)
def _no_tracking_left():
    yield
    progress.finish()


def _calls(n: int) -> list[dict]:
    line = json.loads((SAMPLES / "openai_chat.jsonl").read_text().splitlines()[2])
    out = []
    for i in range(n):
        rec = json.loads(json.dumps(line))
        rec["timestamp"] += i
        rec["response"]["id"] = f"chatcmpl-progress-{i}"
        rec["request"]["messages"][0]["content"] = f"hello number {i}"
        out.append(rec)
    return out


def test_no_display_and_no_timings_when_stderr_is_not_a_terminal(runner, tmp_path, monkeypatch):
    # A zero delay would show the display at once if it were on: the test fails if the TTY check is lost.
    monkeypatch.setenv(progress.DELAY_ENV, "0")
    monkeypatch.delenv(progress.TIMINGS_ENV, raising=False)
    res = runner.invoke(cli, ["report", str(SAMPLES), "-o", str(tmp_path / "r.html")])
    assert res.exit_code == 0, res.output
    assert "\x1b[" not in res.stderr
    assert not any(s in res.stderr for s in STAGES), res.stderr
    assert "llmcost: timing" not in res.stderr
    assert [ln for ln in res.stderr.splitlines() if not ln.startswith("llmcost: note:")] == [
        ln for ln in res.stderr.splitlines() if ln.startswith(f"wrote {tmp_path / 'r.html'} (")
    ]
    assert not progress.active()


def test_timings_on_request_name_every_stage_with_its_seconds(runner, tmp_path, monkeypatch):
    monkeypatch.setenv(progress.TIMINGS_ENV, "1")
    res = runner.invoke(cli, ["report", str(SAMPLES), "--json", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    timed = dict(re.findall(r"^llmcost: timing: (.+) ([0-9.]+) s$", res.stderr, re.M))
    for name in (*STAGES[:-1], "check inputs", "render json", "total"):
        assert name in timed, (name, res.stderr)
    stages = [float(v) for k, v in timed.items() if k != "total"]
    assert all(v >= 0 for v in stages)
    assert sum(stages) <= float(timed["total"]) + 5e-4 * len(stages)  # each printed to the millisecond
    assert "timing" not in res.stdout
    if sys.platform == "linux":  # the parent's memory per stage, and its peak, which no stage start exceeds
        found = re.findall(
            r"^llmcost: memory: (.+?) ([0-9]+) MiB(?: at start, peak so far ([0-9]+) MiB)?$", res.stderr, re.M
        )
        mem = {k: int(v) for k, v, _ in found}
        assert set(mem) == {*(k for k in timed if k != "total"), "parent peak"}, res.stderr
        assert all(0 < v <= mem["parent peak"] + 1 for v in mem.values()), mem
        so_far = [int(p) for k, _, p in found if k != "parent peak"]
        assert len(so_far) == len(mem) - 1 and so_far == sorted(so_far), res.stderr  # a peak never falls
        assert all(mem[k] <= int(p) + 1 for k, _, p in found if k != "parent peak")  # nor is below the present
        assert so_far[-1] <= mem["parent peak"], res.stderr


def test_the_display_is_for_a_terminal_with_nothing_for_programs_on_stdout(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", Tty())
    assert progress.on_terminal(None, "report.html")
    assert not progress.on_terminal("report.html", "-")  # --json - : a program reads stdout
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not progress.on_terminal(None)


def test_forced_display_shows_bytes_read_of_the_total_then_each_stage():
    out = io.StringIO()
    tracker = progress.begin(display=True, timings=False, stream=out, delay=0, force_terminal=True)
    progress.stage("read logs")
    progress.reading(4_000_000)
    progress.file("a.jsonl (openai_chat)", 0)
    progress.advance_to(1_000_000)
    tracker._progress.refresh()
    progress.stage("threads")
    tracker._progress.refresh()
    stages = progress.finish()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    assert "read logs: a.jsonl (openai_chat)" in text
    assert "1.0 of 4.0 MB" in text
    assert "threads" in text and "0:00:0" in text  # the stage with its elapsed time
    assert [name for name, _ in stages] == ["read logs", "threads"]


def test_a_run_that_ends_before_its_first_stage_ends_cleanly(runner):
    """A command that fails before any stage (here --ray-address without --engine ray) leaves nothing behind that
    breaks the next command in the same process."""
    res = runner.invoke(cli, ["report", str(SAMPLES / "openai_chat.jsonl"), "--ray-address", "auto"])
    assert res.exit_code == 2 and "--ray-address needs --engine ray" in res.stderr
    assert not progress.active()
    progress.begin(display=False)
    assert progress.finish() == []
    assert runner.invoke(cli, ["report", str(SAMPLES / "openai_chat.jsonl")]).exit_code == 0


def test_a_delayed_display_never_appears_on_a_quick_run():
    out = io.StringIO()
    progress.begin(display=True, timings=False, stream=out, delay=30, force_terminal=True)
    progress.stage("read logs")
    progress.finish()
    assert out.getvalue() == ""


def test_ingest_reports_bytes_of_the_compressed_file_as_it_reads(tmp_path):
    path = tmp_path / "calls.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(json.dumps(r) for r in _calls(1200)) + "\n")
    size = path.stat().st_size

    class Recorder(progress.Tracker):
        def __init__(self) -> None:
            super().__init__(display=False, timings=False)
            self.seen: list[tuple[str, int]] = []

        def reading(self, total: int) -> None:
            self.seen.append(("total", total))

        def file(self, label: str, offset: int) -> None:
            self.seen.append((label, offset))

        def advance_to(self, in_file: int) -> None:
            self.seen.append(("at", in_file))

    rec = Recorder()
    progress._current = rec
    s = Store()
    try:
        assert s.ingest([str(path)]).rows == 1200
    finally:
        s.close()
    assert rec.seen[0] == ("total", size)
    assert rec.seen[1] == ("calls.jsonl.gz (openai_chat)", 0)
    at = [n for kind, n in rec.seen if kind == "at"]
    assert len(at) >= 4  # every 256 records
    assert at == sorted(at) and at[0] > 0 and at[-1] <= size  # bytes of the file on disk, not decompressed


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_on_a_real_terminal_the_display_runs_and_clears_itself(tmp_path):
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), progress.DELAY_ENV: "0", "TERM": "xterm", "COLUMNS": "120"}
    env.pop(progress.TIMINGS_ENV, None)
    html = tmp_path / "r.html"
    proc = subprocess.Popen(
        [sys.executable, "-m", "analyzer", "report", str(SAMPLES), "-o", str(html)],
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
        cwd=tmp_path,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1)
        if ready:
            try:
                b = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not b:
                break
            chunks.append(b)
        elif proc.poll() is not None:
            break
    os.close(master)
    stdout = proc.stdout.read()
    assert proc.wait(timeout=30) == 0
    err = b"".join(chunks).decode("utf-8", "replace")
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", err)
    for name in STAGES:
        assert name in plain, (name, plain[-2000:])
    assert re.search(r"read logs: \S+ \(\w+\)", plain)
    assert re.search(r"[0-9.]+ of [0-9.]+ [KMG]B", plain)
    assert "\x1b[2K" in err  # transient: the display erased its lines at the end
    assert "wrote " in plain and html.exists()
    # stdout holds the result alone, the headline (issue 22, item 13); the display and notes went to stderr
    assert stdout.startswith(b"Spend") and b"\x1b" not in stdout and b"wrote " not in stdout


def test_the_command_line_gives_arrows_freed_memory_back() -> None:
    """Arrow's default pool (mimalloc) keeps the pages it frees: after reading 100k calls the parent held
    ~130 MiB more at its peak (1,320 -> 1,190 MiB, bench/RESULTS.md). `llmcost` runs with the system allocator,
    which gives them back."""
    code = (
        "import sys, pyarrow as pa\n"
        "from analyzer.cli import main\n"
        "sys.argv = ['llmcost', 'formats']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('POOL', pa.default_memory_pool().backend_name)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.splitlines()[-1] == "POOL system"
