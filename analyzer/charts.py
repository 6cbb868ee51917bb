"""The report's charts: Vega-Lite specs built from the report model, rendered offline to static SVG
(`render/svg.py` draws them).

Why Vega-Lite + vl-convert: a chart is a small declarative spec (plain data, testable, the grammar polars'
own `.plot` emits through Altair), and vl-convert renders it with the real Vega engine compiled into one
wheel: no browser, no Node, no network. Static SVG works from a file:// URL, in an e-mail attachment and in
print, and needs no JavaScript in the page. Altair itself is not needed: the specs are dicts, so the report
does not pull in pandas-era dependencies to build them.

Nothing here computes a new figure: every number is read from the report model; the charts only arrange it.
"""

from __future__ import annotations

import math
from typing import Any

from analyzer.formatting import usd
from analyzer.projection import monthly_factor

WIDTH = 520
HEIGHT = 220
MAX_MODELS = 7  # daily spend: the biggest models by spend, the rest as "other models"
MAX_TURNS = 40
FONT = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif"
CONFIG = {
    "font": FONT,
    "view": {"stroke": None},
    # titlePadding: the browser's system font is wider than the one vl-convert measures labels with, so a title
    # placed at the measured width would overlap the tick labels
    "axis": {"labelFontSize": 11, "titleFontSize": 11, "titleFontWeight": "normal", "grid": True, "titlePadding": 14},
    # columnPadding: room for the browser's wider font (see titlePadding), so legend entries never overlap
    "legend": {
        "labelFontSize": 11,
        "titleFontSize": 11,
        "orient": "bottom",
        "columns": 3,
        "labelLimit": 260,
        "columnPadding": 28,
    },
    "range": {"category": {"scheme": "tableau10"}},
}


def vega_lite(data: list[dict[str, Any]], body: dict[str, Any], *, width: int = WIDTH, height: int = HEIGHT) -> dict:
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "width": width,
        "height": height,
        "background": "white",
        "config": CONFIG,
        "data": {"values": data},
        **body,
    }


def money_format(top: float) -> str:
    """A d3 format for dollar axes and labels with enough decimals that neighbouring ticks differ: a scale that
    tops out at $0.0002 would read "$0.0000" at every tick with four."""
    top = abs(top)
    if top >= 100:
        return "$,.0f"
    if top <= 0:
        return "$,.2f"
    step = top / 5  # about the tick spacing Vega picks for a chart this tall
    return f"$,.{min(max(2, math.ceil(-math.log10(step))), 8)}f"


def _per_month(report: dict[str, Any]) -> float | None:
    return monthly_factor(report["period"]["days"])


UNIT_TITLES = {"day": "Day (UTC)", "week": "Week (UTC, from Monday)", "month": "Month (UTC)"}
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _period_label(start: str, unit: str, years: int) -> str:
    """ "Nov 24" for a day or week ("Nov 24 2025" when the bars span years), "Nov 2025" for a month."""
    y, m, d = start.split("-")
    month = MONTHS[int(m) - 1]
    if unit == "month":
        return f"{month} {y}"
    return f"{month} {int(d)}" + (f" {y}" if years > 1 else "")


def _every_period(first: str, last: str, unit: str) -> list[str]:
    """The start of every day, ISO week or month from `first` to `last` (both period starts), at most 400."""
    from datetime import date, timedelta

    d, end = date.fromisoformat(first), date.fromisoformat(last)
    out: list[str] = []
    while d <= end and len(out) < 400:
        out.append(d.isoformat())
        if unit == "month":
            d = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
        else:
            d += timedelta(days=7 if unit == "week" else 1)
    return out


