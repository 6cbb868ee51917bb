"""The terminal output of `llmcost project` and `llmcost savings`: the projected scenarios and the levers'
estimates with what each rests on.

Apart from the report's renderers because these commands print their own result, not the report model.
"""

from __future__ import annotations

from typing import Any

from analyzer.formatting import count, num, pct, table, terminal, usd


def render_projection(result: dict[str, Any]) -> str:
    """`llmcost project` for people: the workload as given, what the levers save, the three scenarios."""
    w = result["as_given"]["workload"]
    lines = [
        f"{num(w['requests'])} requests/month x ({num(w['input_tokens'])} in, {num(w['output_tokens'])} out) "
        f"on {w['model']}"
        + (f", {pct(w['route_share'])} routed to {w['route_to']}" if w["route_share"] else "")
        + (
            f", {num(w['cached_prefix'])}-token prefix cached at {pct(w['cache_hit_rate'])} hits"
            if w["cached_prefix"]
            else ""
        )
        + (f", context growth {w['growth']:+.0%}" if w["growth"] else ""),
        "",
    ]
    words = result.get("scenarios_assume") or {}
    rows = [("as given", result["as_given"]), ("no levers", result["without_levers"])]
    rows += [(words.get(k, k), v) for k, v in result["scenarios"].items()]
    lines += _scenario_table(rows)
    given = [x for x, on in (("routing", w["route_share"]), ("caching", w["cached_prefix"])) if on]
    if given:
        verb = "saves" if len(given) == 1 else "save"
        lines += [
            "",
            f"{' and '.join(given).capitalize()} {verb} {usd(result['levers_save_usd'])}/month on this workload.",
            "",
        ]
    else:
        lines += ["", "No routing or caching given (--route-share, --cached-prefix): the cost as it is.", ""]
    lines += [f"- {a}" for a in result["assumptions"]]
    return "\n".join(lines) + "\n"


PROJECTION_PARTS = ("input_usd", "cache_read_usd", "cache_write_usd", "output_usd", "total_usd")


def _scenario_table(rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Scenarios by cost part per month, each header over its numbers."""
    grid: list[tuple[str, ...]] = [("", "INPUT", "CACHE READ", "CACHE WRITE", "OUTPUT", "TOTAL")]
    grid += [(name, *(usd(r[k]) for k in PROJECTION_PARTS)) for name, r in rows]
    return table(grid, left=(0,), cap=60)


def render_projection_by_model(result: dict[str, Any]) -> str:
    """`llmcost project --from-db` for people: each model's measured workload and monthly cost, the sum, and the
    scenarios named for what they assume."""
    rows = [("MODEL", "REQUESTS/MONTH", "INPUT/REQUEST", "OUTPUT/REQUEST", "CACHE HITS", "COST/MONTH")]
    for m in sorted(result["models"], key=lambda m: -m["total_usd"]):
        per_month = m["requests_per_month"]
        rows.append(
            (
                m["model"],
                "under 1" if per_month < 1 else num(round(per_month, 1) if per_month < 10 else round(per_month)),
                num(round(m["input_tokens"])),
                num(round(m["output_tokens"])),
                pct(m["cache_hit_rate"]),
                usd(m["total_usd"]),
            )
        )
    lines = [
        f"Measured from {result['measured_from']}: {count(len(result['models']), 'model')}, each on its own workload",
        "",
    ]
    rows.append(("TOTAL", "", "", "", "", usd(result["as_given"]["total_usd"])))
    lines += table(rows, left=(0,))
    if any(m["requests_per_month"] < 1 for m in result["models"]):
        lines.append("Requests per month at the measured rate: a model seen a few times over a long period is under 1.")
    if result["unpriced_models"]:
        lines.append(f"Not projected (no price): {', '.join(result['unpriced_models'])}")
    words = result.get("scenarios_assume") or {}
    scen = [("as measured", result["as_given"]), ("without routing or caching", result["without_levers"])]
    lines += [""] + _scenario_table(scen + [(words.get(k, k), v) for k, v in result["scenarios"].items()])
    lines += [""] + [f"- {a}" for a in result["assumptions"]]
    return terminal(lines)


def render_savings(report: dict[str, Any]) -> str:
    """`llmcost savings` for people: one line per estimate with its range, then what each rests on."""
    est = report["savings"]
    if not est:
        return (
            "No lever applies to this traffic with the estimators available (caching, routing, batching, trimming).\n"
        )
    spend = report["totals"]["cost_usd"]
    lines = [f"Spend in period: {usd(spend)}"]
    bases = sorted({round(e["baseline_usd"], 6) for e in est if e.get("baseline_usd") is not None})
    if len(bases) == 1 and spend is not None and round(bases[0] - spend, 4):
        # every saving below starts from the simulator's replay of the traffic as logged, not from the spend
        gap = bases[0] - spend
        lines.append(
            f"As replayed:     {usd(bases[0])}, the simulator's replay of the same calls as logged (the base of every "
            f"saving below): {usd(abs(gap))} {'above' if gap > 0 else 'below'} the spend, the simulator's difference"
        )
    lines += [
        "",
        "Each saving is two replays under one simulator (as logged, and with the lever); BAND is the simulator's",
        "error on the requests the lever changes: a saving inside it is nothing to gain. Savings are at the prices",
        "billed (each call at the prices in force at its time); TODAY is the same saving at today's prices.",
        "",
    ]
    rows = [("LEVER", "REQUESTS", "SAVING", "RANGE", "BAND", "TODAY", "VERDICT", "POLICY")]
    for e in est:
        verdict = e.get("verdict", "")
        if not e["requests"] and not round(e["saving_usd"] or 0, 6):
            verdict = "no request changes"  # a lever that touches nothing saves nothing, whatever its sign
        rows.append(
            (
                e["lever"],
                num(e["requests"]),
                usd(e["saving_usd"]),
                f"{usd(e['saving_low_usd'])} .. {usd(e['saving_high_usd'])}",
                usd((e.get("backtest") or {}).get("band_usd")),
                usd(e.get("saving_today_usd")),
                verdict,
                e["policy"],
            )
        )
    lines += table(rows, left=(0, 6, 7), cap=200)
    bt = report["caching"]["backtest"]
    if bt:
        lines += [
            "",
            f"Caching backtest ({', '.join(bt['providers'])}, {num(bt['requests'])} requests): simulated "
            f"{num(bt['simulated_cache_read_tokens'])} cache-read tokens vs {num(bt['reported_cache_read_tokens'])}"
            f" reported" + (f" ({bt['error_pct']:+.1f}%)" if bt["error_pct"] is not None else ""),
        ]
        if bt.get("per_call_error_points_p95") is not None:
            lines.append(
                f"  per call: median {bt['per_call_error_points_median']} and p95 {bt['per_call_error_points_p95']} "
                "points of the call's input; "
                f"{num(bt.get('reported_zero_simulated_hits'))} calls reported no cache read where the simulator "
                "finds one"
            )
        w = bt["after_first_request_of_each_scope"]
        if w["error_pct"] is not None:
            lines.append(
                f"  without each scope's first request (cached before the log began): {w['error_pct']:+.1f}% "
                f"on {num(w['requests'])} requests"
            )
    lines.append("")
    for e in est:
        lines.append(f"{e['lever']} ({e['policy']}):")
        lines += [f"  - {a}" for a in e["assumptions"] + e["evidence"]]
    return terminal(lines)
