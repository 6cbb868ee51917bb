"""Cline (and its forks Roo Code, Kilo Code) task histories: `tasks/<task id>/ui_messages.json`.

The file is one JSON array of the task's UI messages (`{ts, type: "say"|"ask", say|ask, text, modelInfo, ...}`,
written whole on every change, so it always holds the final state). Each API call is one `say: "api_req_started"`
message whose `text` is a JSON string: the request text plus, once the reply has streamed, `tokensIn`,
`tokensOut`, `cacheWrites`, `cacheReads` and `cost` (Cline's own price, USD). `modelInfo` (`providerId`,
`modelId`, Cline 3.x) names the model. Everything else (text, tool, reasoning, checkpoints...) is not a call.

Counts: for Anthropic-style providers (and Cline's own and OpenRouter, which subtract the cached part)
`tokensIn` is the uncached input, so the prompt is `tokensIn + cacheWrites + cacheReads`; where the message says
`apiProtocol: "openai"` (newer Cline, Roo Code), `tokensIn` is the whole prompt, cache reads and writes included
(Roo Code's cost code subtracts both from it). Cache writes are Anthropic's
5-minute writes (what Cline sets). A request whose stream failed before any usage (`cancelReason` with every count
and the cost at 0, e.g. an HTTP 400) was not billed and is not a call; a cancelled request with counts is one.
`deleted_api_reqs` (the summed counts of requests the user deleted from the task) is read as one call when its
counts are not all 0. The task id is the folder name; it becomes the conversation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from analyzer.providers import guess_provider
from analyzer.sources.base import RecordError, Request, Source
from analyzer.sources.fields import as_object, count, first_str, money, timestamp_us

CALL_KINDS = ("api_req_started", "deleted_api_reqs")
ROUTERS = {"cline", "openrouter", "kilocode", "roo"}  # providers that route OpenRouter slugs
_COUNTS = ("tokensIn", "tokensOut", "cacheWrites", "cacheReads")


class ClineTask(Source):
    name = "cline_task"
    title = "Cline / Roo Code / Kilo Code task history (tasks/<id>/ui_messages.json)"
    enables = "cost, cache reads and writes, tasks as conversations (no request bodies)"
    example = "tests/conformance/cline_task/gmfstu_sonnet45_task/ui_messages.first120.json"
    detected_by = 'array items {"ts", "type": "say"|"ask", "say"|"ask": ...} (api_req_started carries the usage)'

    def sniff(self, obj: dict[str, Any]) -> bool:
        kind = obj.get("type")
        return (
            kind in ("say", "ask")
            and isinstance(obj.get(kind), str)
            and isinstance(obj.get("ts"), int | float)
            and not isinstance(obj.get("ts"), bool)
        )

    def parse(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Request | None:
        if obj.get("type") != "say" or obj.get("say") not in CALL_KINDS:
            return None
        text = obj.get("text")
        try:
            info = orjson.loads(text) if isinstance(text, str) else None
        except orjson.JSONDecodeError:
            raise RecordError(f"{obj.get('say')} text is not JSON") from None
        if not isinstance(info, dict):
            raise RecordError(f"{obj.get('say')} text is not a JSON object")
        if not any(k in info for k in (*_COUNTS, "cost")):
            return None  # the request was logged but no reply streamed yet (or ever): nothing billed is known
        n = {k: count(info.get(k), k) for k in _COUNTS}
        cost = money(info.get("cost"), "cost")
        if not any(n.values()) and not cost:
            return None  # failed before any usage (cancelReason streaming_failed, HTTP 400...), or nothing deleted
        model_info = as_object(obj.get("modelInfo"))
        model = first_str(model_info.get("modelId"))
        if model is None:
            raise RecordError("no modelInfo.modelId (Cline before 3.x does not log the model per request)")
        vendor = first_str(model_info.get("providerId"))
        # Cline's own provider and OpenRouter name models by OpenRouter's slugs (`anthropic/claude-sonnet-4.5`) and
        # bill OpenRouter's prices: priced from its listing; other providers' models from their vendor's.
        provider = "openrouter" if vendor in ROUTERS else guess_provider(model) or vendor
        r = Request(model=model, provider=provider, endpoint=f"cline:{vendor or 'unknown'}")
        if info.get("apiProtocol") == "openai":  # the whole prompt, cache reads and writes included
            r.input_tokens = n["tokensIn"]
        else:
            r.input_tokens = n["tokensIn"] + n["cacheWrites"] + n["cacheReads"]
        r.cache_read_tokens = n["cacheReads"]
        r.cache_write_5m_tokens = n["cacheWrites"]
        r.output_tokens = n["tokensOut"]
        r.reported_cost = cost
        r.ts_us = timestamp_us(obj.get("ts"), "ts")
        path = ctx.get("path")
        if path:
            r.conversation_id = Path(str(path)).parent.name or None
        tags = []
        if obj.get("say") == "deleted_api_reqs":
            tags.append("deleted_api_reqs")
        if first_str(info.get("cancelReason")):
            tags.append(f"cancelled:{info['cancelReason']}")
            r.status = "incomplete"
        r.tags = tags or None
        return r.check()
