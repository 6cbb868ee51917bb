"""What the providers document and the replays take as given: cache rules (automatic or explicit, minimum
cacheable prefix, hit steps, retention), extended retention, breakpoint limits, Batch APIs, storage prices the
catalogue does not carry, the cheaper model routing sends each provider's simple requests to, and which
providers share a tokenizer.

Apart from the savings engine so that a fact has one place and its source beside it (the projection, the cache
simulator, the miss analysis and the prefix tables all read these), and at the bottom of the package: facts
only, no pricing and no traffic. Each rule names the provider page it is taken from (checked Nov 2026).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, eq=False)  # one object per rule: compared and hashed by identity (a cheap cache key)
class CacheRule:
    provider: str
    mode: str  # "automatic" (every prefix is cached) or "explicit" (only at breakpoints)
    min_tokens: int
    step: int  # a hit is min_tokens + k * step tokens long
    ttl_s: float  # idle retention assumed in the central case (refreshed by every use)
    ttl_low_s: float
    ttl_high_s: float
    source: str = ""  # the provider's page the rule is taken from


_OPENAI_SRC = "https://platform.openai.com/docs/guides/prompt-caching"
# Each provider's caching rules, from their documentation (Nov 2026), each with its source; see caching.py's
# docstring. OpenAI bills cache writes on the models whose catalogue entry lists a cache-write price (gpt-5.6,
# gpt-6...): `simulate(writes_billed=...)`.
RULES: dict[str, CacheRule] = {
    "openai": CacheRule("openai", "automatic", 1024, 128, 300, 300, 3600, _OPENAI_SRC),
    "azure": CacheRule("azure", "automatic", 1024, 128, 300, 300, 3600, _OPENAI_SRC),
    "anthropic": CacheRule(
        "anthropic",
        "explicit",
        1024,
        1,
        300,
        300,
        3600,
        "https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching",
    ),
    "deepseek": CacheRule(
        "deepseek", "automatic", 64, 64, 3600, 300, 3600, "https://api-docs.deepseek.com/guides/kv_cache"
    ),
    "google": CacheRule(
        "google", "automatic", 1024, 1, 300, 180, 3600, "https://ai.google.dev/gemini-api/docs/caching"
    ),
}
# DeepSeek V4 (deepseek-v4-*, and deepseek-chat / deepseek-reasoner once they became V4 Flash on 2026-04-24):
# "Each cached prefix is an independent, complete unit. A subsequent request can only hit the cache if it fully
# matches a cache prefix unit", units stored at the end of the user input, the end of the model output, common
# prefixes detected across requests, and fixed token intervals in long inputs (interval not published, so not
# replayed: a lower bound). A longest-prefix replay over-counts V4 hits.
DEEPSEEK_V4 = CacheRule(
    "deepseek", "prefix_units", 64, 1, 3600, 300, 3600, "https://api-docs.deepseek.com/guides/kv_cache"
)
DEEPSEEK_V4_ALIASES_FROM = 1776988800.0  # 2026-04-24 00:00 UTC


def rule_of(provider: str | None, model: str, ts: float) -> CacheRule | None:
    """The cache rule that applied to one call: the provider's, or DeepSeek V4's prefix units. It depends on the
    call's time only through `ts >= DEEPSEEK_V4_ALIASES_FROM` (the simulator looks it up once per model and
    side of that date)."""
    rule = RULES.get(provider) if provider is not None else None
    if rule is not None and provider == "deepseek":
        m = model.lower().rsplit("/", 1)[-1]
        alias = m in ("deepseek-chat", "deepseek-reasoner") and ts >= DEEPSEEK_V4_ALIASES_FROM
        if m.startswith("deepseek-v4") or alias:
            return DEEPSEEK_V4
    return rule


RuleLookup = Callable[[str | None, str, float], tuple[CacheRule | None, int, float]]


def rules_for(case: str) -> RuleLookup:
    """(provider, model, ts) -> (`rule_of`, its `min_tokens` for the model, its `case_ttl` in `case`), looked up
    once per model and side of DeepSeek's V4 alias date rather than per call: the replays ask for every call."""
    memo: dict[tuple[str | None, str, bool], tuple[CacheRule | None, int, float]] = {}

    def lookup(provider: str | None, model: str, ts: float) -> tuple[CacheRule | None, int, float]:
        key = (provider, model, ts >= DEEPSEEK_V4_ALIASES_FROM)
        got = memo.get(key)
        if got is None:
            rule = rule_of(provider, model, ts)
            got = memo[key] = (rule, min_tokens(rule, model), case_ttl(rule, case)) if rule else (None, 0, 0.0)
        return got

    return lookup


def rules_table() -> list[dict[str, object]]:
    """The cache rules replayed, one row per provider (and DeepSeek V4's prefix units), each with its source."""
    rows = [(p, r) for p, r in sorted(RULES.items())] + [("deepseek (V4)", DEEPSEEK_V4)]
    return [
        {
            "provider": p,
            "mode": r.mode,
            "min_tokens": r.min_tokens,
            "step_tokens": r.step,
            "ttl_s": {"central": r.ttl_s, "low": r.ttl_low_s, "high": r.ttl_high_s},
            "source": r.source,
        }
        for p, r in rows
    ]


