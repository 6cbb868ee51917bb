"""The report model: one plain-data dict built from the store, from which every renderer works.

Nothing here formats for people and nothing in the renderers computes, so no figure can differ between the
HTML, JSON and Markdown outputs. `SCHEMA_VERSION` changes whenever the JSON's shape does; see
docs/json-schema.md for what each version added.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from analyzer import (
    __version__,
    actions,
    blocks,
    conversations,
    prefixes,
    projection,
    queries,
    reconcile,
    tokens,
    unit_costs,
    usage,
)
from analyzer.backends.base import Backend
from analyzer.backends.local import INLINE
from analyzer.errors import InputError
from analyzer.ingest.results import IngestResult
from analyzer.prices import BEFORE_LISTING, COST_COLUMNS, Catalogue, price_one, price_requests
from analyzer.progress import stage
from analyzer.redact import excerpt, excerpt_of
from analyzer.savings.routing import Rule
from analyzer.savings.run import start_estimates
from analyzer.store import Store

# 1: first version: meta, period, prices, totals, by_day, by_model, by_attribution, unpriced,
#    tokenizer_calibration, ingest, assumptions.
# 2: conversations (threads, turns, growth by turn, input segments, top threads), prefix_reuse (ideal hit
#    ratios: unlimited, 5-minute and 1-hour TTL, capacity), top_prefixes, shared_system_prefixes,
#    volatile_prefixes.
# 3: savings (estimates: lever, policy, scope, requests, baseline, counterfactual, saving and its range,
#    assumptions, evidence): caching, routing, batching and trimming; caching (already_saved_usd, estimates,
#    backtest with reported_cache_read_tokens and simulated_cache_read_tokens).
# 4: headline (top levers with monthly figures, confidence and an action), projection (the measured workload
#    and its three scenarios), estimates' detail, prefix_reuse.gaps, excerpts of prefixes and volatile system
#    prompts (redacted unless --show-text), meta.show_text.
# 5 (in progress): usage_export (provider usage/cost exports: per-export figures, billed totals and their basis,
#    spend by model/project/key/user/day, billed line items, unpriced buckets, reconciliation with the logs per
#    day and model, and needs_logs when there are no request logs).
# 5: two-replay estimates (method, policies, backtest band, verdict), the richer caching backtest, combined
#    components/left_out, headline costs_more/nothing_to_gain; prices at request time; usage exports;
#    reconciliation (see docs/json-schema.md).
SCHEMA_VERSION = 5
TOP_ATTRIBUTION = 25  # rows per dimension in the report; the JSON carries the same rows
# Rows any per-model list carries (the costliest first): a log of 100,000 distinct model names must not make a
# 100 MB report; `truncated` says how many rows each capped list had.
MAX_LISTED = 1000
TOP_SESSIONS = 50
PERIOD_UNITS = ("day", "week", "month")


# `llmcost report --view`, as ccusage's commands, and the cost per unit of work (units, users, tags, tasks)
VIEWS = ("daily", "weekly", "monthly", "sessions", "blocks", *unit_costs.VIEWS, "keys", "projects", "models")
# `--view keys|projects|models`: spend tables (users and tags are unit_costs' views, their distributions)
SPEND_VIEWS = {"keys": "api_key", "projects": "project", "models": "model"}
_SPEND_FIELDS = ("requests", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "cost_usd")


def spend_view(report: dict[str, Any], view: str) -> dict[str, Any]:
    """`--view keys|projects|models`: spend per API key, project or model, the costliest first, with the
    requests, tokens (cache read and write apart) and cost of each; the rows a capped list left out summed as
    `other`, and `total` equal to the report's totals."""
    dim = SPEND_VIEWS[view]
    if dim == "model":
        src = report["by_model"]
        rows = [
            {"name": r["model"], "model_key": r.get("model_key"), "provider": r.get("provider")}
            | {k: r.get(k) or 0 for k in _SPEND_FIELDS}
            | {"cost_usd": r.get("cost_usd"), "has_unpriced": r.get("model_key") is None}
            for r in src
        ]
    else:
        rows = [
            {"name": r["value"]}
            | {k: r.get(k) or 0 for k in _SPEND_FIELDS}
            | {"cost_usd": r.get("cost_usd"), "has_unpriced": bool(r.get("unpriced_requests"))}
            for r in report["by_attribution"].get(dim, [])
        ]
    t = report["totals"]
    total = {
        "requests": t["requests"],
        "input_tokens": t["input_tokens"],
        "cache_read_tokens": t["cache_read_tokens"],
        "cache_write_tokens": t["cache_write_tokens"],
        "output_tokens": t["output_tokens"],
        "cost_usd": t["cost_usd"],
        "has_unpriced": bool(t["unpriced_requests"]),
    }
    other = None
    left = t["requests"] - sum(r["requests"] for r in rows)
    if left > 0:  # a capped list (TOP_ATTRIBUTION, MAX_LISTED): the rest as one row, so the column adds up
        other = {k: total[k] - sum(r[k] for r in rows) for k in _SPEND_FIELDS if k != "cost_usd"}
        cost = (total["cost_usd"] or 0) - sum(r["cost_usd"] or 0 for r in rows)
        other |= {"cost_usd": _usd(cost), "has_unpriced": total["has_unpriced"]}
    return {"dimension": dim, "rows": rows, "other": other, "total": total}


