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


def _base_table_bytes(con) -> tuple[int, int, int]:
    rows = con.execute("SELECT tag, memory_usage_bytes, temporary_storage_bytes FROM duckdb_memory()").fetchall()
    return (
        sum(b for t, b, _ in rows if t == "BASE_TABLE"),
        sum(b for t, b, _ in rows if t == "IN_MEMORY_TABLE"),
        sum(s for _, _, s in rows),
    )


def test_a_database_files_blocks_are_shed_and_nothing_else(tmp_path, monkeypatch) -> None:
    """`shed_file_blocks`: DuckDB keeps the blocks of a database file it has read (~300 MiB of contents and messages
    through a million calls' report); they go, the memory limit comes back as it was, a temporary table stays in
    memory (never written out), and an in-memory database is left alone (its tables are its memory)."""
    import duckdb

    monkeypatch.setattr(perf, "SHED_FROM_BYTES", 1 << 20)
    monkeypatch.setattr(perf, "SHED_MARGIN_BYTES", 1 << 20)
    path = tmp_path / "s.duckdb"
    with duckdb.connect(str(path)) as w:
        w.execute("CREATE TABLE contents AS SELECT i, repeat(md5(i::VARCHAR), 20) AS text FROM range(60000) t(i)")
    con = duckdb.connect(str(path), read_only=True)
    default = con.execute("SELECT current_setting('memory_limit')").fetchall()
    con.execute("CREATE TEMP TABLE kept AS SELECT * FROM contents WHERE i % 3 = 0")
    ((total,),) = con.execute("SELECT sum(length(text)) FROM contents").fetchall()
    held, in_memory, spilled = _base_table_bytes(con)
    assert held > 8 << 20 and in_memory > 4 << 20 and spilled == 0
    shed = perf.shed_file_blocks(con)
    after, in_memory_after, spilled_after = _base_table_bytes(con)
    assert shed == held - after and after < held // 4
    assert in_memory_after == in_memory and spilled_after == 0
    assert con.execute("SELECT current_setting('memory_limit')").fetchall() == default
    assert con.execute("SELECT sum(length(text)) FROM contents").fetchall() == [(total,)]
    assert con.execute("SELECT count(*) FROM kept").fetchall() == [(20000,)]
    # a limit someone set comes back as it reads, however often
    con.execute("SET memory_limit = '3GB'")
    shown = con.execute("SELECT current_setting('memory_limit')").fetchall()
    for _ in range(3):
        con.execute("SELECT sum(length(text)) FROM contents").fetchall()
        assert perf.shed_file_blocks(con) > 0
    assert con.execute("SELECT current_setting('memory_limit')").fetchall() == shown
    mem = duckdb.connect()
    mem.execute("CREATE TABLE contents AS SELECT i, repeat(md5(i::VARCHAR), 20) AS text FROM range(60000) t(i)")
    assert perf.shed_file_blocks(mem) == 0
    assert mem.execute("SELECT count(*) FROM contents").fetchall() == [(60000,)]


def test_the_report_sheds_file_blocks_only_while_no_other_thread_queries(monkeypatch) -> None:
    """The report's parent lowers DuckDB's limit (`shed_file_blocks`) while its replays' thread is known not to
    query: that thread's one query, the routing plan, waits for the parent's own stages only with one lane and
    `plan_after` (`start_estimates`); with several lanes the plan is made at once, beside the parent's queries."""
    import threading

    import duckdb
    import polars as pl

    from analyzer.savings import run

    class Engine:
        def __init__(self, lanes: int) -> None:
            self.parallel = lanes

        def set_threads(self, threads):
            raise RuntimeError("stop here")  # the thread ends; only the flag is looked at

        def close(self) -> None:
            pass

    def pending(lanes: int, after: threading.Event | None) -> run.Pending:
        started = run.Pending(lambda: Engine(lanes), background=False)
        empty = pl.DataFrame()
        con = duckdb.connect()
        return run.start_estimates(con, empty, None, empty, None, {}, started=started, plan_after=after)  # type: ignore[arg-type]

    assert pending(1, threading.Event()).db_waits
    assert not pending(2, threading.Event()).db_waits
    assert not pending(1, None).db_waits
    assert run.Pending(lambda: None, background=False).db_waits  # computed when asked, in the caller's thread


def test_a_report_on_a_database_file_sheds_its_blocks_after_the_conversations_and_the_plan(tmp_path, monkeypatch):
    """Where the report sheds: after the conversations (the contents they read), after its own stages (before the
    replays' thread may query), and once the routing plan is made (each request's last user message); the same
    report either way."""
    import json
    import threading

    from click.testing import CliRunner

    from analyzer.cli import cli
    from tests.conftest import SAMPLES

    db = str(tmp_path / "s.duckdb")
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", str(SAMPLES), "--db", db]).exit_code == 0

    def report(name: str) -> dict:
        out = tmp_path / f"{name}.json"
        assert (
            runner.invoke(
                cli, ["report", "--db", db, "-o", str(tmp_path / f"{name}.html"), "--json", str(out)]
            ).exit_code
            == 0
        )
        d = json.loads(out.read_text())
        d["meta"].pop("generated_at")
        return d

    plain = report("plain")
    calls: list[str] = []
    real = perf.shed_file_blocks

    def spy(con) -> int:
        calls.append(threading.current_thread().name)
        return real(con)

    monkeypatch.setattr(perf, "shed_file_blocks", spy)
    monkeypatch.setattr("analyzer.savings.run.shed_file_blocks", spy)
    shed = report("shed")
    assert calls.count("MainThread") == 2 and len(calls) == 3
    assert [c for c in calls if c != "MainThread"][0].startswith("llmcost-routing-plan")
    assert shed == plain