# The TTLs an explicit cache breakpoint can ask for (Anthropic's cache_control "ttl"), in seconds: the one table
# of them, for the breakpoints as logged and the reuse-gap ratios of the prefix tables alike.
TTL_S = {"5m": 300.0, "1h": 3600.0}
CASES = ("central", "low", "high")  # the retention cases of every rule (its ttl_s, ttl_low_s, ttl_high_s)
# OpenAI's extended prompt-cache retention (`prompt_cache_retention: "24h"`), offered for the GPT-5 and GPT-4.1
# families at no extra price: the one retention lever an automatic cache has.
EXTENDED_RETENTION_S = 86400.0
EXTENDED_RETENTION_MODELS = ("gpt-5", "gpt-4.1")
LOOKBACK_BLOCKS = 20  # Anthropic checks for a hit at most this many blocks before a breakpoint
MAX_BREAKPOINTS = 4  # Anthropic: at most 4 cache_control breakpoints per request


@functools.cache  # asked once per replayed call: a few rules and models, millions of calls
def min_tokens(rule: CacheRule, model: str) -> int:
    m = model.lower()
    if rule.provider == "anthropic":
        # Anthropic's minimum cacheable prompt per model (its prompt-caching page, RULES' source): 4,096 tokens
        # for Opus 4.5, Opus 4.6 and Haiku 4.5; 2,048 for Opus 4.7, Sonnet 4.6 and Haiku 3 / 3.5; 512 for the
        # 5-generation Opus, Fable and Mythos; 1,024 for the others (Opus 4.8: a real recorded Opus 4.8 call
        # wrote a 1,590-token cache, tests/test_caching.py's sample)
        if "haiku-4-5" in m or re.search(r"opus-4-[56](?!\d)", m):
            return 4096
        if re.search(r"opus-4-7(?!\d)", m) or "sonnet-4-6" in m:
            return 2048
        if re.search(r"(?:opus|fable|mythos)-5(?!\d)", m):
            return 512
        if "haiku" in m and ("3-5" in m or "3-haiku" in m or "haiku-3" in m):
            return 2048
    if rule.provider == "google" and "pro" in m:
        return 4096  # Gemini 2.5 Pro / 3 Pro (the docs; the catalogue's prompt_cache_min_tokens says 2048)
    return rule.min_tokens


@functools.cache
def case_ttl(rule: CacheRule, case: str) -> float:
    return {"central": rule.ttl_s, "low": rule.ttl_low_s, "high": rule.ttl_high_s}[case]


def offers_extended_retention(provider: str | None, model: str) -> bool:
    return provider in ("openai", "azure") and model.lower().removeprefix("openai/").startswith(
        EXTENDED_RETENTION_MODELS
    )


# Gemini explicit caches: storage billed per token-hour while the cache exists (Google's price list,
# https://ai.google.dev/gemini-api/docs/pricing: 2.5 Pro $4.50, 2.5 Flash and Flash-Lite $1.00 per million
# token-hours); the catalogue does not carry these.
GEMINI_STORAGE_PER_TOKEN_HOUR = {"pro": 4.50e-6, "flash": 1.00e-6}
GEMINI_EXPLICIT_TTL_S = 3600.0  # the API's default TTL; every use is assumed to extend it


def gemini_storage_rate(model: str) -> float:
    return GEMINI_STORAGE_PER_TOKEN_HOUR["pro" if "pro" in model.lower() else "flash"]


# A documented Batch API at 50% of the standard price: OpenAI and Azure OpenAI (Batch API), Anthropic (Message
# Batches), Google (Gemini Batch Mode). DeepSeek and others offer none.
BATCH_PROVIDERS = ("openai", "azure", "anthropic", "google")

# The cheaper model routing sends each provider's simple requests to (same provider, so the same API and keys).
ROUTING_TARGETS = {
    "openai": "gpt-4o-mini",
    "azure": "gpt-4o-mini",
    "anthropic": "claude-haiku-4-5",
    "google": "gemini-2.5-flash",
}


def tokenizer_family(provider: str | None) -> str | None:
    """Providers that serve the same models count tokens alike (Azure OpenAI and OpenRouter as OpenAI)."""
    return "openai" if provider in ("azure", "openrouter") else provider


# Who serves a model, from its name alone (OpenAI-compatible logs often do not say); the provider is the price
# catalogue's key prefix.
def guess_provider(model: str) -> str | None:
    """Provider from the model name alone, for logs that do not say (OpenAI-compatible logs often don't)."""
    m = model.lower()
    if "/" in m:
        head = m.split("/", 1)[0]
        if head in (
            "openai",
            "anthropic",
            "deepseek",
            "gemini",
            "vertex_ai",
            "bedrock",
            "azure",
            "mistral",
            "groq",
            "together_ai",
            "openrouter",
            "xai",
            "fireworks_ai",
        ):
            return {"vertex_ai": "google", "gemini": "google"}.get(head, head)
        m = m.rsplit("/", 1)[-1]
    if "claude" in m:
        return "anthropic"
    if m.startswith(("gemini", "gemma")):
        return "google"
    if m.startswith("deepseek"):
        return "deepseek"
    if m.startswith(("gpt-", "o1", "o3", "o4", "chatgpt", "text-", "davinci", "babbage", "codex")):
        return "openai"
    if m.startswith(("mistral", "mixtral", "codestral", "ministral")):
        return "mistral"
    if m.startswith("grok"):
        return "xai"
    return None