def daily_spend(report: dict[str, Any]) -> dict | None:
    """Spend per day, week or month (by the period's length, so bars never shrink to hairlines), stacked by
    model as logged; one bar per period, so no date repeats on the axis."""
    view = report.get("spend_by_period") or {}
    periods = [p for p in view.get("periods") or [] if p["cost_usd"] is not None]
    if not periods:
        return None
    spend: dict[str, float] = {}
    for p in periods:
        for m, c in p["by_model"].items():
            spend[m] = spend.get(m, 0.0) + c
    keep = set(sorted(spend, key=lambda m: spend[m], reverse=True)[:MAX_MODELS])
    unit = view["unit"]
    years = len({p["start"][:4] for p in periods})
    labels = [_period_label(p["start"], unit, years) for p in periods]
    # every period from the first to the last, those without spend too: an empty month is a gap on the axis,
    # not hidden (the bars would read as consecutive)
    axis = [_period_label(d, unit, years) for d in _every_period(periods[0]["start"], periods[-1]["start"], unit)]
    data = [
        {"period": label, "model": m if m in keep else "other models", "cost_usd": c}
        for p, label in zip(periods, labels, strict=True)
        for m, c in p["by_model"].items()
    ]
    return vega_lite(
        data,
        {
            "mark": {"type": "bar"},
            "encoding": {
                "x": {
                    "field": "period",
                    "type": "ordinal",
                    "sort": axis,
                    "scale": {"domain": axis},
                    "title": UNIT_TITLES[unit],
                    "axis": {"labelAngle": -40, "labelOverlap": "greedy", "labelSeparation": 4},
                },
                "y": {
                    "aggregate": "sum",
                    "field": "cost_usd",
                    "type": "quantitative",
                    "title": "Spend (USD)",
                    "axis": {"format": money_format(max(p["cost_usd"] for p in periods))},
                },
                "color": {
                    "field": "model",
                    "type": "nominal",
                    "title": "Model (as logged)",
                    "sort": sorted(keep, key=lambda m: -spend[m]) + ["other models"],
                    "legend": {"columns": 1 if len(keep) > 4 else 2, "labelLimit": 320},
                },
            },
        },
    )


def context_growth(report: dict[str, Any]) -> dict | None:
    growth = (report.get("conversations") or {}).get("growth_by_turn") or []
    data = []
    for g in growth[:MAX_TURNS]:
        data.append({"turn": g["turn"], "statistic": "median", "tokens": g["median_input_tokens"]})
        data.append({"turn": g["turn"], "statistic": "p90", "tokens": g["p90_input_tokens"]})
    if len(growth) < 2:
        return None
    return vega_lite(
        data,
        {
            "mark": {"type": "line", "point": True},
            "encoding": {
                "x": {
                    "field": "turn",
                    "type": "quantitative",
                    "title": "Turn",
                    # whole turns only: a tick at 1.5 rounded to "2" would repeat a label
                    "axis": {"tickMinStep": 1, "format": "d"}
                    | ({"values": [g["turn"] for g in growth[:MAX_TURNS]]} if len(growth) <= 12 else {}),
                },
                "y": {"field": "tokens", "type": "quantitative", "title": "Input tokens per request"},
                "color": {"field": "statistic", "type": "nominal", "title": None},
            },
        },
    )


def segments(report: dict[str, Any]) -> dict | None:
    segs = (report.get("conversations") or {}).get("segments") or {}
    data = [
        {"segment": k.replace("_", " "), "cost_usd": v["cost_usd"], "share": v["share"] or 0.0}
        for k, v in segs.items()
        if v["tokens"]
    ]
    if not data:
        return None
    y = {"field": "segment", "type": "nominal", "sort": "-x", "title": None}
    return vega_lite(
        data,
        {
            "encoding": {"y": y},
            "layer": [
                {
                    "mark": {"type": "bar", "color": "#4c78a8"},
                    "encoding": {
                        "x": {
                            "field": "cost_usd",
                            "type": "quantitative",
                            "title": "Input cost (USD)",
                            "axis": {"format": money_format(max(d["cost_usd"] for d in data)), "tickCount": 5},
                        }
                    },
                },
                {
                    "mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 11},
                    "encoding": {
                        "x": {"field": "cost_usd", "type": "quantitative"},
                        "text": {"field": "share", "type": "quantitative", "format": ".0%"},
                    },
                },
            ],
        },
        height=30 * len(data),
    )


