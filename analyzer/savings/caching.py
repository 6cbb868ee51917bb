"""Prompt caching: what caching already saved, what each provider's rules would give on this traffic, and a
backtest of the simulator against the cache reads the providers reported.

The rules live in one table (`RULES`), checked against the providers' documentation (Nov 2026):
- OpenAI (and Azure OpenAI): automatic for prompts of 1,024+ tokens; a hit covers the longest cached prefix in
  128-token steps after the first 1,024; entries are cleared after 5-10 minutes idle, at most an hour.
  No write premium. The read discount is the catalogue's cache-read price (50% gpt-4o, 75% gpt-4.1,
  90% gpt-5).
- Anthropic: explicit `cache_control` breakpoints (at most 4); a prefix is cacheable from 1,024 tokens (2,048
  for Haiku 3/3.5, 4,096 for Opus 4.5 and Haiku 4.5); TTL 5 minutes refreshed on each hit, or 1 hour; writes
  cost 1.25x (5 min) or 2x (1 h) input, reads 0.1x. The strategy replayed places breakpoints at the end of
  the system prompt and tools and at the end of each request's input (incremental conversation caching).
- DeepSeek: automatic, on 64-token units, no write premium; entries live hours (replayed with 1 hour).
- Google Gemini: implicit caching, automatic from 1,024 tokens (2.5 Flash) / 4,096 (2.5 Pro, 3 Pro), no write
  premium for implicit hits. Explicit caches (storage per token-hour, a price the catalogue does not carry)
  are replayed as their own estimate, `gemini_explicit`.

Prefixes are matched at message boundaries (counted tokens scaled to each request's reported input), so a
hit inside a message is not seen: the simulation is conservative for prompts that differ late in a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from analyzer import tokens
from analyzer.conversations import Sequence
from analyzer.perf import gc_paused
from analyzer.prefixes import message_prefix_requests
from analyzer.prices import PRICE_COLUMNS, Catalogue, price_requests
from analyzer.savings import Estimate


@dataclass(frozen=True)
class CacheRule:
    provider: str
    mode: str  # "automatic" (every prefix is cached) or "explicit" (only at breakpoints)
    min_tokens: int
    step: int  # a hit is min_tokens + k * step tokens long
    ttl_s: float  # idle retention assumed in the central case (refreshed by every use)
    ttl_low_s: float
    ttl_high_s: float
    write_ttl: str = "5m"  # which write price explicit caches pay


RULES: dict[str, CacheRule] = {
    "openai": CacheRule("openai", "automatic", 1024, 128, 300, 300, 3600),
    "azure": CacheRule("azure", "automatic", 1024, 128, 300, 300, 3600),
    "anthropic": CacheRule("anthropic", "explicit", 1024, 1, 300, 300, 3600),
    "deepseek": CacheRule("deepseek", "automatic", 64, 64, 3600, 300, 3600),
    "google": CacheRule("google", "automatic", 1024, 1, 300, 180, 3600),
}


RULES_POLICY = "each provider's caching rules (Anthropic: breakpoints after system+tools and at the end of input)"


def min_tokens(rule: CacheRule, model: str) -> int:
    m = model.lower()
    if rule.provider == "anthropic":
        if "haiku-4-5" in m or "opus-4-5" in m:
            return 4096
        if "haiku" in m and ("3-5" in m or "3-haiku" in m or "haiku-3" in m):
            return 2048
    if rule.provider == "google" and "pro" in m:
        return 4096  # Gemini 2.5 Pro / 3 Pro (the docs; the catalogue's prompt_cache_min_tokens says 2048)
    return rule.min_tokens


@dataclass(slots=True)
class SimRequest:
    request_id: str
    ts: float
    scope: tuple[str, str, str]
    nodes: list[int]
    cum: list[int]  # cumulative reported-scale tokens up to each node
    sys_end: int  # index of the last system/tools node, -1 when none
    min_tokens: int
    breakpoints: tuple[int, ...] = ()  # nodes where the logged request set a cache breakpoint


@gc_paused()
def sim_requests(priced: pl.DataFrame, seq: Sequence) -> list[SimRequest]:
    """Requests with bodies on a provider with cache rules: their prefix chains (prefixes.py), each node's
    tokens scaled so that a request's chain adds up to the input tokens the provider reported."""
    keep = priced.filter(pl.col("priced") & (pl.col("status") == "ok") & pl.col("provider").is_in(list(RULES)))
    info = {
        r["request_id"]: r
        for r in keep.select("request_id", "provider", "model", "api_key", "input_tokens").iter_rows(named=True)
    }
    out = []
    for p in message_prefix_requests(seq):
        row = info.get(p.request_id)
        if row is None:
            continue
        counted = sum(p.sizes) + tokens.TOKENS_PER_REPLY
        scale = row["input_tokens"] / counted if counted else 0.0
        cum, acc = [], 0.0
        for size in p.sizes:
            acc += size * scale
            cum.append(int(acc))
        rule = RULES[row["provider"]]
        out.append(
            SimRequest(
                p.request_id,
                p.ts,
                (row["provider"], row["model"], row["api_key"] or ""),
                p.nodes,
                cum,
                p.sys_end,
                min_tokens(rule, row["model"]),
                tuple(p.breakpoints),
            )
        )
    return out  # already in time order


