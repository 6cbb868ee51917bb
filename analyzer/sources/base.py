"""The canonical record every source produces, and the parsing helpers sources share.

A source turns one parsed JSON object into one `Request` (or raises `RecordError` with a reason a user can act
on). Sources know nothing of the store, prices or reports.
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

from analyzer import tokens
from analyzer.redact import redact
from analyzer.sources.streams import Stream, assemble, body_text, looks_like_stream
from analyzer.timeparse import iso_us

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
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
        body = _canonical(obj)
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


# ---- field helpers -----------------------------------------------------------------------------------------


_DIGITS = re.compile(r"\s*-?[0-9]{1,30}\s*")  # ASCII digits only: "²".isdigit() is True but int() refuses it


def count(value: Any, name: str, limit: int = INT64_MAX) -> int:
    """A token count: absent/None is 0; negative, fractional, non-numeric or above `limit` is a RecordError."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise RecordError(f"{name} is not a number", value)
    if isinstance(value, int):
        n = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        if abs(value) > limit:
            raise RecordError(f"{name} is out of range (more than {limit:,})", value)
        n = int(value)
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        n = int(value)
    else:
        raise RecordError(f"{name} is not a whole number", value)
    if n < 0:
        raise RecordError(f"{name} is negative: {n}")
    if n > limit:
        raise RecordError(f"{name} is out of range (more than {limit:,})", n)
    return n