def waterfall(report: dict[str, Any]) -> dict | None:
    """From the spend the headline shows (the bill as computed from the logs), through the simulator's own
    difference from it (the as-is replay every saving is measured from), minus each lever's separate saving,
    plus what they give back when combined (the interaction), down to the spend with all of them replayed
    together: every bar starts where the previous one ended, so the steps add up."""
    combined = report.get("combined")
    if not combined or not combined.get("components") or not combined.get("estimate"):
        return None
    est = combined["estimate"]
    bill = (report.get("totals") or {}).get("cost_usd")
    level = est["baseline_usd"]
    if bill is None:
        data = [{"step": "as replayed", "start": 0.0, "end": level, "kind": "spend", "amount": level}]
    else:
        data = [{"step": "spend", "start": 0.0, "end": bill, "kind": "spend", "amount": bill}]
        if round(level - bill, 4):
            data.append(
                {
                    "step": "simulator difference",
                    "start": bill,
                    "end": level,
                    "kind": "simulator",
                    "amount": level - bill,
                }
            )
    levers = [c["lever"] for c in combined["components"]]
    for c in combined["components"]:
        if not c["saving_usd"]:
            continue  # a lever with nothing to do here (no programmatic traffic to batch, ...) is not a step
        data.append(
            {
                "step": c["lever"] if levers.count(c["lever"]) == 1 else f"{c['lever']}: {c['policy'][:24]}",
                "start": level,
                "end": level - c["saving_usd"],
                "kind": "lever saves" if c["saving_usd"] >= 0 else "lever costs",
                "amount": -c["saving_usd"],
            }
        )
        level -= c["saving_usd"]
    final = est["baseline_usd"] - est["saving_usd"]
    data.append({"step": "interaction", "start": level, "end": final, "kind": "interaction", "amount": final - level})
    data.append({"step": "all levers together", "start": 0.0, "end": final, "kind": "spend", "amount": final})
    order = [d["step"] for d in data]
    fmt = money_format(max(max(d["start"], d["end"]) for d in data))
    x = {
        "field": "step",
        "type": "nominal",
        "sort": order,
        "title": None,
        # level labels, one word a line: slanted labels were clipped at the chart's left edge in the browser
        "axis": {"labelAngle": 0, "labelExpr": "split(datum.label, ' ')", "labelLimit": 140},
    }
    return vega_lite(
        data,
        {
            "encoding": {"x": x},
            "layer": [
                {
                    "mark": {"type": "bar"},
                    "encoding": {
                        "y": {
                            "field": "start",
                            "type": "quantitative",
                            "title": "Spend (USD)",
                            "axis": {"format": fmt},
                        },
                        "y2": {"field": "end"},
                        "color": {
                            "field": "kind",
                            "type": "nominal",
                            "title": None,
                            "scale": {
                                "domain": ["spend", "simulator", "lever saves", "lever costs", "interaction"],
                                "range": ["#4c78a8", "#9d9d9d", "#54a24b", "#e45756", "#f58518"],
                            },
                        },
                    },
                },
                {
                    "mark": {"type": "text", "dy": -6, "fontSize": 10},
                    "encoding": {
                        "y": {"field": "end", "type": "quantitative"},
                        "text": {"field": "amount", "type": "quantitative", "format": fmt},
                    },
                },
            ],
        },
    )


def prefix_reuse(report: dict[str, Any]) -> dict | None:
    gaps = (report.get("prefix_reuse") or {}).get("gaps") or []
    if not any(g["tokens"] for g in gaps):
        return None
    data = []
    for g in gaps:
        to = g["to_s"]
        kept = (
            "within 5 min"
            if to is not None and to <= 300
            else "within 1 h"
            if to is not None and to <= 3600
            else ("after 1 h")
        )
        data.append({"gap": g["bucket"], "tokens": g["tokens"], "ttl": kept})
    return vega_lite(
        data,
        {
            "mark": {"type": "bar"},
            "encoding": {
                "x": {
                    "field": "gap",
                    "type": "nominal",
                    "sort": [g["bucket"] for g in gaps],
                    "title": "Time since the prefix was last used",
                    "axis": {"labelAngle": -30},
                },
                "y": {"field": "tokens", "type": "quantitative", "title": "Reusable input tokens"},
                "color": {
                    "field": "ttl",
                    "type": "nominal",
                    "title": "A cache keeps it",
                    "scale": {
                        "domain": ["within 5 min", "within 1 h", "after 1 h"],
                        "range": ["#54a24b", "#f58518", "#bab0ac"],
                    },
                },
            },
        },
    )


