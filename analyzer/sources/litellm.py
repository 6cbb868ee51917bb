"""LiteLLM logs: the StandardLoggingPayload its callbacks write (S3, GCS, files; one object per call) and
the LiteLLM_SpendLogs row its proxy stores.

LiteLLM normalises every provider to OpenAI-style usage. For Anthropic models its `prompt_tokens` already
includes cache reads and writes; when a payload's cache counts exceed `prompt_tokens`, the provider's
uncached count was logged instead and the cache counts are added back.
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson

from analyzer.providers import guess_provider
from analyzer.sources.base import RecordError, Request, Source
from analyzer.sources.fields import as_object, count, first_str, money, str_list, sub, timestamp_us
from analyzer.sources.openai_chat import chat_messages, reply_messages


def _usage(r: Request, usage: dict[str, Any] | None, obj: dict[str, Any]) -> None:
    usage = usage if isinstance(usage, dict) else {}
    prompt = usage.get("prompt_tokens", obj.get("prompt_tokens"))
    completion = usage.get("completion_tokens", obj.get("completion_tokens"))
    if prompt is None and completion is None:
        raise RecordError("no prompt_tokens/completion_tokens")
    r.input_tokens = count(prompt, "prompt_tokens")
    r.output_tokens = count(completion, "completion_tokens")
    details = usage.get("prompt_tokens_details") or {}
    read = usage.get("cache_read_input_tokens")
    if read is None and isinstance(details, dict):
        read = details.get("cached_tokens")
    write = usage.get("cache_creation_input_tokens")
    if write is None and isinstance(details, dict):
        write = details.get("cache_creation_tokens")
    r.cache_read_tokens = count(read, "cache_read_input_tokens")
    r.cache_write_5m_tokens = count(write, "cache_creation_input_tokens")
    # LiteLLM's usage conversion keeps Anthropic's 5-minute / 1-hour split of the writes here.
    split = details.get("cache_creation_token_details") if isinstance(details, dict) else None
    if isinstance(split, dict) and split.get("ephemeral_1h_input_tokens"):
        w1 = count(split.get("ephemeral_1h_input_tokens"), "cache_creation_token_details.ephemeral_1h_input_tokens")
        if w1 > r.cache_write_5m_tokens:
            raise RecordError(f"1-hour cache writes ({w1}) exceed cache writes ({r.cache_write_5m_tokens})")
        r.cache_write_5m_tokens -= w1
        r.cache_write_1h_tokens = w1
    writes = r.cache_write_5m_tokens + r.cache_write_1h_tokens
    if r.cache_read_tokens + writes > r.input_tokens:
        r.input_tokens += r.cache_read_tokens + writes
    geo = usage.get("inference_geo")
    if isinstance(geo, str) and geo not in ("", "not_available"):
        r.inference_geo = geo
    r.speed = first_str(usage.get("speed")) or r.speed
    r.service_tier = first_str(usage.get("service_tier")) or r.service_tier
    out_details = usage.get("completion_tokens_details") or {}
    if isinstance(out_details, dict):
        r.reasoning_tokens = count(out_details.get("reasoning_tokens"), "reasoning_tokens")


def _messages(messages: Any, response: Any) -> list[tuple[str, str, bool]]:
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    out = chat_messages({"messages": messages}) if isinstance(messages, list) else []
    if isinstance(response, dict):
        out += reply_messages(response)
    return out


class LiteLLMPayload(Source):
    name = "litellm_payload"
    title = "LiteLLM StandardLoggingPayload (callback/S3/GCS/file logs)"
    enables = "cost (LiteLLM's and ours), keys/teams/users/tags, cached tokens, messages when logged"
    example = "litellm_standard_logging_payload.json"
    detected_by = "objects with call_type, startTime and response_cost (or model_map_information / hidden_params)"

    def sniff(self, obj: dict[str, Any]) -> bool:
        return (
            "call_type" in obj
            and "startTime" in obj
            and ("response_cost" in obj or "model_map_information" in obj or "hidden_params" in obj)
        )

    def parse(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Request:
        model = first_str(
            sub(obj, "hidden_params", "litellm_model_name"), obj.get("model"), sub(obj, "response", "model")
        )
        if model is None:
            raise RecordError("no model")
        meta = as_object(obj.get("metadata"))
        r = Request(model=model)
        r.request_id = first_str(obj.get("id"))
        r.provider = first_str(obj.get("custom_llm_provider")) or guess_provider(model)
        start = timestamp_us(obj.get("startTime"), "startTime")
        end = timestamp_us(obj.get("endTime"), "endTime")
        r.ts_us = start
        if start is not None and end is not None and end >= start:
            r.latency_ms = (end - start) / 1000
        r.api_key = first_str(meta.get("user_api_key_alias"), meta.get("user_api_key_hash"))
        r.project = first_str(meta.get("user_api_key_team_alias"), meta.get("user_api_key_team_id"))
        r.user = first_str(obj.get("end_user"), meta.get("user_api_key_end_user_id"), meta.get("user_api_key_user_id"))
        r.tags = str_list(obj.get("request_tags"))
        spend_meta = as_object(meta.get("spend_logs_metadata"))
        r.conversation_id = first_str(spend_meta.get("session_id"), sub(meta, "requester_metadata", "session_id"))
        r.feature = first_str(spend_meta.get("feature"), obj.get("model_group"))
        r.reported_cost = money(obj.get("response_cost"), "response_cost")
        if obj.get("status") == "failure":
            r.status = "error"
        elif obj.get("cache_hit") is True:
            r.status = "proxy_cache_hit"  # served by LiteLLM's own cache: the provider was not called
        response = obj.get("response")
        _usage(r, sub(response, "usage"), obj)
        r.endpoint = first_str(obj.get("call_type"))
        r.batch = "batch" in (r.endpoint or "")
        r.has_tools = bool(sub(obj, "model_parameters", "tools"))
        r.messages = _messages(obj.get("messages"), response)
        return r.check()


class LiteLLMSpendLog(Source):
    name = "litellm_spend_log"
    title = "LiteLLM proxy LiteLLM_SpendLogs row"
    enables = "cost (LiteLLM's and ours), keys/teams/users/tags, sessions, cached tokens"
    example = "litellm_spend_log.json"
    detected_by = "objects with request_id, spend and startTime"

    def sniff(self, obj: dict[str, Any]) -> bool:
        return "request_id" in obj and "spend" in obj and "startTime" in obj

    def parse(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Request:
        model = first_str(obj.get("model"))
        if model is None:
            raise RecordError("no model")
        meta = obj.get("metadata")
        if isinstance(meta, str):
            try:
                meta = orjson.loads(meta)
            except orjson.JSONDecodeError:
                meta = {}
        meta = meta if isinstance(meta, dict) else {}
        r = Request(model=model)
        r.request_id = first_str(obj.get("request_id"))
        r.provider = first_str(obj.get("custom_llm_provider")) or guess_provider(model)
        r.ts_us = timestamp_us(obj.get("startTime"), "startTime")
        end = timestamp_us(obj.get("endTime"), "endTime")
        if r.ts_us is not None and end is not None and end >= r.ts_us:
            r.latency_ms = (end - r.ts_us) / 1000
        r.api_key = first_str(meta.get("user_api_key_alias"), obj.get("api_key"))
        r.project = first_str(meta.get("user_api_key_team_alias"), obj.get("team_id"))
        r.user = first_str(obj.get("end_user"), obj.get("user"))
        tags = obj.get("request_tags")
        if isinstance(tags, str):
            try:
                tags = orjson.loads(tags)
            except orjson.JSONDecodeError:
                tags = [tags]
        r.tags = str_list(tags)
        r.conversation_id = first_str(obj.get("session_id"))
        r.reported_cost = money(obj.get("spend"), "spend")
        if str(obj.get("status", "success")) == "failure":
            r.status = "error"
        elif str(obj.get("cache_hit")) == "True":
            r.status = "proxy_cache_hit"
        _usage(r, meta.get("usage_object"), obj)
        r.endpoint = first_str(obj.get("call_type"))
        msgs = obj.get("messages")
        resp = obj.get("response")
        if isinstance(msgs, str) and msgs.startswith(("[", "{")):
            with contextlib.suppress(orjson.JSONDecodeError):
                msgs = orjson.loads(msgs)
        if isinstance(resp, str) and resp.startswith("{"):
            try:
                resp = orjson.loads(resp)
            except orjson.JSONDecodeError:
                resp = None
        r.messages = _messages(msgs, resp) if msgs not in (None, "", {}, []) else []
        return r.check()
