"""The price catalogue and the money: the only module that multiplies tokens by prices.

The catalogue is LiteLLM's `model_prices_and_context_window.json` (shipped, dated), optionally overlaid by a
user's file (`--prices`): a newer full copy or a small override with the same per-model fields. Logged model
names are resolved to catalogue keys (dated snapshots, provider prefixes, Bedrock ids); a model that cannot be
resolved is unpriced, its cost NULL, never $0.
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
import polars as pl

from analyzer.errors import InputError

CATALOGUE_FILE = "model_prices_and_context_window.json"
CATALOGUE_SOURCE = "LiteLLM model_prices_and_context_window.json, from the litellm 1.109.1 wheel"
CATALOGUE_DATE = "2026-11-27"  # the day the snapshot was copied into llmcost

# Token types and the catalogue field that prices each.
RATE_FIELDS = {
    "input": "input_cost_per_token",
    "cache_read": "cache_read_input_token_cost",
    "cache_write_5m": "cache_creation_input_token_cost",
    "cache_write_1h": "cache_creation_input_token_cost_above_1hr",
    "output": "output_cost_per_token",
    "reasoning": "output_cost_per_reasoning_token",
}
MODES = {"standard": "", "batch": "_batches", "priority": "_priority", "flex": "_flex"}
_TIER_RE = re.compile(r"^input_cost_per_token_above_(\d+)k_tokens$")
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
_STRIP_PREFIX = re.compile(
    r"^(?:openai|anthropic|azure|azure_ai|bedrock|bedrock_converse|vertex_ai|vertex_ai_beta|gemini|google|"
    r"deepseek|openrouter|litellm_proxy|models|mistral|xai|groq|together_ai|fireworks_ai|"
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


@dataclass(frozen=True)
class Resolution:
    model: str
    provider: str | None
    key: str | None
    how: str  # "exact", "alias", "dated", or why it is unpriced


@dataclass
class Catalogue:
    entries: dict[str, dict[str, Any]]
    source: str
    date: str
    overrides: list[str] = field(default_factory=list)
    _cache: dict[tuple[str, str | None], Resolution] = field(default_factory=dict, repr=False)

    @cached_property
    def _lower(self) -> dict[str, str]:
        return {k.lower(): k for k in self.entries if self._priced(k)}

    def priced_models(self) -> int:
        """How many chat/completion models the catalogue prices."""
        return len(self._lower)

    def close_names(self, model: str, n: int = 5) -> list[str]:
        """Catalogue keys spelled like `model`, for an unpriced name's error message."""
        return difflib.get_close_matches(model.lower(), list(self._lower), n=n, cutoff=0.6)

    def _priced(self, key: str) -> bool:
        e = self.entries.get(key)
        return (
            isinstance(e, dict)
            and (e.get("input_cost_per_token") is not None or e.get("output_cost_per_token") is not None)
            and e.get("mode", "chat") in ("chat", "completion", "responses", None)
        )

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
        low = model.strip().lower()
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
        for name in list(dict.fromkeys(names)):
            for pre in ("",) + _PROVIDER_PREFIXES.get(provider or "", ()):
                if pre + name in self._lower:
                    return Resolution(model, provider, self._lower[pre + name], "alias")
        same = bedrock.replace("@", "-")  # vertex spells snapshots claude-x@20240620
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
            for pre in ("",) + _PROVIDER_PREFIXES.get(provider or "", ()):
                if pre + base in self._lower:
                    return Resolution(model, provider, self._lower[pre + base], "dated")
        return Resolution(model, provider, None, "not in the price catalogue")

    # ---- rates ---------------------------------------------------------------------------------------------

    def rate_rows(self, key: str) -> list[dict[str, Any]]:
        """One row per (mode, tier) with the USD-per-token rate of every token type."""
        e = self.entries[key]
        thresholds = sorted({int(m.group(1)) * 1000 for f in e if (m := _TIER_RE.match(f))})
        rows = []
        for mode, msuf in MODES.items():
            for thr in [-1, *thresholds]:
                tsuf = "" if thr < 0 else f"_above_{thr // 1000}k_tokens"
                row: dict[str, Any] = {"model_key": key, "mode": mode, "threshold": thr}
                for kind in RATE_FIELDS:
                    row[f"r_{kind}"] = self._rate(e, kind, tsuf, msuf)
                rows.append(row)
        return rows

    def _rate(self, e: dict[str, Any], kind: str, tsuf: str, msuf: str) -> float:
        name = RATE_FIELDS[kind]
        v = e.get(name + tsuf + msuf)
        if v is not None:
            return float(v)
        if msuf:  # no price for this mode: scale the standard rate by the mode's input ratio
            base_in = e.get("input_cost_per_token" + tsuf) or e.get("input_cost_per_token") or 0.0
            mode_in = e.get("input_cost_per_token" + tsuf + msuf) or e.get("input_cost_per_token" + msuf)
            factor = (mode_in / base_in) if (mode_in and base_in) else (0.5 if msuf == "_batches" else 1.0)
            return self._rate(e, kind, tsuf, "") * factor
        if tsuf:  # no tiered price for this token type: scale by the tier's input ratio
            base_in = e.get("input_cost_per_token") or 0.0
            tier_in = e.get("input_cost_per_token" + tsuf)
            factor = (tier_in / base_in) if (tier_in and base_in) else 1.0
            return self._rate(e, kind, "", "") * factor
        inp = float(e.get("input_cost_per_token") or 0.0)
        anthropic = "anthropic" in str(e.get("litellm_provider", "")) or "claude" in str(e.get("key", ""))
        if kind == "cache_read":
            return inp  # no cache discount listed: charged as input
        if kind == "cache_write_5m":
            return inp * (1.25 if anthropic else 1.0)
        if kind == "cache_write_1h":
            return inp * 2.0 if anthropic else self._rate(e, "cache_write_5m", "", "")
        if kind == "reasoning":
            return float(e.get("output_cost_per_token") or 0.0)
        return 0.0 if kind != "input" else inp

    def context_window(self, key: str) -> int | None:
        v = self.entries.get(key, {}).get("max_input_tokens")
        return int(v) if isinstance(v, int | float) else None


