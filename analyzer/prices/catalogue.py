"""The price catalogue: LiteLLM's model list, a user's overrides, and the resolution of logged model names.

The catalogue is LiteLLM's `model_prices_and_context_window.json` (shipped, dated), optionally overlaid by a
user's file (`--prices`): a newer full copy or a small override with the same per-model fields. Logged model
names are resolved to catalogue keys (dated snapshots, provider prefixes, Bedrock ids); a model that cannot be
resolved is unpriced, its cost NULL, never $0. What an entry's fields mean as rates is `rates.py`; the prices
of past days are `history.py`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

import analyzer.prices.rates as rates
from analyzer.errors import InputError
from analyzer.prices.history import PriceHistory, load_history
from analyzer.prices.rates import other_units, priced_by_tokens

CATALOGUE_FILE = "model_prices_and_context_window.json"
CATALOGUE_SOURCE = "LiteLLM model_prices_and_context_window.json, from the litellm 1.109.1 wheel"
CATALOGUE_DATE = "2026-11-27"  # the day the snapshot was copied into llmcost
# Providers a log may name for a model hosted by someone else, and first-party catalogue providers.
_CLOUDS = {"bedrock", "bedrock_converse", "google", "vertex_ai", "azure", "azure_ai", "openrouter"}
_FIRST_PARTY = {"anthropic", "openai", "deepseek", "mistral", "xai", "gemini"}

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
        """Whether tokens price the key (rates.priced_by_tokens)."""
        e = self.entries.get(key)
        return isinstance(e, dict) and priced_by_tokens(e)

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
        """Price modes of `key` (rates.modes)."""
        return rates.modes(self.entry(key))

    def rate_rows(self, key: str) -> list[dict[str, Any]]:
        """One row per (mode, tier) with the USD-per-token rate of every token type (rates.rate_rows)."""
        return rates.rate_rows(key, self.entry(key))

    def inferred_rates(self, key: str) -> dict[str, str]:
        """Rates of `key` the catalogue does not list and llmcost infers (rates.inferred_rates)."""
        return rates.inferred_rates(key, self.entry(key))

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
        """Where each base rate of `key` comes from (rates.rate_sources)."""
        return rates.rate_sources(key, self.entry(key))

    def multipliers(self, key: str) -> dict[str, float]:
        """The numeric multipliers of the entry's `provider_specific_entry` (rates.multipliers)."""
        return rates.multipliers(self.entry(key))

    def provider(self, key: str | None) -> str | None:
        """The provider a catalogue key is listed under, in llmcost's names (`vertex_ai-language-models` and
        `gemini` are google), or None."""
        p = str(self.entries.get(key or "", {}).get("litellm_provider", "")).split("-")[0].split("_")[0]
        return {"vertex": "google", "gemini": "google"}.get(p, p) or None

    def context_window(self, key: str) -> int | None:
        v = self.entries.get(key, {}).get("max_input_tokens")
        return int(v) if isinstance(v, int | float) else None


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
            raise InputError(f"cannot read price file ({e.strerror or e})", path=str(path)) from None
        except orjson.JSONDecodeError as e:
            raise InputError(f"price file is not valid JSON ({e})", path=str(path)) from None
        if not isinstance(data, dict):
            raise InputError("price file must be a JSON object keyed by model name", path=str(path))
        # A small override is checked against the fields the shipped catalogue uses, so that a misspelt
        # `input_cost_per_tokens` is an error rather than a price silently left as it was. A whole newer
        # catalogue may bring fields of its own and is not checked.
        known = {f for e in entries.values() for f in e} if len(data) <= 500 else None
        for key, fields in data.items():
            if key == "sample_spec":
                continue
            if not isinstance(fields, dict):
                raise InputError(f"entry {key!r} must be an object of price fields", path=str(path))
            for f in fields:
                if known is not None and f not in known and not f.startswith("supports_"):
                    close = difflib.get_close_matches(f, sorted(known), n=1)
                    raise InputError(
                        f"{key}.{f} is not a price catalogue field" + (f" (did you mean {close[0]}?)" if close else ""),
                        path=str(path),
                    )
            for f, v in fields.items():
                if ("cost" in f and not isinstance(v, dict)) and not (
                    v is None or (isinstance(v, int | float) and not isinstance(v, bool) and v >= 0)
                ):
                    raise InputError(f"{key}.{f} must be a non-negative number, got {v!r}", path=str(path))
            entries[key] = {**entries.get(key, {}), **fields}
            cat.user_keys.add(key)
        cat.overrides.append(str(path))
        if len(data) > 500:  # a whole newer catalogue, not an override
            cat.source = f"{path} (a full catalogue, over the shipped one)"
            cat.date = "as of the file given"
    return cat
