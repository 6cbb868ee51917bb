"""Spend summed by period: the daily rows added up by day, ISO week or month, the spend row every table adds
into, the calls without a timestamp as a row of their own, and latency per model.

Apart from the builder (`report/__init__`) because the views and the renderers sum rows the same way: one
`spend_row`/`add_spend`, so a total in any table adds up as the report's does.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from analyzer import queries
from analyzer.report.schema import MAX_LISTED, round_usd

PERIOD_UNITS = ("day", "week", "month")


def period_unit(days: float | None) -> str:
    """Bars that stay readable: days up to two months, weeks up to a year, months beyond."""
    if days is None or days <= 62:
        return "day"
    return "week" if days <= 366 else "month"


def _period_start(day: str, unit: str) -> str:
    d = date.fromisoformat(day)
    if unit == "week":  # ISO weeks, starting on Monday
        d = d - timedelta(days=d.weekday())
    elif unit == "month":
        d = d.replace(day=1)
    return d.isoformat()


OTHER_MODELS = "(other models)"


SPEND_COUNTS = ("requests", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")


def spend_row(**first: Any) -> dict[str, Any]:
    """An empty spend row after the fields given: counts at 0, cost None (nothing priced in it yet, never $0)."""
    return {**first, **dict.fromkeys(SPEND_COUNTS, 0), "cost_usd": None, "has_unpriced": False}


def add_spend(into: dict[str, Any], r: dict[str, Any], digits: int | None = None) -> None:
    """A daily row's requests, tokens and cost added into a spend row; its cost stays None while nothing in it
    is priced."""
    for k in SPEND_COUNTS:
        into[k] += r.get(k) or 0
    if r["cost_usd"] is not None:
        total = (into["cost_usd"] or 0.0) + r["cost_usd"]
        into["cost_usd"] = total if digits is None else round(total, digits)
    into["has_unpriced"] = into["has_unpriced"] or bool(r["has_unpriced"])


def other_models(by_day: list[dict[str, Any]], listed: set[str]) -> list[dict[str, Any]]:
    """by_day with the models beyond the listed ones summed per day into one `(other models)` row, so the
    daily totals stay whole when the per-model lists are capped."""
    out: list[dict[str, Any]] = []
    other: dict[Any, dict[str, Any]] = {}
    for r in by_day:
        if r["model"] in listed:
            out.append(r)
            continue
        o = other.setdefault(r["day"], spend_row(day=r["day"], model=OTHER_MODELS, model_key=None))
        add_spend(o, r)
    return sorted(out + list(other.values()), key=lambda r: (r["day"], -(r["cost_usd"] or 0.0), r["model"]))


def spend_by_period(
    by_day: list[dict[str, Any]], unit: str, undated: dict[str, Any] | None = None, breakdown: bool = False
) -> dict[str, Any]:
    """The daily rows summed by day, ISO week or month: requests, tokens, cost (priced requests only) and the
    cost of each model as logged. A period with only unpriced traffic has cost None, never $0. `undated`: the
    calls with no timestamp, carried as their own row so that the periods plus it add up to the totals."""
    periods: dict[str, dict[str, Any]] = {}
    for r in by_day:
        if not r["day"]:
            continue
        start = _period_start(r["day"], unit)
        p = periods.setdefault(start, {**spend_row(start=start), "by_model": {}})
        if breakdown:  # each model's own row within the period (`--breakdown`)
            add_spend(p.setdefault("models", {}).setdefault(r["model"], spend_row()), r, digits=10)
        add_spend(p, r, digits=10)
        if r["cost_usd"] is not None:
            p["by_model"][r["model"]] = round(p["by_model"].get(r["model"], 0.0) + r["cost_usd"], 10)
    out: dict[str, Any] = {"unit": unit, "periods": [periods[k] for k in sorted(periods)]}
    out["undated"] = undated if undated and undated.get("requests") else None
    return out


def latency_by_model(con: Any) -> list[dict[str, Any]]:
    """Latency per model where the logs carry it (Bedrock, OpenTelemetry spans, ...): calls with a latency, the
    median and the 95th percentile in milliseconds. Empty when no call has one."""
    rows = queries.values(con, "latency_by_model", limit=MAX_LISTED)
    return [
        {"model": m, "requests": int(n), "median_ms": round(float(med), 1), "p95_ms": round(float(p95), 1)}
        for m, n, med, p95 in rows
    ]


def undated_spend(con: Any) -> dict[str, Any] | None:
    """The period's calls with no timestamp, summed like one period (they count in the totals, in no day)."""
    u = queries.rows(con, "undated_spend")[0]
    if not u["requests"]:
        return None
    u["cost_usd"] = round_usd(u["cost_usd"])
    u["has_unpriced"] = bool(u["has_unpriced"])
    return u
