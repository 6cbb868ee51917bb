"""Runs every available estimator over one priced period; the report and `llmcost savings` call this."""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl

from analyzer.conversations import Sequence
from analyzer.parallel import Backend
from analyzer.prices import Catalogue
from analyzer.savings.batching import estimate_batching
from analyzer.savings.caching import estimate_caching
from analyzer.savings.combined import estimate_combined
from analyzer.savings.partitioned import PartitionedEngine
from analyzer.savings.routing import Rule, estimate_routing, plan_routing
from analyzer.savings.trimming import estimate_trimming


def estimate_all(
    con: duckdb.DuckDBPyConnection,
    priced: pl.DataFrame,
    seq: Sequence,
    threads: pl.DataFrame,
    cat: Catalogue,
    calibration: dict[str, float],
    routing_rules: list[Rule] | None = None,
    split: dict[int, tuple[int, int]] | None = None,
    backend: Backend | None = None,
) -> dict[str, Any]:
    """{"caching": the caching block (already saved, backtest), "savings": every estimate, largest first,
    "combined": the ranked levers replayed together}."""
    # the traffic's bins replayed where the backend runs them (partitions.py, partitioned.py)
    engine = PartitionedEngine(priced, seq, threads, cat, calibration, backend)
    try:
        return _estimate_all(engine, con, priced, threads, cat, routing_rules, split)
    finally:
        engine.close()


def _estimate_all(
    engine: PartitionedEngine,
    con: duckdb.DuckDBPyConnection,
    priced: pl.DataFrame,
    threads: pl.DataFrame,
    cat: Catalogue,
    routing_rules: list[Rule] | None,
    split: dict[int, tuple[int, int]] | None,
) -> dict[str, Any]:
    caching = estimate_caching(engine, priced, cat, split)
    caching_estimates = caching.pop("_estimates", [])
    plan = plan_routing(con, priced, threads, cat, routing_rules)
    estimates = (
        estimate_batching(engine, priced, threads, cat)
        + estimate_trimming(engine)
        + estimate_routing(engine, plan, routing_rules)
        + caching_estimates
    )
    combined = estimate_combined(engine, estimates)
    return {
        "caching": caching,
        "savings": sorted((e.as_dict() for e in estimates), key=lambda e: e["saving_usd"], reverse=True),
        "combined": combined,
    }
