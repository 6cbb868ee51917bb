"""Langfuse: the ingestion batch (`POST /api/public/ingestion`) and exported observations.

An ingestion batch is `{"batch": [events], "metadata": {...}}`; each event `{id, type, timestamp, body}`. A
`generation-create` (or `observation-create` of type GENERATION) body is one call: `model`, `startTime`,
`endTime`, `input`/`output` (messages as sent), `metadata`, and usage either as `usage {input, output, total,
unit, inputCost, outputCost, totalCost}` (or OpenAI-style `promptTokens`/`completionTokens`) or as
`usageDetails` / `costDetails` keyed by usage type. Usage types are free strings; as Langfuse itself
summarises them, every type whose name contains "input" is input and every one containing "output" is output;
input types that name a cache read ("cache_read", "cached") are the cached part. `trace-create` events carry
the `sessionId`/`userId` that the trace's generations inherit. An observations export (the public API's
`/api/public/observations`: `{"data": [...]}`, or one observation per line) holds the same generation fields.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeGuard

from analyzer.providers import guess_provider
from analyzer.sources.base import RecordError, Request, Source
from analyzer.sources.exports import BucketError
from analyzer.sources.fields import as_object, count, first_str, money, str_list, text_of, timestamp_us
from analyzer.sources.openai_chat import chat_messages

_GENERATION_EVENTS = ("generation-create", "generation-update", "observation-create")


def _is_generation(body: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(body, dict) and (
        str(body.get("type", "")).upper() == "GENERATION"
        or ("model" in body and ("usage" in body or "usageDetails" in body))
    )


def _usage(r: Request, body: dict[str, Any]) -> None:
    details = body.get("usageDetails")
    usage = body.get("usage")
    if isinstance(details, dict) and details:
        inp = out = cached = 0
        for k, v in details.items():
            key = k.lower()
            n = count(v, f"usageDetails.{k}")
            if "input" in key or key in ("prompt_tokens",):
                inp += n
                if "cache_read" in key or "cached" in key:
                    cached += n
            elif "output" in key or key in ("completion_tokens",):
                out += n
        r.input_tokens, r.output_tokens, r.cache_read_tokens = inp, out, cached
    elif isinstance(usage, dict):
        r.input_tokens = count(usage.get("input", usage.get("promptTokens")), "usage.input")
        r.output_tokens = count(usage.get("output", usage.get("completionTokens")), "usage.output")
        unit = usage.get("unit")
        if unit not in (None, "TOKENS"):
            raise RecordError(f"usage is counted in {unit!r}, not tokens")
    else:
        raise RecordError("generation has no usage or usageDetails")
    costs = body.get("costDetails")
    if isinstance(costs, dict) and costs:
        if "total" in costs:
            r.reported_cost = money(costs.get("total"), "costDetails.total")
        else:
            r.reported_cost = sum(money(v, f"costDetails.{k}") or 0.0 for k, v in costs.items())
    elif isinstance(usage, dict) and usage.get("totalCost") is not None:
        r.reported_cost = money(usage.get("totalCost"), "usage.totalCost")
    elif body.get("calculatedTotalCost") is not None:
        r.reported_cost = money(body.get("calculatedTotalCost"), "calculatedTotalCost")


def generation(body: dict[str, Any], trace: dict[str, Any] | None = None) -> Request:
    model = first_str(body.get("model"))
    if model is None:
        raise RecordError("generation has no model")
    r = Request(model=model)
    trace = trace or {}
    r.request_id = first_str(body.get("id"))
    r.ts_us = timestamp_us(body.get("startTime"), "startTime")
    end = timestamp_us(body.get("endTime"), "endTime")
    if r.ts_us is not None and end is not None and end >= r.ts_us:
        r.latency_ms = (end - r.ts_us) / 1000
    _usage(r, body)
    meta = as_object(body.get("metadata"))
    r.provider = first_str(meta.get("provider")) or guess_provider(model)
    r.conversation_id = first_str(body.get("sessionId"), trace.get("sessionId"), body.get("traceId"))
    r.user = first_str(body.get("userId"), trace.get("userId"))
    r.tags = str_list(trace.get("tags")) or str_list(body.get("tags"))
    if str(body.get("level", "")).upper() == "ERROR":
        r.status = "error"
    inp = body.get("input")
    if isinstance(inp, dict) and isinstance(inp.get("messages"), list):
        r.messages = chat_messages(inp)
    elif isinstance(inp, list):
        r.messages = chat_messages({"messages": inp})
    out = body.get("output")
    if out is not None:
        content = out.get("content") if isinstance(out, dict) and "content" in out else out
        r.messages.append(("assistant", text_of(content), True))
    return r.check()


class LangfuseBatch(Source):
    name = "langfuse"
    title = "Langfuse ingestion batch (POST /api/public/ingestion) or observations export"
    enables = "cost (Langfuse's and ours), sessions and users from traces, messages (threads, prefixes, routing)"
    example = "langfuse_ingestion_batch.json"
    detected_by = '{"batch": [...]} of generation-create / trace-create events, or observations of type GENERATION'

    def sniff(self, obj: dict[str, Any]) -> bool:
        batch = obj.get("batch")
        if isinstance(batch, list):
            return any(isinstance(e, dict) and e.get("type") in _GENERATION_EVENTS for e in batch[:50])
        data = obj.get("data")
        if isinstance(data, list):
            return any(isinstance(o, dict) and str(o.get("type")) == "GENERATION" and "traceId" in o for o in data[:50])
        return str(obj.get("type")) == "GENERATION" and "traceId" in obj and _is_generation(obj)

    def parse(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Request | None:
        return generation(obj) if _is_generation(obj) else None

    def records(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Iterator[Any]:
        if isinstance(obj.get("batch"), list):
            events, prefix = obj["batch"], "batch"
        elif isinstance(obj.get("data"), list):
            events, prefix = [{"type": "observation-create", "body": o} for o in obj["data"]], "data"
        else:
            events, prefix = [{"type": "observation-create", "body": obj}], ""
        traces: dict[str, dict[str, Any]] = {}
        for e in events:
            if isinstance(e, dict) and e.get("type") == "trace-create" and isinstance(e.get("body"), dict):
                traces[str(e["body"].get("id"))] = e["body"]
        for i, e in enumerate(events):
            where = f"{prefix}[{i}]" if prefix else ""
            if not isinstance(e, dict) or e.get("type") not in _GENERATION_EVENTS:
                continue  # traces, spans, scores, events: no tokens of their own
            body = e.get("body")
            if not _is_generation(body):
                continue
            try:
                yield generation(body, traces.get(str(body.get("traceId"))))
            except RecordError as err:
                yield BucketError(str(err), where) if where else err
