"""The report model: one plain-data dict built from the store, from which every renderer works.

Nothing here formats for people and nothing in the renderers computes, so no figure can differ between the
HTML, JSON and Markdown outputs. `SCHEMA_VERSION` (report/schema.py) changes whenever the JSON's shape does;
see docs/json-schema.md for what each version added.

Here: `build_report`, the spend tables and the prices section. Its other sections are built in this package's
modules: `spend` (periods, undated calls, latency), `structure` (conversations, prefixes, savings),
`workload` (the projection), `assumptions`; `span` finds the period, `views` reads one view of a built report.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl

from analyzer import __version__, actions, blocks, projection, queries, reconcile, unit_costs, usage
from analyzer.backends.base import Backend
from analyzer.backends.local import INLINE
from analyzer.ingest.results import IngestResult
from analyzer.prices import BEFORE_LISTING, Catalogue, price_requests
from analyzer.report.assumptions import assumptions
from analyzer.report.schema import MAX_LISTED, SCHEMA_VERSION, clean, iso, round_days, round_to, round_usd
from analyzer.report.span import outlying_dates
from analyzer.report.spend import latency_by_model, other_models, period_unit, spend_by_period, undated_spend
from analyzer.report.structure import next_stage, structure
from analyzer.report.workload import projection_by_model
from analyzer.savings.routing import Rule
from analyzer.store import Store

TOP_ATTRIBUTION = 25  # rows per dimension in the report; the JSON carries the same rows
TOP_SESSIONS = 50


def priced_frame(store: Store, cat: Catalogue, since: datetime | None, until: datetime | None) -> pl.DataFrame:
    """The period's requests priced with the given catalogue, registered as `priced_requests` for the SQL."""
    # In one chunk: DuckDB hands a large result over in chunks (9 at a million calls) whose buffers each pricing pass
    # carried into frames of its own; rechunked, the pricing's peak at a million calls fell by ~590 MiB.
    frame = queries.run(store.con, "requests_in_period", since=since, until=until).rechunk()
    # The same traffic at the shipped snapshot's prices ("today's"), beside each call at its day's prices: its cost
    # alone (rows align: both keep the frame's order). Nothing read the other today_ columns (~72 MB at 1M calls).
    cost_today = price_requests(frame, cat, dated=False)["cost"]
    priced = price_requests(frame, cat).with_columns(cost_today=cost_today)
    del frame, cost_today
    queries.register(store.con, "priced_requests", priced)
    return priced


