"""Batching: requests that needed no immediate answer, priced at a Batch API's discount.

Only where a batch price exists: the catalogue lists one for the model, or the provider documents a Batch API
at half price (OpenAI and Azure OpenAI, Anthropic's Message Batches, Gemini's Batch Mode). DeepSeek and others
offer none, and nothing is invented for them. Only traffic that looks programmatic qualifies: the only request
of its thread (not a turn of a live conversation), no end-user id, and from a source (API key, or feature)
that sends at a machine's rhythm: at least MIN_REQUESTS requests with a median gap of at most MAX_MEDIAN_GAP_S.
The central case batches those; the high case every single-request call without an end user; the low case
only the programmatic ones on a model whose batch price the catalogue lists. Results arrive within 24 hours,
which is the assumption to check. The saving is two replays of the same calls (engine.py), batch-flagged or not.
"""

from __future__ import annotations

import polars as pl

from analyzer.prices import Catalogue
from analyzer.providers import BATCH_PROVIDERS
from analyzer.savings import Estimate
from analyzer.savings.estimate import lever_estimate
from analyzer.savings.levers import Lever
from analyzer.savings.replayer import Replayer
from analyzer.savings.traffic import ok_rows

MIN_REQUESTS = 20
MAX_MEDIAN_GAP_S = 10.0


# What batch_candidates reads of each priced request
BATCHING_COLUMNS = ("request_id", "ts", "provider", "model_key", "api_key", "feature", "user", "batch")


def batch_candidates(priced: pl.DataFrame, threads: pl.DataFrame, cat: Catalogue) -> pl.DataFrame:
    """The priced requests that could have been batched, with `single` (the only request of its thread),
    `programmatic` (no end user, a source at a machine's rhythm) and `listed` (the catalogue lists a batch
    price) and `offered` (listed, or the provider documents a Batch API)."""
    thread_sizes = threads.group_by("thread_id").agg(pl.len().alias("thread_requests"))
    frame = (
        ok_rows(priced, BATCHING_COLUMNS)
        .filter(~pl.col("batch") & pl.col("ts").is_not_null())
        .join(threads.select("request_id", "thread_id"), on="request_id", how="left")
        .join(thread_sizes, on="thread_id", how="left")
        .with_columns(
            single=pl.col("thread_requests").fill_null(1) == 1,
            source=pl.coalesce("api_key", "feature", pl.lit("(unattributed)")),
        )
    )
    rhythm = (
        frame.sort("ts")
        .group_by("source")
        .agg(
            pl.len().alias("n"),
            pl.col("ts").diff().dt.total_milliseconds().median().alias("median_gap_ms"),
        )
        .with_columns(rhythmic=(pl.col("n") >= MIN_REQUESTS) & (pl.col("median_gap_ms") <= MAX_MEDIAN_GAP_S * 1000))
    )
    keys = frame["model_key"].unique().to_list()
    listed = {k: any(f.endswith("_batches") for f in cat.entries.get(k, {})) for k in keys if k}
    return (
        frame.join(rhythm.select("source", "rhythmic", "n"), on="source", how="left")
        .with_columns(
            listed=pl.col("model_key").replace_strict(listed, default=False, return_dtype=pl.Boolean),
        )
        .with_columns(
            programmatic=pl.col("rhythmic").fill_null(False) & pl.col("user").is_null(),
            offered=pl.col("listed") | pl.col("provider").is_in(list(BATCH_PROVIDERS)),
        )
    )


def estimate_batching(engine: Replayer, priced: pl.DataFrame, threads: pl.DataFrame, cat: Catalogue) -> list[Estimate]:
    frame = batch_candidates(priced, threads, cat)
    if frame.is_empty():
        return []
    offered = frame.filter(pl.col("offered") & pl.col("single") & pl.col("user").is_null())
    central = offered.filter(pl.col("programmatic"))
    low = central.filter(pl.col("listed"))
    if central.is_empty():
        return []
    ids = {k: frozenset(f["request_id"].to_list()) for k, f in (("central", central), ("low", low), ("high", offered))}
    cases = {k: Lever(f"Batch API for {len(v)} requests", batch=v) for k, v in ids.items()}
    sources = central["source"].n_unique()
    no_batch = frame.filter(~pl.col("offered") & pl.col("single") & pl.col("programmatic")).height
    evidence = [
        f"{sources} programmatic source(s); {offered.height} single-request calls without an end user on models "
        "with a batch price (the high case batches all of them; the low case only those whose batch price the "
        "catalogue lists)."
    ]
    if no_batch:
        evidence.append(f"{no_batch} programmatic request(s) left out: their provider offers no batch price.")
    est = lever_estimate(
        engine,
        cases["central"],
        lever_kind="batching",
        policy="Batch API for programmatic single-request traffic",
        scope=f"{central.height} of {frame.height} priced requests",
        assumptions=[
            "Batched requests can wait up to 24 hours for their answer.",
            f"Programmatic = no end-user id, the only request of its thread, and a key/feature with at least "
            f"{MIN_REQUESTS} requests and a median gap of at most {MAX_MEDIAN_GAP_S:g} s between them.",
            "Batch prices from the catalogue, or 50% of standard where the provider documents a Batch API at half "
            "price and the catalogue lists none; no batch price is assumed for any other provider.",
        ],
        evidence=evidence,
        detail={"programmatic_sources": sources, "single_request_calls": offered.height},
        cases=cases,
    )
    est.method = "two-replay (price only)"
    return [est]
