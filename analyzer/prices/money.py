"""The money: the only place that multiplies tokens by prices.

A frame of requests gets its catalogue key, the price version of its day, its mode (batch, service tier,
off-peak), its tier and its multipliers, then a cost per token type; usage-export buckets and a single call
are priced by the same arithmetic. The rates come from `rates.py` through the catalogue.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from analyzer.prices.catalogue import Catalogue
from analyzer.prices.rates import RATE_FIELDS, UNIT_PRICES, off_peak
from analyzer.sources.base import TOKEN_COLUMNS

NOT_BILLED = ("error", "proxy_cache_hit")  # statuses for which the provider charged nothing
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


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _off_peak_expr(e: dict[str, Any]) -> pl.Expr:
    """True where `ts` falls in one of the entry's off-peak windows: `weekdays` ISO (1 Monday .. 7 Sunday),
    taken in `weekday_timezone` when given, and `hours_utc` ranges "HH:MM-HH:MM" where an end of 00:00 is
    midnight (so "00:00-00:00" is the whole day)."""
    op = off_peak(e)
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
    keys: list[str] = []
    days: list[str] = []
    versions: list[str] = []
    froms: list[str | None] = []
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


def order_free_sum(expr: pl.Expr) -> pl.Expr:
    """A float sum, in a group-by, that does not depend on the order the rows come in. Polars adds a group's
    partial sums in the order its threads finish them, and at a million calls two runs of the same report differed
    in the last digits (`caching.by_model`, 1993.2228733499 against ...97); with the values sorted first the sum
    is the same in every run. The SQL sums money with DuckDB's `fsum` (compensated) for the same reason."""
    return expr.sort().sum()


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
    in_off_peak = pl.lit(False)
    if "ts" in out.columns:
        for k in rate_keys:
            if off_peak(cat.entry(k)):
                in_off_peak = pl.when(pl.col("rate_key") == k).then(_off_peak_expr(cat.entry(k))).otherwise(in_off_peak)
    out = (
        out.with_columns(
            _want=pl.when(pl.col("batch")).then(pl.lit("batch")).otherwise(st), _off=in_off_peak.fill_null(False)
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
