"""Work done ahead of the merge, on threads of this process: the backend's results for the next units, fetched
a window at a time while this process merges the ones before (`Prefetch`), and the sha256 of the files cut into
ranges (`Hashes`), computed while the workers parse them. Apart from the run, which only asks for results in
order.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from analyzer.backends.base import Backend
from analyzer.ingest.parse import Parsed
from analyzer.ingest.units import Planned, Unit
from analyzer.inputs import as_path, sha256_file, text_bytes


class Hashes:
    """The sha256 of the files cut into ranges, computed on a thread of this process while the workers parse
    them (hashlib releases the GIL): their bytes are read once more, but not on the way of the parsing."""

    def __init__(self, plan: list[Planned]) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._jobs: dict[int, Future[tuple[str, int]]] = {}
        todo = [p for p in plan if p.sha256 is None]
        if todo:
            self._pool = ThreadPoolExecutor(max_workers=1)
            self._jobs = {id(p): self._pool.submit(sha256_file, p.path) for p in todo}

    def result(self, p: Planned) -> tuple[str, int]:
        if p.sha256 is not None and p.stat is not None:
            return p.sha256, p.stat[0]
        return self._jobs[id(p)].result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


WINDOW_BYTES = 1 << 20  # input a window of units holds at least (unless the units run out): ~0.1-0.3 s of parsing
WINDOW_UNITS = 500


def _bytes(u: Unit) -> int:
    """About how much text the unit holds."""
    if u.end is not None:
        return u.end - u.start
    try:
        return text_bytes(as_path(u.path), os.stat(u.path).st_size)
    except OSError:
        return 0  # its reading says what is wrong


class Prefetch:
    """The backend's results for a list of units, in unit order. Units go to the backend a window at a time,
    two windows in flight (so the workers do not wait for a window's slowest unit, nor for this process merging
    the one before): at most about three windows of results are held at once."""

    def __init__(self, backend: Backend, fn: Callable[[Unit], Parsed], units: list[Unit]) -> None:
        window = max(2, 2 * max(1, getattr(backend, "workers", 1)))
        self._backend, self._fn = backend, fn
        # A window holds at least `window` units and WINDOW_BYTES of input: a few large ranges or files, or many
        # small files (a round trip per window of 4 small session files cost more than parsing them).
        self._chunks: list[list[Unit]] = []
        chunk: list[Unit] = []
        size = 0
        for u in units:
            chunk.append(u)
            size += _bytes(u)
            if len(chunk) >= window and size >= WINDOW_BYTES or len(chunk) >= WINDOW_UNITS:
                self._chunks.append(chunk)
                chunk, size = [], 0
        if chunk:
            self._chunks.append(chunk)
        self._next = 0
        self._pool = ThreadPoolExecutor(max_workers=2)
        self._running: collections.deque[Future[list[Parsed]]] = collections.deque()
        self._buf: collections.deque[Parsed] = collections.deque()
        self._fill()

    def _fill(self) -> None:
        while len(self._running) < 2 and self._next < len(self._chunks):
            self._running.append(self._pool.submit(self._backend.map, self._fn, self._chunks[self._next]))
            self._next += 1

    def results(self, n: int) -> Iterator[Parsed]:
        """The next n units' results, one at a time (a file cut into many ranges is never held whole)."""
        for _ in range(n):
            if not self._buf:
                first = self._running.popleft()
                self._fill()
                self._buf.extend(first.result())
            yield self._buf.popleft()

    def close(self) -> None:
        self._next = len(self._chunks)
        for f in self._running:
            f.cancel()
        self._pool.shutdown(wait=True)
