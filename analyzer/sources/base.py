"""The canonical record every source produces, and the ranges every stored record must satisfy.

A source turns one parsed JSON object into one `Request` (or raises `RecordError` with a reason a user can act
on). Sources know nothing of the store, prices or reports. The helpers sources share to read fields are in
`fields.py`, to tell who served a call in `hosts.py`, and to split a request/response log line in
`envelope.py`.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson

from analyzer.redact import redact

_NO_VALUE = object()

# The calendar window a logged API call can fall in: nothing was billed per token before 2015, and a year
# past 2100 is a unit mistake. Outside it a timestamp is rejected at ingest, so that one bad value can neither
# crash a later report (years 1 and 10000 do not fit every date type) nor stretch the period.
TS_MIN_US = int(datetime(2015, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000
TS_MAX_US = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000
# The most tokens one request can carry (checked by `validate`): context windows are at most ~10M tokens; 1e9
# leaves room while keeping every sum of a billion requests inside int64.
MAX_REQUEST_TOKENS = 1_000_000_000
# The most an aggregated count may be (a usage bucket's tokens or requests, checked by `validate_bucket`): above
# it a value is garbage, and sums of such values would overflow the database's 64-bit integers.
MAX_COUNT = 10**15
INT64_MAX = 2**63 - 1  # `count` refuses more than a 64-bit column holds; what a count means is checked later
MAX_AMOUNT = 1e12  # USD or milliseconds: beyond this a value is garbage, not a bill or a latency


class RecordError(ValueError):
    """One record is unusable; the message is the reason stored in `rejects`.

    When the reason quotes a value from the log, pass it as `value`: it is shown redacted and shortened (a
    bad field may hold a key or a prompt), and left out altogether where text must not be kept (`bare`).
    """

    def __init__(self, reason: str, value: Any = _NO_VALUE) -> None:
        self.bare = reason
        super().__init__(reason if value is _NO_VALUE else f"{reason}: {_short(value)}")


def record_key(source: str, obj: Any, context: str | None = None) -> str:
    """The identity of a record that carries no id of its own: its source and its content, whatever file,
    line, compression or key order it arrives in. A log that grows, is copied, recompressed or rotated thus
    adds only the records not seen before. (The store numbers repeats of one content within a file, so two
    identical calls in one log stay two calls.) `context` is what the source took from outside the record,
    such as a session named by its file (Codex): identical lines of two sessions are two calls."""
    try:
        body = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
    except TypeError:  # nested deeper than orjson's 255 levels: the same identity, by a slower encoder
        body = canonical_bytes(obj)
    h = hashlib.blake2b(body, digest_size=12)
    if context:
        h.update(b"\x00" + context.encode("utf-8", "surrogatepass"))
    return f"{source}:{h.hexdigest()}"


@dataclass(slots=True)
class Request:
    """One API call in the canonical shape (table `requests`, analyzer/migrations.py)."""

    model: str
    provider: str | None = None
    request_id: str | None = None
    ts_us: int | None = None  # microseconds since the Unix epoch, UTC
    api_key: str | None = None
    project: str | None = None
    user: str | None = None
    feature: str | None = None
    tags: list[str] | None = None
    conversation_id: str | None = None
    endpoint: str | None = None
    input_tokens: int = 0  # all input, cached included
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0  # all output, reasoning included
    reasoning_tokens: int = 0
    batch: bool = False
    service_tier: str | None = None
    inference_geo: str | None = None  # Anthropic data residency ("us"), priced by the catalogue's multiplier
    speed: str | None = None  # Anthropic fast mode ("fast")
    # A call billed by another unit than tokens (prices.UNIT_PRICES): how many, and which ("second", "image").
    units: float | None = None
    unit: str | None = None
    reported_cost: float | None = None
    latency_ms: float | None = None
    status: str = "ok"
    # The call's usage was not logged (a stream cut before its usage, a timeout, a client abort, a logger that
    # kept no usage): its tokens, or its output tokens, are counted from its text (see `estimate_usage`).
    usage_estimated: bool = False
    has_tools: bool = False
    # (role, normalised text, is_output): the request's messages in order, then the reply.
    messages: list[tuple[str, str, bool]] = field(default_factory=list)
    # Cache breakpoints the request set: index into `messages` -> TTL ("5m", "1h"; "auto" for OpenAI's
    # explicit prompt_cache_breakpoint). Empty when the request set none.
    breakpoints: dict[int, str] = field(default_factory=dict)
    # Where more than one block of a message carries a breakpoint: index -> how many (absent: one). Anthropic's
    # maximum of 4 counts blocks, not messages.
    breakpoint_blocks: dict[int, int] = field(default_factory=dict)
    # Block-hash traces: ids of the request's fixed-size token blocks, in order (no text), and the time in
    # milliseconds from the trace's start (traces carry no calendar time).
    blocks: list[int] | None = None
    trace_ms: float | None = None

    def check(self) -> Request:
        """Cross-field sanity a provider's usage always satisfies."""
        cached = self.cache_read_tokens + self.cache_write_5m_tokens + self.cache_write_1h_tokens
        if cached > self.input_tokens:
            raise RecordError(f"cached/cache-write tokens ({cached}) exceed input tokens ({self.input_tokens})")
        if self.reasoning_tokens > self.output_tokens:
            raise RecordError(f"reasoning tokens ({self.reasoning_tokens}) exceed output tokens ({self.output_tokens})")
        return self