LOOKBACK_BLOCKS = 20  # Anthropic checks for a hit at most this many blocks before a breakpoint


@gc_paused()
def simulate(reqs: list[SimRequest], ttl: float, actual: bool = False) -> dict[str, tuple[int, int]]:
    """request_id -> (cache-read tokens, cache-write tokens) under each provider's rules, replayed in time
    order per scope (provider, model, key); every use refreshes an entry's TTL.

    Explicit caches (Anthropic) use the breakpoint strategy (end of system+tools, end of input), or with
    `actual` the breakpoints each request really set (no breakpoint: no caching), as the backtest needs."""
    scopes: dict[tuple[str, str, str], dict[int, float]] = {}  # scope -> node -> last use
    out: dict[str, tuple[int, int]] = {}
    for r in reqs:
        rule = RULES[r.scope[0]]
        live = scopes.get(r.scope)
        if live is None:
            live = scopes[r.scope] = {}
        total = r.cum[-1]
        hit = -1
        for k, node in enumerate(r.nodes):
            t = live.get(node)
            if t is not None and r.ts - t <= ttl:
                hit = k
        read = r.cum[hit] if hit >= 0 else 0
        if rule.mode == "automatic":
            if total < r.min_tokens or read < r.min_tokens:
                read = 0
            else:
                read = r.min_tokens + (read - r.min_tokens) // rule.step * rule.step
            for node in r.nodes:
                live[node] = r.ts
            out[r.request_id] = (read, 0)
            continue
        # explicit: entries exist only where breakpoints were written, and are found only up to
        # LOOKBACK_BLOCKS messages before one of this request's breakpoints
        bps = sorted(set(r.breakpoints) if actual else {r.sys_end, len(r.nodes) - 1} - {-1})
        while hit >= 0 and not any(0 <= bp - hit <= LOOKBACK_BLOCKS for bp in bps):
            hit -= 1
            while hit >= 0 and ((t := live.get(r.nodes[hit])) is None or r.ts - t > ttl):
                hit -= 1
        read = r.cum[hit] if hit >= 0 else 0
        if hit >= 0:
            live[r.nodes[hit]] = r.ts
        write = 0
        for bp in bps:
            if r.cum[bp] >= r.min_tokens:
                live[r.nodes[bp]] = r.ts
                write = max(write, r.cum[bp] - read)
        out[r.request_id] = (read, max(write, 0))
    return out


# Gemini explicit caches: storage billed per token-hour while the cache exists (Google's price list: 2.5 Pro
# $4.50, 2.5 Flash and Flash-Lite $1.00 per million token-hours); the catalogue does not carry these.
GEMINI_STORAGE_PER_TOKEN_HOUR = {"pro": 4.50e-6, "flash": 1.00e-6}
GEMINI_EXPLICIT_TTL_S = 3600.0  # the API's default TTL; every use is assumed to extend it


def gemini_storage_rate(model: str) -> float:
    return GEMINI_STORAGE_PER_TOKEN_HOUR["pro" if "pro" in model.lower() else "flash"]


