"""Estimates: a lever's figures, its range and its verdict, in one place.

...
"""

from __future__ import annotations

from typing import Any

from analyzer.providers import CASES
from analyzer.savings import Estimate, usd_text
from analyzer.savings.engine import Outcome, Replayer
from analyzer.savings.levers import Lever
from analyzer.savings.traffic import PRICES_AS_BILLED


def verdict(saving: float, band: float, low: float | None = None) -> str:
    """'saves', 'nothing to gain' (inside the backtest's error band), 'costs more', or 'withheld': the central
    case clears the band but the low case (`low`: the smallest saving over the lever's cases, before the band)
    does not, so the saving is not established across the lever's own range."""
    if saving > band and saving > 0:
        return "withheld" if low is not None and not (low > band and low > 0) else "saves"
    if saving < -band and saving < 0:
        return "costs more"
    return "nothing to gain"


MIN_EVIDENCED_READS = 5  # requests that must read a cached prefix the log shows before a caching lever is ranked


def error_band(engine: Replayer, outcome: Outcome) -> float | None:
    """The backtest's error in dollars on the requests the lever changes, or None when the backtest has nothing
    to compare there (see `Outcome.band_known`): unknown, never $0."""
    return engine.band(outcome.affected) if outcome.band_known else None


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
        band = error_band(engine, outcomes["central"])
        if verdict(outcomes["central"].saving, band or 0.0) == "saves":
            outcomes.update({case: engine.compare(lever, case, calls) for case in CASES if case != "central"})
    else:
        outcomes = {case: engine.compare(v, "central") for case, v in cases.items()}
    central = outcomes["central"]
    band = error_band(engine, central)
    b = band or 0.0  # an unknown band widens nothing: the range is the lever's own cases, labelled so
    savings = [o.saving for o in outcomes.values()]
    base_logged = engine.logged_cost_of(central.affected)
    base_replayed = engine.replayed_cost_of(central.affected)
    v = verdict(central.saving, b, min(savings))
    withheld = low_case_reason(min(savings), b) if v == "withheld" else None
    if v in ("saves", "withheld") and lever_kind == "caching":
        withheld = withheld or no_evidence_reason(central)
        v = "withheld" if withheld else v
    levers = cases if cases is not None else {case: lever for case in CASES}
    band_text = (
        f"error band {usd_text(band)}"
        if band is not None
        else "error band unknown: no cache activity in their cache scopes as logged, nor on them in the as-is "
        "replay, to test the simulator against"
    )
    ev = [
        f"Two replays under one simulator: {usd_text(central.baseline)} as logged, {usd_text(central.counterfactual)} "
        f"with the lever ({len(central.affected):,} requests changed). Backtest on those requests: replayed "
        f"{usd_text(base_replayed)} against {usd_text(base_logged)} billed ({band_text})."
    ] + list(evidence or [])
    if v == "nothing to gain":
        ev.append("The saving is inside the simulator's error band: nothing to gain within its accuracy.")
    elif v == "costs more":
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
    est = Estimate(
        lever=lever_kind,
        policy=policy,
        scope=scope,
        requests=len(central.affected),
        baseline_usd=central.baseline,
        counterfactual_usd=central.counterfactual,
        saving_usd=central.saving,
        saving_low_usd=min(savings) - b,
        saving_high_usd=max(savings) + b,
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
            "requests": len(central.affected),
            "cost_logged_usd": round(base_logged, 10),
            "cost_replayed_usd": round(base_replayed, 10),
            "band_usd": round(band, 10) if band is not None else None,
            "band_known": band is not None,
            "error_pct": round((base_replayed - base_logged) / base_logged * 100, 2) if base_logged else None,
            "evidenced_reads": central.evidenced_reads,
        },
        verdict=v,
        withheld=withheld,
        prices=PRICES_AS_BILLED,
        saving_today_usd=central.saving_today,
        levers=levers,
    )
    return est