class Source:
    """A log format: recognise it from one record, parse one record."""

    name: ClassVar[str]
    title: ClassVar[str]
    enables: ClassVar[str]  # what the format can support downstream, shown by `llmcost formats`
    example: ClassVar[str]  # the sample under sample_logs/
    detected_by: ClassVar[str] = ""  # what in a record identifies the format, for `llmcost formats`
    companion: ClassVar[bool] = False  # True: its records join another file's (batch input); no rows of its own
    # How records depend on one another, which decides how a file may be cut into units parsed apart (store.py):
    # `sequential`: a record's meaning depends on earlier records of its file (running totals), so the file is
    # never cut into byte ranges; `shares_run`: records join what other files of the run left in `ctx` (batch
    # inputs and outputs), so its files are parsed in the ingesting process, in order.
    sequential: ClassVar[bool] = False
    shares_run: ClassVar[bool] = False
    # `final_wins`: a record whose request id repeats within its file replaces the earlier record (the file writes
    # one call over several lines and only the last holds the final count), and so does one that an earlier reading
    # of the same path stored (the file has grown since); across other files the first still wins.
    final_wins: ClassVar[bool] = False

    def sniff(self, obj: dict[str, Any]) -> bool:
        raise NotImplementedError

    def parse(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Request | None:
        raise NotImplementedError

    def records(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Iterator[Any]:
        """Every record one JSON value holds: Requests, UsageBuckets, or RecordErrors for the parts that are
        unusable (so one bad bucket of a page does not lose the rest). Default: `parse`'s one request."""
        try:
            r = self.parse(obj, ctx)
        except RecordError as e:
            yield e
            return
        if r is not None:
            yield r


class PageSource(Source):
    """A format whose one JSON value holds many records (a page of usage buckets, an OTLP export of spans): read
    with `records`, never `parse`."""

    holds: ClassVar[str]  # the reason `parse` gives, e.g. "a usage page holds many buckets"

    def parse(self, obj: dict[str, Any], ctx: dict[str, Any]) -> None:
        raise RecordError(f"{self.holds}: read with records()")


def in_window(us: int, name: str, raw: Any) -> int:
    """The time, when it lies in the window a logged API call can (see TS_MIN_US)."""
    if us < TS_MIN_US:
        raise RecordError(f"{name} is out of range (before 2015)", raw)
    if us >= TS_MAX_US:
        raise RecordError(f"{name} is out of range (after 2100)", raw)
    return us


# The token counts of a request, by type (input includes cached reads and writes; output includes reasoning):
# the fields `validate` bounds, and the columns the prices multiply.
TOKEN_COLUMNS = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
)


def validate(r: Request) -> Request:
    """The ranges every stored request must satisfy, checked by the store for every source (a new source
    inherits them): token counts whole and within MAX_REQUEST_TOKENS, a time inside the window, amounts finite.
    A value outside them would load and then break every later report of the database."""
    for f in TOKEN_COLUMNS:
        v = getattr(r, f)
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= MAX_REQUEST_TOKENS:
            raise RecordError(f"{f} is out of range", v)
    if r.ts_us is not None:
        in_window(r.ts_us, "timestamp", r.ts_us)
    for f in ("reported_cost", "latency_ms", "units"):
        v = getattr(r, f)
        if v is not None and not (math.isfinite(v) and 0 <= v <= MAX_AMOUNT):
            raise RecordError(f"{f} is not a valid amount", v)
    if r.trace_ms is not None and not (math.isfinite(r.trace_ms) and 0 <= r.trace_ms <= MAX_AMOUNT * 1000):
        raise RecordError("trace timestamp is out of range", r.trace_ms)
    if not isinstance(r.model, str) or not r.model:
        raise RecordError("no model")
    if r.blocks and any(not -(2**63) <= b < 2**63 for b in r.blocks):
        raise RecordError("a block hash is out of the 64-bit range")
    return r


_BUCKET_COUNTS = (
    "requests",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "audio_tokens",
)


def validate_bucket(b: Any) -> Any:
    """The ranges every stored usage bucket must satisfy (as `validate` for requests): counts within MAX_COUNT,
    an amount finite."""
    for f in _BUCKET_COUNTS:
        v = getattr(b, f, None)
        if v is not None and not (isinstance(v, int) and 0 <= v <= MAX_COUNT):
            raise RecordError(f"{f} is out of range", v)
    cost = getattr(b, "reported_cost", None)
    if cost is not None and not (math.isfinite(cost) and abs(cost) <= MAX_AMOUNT):
        raise RecordError("reported cost is not a valid amount", cost)
    return b


class _Raw(str):
    """Text already encoded, on the stack of `canonical_bytes`."""


def canonical_bytes(value: Any) -> bytes:
    """Sorted-key JSON of a value nested at any depth, without recursion (orjson stops at 255 levels and
    Python's json at the interpreter's recursion limit; a crafted record can be nested 100,000 deep).
    Deterministic, which is all an identity needs; shallow values keep orjson's faster, identical bytes."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        x = stack.pop()
        if isinstance(x, _Raw):
            out.append(x)
        elif isinstance(x, dict):
            parts: list[Any] = [_Raw("{")]
            for i, (k, v) in enumerate(sorted(((str(k), v) for k, v in x.items()), key=lambda kv: kv[0])):
                parts += [_Raw(("," if i else "") + orjson.dumps(k).decode() + ":"), v]
            parts.append(_Raw("}"))
            stack.extend(reversed(parts))
        elif isinstance(x, (list, tuple)):
            parts = [_Raw("[")]
            for i, v in enumerate(x):
                parts += ([_Raw(",")] if i else []) + [v]
            parts.append(_Raw("]"))
            stack.extend(reversed(parts))
        else:
            out.append(orjson.dumps(x, default=str).decode())
    return "".join(out).encode()


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _short(value: Any, limit: int = 60) -> str:
    """A value from the log as quoted in a reason: redacted (it may be a key or part of a prompt), without
    control characters, shortened."""
    s = _CONTROL.sub("?", redact(repr(value)))
    return s if len(s) <= limit else s[: limit - 3] + "..."