def gemini_explicit(reqs: list[SimRequest], rows: pl.DataFrame, cat: Catalogue) -> Estimate | None:
    """Gemini explicit caching of each system prompt (plus tools): the first request in a scope creates the
    cache (billed as ordinary input), later requests while it lives read it at the cached price, and the
    cache is billed for every hour it exists (the union of [use, use + TTL] intervals)."""
    groups: dict[tuple[Any, ...], list[SimRequest]] = {}
    for r in reqs:
        if r.scope[0] == "google" and r.sys_end >= 0 and r.cum[r.sys_end] >= r.min_tokens:
            groups.setdefault((r.scope, r.nodes[r.sys_end]), []).append(r)
    if not groups:
        return None
    reads: dict[str, int] = {}
    storage = 0.0
    for members in groups.values():
        members.sort(key=lambda m: m.ts)
        prefix = members[0].cum[members[0].sys_end]
        alive_s, start, end = 0.0, members[0].ts, members[0].ts + GEMINI_EXPLICIT_TTL_S
        reads[members[0].request_id] = 0
        for m in members[1:]:
            if m.ts <= end:
                reads[m.request_id] = prefix
                end = m.ts + GEMINI_EXPLICIT_TTL_S
            else:  # expired: recreated by this request
                alive_s += end - start
                start, end = m.ts, m.ts + GEMINI_EXPLICIT_TTL_S
                reads[m.request_id] = 0
        alive_s += end - start
        storage += prefix * alive_s / 3600 * gemini_storage_rate(members[0].scope[1])
    affected = rows.filter(pl.col("request_id").is_in(list(reads)))
    base = float(affected["cost"].sum())
    replayed = float(_reprice(affected, {k: (v, 0) for k, v in reads.items()}, cat)["cost"].sum()) + storage
    saving = base - replayed
    return Estimate(
        lever="caching",
        policy="Gemini explicit caches of each system prompt (1 h TTL, extended by each use)",
        scope=f"{len(reads)} Gemini requests in {len(groups)} cache(s)",
        requests=len(reads),
        baseline_usd=base,
        counterfactual_usd=replayed,
        saving_usd=saving,
        saving_low_usd=saving,
        saving_high_usd=saving,
        assumptions=[
            "Storage at $4.50 (2.5 Pro) or $1.00 (Flash, Flash-Lite) per million token-hours, from Google's price "
            "list (not in the catalogue); reads at the catalogue's cached price.",
            "The cache holds the system prompt and tools; it is created by the first request of its scope and "
            "recreated after an hour without use.",
        ],
        evidence=[f"Storage ${storage:,.4f} for the hours the caches would have existed."],
    )


def _reprice(
    rows: pl.DataFrame, sim: dict[str, tuple[int, int]], cat: Catalogue, one_hour: set[str] = frozenset()
) -> pl.DataFrame:
    """Rows priced with the simulated reads and writes (writes at the 1-hour price for `one_hour` ids)."""
    ids = rows["request_id"].to_list()
    reads = pl.Series([sim[r][0] for r in ids], dtype=pl.Int64)
    writes = pl.Series([sim[r][1] for r in ids], dtype=pl.Int64)
    hour = pl.Series([r in one_hour for r in ids], dtype=pl.Boolean)
    read = pl.min_horizontal(reads, pl.col("input_tokens"))
    write = pl.min_horizontal(writes, pl.col("input_tokens") - read)
    frame = rows.with_columns(
        cache_read_tokens=read,
        cache_write_5m_tokens=pl.when(hour).then(0).otherwise(write),
        cache_write_1h_tokens=pl.when(hour).then(write).otherwise(0),
    )
    return price_requests(frame.select(*PRICE_COLUMNS), cat).with_columns(request_id=pl.Series(ids))


