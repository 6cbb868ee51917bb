"""The before-you-ship calculator: what a workload will cost per month, and what routing and caching change.

monthly cost = requests x tokens x price, per token type, with context growth applied to the part of the
input that grows with a conversation (the cached prefix, a system prompt, does not). Prices come from the one
money function, `prices.price_requests`: each scenario is a handful of request classes (model x cache
hit/miss) priced like logged requests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import polars as pl

from analyzer import queries
from analyzer.errors import InputError
from analyzer.prices import Catalogue, price_requests
from analyzer.providers import RULES, guess_provider, min_tokens


@dataclass(frozen=True)
class Workload:
    requests: float  # per month
    input_tokens: float  # per request, all input including the cached prefix
    output_tokens: float
    model: str
    route_share: float = 0.0  # share of requests sent to route_to instead
    route_to: str | None = None
    cached_prefix: float = 0.0  # tokens of stable prefix that caching can serve
    cache_hit_rate: float = 0.0  # share of requests that read the prefix from cache; the rest write it
    growth: float = 0.0  # context growth: +0.3 = the non-prefix input is 30% larger
    caching: bool = True  # False: the prefix is still there (and does not grow) but nothing is cached
    # True: the prefix is the mean of what the provider really served from cache (a measured workload), so it is
    # not cut again by the provider's minimum; a prefix someone types in is
    prefix_measured: bool = False

    def check(self) -> Workload:
        if self.requests < 0 or self.input_tokens < 0 or self.output_tokens < 0:
            raise InputError("requests and token counts must not be negative")
        for name in ("route_share", "cache_hit_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise InputError(f"--{name.replace('_', '-')} must be between 0 and 1")
        if self.route_share > 0 and not self.route_to:
            raise InputError("--route-share needs --route-to MODEL")
        if self.cached_prefix > self.input_tokens:
            raise InputError("--cached-prefix cannot exceed --input-tokens")
        if self.growth < -1:
            raise InputError("--growth must be above -1 (-100%)")
        return self


# name -> (traffic factor, context growth, caching kept), as the seed's model defines them. Named for what they
# assume, not "conservative / base / aggressive": the seed's "conservative" was the cheapest, which reads as
# the opposite of what a cautious budget means.
SCENARIOS = {
    "traffic_x0.2": (0.2, None, True),
    "context_plus_30pct": (1.0, 0.3, True),
    "traffic_x3_context_plus_50pct_no_cache": (3.0, 0.5, False),
}
SCENARIO_TEXT = {
    "traffic_x0.2": "20% of the traffic",
    "context_plus_30pct": "full traffic, +30% context",
    "traffic_x3_context_plus_50pct_no_cache": "3x traffic, +50% context, no caching",
}


def cacheable(model: str, prefix: float, cat: Catalogue) -> tuple[int, bool, str | None]:
    """How much of a stable prefix the model's provider would serve from cache, by the simulator's rules table:
    nothing below the model's minimum (OpenAI 1,024; Haiku 4.5 / Opus 4.5 4,096; Gemini Pro 4,096), and
    automatic caches in their steps (OpenAI 128 tokens after the first 1,024; DeepSeek 64-token units). Also
    whether writes carry a premium (explicit caches), and a note when the prefix is cut."""
    res = cat.resolve(model)
    entry = cat.entries.get(res.key or "", {})
    provider = guess_provider(res.key or model) or cat.provider(res.key)
    rule = RULES.get(provider or "")
    if rule is None:
        note = f"{model}: no caching rules known for its provider; the prefix is priced as input" if prefix else None
        return 0, False, note
    # explicit caches bill writes; so do automatic ones whose catalogue entry lists a write price (newer OpenAI
    # models with prompt_cache_breakpoint writes)
    premium = rule.mode == "explicit" or entry.get("cache_creation_input_token_cost") is not None
    minimum = min_tokens(rule, model)
    if prefix < minimum:
        note = (
            f"{model}: a {prefix:,.0f}-token prefix is below the {minimum:,}-token minimum it caches"
            if prefix
            else None
        )
        return 0, premium, note
    n = minimum + (int(prefix) - minimum) // rule.step * rule.step
    note = (
        f"{model}: {n:,} of the {prefix:,.0f} prefix tokens cacheable ({rule.step}-token steps)" if n < prefix else None
    )
    return n, premium, note


def _classes(w: Workload, cat: Catalogue) -> tuple[list[dict[str, Any]], list[str]]:
    """Request classes with their share of traffic and per-request tokens by type, and notes on what the
    providers' caching rules took off the prefix."""
    grown = w.cached_prefix + (w.input_tokens - w.cached_prefix) * (1 + w.growth)
    out = []
    notes = []
    for model, share in ((w.model, 1 - w.route_share), (w.route_to, w.route_share)):
        if not model or share <= 0:
            continue
        prefix, premium, note = cacheable(model, w.cached_prefix, cat) if w.caching else (0, False, None)
        if w.caching and w.prefix_measured and model == w.model:
            prefix, note = round(w.cached_prefix), None
        if note:
            notes.append(note)
        hit_rate = w.cache_hit_rate if prefix else 0.0
        for hit, frac in ((True, hit_rate), (False, 1 - hit_rate)):
            if frac <= 0:
                continue
            out.append(
                {
                    "model": model,
                    "share": share * frac,
                    "cache": "hit" if hit else "miss",
                    "input_tokens": round(grown),
                    "cache_read_tokens": prefix if hit else 0,
                    # a miss writes the prefix where writes are billed; elsewhere it is plain input
                    "cache_write_5m_tokens": prefix if not hit and premium else 0,
                    "output_tokens": round(w.output_tokens),
                }
            )
    return out, notes


