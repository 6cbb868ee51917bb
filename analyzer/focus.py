"""FinOps FOCUS export (issue 25 part 2): the priced spend as FOCUS 1.2 cost and usage rows.

One row per charge period (a UTC day) x provider x model x API key x project x token type, and x the price that
applied (service mode, price tier, price version and multipliers), so that every row has one unit price:
`BilledCost` = `PricingQuantity` x `ListUnitPrice`. Rows come from the frame the report priced
(`priced_requests`), so their `BilledCost` adds up to the report's total spend; where no request log is held and
usage exports are the source, from the exports' usage buckets priced the same way (tokens x list prices).

llmcost prices calls at list prices and knows of no discounts or commitments: `ListCost` = `EffectiveCost` =
`ContractedCost` = `BilledCost`. Left out, with the count said: calls with no timestamp (no charge period),
calls whose model has no price, and calls the provider does not bill (errors, proxy cache hits).
The FOCUS 1.3 provider columns (`ServiceProviderName`, `HostProviderName`) are written beside 1.2's
`ProviderName`/`PublisherName`. llmcost's own columns carry the `x_` prefix FOCUS reserves for them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from analyzer import queries, usage
from analyzer.errors import InputError
from analyzer.prices import NOT_BILLED, Catalogue, order_free_sum

FOCUS_VERSION = "1.2"
PER = 1_000_000  # PricingUnit "1000000 Tokens": list prices per million tokens, as providers publish them
PRICING_UNIT = "1000000 Tokens"  # FOCUS Unit Format "<quantity> <plural-units>"

# token type -> (tokens billed, cost column, direction, cache action, cache TTL, SKU meter)
_UNCACHED = (
    pl.col("input_tokens")
    - pl.col("cache_read_tokens")
    - pl.col("cache_write_5m_tokens")
    - pl.col("cache_write_1h_tokens")
)
TOKEN_TYPES: dict[str, tuple[pl.Expr, str, str, str, str | None, str]] = {
    "input": (_UNCACHED, "cost_input", "input", "none", None, "Input Tokens"),
    "cache_read": (pl.col("cache_read_tokens"), "cost_cache_read", "input", "read", None, "Cache Read Tokens"),
    "cache_write_5m": (
        pl.col("cache_write_5m_tokens"),
        "cost_cache_write_5m",
        "input",
        "write",
        "5m",
        "Cache Write Tokens",
    ),
    "cache_write_1h": (
        pl.col("cache_write_1h_tokens"),
        "cost_cache_write_1h",
        "input",
        "write",
        "1h",
        "Cache Write Tokens",
    ),
    "output": (
        pl.col("output_tokens") - pl.col("reasoning_tokens"),
        "cost_output",
        "output",
        "none",
        None,
        "Output Tokens",
    ),
    "reasoning": (pl.col("reasoning_tokens"), "cost_reasoning", "output", "none", None, "Reasoning Tokens"),
}

# How a provider's bill is named: ProviderName (1.2) / ServiceProviderName (1.3), the service, and the host (1.3).
_PROVIDERS = {
    "anthropic": ("Anthropic", "Claude API", "Anthropic"),
    "openai": ("OpenAI", "OpenAI API", "OpenAI"),
    "text-completion-openai": ("OpenAI", "OpenAI API", "OpenAI"),
    "azure": ("Microsoft", "Azure OpenAI", "Microsoft"),
    "azure_ai": ("Microsoft", "Azure AI Foundry", "Microsoft"),
    "bedrock": ("AWS", "Amazon Bedrock", "AWS"),
    "bedrock_converse": ("AWS", "Amazon Bedrock", "AWS"),
    "vertex_ai": ("Google Cloud", "Vertex AI", "Google Cloud"),
    "google": ("Google", "Gemini API", "Google"),
    "gemini": ("Google", "Gemini API", "Google"),
    "deepseek": ("DeepSeek", "DeepSeek API", "DeepSeek"),
    "mistral": ("Mistral AI", "Mistral API", "Mistral AI"),
    "xai": ("xAI", "xAI API", "xAI"),
    "openrouter": ("OpenRouter", "OpenRouter", "OpenRouter"),
    "groq": ("Groq", "GroqCloud", "Groq"),
    "together_ai": ("Together AI", "Together API", "Together AI"),
    "fireworks_ai": ("Fireworks AI", "Fireworks API", "Fireworks AI"),
}
# Who made the model (PublisherName), from its name.
_PUBLISHERS = (
    ("claude", "Anthropic"),
    ("gpt", "OpenAI"),
    ("o1", "OpenAI"),
    ("o3", "OpenAI"),
    ("o4", "OpenAI"),
    ("text-embedding", "OpenAI"),
    ("whisper", "OpenAI"),
    ("dall-e", "OpenAI"),
    ("gemini", "Google"),
    ("gemma", "Google"),
    ("deepseek", "DeepSeek"),
    ("llama", "Meta"),
    ("mistral", "Mistral AI"),
    ("mixtral", "Mistral AI"),
    ("codestral", "Mistral AI"),
    ("grok", "xAI"),
    ("qwen", "Alibaba Cloud"),
    ("nova", "Amazon"),
)

COLUMNS = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceId",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceProviderName",
    "HostProviderName",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "SkuPriceDetails",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "x_ApiKey",
    "x_CacheAction",
    "x_CacheTTL",
    "x_Model",
    "x_ModelKey",
    "x_PriceTier",
    "x_PriceVersion",
    "x_Adjustments",
    "x_Requests",
    "x_ServiceMode",
    "x_Source",
    "x_TokenDirection",
    "x_TokenType",
)

_DECIMALS = {"BilledCost", "ConsumedQuantity", "ContractedCost", "ContractedUnitPrice", "EffectiveCost", "ListCost"}
_DECIMALS |= {"ListUnitPrice", "PricingQuantity"}
SCHEMA = {
    c: pl.Float64 if c in _DECIMALS else pl.Int64 if c in ("x_PriceTier", "x_Requests") else pl.String for c in COLUMNS
}

_GROUP = (
    "_day",
    "provider",
    "model",
    "model_key",
    "api_key",
    "project",
    "mode",
    "tier",
    "price_version",
    "adjustments",
)


@dataclass
class FocusResult:
    rows: int
    billed_usd: float
    source: str  # "request logs" | "usage export"
    left_out: dict[str, int]  # reason -> requests (or buckets) left out


def provider_names(provider: str | None) -> tuple[str, str, str]:
    """(ProviderName, ServiceName, HostProviderName) of a catalogue provider name."""
    p = (provider or "").lower()
    if p in _PROVIDERS:
        return _PROVIDERS[p]
    name = provider or "Unknown"
    return name, f"{name} API", name


def publisher(model: str | None, provider_name: str) -> str:
    m = (model or "").lower().split("/")[-1]
    m = m.split(".")[-1] if m.startswith(("us.", "eu.", "apac.", "global.")) or "anthropic." in m else m
    for prefix, name in _PUBLISHERS:
        if m.startswith(prefix):
            return name
    return provider_name


def from_requests(priced: pl.DataFrame, cat: Catalogue) -> tuple[pl.DataFrame, dict[str, int]]:
    """FOCUS rows of the priced requests (the report's `priced_requests`), and what was left out."""
    billed = ~pl.col("status").fill_null("").is_in(list(NOT_BILLED))
    left_out = {
        "no timestamp (no charge period)": priced.filter(pl.col("ts").is_null() & pl.col("priced")).height,
        "model not in the price catalogue": priced.filter(~pl.col("priced")).height,
        "not billed by the provider (errors, proxy cache hits)": priced.filter(pl.col("priced") & ~billed).height,
    }
    frame = priced.filter(pl.col("priced") & billed & pl.col("ts").is_not_null()).with_columns(
        _day=pl.col("ts").dt.date(), _n=pl.lit(1, pl.Int64)
    )
    return _rows(frame, cat, "request logs"), {k: v for k, v in left_out.items() if v}


def from_buckets(usage: pl.DataFrame, cat: Catalogue) -> tuple[pl.DataFrame, dict[str, int]]:
    """FOCUS rows of priced usage-export buckets (usage._priced, primary exports only)."""
    left_out = {"usage buckets whose model has no price": usage.filter(~pl.col("priced")).height}
    frame = usage.filter(pl.col("priced")).with_columns(
        _day=pl.col("period_start").dt.date(),
        _n=pl.col("requests").fill_null(0).cast(pl.Int64),
        price_version=pl.lit("snapshot"),
        adjustments=pl.lit(None, pl.String),
    )
    for c, v in (("mode", "standard"), ("tier", 0)):
        if c not in frame.columns:
            frame = frame.with_columns(pl.lit(v).alias(c))
    return _rows(frame, cat, "usage export"), {k: v for k, v in left_out.items() if v}


def _rows(frame: pl.DataFrame, cat: Catalogue, source: str) -> pl.DataFrame:
    for c in ("api_key", "project", "adjustments", "price_version", "provider"):
        if c not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.String).alias(c))
    frame = frame.with_columns(pl.col("tier").cast(pl.Int64), pl.col("price_version").cast(pl.String))
    # One group-by of the requests, every token type's quantity, cost and requests summed in it, then one part per
    # token type made of the groups: stacking every request once per token type first held six copies of the
    # group columns (+300 MiB at 100k calls; 1.6 GB at 400k in the test). The groups come in the same order, and
    # each figure is the same sum of the same values.
    sums = []
    for i, (tokens, cost, *_) in enumerate(TOKEN_TYPES.values()):
        q = tokens.cast(pl.Int64)
        sums += [
            q.sum().alias(f"_q{i}"),
            order_free_sum(pl.col(cost).fill_null(0.0)).alias(f"_cost{i}"),
            pl.when(q > 0).then(pl.col("_n")).otherwise(0).sum().alias(f"_r{i}"),
        ]
    grouped = frame.group_by(_GROUP, maintain_order=True).agg(sums)
    parts = [
        grouped.select(
            *_GROUP,
            x_TokenType=pl.lit(kind),
            x_TokenDirection=pl.lit(direction),
            x_CacheAction=pl.lit(action),
            x_CacheTTL=pl.lit(ttl, pl.String),
            SkuMeter=pl.lit(meter),
            _q=pl.col(f"_q{i}"),
            _cost=pl.col(f"_cost{i}"),
            x_Requests=pl.col(f"_r{i}"),
        )
        for i, (kind, (_, _, direction, action, ttl, meter)) in enumerate(TOKEN_TYPES.items())
    ]
    g = (
        pl.concat(parts)
        .filter((pl.col("_q") > 0) | (pl.col("_cost") != 0))
        .sort("_day", "provider", "model", "api_key", "project", "x_TokenType", nulls_last=True)
    )
    out = [_focus_row(r, cat, source) for r in g.iter_rows(named=True)]
    # typed columns even when a column is all null or there is no row (FOCUS: strings, decimals, integers)
    return pl.DataFrame(out, schema=SCHEMA, orient="row") if out else pl.DataFrame(schema=SCHEMA)


