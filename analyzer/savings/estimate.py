"""Estimates: every `Estimate` is made here, its range and its verdict decided in one place.

A lever's figure is the central case's two-replay saving; its range is the smallest and largest saving over
its cases (TTL cases, or the lever's own variants: share routed, summary size), widened by the backtest's error
band on the requests it changes; its verdict compares the central case and the low one with that band (`judge`).
The lever modules (batching, caching, routing, trimming, combined) say what they replay and why; the figures,
the range and the verdict of each, the Gemini explicit caches and the combined replay included, come from
`new_estimate`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from analyzer.providers import CASES
from analyzer.savings import Estimate, Verdict, usd_text
from analyzer.savings.engine import Outcome
from analyzer.savings.levers import Lever
from analyzer.savings.replayer import Replayer
from analyzer.savings.traffic import PRICES_AS_BILLED


def verdict(saving: float, band: float, low: float | None = None) -> Verdict:
    """'saves', 'nothing to gain' (inside the backtest's error band), 'costs more', or 'withheld': the central
    case clears the band but the low case (`low`: the smallest saving over the lever's cases, before the band)
    does not, so the saving is not established across the lever's own range."""
    if saving > band and saving > 0:
        return Verdict.WITHHELD if low is not None and not (low > band and low > 0) else Verdict.SAVES
    if saving < -band and saving < 0:
        return Verdict.COSTS_MORE
    return Verdict.NOTHING_TO_GAIN


class Judgement(NamedTuple):
    """A figure's verdict and range: the saving in the central case, the lowest and highest over its cases
    widened by the band, and why it is withheld (None unless it is)."""

    verdict: Verdict
    saving: float
    low: float
    high: float
    withheld: str | None


def judge(central: float, cases: Iterable[float], band: float | None) -> Judgement:
    """The one rule for every estimate: the range is the cases' savings (`cases` includes the central one) widened
    by the band (an unknown band widens nothing: the range is the lever's own cases, labelled so); the verdict
    compares the central and the low case with the band."""
    savings = list(cases)
    b = band or 0.0
    low = min(savings)
    v = verdict(central, b, low)
    return Judgement(v, central, low - b, max(savings) + b, low_case_reason(low, b) if v == Verdict.WITHHELD else None)


def new_estimate(judged: Judgement, **fields: Any) -> Estimate:
    """An Estimate with its saving, range, verdict and reason from `judged`; `fields` the rest of it."""
    return Estimate(
        saving_usd=judged.saving,
        saving_low_usd=judged.low,
        saving_high_usd=judged.high,
        verdict=judged.verdict,
        withheld=judged.withheld,
        **fields,
    )


MIN_EVIDENCED_READS = 5  # requests that must read a cached prefix the log shows before a caching lever is ranked


def error_band(outcome: Outcome) -> float | None:
    """The backtest's error in dollars on the requests the lever changes, or None when the backtest has nothing
    to compare there (see `Outcome.band_known`): unknown, never $0."""
    return outcome.band if outcome.band_known else None


def no_evidence_reason(outcome: Outcome) -> str | None:
    """Why a caching lever's figure rests on too little to rank, or None: fewer than MIN_EVIDENCED_READS requests
    of its cache scopes would read a cached prefix whose content the log shows at or above the provider's
    minimum cacheable length
    (a reported input far larger than the messages logged is content the log does not show: a system prompt or
    tools that may differ from request to request)."""
    if outcome.evidenced_reads >= MIN_EVIDENCED_READS:
        return None
    return (
        f"no evidence: {outcome.evidenced_reads} request(s) would read a cached prefix whose logged content reaches "
        f"the provider's minimum cacheable length (at least {MIN_EVIDENCED_READS} needed)"
    )


def low_case_reason(low: float, band: float) -> str:
    """Why a lever whose central case clears the band is withheld: its low case."""
    if low < 0:
        return f"its low case loses money ({usd_text(low)})"
    return f"its low case ({usd_text(low)}) does not clear the error band ({usd_text(band)})"


def lever_estimate(
    engine: Replayer,
    lever: Lever,
    *,
    lever_kind: str,
    policy: str,
    scope: str,
    assumptions: list[str],
    evidence: list[str] | None = None,
    detail: dict[str, Any] | None = None,
    cases: dict[str, Lever] | None = None,
) -> Estimate:
    """A lever's Estimate: the central two-replay saving, its range over the TTL cases (or the `cases` given,
    each a variant of the lever, e.g. the share routed) widened by the backtest's error band, and its verdict."""
    if cases is None:
        # the retention cases (short/long TTL) only for a lever that saves beyond the band: a lever that costs
        # more or sits inside the band is not ranked, and its range is the band
        calls = engine.build(lever)
        outcomes = {"central": engine.compare(lever, "central", calls)}
        band = error_band(outcomes["central"])
        if verdict(outcomes["central"].saving, band or 0.0) == Verdict.SAVES:
            outcomes.update({case: engine.compare(lever, case, calls) for case in CASES if case != "central"})
        engine.release(calls)
    else:
        outcomes = {case: engine.compare(v, "central") for case, v in cases.items()}
    central = outcomes["central"]
    band = error_band(central)
    judged = judge(central.saving, (o.saving for o in outcomes.values()), band)
    base_logged, base_replayed = central.affected_logged, central.affected_replayed
    if judged.verdict in (Verdict.SAVES, Verdict.WITHHELD) and lever_kind == "caching":
        reason = judged.withheld or no_evidence_reason(central)
        judged = judged._replace(verdict=Verdict.WITHHELD if reason else judged.verdict, withheld=reason)
    v, withheld = judged.verdict, judged.withheld
    levers = cases if cases is not None else {case: lever for case in CASES}
    band_text = (
        f"error band {usd_text(band)}"
        if band is not None
        else "error band unknown: no cache activity in their cache scopes as logged, nor on them in the as-is "
        "replay, to test the simulator against"
    )
    ev = [
        f"Two replays under one simulator: {usd_text(central.baseline)} as logged, {usd_text(central.counterfactual)} "
        f"with the lever ({central.affected_count:,} requests changed). Backtest on those requests: replayed "
        f"{usd_text(base_replayed)} against {usd_text(base_logged)} billed ({band_text})."
    ] + list(evidence or [])
    if v == Verdict.NOTHING_TO_GAIN:
        ev.append("The saving is inside the simulator's error band: nothing to gain within its accuracy.")
    elif v == Verdict.COSTS_MORE:
        ev.append("The lever costs more than the traffic as it was: listed, never counted as a saving.")
    if withheld:
        ev.append(f"Not ranked as a saving: {withheld}.")
    today = central.saving_today
    if abs(today - central.saving) > 1e-9:
        ev.append(
            f"At the prices billed (each call at its time's prices) the lever saves {usd_text(central.saving)}; at "
            f"today's prices the same replays give {usd_text(today)}"
            + (": the prices changed since, and the lever would now cost more." if today < 0 < central.saving else ".")
        )
    return new_estimate(
        judged,
        lever=lever_kind,
        policy=policy,
        scope=scope,
        requests=central.affected_count,
        baseline_usd=central.baseline,
        counterfactual_usd=central.counterfactual,
        assumptions=assumptions,
        evidence=ev,
        detail={
            **(detail or {}),
            "input_tokens_before": central.input_before,
            "input_tokens_after": central.input_after,
            "cache_read_tokens_before": central.reads_before,
            "cache_read_tokens_after": central.reads_after,
            "saving_by_scope_usd": {k: round(v, 10) for k, v in sorted(central.by_scope.items())},
            "saving_by_case_usd": {k: round(o.saving, 10) for k, o in outcomes.items()},
            **(
                {"added_calls": central.extra_calls, "added_calls_usd": round(central.extra_calls_usd, 10)}
                if central.extra_calls
                else {}
            ),
        },
        method="two-replay",
        policies=[lever.name],
        backtest={
            "requests": central.affected_count,
            "cost_logged_usd": round(base_logged, 10),
            "cost_replayed_usd": round(base_replayed, 10),
            "band_usd": round(band, 10) if band is not None else None,
            "band_known": band is not None,
            "error_pct": round((base_replayed - base_logged) / base_logged * 100, 2) if base_logged else None,
            "evidenced_reads": central.evidenced_reads,
        },
        prices=PRICES_AS_BILLED,
        saving_today_usd=central.saving_today,
        levers=levers,
    )


def gemini_estimate(parts: list[dict[str, Any]], band: float) -> Estimate:
    """Gemini explicit caching of each system prompt against implicit caching (caching.gemini_part gives each
    bin's part): the saving net of the storage the caches would have cost, the band the backtest's on those
    requests."""
    n_reads = sum(p["requests"] for p in parts)
    before = sum(p["before"] for p in parts)
    after = sum(p["after"] for p in parts)
    storage = sum(p["storage"] for p in parts)
    saving = before - after
    return new_estimate(
        judge(saving, [saving], band),
        lever="caching",
        policy="Gemini explicit caches of each system prompt (1 h TTL, extended by each use)",
        scope=f"{n_reads} Gemini requests in {sum(p['caches'] for p in parts)} cache(s)",
        requests=n_reads,
        baseline_usd=before,
        counterfactual_usd=after,
        assumptions=[
            "Storage at $4.50 (2.5 Pro) or $1.00 (Flash, Flash-Lite) per million token-hours, from Google's price "
            "list (not in the catalogue); reads at the catalogue's cached price.",
            "The cache holds the system prompt and tools; it is created by the first request of its scope and "
            "recreated after an hour without use. Baseline: the same requests replayed with implicit caching.",
        ],
        evidence=[f"Storage {usd_text(storage)} for the hours the caches would have existed."],
        method="two-replay",
        policies=["Gemini explicit caches"],
        backtest={"requests": n_reads, "band_usd": round(band, 10)},
        prices=PRICES_AS_BILLED,
        saving_today_usd=sum(p["before_today"] for p in parts) - sum(p["after_today"] for p in parts),
    )


def combined_estimate(
    engine: Replayer, name: str, outcomes: dict[str, Outcome], policies: list[str], separate_sum: float
) -> Estimate:
    """The levers replayed together (combined.py): one replay per case, each lever in its own case."""
    central = outcomes["central"]
    band = error_band(central)
    evidence = [
        f"Replayed together the levers save {usd_text(central.saving)}; the separate estimates add up to "
        f"{usd_text(separate_sum)}. The difference is the interaction: a routed or trimmed token is not also a "
        "cache read, and a request routed away leaves the next turn of its conversation without its cache.",
    ]
    if central.reads_before:
        evidence.append(
            f"Cache reads: {central.reads_before:,} tokens as replayed, {central.reads_after:,} with the levers "
            f"together ({central.reads_after / central.reads_before - 1:+.0%})."
        )
    return new_estimate(
        judge(central.saving, (o.saving for o in outcomes.values()), band),
        lever="combined",
        policy=name,
        scope=f"all {engine.requests} priced requests",
        requests=central.affected_count,
        baseline_usd=central.baseline,
        counterfactual_usd=central.counterfactual,
        assumptions=[
            "One replay, not a sum: the best policy of each lever that saves, applied together; routed requests "
            "move to their target's cache scope and rules, trimmed histories change every later prefix, and "
            "caching is simulated on what remains.",
            "Low/high: each lever's own low/high case (share routed, retention) together.",
            "Quality is not measured, for routing and trimming alike.",
        ],
        evidence=evidence,
        policies=policies,
        backtest={
            "requests": central.affected_count,
            "band_usd": round(band, 10) if band is not None else None,
            "band_known": band is not None,
        },
        prices=PRICES_AS_BILLED,
        saving_today_usd=central.saving_today,
    )
