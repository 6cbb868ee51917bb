"""mini-swe-agent trajectories (`*.traj.json`): one file per agent run, every assistant message one API call.

The file is `{info: {model_stats, config: {agent, model}}, messages: [...], trajectory_format, instance_id}`.
An assistant message carries `extra.response` (the provider's raw OpenAI-compatible response, usage included),
`extra.cost` (what the agent computed) and `extra.timestamp` (unix seconds). The request of call k is the
message list before assistant message k, so a run is a thread whose context grows by every tool result: the
traffic shape of coding agents, with the provider's own cache-hit counts (DeepSeek's `prompt_cache_hit_tokens`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from analyzer.providers import guess_provider
from analyzer.sources.base import RecordError, Request, Source
from analyzer.sources.fields import first_str, money, sub, timestamp_us
from analyzer.sources.openai_chat import apply_openai_usage, chat_messages, reply_messages


class MiniSweAgentTrajectory(Source):
    name = "mini_swe_agent_traj"
    title = "mini-swe-agent / SWE-agent trajectory (*.traj.json: one run, every assistant message one call)"
    enables = "cost (and the agent's own), cache reads as the provider reported, messages (threads, prefixes, replays)"
    example = "tests/fixtures/mini_swe_agent.traj.json.gz"  # one real run; 31 calls
    detected_by = 'a trajectory whose trajectory_format starts with "mini-swe-agent" and has messages'

    def sniff(self, obj: dict[str, Any]) -> bool:
        fmt = obj.get("trajectory_format")
        return isinstance(fmt, str) and fmt.startswith("mini-swe-agent") and isinstance(obj.get("messages"), list)

    def explode(self, obj: dict[str, Any]) -> Iterator[tuple[int, Any]]:
        """(message number, one call's record) for every assistant message of the run."""
        msgs = obj.get("messages")
        if not isinstance(msgs, list):
            yield 0, {"_traj_error": "trajectory has no messages list"}
            return
        run = first_str(obj.get("instance_id"), sub(obj, "info", "instance_id"))
        exit_status = first_str(sub(obj, "info", "exit_status"))  # how the run ended ("Submitted", ...)
        # each message normalised once: call k re-sends messages 0..k-1, so per call it would be quadratic
        norm: list[tuple[str, str, bool]] = []
        ends: list[int] = []
        for m in msgs:
            norm += chat_messages({"messages": [m]}) if isinstance(m, dict) else []
            ends.append(len(norm))
        for k, m in enumerate(msgs):
            if isinstance(m, dict) and m.get("role") == "assistant":
                yield (
                    k + 1,
                    {
                        "_traj_call": k,
                        "_run": run,
                        "_exit": exit_status,
                        "_before": msgs[:k],
                        "_reply": m,
                        "_norm": norm[: ends[k - 1] if k else 0],
                    },
                )

    def parse(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Request | None:
        if "_traj_error" in obj:
            raise RecordError(obj["_traj_error"])
        if "_traj_call" not in obj:  # the run as one document, read without its calls split out (--format)
            raise RecordError("a trajectory document, not one call (read it as a file)")
        reply = obj["_reply"]
        extra = reply.get("extra")
        resp = sub(extra, "response")
        if not isinstance(resp, dict):
            raise RecordError("assistant message has no extra.response (the provider's response)")
        model = first_str(resp.get("model"))
        if model is None:
            raise RecordError("response has no model")
        r = Request(model=model)
        usage = resp.get("usage")
        if not isinstance(usage, dict):
            raise RecordError("response has no usage")
        apply_openai_usage(r, usage)
        r.provider = "deepseek" if "prompt_cache_hit_tokens" in usage else guess_provider(model)
        r.request_id = first_str(resp.get("id"))
        if r.request_id is None and obj["_run"]:
            r.request_id = f"{obj['_run']}:{obj['_traj_call']}"
        r.ts_us = timestamp_us(extra.get("timestamp"), "extra.timestamp")
        if r.ts_us is None:
            r.ts_us = timestamp_us(resp.get("created"), "response.created")
        r.reported_cost = money(extra.get("cost"), "extra.cost")
        r.conversation_id = obj["_run"]
        r.feature = "mini-swe-agent"
        if obj.get("_exit"):  # the run's outcome on each of its calls, for the cost per successful task
            r.tags = [f"exit_status:{obj['_exit']}"]
        r.endpoint = "chat.completions"
        r.has_tools = any(isinstance(m, dict) and m.get("role") == "tool" for m in obj["_before"]) or bool(
            reply.get("tool_calls")
        )
        before = obj["_norm"] if "_norm" in obj else chat_messages({"messages": obj["_before"]})
        r.messages = before + reply_messages(resp)
        return r.check()
