"""Runs every available estimator over one priced period; the report and `llmcost savings` call this."""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl

from analyzer.conversations import Sequence
from analyzer.prices import Catalogue
from analyzer.savings.batching import estimate_batching
from analyzer.savings.caching import estimate_caching, sim_requests
from analyzer.savings.combined import estimate_combined
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
) -> dict[str, Any]:
    """{"caching": the caching block (already saved, backtest), "savings": every estimate, largest first}."""
    sims = sim_requests(priced, seq)  # the prefix chains as logged, for the caching and combined replays
    caching = estimate_caching(priced, seq, cat, sims)
    plan = plan_routing(con, priced, threads, cat, routing_rules)
    estimates = [
        e.as_dict()
        for e in estimate_batching(priced, threads, cat)
        + estimate_trimming(priced, seq, cat)
        + estimate_routing(con, priced, threads, cat, calibration, routing_rules, plan)
    ]
    estimates += caching["estimates"]  # type: ignore[operator]
    combined = estimate_combined(
        priced, seq, threads, cat, calibration, estimates, plan, sims, caching.get("simulated_cache_read_tokens")
    )
    return {
        "caching": caching,
        "savings": sorted(estimates, key=lambda e: e["saving_usd"], reverse=True),
        "combined": combined,
    }
