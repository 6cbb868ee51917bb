"""OpenAI Chat Completions request/response logs, and OpenAI-compatible providers (DeepSeek, OpenRouter...).

One JSON object per call: `request` (the request body: model, messages, tools) and `response` (the response
body with `usage`), `timestamp` (unix seconds or ISO 8601) and optional `metadata` (user, conversation_id or
session_id, tags, api_key, project, feature). `request_body`/`response_body` are accepted too, as are the
HTTP-recorder wrappers (`{"request": {"uri", "body"}, "response": {"status", "body"}}`).
"""

from __future__ import annotations

from typing import Any

from analyzer.providers import guess_provider
from analyzer.sources.base import RecordError, Request, Source
from analyzer.sources.envelope import STREAMED, begin, envelope, pair, without_usage
from analyzer.sources.fields import breakpoint_ttl, canonical_json, count, first_str, money, text_of, timestamp_us
from analyzer.sources.hosts import compat_provider, provider_of_host


def chat_messages(req: dict[str, Any], breakpoints: dict[int, str] | None = None) -> list[tuple[str, str, bool]]:
    """Tools first (they lead the cached prefix), then the messages as sent."""
    out: list[tuple[str, str, bool]] = []
    tools = req.get("tools") or req.get("functions")
    if tools:
        out.append(("tools", canonical_json(tools), False))
    msgs = req.get("messages")
    if msgs is None and isinstance(req.get("prompt"), str):
        msgs = [{"role": "user", "content": req["prompt"]}]
    if msgs is None and req.get("input") is not None:  # Responses API
        inp = req["input"]
        msgs = [{"role": "user", "content": inp}] if isinstance(inp, str) else inp
        if isinstance(req.get("instructions"), str):
            out.append(("system", req["instructions"], False))
    if not isinstance(msgs, list):
        return out
    for m in msgs:
        if not isinstance(m, dict):
            continue
        role = str(m.get("role") or m.get("type") or "user")
        if role == "developer":
            role = "system"
        text = text_of(m.get("content"))
        if m.get("tool_calls"):
            text = (text + "\n" if text else "") + canonical_json(m["tool_calls"])
        elif m.get("function_call"):
            text = (text + "\n" if text else "") + canonical_json(m["function_call"])
        if breakpoints is not None and (ttl := breakpoint_ttl(m.get("content"))):
            breakpoints[len(out)] = ttl
        out.append((role, text, False))
    return out


def reply_messages(resp: dict[str, Any]) -> list[tuple[str, str, bool]]:
    choices = resp.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        msg = choices[0].get("message")
        if not isinstance(msg, dict):
            raise RecordError("choices[0].message is not an object")
        text = text_of(msg.get("content"))
        if msg.get("tool_calls"):
            text = (text + "\n" if text else "") + canonical_json(msg["tool_calls"])
        return [("assistant", text, True)]
    if isinstance(resp.get("output"), list):  # Responses API
        return [
            (
                "assistant",
                text_of(
                    [text_of(o.get("content")) if isinstance(o, dict) and "content" in o else o for o in resp["output"]]
                ),
                True,
            )
        ]
    return []


def apply_openai_usage(r: Request, usage: dict[str, Any]) -> None:
    """Every OpenAI-style usage variant: Chat Completions, Responses, DeepSeek's cache hit/miss fields."""
    prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
    hit = usage.get("prompt_cache_hit_tokens")
    miss = usage.get("prompt_cache_miss_tokens")
    if prompt is None and (hit is not None or miss is not None):
        prompt = count(hit, "prompt_cache_hit_tokens") + count(miss, "prompt_cache_miss_tokens")
    completion = usage.get("completion_tokens", usage.get("output_tokens"))
    if prompt is None and completion is None:
        raise RecordError("response has no usage token counts")
    r.input_tokens = count(prompt, "prompt_tokens")
    r.output_tokens = count(completion, "completion_tokens")
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    if cached is None:
        cached = hit
    r.cache_read_tokens = count(cached, "cached_tokens")
    if isinstance(details, dict):
        r.cache_write_5m_tokens = count(details.get("cache_write_tokens"), "cache_write_tokens")
    out_details = usage.get("completion_tokens_details") or usage.get("output_tokens_details") or {}
    if isinstance(out_details, dict):
        r.reasoning_tokens = count(out_details.get("reasoning_tokens"), "reasoning_tokens")
    if "cost" in usage:  # OpenRouter reports what it charged
        r.reported_cost = money(usage.get("cost"), "usage.cost")


