"""Anthropic Admin API reports: the Messages usage report, the cost report, and the Claude Code usage report.

All three are pages `{"data": [...], "has_more", "next_page"}`.
- Usage report (`/v1/organizations/usage_report/messages`): buckets `{starting_at, ending_at, results}` (RFC
  3339); each result has `uncached_input_tokens`, `cache_creation.ephemeral_5m_input_tokens` /
  `ephemeral_1h_input_tokens`, `cache_read_input_tokens`, `output_tokens` and, when grouped by them, `model`,
  `api_key_id`, `workspace_id`, `service_tier`, `context_window`, `inference_geo`. No request counts.
- Cost report (`/v1/organizations/cost_report`): results with `amount`, a decimal string in the currency's
  lowest units (cents: "123.45" USD is $1.2345), `currency`, `description`, `cost_type`, `token_type`, `model`,
  `service_tier`, `context_window`, `workspace_id`.
- Claude Code usage report (`/v1/organizations/usage_report/claude_code`): one record per day and actor with a
  `model_breakdown` of `tokens {input, output, cache_read, cache_creation}` and `estimated_cost {amount,
  currency}`, also in minor units (cents).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from analyzer.sources.base import PageSource, RecordError
from analyzer.sources.exports import (
    BucketError,
    UsageBucket,
    bucket_records,
    bucket_results,
    opt_str,
    page_mark,
)
from analyzer.sources.fields import as_object, count, money, sub, timestamp_us

_DAY_US = 86_400 * 1_000_000


def _first_result(obj: dict[str, Any]) -> dict[str, Any] | None:
    data = obj.get("data")
    if not isinstance(data, list):
        return None
    for b in data[:50]:
        if isinstance(b, dict) and "starting_at" in b and isinstance(b.get("results"), list):
            for r in b["results"]:
                if isinstance(r, dict):
                    return r
    return None


def _bucket_results(obj: dict[str, Any]) -> Iterator[tuple[Any, int, int | None, str]]:
    data = obj.get("data")
    if not isinstance(data, list):
        yield RecordError("page has no data list"), 0, None, ""
        return
    yield from bucket_results(data, "data", "starting_at", "ending_at")


def _cents(value: Any, name: str) -> float:
    """An amount in the lowest currency unit (cents), as a number or decimal string, in dollars."""
    v = money(value, name)
    if v is None:
        raise RecordError(f"no {name}")
    return v / 100


def _usd_only(currency: Any) -> None:
    if str(currency or "USD").upper() != "USD":
        raise RecordError(f"amount in {currency!r}: only USD amounts can be compared with prices")


class AnthropicUsageReport(PageSource):
    name = "anthropic_usage"
    title = "Anthropic Admin API usage report (GET /v1/organizations/usage_report/messages)"
    enables = (
        "billed tokens per bucket with 5m/1h cache writes, cost priced from tokens, realised caching, spend by "
        "model/workspace/key (as grouped); no messages: no conversations, prefixes or savings replays"
    )
    example = "anthropic_usage_report.json"
    detected_by = "data[].results[] with uncached_input_tokens"
    holds = "a usage report page holds many buckets"

    def sniff(self, obj: dict[str, Any]) -> bool:
        r = _first_result(obj)
        return r is not None and "uncached_input_tokens" in r

    def records(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Iterator[Any]:
        return bucket_records(obj, self.name, _bucket_results(obj), _usage)


def _usage(r: dict[str, Any], start: int, end: int | None, where: str) -> UsageBucket:
    if "uncached_input_tokens" not in r and "output_tokens" not in r:
        raise RecordError("result has no uncached_input_tokens or output_tokens")
    uncached = count(r.get("uncached_input_tokens"), "uncached_input_tokens")
    read = count(r.get("cache_read_input_tokens"), "cache_read_input_tokens")
    w5 = count(sub(r, "cache_creation", "ephemeral_5m_input_tokens"), "cache_creation.ephemeral_5m_input_tokens")
    w1 = count(sub(r, "cache_creation", "ephemeral_1h_input_tokens"), "cache_creation.ephemeral_1h_input_tokens")
    return _bucket(
        r,
        "anthropic_usage",
        "usage",
        start,
        end,
        where,
        api_key=opt_str(r.get("api_key_id")),
        input_tokens=uncached + read + w5 + w1,
        cache_read_tokens=read,
        cache_write_5m_tokens=w5,
        cache_write_1h_tokens=w1,
        output_tokens=count(r.get("output_tokens"), "output_tokens"),
    )


def _bucket(
    r: dict[str, Any], export: str, kind: str, start: int, end: int | None, where: str, **measures: Any
) -> UsageBucket:
    """A result of an Anthropic report as a bucket: its period, the grouping it names (model, workspace, service
    tier, context window) and what it measures."""
    tier = opt_str(r.get("service_tier"))
    return UsageBucket(
        export=export,
        kind=kind,
        provider="anthropic",
        start_us=start,
        end_us=end,
        model=opt_str(r.get("model")),
        project=opt_str(r.get("workspace_id")),
        service_tier=tier,
        batch=tier == "batch",
        context_window=opt_str(r.get("context_window")),
        where=where,
        **measures,
    ).check()


class AnthropicCostReport(PageSource):
    name = "anthropic_cost"
    title = "Anthropic Admin API cost report (GET /v1/organizations/cost_report)"
    enables = "what was billed per bucket, by workspace, model and token type (amounts in cents, read as dollars)"
    example = "anthropic_cost_report.json"
    detected_by = "data[].results[] with amount and currency (and no token counts)"
    holds = "a cost report page holds many buckets"

    def sniff(self, obj: dict[str, Any]) -> bool:
        r = _first_result(obj)
        return r is not None and "amount" in r and "currency" in r and "uncached_input_tokens" not in r

    def records(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Iterator[Any]:
        return bucket_records(obj, self.name, _bucket_results(obj), _cost)


def _cost(r: dict[str, Any], start: int, end: int | None, where: str) -> UsageBucket:
    _usd_only(r.get("currency"))
    return _bucket(
        r,
        "anthropic_cost",
        "cost",
        start,
        end,
        where,
        line_item=opt_str(r.get("description"))
        or "/".join(x for x in (opt_str(r.get("cost_type")), opt_str(r.get("token_type"))) if x)
        or None,
        reported_cost=_cents(r.get("amount"), "amount"),
    )


class ClaudeCodeUsageReport(PageSource):
    name = "claude_code_usage_report"
    title = "Anthropic Admin API Claude Code usage report (GET /v1/organizations/usage_report/claude_code)"
    enables = (
        "tokens and Anthropic's estimated cost per day, actor (user or API key) and model; realised caching; "
        "no messages"
    )
    example = "claude_code_usage_report.json"
    detected_by = "data[] records with date and model_breakdown"
    holds = "a usage report page holds many records"

    def sniff(self, obj: dict[str, Any]) -> bool:
        data = obj.get("data")
        return isinstance(data, list) and any(
            isinstance(d, dict) and "date" in d and "model_breakdown" in d for d in data[:50]
        )

    def records(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Iterator[Any]:
        if mark := page_mark(obj, self.name):
            yield mark
        data = obj.get("data")
        if not isinstance(data, list):
            yield RecordError("page has no data list")
            return
        for i, d in enumerate(data):
            where = f"data[{i}]"
            try:
                if not isinstance(d, dict):
                    raise RecordError(f"record is not an object (a {type(d).__name__})")
                start = _day(d.get("date"))
                actor = as_object(d.get("actor"))
                who = opt_str(actor.get("email_address")) or opt_str(actor.get("api_key_name"))
                breakdown = d.get("model_breakdown")
                if not isinstance(breakdown, list):
                    raise RecordError("record has no model_breakdown list")
            except RecordError as e:
                yield BucketError(str(e), where)
                continue
            for j, m in enumerate(breakdown):
                w = f"{where}.model_breakdown[{j}]"
                try:
                    yield _claude_code(m, start, who, w)
                except RecordError as e:
                    yield BucketError(str(e), w)


def _day(value: Any) -> int:
    """The report's UTC date ("2025-08-08" or "2025-08-08T00:00:00Z") as the start of that day."""
    us = timestamp_us(value, "date")
    if us is None:
        raise RecordError("record has no date")
    return us - us % _DAY_US


def _claude_code(m: Any, start: int, who: str | None, where: str) -> UsageBucket:
    if not isinstance(m, dict):
        raise RecordError(f"model breakdown is not an object (a {type(m).__name__})")
    toks = m.get("tokens")
    if not isinstance(toks, dict):
        raise RecordError("model breakdown has no tokens")
    uncached = count(toks.get("input"), "tokens.input")
    read = count(toks.get("cache_read"), "tokens.cache_read")
    write = count(toks.get("cache_creation"), "tokens.cache_creation")
    cost = m.get("estimated_cost")
    reported = None
    if isinstance(cost, dict) and cost.get("amount") is not None:
        _usd_only(cost.get("currency"))
        reported = _cents(cost.get("amount"), "estimated_cost.amount")
    return UsageBucket(
        export="claude_code_usage_report",
        kind="usage",
        provider="anthropic",
        start_us=start,
        end_us=start + _DAY_US,
        model=opt_str(m.get("model")),
        user=who,
        input_tokens=uncached + read + write,
        cache_read_tokens=read,
        cache_write_5m_tokens=write,  # the report does not split writes by TTL: 5 minutes is the default
        output_tokens=count(toks.get("output"), "tokens.output"),
        reported_cost=reported,
        where=where,
    ).check()
