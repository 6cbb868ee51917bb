"""Above the fold: the levers ranked by what they would save, each with its range, a confidence that says what
it rests on, and one sentence on what to change. Built from the finished report model (no new figures: every
dollar here is an estimate's, scaled to a month at the logged daily rate).
"""

from __future__ import annotations

from typing import Any

from analyzer.projection import monthly_factor
from analyzer.savings import Verdict, usd_text

TOP_LEVERS = 3
MIN_CACHEABLE_TOKENS = 1024
MAX_HIGH_CONFIDENCE_P95 = 25.0  # per-call backtest error, in points of the call's input


def headline(report: dict[str, Any]) -> dict[str, Any]:
    days = report["period"]["days"]
    per_month = monthly_factor(days)
    saving = [e for e in report["savings"] if e.get("verdict", Verdict.SAVES) == Verdict.SAVES]
    candidates = [_lever(e, report, per_month) for e in _best_per_lever(saving)]
    ranked = sorted((c for c in candidates if c["saving_usd"] > 0), key=lambda c: c["saving_usd"], reverse=True)
    for i, c in enumerate(ranked, 1):
        c["rank"] = i
    combined = report.get("combined")
    out: dict[str, Any] = {
        "period_days": days,
        "total_usd": report["totals"]["cost_usd"],
        "projected_monthly_usd": report["totals"]["projected_monthly_usd"],
        "scaled_to_month": per_month is not None,
        "levers": ranked[:TOP_LEVERS],
        "other_levers": ranked[TOP_LEVERS:],
        "combined": None,
        "no_lever_reason": None,
        # levers replayed and rejected: what they would cost, or why they are inside the error band
        "costs_more": [_rejected(e, per_month) for e in report["savings"] if e.get("verdict") == Verdict.COSTS_MORE],
        "nothing_to_gain": [
            _rejected(e, per_month) for e in report["savings"] if e.get("verdict") == Verdict.NOTHING_TO_GAIN
        ],
        # levers not ranked for want of a range that clears the band, or of evidence: each with why
        "withheld": [_rejected(e, per_month) for e in report["savings"] if e.get("verdict") == Verdict.WITHHELD],
    }
    if combined and combined.get("estimate") and len(combined.get("components") or []) > 1:
        e = combined["estimate"]
        out["combined"] = {
            "policy": e["policy"],
            **_money(e, per_month),
            "separate_sum_usd": combined["separate_sum_usd"],
        }
    if not ranked:
        out["no_lever_reason"] = (
            "No lever is ranked as a saving on this traffic (beyond the simulator's accuracy, across its range, on "
            "enough evidence): "
            + (
                "; ".join(
                    f"{e['lever']} ({e['policy']}) {_verdict_text(e, per_month)}"
                    for e in _best_per_lever(report["savings"])
                )
                or "no estimator applies (no message bodies, or no priced requests)"
            )
            + "."
        )
    return out


def _verdict_text(e: dict[str, Any], per_month: float | None) -> str:
    """The verdict in words, its dollars per month when the heading above says "per month" (as every ranked
    lever's), else over the period."""

    def amount(x: float) -> str:
        return f"{usd_text(x * per_month)}/month" if per_month else usd_text(x)

    if e.get("verdict") == Verdict.WITHHELD:
        return f"{amount(e['saving_usd'])} in the central case, withheld: {e.get('withheld') or 'no evidence'}"
    if e.get("verdict") == Verdict.COSTS_MORE:
        return f"would cost {amount(-e['saving_usd'])} more"
    band = (e.get("backtest") or {}).get("band_usd")
    if e.get("verdict") == Verdict.NOTHING_TO_GAIN and band is not None:
        return f"{amount(e['saving_usd'])}, inside the error band of {amount(band)}"
    return amount(e["saving_usd"])


def _rejected(e: dict[str, Any], per_month: float | None) -> dict[str, Any]:
    return {
        "lever": e["lever"],
        "policy": e["policy"],
        "saving_usd": e["saving_usd"],
        "band_usd": (e.get("backtest") or {}).get("band_usd"),
        "text": f"{e['lever'].capitalize()}, {e['policy']}: {_verdict_text(e, per_month)}.",
    }