def _utc(d: Any) -> str:
    return f"{d.isoformat()}T00:00:00Z"


def _focus_row(r: dict[str, Any], cat: Catalogue, source: str) -> dict[str, Any]:
    day = r["_day"]
    month = day.replace(day=1)
    next_month = (month + timedelta(days=32)).replace(day=1)
    litellm_provider = cat.entries.get(r["model_key"] or "", {}).get("litellm_provider")
    provider = r["provider"] or litellm_provider
    pname, service, host = provider_names(provider)
    cost = float(r["_cost"])
    qty = int(r["_q"])
    pricing_qty = qty / PER
    unit_price = cost / pricing_qty if pricing_qty else 0.0
    details = {
        "x_TokenType": r["x_TokenType"],
        "x_TokenDirection": r["x_TokenDirection"],
        "x_CacheAction": r["x_CacheAction"],
        "x_ServiceMode": r["mode"],
    }
    if r["x_CacheTTL"]:
        details["x_CacheTTL"] = r["x_CacheTTL"]
    if r["tier"]:
        details["x_AboveInputTokens"] = r["tier"]
    sku = f"{r['model_key']}/{r['x_TokenType']}"
    price_id = "|".join(
        str(x) for x in (sku, r["mode"], r["tier"] or 0, r["price_version"] or "snapshot", r["adjustments"] or "")
    )
    account = (provider or "unknown").lower()
    return {
        "BilledCost": cost,
        "BillingAccountId": account,
        "BillingAccountName": f"{pname} ({source})",
        "BillingCurrency": "USD",
        "BillingPeriodEnd": _utc(next_month),
        "BillingPeriodStart": _utc(month),
        "ChargeCategory": "Usage",
        "ChargeClass": None,
        "ChargeDescription": f"{r['model']}: {r['x_TokenType'].replace('_', ' ')} tokens ({r['mode']})",
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodEnd": _utc(day + timedelta(days=1)),
        "ChargePeriodStart": _utc(day),
        "ConsumedQuantity": float(qty),
        "ConsumedUnit": "Tokens",
        "ContractedCost": cost,
        "ContractedUnitPrice": unit_price,
        "EffectiveCost": cost,
        "InvoiceId": None,  # logs carry no invoice; FOCUS allows null until one is issued
        "InvoiceIssuerName": pname,
        "ListCost": cost,
        "ListUnitPrice": unit_price,
        "PricingCategory": "Standard",
        "PricingQuantity": pricing_qty,
        "PricingUnit": PRICING_UNIT,
        "ProviderName": pname,
        "PublisherName": publisher(r["model"] or r["model_key"], pname),
        "ServiceProviderName": pname,
        "HostProviderName": host,
        "ServiceCategory": "AI and Machine Learning",
        "ServiceName": service,
        "ServiceSubcategory": "Generative AI",
        "SkuId": sku,
        "SkuMeter": r["SkuMeter"],
        "SkuPriceDetails": json.dumps(details, sort_keys=True),
        "SkuPriceId": price_id,
        "SubAccountId": r["project"],
        "SubAccountName": r["project"],
        "x_ApiKey": r["api_key"],
        "x_CacheAction": r["x_CacheAction"],
        "x_CacheTTL": r["x_CacheTTL"],
        "x_Model": r["model"],
        "x_ModelKey": r["model_key"],
        "x_PriceTier": int(r["tier"] or 0),
        "x_PriceVersion": r["price_version"],
        "x_Adjustments": r["adjustments"],
        "x_Requests": int(r["x_Requests"]),
        "x_ServiceMode": r["mode"],
        "x_Source": source,
        "x_TokenDirection": r["x_TokenDirection"],
        "x_TokenType": r["x_TokenType"],
    }


