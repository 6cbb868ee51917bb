"""The collector switch of analyzer.perf: a pause ends with a freeze only in a process that asked for it (the
command line, the pool's workers), never in a library user such as this test session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from analyzer import perf
from analyzer.backends.local import Local

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import gc
from analyzer import perf
if {switch}:
    perf.freeze_after_pauses()
with perf.gc_paused():
    with perf.gc_paused():
        rows = [[i] for i in range(10_000)]
    inner = gc.get_freeze_count()
    paused = gc.isenabled()
print(inner, paused, gc.get_freeze_count() >= 10_000, gc.isenabled())
"""


def _probe(switch: bool) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(switch=switch)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def test_a_pause_ends_with_a_freeze_only_when_switched_on() -> None:
    # switched on: the outermost pause freezes what it built (the inner one leaves it to the outer), and the
    # collector runs again
    assert _probe(True) == ["0", "False", "True", "True"]
    # off (a library import): nothing frozen, the collector back on
    assert _probe(False) == ["0", "False", "False", "True"]


def test_the_command_line_switches_it_on_and_this_session_does_not() -> None:
    assert perf._freeze is False  # nothing imported by the tests turned it on
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from analyzer import perf; from analyzer.cli import main\n"
            "sys.argv = ['llmcost', '--version']\ntry:\n    main()\nexcept SystemExit:\n    pass\nprint(perf._freeze)",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split()[-1] == "True"


def _switch(_: int) -> bool:
    return perf._freeze


def test_the_pool_workers_switch_it_on() -> None:
    pool = Local(2)
    try:
        assert pool.map(_switch, [1, 2]) == [True, True]
    finally:
        pool.close()
