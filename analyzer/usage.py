"""Usage exports in the report: what the providers billed, and how it reconciles with the request logs.

Exports (`usage_buckets`) and request logs (`requests`) describe the same traffic from two sides. They are
never added: the billed totals come from the exports (a cost export's amounts where one was given, else the
tokens of a usage export priced like requests), the analyses (conversations, prefixes, savings) from the logs.
Where both cover a provider, `reconciliation` lines them up per day and model and shows the gap
(export minus logs): zero when every call was logged, exactly the missing calls' tokens and dollars when not.

(Cost computed by llmcost vs the cost a log reports per call is another comparison, owned elsewhere.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from analyzer import queries
from analyzer.prices import COST_COLUMNS, Catalogue, order_free_sum, price_buckets

# A provider's main usage export; the others cover a subset of its traffic (Claude Code is part of the
# organisation's API usage) and are shown on their own, never added to it.
_PRIMARY = {"anthropic": ("anthropic_usage", "claude_code_usage_report"), "openai": ("openai_usage",)}
TOP_ROWS = 25
NEEDS_LOGS = (
    "Conversations, prefixes, context growth and the savings replays need request logs with message bodies "
    "(e.g. an OpenAI or Anthropic request/response log, a LiteLLM or Langfuse export, Claude Code or Codex "
    "session files); a usage export holds only token totals per bucket."
)


def section(
    con: Any, cat: Catalogue, since: datetime | None, until: datetime | None, logs: pl.DataFrame
) -> dict[str, Any] | None:
    """The report's `usage_export` section, or None when no export is held. `logs` is the priced requests."""
    frame = queries.run(con, "usage_buckets_in_period", since=since, until=until)
    if frame.is_empty():
        return None
    usage, costs = _priced(frame, cat)
    primary = usage.filter(pl.col("export").is_in(_primary_exports(usage)))
    return {
        "exports": _per_export(frame, usage, costs),
        "period": {"start": _iso(frame["period_start"].min()), "end": _iso(_max_end(frame))},
        "totals": _totals(primary, costs),
        "by_model": _group(primary, ["provider", "model", "model_key"]),
        "by_project": _group(primary, ["provider", "project"]),
        "by_api_key": _group(primary, ["provider", "api_key"]),
        "by_user": _group(usage, ["export", "user"], only_set="user"),
        "by_day": _group(primary.with_columns(day=pl.col("period_start").dt.date()), ["day"], sort="day"),
        "billed_by_line_item": _line_items(costs),
        "unpriced": _unpriced(primary),
        "missing_pages": missing_pages(con, sorted(frame["export"].unique().to_list())),
        "reconciliation": reconcile(primary, logs, cat),
        "billed_reconciliation": reconcile_billed(costs, logs),
        "needs_logs": None if logs.height else NEEDS_LOGS,
    }


def _priced(frame: pl.DataFrame, cat: Catalogue) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The usage buckets priced (with their cost had no cache been read), and the cost buckets."""
    usage = frame.filter(pl.col("kind") == "usage")
    costs = frame.filter(pl.col("kind") == "cost")
    if not usage.is_empty():
        priced = price_buckets(usage, cat)
        no_cache = price_buckets(usage, cat, without_cache_reads=True)
        usage = priced.with_columns(cost_without_cache=no_cache["cost"])
    else:
        usage = usage.with_columns(
            model_key=pl.lit(None, pl.String),
            priced=pl.lit(False),
            cost=pl.lit(None, pl.Float64),
            cost_without_cache=pl.lit(None, pl.Float64),
            **{c: pl.lit(None, pl.Float64) for c in COST_COLUMNS},
        )
    return usage, costs


def window_totals(con: Any, cat: Catalogue, since: datetime, until: datetime) -> dict[str, Any] | None:
    """What the exports say of [since, until) (the audit of a day no request log covers, issue 23 item 18): the
    billed total as the report's `usage_export.totals` reckons it, or None when no export covers the window."""
    frame = queries.run(con, "usage_buckets_in_period", since=since, until=until)
    if frame.is_empty():
        return None
    usage, costs = _priced(frame, cat)
    return _totals(usage.filter(pl.col("export").is_in(_primary_exports(usage))), costs)


def missing_pages(con: Any, exports: list[str]) -> list[dict[str, Any]]:
    """Exports whose pages all say more follow (`has_more`): the last page is not among the inputs, so their
    totals are short. Names the cursors to fetch next (pages do not carry their own cursor, so every cursor
    named by a page read is listed; the ones already fetched are among them)."""
    out = []
    for export in exports:
        rows = con.execute(
            "SELECT has_more, next_page FROM usage_pages WHERE export = ? ORDER BY source_id", [export]
        ).fetchall()
        if rows and all(has_more for has_more, _ in rows):
            cursors = sorted({c for _, c in rows if c})
            out.append({"export": export, "pages": len(rows), "next_pages": cursors[:5]})
    return out


