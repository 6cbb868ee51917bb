"""The contract every backend keeps: what a unit is, the order results come back in, how a failure comes back.

The pipeline cuts its work into units that do not interact: input files (or byte ranges of one large file) to
parse, and partitions of the traffic (see partitions.py) to replay. A `Backend` runs those units and gives the
results back **in the order of the units**, so whatever merges them adds the same numbers in the same order and
the report is the same, float for float, on every backend (local.py: this process or a pool of processes on this
machine; ray.py: a Ray cluster).

Two shapes of work:

- `map(fn, items)`: stateless tasks, `fn(item)` for each item; `fn` must be a module-level function and items
  and results picklable.
- `actors(cls, args)` then `call(actors, method, args)`: stateful workers. One actor per `args` tuple, built
  with `cls(*args)` where it runs and kept there (a partition's replay state is built once and then asked for
  many replays); `call` runs `getattr(actor, method)(*a)` on every actor at once and returns their results in
  the order of `actors`.

An exception in a unit is raised again here (the first one in unit order), with its type and message.

Apart from the backends themselves so that each of them, and every caller typing against the protocol, imports
the contract without importing another backend.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")

WORKERS_ENV = "LLMCOST_WORKERS"  # the default --workers (tests and benchmarks set it)


class Backend(Protocol):
    name: str
    workers: int

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]: ...

    def actors(self, cls: type, args: Sequence[tuple[Any, ...]]) -> list[Any]: ...

    def call(self, actors: Sequence[Any], method: str, args: Sequence[tuple[Any, ...]] | None = None) -> list[Any]:
        """`args[i]` for actor i; None: no arguments for any."""
        ...

    def close(self) -> None: ...


def default_workers() -> int:
    raw = os.environ.get(WORKERS_ENV)
    if raw:
        try:
            return max(1, int(raw))
        except ValueError:
            pass
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class UnitError(RuntimeError):
    """A unit failed in a worker: its exception's type, message and the worker's traceback."""

    def __init__(self, kind: str, message: str, where: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind, self.message, self.where = kind, message, where
