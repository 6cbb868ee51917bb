"""Google Gemini / Vertex AI `generateContent` request/response logs.

The same envelope as the other request logs, or an HTTP recording whose request `uri` ends in
`models/{model}:generateContent` (Gemini API) or `.../publishers/google/models/{model}:generateContent`
(Vertex AI). `usageMetadata`: `promptTokenCount` includes the tokens served from a cache
(`cachedContentTokenCount`); `candidatesTokenCount` excludes the thinking tokens (`thoughtsTokenCount`),
which are billed as output; `toolUsePromptTokenCount` is input too. Calls that manage explicit caches
(`cachedContents` create/delete) generate nothing and carry no per-token usage: they are passed over (their
hourly storage cost is not modelled). A call that reads such a cache sends only the uncached rest of its
prompt: it is read for its tokens and cost, without messages.
"""

from __future__ import annotations

from typing import Any

from analyzer.sources.base import RecordError, Request, Source
from analyzer.sources.envelope import STREAMED, begin, envelope, pair, without_usage
from analyzer.sources.fields import canonical_json, count, first_str, sub, text_of, timestamp_us


def model_from_uri(uri: str) -> str | None:
    if "/models/" not in uri or ":" not in uri.rsplit("/models/", 1)[1]:
        return None
    return uri.rsplit("/models/", 1)[1].split(":", 1)[0] or None


def _parts(content: Any) -> str:
    parts = content.get("parts") if isinstance(content, dict) else content
    return text_of(parts if isinstance(parts, list) else content)


def gemini_messages(req: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """In cache-prefix order: tools, system instruction, contents (role "model" is the assistant)."""
    out: list[tuple[str, str, bool]] = []
    if req.get("tools"):
        out.append(("tools", canonical_json(req["tools"]), False))
    system = req.get("systemInstruction", req.get("system_instruction"))
    if system:
        out.append(("system", _parts(system), False))
    contents = req.get("contents") or []
    if not isinstance(contents, list):
        raise RecordError("request.contents is not a list")
    for c in contents:
        if isinstance(c, dict):
            role = "assistant" if c.get("role") == "model" else str(c.get("role") or "user")
            out.append((role, _parts(c), False))
    return out


class GeminiGenerateContent(Source):
    name = "gemini_generate_content"
    title = "Google Gemini / Vertex AI generateContent request/response log"
    enables = (
        "cost (implicit and explicit cache reads, thinking tokens), messages (threads, prefixes, routing); " + STREAMED
    )
    example = "gemini_generate_content.jsonl"
    detected_by = (
        "a response with usageMetadata (promptTokenCount / candidatesTokenCount), or a streamGenerateContent "
        "stream of such chunks"
    )

    def sniff(self, obj: dict[str, Any]) -> bool:
        if (env := envelope(obj)) is None:
            return False
        um = env.response.get("usageMetadata")
        return (isinstance(um, dict) and ("promptTokenCount" in um or "candidatesTokenCount" in um)) or (
            env.stream is not None and env.stream.kind == "gemini"
        )

    def parse(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Request | None:
        env = pair(obj)
        req, resp = env.request, env.response
        uri = env.uri
        if "/cachedContents" in uri or str(resp.get("name", "")).startswith("cachedContents/"):
            return None  # cache management, not a generation
        model = first_str(resp.get("modelVersion"), req.get("model"), model_from_uri(uri))
        if model is None:
            raise RecordError("no model (modelVersion, request model, or the uri's models/{model}:generateContent)")
        r = begin(obj, env, model.removeprefix("models/"), provider="google", ids=(resp.get("responseId"),))
        if r.ts_us is None:  # Vertex AI responses date themselves (`createTime`, RFC 3339) where the logger did not
            r.ts_us = timestamp_us(resp.get("createTime"), "response.createTime")
        um = resp.get("usageMetadata")
        partial = env.stream is not None and env.stream.output_partial
        if isinstance(um, dict):
            prompt = count(um.get("promptTokenCount"), "usageMetadata.promptTokenCount")
            tool = count(um.get("toolUsePromptTokenCount"), "usageMetadata.toolUsePromptTokenCount")
            thoughts = count(um.get("thoughtsTokenCount"), "usageMetadata.thoughtsTokenCount")
            r.input_tokens = prompt + tool
            r.cache_read_tokens = count(um.get("cachedContentTokenCount"), "usageMetadata.cachedContentTokenCount")
            r.output_tokens = count(um.get("candidatesTokenCount"), "usageMetadata.candidatesTokenCount") + thoughts
            r.reasoning_tokens = thoughts
            tier = first_str(um.get("serviceTier"))
            r.service_tier = tier if tier in ("priority", "flex") else None
        r.endpoint = "streamGenerateContent" if env.stream is not None else "generateContent"
        r.has_tools = bool(req.get("tools"))
        # A call that reads an explicit cache (`cachedContent`) sends only what follows the cached part: its
        # body is not the prompt the model saw, so it is kept without messages (cost and tokens only) rather
        # than fed to the prefix analysis and the cache replay as if the cached tokens were missing.
        if not req.get("cachedContent"):
            r.messages = gemini_messages(req)
            reply = sub(resp, "candidates")
            if isinstance(reply, list) and reply and isinstance(reply[0], dict):
                r.messages.append(("assistant", _parts(reply[0].get("content")), True))
        if not isinstance(um, dict) or partial:
            # a stream cut before its finishing chunk: the prompt count is exact, the output is counted from text
            if not isinstance(um, dict) and not r.messages:
                r.messages = gemini_messages(req)
            without_usage(r, obj, env, keep_input=isinstance(um, dict))
        return r.check()