def _primary_exports(usage: pl.DataFrame) -> list[str]:
    held = set(usage["export"].unique().to_list())
    out = []
    for provider in usage["provider"].unique().to_list():
        ranked = [e for e in _PRIMARY.get(provider, ()) if e in held]
        out.extend(ranked[:1] or [e for e in held if e.startswith(provider)])
    return out


def _max_end(frame: pl.DataFrame) -> Any:
    ends = frame["period_end"].drop_nulls()
    return ends.max() if len(ends) else frame["period_start"].max()


def _per_export(frame: pl.DataFrame, usage: pl.DataFrame, costs: pl.DataFrame) -> list[dict[str, Any]]:
    out = []
    for export in sorted(frame["export"].unique().to_list()):
        u = usage.filter(pl.col("export") == export)
        c = costs.filter(pl.col("export") == export)
        rows = frame.filter(pl.col("export") == export)
        out.append(
            {
                "export": export,
                "provider": rows["provider"][0],
                "buckets": rows.height,
                "start": _iso(rows["period_start"].min()),
                "end": _iso(_max_end(rows)),
                "input_tokens": int(u["input_tokens"].sum()),
                "output_tokens": int(u["output_tokens"].sum()),
                "cost_usd": _usd(u["cost"].sum()) if u.height and u["priced"].any() else None,
                "reported_cost_usd": _usd(pl.concat([u["reported_cost"], c["reported_cost"]]).sum())
                if (u["reported_cost"].is_not_null().any() or c.height)
                else None,
            }
        )
    return out


def _totals(usage: pl.DataFrame, costs: pl.DataFrame) -> dict[str, Any]:
    """What the exports say was used and billed. `billed_usd`, day by day for each provider: the cost
    export's amounts where one covers the day, else the usage export's own amounts (Claude Code's estimate),
    else its tokens x list prices; a day with unpriced buckets leaves the total incomplete, and says so."""
    billed = 0.0
    known = False  # any dollar figure at all: with none (every bucket unpriced) the bill is unknown, not $0
    basis: dict[str, dict[str, int]] = {}
    cost_days = costs.with_columns(day=pl.col("period_start").dt.date())
    use_days = usage.with_columns(day=pl.col("period_start").dt.date())
    keys = sorted(set(cost_days.select("provider", "day").rows()) | set(use_days.select("provider", "day").rows()))
    for provider, day in keys:
        c = cost_days.filter((pl.col("provider") == provider) & (pl.col("day") == day))
        u = use_days.filter((pl.col("provider") == provider) & (pl.col("day") == day))
        if c.height:
            billed += float(c["reported_cost"].sum())
            known = True
            how = "the cost export's amounts"
        elif u["reported_cost"].is_not_null().all():
            billed += float(u["reported_cost"].sum())
            known = True
            how = "the usage export's own cost figures"
        else:
            billed += float(u["cost"].fill_null(0).sum())
            known = known or bool(u["priced"].any())
            how = "tokens x list prices" if u["priced"].all() else "tokens x list prices, UNPRICED buckets left out"
        basis.setdefault(provider, {}).setdefault(how, 0)
        basis[provider][how] += 1
    inp = int(usage["input_tokens"].sum())
    read = int(usage["cache_read_tokens"].sum())
    priced = usage.filter(pl.col("priced"))
    return {
        "requests": int(usage["requests"].sum()) if usage["requests"].is_not_null().any() else None,
        "input_tokens": inp,
        "cache_read_tokens": read,
        "cache_write_5m_tokens": int(usage["cache_write_5m_tokens"].sum()),
        "cache_write_1h_tokens": int(usage["cache_write_1h_tokens"].sum()),
        "output_tokens": int(usage["output_tokens"].sum()),
        "audio_tokens": int(usage["audio_tokens"].sum()),
        "cached_share": round(read / inp, 4) if inp else None,
        "cost_usd": _usd(priced["cost"].sum()) if priced.height else None,
        "caching_saved_usd": _usd((priced["cost_without_cache"] - priced["cost"]).sum()) if priced.height else None,
        "reported_cost_usd": _usd(pl.concat([usage["reported_cost"], costs["reported_cost"]]).sum())
        if usage["reported_cost"].is_not_null().any() or costs.height
        else None,
        "billed_usd": _usd(billed) if known else None,
        "billed_complete": all("UNPRICED" not in how for b in basis.values() for how in b),
        "billed_basis": [
            f"{provider}: {n} day{'' if n == 1 else 's'} from {how}"
            for provider, b in sorted(basis.items())
            for how, n in b.items()
        ],
        "unpriced_buckets": usage.height - priced.height,
    }


