"""The price catalogue and the money: the only module that multiplies tokens by prices.

The catalogue is LiteLLM's `model_prices_and_context_window.json` (shipped, dated), optionally overlaid by a
user's file (`--prices`): a newer full copy or a small override with the same per-model fields. Logged model
names are resolved to catalogue keys (dated snapshots, provider prefixes, Bedrock ids); a model that cannot be
resolved is unpriced, its cost NULL, never $0.
"""

from __future__ import annotations

import bisect
import difflib
import gzip
import re
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from analyzer.errors import InputError

CATALOGUE_FILE = "model_prices_and_context_window.json"
CATALOGUE_SOURCE = "LiteLLM model_prices_and_context_window.json, from the litellm 1.109.1 wheel"
CATALOGUE_DATE = "2026-11-27"  # the day the snapshot was copied into llmcost
HISTORY_FILE = "price_history.json.gz"  # built by tools/build_price_history.py

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
# Providers a log may name for a model hosted by someone else, and first-party catalogue providers.
_CLOUDS = {"bedrock", "bedrock_converse", "google", "vertex_ai", "azure", "azure_ai", "openrouter"}
_FIRST_PARTY = {"anthropic", "openai", "deepseek", "mistral", "xai", "gemini"}
# Providers with no batch API, so no batch price row and no batch discount (DeepSeek's API reference lists no
# batch endpoint: https://api-docs.deepseek.com/api/deepseek-api).
NO_BATCH_API = {"deepseek"}
NOT_BILLED = ("error", "proxy_cache_hit")  # statuses for which the provider charged nothing

# Catalogue key prefixes to try for a provider whose log names carry none.
_PROVIDER_PREFIXES = {
    "google": ("gemini/", "vertex_ai/"),
    "deepseek": ("deepseek/",),
    "anthropic": ("anthropic/",),
    "openai": ("openai/",),
    "mistral": ("mistral/",),
    "xai": ("xai/",),
    "openrouter": ("openrouter/",),
    "azure": ("azure/",),
    "bedrock": ("bedrock/",),
    "groq": ("groq/",),
    "together_ai": ("together_ai/",),
    "fireworks_ai": ("fireworks_ai/",),
}
# Providers that serve other vendors' models under their own prices (OpenAI-compatible hosts): their own
# catalogue listing (`groq/openai/gpt-oss-120b`) is tried before the vendor's (`openai/gpt-oss-120b`).
_HOSTS_OF_OTHERS = {
    "groq",
    "together_ai",
    "fireworks_ai",
    "openrouter",
    "cerebras",
    "deepinfra",
    "sambanova",
    "hyperbolic",
    "nebius",
    "novita",
    "perplexity",
}


_OPENROUTER_SAME_PRICE = (":thinking", ":beta")  # OpenRouter model variants priced as the model itself


def _prefixes(provider: str | None) -> tuple[str, ...]:
    """Catalogue key prefixes of a provider: the listed ones, else its own name (`cerebras/`)."""
    if not provider:
        return ()
    return _PROVIDER_PREFIXES.get(provider, (f"{provider}/",))


_STRIP_PREFIX = re.compile(
    r"^(?:openai|anthropic|azure|azure_ai|bedrock|bedrock_converse|vertex_ai|vertex_ai_beta|gemini|google|"
    r"deepseek|openrouter|litellm_proxy|models|mistral|xai|groq|together_ai|fireworks_ai|cerebras|deepinfra|"
    r"[a-z]{2}-[a-z]+-\d)/",
)
_BEDROCK_REGION = re.compile(r"^(?:us|eu|apac|global|jp|au|us-gov)\.")
_BEDROCK_VENDOR = re.compile(r"^(?:anthropic|meta|amazon|mistral|cohere|ai21|deepseek|openai|qwen)\.")
_DATE_SUFFIXES = (
    re.compile(r"-\d{4}-\d{2}-\d{2}$"),  # gpt-4o-2024-08-06
    re.compile(r"-\d{8}$"),  # claude-sonnet-4-5-20250929
    re.compile(r"@\d{8}$"),  # vertex: claude-3-5-sonnet@20240620
    re.compile(r"-v\d+(?::\d+)?$"),  # bedrock: -v1:0
    re.compile(r"-latest$"),
    re.compile(r"-\d{4}$"),  # gpt-4-0613, gpt-3.5-turbo-0125
    re.compile(r"-\d{3}$"),  # gemini-1.5-pro-002
)


# The longest catalogue key is under 100 characters; a longer "model" is a crafted or broken value.
MAX_MODEL_CHARS = 256


@dataclass(frozen=True)
class Resolution:
    model: str
    provider: str | None
    key: str | None
    how: str  # "exact", "alias", "dated", or why it is unpriced
    unit_key: str | None = None  # an unpriced model's catalogue entry priced by another unit (UNIT_PRICES)


