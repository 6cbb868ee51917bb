"""Amazon Bedrock Converse API request/response logs.

The same envelope as the other request logs (`request`, `response`, optional `timestamp` and `metadata`), or an
HTTP recording whose request `uri` is `.../model/{modelId}/converse`. The response's `usage` counts
`inputTokens` without the cache (`totalTokens` = input + output + cache reads + cache writes), so the canonical
input adds `cacheReadInputTokens` and `cacheWriteInputTokens` back. Messages are `system`, `messages` and
`toolConfig.tools` as Converse sends them; `cachePoint` blocks mark cache breakpoints (5 minutes unless a `ttl`
is given) and are not content.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from analyzer.sources.base import (
    RecordError,
    Request,
    Source,
    apply_metadata,
    canonical_json,
    count,
    envelope,
    first_str,
    money,
    sub,
    text_of,
)


def _uri(obj: dict[str, Any]) -> str:
    req = obj.get("request")
    return str(req.get("uri") or req.get("url") or "") if isinstance(req, dict) else ""


def model_from_uri(uri: str) -> str | None:
    """`.../model/us.anthropic.claude-...-v1%3A0/converse` -> the model id, percent-decoded."""
    if "/model/" not in uri:
        return None
    return unquote(uri.split("/model/", 1)[1].split("/", 1)[0]) or None


def _blocks(content: Any, breakpoints: dict[int, str], index: int) -> str:
    """Text of Converse content blocks without their cachePoint markers, which become a breakpoint."""
    if not isinstance(content, list):
        return text_of(content)
    kept = []
    for b in content:
        if isinstance(b, dict) and "cachePoint" in b:
            breakpoints[index] = str(sub(b, "cachePoint", "ttl") or "5m")
        else:
            kept.append(b)
    return text_of(kept)


def converse_messages(req: dict[str, Any], breakpoints: dict[int, str]) -> list[tuple[str, str, bool]]:
    """In cache-prefix order: tools, system, messages."""
    out: list[tuple[str, str, bool]] = []
    tools = sub(req, "toolConfig", "tools")
    if isinstance(tools, list) and tools:
        plain = [t for t in tools if not (isinstance(t, dict) and "cachePoint" in t)]
        if len(plain) < len(tools):
            breakpoints[0] = "5m"
        out.append(("tools", canonical_json(plain), False))
    system = req.get("system")
    if system:
        out.append(("system", _blocks(system, breakpoints, len(out)), False))
    for m in req.get("messages") or []:
        if isinstance(m, dict):
            out.append((str(m.get("role") or "user"), _blocks(m.get("content"), breakpoints, len(out)), False))
    return out


class BedrockConverse(Source):
    name = "bedrock_converse"
    title = "Amazon Bedrock Converse API request/response log"
    enables = "cost (cache reads and writes), latency, messages (threads, prefixes, routing, trimming)"
    example = "bedrock_converse.jsonl"
    detected_by = "a response whose usage has inputTokens and outputTokens (camelCase), with output or stopReason"

    def sniff(self, obj: dict[str, Any]) -> bool:
        env = envelope(obj)
        if env is None:
            return False
        usage = env.response.get("usage")
        return (
            isinstance(usage, dict)
            and "inputTokens" in usage
            and "outputTokens" in usage
            and ("output" in env.response or "stopReason" in env.response)
        )

    def parse(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Request:
        env = envelope(obj)
        if env is None:
            raise RecordError("no request/response pair")
        req, resp = env.request, env.response
        model = first_str(obj.get("modelId"), req.get("modelId"), model_from_uri(_uri(obj)))
        if model is None:
            raise RecordError("no model id (modelId, or the request uri's /model/{modelId}/converse)")
        r = Request(model=model)
        apply_metadata(r, obj, env)
        r.provider = r.provider or "bedrock"
        r.request_id = first_str(obj.get("id"), obj.get("request_id"), obj.get("requestId"))
        r.ts_us = env.ts_us
        usage = resp.get("usage")
        if isinstance(usage, dict):
            uncached = count(usage.get("inputTokens"), "usage.inputTokens")
            read = count(usage.get("cacheReadInputTokens"), "usage.cacheReadInputTokens")
            write = count(usage.get("cacheWriteInputTokens"), "usage.cacheWriteInputTokens")
            r.input_tokens = uncached + read + write
            r.cache_read_tokens = read
            r.cache_write_5m_tokens = write
            r.output_tokens = count(usage.get("outputTokens"), "usage.outputTokens")
        elif r.status == "error":
            pass  # a failed call: counted, not billed
        else:
            raise RecordError("response has no usage")
        r.latency_ms = (
            r.latency_ms if r.latency_ms is not None else money(sub(resp, "metrics", "latencyMs"), "latencyMs")
        )
        r.endpoint = "converse"
        r.has_tools = bool(sub(req, "toolConfig", "tools"))
        r.messages = converse_messages(req, r.breakpoints)
        reply = sub(resp, "output", "message", "content")
        if reply is not None:
            r.messages.append(("assistant", text_of(reply), True))
        return r.check()