class OpenAIChat(Source):
    name = "openai_chat"
    title = "OpenAI Chat Completions request/response log (and OpenAI-compatible providers)"
    enables = "cost, cached tokens, reasoning tokens, messages (threads, prefixes, routing, trimming); " + STREAMED
    example = "openai_chat.jsonl"
    detected_by = (
        "a request/response pair whose response is a chat.completion / response object or has usage.prompt_tokens"
    )

    def sniff(self, obj: dict[str, Any]) -> bool:
        if (env := envelope(obj)) is None:
            return False
        usage = env.response.get("usage")
        return (
            env.response.get("object") in ("chat.completion", "response", "text_completion")
            or (isinstance(usage, dict) and ("prompt_tokens" in usage or "prompt_cache_hit_tokens" in usage))
            or "messages" in env.request
            and "choices" in env.response
            or _unit_shape(env.request, env.response) is not None
            or _is_moderation(env.response)
        ) and env.response.get("type") != "message"

    def parse(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Request:
        env = pair(obj)
        req, resp = env.request, env.response
        model = first_str(resp.get("model"), req.get("model"))
        if model is None:
            raise RecordError("no model in request or response")
        r = begin(obj, env, model, ids=(resp.get("id"),))
        if r.ts_us is None:
            r.ts_us = created_us(resp)
        usage = resp.get("usage")
        r.messages = chat_messages(req, r.breakpoints) + reply_messages(resp)
        billed = _billed_units(req, resp)
        endpoint = None
        if billed is not None:  # a transcription's seconds, an image request's images: priced per unit
            r.units, r.unit, endpoint = billed
        elif usage is None and _is_moderation(resp):  # no tokens billed: the catalogue prices it at $0
            endpoint = "moderations"
        elif isinstance(usage, dict):
            apply_openai_usage(r, usage)
        else:  # a stream without include_usage, a cut stream, a timeout; a failure before the model ran
            without_usage(r, obj, env, reasoning=_reasoning(resp))
        if r.provider is None:
            # An OpenAI-shaped call is priced by who served it: the base URL it went to, else the marks the
            # server left in its body (Groq, DeepSeek, Cerebras, OpenRouter...), else the model's name. None:
            # an OpenAI-compatible server we cannot name.
            r.provider = provider_of_host(env.host) or compat_provider(resp, model) or guess_provider(model)
        r.service_tier = first_str(resp.get("service_tier"), req.get("service_tier"))
        r.batch = r.service_tier == "batch"
        r.endpoint = endpoint or ("responses" if resp.get("object") == "response" else "chat.completions")
        r.user = r.user or first_str(req.get("user"), req.get("safety_identifier"))
        r.has_tools = bool(req.get("tools") or req.get("functions"))
        return r.check()


def _reasoning(resp: dict[str, Any]) -> str:
    """The reasoning text a chat reply carries beside its content (DeepSeek's `reasoning_content`, the
    `reasoning` of OpenRouter, Groq and vLLM), billed as output."""
    choices = resp.get("choices")
    msg = choices[0].get("message") if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
    if not isinstance(msg, dict):
        return ""
    value = msg.get("reasoning_content", msg.get("reasoning"))
    return value if isinstance(value, str) else ""


def created_us(resp: dict[str, Any]) -> int | None:
    """The response's own creation time, used when the logger recorded none: Chat Completions say `created`,
    the Responses API `created_at` (Unix seconds). Embeddings responses carry none."""
    raw = resp.get("created")
    if raw in (None, ""):
        raw = resp.get("created_at")
    return timestamp_us(raw, "response.created")


def _unit_shape(req: dict[str, Any], resp: dict[str, Any]) -> str | None:
    """Which response of a call OpenAI bills by another unit than tokens this is (nothing is validated, so that
    sniffing never fails): "duration" (a transcription or translation reporting the seconds of audio it heard,
    `usage: {"type": "duration", "seconds": N}`), "verbose" (verbose_json's `duration`, from before `usage`
    existed), "images" (an image request without token usage, dall-e-2/3: one image per item of `data`)."""
    usage = resp.get("usage")
    if isinstance(usage, dict) and usage.get("type") == "duration":
        return "duration"
    if usage is None and resp.get("task") in ("transcribe", "translate") and "duration" in resp:
        return "verbose"
    data = resp.get("data")
    if (
        usage is None
        and isinstance(data, list)
        and data
        and all(isinstance(d, dict) and ("url" in d or "b64_json" in d) for d in data)
        and isinstance(req.get("prompt"), str)
    ):
        return "images"
    return None


def _billed_units(req: dict[str, Any], resp: dict[str, Any]) -> tuple[float, str, str] | None:
    """(units, unit, endpoint) of a call billed by another unit than tokens (see _unit_shape), or None; a count
    that is missing or not a number is a RecordError."""
    shape = _unit_shape(req, resp)
    if shape == "duration":
        seconds = money(resp["usage"].get("seconds"), "usage.seconds")
        if seconds is None:
            raise RecordError("transcription usage has no seconds")
        return seconds, "second", "audio.transcriptions"
    if shape == "verbose":
        seconds = money(resp.get("duration"), "duration")
        if seconds is None:
            raise RecordError("transcription has no duration")
        return seconds, "second", "audio.transcriptions" if resp["task"] == "transcribe" else "audio.translations"
    if shape == "images":
        return float(len(resp["data"])), "image", "images.generations"
    return None


def _is_moderation(resp: dict[str, Any]) -> bool:
    """An OpenAI moderation response (`modr-` id, `results` with `flagged`): it carries no usage; the catalogue
    prices the moderation models at $0."""
    results = resp.get("results")
    return (
        str(resp.get("id", "")).startswith("modr")
        and isinstance(results, list)
        and all(isinstance(x, dict) and "flagged" in x for x in results)
    )
