"""`llmcost report --view V` as data: one view of a built report (spend by day, week or month; the costliest
sessions; the 5-hour blocks; the cost per unit of work; spend per key, project or model), for scripts
(`--json`) and for the renderers, which only format what this returns.

Apart from the builder because a view is read from a finished report model, never from the store.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from analyzer import blocks, unit_costs
from analyzer.report.schema import SCHEMA_VERSION, round_usd
from analyzer.report.spend import spend_by_period

# `llmcost report --view`, as ccusage's commands, and the cost per unit of work (units, users, tags, tasks)
VIEWS = ("daily", "weekly", "monthly", "sessions", "blocks", *unit_costs.VIEWS, "keys", "projects", "models")
# `--view keys|projects|models`: spend tables (users and tags are unit_costs' views, their distributions)
SPEND_VIEWS = {"keys": "api_key", "projects": "project", "models": "model"}
_SPEND_FIELDS = ("requests", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "cost_usd")


def spend_view(report: dict[str, Any], view: str) -> dict[str, Any]:
    """`--view keys|projects|models`: spend per API key, project or model, the costliest first, with the
    requests, tokens (cache read and write apart) and cost of each; the rows a capped list left out summed as
    `other`, and `total` equal to the report's totals."""
    dim = SPEND_VIEWS[view]
    if dim == "model":
        src = report["by_model"]
        rows = [
            {"name": r["model"], "model_key": r.get("model_key"), "provider": r.get("provider")}
            | {k: r.get(k) or 0 for k in _SPEND_FIELDS}
            | {"cost_usd": r.get("cost_usd"), "has_unpriced": r.get("model_key") is None}
            for r in src
        ]
    else:
        rows = [
            {"name": r["value"]}
            | {k: r.get(k) or 0 for k in _SPEND_FIELDS}
            | {"cost_usd": r.get("cost_usd"), "has_unpriced": bool(r.get("unpriced_requests"))}
            for r in report["by_attribution"].get(dim, [])
        ]
    t = report["totals"]
    total = {
        "requests": t["requests"],
        "input_tokens": t["input_tokens"],
        "cache_read_tokens": t["cache_read_tokens"],
        "cache_write_tokens": t["cache_write_tokens"],
        "output_tokens": t["output_tokens"],
        "cost_usd": t["cost_usd"],
        "has_unpriced": bool(t["unpriced_requests"]),
    }
    other = None
    left = t["requests"] - sum(r["requests"] for r in rows)
    if left > 0:  # a capped list (TOP_ATTRIBUTION, MAX_LISTED): the rest as one row, so the column adds up
        other = {k: total[k] - sum(r[k] for r in rows) for k in _SPEND_FIELDS if k != "cost_usd"}
        cost = (total["cost_usd"] or 0) - sum(r["cost_usd"] or 0 for r in rows)
        other |= {"cost_usd": round_usd(cost), "has_unpriced": total["has_unpriced"]}
    return {"dimension": dim, "rows": rows, "other": other, "total": total}


def _model_match(models: tuple[str, ...]) -> Any:
    want = {m.lower() for m in models}
    return lambda name, key=None: not want or (name or "").lower() in want or (key or "").lower() in want


def view_json(
    report: dict[str, Any],
    view: str,
    order: str = "asc",
    breakdown: bool = False,
    models: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One view of the report for scripts (`--view daily --json -`): spend by day, week or month, or the
    costliest sessions, with the period it covers. `order`: oldest first (asc, the default) or newest first;
    `breakdown`: each period's models; `models`: only these models (as logged or the catalogue key they price
    as, any case)."""
    out: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "view": view, "period": report["period"]}
    match = _model_match(models)
    if models:
        out["models"] = list(models)
    if view == "sessions":
        rows = [
            r
            for r in report["sessions"]["top"]
            if not models or any(match(m.strip()) for m in (r.get("models") or "").split(","))
        ]
        return out | {"sessions": report["sessions"]["count"] if not models else len(rows), "rows": rows}
    if view == "blocks":  # ccusage's 5-hour billing windows (blocks.py)
        return out | (report.get("blocks") or blocks.section(pl.DataFrame()))
    if view in unit_costs.VIEWS:
        return out | unit_costs.view(report["unit_costs"], view)
    if view in SPEND_VIEWS:
        return out | spend_view(report, view)
    unit = {"daily": "day", "weekly": "week", "monthly": "month"}[view]
    undated = (report.get("spend_by_period") or {}).get("undated")
    by_day = [r for r in report["by_day"] if match(r["model"], r.get("model_key"))]
    rows = spend_by_period(by_day, unit, breakdown=breakdown)["periods"]
    if order == "desc":
        rows = rows[::-1]
    return out | {"unit": unit, "order": order, "rows": rows, "undated": None if models else undated}
