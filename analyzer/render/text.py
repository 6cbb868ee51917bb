"""The terminal summary of a report run with no output file named, and the few lines a run that wrote files
prints: totals, spend per model, the levers, spend by day or week and the costliest sessions.

Apart from the page renderers because it is built line by line for a fixed-width terminal (aligned tables,
escaped log text), not from a template; `views` reuses its period and session tables.
"""

from __future__ import annotations

import math
from typing import Any

from analyzer import unit_costs
from analyzer.formatting import count, num, pct, period_words, shorten, table, terminal, usd
from analyzer.report.spend import add_spend, spend_row


def _trace_summary(report: dict[str, Any]) -> list[str]:
    """What a block-hash trace (no model, no price) tells: how much of its input a prefix cache could serve."""
    b = ((report.get("prefix_reuse") or {}).get("by_source") or {}).get("block_traces") or {}
    if not b.get("requests"):
        return []
    apart = " (apart from the request logs above)" if (report.get("totals") or {}).get("requests") else ""
    return [
        f"Trace      {count(b['requests'], 'request')} from block-hash traces, {num(b['input_tokens'])} input tokens "
        "(no model or price: cache reuse only, not in the spend)",
        f"Reuse      an ideal prefix cache serves {pct(b['ideal_hit_ratio'])} of the trace's input{apart}; "
        f"{pct(b['ttl_5m_hit_ratio'])} with a 5-minute TTL, {pct(b['ttl_1h_hit_ratio'])} with 1 hour",
    ]


PERIOD_TITLES = {"day": "Spend by day", "week": "Spend by week (from Monday)", "month": "Spend by month"}


def sum_periods(periods: list[dict[str, Any]]) -> dict[str, Any]:
    """Periods added up into one row, as the report model adds days into periods (cost over the priced calls;
    None when none was priced)."""
    out: dict[str, Any] = {**spend_row(), "by_model": {}}
    for p in periods:
        add_spend(out, p, digits=10)
        for m, c in (p.get("by_model") or {}).items():
            out["by_model"][m] = out["by_model"].get(m, 0.0) + c
    return out


def spend_cells(p: dict[str, Any]) -> list[str]:
    """A spend row's requests, tokens (cache read and write apart) and cost, as the tables print them."""
    return [
        num(p["requests"]),
        num(p["input_tokens"]),
        num(p["cache_read_tokens"]),
        num(p.get("cache_write_tokens") or 0),
        num(p["output_tokens"]),
        usd(p["cost_usd"]) + (" +unpriced" if p["has_unpriced"] else ""),
    ]


def period_lines(view: dict[str, Any], last: int | None = None) -> list[str]:
    """`ccusage daily` for llmcost: one line per day, week or month (the latest `last` of them), the earlier
    ones summed on one line, the undated calls on theirs and a total, so that the column adds up to the
    headline."""
    periods = view["periods"]
    shown = periods if last is None else periods[-last:]
    earlier = periods[: len(periods) - len(shown)]
    undated = view.get("undated")
    head = [PERIOD_TITLES[view["unit"]] + (f" (the latest {len(shown)} of {len(periods)})" if earlier else "")]
    rows: list[tuple[str, ...]] = [
        (view["unit"].upper(), "REQUESTS", "INPUT", "CACHE READ", "CACHE WRITE", "OUTPUT", "COST", "MODELS")
    ]

    def row(label: str, p: dict[str, Any], models: bool = True) -> tuple[str, ...]:
        names = sorted(p.get("by_model") or {}, key=lambda m: -p["by_model"][m]) if models else []
        return (
            label,
            *spend_cells(p),
            ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else ""),
        )

    if earlier:
        rows.append(row(f"(earlier {count(len(earlier), view['unit'])})", sum_periods(earlier), models=False))
    for p in shown:
        detail = p.get("models")
        rows.append(row(month_label(p["start"], view["unit"]), p, models=not detail))
        for name, m in sorted((detail or {}).items(), key=lambda x: (-(x[1]["cost_usd"] or 0), x[0])):
            rows.append(row(f"  └ {name}", m | {"by_model": {}}, models=False))
    if undated:
        rows.append(row("(undated)", undated | {"by_model": {}}))
    if len(rows) > 2:
        rows.append(row("TOTAL", sum_periods(periods + ([undated | {"by_model": {}}] if undated else [])), False))
    return head + table(rows, left=(0, 7), cap=60)


