"""What the estimators ask of the replays (`Replayer`): an `Engine` over the whole traffic (engine.py) or a
`PartitionedEngine` over its bins (partitioned.py) answers it, float for float the same; and `in_lanes`, which runs
independent questions side by side when the engine has several lanes."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from collections.abc import Sequence as Seq
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

import polars as pl

from analyzer.providers import CASES
from analyzer.savings.engine import Outcome
from analyzer.savings.levers import Lever

T = TypeVar("T")
R = TypeVar("R")


_HOLDING = threading.local()  # whether this thread runs in a lane of `in_lanes` (then nested calls run in it)


def in_lanes(engine: Replayer, fn: Callable[[T], R], items: Seq[T]) -> list[R]:
    """[fn(x) for x in items], in that order, each run in a lane of its own when the engine has several (a thread
    per lane, each waiting on its workers): independent levers replay side by side, with the same results as one
    after the other (every lane holds the same bins, and no answer depends on the questions asked before it).
    Called within a lane, the items run one after the other in it (a thread holding a lane never waits for
    another)."""
    if engine.parallel < 2 or len(items) < 2 or getattr(_HOLDING, "yes", False):
        return [fn(x) for x in items]

    def pinned(x: T) -> R:
        with engine.lane():
            _HOLDING.yes = True
            try:
                return fn(x)
            finally:
                _HOLDING.yes = False

    with ThreadPoolExecutor(max_workers=engine.parallel, thread_name_prefix="llmcost-lane") as pool:
        return list(pool.map(pinned, items))


class Replayer(Protocol):
    """What the estimators ask of the replays: an `Engine` over the whole traffic, or a `PartitionedEngine`
    (partitioned.py) merging the answers of the bins' engines, float for float the same. Estimators type
    against this, never against one of the two."""

    @property
    def requests(self) -> int: ...

    def build(self, lever: Lever) -> Any:
        """The lever's rebuilt traffic (or a handle on it), for the comparisons that follow."""
        ...

    def compare(self, lever: Lever, case: str = "central", calls: Any = None) -> Outcome: ...

    def release(self, calls: Any) -> None:
        """No comparison will be given `calls` (from `build`) again: what holds them lets them go."""
        ...

    @property
    def parallel(self) -> int:
        """How many questions can be answered at once, each by a thread holding a `lane`."""
        ...

    def lane(self) -> contextlib.AbstractContextManager[None]:
        """While the block runs, this thread's questions go to one set of workers (`in_lanes`)."""
        ...

    def by_base(self, lever: Lever | None = None, case: str = "central") -> dict[str, float]: ...

    def band(self, affected: set[str]) -> float: ...

    def backtest(self) -> dict[str, Any]: ...

    def simulated(self) -> pl.DataFrame: ...

    def split_variants(self, split: Mapping[int, Any]) -> int: ...

    def each(self, fn: Any, *args: Any) -> list[Any]: ...


def outcomes(engine: Replayer, lever: Lever, cases: tuple[str, ...] = CASES) -> dict[str, Outcome]:
    """The lever's two-replay outcome in each case, its traffic rebuilt once for all of them and let go after."""
    calls = engine.build(lever)
    out = {case: engine.compare(lever, case, calls) for case in cases}
    engine.release(calls)
    return out
