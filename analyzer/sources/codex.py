"""OpenAI Codex CLI session files (`~/.codex/sessions/**/*.jsonl`).

Each line is `{timestamp, type, payload}`. `turn_context` lines name the model; `event_msg` lines whose payload
is `token_count` carry `info.last_token_usage` (this call) and `info.total_token_usage` (the session so far),
each `{input_tokens, cached_input_tokens, output_tokens, reasoning_output_tokens, total_tokens}`. Codex writes
each event twice (same `total_token_usage` and `last_token_usage`, a second or two apart; 27 of 55 events on a
real 0.104 rollout): an event counts as a call only when the running total moved from the previous event of the
same file (a total that drops, after a resume or compaction, is a move). A call's usage is `last_token_usage`,
or, when only totals were written, the difference from the previous totals of the same file; an all-zero delta
is no call. `input_tokens` includes the cached part and `output_tokens` includes `reasoning_output_tokens`
(OpenAI's convention: reasoning is billed once, as output, not on top of it). A token_count before any model is
named is kept under the model "unknown" (listed as unpriced) rather than guessed. Other lines (messages, tool
calls) are passed over: the session id is the file name, and no message text is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analyzer.sources.base import RecordError, Request, Source
from analyzer.sources.fields import as_object, count, first_str, sub, timestamp_us

_FIELDS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")


def _usage(value: Any, name: str) -> dict[str, int] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RecordError(f"{name} is not an object")
    cached = value.get("cached_input_tokens", value.get("cache_read_input_tokens"))
    return {
        "input_tokens": count(value.get("input_tokens"), f"{name}.input_tokens"),
        "cached_input_tokens": count(cached, f"{name}.cached_input_tokens"),
        "output_tokens": count(value.get("output_tokens"), f"{name}.output_tokens"),
        "reasoning_output_tokens": count(value.get("reasoning_output_tokens"), f"{name}.reasoning_output_tokens"),
    }


def _model(payload: dict[str, Any]) -> str | None:
    info = as_object(payload.get("info"))
    return first_str(info.get("model"), info.get("model_name"), sub(info, "metadata", "model"), payload.get("model"))


class CodexSession(Source):
    name = "codex_session"
    title = "OpenAI Codex CLI session JSONL (token_count events)"
    enables = "cost per call, cached input, reasoning tokens, sessions (no message text read)"
    example = "codex_session.jsonl"
    detected_by = 'lines {"type": "turn_context" | "event_msg", "payload": ...} with token_count events'
    sequential = True  # a call's tokens are the difference of running totals, and the model comes from earlier

    def sniff(self, obj: dict[str, Any]) -> bool:
        payload = obj.get("payload")
        if not isinstance(payload, dict) or "timestamp" not in obj:
            return False
        return (obj.get("type") == "event_msg" and payload.get("type") == "token_count") or (
            obj.get("type") == "turn_context" and "model" in payload
        )

    def parse(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Request | None:
        path = str(ctx.get("path", ""))
        state = ctx.setdefault("codex", {}).setdefault(path, {"model": None, "totals": None})
        payload = obj.get("payload")
        if not isinstance(payload, dict):
            return None  # not a Codex event line: nothing to count
        if obj.get("type") == "turn_context":
            state["model"] = first_str(payload.get("model")) or state["model"]
            return None
        if obj.get("type") != "event_msg" or payload.get("type") != "token_count":
            return None
        info = payload.get("info")
        if info is None:
            return None  # Codex writes token_count with no info before the first call (rate limits only)
        if not isinstance(info, dict):
            raise RecordError("token_count info is not an object")
        last = _usage(info.get("last_token_usage"), "last_token_usage")
        total = _usage(info.get("total_token_usage"), "total_token_usage")
        if total is not None and total == state["totals"]:
            return None  # the running total did not move: Codex wrote the previous event again, no new call
        usage = last
        if usage is None and total is not None:
            prev = state["totals"] or dict.fromkeys(_FIELDS, 0)
            usage = {k: max(total[k] - prev[k], 0) for k in _FIELDS}
        if total is not None:
            state["totals"] = total
        if usage is None:
            raise RecordError("token_count has neither last_token_usage nor total_token_usage")
        if not any(usage.values()):
            return None  # repeated totals: no new call
        model = _model(payload) or state["model"]
        state["model"] = model or state["model"]
        ts = timestamp_us(obj.get("timestamp"))
        if ts is None:
            raise RecordError("token_count has no timestamp")
        r = Request(model=model or "unknown", provider="openai", ts_us=ts)
        r.input_tokens = usage["input_tokens"]
        # Unlike ccusage, which clamps, a cached count above the input is rejected: the line is inconsistent.
        r.cache_read_tokens = usage["cached_input_tokens"]
        r.output_tokens = usage["output_tokens"]
        r.reasoning_tokens = usage["reasoning_output_tokens"]
        r.conversation_id = Path(path).stem if path else None
        r.endpoint = "codex"
        return r.check()
