"""Batching: requests that needed no immediate answer, priced at the Batch APIs' discount.

A request is eligible when it is not conversational (the only request of its thread) and comes from a
programmatic source: an API key (or feature, or user when neither is logged) that sends many requests at a
machine's rhythm (at least MIN_REQUESTS, with a median gap between consecutive requests of at most
MAX_MEDIAN_GAP_S). The central case batches those; the high case every single-request thread; the low case
only the eligible requests with no end-user attribution at all. Batch prices come from the catalogue (half
the standard price where none is listed); results arrive within 24 hours, which is the assumption to check.
"""

from __future__ import annotations

import polars as pl

from analyzer.prices import PRICE_COLUMNS, Catalogue, price_requests
from analyzer.savings import Estimate

MIN_REQUESTS = 20
MAX_MEDIAN_GAP_S = 10.0


def batch_candidates(priced: pl.DataFrame, threads: pl.DataFrame) -> pl.DataFrame:
    """The priced requests that could have been batched, with `single` (the only request of its thread) and
    `programmatic` (its source sends at a machine's rhythm)."""
    thread_sizes = threads.group_by("thread_id").agg(pl.len().alias("thread_requests"))
    frame = (
        priced.filter(pl.col("priced") & (pl.col("status") == "ok") & ~pl.col("batch") & pl.col("ts").is_not_null())
        .join(threads.select("request_id", "thread_id"), on="request_id", how="left")
        .join(thread_sizes, on="thread_id", how="left")
        .with_columns(
            single=pl.col("thread_requests").fill_null(1) == 1,
            source=pl.coalesce("api_key", "feature", "user", pl.lit("(unattributed)")),
        )
    )
    rhythm = (
        frame.sort("ts")
        .group_by("source")
        .agg(
            pl.len().alias("n"),
            pl.col("ts").diff().dt.total_milliseconds().median().alias("median_gap_ms"),
        )
        .with_columns(programmatic=(pl.col("n") >= MIN_REQUESTS) & (pl.col("median_gap_ms") <= MAX_MEDIAN_GAP_S * 1000))
    )
    return frame.join(rhythm.select("source", "programmatic", "n"), on="source", how="left").with_columns(
        programmatic=pl.col("programmatic").fill_null(False)
    )


def estimate_batching(priced: pl.DataFrame, threads: pl.DataFrame, cat: Catalogue) -> list[Estimate]:
    """priced: the priced request frame; threads: reconstruct_threads output (requests with bodies)."""
    frame = batch_candidates(priced, threads)
    if frame.is_empty():
        return []
    central = frame.filter(pl.col("single") & pl.col("programmatic"))
    high = frame.filter(pl.col("single"))
    low = central.filter(pl.col("user").is_null())
    if high.is_empty():
        return []

    def saving(rows: pl.DataFrame) -> tuple[float, float]:
        if rows.is_empty():
            return 0.0, 0.0
        base = float(rows["cost"].sum())
        batched = price_requests(rows.select(*PRICE_COLUMNS).with_columns(batch=pl.lit(True)), cat)
        return base, base - float(batched["cost"].sum())

    base_c, save_c = saving(central)
    _, save_hi = saving(high)
    _, save_lo = saving(low)
    sources = frame.filter(pl.col("programmatic"))["source"].n_unique()
    return [
        Estimate(
            lever="batching",
            policy="Batch API for programmatic single-request traffic",
            scope=f"{central.height} of {frame.height} priced requests",
            requests=central.height,
            baseline_usd=base_c,
            counterfactual_usd=base_c - save_c,
            saving_usd=save_c,
            saving_low_usd=min(save_lo, save_c),
            saving_high_usd=max(save_hi, save_c),
            assumptions=[
                "Batched requests can wait up to 24 hours for their answer.",
                f"Programmatic = a key/feature/user with at least {MIN_REQUESTS} requests and a median gap of at "
                f"most {MAX_MEDIAN_GAP_S:g} s between them; conversational = part of a multi-request thread.",
                "Batch prices from the catalogue, 50% of standard where it lists none; cached-token discounts "
                "are kept as logged.",
            ],
            evidence=[
                f"{sources} programmatic source(s); {high.height} single-request threads in all "
                "(the high case batches all of them; the low case only those with no end user logged).",
            ],
            detail={"programmatic_sources": sources, "single_request_threads": high.height},
        )
    ]
