"""Prompt caching: what caching already saved, what each provider's rules would give on this traffic, and a
backtest of the simulator against the cache reads the providers reported.

The rules live in one table (`providers.RULES`), checked against the providers' documentation (Nov 2026):
- OpenAI (and Azure OpenAI): automatic for prompts of 1,024+ tokens; a hit covers the longest cached prefix in
  128-token steps after the first 1,024; entries are cleared after 5-10 minutes idle, at most an hour.
  No write premium. The read discount is the catalogue's cache-read price (50% gpt-4o, 75% gpt-4.1,
  90% gpt-5).
- Anthropic: explicit `cache_control` breakpoints (at most 4); a prefix is cacheable from the model's minimum
  (providers.min_tokens: 1,024; 2,048 Haiku 3/3.5, Sonnet 4.6, Opus 4.7; 4,096 Opus 4.5/4.6, Haiku 4.5; 512
  Opus 5); TTL 5 minutes refreshed on each hit, or 1 hour; writes cost 1.25x (5 min) or 2x (1 h) input, reads
  0.1x. The strategy replayed places breakpoints at the end of
  the system prompt and tools and at the end of each request's input (incremental conversation caching).
- DeepSeek: automatic, no write premium; entries live hours (replayed with 1 hour). Before V4, the longest
  cached prefix on 64-token units; V4 (and deepseek-chat/-reasoner from 2026-04-24) hits only whole "cache prefix
  units", stored at the end of each input and output and at common prefixes (providers.DEEPSEEK_V4).
- OpenAI models that price cache writes (gpt-5.6, gpt-6...) bill what their automatic cache writes.
Each rule's source is in RULES (`CacheRule.source`).
- Google Gemini: implicit caching, automatic from 1,024 tokens (2.5 Flash) / 4,096 (2.5 Pro, 3 Pro), no write
  premium for implicit hits. Explicit caches (storage per token-hour, a price the catalogue does not carry)
  are replayed as their own estimate, `gemini_explicit`.

Every figure is two replays under the same simulator (engine.py): the traffic as logged, each provider's real
policy (automatic caching; Anthropic at the breakpoints each request set, each with its own TTL), against the
traffic with the lever. Automatic caches have nothing to "turn on": their levers are longer retention where it
is offered (OpenAI's 24 h) and stable prefixes. Explicit caches have where to put breakpoints and 5 min vs 1 h.

Prefixes are matched at message boundaries (counted tokens scaled to each request's reported input), so a
hit inside a message is not seen: the simulation is conservative for prompts that differ late in a message.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from analyzer.prices import PRICE_COLUMNS, Catalogue, price_requests
from analyzer.providers import (
    EXTENDED_RETENTION_S,
    GEMINI_EXPLICIT_TTL_S,
    RULES,
    gemini_storage_rate,
    min_tokens,
    offers_extended_retention,
    rules_table,
)
from analyzer.savings import Estimate, usd_text
from analyzer.savings.engine import Engine, Replayer
from analyzer.savings.estimate import lever_estimate, verdict
from analyzer.savings.levers import Lever
from analyzer.savings.traffic import PRICES_AS_BILLED, bill_columns, price_as_billed

PLACEMENT_POLICY = "Anthropic breakpoints after the system prompt and tools and at the end of the input"


def estimate_caching(
    engine: Replayer, priced: pl.DataFrame, cat: Catalogue, split: dict[int, tuple[int, int]] | None = None
) -> dict[str, object]:
    """The report's `caching` block: what caching as logged already saved, the backtest, and the caching levers
    (each a two-replay estimate)."""
    ok = priced.filter(pl.col("priced") & (pl.col("status") == "ok"))
    no_cache = ok.select(*PRICE_COLUMNS, *bill_columns(ok)).with_columns(
        cache_read_tokens=pl.lit(0, pl.Int64),
        cache_write_5m_tokens=pl.lit(0, pl.Int64),
        cache_write_1h_tokens=pl.lit(0, pl.Int64),
    )
    nocache_cost = price_requests(no_cache, cat)["cost"]
    logged = float(ok["cost"].sum())
    already = float(nocache_cost.sum()) - logged
    bt = engine.backtest()
    out: dict[str, object] = {
        "already_saved_usd": round(already, 10),
        "by_model": [],
        "estimates": [],
        "backtest": bt if bt.get("requests") else None,
        "rules": rules_table(),
    }
    by_model = (
        ok.select("model_key", logged=pl.col("cost"))
        .with_columns(nocache=nocache_cost)
        .group_by("model_key")
        .agg(pl.len().alias("requests"), (pl.col("nocache") - pl.col("logged")).sum().alias("already_saved_usd"))
        .sort(["already_saved_usd", "model_key"], descending=[True, False])
    )
    out["by_model"] = [
        {k: (round(v, 10) if isinstance(v, float) else v) for k, v in row.items()} for row in by_model.to_dicts()
    ]
    simulated = engine.simulated()
    if simulated.is_empty():
        return out
    providers = set(simulated["provider"].to_list())
    estimates: list[Estimate] = []
    explicit = [p for p in providers if RULES[p].mode == "explicit"]
    if explicit:
        n = simulated.filter(pl.col("provider").is_in(explicit)).height
        for label, ttl, price in (("5-minute", 300.0, "1.25x"), ("1-hour", 3600.0, "2x")):
            estimates.append(
                lever_estimate(
                    engine,
                    Lever(f"{PLACEMENT_POLICY}, {label} TTL", placement=ttl),
                    lever_kind="caching",
                    policy=f"{PLACEMENT_POLICY}, {label} TTL",
                    scope=f"{n} requests with bodies on {', '.join(sorted(explicit))}",
                    assumptions=[
                        "Baseline: the breakpoints each request really set, each with its own TTL (no breakpoint, "
                        "no caching), replayed through the same simulator.",
                        f"Lever: a breakpoint after the system prompt and tools and one at the end of each "
                        f"request's input, {label} TTL (writes {price} input, reads 0.1x); a prefix shorter than "
                        "the model's minimum (1,024-4,096 tokens) is not cached.",
                    ],
                    detail={"mode": "explicit", "ttl_s": ttl, "providers": sorted(explicit)},
                )
            )
    extended = [(p, m) for p, m in simulated.select("provider", "model").iter_rows() if offers_extended_retention(p, m)]
    if extended:
        estimates.append(
            lever_estimate(
                engine,
                Lever("24-hour prompt cache retention", retention=EXTENDED_RETENTION_S),
                lever_kind="caching",
                policy="24-hour prompt cache retention (OpenAI prompt_cache_retention)",
                scope=f"{len(extended)} requests on GPT-5 / GPT-4.1 models",
                assumptions=[
                    "OpenAI caches automatically: nothing to turn on. Extended retention (24 h, same price) is "
                    "offered for the GPT-5 and GPT-4.1 families; requests on other models are unchanged.",
                    "Baseline retention 5 minutes idle (range 5 min-1 h), as OpenAI documents.",
                ],
                detail={"mode": "automatic", "ttl_s": EXTENDED_RETENTION_S},
            )
        )
    if split:
        variants = engine.split_variants(split)
        if variants:
            estimates.append(
                lever_estimate(
                    engine,
                    Lever("stable system prompts", split=split),
                    lever_kind="caching",
                    policy="move the volatile span of each system prompt to its end",
                    scope=f"{variants} requests whose system prompt is one variant of a template",
                    assumptions=[
                        "Each variant of a system prompt that differs early (a date, a name, an id) is sent as the "
                        "part all variants share, then the rest: the shared part becomes one cacheable prefix "
                        "across variants. Prompt behaviour with the span moved is not measured.",
                        "Replayed under each provider's own caching as logged (automatic caching; on Anthropic the "
                        "logged breakpoint on the prompt moves to the end of its shared part).",
                    ],
                    detail={"mode": "stabilise", "variants": len(set(split))},
                )
            )
    gemini = gemini_explicit(engine, cat)
    if gemini is not None:
        estimates.append(gemini)
    automatic = sorted(p for p in providers if RULES[p].mode == "automatic")
    out["automatic_providers"] = automatic
    out["estimates"] = [e.as_dict() for e in estimates]
    out["_estimates"] = estimates  # the objects (with their levers) for the combined replay; popped by run.py
    return out


def gemini_explicit(engine: Replayer, cat: Catalogue) -> Estimate | None:
    """Gemini explicit caching of each system prompt (plus tools), against the as-logged replay (implicit
    caching): the first request in a scope creates the cache, later requests while it lives read the prefix
    at the cached price (or what implicit caching already gave, if more), and the cache is billed for every
    hour it exists (the union of [use, use + TTL] intervals). Each bin of the traffic is computed where it is
    held (`gemini_part`) and the parts are added."""
    parts = [p for p in engine.each(gemini_part, cat) if p is not None]
    if not parts:
        return None
    n_reads = sum(p["requests"] for p in parts)
    n_groups = sum(p["caches"] for p in parts)
    before = sum(p["before"] for p in parts)
    storage = sum(p["storage"] for p in parts)
    after = sum(p["after"] for p in parts)
    saving = before - after
    band = engine.band(set().union(*(p["ids"] for p in parts)))
    est = _gemini_estimate(n_reads, n_groups, before, after, saving, storage, band)
    est.saving_today_usd = sum(p["before_today"] for p in parts) - sum(p["after_today"] for p in parts)
    return est


def gemini_part(engine: Engine, cat: Catalogue) -> dict[str, Any] | None:
    """One bin's Gemini explicit-cache replay: requests, caches, cost before and after (storage included), the
    storage alone and the requests' ids."""
    base = engine.baseline("central")
    calls = [c for c in engine.base.calls if c.provider == "google" and c.nodes and c.sys_end >= 0]
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for c in calls:
        if c.cum[c.sys_end] >= min_tokens(RULES["google"], c.model):
            groups.setdefault((c.provider, c.model, c.key, c.nodes[c.sys_end]), []).append(c)
    if not groups:
        return None
    reads: dict[str, int] = {}
    storage = 0.0
    for members in groups.values():
        members.sort(key=lambda m: m.ts)
        prefix = members[0].cum[members[0].sys_end]
        alive_s, start, end = 0.0, members[0].ts, members[0].ts + GEMINI_EXPLICIT_TTL_S
        reads[members[0].call_id] = 0
        for m in members[1:]:
            if m.ts <= end:
                reads[m.call_id] = prefix
                end = m.ts + GEMINI_EXPLICIT_TTL_S
            else:  # expired: recreated by this request
                alive_s += end - start
                start, end = m.ts, m.ts + GEMINI_EXPLICIT_TTL_S
                reads[m.call_id] = 0
        alive_s += end - start
        storage += prefix * alive_s / 3600 * gemini_storage_rate(members[0].model)
    rows = base.frame.filter(pl.col("call_id").is_in(list(reads)))
    new_reads = pl.Series([reads[i] for i in rows["call_id"].to_list()], dtype=pl.Int64)
    lever = rows.with_columns(
        cache_read_tokens=pl.max_horizontal(pl.col("cache_read_tokens"), new_reads).clip(
            upper_bound=pl.col("input_tokens")
        )
    )
    after = price_as_billed(lever, cat)
    return {
        "requests": len(reads),
        "caches": len(groups),
        "before": float(rows["cost"].sum()),
        "after": float(after["cost"].sum()) + storage,
        "before_today": float(rows["cost_today"].sum()),
        "after_today": float(after["cost_today"].sum()) + storage,
        "storage": storage,
        "ids": set(rows["base_id"].to_list()),
    }


def _gemini_estimate(
    n_reads: int, n_groups: int, before: float, after: float, saving: float, storage: float, band: float
) -> Estimate:
    return Estimate(
        lever="caching",
        policy="Gemini explicit caches of each system prompt (1 h TTL, extended by each use)",
        scope=f"{n_reads} Gemini requests in {n_groups} cache(s)",
        requests=n_reads,
        baseline_usd=before,
        counterfactual_usd=after,
        saving_usd=saving,
        saving_low_usd=saving - band,
        saving_high_usd=saving + band,
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
        verdict=verdict(saving, band),
        prices=PRICES_AS_BILLED,
    )