def cost(w: Workload, cat: Catalogue) -> dict[str, Any]:
    """Monthly cost of a workload, by token type and by model. Unknown models are an input error here: a
    projection with a missing price would silently be too low."""
    w.check()
    classes, notes = _classes(w, cat)
    frame = pl.DataFrame(
        [
            {
                "model": c["model"],
                "provider": None,
                "batch": False,
                "service_tier": None,
                "status": "ok",
                "input_tokens": c["input_tokens"],
                "cache_read_tokens": c["cache_read_tokens"],
                "cache_write_5m_tokens": c["cache_write_5m_tokens"],
                "cache_write_1h_tokens": 0,
                "output_tokens": c["output_tokens"],
                "reasoning_tokens": 0,
            }
            for c in classes
        ],
        schema={
            "model": pl.String,
            "provider": pl.String,
            "batch": pl.Boolean,
            "service_tier": pl.String,
            "status": pl.String,
            "input_tokens": pl.Int64,
            "cache_read_tokens": pl.Int64,
            "cache_write_5m_tokens": pl.Int64,
            "cache_write_1h_tokens": pl.Int64,
            "output_tokens": pl.Int64,
            "reasoning_tokens": pl.Int64,
        },
    )
    priced = price_requests(frame, cat)
    missing = priced.filter(~pl.col("priced"))["model"].unique().to_list()
    if missing:
        raise InputError(f"no price for {', '.join(missing)}; `llmcost prices NAME` finds catalogue names")
    totals = {"input_usd": 0.0, "cache_read_usd": 0.0, "cache_write_usd": 0.0, "output_usd": 0.0}
    by_model: dict[str, float] = {}
    for c, row in zip(classes, priced.iter_rows(named=True), strict=True):
        n = w.requests * c["share"]
        parts = {
            "input_usd": row["cost_input"] * n,
            "cache_read_usd": row["cost_cache_read"] * n,
            "cache_write_usd": (row["cost_cache_write_5m"] + row["cost_cache_write_1h"]) * n,
            "output_usd": (row["cost_output"] + row["cost_reasoning"]) * n,
        }
        for k, v in parts.items():
            totals[k] += v
        key = row["model_key"]
        by_model[key] = by_model.get(key, 0.0) + sum(parts.values())
    total = sum(totals.values())
    return {
        "workload": asdict(w),
        **{k: round(v, 6) for k, v in totals.items()},
        "total_usd": round(total, 6),
        "by_model_usd": {k: round(v, 6) for k, v in by_model.items()},
        "notes": notes,
    }


def monthly_factor(days: float | None) -> float | None:
    """What scales a period's figures to a month (30 / days), or None under a day of dated traffic: an hour
    scaled to a month is noise. The one rule behind every monthly figure of the report."""
    return 30 / days if days is not None and days >= 1 else None


def measured(con: Any, since: Any = None, until: Any = None) -> dict[str, Any] | None:
    """The workload of an ingested period: requests per month (30 days at the logged daily rate), mean input
    and output tokens, the share of requests that read from cache and their mean cached prefix, the most used
    model. None when the period has no successful API call."""
    (m,) = queries.rows(con, "workload_profile", since=since, until=until)
    if not m["requests"]:
        return None
    m["requests"] = m["requests"] / m.pop("days") * 30
    # the mean cache read of the requests that hit can exceed the mean input of all requests
    m["cached_prefix"] = min(m["cached_prefix"], m["input_tokens"])
    return m


def project(w: Workload, cat: Catalogue) -> dict[str, Any]:
    """The workload as given, the same without routing or caching (what the levers save), and the three
    scenarios."""
    w.check()
    as_given = cost(w, cat)
    plain = cost(replace(w, route_share=0.0, route_to=None, caching=False), cat)
    scenarios = {}
    for name, (traffic, growth, caching) in SCENARIOS.items():
        sw = replace(w, requests=w.requests * traffic, growth=w.growth if growth is None else growth)
        if not caching:
            sw = replace(sw, caching=False)
        scenarios[name] = cost(sw, cat)
    return {
        "schema_version": 1,
        "as_given": as_given,
        "without_levers": plain,
        "levers_save_usd": round(plain["total_usd"] - as_given["total_usd"], 6),
        "scenarios": scenarios,
        "scenarios_assume": dict(SCENARIO_TEXT),
        "assumptions": [
            *as_given["notes"],
            "List prices from the catalogue; cache writes (explicit caches: Anthropic) are 5-minute writes at the "
            "catalogue's write price (1.25x input), cache reads at its read price; automatic caches (OpenAI, "
            "DeepSeek, Gemini) write at no premium unless the catalogue lists a write price for the model.",
            "A prefix counts as cached only as each provider caches it: from its minimum (OpenAI 1,024 tokens; "
            "Claude Haiku 4.5 and Opus 4.5 4,096; Gemini Pro 4,096; DeepSeek 64) in its steps (OpenAI 128 tokens, "
            "DeepSeek 64).",
            "Context growth scales the input that is not the cached prefix; the prefix itself does not grow.",
            "Scenarios, named for what they assume: "
            + "; ".join(SCENARIO_TEXT[n] for n in SCENARIOS)
            + " (context growth applies to the input that is not the cached prefix).",
            "Routing moves the share of requests, with the same tokens, to the other model; quality is not measured.",
        ],
    }
