"""Runs every available estimator over one priced period (the report model, hence `llmcost report` and
`llmcost savings`, starts it with `start_estimates`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import duckdb
import polars as pl

from analyzer.backends.base import Backend
from analyzer.backends.local import INLINE
from analyzer.conversations import Sequence
from analyzer.perf import shed_file_blocks
from analyzer.prices import Catalogue
from analyzer.savings import trimming
from analyzer.savings.batching import estimate_batching
from analyzer.savings.caching import estimate_caching
from analyzer.savings.combined import estimate_combined
from analyzer.savings.levers import Compact
from analyzer.savings.misses import cache_misses
from analyzer.savings.partitioned import Labelled, PartitionedEngine, elsewhere, has_workers, label
from analyzer.savings.replayer import in_lanes
from analyzer.savings.routing import Rule, estimate_routing, plan_routing
from analyzer.savings.trimming import estimate_policy, trimming_estimates


class Pending:
    """Estimates being computed: in a thread of this process while the caller goes on (when the replays run on
    other processes, the thread mostly waits for them), or computed when asked for."""

    def __init__(self, fn: Any, background: bool, db_waits: bool = False) -> None:
        self.background = background  # computed on a thread (mostly waiting for other processes)
        # no query of its own on DuckDB before the caller's own stages are done (`start_estimates`' `plan_after`),
        # so that until then the caller may change the database's settings (`perf.shed_file_blocks`)
        self.db_waits = db_waits or not background
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._fn: Any = None
        if background:
            self._thread = threading.Thread(target=self._run, args=(fn,), name="llmcost-savings", daemon=True)
            self._thread.start()
        else:
            self._fn = fn

    def _run(self, fn: Any) -> None:
        try:
            self._value = fn()
        except BaseException as e:  # noqa: BLE001 - raised again by result(), in the caller's thread
            self._error = e

    def result(self) -> Any:
        if self._fn is not None:
            fn, self._fn = self._fn, None
            self._run(fn)
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            raise self._error
        return self._value


def start_replays(
    priced: pl.DataFrame, seq: Sequence, cat: Catalogue, calibration: dict[str, float], backend: Backend = INLINE
) -> Pending:
    """On a thread, the bins labelled and, when they replay on the backend's workers (`partitioned.elsewhere`),
    sent there before the threads are rebuilt: each worker builds its traffic meanwhile, on a core this process
    leaves idle. Its result (the engine, or None: the replays run here, later) goes to `start_estimates`, which
    gives the workers the threads. The caller must not change `priced` or `seq` meanwhile."""

    def begin() -> PartitionedEngine | None:
        if not has_workers(backend):  # nothing to send out: no copy of the traffic labelled for nothing
            return None
        labelled = label(priced, seq)
        if not elsewhere(labelled, backend):
            return None
        return PartitionedEngine(priced, seq, None, cat, calibration, backend, [labelled])

    return Pending(begin, background=True)


def start_estimates(
    con: duckdb.DuckDBPyConnection,
    priced: pl.DataFrame,
    seq: Sequence,
    threads: pl.DataFrame,
    cat: Catalogue,
    calibration: dict[str, float],
    routing_rules: list[Rule] | None = None,
    split: dict[int, tuple[int, int]] | None = None,
    backend: Backend = INLINE,
    started: Pending | None = None,
    plan_after: threading.Event | None = None,
) -> Pending:
    """Every available estimator over one priced period, started: {"caching": the caching block (already
    saved, backtest), "savings": every estimate, largest first, "combined": the ranked levers replayed together}
    from `.result()`. When the bins are replayed on other processes (`partitioned.elsewhere`), they
    replay there while the caller computes what it still needs (conversations, prefix tables); the caller must
    not change `priced`, `seq` or `threads` meanwhile. The thread asks DuckDB on its own cursor. `started`:
    `start_replays` for the same period; when it sent the bins to workers, they are given the threads first.
    `plan_after`: the routing plan is made once it is set (the caller's own stages done; see `_estimate_all`)."""
    engine = started.result() if started is not None else None
    if engine is not None:
        cursor = con.cursor()
        ready = engine

        def go() -> dict[str, Any]:
            try:
                ready.set_threads(threads)
                return _estimate_all(ready, cursor, priced, threads, cat, routing_rules, split, plan_after)
            finally:
                ready.close()

        # its only query is the routing plan's, made after `plan_after` when the plan waits for it
        return Pending(go, True, db_waits=_plan_waits(ready, plan_after) is not None)
    labelled = label(priced, seq, threads)
    background = elsewhere(labelled, backend)
    if background:
        con = con.cursor()

    # Handed over, so the labelled frames can go once the workers have their bins. Replayed here later, the
    # traffic is labelled again then: held meanwhile, its copy of the sequence would sit beside it through the
    # stages the caller runs first.
    held: list[Labelled] = [labelled] if background else []
    del labelled

    def run() -> dict[str, Any]:
        # the traffic's bins replayed where the backend runs them (partitions.py, partitioned.py)
        engine = PartitionedEngine(priced, seq, threads, cat, calibration, backend, held)
        try:
            return _estimate_all(engine, con, priced, threads, cat, routing_rules, split, plan_after)
        finally:
            engine.close()

    return Pending(run, background)


def _plan_waits(engine: PartitionedEngine, plan_after: threading.Event | None) -> threading.Event | None:
    """What the routing plan waits for before it queries DuckDB (`_estimate_all`): `plan_after` with one lane, else
    nothing. `Pending.db_waits` is derived from it: the caller sheds DuckDB's file blocks only while the plan waits."""
    return plan_after if engine.parallel < 2 else None


def _plan(after: threading.Event | None, con: duckdb.DuckDBPyConnection, *args: Any) -> Any:
    if after is None:
        return plan_routing(con, *args)
    after.wait()
    try:
        return plan_routing(con, *args)
    finally:
        # The caller now waits for the replays and queries nothing until they are done: the file blocks the plan
        # read (each request's last user message) need not sit beside the workers meanwhile.
        shed_file_blocks(con)


def _estimate_all(
    engine: PartitionedEngine,
    con: duckdb.DuckDBPyConnection,
    priced: pl.DataFrame,
    threads: pl.DataFrame,
    cat: Catalogue,
    routing_rules: list[Rule] | None,
    split: dict[int, tuple[int, int]] | None,
    plan_after: threading.Event | None = None,
) -> dict[str, Any]:
    # The routing plan (its classifier and its SQL, in this process) is made on a thread of its own while the lanes
    # replay: made first, it held every lane back (1.5 s of 4 on the real traces, this process being busy with
    # the conversations and prefix tables meanwhile). Its job comes last, when the plan is most likely ready. With
    # `plan_after`, it waits for the caller's own stages: its frames (each request's last user message, classified)
    # came beside the prefix chains' walk, the report parent's peak at a million calls. Only with one lane (a large
    # traffic, whose routing job comes long after those stages): with several, routing may start within a second.
    after = _plan_waits(engine, plan_after)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmcost-routing-plan") as planner:
        planned = planner.submit(_plan, after, con, priced, threads, cat, routing_rules)
        # Independent questions, side by side when the engine has several lanes (one traffic copied to idle
        # workers). The lanes take them in this order, the longest first, so that no lane is left with a long one
        # at the end while the other idles: the misses (six passes over the traffic), the compactions (five
        # replays each: their summary and extra-turn cases), then the other policies and the rest. Their results
        # are put back in one fixed order whatever answered them, so the report is the same with one lane or four.
        policies = sorted(range(len(trimming.POLICIES)), key=lambda i: not isinstance(trimming.POLICIES[i], Compact))
        jobs: list[Callable[[], Any]] = [
            partial(cache_misses, engine),
            *(partial(estimate_policy, engine, trimming.POLICIES[i]) for i in policies),
            partial(estimate_caching, engine, priced, cat, split),
            partial(estimate_batching, engine, priced, threads, cat),
            lambda: estimate_routing(engine, planned.result(), routing_rules),
        ]
        misses, *done, (caching, caching_estimates), batching, routing = in_lanes(engine, lambda job: job(), jobs)
    trims = [e for _, e in sorted(zip(policies, done, strict=True), key=lambda p: p[0])]
    estimates = batching + trimming_estimates(trims) + routing + caching_estimates
    combined = estimate_combined(engine, estimates)
    return {
        "caching": caching,
        "cache_misses": misses,
        "savings": sorted((e.as_dict() for e in estimates), key=lambda e: e["saving_usd"], reverse=True),
        "combined": combined,
    }
