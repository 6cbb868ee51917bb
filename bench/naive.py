"""The naive baseline: json-parse every record and tokenize every message of every request (what a quick
script does), then price input and output at list prices.

    python bench/naive.py FILE...

Reads the generated logs (bench/make_log.py: OpenAI and Anthropic JSONL) and mini-swe-agent trajectories
(`*.traj.json`, `.gz` too: every assistant message is one call whose request is every message before it), and
Claude Code sessions (bench/make_sessions.py: each assistant record a call sending the session before it).
"""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Iterator
from typing import Any

from analyzer.tokens import encoding

PRICES = {  # USD per token: input, output
    "gpt-4o-2024-08-06": (2.5e-6, 1e-5),
    "gpt-4o-mini": (1.5e-7, 6e-7),
    "claude-sonnet-4-5-20250929": (3e-6, 1.5e-5),
    "deepseek-chat": (2.8e-7, 4.2e-7),
    "claude-3-sonnet-20240229": (3e-6, 1.5e-5),
}


def text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(b.get("text", "") for b in content or [] if isinstance(b, dict))


def calls(path: str) -> Iterator[tuple[str, list[dict[str, Any]], dict[str, Any]]]:
    """(model, request messages, usage) per call."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as fh:
        if ".traj.json" in path:
            msgs = json.load(fh)["messages"]
            for k, m in enumerate(msgs):
                if m.get("role") == "assistant":
                    resp = m["extra"]["response"]
                    yield resp["model"], msgs[:k], resp["usage"]
            return
        history: list[dict[str, Any]] = []
        for line in fh:
            rec = json.loads(line)
            if (
                "sessionId" in rec or rec.get("type") == "summary"
            ):  # a Claude Code session: each assistant record a call sending the session so far
                msg = rec.get("message") or {}
                if rec.get("type") == "assistant" and "usage" in msg:
                    yield msg["model"], list(history), msg["usage"]
                history.append(msg)
                continue
            req = rec["request"]
            msgs = list(req.get("messages", []))
            if req.get("system"):
                msgs.insert(0, {"content": req["system"]})
            yield req["model"], msgs, rec["response"]["usage"]


def main() -> None:
    enc = encoding("o200k_base")
    counted = reported = 0
    cost = 0.0
    n = 0
    for path in sys.argv[1:]:
        for model, msgs, usage in calls(path):
            counted += sum(len(enc.encode_ordinary(text(m.get("content")))) for m in msgs)
            inp = usage.get("prompt_tokens", usage.get("input_tokens", 0))
            out = usage.get("completion_tokens", usage.get("output_tokens", 0))
            reported += inp
            pin, pout = PRICES.get(model, (0.0, 0.0))
            cost += inp * pin + out * pout
            n += 1
    print(f"{n} calls, {counted} tokens counted, {reported} reported input tokens, ${cost:,.2f}")


if __name__ == "__main__":
    main()