@dataclass
class PriceHistory:
    """The price fields of each catalogue key and the days each set was in force, from the git history of
    LiteLLM's catalogue (built by tools/build_price_history.py). A key's versions are `[from_day, fields]`
    in date order, each in force until the next one's day; `fields` None means the key had left the catalogue.
    """

    models: dict[str, list[tuple[str, dict[str, Any] | None]]]
    first: str  # the first day the history covers
    last: str  # the last day; later calls are priced at the shipped snapshot
    source: str

    @cached_property
    def intraday_days(self) -> set[str]:
        """Days on which some key's prices changed at an announced time of day (a version from `YYYY-MM-DDTHH:MM`,
        UTC): calls on those days are looked up to the minute, all others by day."""
        return {d[:10] for versions in self.models.values() for d, _ in versions if len(d) > 10}

    def version_on(self, key: str, day: str) -> tuple[str, dict[str, Any]] | None:
        """(from, fields) in force for `key` at `day`: a day (YYYY-MM-DD) or a UTC minute (YYYY-MM-DDTHH:MM).
        A version's `from` is a day (in force from its midnight UTC) or a minute, as the provider announced the
        change; the two spellings sort in time order as strings. None when the history has nothing for it
        (after the history ends, or a key it never listed): the shipped snapshot prices it.

        Before a key's first listing, its twin with or without the provider prefix prices it when that was
        listed then (the catalogue added `deepseek-chat` in September 2025; `deepseek/deepseek-chat` priced
        the same model before); else the key's earliest version."""
        versions = self.models.get(key)
        if not versions or day[:10] > self.last:
            return None
        if day < versions[0][0]:
            provider = next((f.get("litellm_provider") for _, f in versions if f), None)
            twin = key.split("/", 1)[1] if "/" in key else f"{provider}/{key}"
            tw = self.models.get(twin)
            if tw and tw[0][0] <= day:
                versions = tw
        days = [v[0] for v in versions]
        i = max(bisect.bisect_right(days, day) - 1, 0)  # before the history starts: its earliest version
        frm, fields = versions[i]
        if fields is None:  # retired by then: its last listed prices
            frm, fields = next(((d, f) for d, f in reversed(versions[:i]) if f is not None), (frm, None))
        return None if fields is None else (frm, fields)

    def last_listed(self, key: str) -> tuple[str, dict[str, Any]] | None:
        """The last prices the history lists for `key` and the day they came into force."""
        return next(((d, f) for d, f in reversed(self.models.get(key, [])) if f is not None), None)

    def retired_on(self, key: str) -> str | None:
        versions = self.models.get(key)
        return versions[-1][0] if versions and versions[-1][1] is None else None


