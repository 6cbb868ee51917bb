"""Runs every available estimator over one priced period; the report and `llmcost savings` call this."""

from __future__ import annotations

import polars as pl

from analyzer.conversations import Sequence
from analyzer.prices import Catalogue
from analyzer.savings import Estimate
from analyzer.savings.batching import estimate_batching
from analyzer.savings.trimming import estimate_trimming


def estimate_all(priced: pl.DataFrame, seq: Sequence, threads: pl.DataFrame, cat: Catalogue) -> list[Estimate]:
    estimates = estimate_batching(priced, threads, cat) + estimate_trimming(priced, seq, cat)
    return sorted(estimates, key=lambda e: e.saving_usd, reverse=True)