def session_lines(sessions: dict[str, Any], last: int | None = None) -> list[str]:
    """`ccusage session` for llmcost: the costliest conversations or sessions."""
    top = sessions["top"] if last is None else sessions["top"][:last]
    if not top:
        return []
    more = sessions["count"] - len(top)
    head = [
        f"Costliest conversations and sessions ({len(top)} of {sessions['count']})"
        if more
        else "Conversations and sessions"
    ]
    rows: list[tuple[str, ...]] = [("SESSION", "LAST ACTIVITY", "REQUESTS", "INPUT", "OUTPUT", "COST", "MODELS")]
    rows += [tuple(session_cells(x, width=36)) for x in top]
    return head + table(rows, left=(0, 1, 6), cap=48)


def session_cells(x: dict[str, Any], width: int | None = None) -> list[str]:
    """A session's row as the tables print it: its id (shortened to `width` for a terminal), whether llmcost
    rebuilt it, its last activity, requests, tokens, cost and models."""
    name = str(x["session"]) if width is None else shorten(str(x["session"]), width)
    return [
        name + (" (rebuilt)" if x["source"] == "rebuilt" else ""),
        (x["last_ts"] or "")[:16].replace("T", " "),
        num(x["requests"]),
        num(x["input_tokens"]),
        num(x["output_tokens"]),
        usd(x["cost_usd"]),
        x["models"] or "",
    ]


def headline_lines(report: dict[str, Any]) -> list[str]:
    """The few lines a run that wrote files prints, so that `report logs -o report.html` is not silent: the
    spend, the period, and the top lever with its range."""
    t, h = report["totals"], report["headline"]
    lines = [
        f"Spend      {usd(t['cost_usd'])} over {count(t['requests'], 'API call')}, "
        f"{period_words(report['period'], minutes=False)}"
    ]
    ux = report.get("usage_export")
    if ux:
        ut = ux["totals"]
        lines.append(
            f"Billed     {usd(ut['billed_usd'])}, the bill per the providers' usage exports"
            + ("" if ut["billed_complete"] else f" (incomplete: {num(ut['unpriced_buckets'])} buckets unpriced)")
        )
    if not t["requests"]:
        return lines
    if h["levers"]:
        lv = h["levers"][0]
        k = "monthly" if h["scaled_to_month"] else "saving"
        lines.append(
            f"Top lever  {lv['lever']}: {usd(lv[f'{k}_usd'])}{'/month' if k == 'monthly' else ''} "
            f"({usd(lv[f'{k}_low_usd'])} .. {usd(lv[f'{k}_high_usd'])}, {lv['confidence']} confidence): {lv['action']}"
        )
    else:
        lines.append("Top lever  none saves money beyond the simulator's accuracy (see the report)")
    return lines


def month_label(start: str, unit: str) -> str:
    """A period's label: the day, the week's Monday, or the month as `2025-11`."""
    return start[:7] if unit == "month" and start[:1].isdigit() else start