@dataclass
class Catalogue:
    entries: dict[str, dict[str, Any]]
    source: str
    date: str
    overrides: list[str] = field(default_factory=list)
    history: PriceHistory | None = None
    user_keys: set[str] = field(default_factory=set)  # keys the user's --prices file sets: priced so on every day
    # Dated price versions taken from the history, keyed `model_key@YYYY-MM-DD` (the day it came into force).
    versions: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _cache: dict[tuple[str, str | None], Resolution] = field(default_factory=dict, repr=False)

    @cached_property
    def _lower(self) -> dict[str, str]:
        return {k.lower(): k for k in self.entries if self._priced(k)}

    def priced_models(self) -> int:
        """How many models the catalogue prices by tokens (chat, completion, embedding, moderation...)."""
        return len(self._lower)

    def close_names(self, model: str, n: int = 5) -> list[str]:
        """Catalogue keys spelled like `model`, for an unpriced name's error message."""
        return difflib.get_close_matches(model.lower(), list(self._lower), n=n, cutoff=0.6)

    def _priced(self, key: str) -> bool:
        """Whether tokens price the key: a chat-like entry with a token price, or an entry of any other mode
        (embedding, rerank, moderation at $0, audio, images...) whose every price is a token price."""
        e = self.entries.get(key)
        if not isinstance(e, dict):
            return False
        if e.get("input_cost_per_token") is None and e.get("output_cost_per_token") is None:
            return False
        return e.get("mode", "chat") in _CHAT_MODES or not other_units(e)

    @cached_property
    def _by_other_unit(self) -> dict[str, str]:
        """Lower-cased keys of entries priced by a unit other than tokens, for the reason they stay unpriced."""
        return {k.lower(): k for k, e in self.entries.items() if isinstance(e, dict) and other_units(e)}

    @cached_property
    def _dated(self) -> dict[str, str]:
        """Undated name -> newest dated catalogue key, for logs that name a model without its snapshot."""
        best: dict[str, tuple[str, str]] = {}  # undated -> (dated name, key)
        for low, key in [*self._lower.items(), *self._equivalents.items()]:
            m = re.match(r"^(.*?)-(\d{8}|\d{4}-\d{2}-\d{2})$", low)
            if m and (m.group(1) not in best or low > best[m.group(1)][0]):
                best[m.group(1)] = (low, key)
        return {undated: key for undated, (_, key) in best.items()}

    @cached_property
    def _equivalents(self) -> dict[str, str]:
        """Bare model name -> a cloud listing of the same model, for models the catalogue lists only there
        (it dropped e.g. `claude-sonnet-4-20250514` as a first-party key but keeps Bedrock's
        `anthropic.claude-sonnet-4-20250514-v1:0`). Base Bedrock ids come first: regional ids
        (`us.`, `eu.`...) can carry a regional premium, so they are never used."""
        found: dict[str, str] = {}
        for low, key in sorted(self._lower.items()):
            if low.startswith("anthropic."):
                bare = re.sub(r"-v\d+(?::\d+)?$", "", low.removeprefix("anthropic."))
                found[bare] = key  # Bedrock base listing wins over Vertex
            elif low.startswith("vertex_ai/claude"):
                bare = low.removeprefix("vertex_ai/").replace("@", "-")
                found.setdefault(bare, key)
        return found

    def resolve(self, model: str, provider: str | None = None) -> Resolution:
        ck = (model, provider)
        hit = self._cache.get(ck)
        if hit is None:
            hit = self._cache[ck] = self._resolve(model, provider)
        return hit

    def _resolve(self, model: str, provider: str | None) -> Resolution:
        if len(model) > MAX_MODEL_CHARS:
            # no catalogue name comes near; stripping prefix after prefix of a crafted 200 KB name kept every
            # suffix (1.85 GB)
            return Resolution(model, provider, None, f"not a model name (over {MAX_MODEL_CHARS} characters)")
        low = model.strip().lower()
        own_first = provider in _HOSTS_OF_OTHERS
        if own_first:  # the host's own listing of the model, before the vendor's
            for pre in _prefixes(provider):
                if pre + low in self._lower:
                    return Resolution(model, provider, self._lower[pre + low], "alias")
        if low in self._lower:
            return Resolution(model, provider, self._lower[low], "exact")
        names = [low]
        stripped = low
        while (m := _STRIP_PREFIX.match(stripped)) is not None:
            stripped = stripped[m.end() :]
            names.append(stripped)
        tail = stripped.rsplit("/", 1)[-1]
        names.append(tail)
        bedrock = _BEDROCK_VENDOR.sub("", _BEDROCK_REGION.sub("", tail))
        names.append(bedrock)
        if provider == "openrouter":
            # OpenRouter's `:thinking` and `:beta` variants bill as their model (`:free` does not: never stripped).
            names += [n.removesuffix(v) for n in list(names) for v in _OPENROUTER_SAME_PRICE if n.endswith(v)]
        pres = (*_prefixes(provider), "") if own_first else ("", *_prefixes(provider))
        for name in list(dict.fromkeys(names)):
            for pre in pres:
                if pre + name in self._lower:
                    return Resolution(model, provider, self._lower[pre + name], "alias")
        # Listed today but billed by another unit (images, seconds, characters): say so, rather than fall to an
        # older listing of the same name that priced tokens.
        for name in list(dict.fromkeys(names)):
            for pre in pres:
                key = self._by_other_unit.get(pre + name)
                if key is not None:
                    e = self.entries[key]
                    units = " and ".join(other_units(e))
                    return Resolution(
                        model,
                        provider,
                        None,
                        f"priced per {units} ({e.get('mode', 'chat')}, {key}): the log gives token counts only",
                        key,
                    )
        same = bedrock.replace("@", "-")  # vertex spells snapshots claude-x@20240620
        # A first-party name (Claude Code, the Anthropic API) the snapshot no longer lists is priced at its own
        # first-party listing from the price history, never at a Bedrock or Vertex listing of the same model:
        # clouds price cache reads and writes differently (Claude 3 Haiku: $0.03 / $0.30 per 1M from Anthropic,
        # $0.025 / $0.3125 on Vertex). A call after the listing ended keeps its last first-party prices.
        first = self._first_party(same, provider)
        if first is not None:
            frm, fields = self.history.last_listed(first) or ("", {})  # type: ignore[union-attr]
            # the history keeps prices only: the context window comes from a cloud listing of the same model
            cloud = self.entries.get(self._equivalents.get(same, ""), {})
            limits = {k: v for k, v in cloud.items() if k in ("max_input_tokens", "max_output_tokens", "max_tokens")}
            self.entries.setdefault(first, {**limits, **fields})
            gone = self.history.retired_on(first) or "after " + self.history.last  # type: ignore[union-attr]
            return Resolution(
                model, provider, first, f"retired from the catalogue ({gone}); its own first-party prices of each day"
            )
        if same in self._equivalents:
            key = self._equivalents[same]
            return Resolution(
                model, provider, key, f"same model, listed under {self.entries[key].get('litellm_provider')}"
            )
        # Undated spelling of a model only listed with its snapshot date, or a snapshot the catalogue lacks.
        base = bedrock
        for _ in range(3):
            if base in self._dated:
                return Resolution(model, provider, self._dated[base], "dated")
            for rx in _DATE_SUFFIXES:
                shorter = rx.sub("", base)
                if shorter != base:
                    base = shorter
                    break
            else:
                break
            for pre in pres:
                if pre + base in self._lower:
                    return Resolution(model, provider, self._lower[pre + base], "dated")
        if self.history is not None:
            old = self._retired.resolve(model, provider)
            if old.key is not None:
                frm, fields = self.history.last_listed(old.key) or ("", {})
                self.entries.setdefault(old.key, fields)
                gone = self.history.retired_on(old.key) or "after " + self.history.last
                return Resolution(model, provider, old.key, f"retired from the catalogue ({gone}); prices of {frm}")
        return Resolution(model, provider, None, "not in the price catalogue")

    def _first_party(self, name: str, provider: str | None) -> str | None:
        """The price history's first-party key for a bare model name (listed under the provider itself, e.g.
        `claude-3-haiku-20240307` under "anthropic"), unless the log names a cloud as the provider."""
        if self.history is None or provider in _CLOUDS:
            return None
        for key in (name, f"{provider}/{name}" if provider else None):
            versions = self.history.models.get(key or "")
            listed = next((f for _, f in versions or [] if f), None)
            if listed and str(listed.get("litellm_provider", "")) in _FIRST_PARTY:
                return key
        return None

    @cached_property
    def _retired(self) -> Catalogue:
        """Keys the price history lists that the snapshot no longer does, at their last listed prices."""
        assert self.history is not None
        gone = {}
        for key in self.history.models:
            if key not in self.entries and (last := self.history.last_listed(key)) is not None:
                gone[key] = last[1]
        return Catalogue(gone, self.history.source, self.history.last)

    # ---- rates ---------------------------------------------------------------------------------------------

    def entry(self, key: str) -> dict[str, Any]:
        """The catalogue entry of `key`, or of a dated price version `key@YYYY-MM-DD` from the price history."""
        e = self.entries.get(key)
        return e if e is not None else self.versions[key]

    def modes(self, key: str) -> list[str]:
        """Price modes of `key`: standard, batch unless the provider has no batch API (batch falls back to half
        price where the entry lists none), every service tier
        the entry lists a price for (priority, flex, ultrafast, ...), and off-peak where it lists windows."""
        e = self.entry(key)
        tiers = sorted({m.group(1) for f in e if (m := _MODE_RE.match(f)) and m.group(1) not in _NOT_TIERS})
        batch = any(f.endswith("_batches") for f in e) or str(e.get("litellm_provider", "")) not in NO_BATCH_API
        return ["standard", *(["batch"] if batch else []), *tiers, *(["off_peak"] if _off_peak(e) else [])]

    def rate_rows(self, key: str) -> list[dict[str, Any]]:
        """One row per (mode, tier) with the USD-per-token rate of every token type."""
        e = self.entry(key)
        claude = "claude" in key.lower()
        thresholds = sorted({int(m.group(1)) * 1000 for f in e if (m := _TIER_RE.match(f))})
        rows = []
        for mode in self.modes(key):
            me, msuf = e, "" if mode in ("standard", "off_peak") else "_batches" if mode == "batch" else f"_{mode}"
            if mode == "off_peak":  # the off-peak entry's listed prices replace the standard ones
                me = {**e, **{f: v for f, v in _off_peak(e).items() if "cost" in f}}
            for thr in [-1, *thresholds]:
                tsuf = "" if thr < 0 else f"_above_{thr // 1000}k_tokens"
                row: dict[str, Any] = {"model_key": key, "mode": mode, "threshold": thr}
                for kind in RATE_FIELDS:
                    row[f"r_{kind}"] = self._rate(me, kind, tsuf, msuf, claude)
                rows.append(row)
        return rows

    def inferred_rates(self, key: str) -> dict[str, str]:
        """Rates of `key` that the catalogue does not list and llmcost infers from the provider's rule: the
        cache rates of a Claude model listed only by a cloud (Bedrock, Vertex) without them."""
        e = self.entry(key)
        if "claude" not in key.lower():
            return {}
        return {
            kind: f"{mult:g}x input, Anthropic's rule (the catalogue lists no {RATE_FIELDS[kind]})"
            for kind, mult in _CLAUDE_CACHE.items()
            if e.get(RATE_FIELDS[kind]) is None
        }

    def _rate(self, e: dict[str, Any], kind: str, tsuf: str, msuf: str, claude: bool) -> float:
        name = RATE_FIELDS[kind]
        v = e.get(name + tsuf + msuf)
        if v is not None:
            return float(v)
        if kind == "reasoning" and e.get(name) is None:
            # Thinking tokens are billed as output tokens of their tier and mode.
            return self._rate(e, "output", tsuf, msuf, claude)
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
            return self._rate(e, kind, tsuf, "", claude) * factor
        if tsuf:  # no tiered price for this token type: scale by the tier's input ratio
            base_in = e.get(inp) or 0.0
            tier_in = e.get(inp + tsuf)
            factor = (tier_in / base_in) if (tier_in and base_in) else 1.0
            return self._rate(e, kind, "", "", claude) * factor
        base = float(e.get(inp) or 0.0)
        if claude and kind in _CLAUDE_CACHE:
            # Anthropic's documented multipliers, which Bedrock and Vertex bill for Claude too; the report lists
            # these as inferred (Catalogue.inferred_rates).
            return base * _CLAUDE_CACHE[kind]
        if kind in ("cache_read", "cache_write_5m"):
            return base  # no cache price listed: charged as input
        if kind == "cache_write_1h":
            return self._rate(e, "cache_write_5m", "", "", claude)
        if kind == "reasoning":
            return float(e.get("output_cost_per_token") or 0.0)
        return 0.0 if kind != "input" else base

    def version_on(self, key: str, day: str) -> tuple[str, str] | None:
        """(rate key, from_day) of the history's price version of `key` in force on `day`, registered so that
        `rate_rows` can read it; None when the snapshot prices that day (or the user's file sets the key)."""
        if self.history is None or key in self.user_keys:
            return None
        hit = self.history.version_on(key, day)
        if hit is None:
            return None
        frm, fields = hit
        self.versions.setdefault(f"{key}@{frm}", fields)
        return f"{key}@{frm}", frm

    def rate_sources(self, key: str) -> dict[str, str]:
        """Where each base (standard, below any tier) rate of `key` comes from: the catalogue field that lists
        it, or the rule that derives it."""
        e = self.entry(key)
        inferred = self.inferred_rates(key)
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
        if _off_peak(e):
            out["off_peak"] = "listed: off_peak_pricing (its windows select the off_peak mode)"
        return out

    def multipliers(self, key: str) -> dict[str, float]:
        """The numeric multipliers of the entry's `provider_specific_entry` (Anthropic: {"us": 1.1} for US-only
        inference, {"fast": 2.0} for fast mode); non-numeric provider settings are not prices and are skipped."""
        pse = self.entry(key).get("provider_specific_entry")
        if not isinstance(pse, dict):
            return {}
        return {
            str(k).lower(): float(v) for k, v in pse.items() if isinstance(v, int | float) and not isinstance(v, bool)
        }

    def provider(self, key: str | None) -> str | None:
        """The provider a catalogue key is listed under, in llmcost's names (`vertex_ai-language-models` and
        `gemini` are google), or None."""
        p = str(self.entries.get(key or "", {}).get("litellm_provider", "")).split("-")[0].split("_")[0]
        return {"vertex": "google", "gemini": "google"}.get(p, p) or None

    def context_window(self, key: str) -> int | None:
        v = self.entries.get(key, {}).get("max_input_tokens")
        return int(v) if isinstance(v, int | float) else None


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


