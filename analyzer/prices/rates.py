"""What a catalogue entry's price fields mean: the USD-per-token rate of each token type in each mode and tier.

Apart from the catalogue (which finds the entry a logged model name prices at) and from the money (which
multiplies tokens by these rates): these are the rules that turn LiteLLM's fields into rates, including the
ones llmcost infers where the catalogue lists nothing (batch at half price, Anthropic's cache multipliers,
reasoning billed as output). Every function takes an entry (a dict of catalogue fields), never the catalogue.
"""

from __future__ import annotations

import re
from typing import Any

# Token types and the catalogue field that prices each.
RATE_FIELDS = {
    "input": "input_cost_per_token",
    "cache_read": "cache_read_input_token_cost",
    "cache_write_5m": "cache_creation_input_token_cost",
    "cache_write_1h": "cache_creation_input_token_cost_above_1hr",
    "output": "output_cost_per_token",
    "reasoning": "output_cost_per_reasoning_token",
}
_TIER_RE = re.compile(r"^input_cost_per_token_above_(\d+)k_tokens$")
# The catalogue's modes: chat-like modes are priced by tokens as they always were; every other mode it prices
# (embedding, rerank, moderation, audio, images...) is priced by tokens only where tokens are its whole bill.
_CHAT_MODES = ("chat", "completion", "responses", None)
# The per-token price fields llmcost bills (any tier or mode suffix): a non-chat entry listing any other price
# (per query, second, character, image, pixel, page, audio or image token...) bills a unit a log of token counts
# does not carry, and is left unpriced with that reason rather than priced by its tokens alone.
_TOKEN_PRICE = re.compile(
    r"^(?:input_cost_per_token|output_cost_per_token|cache_read_input_token_cost|cache_creation_input_token_cost"
    r"|cache_creation_input_token_cost_above_1hr|output_cost_per_reasoning_token)(?:_above_\d+k_tokens)?(?:_[a-z0-9_]+)?$"
)
# The units a log can give for a call billed by another unit than tokens (Request.unit), and the catalogue
# field that prices one: the seconds of audio a transcription or translation heard, the characters a speech
# request spoke, the searches of a rerank, the images an image request made. Each is billed on its side.
UNIT_PRICES = {
    "second": ("input_cost_per_second", "input"),
    "character": ("input_cost_per_character", "input"),
    "query": ("input_cost_per_query", "input"),
    "image": ("output_cost_per_image", "output"),
}
_UNIT_OF = (  # a price field's words -> the unit it bills, for the reason an entry is unpriced
    ("per_query", "query"),
    ("per_second", "second"),
    ("per_character", "character"),
    ("per_pixel", "pixel"),
    ("per_image_token", "image token"),
    ("image_token", "image token"),
    ("per_image", "image"),
    ("per_page", "page"),
    ("audio_token", "audio token"),
    ("per_audio", "second of audio"),
    ("video", "second of video"),
    ("per_request", "request"),
)
# A service tier the catalogue prices: `input_cost_per_token_priority`, `..._above_272k_tokens_ultrafast`, ...
_MODE_RE = re.compile(r"^(?:input|output)_cost_per_token(?:_above_\d+k_tokens)?_([a-z]+)$")
_NOT_TIERS = {"batches", "cache_hit"}  # batch is its own mode; `_cache_hit` is DeepSeek's cache-read price
# Anthropic's cache prices as multiples of the base input price (reads, 5-minute writes, 1-hour writes).
_CLAUDE_CACHE = {"cache_read": 0.1, "cache_write_5m": 1.25, "cache_write_1h": 2.0}
# Providers with no batch API, so no batch price row and no batch discount (DeepSeek's API reference lists no
# batch endpoint: https://api-docs.deepseek.com/api/deepseek-api).
NO_BATCH_API = {"deepseek"}


def other_units(e: dict[str, Any]) -> list[str]:
    """The units other than tokens a catalogue entry bills (a non-zero price that is no token price), e.g.
    ["query"] for a Cohere rerank model, ["second"] for whisper-1; [] for an entry priced by tokens alone."""
    out: list[str] = []
    for f, v in e.items():
        if "cost" not in f or _TOKEN_PRICE.match(f) or not isinstance(v, int | float) or isinstance(v, bool) or not v:
            continue
        unit = next((u for words, u in _UNIT_OF if words in f), f)
        if unit not in out:
            out.append(unit)
    return out


def priced_by_tokens(e: dict[str, Any]) -> bool:
    """Whether tokens price the entry: a chat-like entry with a token price, or an entry of any other mode
    (embedding, rerank, moderation at $0, audio, images...) whose every price is a token price."""
    if e.get("input_cost_per_token") is None and e.get("output_cost_per_token") is None:
        return False
    return e.get("mode", "chat") in _CHAT_MODES or not other_units(e)


def off_peak(e: dict[str, Any]) -> dict[str, Any]:
    """The entry's `off_peak_pricing` (its windows and the prices in force inside them), or {}."""
    op = e.get("off_peak_pricing")
    return op if isinstance(op, dict) and isinstance(op.get("windows"), list) else {}


def modes(e: dict[str, Any]) -> list[str]:
    """Price modes of an entry: standard, batch unless the provider has no batch API (batch falls back to half
    price where the entry lists none), every service tier
    the entry lists a price for (priority, flex, ultrafast, ...), and off-peak where it lists windows."""
    tiers = sorted({m.group(1) for f in e if (m := _MODE_RE.match(f)) and m.group(1) not in _NOT_TIERS})
    batch = any(f.endswith("_batches") for f in e) or str(e.get("litellm_provider", "")) not in NO_BATCH_API
    return ["standard", *(["batch"] if batch else []), *tiers, *(["off_peak"] if off_peak(e) else [])]