def render_text(report: dict[str, Any]) -> str:
    """A terminal summary for a run with no output file named: the totals (or, for a block-hash trace, its cache
    reuse), spend per model, the levers, then spend by day or week and the costliest sessions."""
    t = report["totals"]
    p = report["period"]
    ux = report.get("usage_export")
    trace_only = not t["requests"] and not ux and bool(_trace_summary(report))
    lines = []
    if not trace_only:
        lines += [
            f"Period     {period_words(p)}",
            f"Requests   {count(t['requests'], 'API call')} ({num(t['unpriced_requests'])} unpriced, "
            f"{num(t['error_requests'])} failed"
            + (f", {num(p['undated_requests'])} undated" if p.get("undated_requests") else "")
            + ")",
            f"Spend      {usd(t['cost_usd'])}"
            + (f" (~{usd(t['projected_monthly_usd'])}/month at this rate)" if t["projected_monthly_usd"] else "")
            + (", computed from the request logs at list prices; the bill is below" if ux else ""),
        ]
        if t.get("estimated_requests"):
            lines.append(
                f"Estimated  {usd(t['estimated_cost_usd'])} ({pct(t['estimated_share'])} of spend) from "
                f"{count(t['estimated_requests'], 'call')} without usage, counted from their text"
            )
        lines += [
            f"Cached     {pct(t['cached_share'])} of {num(t['input_tokens'])} input tokens",
        ]
    billed = (report.get("reconciliation") or {}).get("line")
    if billed:  # billed vs computed (analyzer/reconcile.py): its own line, apart from the levers
        lines.append(f"Reconcile  {billed}")
    if ux:
        ut = ux["totals"]
        lines += [
            f"Billed     {usd(ut['billed_usd'])}, the bill per the providers' usage exports"
            + ("" if ut["billed_complete"] else f" (incomplete: {num(ut['unpriced_buckets'])} buckets unpriced)")
            + f", {(ux['period']['start'] or '')[:10]} .. {(ux['period']['end'] or '')[:10]}",
            f"           {pct(ut['cached_share'])} of {num(ut['input_tokens'])} input tokens from cache, "
            f"which saved {usd(ut['caching_saved_usd'])}; " + "; ".join(ut["billed_basis"]),
        ]
        rec = ux["reconciliation"]
        if rec:
            gap_in = sum(r["gap_input_tokens"] or 0 for r in rec)
            costs = [r["gap_cost_usd"] for r in rec if r["gap_cost_usd"] is not None]
            if not costs:
                money = "cost unknown (the export's buckets are unpriced)"
            elif len(costs) < len(rec):
                money = f"{usd(sum(costs))} on the {count(len(costs), 'priced row')}, {len(rec) - len(costs)} unpriced"
            else:
                money = usd(sum(costs))
            lines.append(
                f"Logs gap   {num(gap_in)} input tokens, {money} (export - logs, "
                f"{count(len(rec), 'day x model row')}; the bill is the export's)"
            )
        for mp in ux["missing_pages"]:
            lines.append(
                f"           {mp['export']}: pages missing (every page read says more follow): totals are short"
            )
        if ux["needs_logs"]:
            lines += ["", ux["needs_logs"]]
    lines += _trace_summary(report)
    if report["by_model"]:
        lines.append("")
        rows = [("MODEL", "PRICED AS", "REQUESTS", "INPUT", "OUTPUT", "COST")]
        for m in report["by_model"]:
            rows.append(
                (
                    m["model"],
                    m["model_key"] or "UNPRICED",
                    num(m["requests"]),
                    num(m["input_tokens"]),
                    num(m["output_tokens"]),
                    usd(m["cost_usd"]),
                )
            )
        if len(report["by_model"]) > 1:
            rows.append(
                (
                    "TOTAL" + (f" ({len(report['by_model'])} models)" if len(report["by_model"]) > 2 else ""),
                    "",
                    num(t["requests"]),
                    num(t["input_tokens"]),
                    num(t["output_tokens"]),
                    usd(t["cost_usd"]),
                )
            )
        lines += table(rows, left=(0, 1))
    if not trace_only:
        h = report["headline"]
        monthly = h["scaled_to_month"]
        lines += ["", "What to change first" + (" (per month at the logged rate)" if monthly else " (over the period)")]
        for lv in h["levers"]:
            k = "monthly" if monthly else "saving"
            lines.append(
                f"{lv['rank']}. {lv['lever']:14}{usd(lv[f'{k}_usd']):>12}  ({usd(lv[f'{k}_low_usd'])} .. "
                f"{usd(lv[f'{k}_high_usd'])}, {lv['confidence']} confidence)"
            )
            lines.append(f"   {lv['action']}")
        if not h["levers"]:
            lines.append(h["no_lever_reason"])
    lat = report.get("latency_by_model") or []
    if lat:
        lines += ["", "Latency by model (where the logs carry it)"]
        latency: list[tuple[str, ...]] = [("MODEL", "CALLS", "MEDIAN", "P95")]
        latency += [
            (
                x["model"] or "",
                num(x["requests"]),
                f"{math.floor(x['median_ms'] + 0.5):,} ms",
                f"{math.floor(x['p95_ms'] + 0.5):,} ms",
            )
            for x in lat[:10]
        ]
        lines += table(latency, left=(0,))
    view = report.get("spend_by_period") or {}
    if view.get("periods") and (len(view["periods"]) > 1 or view.get("undated")):
        lines += [""] + period_lines(view, last=14)
    if (report.get("sessions") or {}).get("top"):
        lines += [""] + session_lines(report["sessions"], last=10)
    if unit_lines := unit_costs.lines(report.get("unit_costs")):
        lines += [""] + unit_lines
    lines.append("")
    lines.append(
        "Details, charts and assumptions: -o report.html; one view: --view daily|weekly|monthly|sessions|units|users|"
        "tags|tasks"
    )
    return terminal(lines)
