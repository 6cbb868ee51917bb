"""Small performance helpers shared by the hot loops."""

from __future__ import annotations

import gc
import platform
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any, cast

_freeze = False  # see freeze_after_pauses


def freeze_after_pauses() -> None:
    """In a process that runs one command and ends (the command line, the pool's workers), end each pause of the
    collector (`gc_paused`) by freezing what is alive then (`gc.freeze`, which moves the collector's lists,
    walking nothing). The objects a paused loop built (an engine's calls, the threads' lists) are acyclic and
    mostly long-lived, and without this the first collections after the pause walk every one of them, and
    then again in each older generation: 0.48 s of collector time on the real traces with one process, 0.09 s
    with this, and ~0.45 s of the two workers' time in a pooled run. Reference counting still frees frozen
    objects; only a reference cycle already unreachable at the freeze is never collected, which a process that
    ends with its command can afford and a library imported by a long-lived one (a test session) should not
    be made to: hence a switch, not the default."""
    global _freeze
    _freeze = True


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector around a loop that allocates millions of acyclic tuples, lists
    and strings: each collection walks every live object, and at 400k requests that doubled the time of
    thread reconstruction. Reference counting still frees everything; the collector resumes afterwards (see
    `freeze_after_pauses` for what it then walks)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if _freeze:
                gc.freeze()
            gc.enable()


def give_freed_memory_back() -> None:
    """Arrow's default memory pool (mimalloc, or jemalloc) keeps the pages it frees for reuse, and a report
    frees a lot of Arrow memory once (DuckDB results turned into frames): the parent held ~130 MiB more at
    100k calls. The system allocator returns them; measured no slower on the traces. For the process, so
    the command line sets it, not a library import."""
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())


def return_free_heap(collect: bool = True) -> bool:
    """Give the C heap's free pages back to the system (glibc's `malloc_trim`), after a collection when
    `collect`. glibc keeps what the process frees for reuse (Arrow's buffers too: the command line puts Arrow on
    the system allocator, `give_freed_memory_back`), and a report's parent frees a lot of it between stages: a
    DuckDB result turned into a frame, a stage's intermediate frames. At a million calls the trim before the
    wait took the parent from 4,354 to 3,609 MiB in 0.14 s, collection included; without a collection it takes
    milliseconds, which is what the report does before each stage (report.structure.next_stage). False where
    there is no glibc (macOS, musl): nothing is done."""
    if collect:
        gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        import ctypes

        return cast(Callable[[int], int], ctypes.CDLL("libc.so.6").malloc_trim)
    except (OSError, AttributeError):
        return None


def shed_file_blocks(con: Any) -> int:
    """Let DuckDB drop the blocks of a database file it keeps after reading them; the bytes of them it let go (0
    for an in-memory database, whose tables are its memory and stay). DuckDB keeps every block it has read until
    its memory limit (80% of RAM) forces some out: at a million calls, the blocks of the contents and messages the
    conversations read (~300 MiB) sat in the report's parent for the rest of the run, the replays' wait included.
    Lowering the limit to what the rest of its memory takes (temporary tables, hash tables) and setting it back at
    once makes the buffer pool drop them (~0.05 s); a later query reads what it needs again (all the contents at a
    million calls: 0.4 s). Nothing is lost: those blocks are in the file, and where the limit cannot be met without
    writing temporary data out, DuckDB refuses it and everything stays as it was. Only while no other thread of
    this process queries DuckDB: a query running beside the low limit could run out of memory."""
    import duckdb

    def file_blocks() -> tuple[int, int]:
        rows = con.execute("SELECT tag, memory_usage_bytes FROM duckdb_memory()").fetchall()
        return sum(b for t, b in rows if t == "BASE_TABLE"), sum(b for t, b in rows if t != "BASE_TABLE")

    try:
        ((path,),) = con.execute(
            "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
        ).fetchall()
        held, rest = file_blocks()
        if not path or held < SHED_FROM_BYTES:
            return 0
        limit = _memory_limit(con)
    except duckdb.Error:
        return 0
    try:
        con.execute(f"SET memory_limit = '{rest + SHED_MARGIN_BYTES}B'")
    except duckdb.Error:
        pass  # only by writing temporary data out: nothing dropped
    finally:
        # back to the default exactly, or to a limit someone set as DuckDB prints it (cut to a tenth of its unit,
        # hence the half tenth: set again and printed, it reads the same)
        con.execute("RESET memory_limit")
        if _memory_limit(con) != limit:
            shown = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?) ?([A-Za-z]+)", limit)
            con.execute(
                f"SET memory_limit = '{float(shown[1]) + 0.05}{shown[2]}'" if shown else f"SET memory_limit = '{limit}'"
            )
    return max(held - file_blocks()[0], 0)


def _memory_limit(con: Any) -> str:
    ((limit,),) = con.execute("SELECT current_setting('memory_limit')").fetchall()
    return str(limit)


SHED_FROM_BYTES = 64 * 2**20  # file blocks held below this are left alone (not worth a later query's reading)
SHED_MARGIN_BYTES = 16 * 2**20  # the limit they are shed to: the rest of DuckDB's memory and this