def _group(
    usage: pl.DataFrame, keys: list[str], *, sort: str = "cost_usd", only_set: str | None = None
) -> list[dict[str, Any]]:
    if usage.is_empty():
        return []
    if only_set:
        usage = usage.filter(pl.col(only_set).is_not_null())
        if usage.is_empty():
            return []
    g = (
        usage.group_by(keys)
        .agg(
            buckets=pl.len(),
            requests=pl.when(pl.col("requests").is_not_null().any()).then(pl.col("requests").sum()),
            input_tokens=pl.col("input_tokens").sum(),
            cache_read_tokens=pl.col("cache_read_tokens").sum(),
            output_tokens=pl.col("output_tokens").sum(),
            cost_usd=pl.when(pl.col("priced").any()).then(order_free_sum(pl.col("cost"))),
            caching_saved_usd=pl.when(pl.col("priced").any()).then(
                order_free_sum(pl.col("cost_without_cache") - pl.col("cost"))
            ),
            reported_cost_usd=pl.when(pl.col("reported_cost").is_not_null().any()).then(
                order_free_sum(pl.col("reported_cost"))
            ),
            unpriced_buckets=(~pl.col("priced")).sum(),
        )
        .with_columns(
            cached_share=pl.when(pl.col("input_tokens") > 0).then(
                (pl.col("cache_read_tokens") / pl.col("input_tokens")).round(4)
            )
        )
    )
    if sort == "cost_usd":
        g = g.sort(["cost_usd", *keys], descending=[True] + [False] * len(keys), nulls_last=True)
    else:
        g = g.sort(sort)
    return [_clean(r) for r in g.head(TOP_ROWS).to_dicts()]


def _line_items(costs: pl.DataFrame) -> list[dict[str, Any]]:
    if costs.is_empty():
        return []
    g = (
        costs.group_by(["provider", "project", "model", "line_item"])
        .agg(buckets=pl.len(), reported_cost_usd=order_free_sum(pl.col("reported_cost")))
        .sort(["reported_cost_usd", "line_item"], descending=[True, False], nulls_last=True)
    )
    return [_clean(r) for r in g.head(TOP_ROWS).to_dicts()]


def _unpriced(usage: pl.DataFrame) -> list[dict[str, Any]]:
    """Buckets no price applies to, and why: most often an export not grouped by model."""
    u = usage.filter(~pl.col("priced"))
    if u.is_empty():
        return []
    g = (
        u.with_columns(
            reason=pl.when(pl.col("model").is_null())
            .then(pl.lit("the export is not grouped by model: export again with group_by=model to price it"))
            .otherwise(pl.lit("model not in the price catalogue"))
        )
        .group_by(["provider", "export", "model", "reason"])
        .agg(
            buckets=pl.len(),
            input_tokens=pl.col("input_tokens").sum(),
            output_tokens=pl.col("output_tokens").sum(),
        )
        .sort(["provider", "export", "model"], nulls_last=True)
    )
    return [_clean(r) for r in g.to_dicts()]


def _within_logged_span(export: pl.DataFrame, logs: pl.DataFrame) -> pl.DataFrame:
    """The export's days from the first to the last day each provider has logged calls: a day without calls
    inside that span is a gap worth showing; days before the logs begin or after they end are not compared."""
    span = logs.group_by("provider").agg(
        first=pl.col("ts").min().dt.date(),
        last=pl.col("ts").max().dt.date(),
    )
    return (
        export.join(span, on="provider", how="inner")
        .filter((pl.col("day") >= pl.col("first")) & (pl.col("day") <= pl.col("last")))
        .drop("first", "last")
    )


