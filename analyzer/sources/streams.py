"""Streamed responses in request logs: an event stream assembled into the response a non-streamed call returns.

A logger that records a streamed call keeps the stream as it came: the SSE text (`data: {...}` events, as HTTP
recorders and proxies keep it), or the list of chunks or events an SDK yielded. Each provider's stream is put back
together into the one response object its non-streamed call returns, so that the request-log readers read usage,
text and ids as they always do:

- OpenAI Chat Completions: `chat.completion.chunk` objects; the usage is in the last chunk when the request set
  `stream_options.include_usage` (its `choices` is empty), else nowhere.
- OpenAI Responses: `response.completed` (or `.incomplete` / `.failed`) carries the whole response with its usage;
  a stream cut before it keeps only the text of its `response.output_text.delta` events.
- Anthropic Messages: `message_start` carries the message with the input usage and a placeholder `output_tokens`;
  `message_delta` carries the final usage (its counts replace those of `message_start`).
- Gemini `streamGenerateContent` (SSE with `alt=sse`, else a JSON array): every chunk carries the usage so far; the
  last one, with a `finishReason`, the final usage.
- Amazon Bedrock ConverseStream: `messageStart`, `contentBlockDelta`, `messageStop`, and `metadata` with the usage.

`Stream` says what was found: a stream cut before its usage (a client abort, a timeout, a failed stream) is still
a call; the readers count its tokens from its text (estimated) rather than drop it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

# The response body of a stream as loggers keep it: the text itself, VCR's {"string": ...}, or pydantic-ai's newer
# cassette body {"type": "text", "content": ...}.
TEXT_BODY_KEYS = ("string", "content", "text")


@dataclass(slots=True)
class Stream:
    """What a stream held."""

    kind: str  # "openai_chat", "responses", "anthropic", "gemini", "bedrock"; "error": only an error event
    events: int  # JSON events read
    has_usage: bool  # the final usage is in the stream
    # The input usage is exact but the output count is not final (Anthropic's message_start, Gemini's usage
    # before the finishing chunk): the output is to be counted from the text.
    output_partial: bool = False
    complete: bool = True  # the stream reached its end (a finish reason, message_stop, response.completed)


def body_text(body: Any) -> str | None:
    """The text of a streamed body kept as text, in any of the wrappings loggers use; None otherwise."""
    if isinstance(body, str):
        return body
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    if isinstance(body, dict) and len(body) <= 3:
        for k in TEXT_BODY_KEYS:
            if isinstance(body.get(k), str) and (body.get("type") in (None, "text") or k != "content"):
                return body[k]
    return None


def sse_events(text: str) -> list[dict[str, Any]]:
    """The JSON objects of an SSE text (`data:` lines, an event's lines joined), or of a JSON array text.
    `[DONE]`, comments (`: OPENROUTER PROCESSING`) and data that is not a JSON object are passed over."""
    stripped = text.lstrip()
    if stripped[:1] == "[":
        try:
            doc = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            doc = None
        if isinstance(doc, list):
            return [e for e in doc if isinstance(e, dict)]
    out: list[dict[str, Any]] = []
    data: list[str] = []

    def flush() -> None:
        if data:
            payload = "\n".join(data).strip()
            data.clear()
            if payload and payload != "[DONE]":
                try:
                    v = orjson.loads(payload)
                except orjson.JSONDecodeError:
                    return
                if isinstance(v, dict):
                    out.append(v)

    for line in text.splitlines():
        if not line.strip():
            flush()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    flush()
    return out


def looks_like_stream(body: Any) -> bool:
    """A response body that may be a stream (text or a list), as opposed to a response object."""
    return isinstance(body, list) or body_text(body) is not None


def assemble(body: Any) -> tuple[dict[str, Any], Stream] | None:
    """The response a streamed body amounts to, and what the stream held; None when it is no stream we know."""
    text = body_text(body)
    if text is not None:
        events = sse_events(text)
    elif isinstance(body, list):
        events = [e for e in body if isinstance(e, dict)]
    else:
        return None
    if not events:
        return None
    for kind, test, build in _KINDS:
        if any(test(e) for e in events):
            resp, stream = build(events)
            stream.kind, stream.events = kind, len(events)
            return resp, stream
    errors = [e for e in events if e.get("error") is not None]
    if errors:  # a stream that failed before it began (Anthropic's overloaded_error event, a proxy's error)
        return dict(errors[-1]), Stream("error", len(events), False)
    return None


def _is_anthropic(e: dict[str, Any]) -> bool:
    return e.get("type") in ("message_start", "message_delta", "content_block_start", "content_block_delta")


def _is_responses(e: dict[str, Any]) -> bool:
    t = e.get("type")
    return isinstance(t, str) and t.startswith("response.")


def _is_chat(e: dict[str, Any]) -> bool:
    return e.get("object") == "chat.completion.chunk" or (
        isinstance(e.get("choices"), list) and any(isinstance(c, dict) and "delta" in c for c in e["choices"])
    )


def _is_gemini(e: dict[str, Any]) -> bool:
    return "candidates" in e or "usageMetadata" in e


_BEDROCK_EVENTS = ("messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockStop", "messageStop")


def _is_bedrock(e: dict[str, Any]) -> bool:
    return any(k in e for k in _BEDROCK_EVENTS) or isinstance(e.get("metadata"), dict) and "usage" in e["metadata"]


def _chat(events: list[dict[str, Any]]) -> tuple[dict[str, Any], Stream]:
    resp: dict[str, Any] = {"object": "chat.completion"}
    text: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    usage = None
    finish = None
    for e in events:
        for k in ("id", "model", "created", "service_tier", "system_fingerprint", "provider"):
            if e.get(k) is not None and k not in resp:
                resp[k] = e[k]
        if isinstance(e.get("usage"), dict):
            usage = e["usage"]
        if e.get("error") is not None:
            resp["error"] = e["error"]
        for c in e.get("choices") or []:
            if not isinstance(c, dict) or c.get("index", 0) != 0:
                continue
            finish = c.get("finish_reason") or finish
            d = delta if isinstance(delta := c.get("delta"), dict) else {}
            if isinstance(d.get("content"), str):
                text.append(d["content"])
            for k in ("reasoning_content", "reasoning"):
                if isinstance(d.get(k), str):
                    reasoning.append(d[k])
            for tc in d.get("tool_calls") or []:
                if not isinstance(tc, dict):
                    continue
                slot = calls.setdefault(int(tc.get("index") or 0), {"type": "function", "function": {}})
                if tc.get("id"):
                    slot["id"] = tc["id"]
                fn = function if isinstance(function := tc.get("function"), dict) else {}
                if fn.get("name"):
                    slot["function"]["name"] = fn["name"]
                if isinstance(fn.get("arguments"), str):
                    slot["function"]["arguments"] = slot["function"].get("arguments", "") + fn["arguments"]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    resp["choices"] = [{"index": 0, "message": message, "finish_reason": finish}]
    if usage is not None:
        resp["usage"] = usage
    return resp, Stream("", 0, usage is not None, complete=finish is not None or usage is not None)


_RESPONSE_ENDS = ("response.completed", "response.incomplete", "response.failed")
_RESPONSE_DELTAS = (
    "response.output_text.delta",
    "response.reasoning_text.delta",
    "response.reasoning_summary_text.delta",
    "response.refusal.delta",
    "response.function_call_arguments.delta",
)


def _responses(events: list[dict[str, Any]]) -> tuple[dict[str, Any], Stream]:
    final = None
    base: dict[str, Any] = {"object": "response"}
    text: list[str] = []
    for e in events:
        t = e.get("type")
        r = e.get("response")
        if t in _RESPONSE_ENDS and isinstance(r, dict):
            final = r
        elif isinstance(r, dict):
            base = r
        elif t in _RESPONSE_DELTAS and isinstance(e.get("delta"), str):
            text.append(e["delta"])
    if final is not None and isinstance(final.get("usage"), dict):
        return dict(final), Stream("", 0, True)
    resp = dict(final if final is not None else base)
    resp.pop("usage", None)
    if not resp.get("output") and text:
        resp["output"] = [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": ""}]}]
        resp["output"][0]["content"][0]["text"] = "".join(text)
    resp.setdefault("object", "response")
    return resp, Stream("", 0, False, complete=final is not None)


def _anthropic(events: list[dict[str, Any]]) -> tuple[dict[str, Any], Stream]:
    resp: dict[str, Any] = {"type": "message", "role": "assistant"}
    usage: dict[str, Any] | None = None
    blocks: dict[int, dict[str, Any]] = {}
    final = False
    stopped = False
    for e in events:
        t = e.get("type")
        if t == "message_start" and isinstance(e.get("message"), dict):
            resp.update({k: v for k, v in e["message"].items() if k not in ("content", "usage")})
            if isinstance(e["message"].get("usage"), dict):
                usage = dict(e["message"]["usage"])
        elif t == "message_delta":
            if isinstance(e.get("usage"), dict):
                usage = {**(usage or {}), **{k: v for k, v in e["usage"].items() if v is not None}}
                final = True
            if isinstance(e.get("delta"), dict):
                resp.update({k: v for k, v in e["delta"].items() if v is not None})
        elif t == "content_block_start" and isinstance(e.get("content_block"), dict):
            blocks[_index(e)] = dict(e["content_block"])
        elif t == "content_block_delta" and isinstance(e.get("delta"), dict):
            b = blocks.setdefault(_index(e), {"type": "text", "text": ""})
            d = e["delta"]
            for key, field in (("text", "text"), ("thinking", "thinking"), ("partial_json", "input_json")):
                if isinstance(d.get(key), str):
                    b[field] = (b.get(field) if isinstance(b.get(field), str) else "") + d[key]
        elif t == "message_stop":
            stopped = True
        elif t == "error":
            resp["error"] = e.get("error")
    content = []
    for i in sorted(blocks):
        b = blocks[i]
        if "input_json" in b:
            b["input"] = b.pop("input_json")
        content.append(b)
    resp["content"] = content
    if usage is not None:
        resp["usage"] = usage
    return resp, Stream("", 0, final, output_partial=usage is not None and not final, complete=stopped or final)


def _index(e: dict[str, Any]) -> int:
    i = e.get("index")
    return i if isinstance(i, int) and not isinstance(i, bool) else 0


def _gemini(events: list[dict[str, Any]]) -> tuple[dict[str, Any], Stream]:
    resp: dict[str, Any] = {}
    parts: list[str] = []
    thoughts: list[str] = []
    usage = None
    finish = None
    for e in events:
        for k in ("modelVersion", "responseId", "createTime"):
            if e.get(k) is not None:
                resp.setdefault(k, e[k])
        if isinstance(e.get("usageMetadata"), dict):
            usage = e["usageMetadata"]
        if e.get("error") is not None:
            resp["error"] = e["error"]
        cands = e.get("candidates")
        if isinstance(cands, list) and cands and isinstance(cands[0], dict):
            finish = cands[0].get("finishReason") or finish
            content = cands[0].get("content")
            for p in (content.get("parts") if isinstance(content, dict) else None) or []:
                if isinstance(p, dict) and isinstance(p.get("text"), str):
                    (thoughts if p.get("thought") else parts).append(p["text"])
                elif isinstance(p, dict):
                    parts.append(orjson.dumps(p, option=orjson.OPT_SORT_KEYS).decode())
    cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": "".join(parts)}]}}
    if thoughts:
        cand["content"]["parts"].insert(0, {"text": "".join(thoughts), "thought": True})
    if finish:
        cand["finishReason"] = finish
    resp["candidates"] = [cand]
    final = usage is not None and finish is not None
    if usage is not None:
        resp["usageMetadata"] = usage
    return resp, Stream("", 0, final, output_partial=usage is not None and not final, complete=finish is not None)


def _bedrock(events: list[dict[str, Any]]) -> tuple[dict[str, Any], Stream]:
    resp: dict[str, Any] = {}
    blocks: dict[int, dict[str, str]] = {}
    stopped = False
    for e in events:
        if isinstance(e.get("messageStop"), dict):
            resp["stopReason"] = e["messageStop"].get("stopReason")
            stopped = True
        meta = e.get("metadata")
        if isinstance(meta, dict):
            if isinstance(meta.get("usage"), dict):
                resp["usage"] = meta["usage"]
            if isinstance(meta.get("metrics"), dict):
                resp["metrics"] = meta["metrics"]
        delta = e.get("contentBlockDelta")
        if isinstance(delta, dict) and isinstance(delta.get("delta"), dict):
            i = delta.get("contentBlockIndex")
            b = blocks.setdefault(i if isinstance(i, int) else 0, {})
            d = delta["delta"]
            pieces = (
                ("text", d.get("text")),
                ("toolUse", (d.get("toolUse") or {}).get("input") if isinstance(d.get("toolUse"), dict) else None),
                (
                    "reasoning",
                    (d.get("reasoningContent") or {}).get("text")
                    if isinstance(d.get("reasoningContent"), dict)
                    else None,
                ),
            )
            for key, piece in pieces:
                if isinstance(piece, str):
                    b[key] = b.get(key, "") + piece
    content = [{"text": "".join(b.values())} for _, b in sorted(blocks.items())]
    resp["output"] = {"message": {"role": "assistant", "content": content}}
    if not stopped:
        resp.setdefault("stopReason", None)
    has_usage = isinstance(resp.get("usage"), dict)
    return resp, Stream("", 0, has_usage, complete=stopped)


_KINDS = (
    ("anthropic", _is_anthropic, _anthropic),
    ("responses", _is_responses, _responses),
    ("openai_chat", _is_chat, _chat),
    ("bedrock", _is_bedrock, _bedrock),
    ("gemini", _is_gemini, _gemini),
)