def rate_rows(key: str, e: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (mode, tier) with the USD-per-token rate of every token type, for the entry of `key`."""
    claude = "claude" in key.lower()
    thresholds = sorted({int(m.group(1)) * 1000 for f in e if (m := _TIER_RE.match(f))})
    rows = []
    for mode in modes(e):
        me, msuf = e, "" if mode in ("standard", "off_peak") else "_batches" if mode == "batch" else f"_{mode}"
        if mode == "off_peak":  # the off-peak entry's listed prices replace the standard ones
            me = {**e, **{f: v for f, v in off_peak(e).items() if "cost" in f}}
        for thr in [-1, *thresholds]:
            tsuf = "" if thr < 0 else f"_above_{thr // 1000}k_tokens"
            row: dict[str, Any] = {"model_key": key, "mode": mode, "threshold": thr}
            for kind in RATE_FIELDS:
                row[f"r_{kind}"] = _rate(me, kind, tsuf, msuf, claude)
            rows.append(row)
    return rows


def inferred_rates(key: str, e: dict[str, Any]) -> dict[str, str]:
    """Rates of `key` that the catalogue does not list and llmcost infers from the provider's rule: the
    cache rates of a Claude model listed only by a cloud (Bedrock, Vertex) without them."""
    if "claude" not in key.lower():
        return {}
    return {
        kind: f"{mult:g}x input, Anthropic's rule (the catalogue lists no {RATE_FIELDS[kind]})"
        for kind, mult in _CLAUDE_CACHE.items()
        if e.get(RATE_FIELDS[kind]) is None
    }


def _rate(e: dict[str, Any], kind: str, tsuf: str, msuf: str, claude: bool) -> float:
    name = RATE_FIELDS[kind]
    v = e.get(name + tsuf + msuf)
    if v is not None:
        return float(v)
    if kind == "reasoning" and e.get(name) is None:
        # Thinking tokens are billed as output tokens of their tier and mode.
        return _rate(e, "output", tsuf, msuf, claude)
    inp = "input_cost_per_token"
    if msuf:
        # No price for this mode: the standard rate of the same tier, scaled by the mode's input ratio, taken
        # at the tier when the entry lists the tier's mode price, else at the base (a batch discount is a
        # share of the tiered rate, never tiered price vs base batch price).
        tier_mode, tier_std = e.get(inp + tsuf + msuf), e.get(inp + tsuf)
        base_mode, base_std = e.get(inp + msuf), e.get(inp)
        if tsuf and tier_mode and tier_std:
            factor = tier_mode / tier_std
        elif base_mode and base_std:
            factor = base_mode / base_std
        else:
            factor = 0.5 if msuf == "_batches" else 1.0
        return _rate(e, kind, tsuf, "", claude) * factor
    if tsuf:  # no tiered price for this token type: scale by the tier's input ratio
        base_in = e.get(inp) or 0.0
        tier_in = e.get(inp + tsuf)
        factor = (tier_in / base_in) if (tier_in and base_in) else 1.0
        return _rate(e, kind, "", "", claude) * factor
    base = float(e.get(inp) or 0.0)
    if claude and kind in _CLAUDE_CACHE:
        # Anthropic's documented multipliers, which Bedrock and Vertex bill for Claude too; the report lists
        # these as inferred (inferred_rates).
        return base * _CLAUDE_CACHE[kind]
    if kind in ("cache_read", "cache_write_5m"):
        return base  # no cache price listed: charged as input
    if kind == "cache_write_1h":
        return _rate(e, "cache_write_5m", "", "", claude)
    if kind == "reasoning":
        return float(e.get("output_cost_per_token") or 0.0)
    return 0.0 if kind != "input" else base


def rate_sources(key: str, e: dict[str, Any]) -> dict[str, str]:
    """Where each base (standard, below any tier) rate of `key` comes from: the catalogue field that lists
    it, or the rule that derives it."""
    inferred = inferred_rates(key, e)
    out = {}
    for kind, name in RATE_FIELDS.items():
        if e.get(name) is not None:
            out[kind] = f"listed: {name}"
        elif kind in inferred:
            out[kind] = f"inferred: {inferred[kind]}"
        elif kind == "reasoning":
            out[kind] = "the output rate (thinking tokens are billed as output)"
        elif kind == "cache_write_1h":
            out[kind] = "the 5-minute write rate (no 1-hour price listed)"
        elif kind in ("cache_read", "cache_write_5m"):
            out[kind] = "the input rate (no cache price listed)"
        else:
            out[kind] = "not listed: $0"
    if off_peak(e):
        out["off_peak"] = "listed: off_peak_pricing (its windows select the off_peak mode)"
    return out


def multipliers(e: dict[str, Any]) -> dict[str, float]:
    """The numeric multipliers of the entry's `provider_specific_entry` (Anthropic: {"us": 1.1} for US-only
    inference, {"fast": 2.0} for fast mode); non-numeric provider settings are not prices and are skipped."""
    pse = e.get("provider_specific_entry")
    if not isinstance(pse, dict):
        return {}
    return {str(k).lower(): float(v) for k, v in pse.items() if isinstance(v, int | float) and not isinstance(v, bool)}