def estimate_caching(
    priced: pl.DataFrame, seq: Sequence, cat: Catalogue, sims: list[SimRequest] | None = None
) -> dict[str, object]:
    """The report's `caching` block: already saved, the replayed policy's estimate, and the backtest.
    `sims`: sim_requests(priced, seq) when the caller already has it."""
    ok = priced.filter(pl.col("priced") & (pl.col("status") == "ok"))
    no_cache = ok.select(*PRICE_COLUMNS).with_columns(
        cache_read_tokens=pl.lit(0, pl.Int64),
        cache_write_5m_tokens=pl.lit(0, pl.Int64),
        cache_write_1h_tokens=pl.lit(0, pl.Int64),
    )
    logged = float(ok["cost"].sum())
    already = float(price_requests(no_cache, cat)["cost"].sum()) - logged
    reqs = sims if sims is not None else sim_requests(priced, seq)
    out: dict[str, object] = {
        "already_saved_usd": round(already, 10),
        "by_model": [],
        "estimates": [],
        "backtest": None,
    }
    if not reqs:
        return out
    ids = {r.request_id for r in reqs}
    rows = ok.filter(pl.col("request_id").is_in(list(ids)))
    base = float(rows["cost"].sum())
    costs = {}
    priced_cases = {}
    per_provider = {p: [r for r in reqs if r.scope[0] == p] for p in {r.scope[0] for r in reqs}}
    runs: dict[tuple[str, float, bool], dict[str, tuple[int, int]]] = {}

    def run(provider: str, ttl: float, actual: bool = False) -> dict[str, tuple[int, int]]:
        """One replay per (provider, TTL, mode): automatic caching has no breakpoints, so its actual policy is
        the central replay, and cases sharing a TTL share a replay."""
        key = (provider, ttl, actual and RULES[provider].mode == "explicit")
        if key not in runs:
            runs[key] = simulate(per_provider[provider], ttl, actual=key[2])
        return runs[key]

    for case in ("central", "low", "high"):
        sim: dict[str, tuple[int, int]] = {}
        one_hour: set[str] = set()
        for provider in {r.scope[0] for r in reqs}:
            rule = RULES[provider]
            ttl = {"central": rule.ttl_s, "low": rule.ttl_low_s, "high": rule.ttl_high_s}[case]
            mine = per_provider[provider]
            sim.update(run(provider, ttl))
            if rule.mode == "explicit" and ttl >= 3600:  # 1-hour breakpoints: 2x writes that live longer
                one_hour.update(r.request_id for r in mine)
        priced_cases[case] = _reprice(rows, sim, cat, one_hour)
        if case == "central":  # the combined replay compares its reads with these
            out["simulated_cache_read_tokens"] = int(priced_cases[case]["cache_read_tokens"].sum())
        costs[case] = float(priced_cases[case]["cost"].sum())
    saving = {k: base - v for k, v in costs.items()}
    central_rows = rows.select("request_id", "model_key", logged=pl.col("cost")).join(
        priced_cases["central"].select("request_id", simulated=pl.col("cost")), on="request_id"
    )
    no_cache_cost = (
        price_requests(no_cache, cat)
        .select(nocache=pl.col("cost"))
        .with_columns(request_id=ok["request_id"], model_key=ok["model_key"], logged=ok["cost"])
    )
    by_model = (
        no_cache_cost.group_by("model_key")
        .agg(pl.len().alias("requests"), (pl.col("nocache") - pl.col("logged")).sum().alias("already_saved_usd"))
        .join(
            central_rows.group_by("model_key").agg(
                pl.len().alias("replayed_requests"),
                (pl.col("logged") - pl.col("simulated")).sum().alias("policy_would_save_usd"),
            ),
            on="model_key",
            how="left",
        )
        .sort(["already_saved_usd", "model_key"], descending=[True, False])
    )
    out["by_model"] = [
        {k: (round(v, 10) if isinstance(v, float) else v) for k, v in row.items()} for row in by_model.to_dicts()
    ]
    est = Estimate(
        lever="caching",
        policy=RULES_POLICY,
        scope=f"{len(reqs)} requests with message bodies on providers with prompt caching",
        requests=len(reqs),
        baseline_usd=base,
        counterfactual_usd=costs["central"],
        saving_usd=saving["central"],
        saving_low_usd=min(saving.values()),
        saving_high_usd=max(saving.values()),
        assumptions=[
            "Replayed in time order per provider, model and API key; every use refreshes an entry.",
            "Retention: OpenAI/Azure 5 min (range 5 min-1 h), DeepSeek 1 h (5 min-1 h), Gemini implicit 5 min "
            "(3 min-1 h); Anthropic 5-minute breakpoints (writes 1.25x), and 1-hour ones (writes 2x) in the range.",
            "Gemini's explicit caches (billed per token-hour of storage) are a separate estimate.",
            "Prefixes match at message boundaries: hits inside a message are not counted (conservative).",
        ],
        evidence=[
            f"Compared with the cost as logged ({len(rows)} requests); caching as logged already saved "
            f"${already:,.4f} against no caching at all."
        ],
    )
    out["estimates"] = [est.as_dict()]
    gemini = gemini_explicit(reqs, rows, cat)
    if gemini is not None:
        out["estimates"].append(gemini.as_dict())  # type: ignore[union-attr]
    # Backtest: each provider's actual policy (automatic caching; Anthropic at the breakpoints each request
    # really set) against the cache reads the provider reported for the same requests.
    reported = dict(zip(rows["request_id"].to_list(), rows["cache_read_tokens"].to_list(), strict=True))
    actual: dict[str, tuple[int, int]] = {}
    for provider in {r.scope[0] for r in reqs}:
        actual.update(run(provider, RULES[provider].ttl_s, actual=True))
    first_of_scope: dict[tuple[str, str, str], str] = {}
    for r in reqs:
        first_of_scope.setdefault(r.scope, r.request_id)
    warm = set(first_of_scope.values())  # what these read was cached before the log began

    def compare(ids: list[str]) -> dict[str, object]:
        rep, sim = sum(reported[i] for i in ids), sum(actual[i][0] for i in ids)
        return {
            "requests": len(ids),
            "reported_cache_read_tokens": rep,
            "simulated_cache_read_tokens": sim,
            "error_pct": round((sim - rep) / rep * 100, 2) if rep else None,
        }

    by_provider = []
    for provider in sorted({r.scope[0] for r in reqs}):
        mine = [r.request_id for r in reqs if r.scope[0] == provider]
        by_provider.append(
            {
                "provider": provider,
                **compare(mine),
                "after_first_request_of_each_scope": compare([i for i in mine if i not in warm]),
            }
        )
    out["backtest"] = {
        "providers": [p["provider"] for p in by_provider],
        **compare([r.request_id for r in reqs]),
        "after_first_request_of_each_scope": compare([r.request_id for r in reqs if r.request_id not in warm]),
        "by_provider": by_provider,
        "note": "The simulator starts with an empty cache: what a scope's first request read was cached before "
        "the log began, so the comparison is also given without those requests.",
    }
    return out