def _best_per_lever(estimates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    best: dict[str, dict[str, Any]] = {}
    for e in estimates:
        if e["lever"] not in best or e["saving_usd"] > best[e["lever"]]["saving_usd"]:
            best[e["lever"]] = e
    return list(best.values())


def _money(e: dict[str, Any], per_month: float | None) -> dict[str, Any]:
    m = {k: e[k] for k in ("saving_usd", "saving_low_usd", "saving_high_usd")}
    for k in ("saving_usd", "saving_low_usd", "saving_high_usd"):
        m[k.replace("saving", "monthly")] = round(e[k] * per_month, 10) if per_month else None
    return m


def _amount(m: dict[str, Any]) -> str:
    return f"{usd_text(m['monthly_usd'])}/month" if m["monthly_usd"] is not None else usd_text(m["saving_usd"])


def _spread(e: dict[str, Any]) -> float:
    return (e["saving_high_usd"] - e["saving_low_usd"]) / max(abs(e["saving_usd"]), 1e-12)


def _lever(e: dict[str, Any], report: dict[str, Any], per_month: float | None) -> dict[str, Any]:
    m = _money(e, per_month)
    lever = e["lever"]
    spread = _spread(e)
    d = e.get("detail") or {}
    bt = report["caching"].get("backtest") or {}
    err = (bt.get("after_first_request_of_each_scope") or {}).get("error_pct")
    contradictions = bt.get("reported_zero_simulated_hits") or 0
    band = (e.get("backtest") or {}).get("band_usd")
    band_text = f"; error band {usd_text(band)}" if band is not None else ""
    if lever == "caching":
        if err is None:
            level = "low" if contradictions else "medium" if spread <= 1 else "low"
            reason = (
                f"the providers reported no cache reads where the simulator predicts them on {contradictions:,} "
                "requests"
                if contradictions
                else "no provider-reported cache reads to backtest the simulator against"
            )
        else:
            # in total within 10%, and call by call mostly right: a p95 error of more than a quarter of the input
            # means the total is right by compensation, not by understanding the traffic
            p95 = bt.get("per_call_error_points_p95")
            steady = p95 is None or p95 <= MAX_HIGH_CONFIDENCE_P95
            level = "high" if abs(err) <= 10 and spread <= 1 and steady else "medium" if abs(err) <= 30 else "low"
            reason = (
                f"two replays; the simulator's backtest against provider-reported cache reads: {err:+.1f}% "
                f"(per call p95 {bt.get('per_call_error_points_p95')} points){band_text}"
            )
        action = _caching_action(report, e, m)
    elif lever == "routing":
        level = "medium" if spread <= 1 else "low"
        reason = (
            f"two replays, the routed requests in their target's cache{band_text}; answer quality on the cheaper "
            "model is not measured"
        )
        targets = " and ".join(sorted(d.get("targets", {}))) or "a cheaper model"
        which = (
            "requests your rules file matches"
            if e["policy"] == "rules file"
            else "simple requests (short question and answer, no tools or code, early turn)"
        )
        action = (
            f"Route {d.get('share', 0.7):.0%} of the {d.get('eligible_requests', e['requests']):,} {which} to "
            f"{targets}, once a sample of their answers checks out: {_amount(m)}."
        )
    elif lever == "trimming":
        level = "medium" if spread <= 1 and (err is None or abs(err) <= 10) else "low"
        reason = (
            "two replays through the cache simulator"
            # the cache reads' backtest, named so, not to be read as the replay's cost error (the waterfall's step)
            + (f" (backtest against provider-reported cache reads {err:+.1f}%)" if err is not None else "")
            + f"{band_text}; whether answers stay as good is not measured"
        )
        before, after = d.get("input_tokens_before", 0), d.get("input_tokens_after", 0)
        kind = d.get("policy_kind")
        at = f"{d.get('at_tokens') or 0:,} tokens"
        what = {
            "Compact": f"compact the conversation (one summary call) when its context reaches {at}",
            "ClearToolResults": f"clear all but the last {d.get('keep')} tool results when the context reaches {at}",
        }.get(kind or "", f"send only the {e['policy']}")
        action = (
            f"In the {e['requests']:,} requests it changes, {what} ({before - after:,} fewer input tokens, "
            f"replayed with the cache): {_amount(m)}."
        )
    elif lever == "batching":
        level = "high" if spread <= 1 else "medium"
        reason = "a price change only; holds if these callers can wait up to 24 hours"
        action = (
            f"Send the {e['requests']:,} requests of {d.get('programmatic_sources', 0)} programmatic caller(s) "
            f"through the Batch API: {_amount(m)}."
        )
    else:
        level, reason, action = "low", "", f"{e['policy']}: {_amount(m)}."
    today = e.get("saving_today_usd")
    monthly_today = round(today * per_month, 10) if today is not None and per_month else None
    return {
        "lever": lever,
        "policy": e["policy"],
        **m,
        # at which prices: the figures above as billed; today's prices beside them (the forward-looking figure)
        "prices": e.get("prices") or "",
        "saving_today_usd": today,
        "monthly_today_usd": monthly_today,
        "prices_text": _prices_text(e, today, monthly_today),
        "confidence": level,
        "confidence_reason": reason,
        "action": action,
    }


def _prices_text(e: dict[str, Any], today: float | None, monthly_today: float | None) -> str:
    """One sentence: at which prices the lever's figures are given, and the figure at today's prices."""
    if not (e.get("prices") or "").startswith("as billed"):
        return e.get("prices") or ""
    text = "At the prices billed (each call at the prices in force at its time)"
    if today is None:
        return text + "."
    amount = f"{usd_text(monthly_today)}/month" if monthly_today is not None else usd_text(today)
    return f"{text}; at today's prices: {amount}."


def _caching_action(report: dict[str, Any], e: dict[str, Any], m: dict[str, Any]) -> str:
    d = e.get("detail") or {}
    if d.get("mode") == "stabilise":
        v = (report.get("volatile_prefixes") or [{}])[0]
        where = f"\u201c{v['prompt_start']}\u201d" if v.get("prompt_start") else "that varies early"
        span = f"\u201c{v['volatile_example']}\u201d" if v.get("volatile_example") is not None else "its volatile part"
        first = f"{v['first_diff_token']:,}" if v.get("first_diff_token") is not None else "few"
        return (
            f"Move {span} out of the first {first} tokens of the system prompt {where} (and of its other "
            f"variants) to its end, so every variant shares one cacheable prefix: {_amount(m)}."
        )
    if d.get("mode") == "automatic":
        return (
            "OpenAI caches automatically: set prompt_cache_retention to 24h on the GPT-5 / GPT-4.1 requests so "
            f"prefixes stay cached across idle gaps: {_amount(m)}."
        )
    if "Gemini" in e["policy"]:
        return f"Create explicit Gemini caches for the repeated system prompts (storage paid per hour): {_amount(m)}."
    ttl = "1-hour" if d.get("ttl_s", 300) >= 3600 else "5-minute"
    # a prefix below the smallest minimum any provider caches (1,024 tokens) is no advice, however often it repeats
    gaps = [p for p in report["top_prefixes"] if p["uncached_reuse_tokens"] and p["tokens"] >= MIN_CACHEABLE_TOKENS]
    if not gaps:
        return (
            f"On Anthropic, put a {ttl} cache_control breakpoint after the system prompt and tools and one at the "
            f"end of each request's input: {_amount(m)}."
        )
    p = max(gaps, key=lambda p: p["uncached_reuse_tokens"])
    users = f"{p['users']:,} user" + ("s" if p["users"] != 1 else "")
    name = f"that starts \u201c{p['excerpt']}\u201d" if p.get("excerpt") else f"{p['prefix']}"
    return (
        f"Cache the {p['tokens']:,}-token prefix {name} ({p['requests']:,} requests, {users}, "
        f"{p['reuses_within_5m']:.0%} reused within 5 minutes): keep it byte-identical at the start of each request "
        f"and put a {ttl} cache breakpoint after it on Anthropic: {_amount(m)} across all prefixes."
    )
