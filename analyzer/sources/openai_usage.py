"""OpenAI's organization Usage API (completions) and Costs API pages.

`GET /v1/organization/usage/completions` and `GET /v1/organization/costs` return pages
`{"object": "page", "data": [buckets], "has_more", "next_page"}`; each bucket
`{"object": "bucket", "start_time", "end_time", "results": [...]}` (unix seconds). A file may also hold just the
`data` array, as scripts often save it. Completions results carry `input_tokens` (all input: cached, cache
writes and audio included), `input_cached_tokens`, `input_cache_write_tokens` (newer pages), `output_tokens`,
`input_audio_tokens`/`output_audio_tokens`, `num_model_requests` and the group-by fields (`model`,
`project_id`, `api_key_id`, `user_id`, `batch`, `service_tier`), null when the export was not grouped by them.
Costs results carry `amount {value, currency}` in dollars, `line_item` and `project_id`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from analyzer.sources.base import PageSource, RecordError
from analyzer.sources.exports import UsageBucket, bucket_records, bucket_results, opt_str, page_buckets
from analyzer.sources.fields import count, money

_COMPLETIONS = "organization.usage.completions.result"
_COSTS = "organization.costs.result"


def _result_objects(obj: dict[str, Any]) -> set[str]:
    buckets, _ = page_buckets(obj)
    found: set[str] = set()
    for b in buckets[:50]:
        if isinstance(b, dict) and b.get("object") == "bucket" and isinstance(b.get("results"), list):
            found.update(str(r.get("object")) for r in b["results"][:5] if isinstance(r, dict))
    return found


class OpenAIUsage(PageSource):
    name = "openai_usage"
    title = "OpenAI Usage API: completions pages (GET /v1/organization/usage/completions)"
    enables = (
        "billed tokens per day/hour, cost priced from tokens, realised caching, spend by model/project/key/user "
        "(as grouped when exported); no messages: no conversations, prefixes or savings replays"
    )
    example = "openai_usage_completions.json"
    detected_by = '"object": "bucket" whose results are "organization.usage.completions.result"'
    holds = "a usage page holds many buckets"

    def sniff(self, obj: dict[str, Any]) -> bool:
        return _COMPLETIONS in _result_objects(obj)

    def records(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Iterator[Any]:
        return bucket_records(
            obj, self.name, bucket_results(*page_buckets(obj), "start_time", "end_time"), _completions
        )


def _completions(r: dict[str, Any], start: int, end: int | None, where: str) -> UsageBucket:
    if r.get("object") not in (None, _COMPLETIONS):
        raise RecordError(f"not a completions usage result: object {r.get('object')!r}")
    if "input_tokens" not in r and "output_tokens" not in r:
        raise RecordError("result has no input_tokens or output_tokens")
    inp = count(r.get("input_tokens"), "input_tokens")
    b = UsageBucket(
        export="openai_usage",
        kind="usage",
        provider="openai",
        start_us=start,
        end_us=end,
        model=opt_str(r.get("model")),
        project=opt_str(r.get("project_id")),
        api_key=opt_str(r.get("api_key_id")),
        user=opt_str(r.get("user_id")),
        service_tier=opt_str(r.get("service_tier")),
        batch=r.get("batch") is True,
        requests=count(r.get("num_model_requests"), "num_model_requests"),
        input_tokens=inp,
        cache_read_tokens=count(r.get("input_cached_tokens"), "input_cached_tokens"),
        cache_write_5m_tokens=count(r.get("input_cache_write_tokens"), "input_cache_write_tokens"),
        output_tokens=count(r.get("output_tokens"), "output_tokens"),
        audio_tokens=count(r.get("input_audio_tokens"), "input_audio_tokens")
        + count(r.get("output_audio_tokens"), "output_audio_tokens"),
        where=where,
    )
    return b.check()


class OpenAICosts(PageSource):
    name = "openai_costs"
    title = "OpenAI Costs API pages (GET /v1/organization/costs)"
    enables = "what was billed per day, by project and line item (dollars, no tokens): the billed total"
    example = "openai_costs.json"
    detected_by = '"object": "bucket" whose results are "organization.costs.result"'
    holds = "a costs page holds many buckets"

    def sniff(self, obj: dict[str, Any]) -> bool:
        return _COSTS in _result_objects(obj)

    def records(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Iterator[Any]:
        return bucket_records(obj, self.name, bucket_results(*page_buckets(obj), "start_time", "end_time"), _cost)


def _cost(r: dict[str, Any], start: int, end: int | None, where: str) -> UsageBucket:
    amount = r.get("amount")
    if not isinstance(amount, dict) or "value" not in amount:
        raise RecordError("cost result has no amount.value")
    currency = str(amount.get("currency") or "usd").lower()
    if currency != "usd":
        raise RecordError(f"amount in {currency!r}: only USD amounts can be compared with prices")
    return UsageBucket(
        export="openai_costs",
        kind="cost",
        provider="openai",
        start_us=start,
        end_us=end,
        project=opt_str(r.get("project_id")),
        api_key=opt_str(r.get("api_key_id")),
        line_item=opt_str(r.get("line_item")),
        reported_cost=money(amount.get("value"), "amount.value") or 0.0,
        where=where,
    ).check()
