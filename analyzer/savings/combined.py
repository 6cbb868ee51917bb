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

from analyzer.providers import CASES
from analyzer.savings import Estimate, Verdict
from analyzer.savings.estimate import combined_estimate
from analyzer.savings.levers import compose
from analyzer.savings.replayer import Replayer, in_lanes


def pick_components(estimates: list[Estimate]) -> list[Estimate]:
    """The best policy of each lever whose verdict is "saves" and that the engine can replay."""
    best: dict[str, Estimate] = {}
    for e in estimates:
        if e.verdict != Verdict.SAVES or not e.levers:
            continue
        if e.lever not in best or e.saving_usd > best[e.lever].saving_usd:
            best[e.lever] = e
    return sorted(best.values(), key=lambda e: e.saving_usd, reverse=True)


def estimate_combined(engine: Replayer, estimates: list[Estimate]) -> dict[str, Any] | None:
    if not engine.requests:
        return None
    picked = pick_components(estimates)
    left_out = [
        {"lever": e.lever, "policy": e.policy, "saving_usd": round(e.saving_usd, 10), "verdict": str(e.verdict)}
        for e in estimates
        if e not in picked and e.verdict != Verdict.SAVES
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
    # the cases are independent replays: side by side when the engine has lanes (`in_lanes`), merged in CASES order
    each = in_lanes(engine, lambda case: engine.compare(compose([e.levers[case] for e in picked], name), case), CASES)
    outcomes = dict(zip(CASES, each, strict=True))
    central = outcomes["central"]
    separate_sum = sum(e.saving_usd for e in picked)
    est = combined_estimate(engine, name, outcomes, [e.policy for e in picked], separate_sum)
    return {
        "estimate": est.as_dict(),
        "separate_sum_usd": round(separate_sum, 10),
        "components": [{"lever": e.lever, "policy": e.policy, "saving_usd": round(e.saving_usd, 10)} for e in picked],
        "left_out": left_out,
        "cache_read_tokens_as_replayed": central.reads_before,
        "cache_read_tokens_combined": central.reads_after,
    }