def _model_match(models: tuple[str, ...]) -> Any:
    want = {m.lower() for m in models}
    return lambda name, key=None: not want or (name or "").lower() in want or (key or "").lower() in want


def view_json(
    report: dict[str, Any],
    view: str,
    order: str = "asc",
    breakdown: bool = False,
    models: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One view of the report for scripts (`--view daily --json -`): spend by day, week or month, or the
    costliest sessions, with the period it covers. `order`: oldest first (asc, the default) or newest first;
    `breakdown`: each period's models; `models`: only these models (as logged or the catalogue key they price
    as, any case)."""
    out: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "view": view, "period": report["period"]}
    match = _model_match(models)
    if models:
        out["models"] = list(models)
    if view == "sessions":
        rows = [
            r
            for r in report["sessions"]["top"]
            if not models or any(match(m.strip()) for m in (r.get("models") or "").split(","))
        ]
        return out | {"sessions": report["sessions"]["count"] if not models else len(rows), "rows": rows}
    if view == "blocks":  # ccusage's 5-hour billing windows (blocks.py)
        return out | (report.get("blocks") or blocks.section(pl.DataFrame()))
    if view in unit_costs.VIEWS:
        return out | unit_costs.view(report["unit_costs"], view)
    if view in SPEND_VIEWS:
        return out | spend_view(report, view)
    unit = {"daily": "day", "weekly": "week", "monthly": "month"}[view]
    undated = (report.get("spend_by_period") or {}).get("undated")
    by_day = [r for r in report["by_day"] if match(r["model"], r.get("model_key"))]
    rows = spend_by_period(by_day, unit, breakdown=breakdown)["periods"]
    if order == "desc":
        rows = rows[::-1]
    return out | {"unit": unit, "order": order, "rows": rows, "undated": None if models else undated}


def period_unit(days: float | None) -> str:
    """Bars that stay readable: days up to two months, weeks up to a year, months beyond."""
    if days is None or days <= 62:
        return "day"
    return "week" if days <= 366 else "month"


def _period_start(day: str, unit: str) -> str:
    d = date.fromisoformat(day)
    if unit == "week":  # ISO weeks, starting on Monday
        d = d - timedelta(days=d.weekday())
    elif unit == "month":
        d = d.replace(day=1)
    return d.isoformat()


MIN_OUTLIER_GAP_DAYS = 30


def outlying_dates(con: Any) -> dict[str, Any] | None:
    """A few requests dated far from all the others (a 2016 record among 2025 traffic passes every range check
    but would stretch the period, and so every monthly figure, to years). Days at either end are left out when
    they hold at most 1% of the dated requests (and at most 20) and sit further from the rest than both 30 days
    and the rest's own span. Returns the window to report (since, until) and what was left out, or None."""
    days = con.execute(
        "SELECT CAST(ts AS DATE) AS day, count(*) FROM requests WHERE ts IS NOT NULL AND trace_ms IS NULL "
        "GROUP BY ALL ORDER BY day"
    ).fetchall()
    total = sum(n for _, n in days)
    if total < 20 or len(days) < 2:
        return None
    budget = min(max(total // 100, 1), 20)
    lo, hi, dropped = 0, len(days) - 1, 0
    changed = True
    while changed and hi - lo >= 1:
        changed = False
        span = (days[hi][0] - days[lo + 1][0]).days
        gap = (days[lo + 1][0] - days[lo][0]).days
        if gap > max(MIN_OUTLIER_GAP_DAYS, span) and dropped + days[lo][1] <= budget:
            dropped += days[lo][1]
            lo += 1
            changed = True
            continue
        span = (days[hi - 1][0] - days[lo][0]).days
        gap = (days[hi][0] - days[hi - 1][0]).days
        if gap > max(MIN_OUTLIER_GAP_DAYS, span) and dropped + days[hi][1] <= budget:
            dropped += days[hi][1]
            hi -= 1
            changed = True
    if not dropped:
        return None
    out_days = [d for d, _ in days[:lo] + days[hi + 1 :]]
    since = datetime.combine(days[lo][0], datetime.min.time())
    until = datetime.combine(days[hi][0], datetime.min.time()) + timedelta(days=1)
    return {
        "since": since,
        "until": until,
        "requests": dropped,
        "first": _iso(min(out_days)),
        "last": _iso(max(out_days)),
        "reason": f"dated more than {MIN_OUTLIER_GAP_DAYS} days (and more than the rest's span) from all other "
        "requests",
    }


OTHER_MODELS = "(other models)"


SPEND_COUNTS = ("requests", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")


def spend_row(**first: Any) -> dict[str, Any]:
    """An empty spend row after the fields given: counts at 0, cost None (nothing priced in it yet, never $0)."""
    return {**first, **dict.fromkeys(SPEND_COUNTS, 0), "cost_usd": None, "has_unpriced": False}


def add_spend(into: dict[str, Any], r: dict[str, Any], digits: int | None = None) -> None:
    """A daily row's requests, tokens and cost added into a spend row; its cost stays None while nothing in it
    is priced."""
    for k in SPEND_COUNTS:
        into[k] += r.get(k) or 0
    if r["cost_usd"] is not None:
        total = (into["cost_usd"] or 0.0) + r["cost_usd"]
        into["cost_usd"] = total if digits is None else round(total, digits)
    into["has_unpriced"] = into["has_unpriced"] or bool(r["has_unpriced"])


def _other_models(by_day: list[dict[str, Any]], listed: set[str]) -> list[dict[str, Any]]:
    """by_day with the models beyond the listed ones summed per day into one `(other models)` row, so the
    daily totals stay whole when the per-model lists are capped."""
    out: list[dict[str, Any]] = []
    other: dict[Any, dict[str, Any]] = {}
    for r in by_day:
        if r["model"] in listed:
            out.append(r)
            continue
        o = other.setdefault(r["day"], spend_row(day=r["day"], model=OTHER_MODELS, model_key=None))
        add_spend(o, r)
    return sorted(out + list(other.values()), key=lambda r: (r["day"], -(r["cost_usd"] or 0.0), r["model"]))


def spend_by_period(
    by_day: list[dict[str, Any]], unit: str, undated: dict[str, Any] | None = None, breakdown: bool = False
) -> dict[str, Any]:
    """The daily rows summed by day, ISO week or month: requests, tokens, cost (priced requests only) and the
    cost of each model as logged. A period with only unpriced traffic has cost None, never $0. `undated`: the
    calls with no timestamp, carried as their own row so that the periods plus it add up to the totals."""
    periods: dict[str, dict[str, Any]] = {}
    for r in by_day:
        if not r["day"]:
            continue
        start = _period_start(r["day"], unit)
        p = periods.setdefault(start, {**spend_row(start=start), "by_model": {}})
        if breakdown:  # each model's own row within the period (`--breakdown`)
            add_spend(p.setdefault("models", {}).setdefault(r["model"], spend_row()), r, digits=10)
        add_spend(p, r, digits=10)
        if r["cost_usd"] is not None:
            p["by_model"][r["model"]] = round(p["by_model"].get(r["model"], 0.0) + r["cost_usd"], 10)
    out: dict[str, Any] = {"unit": unit, "periods": [periods[k] for k in sorted(periods)]}
    out["undated"] = undated if undated and undated.get("requests") else None
    return out


def latency_by_model(con: Any) -> list[dict[str, Any]]:
    """Latency per model where the logs carry it (Bedrock, OpenTelemetry spans, ...): calls with a latency, the
    median and the 95th percentile in milliseconds. Empty when no call has one."""
    rows = con.execute(
        "SELECT model, count(latency_ms), median(latency_ms), quantile_cont(latency_ms, 0.95) FROM priced_requests "
        "WHERE latency_ms IS NOT NULL GROUP BY model ORDER BY count(latency_ms) DESC, model LIMIT ?",
        [MAX_LISTED],
    ).fetchall()
    return [
        {"model": m, "requests": int(n), "median_ms": round(float(med), 1), "p95_ms": round(float(p95), 1)}
        for m, n, med, p95 in rows
    ]


def undated_spend(con: Any) -> dict[str, Any] | None:
    """The period's calls with no timestamp, summed like one period (they count in the totals, in no day)."""
    rows = con.execute(
        "SELECT count(*), coalesce(sum(input_tokens), 0)::BIGINT, coalesce(sum(cache_read_tokens), 0)::BIGINT, "
        "coalesce(sum(cache_write_5m_tokens + cache_write_1h_tokens), 0)::BIGINT, "
        "coalesce(sum(output_tokens), 0)::BIGINT, sum(cost), bool_or(NOT priced) FROM priced_requests "
        "WHERE ts IS NULL"
    ).fetchall()
    row = rows[0] if rows else None
    if not row or not row[0]:
        return None
    keys = (
        "requests",
        "input_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "output_tokens",
        "cost_usd",
        "has_unpriced",
    )
    u = dict(zip(keys, row, strict=True))
    u["cost_usd"] = _usd(u["cost_usd"])
    u["has_unpriced"] = bool(u["has_unpriced"])
    return u


def priced_frame(store: Store, cat: Catalogue, since: datetime | None, until: datetime | None) -> pl.DataFrame:
    """The period's requests priced with the given catalogue, registered as `priced_requests` for the SQL."""
    frame = queries.run(store.con, "requests_in_period", since=since, until=until)
    # The same traffic at the shipped snapshot's prices ("today's"), beside each call at its day's prices:
    # `today_<column>` for every cost column (rows align: both keep the frame's order).
    today = price_requests(frame, cat, dated=False)
    priced = price_requests(frame, cat).with_columns(
        cost_today=today["cost"], **{f"today_{c}": today[c] for c in (*COST_COLUMNS, "mode", "tier")}
    )
    store.con.register("priced_requests", priced)
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
    stage("price requests")
    priced = priced_frame(store, cat, since, until)
    stage("spend tables")
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
        by_day = _other_models(by_day, {m["model"] for m in by_model})
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
            "generated_at": _iso(datetime.now(UTC).replace(microsecond=0)),
            "llmcost_version": __version__,
            "database": store.path,
            "show_text": show_text,
        },
        "period": {
            "start": _iso(first),
            "end": _iso(last),
            "days": _days(days),
            "since": _iso(since) if left_out is None else None,  # the filters given, not the outliers' window
            "until": _iso(until) if left_out is None else None,
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
            "estimated_cost_usd": _usd(t["estimated_cost_usd"]),
            "estimated_share": _r(t["estimated_cost_usd"] / cost, 4) if cost else None,
            "cost_usd": _usd(cost),
            "cost_by_token_type_usd": {
                "uncached_input": _usd(t["cost_input"]),
                "cache_read": _usd(t["cost_cache_read"]),
                "cache_write_5m": _usd(t["cost_cache_write_5m"]),
                "cache_write_1h": _usd(t["cost_cache_write_1h"]),
                "output": _usd(t["cost_output"]),
                "reasoning": _usd(t["cost_reasoning"]),
            },
            "input_tokens": input_tokens,
            "uncached_input_tokens": input_tokens - t["cache_read_tokens"] - cache_write,
            "cache_read_tokens": t["cache_read_tokens"],
            "cache_write_tokens": cache_write,
            "cache_write_5m_tokens": t["cache_write_5m_tokens"],
            "cache_write_1h_tokens": t["cache_write_1h_tokens"],
            "output_tokens": t["output_tokens"],
            "reasoning_tokens": t["reasoning_tokens"],
            "cached_share": _r(t["cache_read_tokens"] / input_tokens, 4) if input_tokens else None,
            "reported_cost_usd": _usd(t["reported_cost_usd"]),
            "requests_with_reported_cost": t["requests_with_reported_cost"],
            "our_cost_where_reported_usd": _usd(t["our_cost_where_reported"]),
            "projected_monthly_usd": _usd(cost * per_month) if (per_month := projection.monthly_factor(days)) else None,
        },
        "by_day": [_clean(r) for r in by_day],
        "by_model": [_clean(r) for r in by_model],
        "by_attribution": {k: [_clean(r) for r in v] for k, v in sorted(by_attr.items())},
        "unpriced": [_clean(r) for r in unpriced],
        "truncated": truncated,
        "tokenizer_calibration": [_clean(r) for r in calibration],
        "ingest": {
            "files": len(sources),
            "rows": sum(s["rows"] for s in sources),
            "rejected": sum(s["rejected"] for s in sources),
            "duplicates": sum(s["duplicates"] for s in sources),
            "sources": [
                _clean({k: v for k, v in s.items() if k != "sha256"} | {"sha256": s["sha256"][:12]}) for s in sources
            ],
            "rejects_by_reason": [_clean(r) for r in rejects],
            "this_run": [f.as_dict() for f in this_run.files] if this_run else [],
        },
    }
    ratios = {c["provider"]: c["ratio"] for c in calibration if c["ratio"] and c["encoding"] == "o200k_base"}
    report.update(
        structure(store, cat, priced, since, until, cache_capacity, ratios, routing_rules, show_text, backend)
    )
    stage("reconciliation, sessions, projection")
    report["reconciliation"] = reconcile.reconcile(con)
    report["usage_export"] = usage.section(con, cat, since, until, priced)
    sessions = queries.rows(con, "spend_by_session")
    report["sessions"] = {"count": len(sessions), "top": [_clean(r) for r in sessions[:TOP_SESSIONS]]}
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
    versions = [_clean(r) for r in queries.rows(con, "spend_by_price_version")]
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
        "cost_at_today_prices_usd": _usd(float(today)),
    }


