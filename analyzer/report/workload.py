"""The report's `projection` section and `llmcost project --from-db`: the period's measured workload, model by
model, projected to a month with the three scenarios of `analyzer.projection`, and summed.

Apart from the builder because the command runs it without a report (one code path for both).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from analyzer import projection, queries
from analyzer.errors import InputError
from analyzer.prices import Catalogue
from analyzer.report.schema import MAX_LISTED


def projection_by_model(
    con: Any,
    cat: Catalogue,
    since: datetime | None,
    until: datetime | None,
    days: float | None,
    *,
    growth: float = 0.0,
    route_share: float = 0.0,
    route_to: str | None = None,
) -> dict[str, Any] | None:
    """`llmcost project` on the period's measured workload, model by model (each with its own mean tokens and
    cache hit rate), summed: its three scenarios, for the report's chart and for `project --from-db` (one code
    path). Unpriced models are left out and named. Like the monthly figures, it needs a day of dated traffic:
    an hour scaled to a month is noise."""
    rows = queries.rows(con, "workload_by_model", since=since, until=until)
    if not rows:
        return None
    per_month = projection.monthly_factor(days)
    if per_month is None:
        return {"error": "a projection needs at least a day of dated traffic", "unpriced_models": []}
    results, names, unpriced = [], [], []
    for m in rows:
        if cat.resolve(m["model"], m["provider"]).key is None:
            unpriced.append(m["model"])  # named, not projected at $0, and not priced again model by model
            continue
        w = projection.Workload(
            requests=m["requests"] * per_month,
            input_tokens=m["input_tokens"],
            output_tokens=m["output_tokens"],
            # the catalogue key it priced as: a name like mistral-small-latest is only priced with its provider
            model=cat.resolve(m["model"], m["provider"]).key or m["model"],
            cached_prefix=min(m["cached_prefix"], m["input_tokens"]),
            cache_hit_rate=m["cache_hit_rate"],
            growth=growth,
            route_share=route_share if route_to and route_to != m["model"] else 0.0,
            route_to=route_to if route_to and route_to != m["model"] else None,
            prefix_measured=True,
        )
        try:
            results.append(projection.project(w, cat))
            names.append(m["model"])
        except InputError:  # no price: named, not projected at $0
            unpriced.append(m["model"])
    if not results:
        listed = ", ".join(unpriced[:10]) + (f" and {len(unpriced) - 10:,} more" if len(unpriced) > 10 else "")
        return {"error": f"no price for {listed}", "unpriced_models": unpriced[:MAX_LISTED]}
    parts = ("input_usd", "cache_read_usd", "cache_write_usd", "output_usd", "total_usd")

    def add(pick: Any) -> dict[str, Any]:
        return {k: round(sum(pick(r)[k] for r in results), 6) for k in parts}

    return {
        "as_given": add(lambda r: r["as_given"]),
        "without_levers": add(lambda r: r["without_levers"]),
        "levers_save_usd": round(sum(r["levers_save_usd"] for r in results), 6),
        "scenarios": {name: add(lambda r, n=name: r["scenarios"][n]) for name in projection.SCENARIOS},
        "scenarios_assume": {name: projection.SCENARIO_TEXT[name] for name in projection.SCENARIOS},
        "models": [
            {
                "model": name,
                "requests_per_month": round(r["as_given"]["workload"]["requests"], 3),
                "input_tokens": round(r["as_given"]["workload"]["input_tokens"], 1),
                "output_tokens": round(r["as_given"]["workload"]["output_tokens"], 1),
                "cache_hit_rate": round(r["as_given"]["workload"]["cache_hit_rate"], 4),
                **{k: r["as_given"][k] for k in parts},
            }
            for name, r in zip(names[:MAX_LISTED], results[:MAX_LISTED], strict=True)
        ],
        "unpriced_models": unpriced[:MAX_LISTED],
        "assumptions": [
            "Each model's traffic is projected on its own: requests per month at the logged daily rate, its mean "
            "input and output tokens, the share of its requests that read from cache and their mean cache read; "
            "the models are summed. Batch and service-tier discounts are not modelled here.",
            *results[0]["assumptions"],
        ],
    }
