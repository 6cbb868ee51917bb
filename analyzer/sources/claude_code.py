"""Claude Code session transcripts (`~/.claude/projects/<project>/<session>.jsonl`).

Each line is an event; assistant events carry the API call's `message.usage` (Anthropic's fields), the model,
`requestId` and the session. Claude Code writes one line per content block of a reply (thinking, text, each
tool_use), as the blocks stream in, sometimes with tool results between them: the call is keyed by message id +
request id, and its lines are one call, not more. The input and cache counts repeat on every line, but
`output_tokens` is a placeholder (1-9) on all but the last line, which holds the final count (Claude Code 2.1.x:
on a real session the first lines' output sums to 9,950 tokens, the last lines' to 49,482). So the last line of
the file with a given id is the one kept (`final_wins`), where ccusage keeps the first; a reply copied into
another file (a resumed session) stays one call. Transcripts hold the conversation, not the request bodies (no
system prompt or tool definitions), so they support cost, cache and session figures but not prefix analysis.
"""

from __future__ import annotations

from typing import Any

from analyzer.sources.anthropic import apply_anthropic_usage
from analyzer.sources.base import RecordError, Request, Source
from analyzer.sources.fields import first_str, money, sub, timestamp_us


class ClaudeCode(Source):
    name = "claude_code"
    title = "Claude Code session transcript (~/.claude/projects/*/*.jsonl)"
    enables = "cost, cache reads and 5m/1h writes, sessions and projects (no request bodies)"
    example = "claude_code_session.jsonl"
    detected_by = "lines with sessionId and a message (or a summary/system entry)"
    final_wins = True  # a reply's lines share its ids; the last holds the final output count

    def sniff(self, obj: dict[str, Any]) -> bool:
        return "sessionId" in obj and ("message" in obj or obj.get("type") in ("summary", "system"))

    def parse(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Request | None:
        msg = obj.get("message")
        usage = sub(msg, "usage")
        if not isinstance(msg, dict) or msg.get("role") != "assistant" or not isinstance(usage, dict):
            return None  # user turns, tool results and summaries are not API calls
        model = first_str(msg.get("model"))
        if model is None:
            raise RecordError("assistant message has no model")
        if model == "<synthetic>":
            return None  # Claude Code's own placeholder replies, never sent to the API
        r = Request(model=model, provider="anthropic", endpoint="claude-code")
        mid = first_str(msg.get("id"))
        rid = first_str(obj.get("requestId"))
        r.request_id = f"{mid}:{rid}" if mid and rid else mid or rid
        r.ts_us = timestamp_us(obj.get("timestamp"))
        r.conversation_id = first_str(obj.get("sessionId"))
        r.project = first_str(obj.get("cwd"))
        r.reported_cost = money(obj.get("costUSD"), "costUSD")
        r.tags = ["sidechain"] if obj.get("isSidechain") else None
        apply_anthropic_usage(r, usage)
        return r.check()
