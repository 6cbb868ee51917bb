"""Usage exports: what a provider's usage or cost API returns, one row per time bucket and grouping.

Exports carry no messages and no per-call rows: each `UsageBucket` is an aggregate (tokens or an amount over a
period, for one model/project/key where the export was grouped so). They land in the `usage_buckets` table,
apart from `requests`, so that an export and a request log of the same traffic are compared, never added.
Paginated responses (`has_more`/`next_page`) are simply several files: each page's buckets are read on their
own and a bucket seen twice (same export, period and grouping) is a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from analyzer.sources.base import RecordError
from analyzer.sources.fields import first_str, timestamp_us


@dataclass(slots=True)
class UsageBucket:
    """One result of one time bucket of a usage or cost export (table `usage_buckets`, analyzer/migrations.py)."""

    export: str  # the format it came from, e.g. "openai_usage"
    kind: str  # "usage" (token counts) or "cost" (an amount only)
    provider: str
    start_us: int
    end_us: int | None = None
    model: str | None = None
    project: str | None = None  # OpenAI project_id, Anthropic workspace_id
    api_key: str | None = None
    user: str | None = None
    service_tier: str | None = None
    batch: bool = False
    context_window: str | None = None  # Anthropic "0-200k" / "200k-1M": the price tier the tokens were billed at
    line_item: str | None = None  # cost exports: what the amount is for
    requests: int | None = None
    input_tokens: int = 0  # all input, cached and cache writes included (as in `requests`)
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0
    audio_tokens: int = 0  # input + output audio tokens inside the counts above (priced at text rates)
    reported_cost: float | None = None  # USD, the export's own amount
    where: str = ""  # location inside the record, e.g. "data[2].results[0]"

    def key(self) -> str:
        """Identity across files: the same bucket exported twice is one bucket."""
        return "|".join(
            str(v)
            for v in (
                self.export,
                self.start_us,
                self.end_us,
                self.model,
                self.project,
                self.api_key,
                self.user,
                self.service_tier,
                self.batch,
                self.context_window,
                self.line_item,
            )
        )

    def check(self) -> UsageBucket:
        cached = self.cache_read_tokens + self.cache_write_5m_tokens + self.cache_write_1h_tokens
        if cached > self.input_tokens:
            raise RecordError(f"cached/cache-write tokens ({cached}) exceed input tokens ({self.input_tokens})")
        if self.end_us is not None and self.end_us < self.start_us:
            raise RecordError("bucket ends before it starts")
        return self


@dataclass(slots=True)
class PageMark:
    """A page's own pagination: whether more pages follow it, and the cursor of the next one. A complete export
    has one page saying no more follow; without it, pages are missing and the totals are short."""

    export: str
    has_more: bool
    next_page: str | None


def page_mark(obj: dict[str, Any], export: str) -> PageMark | None:
    if "has_more" not in obj:
        return None  # a bare bucket list, saved without its page
    return PageMark(export, obj.get("has_more") is True, opt_str(obj.get("next_page")))


class BucketError(RecordError):
    """One result of a page is unusable; `where` says which, so the rest of the page is kept."""

    def __init__(self, message: str, where: str) -> None:
        super().__init__(message)
        self.where = where


def bucket_records(
    obj: dict[str, Any],
    export: str,
    results: Iterable[tuple[Any, int, int | None, str]],
    parse: Callable[[dict[str, Any], int, int | None, str], UsageBucket],
) -> Iterator[Any]:
    """A page's records, for a source's `records()`: its page mark, then each result parsed into a
    UsageBucket, or the reason it is not one at its place (`results` yields a RecordError for a broken bucket)."""
    if mark := page_mark(obj, export):
        yield mark
    for r, start, end, where in results:
        if isinstance(r, RecordError):
            yield r
            continue
        try:
            if not isinstance(r, dict):
                raise RecordError(f"result is not an object (a {type(r).__name__})")
            yield parse(r, start, end, where)
        except RecordError as e:
            yield BucketError(str(e), where)


def page_buckets(obj: dict[str, Any]) -> tuple[list[Any], str]:
    """The buckets of a page ({"data": [...]}) or of one bare bucket, and the path prefix of their location."""
    if isinstance(obj.get("data"), list):
        return obj["data"], "data"
    return [obj], ""


def results_of(bucket: Any, where: str) -> list[Any]:
    if not isinstance(bucket, dict):
        raise BucketError(f"bucket is not an object (a {type(bucket).__name__})", where)
    results = bucket.get("results")
    if not isinstance(results, list):
        raise BucketError("bucket has no results list", where)
    return results


def bucket_results(
    buckets: list[Any], prefix: str, start_field: str, end_field: str
) -> Iterator[tuple[Any, int, int | None, str]]:
    """(result, start, end, where) for every result of every bucket, for `bucket_records`; a bucket without its
    results or its start time is yielded as its RecordError, so the rest of the page is kept."""
    for i, b in enumerate(buckets):
        where = f"{prefix}[{i}]" if prefix else ""
        try:
            results = results_of(b, where)
            start = timestamp_us(b.get(start_field), start_field)
            if start is None:
                raise BucketError(f"bucket has no {start_field}", where)
            end = timestamp_us(b.get(end_field), end_field)
        except RecordError as e:
            yield e, 0, None, where
            continue
        for j, r in enumerate(results):
            yield r, start, end, f"{where}.results[{j}]".lstrip(".")


def opt_str(value: Any) -> str | None:
    return first_str(value)
