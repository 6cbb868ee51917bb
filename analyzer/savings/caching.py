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

from analyzer.prices import PRICE_COLUMNS, Catalogue, order_free_sum, price_requests
from analyzer.providers import (
    EXTENDED_RETENTION_S,
    GEMINI_EXPLICIT_TTL_S,
    RULES,
    gemini_storage_rate,
    min_tokens,
    offers_extended_retention,
    rules_table,
)
from analyzer.savings import Estimate
from analyzer.savings.engine import Engine
from analyzer.savings.estimate import gemini_estimate, lever_estimate
from analyzer.savings.levers import Lever
from analyzer.savings.replayer import Replayer
from analyzer.savings.traffic import Call, bill_columns, ok_rows, price_as_billed, with_bill

PLACEMENT_POLICY = "Anthropic breakpoints after the system prompt and tools and at the end of the input"


def estimate_caching(
    engine: Replayer, priced: pl.DataFrame, cat: Catalogue, split: dict[int, tuple[int, int]] | None = None
) -> tuple[dict[str, object], list[Estimate]]:
    """The report's `caching` block: what caching as logged already saved, the backtest, and the caching levers
    (each a two-replay estimate); and those estimates as objects (with their levers) for the combined replay."""
    ok = ok_rows(priced, ("model_key", "cost", *PRICE_COLUMNS, *bill_columns(priced)))
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
        .agg(
            pl.len().alias("requests"), order_free_sum(pl.col("nocache") - pl.col("logged")).alias("already_saved_usd")
        )
        .sort(["already_saved_usd", "model_key"], descending=[True, False])
    )
    out["by_model"] = [
        {k: (round(v, 10) if isinstance(v, float) else v) for k, v in row.items()} for row in by_model.to_dicts()
    ]
    simulated = engine.simulated()
    if simulated.is_empty():
        return out, []
    providers = set(simulated["provider"].to_list())
    estimates: list[Estimate] = []

    def add(lever: Lever, policy: str, scope: str, assumptions: list[str], detail: dict[str, Any]) -> None:
        estimates.append(
            lever_estimate(
                engine, lever, lever_kind="caching", policy=policy, scope=scope, assumptions=assumptions, detail=detail
            )
        )

    explicit = [p for p in providers if RULES[p].mode == "explicit"]
    if explicit:
        n = simulated.filter(pl.col("provider").is_in(explicit)).height
        for label, ttl, price in (("5-minute", 300.0, "1.25x"), ("1-hour", 3600.0, "2x")):
            add(
                Lever(f"{PLACEMENT_POLICY}, {label} TTL", placement=ttl),
                f"{PLACEMENT_POLICY}, {label} TTL",
                f"{n} requests with bodies on {', '.join(sorted(explicit))}",
                [
                    "Baseline: the breakpoints each request really set, each with its own TTL (no breakpoint, "
                    "no caching), replayed through the same simulator.",
                    f"Lever: a breakpoint after the system prompt and tools and one at the end of each "
                    f"request's input, {label} TTL (writes {price} input, reads 0.1x); a prefix shorter than "
                    "the model's minimum (1,024-4,096 tokens) is not cached.",
                ],
                {"mode": "explicit", "ttl_s": ttl, "providers": sorted(explicit)},
            )
    extended = [(p, m) for p, m in simulated.select("provider", "model").iter_rows() if offers_extended_retention(p, m)]
    if extended:
        add(
            Lever("24-hour prompt cache retention", retention=EXTENDED_RETENTION_S),
            "24-hour prompt cache retention (OpenAI prompt_cache_retention)",
            f"{len(extended)} requests on GPT-5 / GPT-4.1 models",
            [
                "OpenAI caches automatically: nothing to turn on. Extended retention (24 h, same price) is "
                "offered for the GPT-5 and GPT-4.1 families; requests on other models are unchanged.",
                "Baseline retention 5 minutes idle (range 5 min-1 h), as OpenAI documents.",
            ],
            {"mode": "automatic", "ttl_s": EXTENDED_RETENTION_S},
        )
    variants = engine.split_variants(split) if split else 0
    if split and variants:
        add(
            Lever("stable system prompts", split=split),
            "move the volatile span of each system prompt to its end",
            f"{variants} requests whose system prompt is one variant of a template",
            [
                "Each variant of a system prompt that differs early (a date, a name, an id) is sent as the "
                "part all variants share, then the rest: the shared part becomes one cacheable prefix "
                "across variants. Prompt behaviour with the span moved is not measured.",
                "Replayed under each provider's own caching as logged (automatic caching; on Anthropic the "
                "logged breakpoint on the prompt moves to the end of its shared part).",
            ],
            {"mode": "stabilise", "variants": len(set(split))},
        )
    gemini = gemini_explicit(engine, cat)
    if gemini is not None:
        estimates.append(gemini)
    automatic = sorted(p for p in providers if RULES[p].mode == "automatic")
    out["automatic_providers"] = automatic
    out["estimates"] = [e.as_dict() for e in estimates]
    return out, estimates


def gemini_explicit(engine: Replayer, cat: Catalogue) -> Estimate | None:
    """Gemini explicit caching of each system prompt (plus tools), against the as-logged replay (implicit
    caching): the first request in a scope creates the cache, later requests while it lives read the prefix
    at the cached price (or what implicit caching already gave, if more), and the cache is billed for every
    hour it exists (the union of [use, use + TTL] intervals). Each bin of the traffic is computed where it is
    held (`gemini_part`) and the parts are added."""
    parts = [p for p in engine.each(gemini_part, cat) if p is not None]
    if not parts:
        return None
    return gemini_estimate(parts, engine.band(set().union(*(p["ids"] for p in parts))))


def gemini_part(engine: Engine, cat: Catalogue) -> dict[str, Any] | None:
    """One bin's Gemini explicit-cache replay: requests, caches, cost before and after (storage included), the
    storage alone and the requests' ids."""
    base = engine.baseline("central")
    groups: dict[tuple[str, str, str, int], list[Call]] = {}
    for c in engine.base.calls:
        if c.provider != "google" or not c.nodes or c.sys_end < 0:
            continue
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
    rows = with_bill(base.frame.filter(pl.col("call_id").is_in(list(reads))), engine.traffic.rows)
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
