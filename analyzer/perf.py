"""Small performance helpers shared by the hot loops."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector around a loop that allocates millions of acyclic tuples, lists
    and strings: each collection walks every live object, and at 400k requests that doubled the time of
    thread reconstruction. Reference counting still frees everything; the collector resumes afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def give_freed_memory_back() -> None:
    """Arrow's default memory pool (mimalloc, or jemalloc) keeps the pages it frees for reuse, and a report
    frees a lot of Arrow memory once (DuckDB results turned into frames): the parent held ~130 MiB more at
    100k calls. The system allocator returns them; measured no slower on the traces. For the process, so
    the command line sets it, not a library import."""
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())
