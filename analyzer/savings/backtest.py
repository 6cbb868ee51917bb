"""The simulator's test: the as-is replay against the cache reads and the cost the providers reported.

Every saving is the difference of two replays under one simulator, so its bias mostly cancels; what is left is
measured here, on the requests the simulator replays (bodies on a provider with cache rules), whole and
without each cache scope's cold first request. The error on the requests a lever changes is the band inside
which its figure is "nothing to gain" (estimate.py). Apart from the engine because it reads only the prepared
traffic and one replay's priced calls, and the partitioned engine merges the bins' rows before summarising.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from analyzer.providers import RULES
from analyzer.savings.traffic import Traffic


def backtest_rows(traffic: Traffic, replayed: pl.DataFrame) -> tuple[pl.DataFrame, set[str]]:
    """The requests the simulator replays (bodies on a provider with cache rules), each with its reported and
    simulated cache reads and costs (`replayed`: the as-is replay's priced calls), and the first request of each
    cache scope (the cold start)."""
    sim = replayed.filter(pl.col("call_id") == pl.col("base_id")).select(
        "base_id", sim_read="cache_read_tokens", sim_cost="cost"
    )
    simulated_ids = {
        rid for rid in traffic.body if RULES.get(traffic.logged[rid].provider) is not None
    }  # replayed by the simulator
    rows = (
        traffic.rows.filter(pl.col("request_id").is_in(list(simulated_ids)))
        .select("request_id", "provider", "model", "input_tokens", "cache_read_tokens", "cost")
        .join(sim, left_on="request_id", right_on="base_id")
    )
    first_of_scope: dict[tuple[str, str, str], str] = {}
    for rid in traffic.order:
        if rid in simulated_ids:
            lg = traffic.logged[rid]
            first_of_scope.setdefault((lg.provider, lg.model, lg.key), rid)
    return rows, set(first_of_scope.values())


def _median(ordered: pl.Series) -> float:
    """`statistics.median` of a sorted column, reading only its middle (the same float: the mean of the two middle
    values as (a + b) / 2)."""
    n = ordered.len()
    if n % 2:
        return float(ordered[n // 2])
    return (float(ordered[n // 2 - 1]) + float(ordered[n // 2])) / 2


def backtest_summary(rows: pl.DataFrame, warm: set[str]) -> dict[str, Any]:
    """The as-is replay against what the providers reported, for the requests the simulator replays (bodies on a
    provider with cache rules): cache reads in total, per provider and per model, per-call error (cache reads as
    a share of the call's input: median and p95 of the absolute error), calls where the provider reported no
    cache read but the simulator predicts one (and the reverse), and the cost error. `warm`: each scope's first
    request (the comparison is also given without them)."""
    if rows.is_empty():
        return {"requests": 0, "providers": [], "by_provider": [], "by_model": []}

    def compare(frame: pl.DataFrame) -> dict[str, Any]:
        rep = int(frame["cache_read_tokens"].sum())
        simr = int(frame["sim_read"].sum())
        logged = float(frame["cost"].sum())
        replayed = float(frame["sim_cost"].sum())
        # each call's error in points of its input, sorted, as one column (a Python step per call was ~2 s of the
        # parent at a million calls: the whole, per provider, per model, with and without the first requests)
        errs = (
            frame.lazy()
            .filter(pl.col("input_tokens") != 0)
            .select(e=(pl.col("sim_read") - pl.col("cache_read_tokens")).abs() / pl.col("input_tokens") * 100)
            .sort("e")
            .collect()["e"]
        )
        return {
            "requests": frame.height,
            "reported_cache_read_tokens": rep,
            "simulated_cache_read_tokens": simr,
            "error_pct": round((simr - rep) / rep * 100, 2) if rep else None,
            # what the providers reported against the simulation: -100% when they reported no cache read at all
            # where the simulator predicts some (a contradiction, never "no data")
            "reported_vs_simulated_pct": round((rep - simr) / simr * 100, 2) if simr else None,
            # the simulator predicts hits where the provider reported none: a contradiction, not "no data"
            "reported_zero_simulated_hits": int(((frame["cache_read_tokens"] == 0) & (frame["sim_read"] > 0)).sum()),
            "reported_hits_simulated_zero": int(((frame["cache_read_tokens"] > 0) & (frame["sim_read"] == 0)).sum()),
            "per_call_error_points_median": round(_median(errs), 2) if errs.len() else None,
            "per_call_error_points_p95": round(errs[min(errs.len() - 1, int(0.95 * errs.len()))], 2)
            if errs.len()
            else None,
            "cost_logged_usd": round(logged, 10),
            "cost_replayed_usd": round(replayed, 10),
            "cost_error_pct": round((replayed - logged) / logged * 100, 2) if logged else None,
        }

    whole = compare(rows)
    out: dict[str, Any] = {
        "providers": sorted(rows["provider"].unique().to_list()),
        **whole,
        "after_first_request_of_each_scope": compare(rows.filter(~pl.col("request_id").is_in(list(warm)))),
        "by_provider": [
            {
                "provider": p,
                **compare(rows.filter(pl.col("provider") == p)),
                "after_first_request_of_each_scope": compare(
                    rows.filter((pl.col("provider") == p) & ~pl.col("request_id").is_in(list(warm)))
                ),
            }
            for p in sorted(rows["provider"].unique().to_list())
        ],
        "by_model": [
            {"provider": p, "model": m, **compare(rows.filter((pl.col("provider") == p) & (pl.col("model") == m)))}
            for p, m in sorted(rows.select("provider", "model").unique().iter_rows())
        ],
        "note": "The as-is replay (each provider's real policy: automatic caching, or the breakpoints each request "
        "set, each with its own TTL) against what the providers reported. The simulator starts with an empty "
        "cache, so the comparison is also given without each scope's first request. Per-call error: simulated "
        "minus reported cache reads, as points of the call's input.",
    }
    return out