def load_catalogue(override: Path | str | None = None) -> Catalogue:
    """The shipped catalogue, overlaid field by field with the user's file when given."""
    raw = (resources.files("analyzer") / "data" / "prices" / CATALOGUE_FILE).read_bytes()
    entries: dict[str, dict[str, Any]] = {k: v for k, v in orjson.loads(raw).items() if isinstance(v, dict)}
    entries.pop("sample_spec", None)
    cat = Catalogue(entries, CATALOGUE_SOURCE, CATALOGUE_DATE)
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
        for key, fields in data.items():
            if key == "sample_spec":
                continue
            if not isinstance(fields, dict):
                raise InputError(f"{path}: entry {key!r} must be an object of price fields")
            for f, v in fields.items():
                if ("cost" in f and not isinstance(v, dict)) and not (
                    v is None or (isinstance(v, int | float) and not isinstance(v, bool) and v >= 0)
                ):
                    raise InputError(f"{path}: {key}.{f} must be a non-negative number, got {v!r}")
            entries[key] = {**entries.get(key, {}), **fields}
        cat.overrides.append(str(path))
        if len(data) > 500:  # a whole newer catalogue, not an override
            cat.source = f"{path} (a full catalogue, over the shipped one)"
            cat.date = "as of the file given"
    return cat


# ---- the money ----------------------------------------------------------------------------------------------