def build(store: Any, cat: Catalogue, rep: dict[str, Any]) -> tuple[pl.DataFrame, dict[str, int], str]:
    """The FOCUS rows of a built report: its priced requests, or, when it holds no request log, the usage
    exports' priced buckets."""
    priced = queries.run(store.con, "focus_requests")
    if priced.height or not rep.get("usage_export"):
        rows, left = from_requests(priced, cat)
        return rows, left, "request logs"
    bounds = [rep["period"].get(k) for k in ("since", "until")]
    since, until = (
        datetime.fromisoformat(b.replace("Z", "+00:00")).replace(tzinfo=None) if b else None for b in bounds
    )
    frame = queries.run(store.con, "usage_buckets_in_period", since=since, until=until)
    buckets, _costs = usage._priced(frame, cat)
    buckets = buckets.filter(pl.col("export").is_in(usage._primary_exports(buckets)))
    rows, left = from_buckets(buckets, cat)
    return rows, left, "usage export"


def check_target(target: str) -> str:
    """The format of a --focus file, from its suffix (checked before any work is done)."""
    suffix = Path(target).suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InputError(f"--focus {target}: the file must end in .csv or .parquet")
    return suffix


def write(rows: pl.DataFrame, target: str) -> None:
    """Write FOCUS rows as CSV or Parquet, by the file's suffix."""
    path = Path(target)
    if check_target(target) == ".csv":
        rows.write_csv(path, float_precision=None)
    else:
        rows.write_parquet(path)


def export(store: Any, cat: Catalogue, rep: dict[str, Any], target: str) -> FocusResult:
    rows, left, source = build(store, cat, rep)
    write(rows, target)
    billed = float(rows["BilledCost"].sum()) if rows.height else 0.0
    return FocusResult(rows.height, billed, source, left)
