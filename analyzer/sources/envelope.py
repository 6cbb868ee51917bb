"""A request/response log line split into its parts, whatever the logger called them, and what a call whose
usage was not logged is counted as.

Apart from `base.py` because only the sources that read HTTP-shaped lines (a request body, a response body or
event stream, a status, metadata) use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from analyzer import tokens
from analyzer.sources.base import RecordError, Request
from analyzer.sources.fields import first_str, money, str_list, sub, timestamp_us
from analyzer.sources.streams import Stream, assemble, body_text, looks_like_stream

# What each request/response reader does beyond its own fields (its `enables`, shown by `llmcost formats`).
STREAMED = "streamed responses (SSE text or chunk lists) assembled, calls without usage estimated"


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
    if isinstance(resp, dict) and _wrapped(resp):
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


def pair(obj: dict[str, Any]) -> Envelope:
    """The request/response pair of a line a source parses, or a RecordError."""
    env = envelope(obj)
    if env is None:
        raise RecordError("no request/response pair")
    return env


def begin(
    obj: dict[str, Any], env: Envelope, model: str, *, provider: str | None = None, ids: tuple[Any, ...] = ()
) -> Request:
    """A request begun from a request/response line: its model, the line's attribution (`apply_metadata`), the
    provider the format implies where the line names none, its id (the line's `id` or `request_id`, else the
    first of `ids`) and its time."""
    r = Request(model=model)
    apply_metadata(r, obj, env)
    r.provider = r.provider or provider
    r.request_id = first_str(obj.get("id"), obj.get("request_id"), *ids)
    r.ts_us = env.ts_us
    return r


def _wrapped(resp: dict[str, Any]) -> bool:
    """An HTTP recorder's response: a status beside a body that is an object or an event stream."""
    return (
        ("status" in resp or "status_code" in resp)
        and "body" in resp
        and (isinstance(resp["body"], dict) or looks_like_stream(resp["body"]))
    )


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