# What price_requests reads from a frame of requests.
PRICE_COLUMNS = (
    "model",
    "provider",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
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


def price_requests(df: pl.DataFrame, cat: Catalogue) -> pl.DataFrame:
    """Add `model_key`, `priced`, the cost of each token type and `cost` (USD) to a frame of requests.

    Needs columns model, provider, input_tokens, cache_read_tokens, cache_write_5m_tokens,
    cache_write_1h_tokens, output_tokens, reasoning_tokens, batch, service_tier, status.
    Uncached input = input - cache reads - cache writes; output is billed net of reasoning, which has its own
    rate where the catalogue lists one. Above a tier threshold (e.g. 200k input tokens) the whole request is
    billed at the tier's rates, as Anthropic and Google bill. Unpriced rows get NULL costs.
    """
    pairs = df.select("model", "provider").unique()
    res = [cat.resolve(m, p) for m, p in pairs.iter_rows()]
    keys = pl.DataFrame(
        {"model": [r.model for r in res], "provider": [r.provider for r in res], "model_key": [r.key for r in res]},
        schema={"model": pl.String, "provider": pl.String, "model_key": pl.String},
    )
    rate_rows = [row for k in sorted({r.key for r in res if r.key}) for row in cat.rate_rows(k)]
    rate_schema = {
        "model_key": pl.String,
        "mode": pl.String,
        "threshold": pl.Int64,
        **{f"r_{k}": pl.Float64 for k in RATE_FIELDS},
    }
    rates = pl.DataFrame(rate_rows, schema=rate_schema)
    st = pl.col("service_tier").fill_null("").str.to_lowercase()
    out = (
        df.with_row_index("_row")
        .join(keys, on=["model", "provider"], how="left", nulls_equal=True)
        .with_columns(
            mode=pl.when(pl.col("batch"))
            .then(pl.lit("batch"))
            .when(st.is_in(["priority", "flex"]))
            .then(st)
            .otherwise(pl.lit("standard"))
        )
    )
    # A frame may say which input size picks the tier (`tier_tokens`): a usage bucket sums many calls.
    basis = "tier_tokens" if "tier_tokens" in df.columns else "input_tokens"
    tiered = (
        out.select("_row", "model_key", "mode", pl.col(basis).alias("_basis"))
        .join(rates, on=["model_key", "mode"], how="inner")
        .filter(pl.col("_basis") > pl.col("threshold"))
        .sort("_row", "threshold")
        .unique("_row", keep="last")
        .drop("model_key", "mode", "_basis")
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
            .then(tokens.cast(pl.Float64) * pl.col(rate))
            .otherwise(0.0)
        )

    out = out.with_columns(
        priced=pl.col("model_key").is_not_null(),
        threshold=pl.col("threshold").clip(lower_bound=0),
        cost_input=part(uncached, "r_input"),
        cost_cache_read=part(pl.col("cache_read_tokens"), "r_cache_read"),
        cost_cache_write_5m=part(pl.col("cache_write_5m_tokens"), "r_cache_write_5m"),
        cost_cache_write_1h=part(pl.col("cache_write_1h_tokens"), "r_cache_write_1h"),
        cost_output=part(pl.col("output_tokens") - pl.col("reasoning_tokens"), "r_output"),
        cost_reasoning=part(pl.col("reasoning_tokens"), "r_reasoning"),
    ).with_columns(cost=pl.sum_horizontal(*COST_COLUMNS).fill_null(0.0))
    out = out.with_columns(cost=pl.when(pl.col("priced")).then(pl.col("cost")).otherwise(None))
    return out.sort("_row").drop("_row", *[f"r_{k}" for k in RATE_FIELDS]).rename({"threshold": "tier"})


def price_buckets(df: pl.DataFrame, cat: Catalogue, *, without_cache_reads: bool = False) -> pl.DataFrame:
    """Usage-export buckets priced with the same arithmetic as requests (columns as `price_requests` needs,
    plus `context_window`). A bucket sums many calls, so its token total says nothing of any one call's
    price tier: buckets are priced at the base tier, or above Anthropic's 200k threshold where the export
    says the tokens were billed in the "200k-1M" window. `without_cache_reads` prices the cache reads as
    uncached input: what the same traffic would have cost with no cache, for the realised saving."""
    long_ctx = pl.col("context_window").fill_null("").str.starts_with("200k")
    frame = df.with_columns(tier_tokens=pl.when(long_ctx).then(pl.lit(200_001)).otherwise(pl.lit(0)))
    if without_cache_reads:
        frame = frame.with_columns(cache_read_tokens=pl.lit(0, dtype=pl.Int64))
    # An export not grouped by model names none: such a bucket is unpriced, whatever a name could match.
    ungrouped = frame["model"].is_null()
    out = price_requests(frame.with_columns(model=pl.col("model").fill_null("")), cat)
    cols = ("model", "model_key", "cost", *COST_COLUMNS)
    nulls = {c: pl.when(ungrouped).then(None).otherwise(pl.col(c)) for c in cols}
    return out.with_columns(**nulls, priced=pl.col("priced") & ~ungrouped)


def price_one(cat: Catalogue, model: str, provider: str | None = None, **tokens: Any) -> dict[str, Any]:
    """Cost of one call (same arithmetic as `price_requests`), for `llmcost tokens` and tests."""
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
    }
    row.update(tokens)
    schema = {
        "model": pl.String,
        "provider": pl.String,
        "batch": pl.Boolean,
        "service_tier": pl.String,
        "status": pl.String,
        **{k: pl.Int64 for k in row if k.endswith("_tokens")},
    }
    return price_requests(pl.DataFrame([row], schema=schema), cat).row(0, named=True)