def load_history(path: Path | str | None = None) -> PriceHistory:
    """The dated price history shipped with llmcost (or the file given, same format)."""
    data = (
        Path(path).read_bytes()
        if path
        else (resources.files("analyzer") / "data" / "prices" / HISTORY_FILE).read_bytes()
    )
    h = orjson.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    models = {k: [(d, f) for d, f in v] for k, v in h["models"].items()}
    return PriceHistory(models, h["first"], h["last"], h.get("source", ""))


def load_catalogue(override: Path | str | None = None, *, history: bool = True) -> Catalogue:
    """The shipped catalogue, overlaid field by field with the user's file when given, with the shipped price
    history (calls are priced at the prices of their day) unless `history` is False."""
    raw = (resources.files("analyzer") / "data" / "prices" / CATALOGUE_FILE).read_bytes()
    entries: dict[str, dict[str, Any]] = {k: v for k, v in orjson.loads(raw).items() if isinstance(v, dict)}
    entries.pop("sample_spec", None)
    cat = Catalogue(entries, CATALOGUE_SOURCE, CATALOGUE_DATE, history=load_history() if history else None)
    if override is not None:
        path = Path(override)
        try:
            data = orjson.loads(path.read_bytes())
        except OSError as e:
            raise InputError(f"{path}: cannot read price file ({e.strerror or e})") from None
        except orjson.JSONDecodeError as e:
            raise InputError(f"{path}: price file is not valid JSON ({e})") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: price file must be a JSON object keyed by model name")
        # A small override is checked against the fields the shipped catalogue uses, so that a misspelt
        # `input_cost_per_tokens` is an error rather than a price silently left as it was. A whole newer
        # catalogue may bring fields of its own and is not checked.
        known = {f for e in entries.values() for f in e} if len(data) <= 500 else None
        for key, fields in data.items():
            if key == "sample_spec":
                continue
            if not isinstance(fields, dict):
                raise InputError(f"{path}: entry {key!r} must be an object of price fields")
            for f in fields:
                if known is not None and f not in known and not f.startswith("supports_"):
                    close = difflib.get_close_matches(f, sorted(known), n=1)
                    raise InputError(
                        f"{path}: {key}.{f} is not a price catalogue field"
                        + (f" (did you mean {close[0]}?)" if close else "")
                    )
            for f, v in fields.items():
                if ("cost" in f and not isinstance(v, dict)) and not (
                    v is None or (isinstance(v, int | float) and not isinstance(v, bool) and v >= 0)
                ):
                    raise InputError(f"{path}: {key}.{f} must be a non-negative number, got {v!r}")
            entries[key] = {**entries.get(key, {}), **fields}
            cat.user_keys.add(key)
        cat.overrides.append(str(path))
        if len(data) > 500:  # a whole newer catalogue, not an override
            cat.source = f"{path} (a full catalogue, over the shipped one)"
            cat.date = "as of the file given"
    return cat