def projection_by_model(
    con: Any,
    cat: Catalogue,
    since: datetime | None,
    until: datetime | None,
    days: float | None,
    *,
    growth: float = 0.0,
    route_share: float = 0.0,
    route_to: str | None = None,
) -> dict[str, Any] | None:
    """`llmcost project` on the period's measured workload, model by model (each with its own mean tokens and
    cache hit rate), summed: its three scenarios, for the report's chart and for `project --from-db` (one code
    path). Unpriced models are left out and named. Like the monthly figures, it needs a day of dated traffic:
    an hour scaled to a month is noise."""
    rows = queries.rows(con, "workload_by_model", since=since, until=until)
    if not rows:
        return None
    per_month = projection.monthly_factor(days)
    if per_month is None:
        return {"error": "a projection needs at least a day of dated traffic", "unpriced_models": []}
    results, names, unpriced = [], [], []
    for m in rows:
        if cat.resolve(m["model"], m["provider"]).key is None:
            unpriced.append(m["model"])  # named, not projected at $0, and not priced again model by model
            continue
        w = projection.Workload(
            requests=m["requests"] * per_month,
            input_tokens=m["input_tokens"],
            output_tokens=m["output_tokens"],
            # the catalogue key it priced as: a name like mistral-small-latest is only priced with its provider
            model=cat.resolve(m["model"], m["provider"]).key or m["model"],
            cached_prefix=min(m["cached_prefix"], m["input_tokens"]),
            cache_hit_rate=m["cache_hit_rate"],
            growth=growth,
            route_share=route_share if route_to and route_to != m["model"] else 0.0,
            route_to=route_to if route_to and route_to != m["model"] else None,
            prefix_measured=True,
        )
        try:
            results.append(projection.project(w, cat))
            names.append(m["model"])
        except InputError:  # no price: named, not projected at $0
            unpriced.append(m["model"])
    if not results:
        listed = ", ".join(unpriced[:10]) + (f" and {len(unpriced) - 10:,} more" if len(unpriced) > 10 else "")
        return {"error": f"no price for {listed}", "unpriced_models": unpriced[:MAX_LISTED]}
    parts = ("input_usd", "cache_read_usd", "cache_write_usd", "output_usd", "total_usd")

    def add(pick: Any) -> dict[str, Any]:
        return {k: round(sum(pick(r)[k] for r in results), 6) for k in parts}

    return {
        "as_given": add(lambda r: r["as_given"]),
        "without_levers": add(lambda r: r["without_levers"]),
        "levers_save_usd": round(sum(r["levers_save_usd"] for r in results), 6),
        "scenarios": {name: add(lambda r, n=name: r["scenarios"][n]) for name in projection.SCENARIOS},
        "scenarios_assume": {name: projection.SCENARIO_TEXT[name] for name in projection.SCENARIOS},
        "models": [
            {
                "model": name,
                "requests_per_month": round(r["as_given"]["workload"]["requests"], 3),
                "input_tokens": round(r["as_given"]["workload"]["input_tokens"], 1),
                "output_tokens": round(r["as_given"]["workload"]["output_tokens"], 1),
                "cache_hit_rate": round(r["as_given"]["workload"]["cache_hit_rate"], 4),
                **{k: r["as_given"][k] for k in parts},
            }
            for name, r in zip(names[:MAX_LISTED], results[:MAX_LISTED], strict=True)
        ],
        "unpriced_models": unpriced[:MAX_LISTED],
        "assumptions": [
            "Each model's traffic is projected on its own: requests per month at the logged daily rate, its mean "
            "input and output tokens, the share of its requests that read from cache and their mean cache read; "
            "the models are summed. Batch and service-tier discounts are not modelled here.",
            *results[0]["assumptions"],
        ],
    }


