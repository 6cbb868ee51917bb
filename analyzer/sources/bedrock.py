"""Amazon Bedrock: Converse API request/response logs, and model invocation logging records.

The same envelope as the other request logs (`request`, `response`, optional `timestamp` and `metadata`), or an
HTTP recording whose request `uri` is `.../model/{modelId}/converse`. The response's `usage` counts
`inputTokens` without the cache (`totalTokens` = input + output + cache reads + cache writes), so the canonical
input adds `cacheReadInputTokens` and `cacheWriteInputTokens` back. Messages are `system`, `messages` and
`toolConfig.tools` as Converse sends them; `cachePoint` blocks mark cache breakpoints (5 minutes unless a `ttl`
is given) and are not content.

Model invocation logging (CloudWatch Logs or S3) writes one record per call: `schemaType`
"ModelInvocationLog", `timestamp`, `requestId`, `operation`, `modelId` (an id or an ARN), `identity.arn`,
`requestMetadata`, `input {inputBodyJson, inputTokenCount, cacheReadInputTokenCount,
cacheWriteInputTokenCount}` and `output {outputBodyJson, outputTokenCount}`; as in Converse, inputTokenCount
leaves the cache out.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from analyzer.sources.base import RecordError, Request, Source
from analyzer.sources.bedrock_invoke import (
    apply_counts,
    converse_messages,
    invoke_messages,
    invoke_reply,
    parse_invoke_pair,
)
from analyzer.sources.envelope import STREAMED, begin, envelope, is_invoke_uri, pair, without_usage
from analyzer.sources.fields import as_object, count, first_str, money, str_list, sub, text_of, timestamp_us


def model_from_uri(uri: str) -> str | None:
    """`.../model/us.anthropic.claude-...-v1%3A0/converse` -> the model id, percent-decoded."""
    if "/model/" not in uri:
        return None
    return unquote(uri.split("/model/", 1)[1].split("/", 1)[0]) or None


class BedrockConverse(Source):
    name = "bedrock_converse"
    title = "Amazon Bedrock Converse API request/response log"
    enables = "cost (cache reads and writes), latency, messages (threads, prefixes, routing, trimming); " + STREAMED
    example = "bedrock_converse.jsonl"
    detected_by = (
        "a response whose usage has inputTokens and outputTokens (camelCase), with output or stopReason; or a "
        "ConverseStream event list (messageStart, contentBlockDelta, messageStop, metadata)"
    )

    def sniff(self, obj: dict[str, Any]) -> bool:
        if (env := envelope(obj)) is None:
            return False
        usage = env.response.get("usage")
        return (
            not is_invoke_uri(env.uri)
            and isinstance(usage, dict)
            and "inputTokens" in usage
            and "outputTokens" in usage
            and ("output" in env.response or "stopReason" in env.response)
        ) or (env.stream is not None and env.stream.kind == "bedrock")

    def parse(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Request:
        env = pair(obj)
        req, resp = env.request, env.response
        model = first_str(obj.get("modelId"), req.get("modelId"), model_from_uri(env.uri))
        if model is None:
            raise RecordError("no model id (modelId, or the request uri's /model/{modelId}/converse)")
        if is_invoke_uri(env.uri):  # an InvokeModel call in a file of Converse calls: its body is the family's own
            return parse_invoke_pair(obj, model)
        r = begin(obj, env, model, provider="bedrock", ids=(obj.get("requestId"),))
        usage = resp.get("usage")
        if isinstance(usage, dict):
            if "inputTokens" not in usage and "outputTokens" not in usage:
                # e.g. an Anthropic body (usage.input_tokens): never read as a 0-token Converse call
                keys = ", ".join(sorted(map(str, usage))[:6])
                raise RecordError(f"usage has no inputTokens/outputTokens (not a Converse usage: keys {keys})")
            uncached = count(usage.get("inputTokens"), "usage.inputTokens")
            read = count(usage.get("cacheReadInputTokens"), "usage.cacheReadInputTokens")
            write = count(usage.get("cacheWriteInputTokens"), "usage.cacheWriteInputTokens")
            r.input_tokens = uncached + read + write
            r.cache_read_tokens = read
            r.cache_write_5m_tokens = write
            r.output_tokens = count(usage.get("outputTokens"), "usage.outputTokens")
        r.latency_ms = (
            r.latency_ms if r.latency_ms is not None else money(sub(resp, "metrics", "latencyMs"), "latencyMs")
        )
        r.endpoint = "converse-stream" if env.stream is not None else "converse"
        r.has_tools = bool(sub(req, "toolConfig", "tools"))
        r.messages = converse_messages(req, r.breakpoints, r.breakpoint_blocks)
        reply = sub(resp, "output", "message", "content")
        if reply is not None:
            r.messages.append(("assistant", text_of(reply), True))
        if not isinstance(usage, dict):  # a stream cut before its metadata event, a timeout; or a failed call
            without_usage(r, obj, env)
        return r.check()


class BedrockInvokeModel(Source):
    name = "bedrock_invoke_model"
    title = "Amazon Bedrock InvokeModel request/response log (each model family's native body)"
    enables = "cost (Anthropic and Nova cache reads and writes), latency, messages (threads, prefixes)"
    example = "tests/fixtures/bedrock_invoke_model_pairs.json"
    detected_by = "a request/response pair whose request uri is .../model/{modelId}/invoke"

    def sniff(self, obj: dict[str, Any]) -> bool:
        env = envelope(obj)
        return env is not None and is_invoke_uri(env.uri)

    def parse(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Request:
        env = pair(obj)
        model = first_str(obj.get("modelId"), model_from_uri(env.uri))
        if model is None:
            raise RecordError("no model id (modelId, or the request uri's /model/{modelId}/invoke)")
        if not is_invoke_uri(env.uri):
            return BedrockConverse().parse(obj, ctx)  # a Converse call in a file of InvokeModel calls
        return parse_invoke_pair(obj, model)


def _invocation_model(model_id: str) -> str:
    """A foundation-model ARN names the model after `foundation-model/`; an inference-profile ARN names none
    (left as is: unpriced, and listed as such)."""
    return model_id.split("foundation-model/", 1)[1] if "foundation-model/" in model_id else model_id


class BedrockInvocationLog(Source):
    name = "bedrock_invocation_log"
    title = "Amazon Bedrock model invocation logging records (CloudWatch Logs / S3: schemaType ModelInvocationLog)"
    enables = (
        "cost per call (cache reads and writes), callers (identity.arn) and requestMetadata tags; messages when "
        "text delivery is on (threads, prefixes)"
    )
    example = "bedrock_invocation_log.jsonl"
    detected_by = '"schemaType": "ModelInvocationLog"'

    def sniff(self, obj: dict[str, Any]) -> bool:
        return obj.get("schemaType") == "ModelInvocationLog"

    def parse(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Request:
        model_id = first_str(obj.get("modelId"))
        if model_id is None:
            raise RecordError("record has no modelId")
        inp = as_object(obj.get("input"))
        out = as_object(obj.get("output"))
        r = Request(model=_invocation_model(model_id), provider="bedrock")
        r.request_id = first_str(obj.get("requestId"))
        r.ts_us = timestamp_us(obj.get("timestamp"))
        # The metered counts where the record has them (inputTokenCount excludes the cache, as the Converse
        # response's inputTokens does); the response body's usage, read by model family, for what they leave out.
        # Neither: a reject with its reason, never a 0-token call.
        apply_counts(
            r,
            out.get("outputBodyJson"),
            (inp.get("inputTokenCount"), "input.inputTokenCount"),
            (out.get("outputTokenCount"), "output.outputTokenCount"),
            (inp.get("cacheReadInputTokenCount"), "input.cacheReadInputTokenCount"),
            (inp.get("cacheWriteInputTokenCount"), "input.cacheWriteInputTokenCount"),
        )
        r.user = first_str(sub(obj, "identity", "arn"))
        r.tags = str_list(obj.get("requestMetadata"))
        r.endpoint = first_str(obj.get("operation"))
        body = inp.get("inputBodyJson")
        if isinstance(body, dict):
            r.has_tools = bool(sub(body, "toolConfig", "tools") or body.get("tools"))
            r.messages = invoke_messages(body, r.breakpoints, r.breakpoint_blocks)
        reply = out.get("outputBodyJson")
        if isinstance(reply, dict):
            text = invoke_reply(reply)
            if text is not None:
                r.messages.append(("assistant", text, True))
        return r.check()