def money(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RecordError(f"{name} is not a number", value)
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise RecordError(f"{name} is not a number", value) from None
    if not math.isfinite(v) or v < 0 or v > MAX_AMOUNT:
        raise RecordError(f"{name} is not a valid amount", value)
    return v


def timestamp_us(value: Any, name: str = "timestamp") -> int | None:
    """Unix seconds/ms/us/ns (number or numeric string) or ISO 8601 -> microseconds UTC. Naive times are UTC.
    A time outside 2015..2100 is a RecordError (see TS_MIN_US)."""
    if value is None or value == "":
        return None
    raw = value
    if isinstance(value, bool):
        raise RecordError(f"unparseable {name}", value)
    if isinstance(value, str):
        s = value.strip()
        try:
            value = float(s)
        except ValueError:
            try:
                us = iso_us(s)  # any RFC 3339 / ISO 8601 spelling, BigQuery's "... UTC", HTTP dates
            except (ValueError, OverflowError):
                raise RecordError(f"unparseable {name}", raw) from None
            return in_window(us, name, raw)
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise RecordError(f"unparseable {name}", raw)
        # Seconds until year ~5138; larger values are milliseconds, microseconds or nanoseconds.
        if value > 1e17:
            us = value // 1000 if isinstance(value, int) else value / 1000
        elif value > 1e14:
            us = value
        elif value > 1e11:
            us = value * 1000
        else:
            us = value * 1_000_000
        if us > TS_MAX_US:
            raise RecordError(f"{name} is out of range (after 2100)", raw)
        return in_window(int(round(us)), name, raw)
    raise RecordError(f"unparseable {name}", raw)


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


def text_of(content: Any) -> str:
    """Normalised text of a message's content, identical for identical content whatever its wrapping.

    Strings are kept as they are; text blocks contribute their text; any other block (image, tool use,
    tool result, document) is its canonical JSON with cache markers removed, so that adding a
    `cache_control` breakpoint does not make the same content look new.
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict):
                if block.get("type", "text") in ("text", "input_text", "output_text") and isinstance(
                    block.get("text"), str
                ):
                    parts.append(block["text"])
                else:
                    parts.append(canonical_json(block))
            else:
                parts.append(canonical_json(block))
        return "\n".join(parts)
    if isinstance(content, dict):
        if isinstance(content.get("text"), str) and len(content) <= 3:
            return content["text"]
        return canonical_json(content)
    return str(content)


_CACHE_MARKERS = ("cache_control", "prompt_cache_breakpoint")


def breakpoint_ttl(node: Any) -> str | None:
    """The TTL of a cache breakpoint set anywhere in this content (Anthropic `cache_control`, or OpenAI's
    `prompt_cache_breakpoint`), or None."""
    if isinstance(node, dict):
        cc = node.get("cache_control")
        if isinstance(cc, dict):
            return str(cc.get("ttl") or "5m")
        if isinstance(node.get("prompt_cache_breakpoint"), dict):
            return "auto"
        for v in node.values():
            if isinstance(v, list | dict) and (ttl := breakpoint_ttl(v)):
                return ttl
    elif isinstance(node, list):
        for v in node:
            if ttl := breakpoint_ttl(v):
                return ttl
    return None


def canonical_json(value: Any) -> str:
    if isinstance(value, dict) and any(k in value for k in _CACHE_MARKERS):
        value = {k: v for k, v in value.items() if k not in _CACHE_MARKERS}
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return _canonical(value).decode()


class _Raw(str):
    """Text already encoded, on the stack of `_canonical`."""


def _canonical(value: Any) -> bytes:
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


def first_str(*values: Any) -> str | None:
    for v in values:
        if isinstance(v, str) and v.strip():
            return v
        if isinstance(v, int | float) and not isinstance(v, bool):
            return str(v)
    return None


def str_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value] if value else None
    if isinstance(value, list):
        out = [str(v) for v in value if v is not None and v != ""]
        return out or None
    if isinstance(value, dict):
        out = [f"{k}={v}" for k, v in value.items() if v is not None]
        return out or None
    return None


def sub(obj: Any, *keys: str) -> Any:
    """obj[k1][k2]... or None when any level is missing or not an object."""
    for k in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(k)
    return obj


def guess_provider(model: str) -> str | None:
    """Provider from the model name alone, for logs that do not say (OpenAI-compatible logs often don't)."""
    m = model.lower()
    if "/" in m:
        head = m.split("/", 1)[0]
        if head in (
            "openai",
            "anthropic",
            "deepseek",
            "gemini",
            "vertex_ai",
            "bedrock",
            "azure",
            "mistral",
            "groq",
            "together_ai",
            "openrouter",
            "xai",
            "fireworks_ai",
        ):
            return {"vertex_ai": "google", "gemini": "google"}.get(head, head)
        m = m.rsplit("/", 1)[-1]
    if "claude" in m:
        return "anthropic"
    if m.startswith(("gemini", "gemma")):
        return "google"
    if m.startswith("deepseek"):
        return "deepseek"
    if m.startswith(("gpt-", "o1", "o3", "o4", "chatgpt", "text-", "davinci", "babbage", "codex")):
        return "openai"
    if m.startswith(("mistral", "mixtral", "codestral", "ministral")):
        return "mistral"
    if m.startswith("grok"):
        return "xai"
    return None


# The OpenAI-compatible APIs a logged base URL names, and the provider (its catalogue key prefix) that prices
# their calls. A host matches itself and its subdomains.
COMPAT_HOSTS = {
    "api.openai.com": "openai",
    "openrouter.ai": "openrouter",
    "api.groq.com": "groq",
    "api.together.xyz": "together_ai",
    "api.together.ai": "together_ai",
    "api.fireworks.ai": "fireworks_ai",
    "api.mistral.ai": "mistral",
    "api.deepseek.com": "deepseek",
    "api.x.ai": "xai",
    "api.cerebras.ai": "cerebras",
    "api.deepinfra.com": "deepinfra",
    "api.perplexity.ai": "perplexity",
    "api.moonshot.ai": "moonshot",
    "api.sambanova.ai": "sambanova",
    "api.hyperbolic.xyz": "hyperbolic",
    "api.studio.nebius.com": "nebius",
    "api.novita.ai": "novita",
    "api.anthropic.com": "anthropic",
    "generativelanguage.googleapis.com": "google",  # also Gemini's OpenAI-compatible endpoint (/v1beta/openai/)
    "aiplatform.googleapis.com": "google",  # Vertex AI (its regional hosts too, see provider_of_host)
    "openai.azure.com": "azure",  # Azure OpenAI resources ({resource}.openai.azure.com)
}


def provider_of_host(host: str | None) -> str | None:
    """The provider an API host belongs to (see COMPAT_HOSTS), or None."""
    if not host:
        return None
    h = host.lower().split(":", 1)[0].rstrip(".")
    if h.endswith("-aiplatform.googleapis.com"):  # Vertex AI's regional hosts: us-central1-aiplatform...
        return "google"
    for known, provider in COMPAT_HOSTS.items():
        if h == known or h.endswith("." + known):
            return provider
    return None


def compat_provider(body: Any, model: str | None = None) -> str | None:
    """The OpenAI-compatible provider that wrote a response body, from the marks it leaves there: Groq's
    `x_groq` object and `queue_time` usage, DeepSeek's cache hit/miss counts, Cerebras's `time_info`,
    OpenRouter's `gen-` ids with the upstream `provider` named, Fireworks's `accounts/fireworks/models/` names.
    None when the body names no one (OpenAI itself, or a server that leaves no mark)."""
    if not isinstance(body, dict):
        return None
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    if isinstance(body.get("x_groq"), dict) or "queue_time" in usage:
        return "groq"
    if "prompt_cache_hit_tokens" in usage or "prompt_cache_miss_tokens" in usage:
        return "deepseek"
    if isinstance(body.get("time_info"), dict):
        return "cerebras"
    if str(body.get("id", "")).startswith("gen-") and isinstance(body.get("provider"), str):
        return "openrouter"
    name = str(model or body.get("model") or "").lower()
    if name.startswith("accounts/fireworks/"):
        return "fireworks_ai"
    return None


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _short(value: Any, limit: int = 60) -> str:
    """A value from the log as quoted in a reason: redacted (it may be a key or part of a prompt), without
    control characters, shortened."""
    s = _CONTROL.sub("?", redact(repr(value)))
    return s if len(s) <= limit else s[: limit - 3] + "..."


@dataclass(slots=True)
class Envelope:
    """The parts of a request/response log line, whatever the logger called them."""

    request: dict[str, Any]
    response: dict[str, Any]
    raw_ts: Any
    meta: dict[str, Any]
    host: str | None
    status_code: int | None
    uri: str = ""  # an HTTP recording's request uri (Bedrock and Gemini name the model in it)
    stream: Stream | None = None  # the response was an event stream, assembled (streams.py)

    @property
    def ts_us(self) -> int | None:
        """Parsed only when asked, so that sniffing a format never fails on a bad timestamp."""
        return timestamp_us(self.raw_ts)


def envelope(obj: dict[str, Any]) -> Envelope | None:
    """Split a log line into request body, response body, timestamp and metadata.

    Accepts `request`/`response` (bodies, or HTTP-recorder wrappers holding `body` and `uri`/`status`),
    `request_body`/`response_body`, a `timestamp` (or `ts`, `time`, `created_at`) and `metadata`.
    Returns None when the object has no request/response pair at all.
    """
    req = obj.get("request", obj.get("request_body"))
    resp = obj.get("response", obj.get("response_body"))
    if not isinstance(req, dict):
        return None
    host = None
    status_code = None
    stream = None
    uri = str(req.get("uri") or req.get("url") or "")
    if isinstance(req.get("body"), dict) and ("uri" in req or "url" in req or "method" in req):
        host = uri.split("//", 1)[-1].split("/", 1)[0] if "//" in uri else None
        req = req["body"]
    wrapped = isinstance(resp, dict) and ("status" in resp or "status_code" in resp) and "body" in resp
    if wrapped and (isinstance(resp["body"], dict) or looks_like_stream(resp["body"])):
        st = resp.get("status", resp.get("status_code"))
        status_code = st.get("code") if isinstance(st, dict) else st
        if not (isinstance(status_code, int) and not isinstance(status_code, bool) and 100 <= status_code <= 599):
            status_code = None  # an HTTP status is a number of 100-599; anything else says nothing
        resp = resp["body"]
    if status_code is None:  # a logger that keeps the HTTP status beside the bodies
        st = obj.get("status_code", obj.get("status"))
        status_code = st if isinstance(st, int) and not isinstance(st, bool) and 100 <= st <= 599 else None
    if not isinstance(resp, dict) or (body_text(resp) is not None and "usage" not in resp):
        assembled = _assembled(resp)
        text = body_text(resp) if assembled is None else None
        whole = _json_object(text) if text is not None else None
        if assembled is not None:
            resp, stream = assembled
        elif whole is not None:
            resp = whole  # a response kept as its JSON text (VCR's raw {"string": ...} of an unstreamed call)
        elif resp is None and _failed(obj, status_code):
            resp = {}  # no response at all (a timeout, an abort): the call is still a call
        elif not isinstance(resp, dict):
            return None
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
    raw_ts = None
    for key in ("timestamp", "ts", "time", "created_at", "start_time", "startTime"):
        if obj.get(key) not in (None, ""):
            raw_ts = obj[key]
            break
    return Envelope(req, resp, raw_ts, meta, host, status_code, uri, stream)


def is_invoke_uri(uri: str) -> bool:
    """`.../model/{modelId}/invoke`: a recorded Bedrock InvokeModel call, whose bodies are the model family's own
    (an Anthropic body there is Bedrock's, read by the InvokeModel reader, not the Anthropic API's)."""
    return "/model/" in uri and uri.split("?", 1)[0].rstrip("/").endswith("/invoke")


def apply_metadata(r: Request, obj: dict[str, Any], env: Envelope) -> None:
    """Attribution fields (key, project, user, feature, tags, conversation) from the line and its metadata."""
    meta = env.meta
    req = env.request
    r.user = first_str(
        meta.get("user"), meta.get("user_id"), obj.get("user"), req.get("user"), sub(req, "metadata", "user_id")
    )
    r.api_key = first_str(meta.get("api_key"), meta.get("api_key_id"), meta.get("key"), obj.get("api_key"))
    r.project = first_str(meta.get("project"), meta.get("project_id"), meta.get("team"), obj.get("project"))
    r.feature = first_str(meta.get("feature"), meta.get("endpoint_tag"), obj.get("feature"))
    r.tags = str_list(meta.get("tags", obj.get("tags")))
    r.conversation_id = first_str(
        meta.get("conversation_id"),
        meta.get("session_id"),
        meta.get("thread_id"),
        obj.get("conversation_id"),
        obj.get("session_id"),
    )
    r.latency_ms = money(obj.get("latency_ms", meta.get("latency_ms")), "latency_ms")
    r.reported_cost = money(obj.get("cost", meta.get("cost")), "cost")
    r.provider = first_str(obj.get("provider"), meta.get("provider"))
    if env.status_code is not None and env.status_code >= 400:
        r.status = "error"


# (body, assembled) of the last stream assembled: every source's sniff, then the parse, ask for the same record's.
# One tuple, replaced whole, so that a thread never reads one body's result for another.
_last_stream: tuple[Any, Any] = (None, None)


def _json_object(text: str) -> dict[str, Any] | None:
    if not text.lstrip().startswith("{"):
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _assembled(body: Any) -> tuple[dict[str, Any], Stream] | None:
    global _last_stream
    last = _last_stream
    if body is not None and last[0] is body:
        return last[1]
    out = assemble(body)
    _last_stream = (body, out)
    return out


# A call that failed this way had the model running when it ended: the provider bills what it processed. Other
# failures (a 400, 401, 429; a 5xx without any output) are rejected before the model runs and are not billed.
_ABORT_CODES = (408, 499, 504, 524)
_ABORT_WORDS = ("timeout", "timed out", "abort", "cancel", "disconnect", "incomplete", "interrupted")


def _failed(obj: dict[str, Any], status_code: int | None) -> bool:
    """The record says the call failed (an error, a status code), so that a missing response is no damage."""
    keys = ("error", "status", "status_code")
    return status_code is not None or any(obj.get(k) not in (None, "", False) for k in keys)


def aborted(obj: dict[str, Any], env: Envelope) -> bool:
    """The call was cut after the model started (a timeout, a client abort, a stream cut before its end)."""
    if env.status_code in _ABORT_CODES:
        return True
    if env.stream is not None and not env.stream.complete:
        return True
    for v in (obj.get("error"), obj.get("status"), env.response.get("error"), env.response.get("status")):
        text = (orjson.dumps(v).decode() if isinstance(v, dict | list) else str(v)).lower() if v else ""
        if any(w in text for w in _ABORT_WORDS):
            return True
    return False


def estimate_usage(r: Request, *, keep_input: bool = False, reasoning: str = "", reply: str | None = None) -> None:
    """Count a call's tokens from its text when its usage was not logged: the input from the request's messages
    (with the chat formatting overhead), the output from the reply, with the model's tokenizer (o200k for models
    whose tokenizer is not public). `keep_input`: the input count is known (Anthropic's message_start), only the
    output is counted. `reasoning`: reasoning text the reply carries apart from its messages (billed as output);
    `reply`: the reply's text when its message holds more than the model wrote (signatures, encrypted blocks).
    The request is flagged `usage_estimated`."""
    enc = tokens.encoding_for(r.model)
    if not keep_input:
        r.input_tokens = tokens.chat_input([tokens.count(t, enc) for _, t, out in r.messages if not out])
        r.cache_read_tokens = r.cache_write_5m_tokens = r.cache_write_1h_tokens = 0
    r.reasoning_tokens = tokens.count(reasoning, enc) if reasoning else 0
    written = [reply] if reply is not None else [t for _, t, out in r.messages if out]
    r.output_tokens = sum(tokens.count(t, enc) for t in written) + r.reasoning_tokens
    r.usage_estimated = True


def has_output(r: Request) -> bool:
    return any(out and t.strip() for _, t, out in r.messages)


def without_usage(
    r: Request,
    obj: dict[str, Any],
    env: Envelope,
    *,
    keep_input: bool = False,
    reasoning: str = "",
    reply: str | None = None,
) -> None:
    """A call whose response holds no (final) usage. Estimated from its text when the model ran (a reply came, or
    the call was cut after it started: status "incomplete"); a failure before the model ran stays an unbilled
    "error"; a complete response without usage and without any text is no call we can count (RecordError)."""
    said = str(obj.get("status") or "").lower()
    failed = (
        r.status == "error"
        or env.response.get("error") is not None
        or obj.get("error") not in (None, "", False)
        or said in ("error", "failed", "failure")
    )
    ran = has_output(r) or bool(reasoning.strip())
    if aborted(obj, env) or (failed and ran):
        r.status = "incomplete"
        estimate_usage(r, keep_input=keep_input, reasoning=reasoning, reply=reply)
    elif failed:
        r.status = "error"
    elif ran or keep_input:
        estimate_usage(r, keep_input=keep_input, reasoning=reasoning, reply=reply)
    else:
        raise RecordError("response has no usage")