# ---- the money ----------------------------------------------------------------------------------------------

# The token counts of a request, by type (input includes cached reads and writes; output includes reasoning).
TOKEN_COLUMNS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
)
# What price_requests reads from a frame of requests.
PRICE_COLUMNS = (
    "model",
    "provider",
    *TOKEN_COLUMNS,
    "batch",
    "service_tier",
    "status",
)
COST_COLUMNS = (
    "cost_input",
    "cost_cache_read",
    "cost_cache_write_5m",
    "cost_cache_write_1h",
    "cost_output",
    "cost_reasoning",
)


def _off_peak(e: dict[str, Any]) -> dict[str, Any]:
    op = e.get("off_peak_pricing")
    return op if isinstance(op, dict) and isinstance(op.get("windows"), list) else {}


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _off_peak_expr(e: dict[str, Any]) -> pl.Expr:
    """True where `ts` falls in one of the entry's off-peak windows: `weekdays` ISO (1 Monday .. 7 Sunday),
    taken in `weekday_timezone` when given, and `hours_utc` ranges "HH:MM-HH:MM" where an end of 00:00 is
    midnight (so "00:00-00:00" is the whole day)."""
    op = _off_peak(e)
    ts = pl.col("ts")
    tz = op.get("weekday_timezone")
    weekday = (ts.dt.replace_time_zone("UTC").dt.convert_time_zone(tz) if tz else ts).dt.weekday()
    minute = ts.dt.hour().cast(pl.Int32) * 60 + ts.dt.minute().cast(pl.Int32)
    cond = pl.lit(False)
    for w in op["windows"]:
        hours = w.get("hours_utc", [])
        in_hours = pl.lit(False)
        for span in [hours] if isinstance(hours, str) else hours:
            a, b = (_minutes(x) for x in str(span).split("-"))
            in_hours = in_hours | ((minute >= a) & (minute < (b if b > a else 1440)))
        cond = cond | (weekday.is_in([int(d) for d in w.get("weekdays", [])]) & in_hours)
    return cond


