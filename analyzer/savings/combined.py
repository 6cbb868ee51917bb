"""The levers replayed together: never the sum of the separate estimates.

The combined replay runs exactly the best policy of each lever the headline ranks (each a separate two-replay
estimate whose verdict is "saves"): routed requests move to their target's cache scope and rules, trimmed
histories change every later prefix, breakpoints or retention change what the cache holds, batch calls are
repriced; then the cache is simulated on what remains and everything repriced. Levers that cost more, or save
nothing beyond the simulator's error band, are left out and listed. The interaction is reported: the combined
saving against the sum of its components, and what the trimming does to the cache reads.
"""

from __future__ import annotations

from typing import Any

from analyzer.savings import Estimate, usd_text
from analyzer.savings.engine import Replayer
from analyzer.savings.estimate import error_band, low_case_reason, verdict
from analyzer.savings.levers import compose
from analyzer.savings.traffic import PRICES_AS_BILLED


def pick_components(estimates: list[Estimate]) -> list[Estimate]:
    """The best policy of each lever whose verdict is "saves" and that the engine can replay."""
    best: dict[str, Estimate] = {}
    for e in estimates:
        if e.verdict != "saves" or not e.levers:
            continue
        if e.lever not in best or e.saving_usd > best[e.lever].saving_usd:
            best[e.lever] = e
    return sorted(best.values(), key=lambda e: e.saving_usd, reverse=True)


def estimate_combined(engine: Replayer, estimates: list[Estimate]) -> dict[str, Any] | None:
    if not engine.requests:
        return None
    picked = pick_components(estimates)
    left_out = [
        {"lever": e.lever, "policy": e.policy, "saving_usd": round(e.saving_usd, 10), "verdict": e.verdict}
        for e in estimates
        if e not in picked and e.verdict != "saves"
    ]
    if not picked:
        return {
            "estimate": None,
            "separate_sum_usd": 0.0,
            "components": [],
            "left_out": left_out,
            "note": "No lever saves money beyond the simulator's error band: nothing to combine.",
        }
    name = " + ".join(f"{e.lever}: {e.policy}" for e in picked)
    outcomes = {}
    for case in ("central", "low", "high"):
        lever = compose([e.levers[case] for e in picked], name)
        outcomes[case] = engine.compare(lever, case)
    central = outcomes["central"]
    band = error_band(engine, central)
    b = band or 0.0
    savings = {k: o.saving for k, o in outcomes.items()}
    separate_sum = sum(e.saving_usd for e in picked)
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
    est = Estimate(
        lever="combined",
        policy=name,
        scope=f"all {engine.requests} priced requests",
        requests=len(central.affected),
        baseline_usd=central.baseline,
        counterfactual_usd=central.counterfactual,
        saving_usd=central.saving,
        saving_low_usd=min(savings.values()) - b,
        saving_high_usd=max(savings.values()) + b,
        assumptions=[
            "One replay, not a sum: the best policy of each lever that saves, applied together; routed requests "
            "move to their target's cache scope and rules, trimmed histories change every later prefix, and "
            "caching is simulated on what remains.",
            "Low/high: each lever's own low/high case (share routed, retention) together.",
            "Quality is not measured, for routing and trimming alike.",
        ],
        evidence=evidence,
        policies=[e.policy for e in picked],
        backtest={
            "requests": len(central.affected),
            "band_usd": round(band, 10) if band is not None else None,
            "band_known": band is not None,
        },
        verdict=verdict(central.saving, b, min(savings.values())),
        prices=PRICES_AS_BILLED,
        saving_today_usd=central.saving_today,
    )
    if est.verdict == "withheld":
        est.withheld = low_case_reason(min(savings.values()), b)
    return {
        "estimate": est.as_dict(),
        "separate_sum_usd": round(separate_sum, 10),
        "components": [{"lever": e.lever, "policy": e.policy, "saving_usd": round(e.saving_usd, 10)} for e in picked],
        "left_out": left_out,
        "cache_read_tokens_as_replayed": central.reads_before,
        "cache_read_tokens_combined": central.reads_after,
    }