def cache_misses(report: dict[str, Any]) -> dict | None:
    """What each cause of cache misses cost (the `cache_misses` block, issue 25): one bar per cause."""
    causes = [c for c in (report.get("cache_misses") or {}).get("causes") or [] if c["cost_usd"] > 0]
    if not causes:
        return None
    data = [{"cause": c["cause"].replace("_", " "), "usd": c["cost_usd"], "requests": c["requests"]} for c in causes]
    return vega_lite(
        data,
        {
            "mark": {"type": "bar"},
            "encoding": {
                "y": {"field": "cause", "type": "nominal", "sort": "-x", "title": None},
                "x": {
                    "field": "usd",
                    "type": "quantitative",
                    "title": "Cost of the misses (as-is replay minus ideal)",
                    "axis": {"format": money_format(max(d["usd"] for d in data))},
                },
                "tooltip": [{"field": "cause"}, {"field": "usd", "format": "$,.4f"}, {"field": "requests"}],
            },
        },
        height=max(60, 28 * len(data)),
    )


def routing_sensitivity(report: dict[str, Any]) -> dict | None:
    est = next(
        (
            e
            for e in report["savings"]
            if e["lever"] == "routing" and (e.get("detail") or {}).get("saving_by_share_usd")
        ),
        None,
    )
    if est is None:
        return None
    d = est["detail"]
    scale = _per_month(report) or 1.0
    points = [(0.0, -d["classifier_usd"])] + sorted((float(k), v) for k, v in d["saving_by_share_usd"].items())
    label = "two replays at each share (classifier included)"
    data = [{"share": share, "case": label, "saving": saving * scale} for share, saving in points]
    unit = "per month" if _per_month(report) else "in the period"
    marks = [{"share": d[k]} for k in ("share_low", "share", "share_high")]
    return vega_lite(
        data,
        {
            "layer": [
                {
                    "mark": {"type": "line"},
                    "encoding": {
                        "x": {
                            "field": "share",
                            "type": "quantitative",
                            "title": "Share of eligible requests routed",
                            "axis": {"format": ".0%"},
                        },
                        "y": {
                            "field": "saving",
                            "type": "quantitative",
                            "title": f"Saving {unit} (USD)",
                            "axis": {"format": money_format(max(abs(d["saving"]) for d in data))},
                        },
                        "color": {"field": "case", "type": "nominal", "title": None, "legend": {"columns": 1}},
                    },
                },
                {
                    "data": {"values": marks},
                    "mark": {"type": "rule", "strokeDash": [4, 3], "color": "#888"},
                    "encoding": {"x": {"field": "share", "type": "quantitative"}},
                },
            ]
        },
    )


def projection(report: dict[str, Any]) -> dict | None:
    p = report.get("projection")
    if not p or "scenarios" not in p:
        return None
    parts = (
        ("input_usd", "uncached input"),
        ("cache_read_usd", "cache reads"),
        ("cache_write_usd", "cache writes"),
        ("output_usd", "output"),
    )
    words = p.get("scenarios_assume") or {}
    rows = [("as measured", p["as_given"])] + [(words.get(k, k), v) for k, v in p["scenarios"].items()]
    data = [{"scenario": name, "part": label, "usd": r[key]} for name, r in rows for key, label in parts]
    return vega_lite(
        data,
        {
            "mark": {"type": "bar"},
            "encoding": {
                "x": {
                    "field": "scenario",
                    "type": "nominal",
                    "sort": [n for n, _ in rows],
                    "title": None,
                    "axis": {"labelAngle": 0, "labelExpr": "split(datum.label, ', ')"},  # one line per assumption
                },
                "y": {
                    "aggregate": "sum",
                    "field": "usd",
                    "type": "quantitative",
                    "title": "USD per month",
                    "axis": {"format": money_format(max(r["total_usd"] for _, r in rows))},
                },
                "color": {"field": "part", "type": "nominal", "title": None, "sort": [lbl for _, lbl in parts]},
                "order": {"field": "part"},
            },
        },
    )


