"""Small performance helpers shared by the hot loops."""

from __future__ import annotations

import gc
import platform
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import cast

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