def measured_days(con: Any) -> float | None:
    """The dated span of the database's API calls, in days, as the report counts it (an hour at least)."""
    ((first, last),) = con.execute("SELECT min(ts), max(ts) FROM requests WHERE trace_ms IS NULL").fetchall()
    if first is None or last is None:
        return None
    return max((last - first).total_seconds() / 86400, 1 / 24)


def structure(
    store: Store,
    cat: Catalogue,
    priced: pl.DataFrame,
    since: datetime | None,
    until: datetime | None,
    cache_capacity: int | None,
    calibration: dict[str, float] | None = None,
    routing_rules: list[Rule] | None = None,
    show_text: bool = False,
    backend: Backend = INLINE,
) -> dict[str, Any]:
    """Conversations, context growth, prefixes and savings; thread ids and turns are written back to
    `requests`. Prompt text appears only as excerpts (redacted unless show_text)."""
    con = store.con
    stage("load messages")
    seq = conversations.load_sequence(con, since, until)
    stage("threads")
    threads = conversations.reconstruct_threads(seq)
    if threads.height:
        store.write_threads(threads)
    system_prompts = queries.run(con, "system_prompts", since=since, until=until)
    groups = prefixes.volatile_prefixes(system_prompts)
    split = volatile_split(con, groups)
    # Savings are what a lever saves from now on: the logged traffic and every replay of it at today's prices
    # (the same prices on both sides of each estimate). Started here: when they run on other processes, the
    # stages below run meanwhile.
    pending = start_estimates(
        # priced as billed (each call at its time's prices): the replays price their calls the same way
        con,
        priced,
        seq,
        threads,
        cat,
        calibration or {},
        routing_rules,
        split,
        backend,
    )
    stage("conversations")
    windows = {k: cat.context_window(k) for k in priced["model_key"].drop_nulls().unique().to_list()}
    retrieved = conversations.retrieved_blocks(con, seq, threads)
    convo = conversations.summarise(priced, seq, threads, windows, retrieved)
    stage("prefix reuse")
    message_reqs = prefixes.message_prefix_requests(seq)
    block_reqs = prefixes.block_prefix_requests(queries.run(con, "block_sequence", since=since, until=until))
    reuse = prefixes.reuse_summary({"messages": message_reqs, "block_traces": block_reqs}, cache_capacity)
    counted = (
        seq.messages.filter(~pl.col("is_output"))
        .group_by("req")
        .agg((pl.col("tokens").fill_null(0) + tokens.TOKENS_PER_MESSAGE).sum().alias("counted"))
        .join(seq.requests.select("req", "request_id"), on="req")
    )
    attrs = (
        priced.select(
            "request_id",
            scope=pl.coalesce("user", "api_key", pl.lit("")),
            input_cost=pl.sum_horizontal("cost_input", "cost_cache_read", "cost_cache_write_5m", "cost_cache_write_1h"),
            priced=pl.col("priced"),
            cache_read_tokens=pl.col("cache_read_tokens"),
            input_tokens=pl.col("input_tokens"),
        )
        .join(counted, on="request_id", how="inner")
        .join(threads.select("request_id", "thread_id"), on="request_id", how="left")
        .select(
            "request_id",
            "scope",
            "thread_id",
            "cache_read_tokens",
            input_cost_per_token=pl.when(pl.col("priced") & (pl.col("counted") > 0))
            .then(pl.col("input_cost") / pl.col("counted"))
            .otherwise(None),
            scale=pl.when(pl.col("counted") > 0).then(pl.col("input_tokens") / pl.col("counted")).otherwise(None),
        )
    )
    stage("prefix tables")
    prefix_tables = _prefix_tables(con, message_reqs, attrs, groups, cat, show_text)
    stage("savings replays")
    return {
        "conversations": convo,
        "prefix_reuse": reuse,
        **prefix_tables,
        "shared_system_prefixes": prefixes.shared_system_prefixes(system_prompts),
        **pending.result(),
    }


