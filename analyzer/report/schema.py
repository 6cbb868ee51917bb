"""The report model's version, its size limits, and how its values are written: dates as ISO strings in UTC
with a Z, money and ratios rounded so that float noise never shows.

Apart from the sections that build the model so that every one of them writes its values the same way and the
views can name the version without importing the builder.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

# 1: first version: meta, period, prices, totals, by_day, by_model, by_attribution, unpriced,
#    tokenizer_calibration, ingest, assumptions.
# 2: conversations (threads, turns, growth by turn, input segments, top threads), prefix_reuse (ideal hit
#    ratios: unlimited, 5-minute and 1-hour TTL, capacity), top_prefixes, shared_system_prefixes,
#    volatile_prefixes.
# 3: savings (estimates: lever, policy, scope, requests, baseline, counterfactual, saving and its range,
#    assumptions, evidence): caching, routing, batching and trimming; caching (already_saved_usd, estimates,
#    backtest with reported_cache_read_tokens and simulated_cache_read_tokens).
# 4: headline (top levers with monthly figures, confidence and an action), projection (the measured workload
#    and its three scenarios), estimates' detail, prefix_reuse.gaps, excerpts of prefixes and volatile system
#    prompts (redacted unless --show-text), meta.show_text.
# 5 (in progress): usage_export (provider usage/cost exports: per-export figures, billed totals and their basis,
#    spend by model/project/key/user/day, billed line items, unpriced buckets, reconciliation with the logs per
#    day and model, and needs_logs when there are no request logs).
# 5: two-replay estimates (method, policies, backtest band, verdict), the richer caching backtest, combined
#    components/left_out, headline costs_more/nothing_to_gain; prices at request time; usage exports;
#    reconciliation (see docs/json-schema.md).
SCHEMA_VERSION = 5
# Rows any per-model list carries (the costliest first): a log of 100,000 distinct model names must not make a
# 100 MB report; `truncated` says how many rows each capped list had.
MAX_LISTED = 1000


def round_usd(v: float | None) -> float | None:
    """USD kept to 1e-10 (float noise removed; a sample's fractions of a cent survive)."""
    return None if v is None else round(float(v), 10)


def round_days(days: float | None) -> float | None:
    """The period in days to 1e-3, except that a period just short of a day never rounds up to one: monthly
    figures need a whole day, and "1.0 days" beside "needs at least a day" reads as a contradiction."""
    if days is None:
        return None
    return 0.999 if days < 1 <= round(days, 3) else round(days, 3)


def round_to(v: float | None, digits: int) -> float | None:
    return None if v is None else round(float(v), digits)


def iso(v: datetime | date | None) -> str | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=UTC)).isoformat().replace("+00:00", "Z")
    return v.isoformat()


def clean(row: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready values: dates as ISO strings, floats (money, ratios) rounded to 1e-10."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, datetime | date):
            v = iso(v)
        elif isinstance(v, float):
            v = round(v, 10)
        out[k] = v
    return out
