"""Savings estimators: counterfactual replays of the logged requests, each producing `Estimate` records.

Every estimate reprices its counterfactual through `prices.price_requests` (the one place money is
computed), states its assumptions, and gives a range and the evidence it rests on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from analyzer.savings.levers import Lever


class Verdict(StrEnum):
    """What an estimate's figure establishes against the simulator's error band (estimate.judge decides it). A
    StrEnum: it compares equal to its text, which is what the JSON model and the renderers carry."""

    SAVES = "saves"  # its low case clears the band
    NOTHING_TO_GAIN = "nothing to gain"  # inside the backtest's error band
    COSTS_MORE = "costs more"
    WITHHELD = "withheld"  # not ranked: its low case does not clear the band, or no evidence (`withheld` says why)


@dataclass
class Estimate:
    lever: str  # "batching", "trimming", ...
    policy: str  # the variant replayed, e.g. "last 6 turns"
    scope: str  # which traffic it applies to
    requests: int  # requests the lever changes
    baseline_usd: float  # what those requests cost as logged
    counterfactual_usd: float  # what they would have cost (central case)
    saving_usd: float
    saving_low_usd: float
    saving_high_usd: float
    assumptions: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    # structured facts behind the sentences (routing targets, turns kept, ...), for the report's actions
    detail: dict[str, Any] = field(default_factory=dict)
    # "two-replay": replay(as logged) - replay(with the lever), one simulator; "price-only" where no cache or
    # token count changes (a price difference on the same replayed calls)
    method: str = "two-replay"
    policies: list[str] = field(default_factory=list)  # what was replayed
    # the as-is replay against the log on the requests this lever changes: band_usd = |replayed - logged|
    backtest: dict[str, Any] = field(default_factory=dict)
    verdict: Verdict = Verdict.SAVES
    withheld: str | None = None
    # at which prices the figures are given ("as billed: ..."), and the central saving at today's prices (the
    # shipped snapshot), the forward-looking figure; None where not computed
    prices: str = ""
    saving_today_usd: float | None = None
    # the engine's levers replayed for each case ("central", "low", "high"), for the combined replay; empty for an
    # estimate the engine cannot compose (Gemini explicit caches). Not part of the JSON.
    levers: dict[str, Lever] = field(default_factory=dict, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(replace(self, levers={}))
        del d["levers"]
        d["verdict"] = str(self.verdict)  # the model carries plain text
        for k, v in d.items():
            if isinstance(v, float):
                d[k] = round(v, 10)
        return d


def usd_text(v: float) -> str:
    """Dollars inside an estimate's sentences (assumptions, evidence): cents, or four decimals under $1; the
    sign before the dollar sign."""
    sign = "-" if v < 0 and round(abs(v), 4) > 0 else ""
    v = abs(v)
    return f"{sign}${v:,.4f}" if 0 < v < 1 else f"{sign}${v:,.2f}"