def build_report(
    store: Store,
    cat: Catalogue,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    this_run: IngestResult | None = None,
    cache_capacity: int | None = None,
    routing_rules: list[Rule] | None = None,
    show_text: bool = False,
    backend: Backend = INLINE,
    with_blocks: bool = False,
    tz: str | None = None,
) -> dict[str, Any]:
    """The report model. `backend`: where the savings replays run (analyzer/backends/; default: this process).
    `with_blocks`: the 5-hour blocks even when no agent log is in the store (they are there for agent logs); `tz`:
    the IANA time zone whose calendar days `by_day` and the period views count (default UTC)."""
    con = store.con
    left_out = None
    if since is None and until is None:
        left_out = outlying_dates(con)
        if left_out is not None:
            since, until = left_out.pop("since"), left_out.pop("until")
    next_stage("price requests")
    priced = priced_frame(store, cat, since, until)
    next_stage("spend tables")
    t = queries.rows(con, "totals")[0]
    by_model = queries.rows(con, "spend_by_model")
    resolutions = {(m["model"], m["provider"]): cat.resolve(m["model"], m["provider"]) for m in by_model}
    for m in by_model:
        m["price_match"] = resolutions[(m["model"], m["provider"])].how
        if m["provider"] is None and m["model_key"]:  # OpenAI-compatible logs often do not say; the price does
            m["provider"] = cat.entries.get(m["model_key"], {}).get("litellm_provider")
    by_day = queries.rows(con, "spend_by_day", tz=tz or "UTC")
    attribution = queries.rows(con, "spend_by_attribution")
    by_attr: dict[str, list[dict[str, Any]]] = {}
    for row in attribution:
        dim = row.pop("dimension")
        if len(by_attr.setdefault(dim, [])) < TOP_ATTRIBUTION:
            by_attr[dim].append(row)
    unpriced = queries.rows(con, "unpriced_models")
    truncated = {k: len(v) for k, v in (("by_model", by_model), ("unpriced", unpriced)) if len(v) > MAX_LISTED}
    by_model, unpriced = by_model[:MAX_LISTED], unpriced[:MAX_LISTED]
    if "by_model" in truncated:
        by_day = other_models(by_day, {m["model"] for m in by_model})
    calibration = queries.rows(con, "tokenizer_calibration", since=since, until=until)
    sources = queries.rows(con, "ingest_sources")
    rejects = queries.rows(con, "rejects_by_reason")

    first, last = t["first_ts"], t["last_ts"]
    days = None
    if since is not None and until is not None and left_out is None:
        # the window asked for, traffic or not (an audit's day is 1 day)
        days = (until - since).total_seconds() / 86400
    elif first is not None and last is not None:
        days = max((last - first).total_seconds() / 86400, 1 / 24)
    cost = t["cost_usd"]
    input_tokens = t["input_tokens"]
    cache_write = t["cache_write_5m_tokens"] + t["cache_write_1h_tokens"]
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "meta": {
            "generated_at": iso(datetime.now(UTC).replace(microsecond=0)),
            "llmcost_version": __version__,
            "database": store.path,
            "show_text": show_text,
        },
        "period": {
            "start": iso(first),
            "end": iso(last),
            "days": round_days(days),
            "since": iso(since) if left_out is None else None,  # the filters given, not the outliers' window
            "until": iso(until) if left_out is None else None,
            "undated_requests": t["undated_requests"],
            # requests dated far from all the others (a clock reset, a test record): outside the period
            "left_out": left_out,
        }
        | ({"tz": tz} if tz else {}),
        "prices": _prices_section(con, cat, priced),
        "totals": {
            "requests": t["requests"],
            "priced_requests": t["priced_requests"],
            "unpriced_requests": t["unpriced_requests"],
            "error_requests": t["error_requests"],
            # calls whose usage was not logged (streams cut before their usage, timeouts, client aborts, loggers
            # that kept no usage): counted, their tokens counted from their text, their spend shown apart
            "estimated_requests": t["estimated_requests"],
            "incomplete_requests": t["incomplete_requests"],
            "estimated_cost_usd": round_usd(t["estimated_cost_usd"]),
            "estimated_share": round_to(t["estimated_cost_usd"] / cost, 4) if cost else None,
            "cost_usd": round_usd(cost),
            "cost_by_token_type_usd": {
                "uncached_input": round_usd(t["cost_input"]),
                "cache_read": round_usd(t["cost_cache_read"]),
                "cache_write_5m": round_usd(t["cost_cache_write_5m"]),
                "cache_write_1h": round_usd(t["cost_cache_write_1h"]),
                "output": round_usd(t["cost_output"]),
                "reasoning": round_usd(t["cost_reasoning"]),
            },
            "input_tokens": input_tokens,
            "uncached_input_tokens": input_tokens - t["cache_read_tokens"] - cache_write,
            "cache_read_tokens": t["cache_read_tokens"],
            "cache_write_tokens": cache_write,
            "cache_write_5m_tokens": t["cache_write_5m_tokens"],
            "cache_write_1h_tokens": t["cache_write_1h_tokens"],
            "output_tokens": t["output_tokens"],
            "reasoning_tokens": t["reasoning_tokens"],
            "cached_share": round_to(t["cache_read_tokens"] / input_tokens, 4) if input_tokens else None,
            "reported_cost_usd": round_usd(t["reported_cost_usd"]),
            "requests_with_reported_cost": t["requests_with_reported_cost"],
            "our_cost_where_reported_usd": round_usd(t["our_cost_where_reported"]),
            "projected_monthly_usd": round_usd(cost * per_month)
            if (per_month := projection.monthly_factor(days))
            else None,
        },
        "by_day": [clean(r) for r in by_day],
        "by_model": [clean(r) for r in by_model],
        "by_attribution": {k: [clean(r) for r in v] for k, v in sorted(by_attr.items())},
        "unpriced": [clean(r) for r in unpriced],
        "truncated": truncated,
        "tokenizer_calibration": [clean(r) for r in calibration],
        "ingest": {
            "files": len(sources),
            "rows": sum(s["rows"] for s in sources),
            "rejected": sum(s["rejected"] for s in sources),
            "duplicates": sum(s["duplicates"] for s in sources),
            "sources": [
                clean({k: v for k, v in s.items() if k != "sha256"} | {"sha256": s["sha256"][:12]}) for s in sources
            ],
            "rejects_by_reason": [clean(r) for r in rejects],
            "this_run": [f.as_dict() for f in this_run.files] if this_run else [],
        },
    }
    ratios = {c["provider"]: c["ratio"] for c in calibration if c["ratio"] and c["encoding"] == "o200k_base"}
    report.update(
        structure(store, cat, priced, since, until, cache_capacity, ratios, routing_rules, show_text, backend)
    )
    next_stage("reconciliation, sessions, projection")
    report["reconciliation"] = reconcile.reconcile(con)
    report["usage_export"] = usage.section(con, cat, since, until, priced)
    sessions = queries.rows(con, "spend_by_session")
    report["sessions"] = {"count": len(sessions), "top": [clean(r) for r in sessions[:TOP_SESSIONS]]}
    report["unit_costs"] = unit_costs.section(con)  # cost per conversation, session, user, feature, tag, task
    report["latency_by_model"] = latency_by_model(con)
    if (agent_blocks := blocks.for_report(con, priced, with_blocks)) is not None:
        report["blocks"] = agent_blocks  # ccusage's 5-hour billing windows of agent logs
    report["spend_by_period"] = spend_by_period(report["by_day"], period_unit(days), undated_spend(con))
    report["projection"] = projection_by_model(con, cat, since, until, days)
    report["headline"] = actions.headline(report)
    report["assumptions"] = assumptions(report)
    return report