def volatile_split(con: Any, groups: list[dict[str, Any]]) -> dict[int, tuple[int, int]]:
    """For the caching replay of stable system prompts: each variant of a volatile system prompt (by the
    message sequence's content hash) -> its group's shared stable part and that part's tokens (the prompt with
    its volatile span moved to the end)."""
    ids = [(k, cid) for k, g in enumerate(groups) for cid in g["content_ids"]]
    if not ids:
        return {}
    rows = con.execute(
        "SELECT content_id, (hash(content_id) >> 1)::BIGINT FROM (SELECT unnest(?::VARCHAR[]) AS content_id)",
        [[cid for _, cid in ids]],
    ).fetchall()
    hashed = dict(rows)
    return {
        hashed[cid]: (hash(("stable system prompt", k)), groups[k]["cacheable_if_moved_to_end"])
        for k, cid in ids
        if cid in hashed
    }


def _prefix_tables(
    con: Any, reqs: Any, attrs: pl.DataFrame, groups: list[dict[str, Any]], cat: Catalogue, show_text: bool
) -> dict[str, list[dict[str, Any]]]:
    """top_prefixes and volatile_prefixes (the groups of prefixes.volatile_prefixes), each shared prefix that
    starts with a volatile system prompt marked with that prompt's span (why its variants do not share a cache
    entry)."""
    volatile = _volatile([dict(g) for g in groups], cat, show_text)
    top = _with_excerpts(con, prefixes.top_prefixes(reqs, attrs), show_text)
    span = {}
    for v in volatile:
        for cid in v.pop("content_ids"):
            span[cid] = {"first_diff_token": v["first_diff_token"], "volatile_tokens": v["volatile_tokens"]}
    for p in top:
        p["volatile_span"] = span.get(p.pop("_first_content_id", None))
    return {"top_prefixes": top, "volatile_prefixes": volatile}