def _with_versions(out: pl.DataFrame, cat: Catalogue, dated: bool) -> pl.DataFrame:
    """Add `price_version` (the day the prices in force came into force, or "snapshot") and `rate_key` (the
    key whose rates price the row: `model_key@day` for a dated version from the price history)."""
    history = cat.history
    if history is None or not dated or "ts" not in out.columns:
        return out.with_columns(price_version=pl.lit("snapshot"), rate_key=pl.col("model_key"))
    # The lookup instant: the day, or the minute on a day when some price changed at an announced time.
    day = pl.col("ts").dt.strftime("%Y-%m-%d")
    intraday = sorted(history.intraday_days)
    at = pl.when(day.is_in(intraday)).then(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M")).otherwise(day)
    out = out.with_columns(_day=at if intraday else day)
    pairs = out.select("model_key", "_day").unique().drop_nulls()
    keys, days, versions, froms = [], [], [], []
    for key, day in pairs.iter_rows():
        hit = None if key in cat.user_keys else history.version_on(key, day)
        keys.append(key)
        days.append(day)
        if hit is None:
            versions.append("snapshot")
            froms.append(None)
        else:
            frm, fields = hit
            # A call before the model's first listing is priced at that first listing, and says so.
            versions.append(before_listing(frm) if day < frm else frm)
            froms.append(frm)
            cat.versions.setdefault(f"{key}@{frm}", fields)
    found = pl.DataFrame(
        {"model_key": keys, "_day": days, "price_version": versions, "_from": froms},
        schema={"model_key": pl.String, "_day": pl.String, "price_version": pl.String, "_from": pl.String},
    )
    return (
        out.join(found, on=["model_key", "_day"], how="left")
        .with_columns(price_version=pl.col("price_version").fill_null("snapshot"))
        .with_columns(
            rate_key=pl.when(pl.col("_from").is_null())
            .then(pl.col("model_key"))
            .otherwise(pl.col("model_key") + "@" + pl.col("_from"))
        )
        .drop("_day", "_from")
    )


BEFORE_LISTING = " (first known listing; the call predates it)"


def before_listing(frm: str) -> str:
    """The price version of a call made before its model's first listing: priced at that first listing."""
    return frm + BEFORE_LISTING


def price_requests(df: pl.DataFrame, cat: Catalogue, *, dated: bool = True) -> pl.DataFrame:
    """Add `model_key`, `priced`, the cost of each token type and `cost` (USD) to a frame of requests.

    Needs columns model, provider, input_tokens, cache_read_tokens, cache_write_5m_tokens,
    cache_write_1h_tokens, output_tokens, reasoning_tokens, batch, service_tier, status; uses `ts` (the
    call's UTC time: the price version in force that day, off-peak windows), `inference_geo` and `speed` when
    the frame has them.
    Uncached input = input - cache reads - cache writes; output is billed net of reasoning, which has its own
    rate where the catalogue lists one (else the output rate of its tier). Above a tier threshold (e.g. 200k
    input tokens) the whole request is billed at the tier's rates, as Anthropic and Google bill. The mode is
    batch, else the service tier when the catalogue prices it, else off-peak inside the entry's windows, else
    standard; the entry's provider_specific_entry multipliers (inference geography, fast mode) then scale the
    whole call. `adjustments` says which of these applied. Unpriced rows get NULL costs.
    With `dated` False the price history is not used: every call at the shipped snapshot ("today's prices").
    """
    pairs = df.select("model", "provider").unique()
    res = [cat.resolve(m, p) for m, p in pairs.iter_rows()]
    keys = pl.DataFrame(
        {
            "model": [r.model for r in res],
            "provider": [r.provider for r in res],
            "model_key": [r.key for r in res],
            "_unit_key": [r.unit_key for r in res],
        },
        schema={"model": pl.String, "provider": pl.String, "model_key": pl.String, "_unit_key": pl.String},
    )
    joined = df.with_row_index("_row").join(keys, on=["model", "provider"], how="left", nulls_equal=True)
    # A call billed by another unit (a transcription's seconds, an image request's images) is priced by its
    # model's entry for that unit when the log gave the count and the entry lists the price.
    by_unit = pl.lit(False)
    if "unit" in joined.columns and "units" in joined.columns:
        unit_rows = [
            (k, u)
            for k, u in joined.filter(pl.col("model_key").is_null() & pl.col("unit").is_not_null())
            .select("_unit_key", "unit")
            .unique()
            .drop_nulls()
            .iter_rows()
            if u in UNIT_PRICES and cat.entries.get(k, {}).get(UNIT_PRICES[u][0]) is not None
        ]
        listed = pl.DataFrame(
            {"_unit_key": [k for k, _ in unit_rows], "unit": [u for _, u in unit_rows], "_unit_listed": True},
            schema={"_unit_key": pl.String, "unit": pl.String, "_unit_listed": pl.Boolean},
        )
        joined = joined.join(listed, on=["_unit_key", "unit"], how="left")
        by_unit = (pl.col("model_key").is_null() & pl.col("_unit_listed") & pl.col("units").is_not_null()).fill_null(
            False
        )
        joined = joined.with_columns(
            _by_unit=by_unit, model_key=pl.when(by_unit).then(pl.col("_unit_key")).otherwise(pl.col("model_key"))
        ).drop("_unit_listed")
    else:
        joined = joined.with_columns(_by_unit=by_unit)
    out = _with_versions(joined.drop("_unit_key"), cat, dated)
    rate_keys = sorted(k for k in out["rate_key"].unique().to_list() if k)
    rate_schema = {
        "rate_key": pl.String,
        "mode": pl.String,
        "threshold": pl.Int64,
        **{f"r_{k}": pl.Float64 for k in RATE_FIELDS},
    }
    rate_rows = [{**row, "rate_key": row["model_key"]} for k in rate_keys for row in cat.rate_rows(k)]
    rates = pl.DataFrame(rate_rows, schema=rate_schema) if rate_rows else pl.DataFrame(schema=rate_schema)
    modes = rates.select("rate_key", "mode").unique()
    # The mode: batch, else a service tier the entry prices, else off-peak in the entry's windows.
    st = pl.col("service_tier").fill_null("").str.to_lowercase()
    off_peak = pl.lit(False)
    if "ts" in out.columns:
        for k in rate_keys:
            if _off_peak(cat.entry(k)):
                off_peak = pl.when(pl.col("rate_key") == k).then(_off_peak_expr(cat.entry(k))).otherwise(off_peak)
    out = (
        out.with_columns(
            _want=pl.when(pl.col("batch")).then(pl.lit("batch")).otherwise(st), _off=off_peak.fill_null(False)
        )
        .join(
            modes.rename({"mode": "_want"}).with_columns(_listed=pl.lit(True)),
            on=["rate_key", "_want"],
            how="left",
        )
        .with_columns(
            mode=pl.when(pl.col("_listed"))
            .then(pl.col("_want"))
            .when(pl.col("_off"))
            .then(pl.lit("off_peak"))
            .otherwise(pl.lit("standard"))
        )
        .drop("_want", "_off", "_listed")
    )
    # provider_specific_entry multipliers: inference geography (e.g. "us"), and "fast" for speed="fast".
    geo = pl.col("inference_geo").str.to_lowercase() if "inference_geo" in out.columns else pl.lit(None, pl.String)
    fast = (pl.col("speed").str.to_lowercase() == "fast" if "speed" in out.columns else pl.lit(False)).fill_null(False)
    mult_rows = [(k, name, v) for k in rate_keys for name, v in cat.multipliers(k).items()]
    mults = pl.DataFrame(
        mult_rows, schema={"rate_key": pl.String, "_name": pl.String, "_mult": pl.Float64}, orient="row"
    )
    geo_m = mults.filter(pl.col("_name") != "fast").rename({"_name": "_geo", "_mult": "_geo_mult"})
    fast_m = mults.filter(pl.col("_name") == "fast").select("rate_key", _fast_mult=pl.col("_mult"))
    out = (
        out.with_columns(_geo=geo)
        .join(geo_m, on=["rate_key", "_geo"], how="left")
        .join(fast_m, on="rate_key", how="left")
        .with_columns(_fast_mult=pl.when(fast).then(pl.col("_fast_mult")).otherwise(None))
        .with_columns(multiplier=pl.col("_geo_mult").fill_null(1.0) * pl.col("_fast_mult").fill_null(1.0))
    )
    adjust = pl.concat_str(
        [
            pl.when(pl.col("mode") == "off_peak")
            .then(pl.lit("off-peak"))
            .when(pl.col("mode") != "standard")
            .then(pl.col("mode")),
            pl.when(pl.col("_geo_mult").is_not_null()).then(
                pl.format("inference_geo {} x{}", pl.col("_geo"), pl.col("_geo_mult").round(4))
            ),
            pl.when(pl.col("_fast_mult").is_not_null()).then(
                pl.format("speed fast x{}", pl.col("_fast_mult").round(4))
            ),
        ],
        separator="; ",
        ignore_nulls=True,
    )
    out = out.with_columns(
        adjustments=pl.when(pl.col("model_key").is_null() | (adjust == "")).then(None).otherwise(adjust)
    ).drop("_geo", "_geo_mult", "_fast_mult")
    # A frame may say which input size picks the tier (`tier_tokens`): a usage bucket sums many calls.
    basis = "tier_tokens" if "tier_tokens" in df.columns else "input_tokens"
    tiered = (
        out.select("_row", "rate_key", "mode", pl.col(basis).alias("_basis"))
        .join(rates, on=["rate_key", "mode"], how="inner")
        .filter(pl.col("_basis") > pl.col("threshold"))
        .sort("_row", "threshold")
        .unique("_row", keep="last")
        .drop("rate_key", "mode", "_basis")
    )
    out = out.join(tiered, on="_row", how="left")
    billed = ~pl.col("status").is_in(list(NOT_BILLED))
    uncached = (
        pl.col("input_tokens")
        - pl.col("cache_read_tokens")
        - pl.col("cache_write_5m_tokens")
        - pl.col("cache_write_1h_tokens")
    )

    def part(tokens: pl.Expr, rate: str) -> pl.Expr:
        return (
            pl.when(pl.col("model_key").is_null())
            .then(None)
            .when(billed)
            .then(tokens.cast(pl.Float64) * pl.col(rate) * pl.col("multiplier"))
            .otherwise(0.0)
        )

    # The price of one unit of a call billed by another unit, on the side it bills (UNIT_PRICES), from the price
    # version in force (rate_key).
    unit_in = unit_out = pl.lit(0.0)
    if "unit" in out.columns:
        pairs_u = out.filter(pl.col("_by_unit")).select("rate_key", "unit").unique().drop_nulls()
        rows_u = [
            (k, u, float(cat.entry(k).get(UNIT_PRICES[u][0]) or 0.0), UNIT_PRICES[u][1]) for k, u in pairs_u.iter_rows()
        ]
        unit_rates = pl.DataFrame(
            rows_u,
            schema={"rate_key": pl.String, "unit": pl.String, "_unit_rate": pl.Float64, "_unit_side": pl.String},
            orient="row",
        )
        out = out.join(unit_rates, on=["rate_key", "unit"], how="left")
        unit_cost = pl.when(pl.col("_by_unit") & billed).then(
            pl.col("units") * pl.col("_unit_rate") * pl.col("multiplier")
        )
        unit_in = pl.when(pl.col("_unit_side") == "input").then(unit_cost).otherwise(0.0).fill_null(0.0)
        unit_out = pl.when(pl.col("_unit_side") == "output").then(unit_cost).otherwise(0.0).fill_null(0.0)
    out = out.with_columns(
        # a call the provider did not bill (an error, a proxy's own cache) costs $0 whatever its model: known, not
        # unpriced (failed batch lines carry no model at all)
        priced=pl.col("model_key").is_not_null() | ~billed,
        threshold=pl.col("threshold").clip(lower_bound=0),
        cost_input=part(uncached, "r_input") + unit_in,
        cost_cache_read=part(pl.col("cache_read_tokens"), "r_cache_read"),
        cost_cache_write_5m=part(pl.col("cache_write_5m_tokens"), "r_cache_write_5m"),
        cost_cache_write_1h=part(pl.col("cache_write_1h_tokens"), "r_cache_write_1h"),
        cost_output=part(pl.col("output_tokens") - pl.col("reasoning_tokens"), "r_output") + unit_out,
        cost_reasoning=part(pl.col("reasoning_tokens"), "r_reasoning"),
    ).with_columns(cost=pl.sum_horizontal(*COST_COLUMNS).fill_null(0.0))
    out = out.with_columns(cost=pl.when(pl.col("priced")).then(pl.col("cost")).otherwise(None))
    drop = [c for c in ("_by_unit", "_unit_rate", "_unit_side") if c in out.columns]
    return (
        out.sort("_row").drop("_row", "rate_key", *drop, *[f"r_{k}" for k in RATE_FIELDS]).rename({"threshold": "tier"})
    )


def price_buckets(df: pl.DataFrame, cat: Catalogue, *, without_cache_reads: bool = False) -> pl.DataFrame:
    """Usage-export buckets priced with the same arithmetic as requests (columns as `price_requests` needs,
    plus `context_window`). A bucket sums many calls, so its token total says nothing of any one call's
    price tier: buckets are priced at the base tier, or above Anthropic's 200k threshold where the export
    says the tokens were billed in the "200k-1M" window. `without_cache_reads` prices the cache reads as
    uncached input: what the same traffic would have cost with no cache, for the realised saving."""
    long_ctx = pl.col("context_window").fill_null("").str.starts_with("200k")
    frame = df.with_columns(tier_tokens=pl.when(long_ctx).then(pl.lit(200_001)).otherwise(pl.lit(0)))
    if "ts" not in frame.columns and "period_start" in frame.columns:
        # A bucket is priced at the prices of the day it starts, like the logged calls it is compared with.
        frame = frame.with_columns(ts=pl.col("period_start").cast(pl.Datetime("us")))
    if without_cache_reads:
        frame = frame.with_columns(cache_read_tokens=pl.lit(0, dtype=pl.Int64))
    # An export not grouped by model names none: such a bucket is unpriced, whatever a name could match.
    ungrouped = frame["model"].is_null()
    out = price_requests(frame.with_columns(model=pl.col("model").fill_null("")), cat)
    cols = ("model", "model_key", "cost", *COST_COLUMNS)
    nulls = {c: pl.when(ungrouped).then(None).otherwise(pl.col(c)) for c in cols}
    return out.with_columns(**nulls, priced=pl.col("priced") & ~ungrouped)


def price_one(cat: Catalogue, model: str, provider: str | None = None, **tokens: Any) -> dict[str, Any]:
    """Cost of one call (same arithmetic as `price_requests`), for `llmcost tokens` and tests. Optional
    `ts` (microseconds since the epoch, UTC), `inference_geo` and `speed` as in a request."""
    row = {
        "model": model,
        "provider": provider,
        "input_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_5m_tokens": 0,
        "cache_write_1h_tokens": 0,
        "output_tokens": 0,
        "reasoning_tokens": 0,
        "batch": False,
        "service_tier": None,
        "status": "ok",
        "inference_geo": None,
        "speed": None,
    }
    row.update(tokens)
    schema: dict[str, Any] = {
        "model": pl.String,
        "provider": pl.String,
        "batch": pl.Boolean,
        "service_tier": pl.String,
        "status": pl.String,
        "inference_geo": pl.String,
        "speed": pl.String,
        **{k: pl.Int64 for k in row if k.endswith("_tokens")},
    }
    if "units" in row or "unit" in row:
        row.setdefault("units", None)
        row.setdefault("unit", None)
        schema["units"] = pl.Float64
        schema["unit"] = pl.String
    if "ts" in row:
        schema["ts"] = pl.Int64
    df = pl.DataFrame([row], schema=schema)
    if "ts" in row:
        df = df.with_columns(ts=pl.col("ts").cast(pl.Datetime("us")))
    return price_requests(df, cat).row(0, named=True)
