"""OpenTelemetry GenAI spans as OTLP/JSON (what the OTel Collector's file exporter and the SDK's OTLP JSON file
exporter write: one `{"resourceSpans": [...]}` export request per line).

A span is an LLM call when it carries GenAI semantic-convention usage (`gen_ai.usage.input_tokens`,
`gen_ai.usage.output_tokens`) or OpenInference's (`llm.token_count.prompt`, `llm.token_count.completion`);
every other span (HTTP, database, agent steps) is passed over. Both conventions count cache reads
(`gen_ai.usage.cache_read.input_tokens`, `llm.token_count.prompt_details.cache_read`) and cache writes
(`gen_ai.usage.cache_creation.input_tokens`, `...cache_write`) inside the input tokens. The model is the
response model when given, else the request model (`llm.model_name` for OpenInference); the provider is
`gen_ai.provider.name`, or the older `gen_ai.system`, or `llm.provider`. Message content is read when it was
captured: `gen_ai.system_instructions`, `gen_ai.input.messages`, `gen_ai.output.messages` (JSON strings of
`{role, parts: [{type, content}]}`), or OpenInference's flattened `llm.input_messages.N.message.*`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

from analyzer.providers import guess_provider
from analyzer.sources.base import PageSource, RecordError, Request
from analyzer.sources.exports import BucketError
from analyzer.sources.fields import as_object, count, first_str

# Provider names the conventions use -> llmcost's (the price catalogue's provider prefixes).
_PROVIDERS = {
    "aws.bedrock": "bedrock",
    "az.ai.openai": "azure",
    "azure.ai.openai": "azure",
    "az.ai.inference": "azure",
    "azure.ai.inference": "azure",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "gemini": "google",
    "vertex_ai": "google",
    "mistral_ai": "mistral",
    "mistralai": "mistral",  # OpenInference's llm.provider
    "x_ai": "xai",
}
_OI_MESSAGE = re.compile(r"^llm\.(input|output)_messages\.(\d+)\.message\.(role|content)$")


def attr_value(v: Any) -> Any:
    """An OTLP/JSON AnyValue as a Python value (int64s arrive as strings in OTLP/JSON)."""
    if not isinstance(v, dict):
        return None
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return v["intValue"]
    if "doubleValue" in v:
        return v["doubleValue"]
    if "boolValue" in v:
        return v["boolValue"]
    if "arrayValue" in v:
        return [attr_value(x) for x in (v["arrayValue"] or {}).get("values") or []]
    return None


def attributes(span: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.get("attributes") or []:
        if isinstance(kv, dict) and isinstance(kv.get("key"), str):
            out[kv["key"]] = attr_value(kv.get("value"))
    return out


def is_llm_span(a: dict[str, Any]) -> bool:
    return any(
        k in a
        for k in (
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.output_tokens",
            "llm.token_count.prompt",
            "llm.token_count.completion",
        )
    ) or ("gen_ai.operation.name" in a and ("gen_ai.request.model" in a or "gen_ai.response.model" in a))


def _list(value: Any) -> list[Any]:
    """A list from the export, or none: a hostile or broken export may put anything there (issue 14)."""
    return value if isinstance(value, list) else []


def _spans(obj: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for i, rs in enumerate(_list(obj.get("resourceSpans"))):
        if not isinstance(rs, dict):
            continue
        for j, ss in enumerate(_list(rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans"))):
            if not isinstance(ss, dict):
                continue
            for k, sp in enumerate(_list(ss.get("spans"))):
                yield f"resourceSpans[{i}].scopeSpans[{j}].spans[{k}]", sp


def _json_messages(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise RecordError(f"{name} is not JSON") from None
    if not isinstance(value, list):
        raise RecordError(f"{name} is not a list of messages")
    return value


def _parts_text(parts: Any) -> str:
    if isinstance(parts, str):
        return parts
    out = []
    for p in parts if isinstance(parts, list) else []:
        if isinstance(p, dict):
            c = p.get("content", p.get("text"))
            out.append(c if isinstance(c, str) else orjson.dumps(p, option=orjson.OPT_SORT_KEYS).decode())
        elif isinstance(p, str):
            out.append(p)
    return "\n".join(out)


def _messages(a: dict[str, Any]) -> list[tuple[str, str, bool]]:
    out: list[tuple[str, str, bool]] = []
    system = _json_messages(a.get("gen_ai.system_instructions"), "gen_ai.system_instructions")
    if system:
        out.append(("system", _parts_text(system), False))
    for m in _json_messages(a.get("gen_ai.input.messages"), "gen_ai.input.messages"):
        if isinstance(m, dict):
            out.append((str(m.get("role") or "user"), _parts_text(m.get("parts", m.get("content"))), False))
    for m in _json_messages(a.get("gen_ai.output.messages"), "gen_ai.output.messages"):
        if isinstance(m, dict):
            out.append(("assistant", _parts_text(m.get("parts", m.get("content"))), True))
    if out:
        return out
    flat: dict[tuple[str, int], dict[str, str]] = {}
    for k, v in a.items():
        if (m := _OI_MESSAGE.match(k)) and isinstance(v, str):
            flat.setdefault((m.group(1), int(m.group(2))), {})[m.group(3)] = v
    for (kind, _), msg in sorted(flat.items(), key=lambda x: (x[0][0] != "input", x[0][1])):
        out.append(
            (msg.get("role") or ("assistant" if kind == "output" else "user"), msg.get("content", ""), kind == "output")
        )
    return out


def span_request(sp: Any) -> Request:
    if not isinstance(sp, dict):
        raise RecordError(f"span is not an object (a {type(sp).__name__})")
    a = attributes(sp)
    model = first_str(a.get("gen_ai.response.model"), a.get("gen_ai.request.model"), a.get("llm.model_name"))
    if model is None:
        raise RecordError("LLM span has no model (gen_ai.response.model, gen_ai.request.model, llm.model_name)")
    r = Request(model=model)
    raw = first_str(a.get("gen_ai.provider.name"), a.get("gen_ai.system"), a.get("llm.provider"), a.get("llm.system"))
    r.provider = _PROVIDERS.get(raw.lower(), raw.lower()) if raw else guess_provider(model)
    r.input_tokens = count(a.get("gen_ai.usage.input_tokens", a.get("llm.token_count.prompt")), "input tokens")
    r.cache_read_tokens = count(
        a.get("gen_ai.usage.cache_read.input_tokens", a.get("llm.token_count.prompt_details.cache_read")),
        "cache read tokens",
    )
    r.cache_write_5m_tokens = count(
        a.get("gen_ai.usage.cache_creation.input_tokens", a.get("llm.token_count.prompt_details.cache_write")),
        "cache creation tokens",
    )
    r.output_tokens = count(a.get("gen_ai.usage.output_tokens", a.get("llm.token_count.completion")), "output tokens")
    r.reasoning_tokens = count(a.get("llm.token_count.completion_details.reasoning"), "reasoning tokens")
    start = count(sp.get("startTimeUnixNano"), "startTimeUnixNano")
    end = count(sp.get("endTimeUnixNano"), "endTimeUnixNano")
    r.ts_us = start // 1000 if start else None
    if start and end >= start:
        r.latency_ms = (end - start) / 1e6
    r.request_id = first_str(a.get("gen_ai.response.id")) or (first_str(sp.get("traceId")) or "") + ":" + str(
        sp.get("spanId") or ""
    )
    r.conversation_id = first_str(a.get("gen_ai.conversation.id"), a.get("session.id"))
    r.user = first_str(a.get("user.id"), a.get("enduser.id"))
    status = as_object(sp.get("status"))
    if status.get("code") in (2, "STATUS_CODE_ERROR"):
        r.status = "error"
    r.endpoint = first_str(a.get("gen_ai.operation.name"))
    r.messages = _messages(a)
    return r.check()


class OtelGenAI(PageSource):
    name = "otel_genai"
    title = "OpenTelemetry GenAI spans, OTLP/JSON (Collector file exporter), incl. OpenInference attributes"
    enables = (
        "cost per call (cache reads and writes), latency, conversations from gen_ai.conversation.id; messages "
        "when content was captured (threads, prefixes, routing)"
    )
    example = "otel_genai_spans.jsonl"
    detected_by = '{"resourceSpans": [...]} with gen_ai.* or llm.token_count.* span attributes'
    holds = "an OTLP export holds many spans"

    def sniff(self, obj: dict[str, Any]) -> bool:
        if not isinstance(obj.get("resourceSpans"), list):
            return False
        return any(isinstance(sp, dict) and is_llm_span(attributes(sp)) for _, sp in _spans(obj))

    def records(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Iterator[Any]:
        if not isinstance(obj.get("resourceSpans"), list):
            yield RecordError("no resourceSpans list")
            return
        for where, sp in _spans(obj):
            if isinstance(sp, dict) and not is_llm_span(attributes(sp)):
                continue  # not an LLM call
            try:
                yield span_request(sp)
            except RecordError as e:
                yield BucketError(str(e), where)