def _with_excerpts(con: Any, top: list[dict[str, Any]], show_text: bool) -> list[dict[str, Any]]:
    """Each shared prefix's first message and, for a longer prefix, its last, as excerpts (role: text)."""
    if not top:
        return top
    examples = pl.DataFrame(
        {"request_id": [p["example_request_id"] for p in top], "messages": [p["messages"] for p in top]},
        schema={"request_id": pl.String, "messages": pl.Int64},
    )
    con.register("_prefix_examples", examples)
    try:
        found = queries.rows(con, "prefix_excerpts")
    finally:
        con.unregister("_prefix_examples")
    by_example = {(row["request_id"], row["messages"]): row for row in found}

    def line(role: str | None, text: str | None) -> str | None:
        shown = excerpt(text, show_text)
        return None if shown is None else f"{role}: {shown}"

    for p in top:
        row = by_example.get((p["example_request_id"], p["messages"])) or {}
        p["prefix"] = row.get("prefix_id") or p["prefix"]
        p["_first_content_id"] = row.get("first_content_id")
        p["excerpt"] = line(row.get("first_role"), row.get("first_text"))
        p["last_excerpt"] = line(row.get("last_role"), row.get("last_text")) if p["messages"] > 1 else None
    top.sort(key=lambda p: (-p["reusable_tokens"], p["prefix"]))  # ties in a stable order, run to run
    return top