def _prices_section(con: Any, cat: Catalogue, priced: pl.DataFrame) -> dict[str, Any]:
    """Where the prices came from: the catalogue, the dated history, which price version priced how much spend
    (and with which adjustments), the rates inferred from a provider's rule, and today's cost of the traffic."""
    h = cat.history
    versions = [clean(r) for r in queries.rows(con, "spend_by_price_version")]
    keys = sorted(k for k in priced["model_key"].drop_nulls().unique().to_list())
    inferred = [
        {"model_key": k, "token_type": kind, "rule": why} for k in keys for kind, why in cat.inferred_rates(k).items()
    ]
    adjusted: dict[str, int] = {}
    for r in versions:
        if r["adjustments"]:
            adjusted[r["adjustments"]] = adjusted.get(r["adjustments"], 0) + r["requests"]
    today = priced.filter(pl.col("priced"))["cost_today"].sum() if priced.height else 0.0
    return {
        "catalogue": cat.source,
        "catalogue_date": cat.date,
        "overrides": cat.overrides,
        "history": None if h is None else {"first_day": h.first, "last_day": h.last, "source": h.source},
        "by_version": versions,
        "adjusted_requests": [{"adjustments": k, "requests": v} for k, v in sorted(adjusted.items())],
        # calls made before their model's first listing, priced at that first listing
        "before_first_listing": [
            {
                "model_key": r["model_key"],
                "first_listed": str(r["price_version"]).removesuffix(BEFORE_LISTING),
                "requests": r["requests"],
                "cost_usd": r["cost_usd"],
            }
            for r in versions
            if str(r["price_version"]).endswith(BEFORE_LISTING)
        ],
        "inferred_rates": inferred,
        "cost_at_today_prices_usd": round_usd(float(today)),
    }
