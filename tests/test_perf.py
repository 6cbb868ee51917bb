"""The collector switch of analyzer.perf: a pause ends with a freeze only in a process that asked for it (the
command line, the pool's workers), never in a library user such as this test session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from analyzer import perf
from analyzer.__main__ import PARENT_ALLOCATOR as PARENT_ALLOCATOR_TEXT
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


FAKE_POLARS = "import os\nSEEN = os.environ.get('_RJEM_MALLOC_CONF')\n"

TUNE = """
import os, sys
sys.path.insert(0, {fake!r})
from analyzer.__main__ import ALLOCATOR_ENV, PARENT_ALLOCATOR, tune_allocator
tuned = tune_allocator()
import polars
print(tuned, polars.SEEN == PARENT_ALLOCATOR, polars.SEEN, os.environ.get(ALLOCATOR_ENV))
"""


def test_the_command_loads_polars_with_its_allocator_settings_and_leaves_none_for_its_children(tmp_path) -> None:
    """`llmcost` loads polars with PARENT_ALLOCATOR set (jemalloc reads it then: a stand-in polars records what it
    saw), and removes the variable, so the processes it starts load polars with jemalloc's defaults; a setting the
    user made is left alone."""
    (tmp_path / "polars").mkdir()
    (tmp_path / "polars" / "__init__.py").write_text(FAKE_POLARS)
    probe = [sys.executable, "-c", TUNE.format(fake=str(tmp_path))]
    out = subprocess.run(probe, cwd=ROOT, capture_output=True, text=True, check=True, env=_unset())
    assert out.stdout.split() == ["True", "True", PARENT_ALLOCATOR_TEXT, "None"]
    env = {**_unset(), "_RJEM_MALLOC_CONF": "narenas:2"}
    out = subprocess.run(probe, cwd=ROOT, capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["False", "False", "narenas:2", "narenas:2"]


WORKERS = """
import os
from analyzer.__main__ import tune_allocator
assert tune_allocator()
from analyzer.backends.local import Local
pool = Local(2)
try:
    print(pool.map(os.getenv, ["_RJEM_MALLOC_CONF"] * 2))
finally:
    pool.close()
"""


def test_the_commands_workers_start_without_its_allocator_settings() -> None:
    """The pool's workers load polars with its own settings (polars sets them as it loads, and they inherit them
    from the fork server), not the command's short decay, which slowed the parsing 2.6x."""
    out = subprocess.run(
        [sys.executable, "-c", WORKERS], cwd=ROOT, capture_output=True, text=True, check=True, env=_unset()
    )
    seen = out.stdout.strip().splitlines()[-1]
    assert seen.startswith("[") and "dirty_decay_ms" in seen and PARENT_ALLOCATOR_TEXT not in seen


def _unset() -> dict[str, str]:
    """This session's environment without the allocator's settings (polars, loaded here, set them): a shell's."""
    return {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