def _volatile(groups: list[dict[str, Any]], cat: Catalogue, show_text: bool) -> list[dict[str, Any]]:
    """Volatile system prompts with their text as excerpts and what moving the span would save at most: the
    gained tokens read from cache instead of sent uncached, on every request after each variant's first."""
    for g in groups:
        text, spans = g.pop("_text"), g.pop("_spans")
        for k, (a, b) in spans.items():
            g[k] = excerpt_of(text, a, b, show_text, limit=40 if k != "prompt_start" else None)
        g["saving_upper_usd"] = None
        if g["model"] and g["gain_tokens"] > 0:
            n = g["gain_tokens"]
            full = price_one(cat, g["model"], input_tokens=n)["cost"]
            read = price_one(cat, g["model"], input_tokens=n, cache_read_tokens=n)["cost"]
            if full is not None and read is not None:
                g["saving_upper_usd"] = _usd((full - read) * max(g["requests"] - g["variants"], 0))
    return groups


def assumptions(report: dict[str, Any]) -> list[str]:
    """What every figure rests on, in words, for the report's own assumptions section."""
    p = report["prices"]
    lo = report["period"].get("left_out")
    out = [
        *(
            [
                f"{lo['requests']:,} request{'' if lo['requests'] == 1 else 's'} dated {lo['first'][:10]}"
                + (f" to {lo['last'][:10]}" if lo["last"] != lo["first"] else "")
                + f" are left out of the period: {lo['reason']} (a clock reset or a test record, most likely)."
            ]
            if lo
            else []
        ),
        f"Costs are tokens x list prices from {p['catalogue']} (snapshot {p['catalogue_date']})"
        + (f", overridden by {', '.join(p['overrides'])}" if p["overrides"] else "")
        + "; negotiated discounts and credits are not known to llmcost.",
        *(
            [
                f"Each call is priced at the catalogue's prices of its day: a dated history from "
                f"{p['history']['first_day']} to {p['history']['last_day']} (the dates LiteLLM's catalogue changed, "
                "corrected to the provider's own dates where known), the snapshot after it; before a model's first "
                f"listing, its earliest listed prices. The same traffic at today's prices: "
                f"${p['cost_at_today_prices_usd'] or 0:,.6f}."
            ]
            if p.get("history")
            else []
        ),
        *(
            [
                "Priced at their model's first known listing, as the calls predate it (or predate the price "
                "history's first day): "
                + ", ".join(
                    f"{b['model_key']} ({b['requests']} requests, first listed {b['first_listed']})"
                    for b in p["before_first_listing"]
                )
                + "."
            ]
            if p.get("before_first_listing")
            else []
        ),
        "Each token type is priced at its own rate: uncached input, cache reads, 5-minute and 1-hour cache "
        "writes, output, and reasoning (at the output rate unless the catalogue lists a reasoning rate).",
        "Batch API calls are priced at the catalogue's batch rates (50% of standard where none is listed); "
        "above a tier threshold (e.g. 200k input tokens) the whole call is priced at the tier's rates.",
        "Failed calls and calls served by a proxy's own cache are counted but cost $0.",
    ]
    t = report["totals"]
    listed = sorted(
        {
            f"{m['model']} (as {m['model_key']})"
            for m in report["by_model"]
            if str(m.get("price_match", "")).startswith("same model")
        }
    )
    if listed:
        out.append(
            "Priced at another listing of the same model, as the catalogue has no first-party entry: "
            + ", ".join(listed)
            + "."
        )
    if t["unpriced_requests"]:
        out.append(
            f"{t['unpriced_requests']} requests use models missing from the catalogue: they are listed as "
            "unpriced and left out of every cost total (not counted as $0)."
        )
    if t["projected_monthly_usd"] is not None:
        out.append(
            f"Projected monthly spend = spend over the {report['period']['days']} days logged x 30 / "
            "days: it assumes the logged traffic continues at the same daily rate."
        )
    if t.get("estimated_requests"):
        out.append(
            f"{t['estimated_requests']} calls carry no usage of their own (a stream cut before its usage, a "
            "timeout, a client abort, a log without usage): they are counted, their tokens counted from their "
            f"text with tiktoken (an estimate), and their {_share(t['estimated_share'])} of spend is shown apart."
        )
    if report["period"]["undated_requests"]:
        out.append(
            f"{report['period']['undated_requests']} requests carry no timestamp: they count in totals "
            "but not in daily figures or date filters."
        )
    cv = report.get("conversations") or {}
    if cv.get("requests"):
        out.append(
            "Threads without a logged conversation id are rebuilt from content: a request continues the "
            "earlier request (same user or key) whose messages and reply it starts with."
        )
    traces = ((report.get("prefix_reuse") or {}).get("by_source") or {}).get("block_traces") or {}
    if traces.get("requests"):
        out.append(
            f"{traces['requests']} requests come from block-hash traces (no model, no price, no calendar "
            "time): they feed only the prefix-reuse figures, not spend or request totals."
        )
    if (report.get("prefix_reuse") or {}).get("input_tokens"):
        out.append(
            "Prefix reuse matches prefixes at message boundaries for request logs (a lower bound: partial "
            "matches inside a message are not counted) and at 512-token blocks for block-hash traces; "
            "TTLs expire an entry that long after its last use."
        )
    for c in report["tokenizer_calibration"]:
        if c["ratio"] is not None and c["encoding"] == "o200k_base" and c["provider"] not in ("openai", "azure"):
            out.append(
                f"{c['provider']}: token counts of message text are o200k_base estimates; on this log the "
                f"provider reported {c['ratio']:.3f}x our count (over {c['requests']} requests), the "
                "factor applied wherever an estimate of their tokens is needed."
            )
    if line := unit_costs.assumption(report.get("unit_costs")):
        out.append(line)
    return out


def _share(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def _usd(v: float | None) -> float | None:
    """USD kept to 1e-10 (float noise removed; a sample's fractions of a cent survive)."""
    return None if v is None else round(float(v), 10)


def _days(days: float | None) -> float | None:
    """The period in days to 1e-3, except that a period just short of a day never rounds up to one: monthly
    figures need a whole day, and "1.0 days" beside "needs at least a day" reads as a contradiction."""
    if days is None:
        return None
    return 0.999 if days < 1 <= round(days, 3) else round(days, 3)


def _r(v: float | None, digits: int) -> float | None:
    return None if v is None else round(float(v), digits)


def _iso(v: datetime | date | None) -> str | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=UTC)).isoformat().replace("+00:00", "Z")
    return v.isoformat()


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready values: dates as ISO strings, floats (money, ratios) rounded to 1e-10."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, datetime | date):
            v = _iso(v)
        elif isinstance(v, float):
            v = round(v, 10)
        out[k] = v
    return out
