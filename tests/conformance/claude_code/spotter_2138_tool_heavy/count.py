"""Hand count of Claude Code session transcripts (stdlib only, shares no code with the project under test).

A call is an assistant line (`message.role` "assistant" with a `message.usage`), keyed by `message.id` +
`requestId`: Claude Code writes one line per content block of a reply, and every line of a reply repeats the
input and cache counts while `output_tokens` is a placeholder on all but the last line. So a call's usage is
that of the LAST line of the file with its key. `input_tokens` here is the whole prompt: Anthropic's
`input_tokens` (uncached) + `cache_creation_input_tokens` + `cache_read_input_tokens`. Cache writes are split by
TTL with `usage.cache_creation.ephemeral_5m_input_tokens` / `ephemeral_1h_input_tokens`.

Prices: Anthropic's pricing page (https://docs.anthropic.com/en/docs/about-claude/pricing), USD per million tokens
(base input / 5-minute cache write / 1-hour cache write / cache read / output):
Claude Opus 4.6 5 / 6.25 / 10 / 0.50 / 25; Claude Haiku 4.5 1 / 1.25 / 2 / 0.10 / 5. The lines' `inference_geo`
("global", "not_available" or empty) is standard (global) pricing.
"""

import json
from pathlib import Path

PRICES = {
    "claude-opus-4-6": {"input": 5.0, "write_5m": 6.25, "write_1h": 10.0, "read": 0.50, "output": 25.0},
    "claude-haiku-4-5-20251001": {"input": 1.0, "write_5m": 1.25, "write_1h": 2.0, "read": 0.10, "output": 5.0},
}

final = {}  # (file, message id, request id) -> (model, usage of the last line)
for path in sorted(Path(".").glob("*.jsonl")):
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        message = entry.get("message")
        if not isinstance(message, dict) or message.get("role") != "assistant":
            continue
        if not isinstance(message.get("usage"), dict) or message.get("model") == "<synthetic>":
            continue
        final[(path.name, message["id"], entry["requestId"])] = (message["model"], message["usage"])

totals = {"uncached": 0, "read": 0, "write_5m": 0, "write_1h": 0, "output": 0}
cost = 0.0
for model, usage in final.values():
    creation = usage.get("cache_creation") or {}
    part = {
        "uncached": usage["input_tokens"],
        "read": usage.get("cache_read_input_tokens") or 0,
        "write_5m": creation.get("ephemeral_5m_input_tokens") or 0,
        "write_1h": creation.get("ephemeral_1h_input_tokens") or 0,
        "output": usage["output_tokens"],
    }
    assert part["write_5m"] + part["write_1h"] == (usage.get("cache_creation_input_tokens") or 0)
    p = PRICES[model]
    cost += (
        part["uncached"] * p["input"]
        + part["read"] * p["read"]
        + part["write_5m"] * p["write_5m"]
        + part["write_1h"] * p["write_1h"]
        + part["output"] * p["output"]
    ) / 1e6
    for k, v in part.items():
        totals[k] += v

out = {
    "kind": "requests",
    "calls": len(final),
    "input_tokens": totals["uncached"] + totals["read"] + totals["write_5m"] + totals["write_1h"],
    "output_tokens": totals["output"],
    "cache_read_tokens": totals["read"],
    "cache_write_tokens": totals["write_5m"] + totals["write_1h"],
    "cost_usd": round(cost, 9),
}
print(json.dumps(out))