def reconcile_billed(costs: pl.DataFrame, logs: pl.DataFrame) -> list[dict[str, Any]]:
    """Per day and provider, what the cost export billed beside what the logged calls cost at list prices, on
    the days the cost export covers: the gap is unlogged traffic, discounts or credits, and non-token charges
    (web search, code execution) together; the line items say which."""
    if costs.is_empty() or logs.is_empty():
        return []
    billed = (
        costs.with_columns(day=pl.col("period_start").dt.date())
        .group_by(["day", "provider"])
        .agg(billed_usd=order_free_sum(pl.col("reported_cost")))
    )
    logged = (
        logs.filter(pl.col("ts").is_not_null() & pl.col("provider").is_in(billed["provider"].unique().to_list()))
        .with_columns(day=pl.col("ts").dt.date())
        .group_by(["day", "provider"])
        .agg(logs_requests=pl.len(), logs_cost_usd=order_free_sum(pl.col("cost")))
    )
    billed = _within_logged_span(billed, logs.filter(pl.col("ts").is_not_null()))
    out = (
        billed.join(logged, on=["day", "provider"], how="left")
        .with_columns(
            logs_requests=pl.col("logs_requests").fill_null(0),
            logs_cost_usd=pl.col("logs_cost_usd").fill_null(0.0),
        )
        .with_columns(gap_usd=pl.col("billed_usd") - pl.col("logs_cost_usd"))
        .sort(["day", "provider"])
    )
    return [_clean(r) for r in out.to_dicts()]


def reconcile(usage: pl.DataFrame, logs: pl.DataFrame, cat: Catalogue) -> list[dict[str, Any]]:
    """Per day and model, the export's tokens and cost beside the logs' over the export's own span, and the
    gap (export - logs). Only providers and days an export covers are compared; models are matched by the
    catalogue key they price as (so a dated and an undated spelling meet), else by name."""
    if usage.is_empty() or logs.is_empty():
        return []
    providers = usage["provider"].unique().to_list()
    lo, hi = usage["period_start"].min(), _max_end(usage)
    logged = logs.filter(
        pl.col("provider").is_in(providers)
        & pl.col("ts").is_not_null()
        & (pl.col("ts") >= lo)
        & (pl.col("ts") < hi)
        & ~pl.col("status").is_in(["error", "proxy_cache_hit"])
    )
    if logged.is_empty():
        return []
    cols = {
        "requests": pl.col("requests"),
        "input_tokens": pl.col("input_tokens"),
        "cache_read_tokens": pl.col("cache_read_tokens"),
        "output_tokens": pl.col("output_tokens"),
        "cost_usd": pl.col("cost"),
    }

    def by_day_model(df: pl.DataFrame, requests: pl.Expr) -> pl.DataFrame:
        return (
            df.with_columns(requests=requests, model=pl.coalesce("model_key", "model"))
            .group_by(["day", "provider", "model"])
            .agg(
                **{k: v.sum() for k, v in cols.items() if k not in ("requests", "cost_usd")},
                # no count or no price is unknown, never 0
                requests=pl.when(pl.col("requests").is_not_null().any()).then(pl.col("requests").sum()),
                cost_usd=pl.when(pl.col("cost").is_not_null().any()).then(order_free_sum(pl.col("cost"))),
            )
        )

    export = _within_logged_span(
        by_day_model(usage.with_columns(day=pl.col("period_start").dt.date()), pl.col("requests")), logged
    )
    log = by_day_model(logged.with_columns(day=pl.col("ts").dt.date()), pl.lit(1, pl.Int64))
    days = export.select("day").unique()
    log = log.join(days, on="day", how="semi")  # days the export covers
    joined = export.join(log, on=["day", "provider", "model"], how="full", suffix="_logs", coalesce=True)
    out = joined.select(
        "day",
        "provider",
        "model",
        *[pl.col(k).alias(f"export_{k}") for k in cols],
        *[pl.col(f"{k}_logs").alias(f"logs_{k}") for k in cols],
        *[
            (pl.col(k).fill_null(0) - pl.col(f"{k}_logs").fill_null(0)).alias(f"gap_{k}")
            for k in ("input_tokens", "cache_read_tokens", "output_tokens")
        ],
        # Anthropic's usage report counts no requests: no request gap where the export has no count.
        gap_requests=pl.when(pl.col("requests").is_null() & pl.col("input_tokens").is_not_null())
        .then(None)
        .otherwise(pl.col("requests").fill_null(0) - pl.col("requests_logs").fill_null(0)),
        gap_cost_usd=pl.when(pl.col("cost_usd").is_not_null() | pl.col("cost_usd_logs").is_not_null()).then(
            pl.col("cost_usd").fill_null(0) - pl.col("cost_usd_logs").fill_null(0)
        ),
    ).sort(["day", "provider", "model"], nulls_last=True)
    return [_clean(r) for r in out.to_dicts()]


def _usd(v: Any) -> float | None:
    return None if v is None else round(float(v), 10)


def _iso(v: Any) -> str | None:
    if v is None:
        return None
    return v.isoformat() + ("Z" if isinstance(v, datetime) else "")


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if hasattr(v, "isoformat"):
            v = _iso(v)
        elif isinstance(v, float):
            v = round(v, 10)
        out[k] = v
    return out