# id -> (title, builder, caption): the order is the report's order
CHARTS = {
    "daily-spend": (
        "Spend over time by model",
        daily_spend,
        "Cost per UTC day (per week over two months, per month over a year) at catalogue prices, stacked by "
        "model as logged; unpriced models are not in it.",
    ),
    "waterfall": (
        "From spend to all levers together",
        waterfall,
        "The spend the headline shows, then the simulator's difference from it (the traffic replayed as it was, "
        "which every saving is measured from), each lever's separate saving as if they added up, then the "
        "interaction (what they give back when replayed as one), ending at the combined replay's spend. Each bar "
        "starts where the one before ended. Same period as the logs.",
    ),
    "context-growth": (
        "Context growth by turn",
        context_growth,
        "Input tokens per request by turn of the rebuilt conversations (median and 90th percentile).",
    ),
    "segments": (
        "What the input cost was spent on",
        segments,
        "Input cost split by segment; labels are the share of input tokens.",
    ),
    "prefix-reuse": (
        "Prefix reuse against the cache TTLs",
        prefix_reuse,
        "Input tokens an unlimited cache could have served, by time since the same prefix was last "
        "sent: green is kept by a 5-minute TTL, orange only by a 1-hour one.",
    ),
    "cache-misses": (
        "Why the cache missed",
        cache_misses,
        "What each cause of cache misses cost: the as-is replay minus a replay with that obstacle lifted, the "
        "obstacles lifted in turn (the provider's hit rule, breakpoints, cache scope, expiry, prefix changes, "
        "minimum length) until the ideal replay; the bars add up to as-is minus ideal.",
    ),
    "routing": (
        "Routing: saving by share routed",
        routing_sensitivity,
        "Saving if this share of the eligible requests went to the cheaper model: each point is two replays "
        "through the cache, classifier cost included; dashed lines mark the low, central and high cases.",
    ),
    "projection": (
        "Projected monthly cost",
        projection,
        "Each model's measured workload (requests per month, mean tokens, cache hit rate), summed, and the three "
        "scenarios of `llmcost project`, each named for what it assumes.",
    ),
}


def _projection_caption(report: dict[str, Any], caption: str) -> str:
    """The projection's first bar beside the headline's monthly figure, and what sets them apart: the bar prices
    each model's mean request at today's list prices, the headline scales the logged spend (each call as
    billed) to a month."""
    modelled = ((report.get("projection") or {}).get("as_given") or {}).get("total_usd")
    logged = (report.get("totals") or {}).get("projected_monthly_usd")
    if modelled is None or logged is None:
        return caption
    return (
        f"{caption} The first bar, {usd(modelled)}/month, prices each model's mean request at today's list "
        f"prices; the headline's {usd(logged)}/month is the logged spend, each call as billed, scaled to a month "
        f"({usd(logged - modelled)} apart: the mean request in place of each request, today's prices in place of "
        "each call's)."
    )


CAPTIONS = {"projection": _projection_caption}  # id -> the caption with this report's figures in it


def specs(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The charts this report has data for: id, title, caption, spec."""
    out = []
    for cid, (title, build, caption) in CHARTS.items():
        spec = build(report)
        if spec is not None:
            if cid in CAPTIONS:
                caption = CAPTIONS[cid](report, caption)
            out.append({"id": cid, "title": title, "caption": caption, "spec": spec})
    return out
