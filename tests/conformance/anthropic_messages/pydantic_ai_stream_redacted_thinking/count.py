"""Hand count of a streamed Anthropic Messages call (SSE text as the response body), stdlib only.

The final usage of a stream is message_start's usage with message_delta's counts laid over it (message_start's
output_tokens is a placeholder). Prices: Anthropic's pricing page for Claude Sonnet 4.5
(https://docs.anthropic.com/en/docs/about-claude/pricing, prompts up to 200k tokens): input $3/MTok,
5-minute cache write $3.75/MTok, 1-hour cache write $6/MTok, cache read $0.30/MTok, output $15/MTok.
"""

import json
from pathlib import Path

PRICE = {"input": 3.0, "write_5m": 3.75, "write_1h": 6.0, "read": 0.30, "output": 15.0}  # USD per million

pairs = json.loads(Path("stream_redacted_thinking_pairs.json").read_text())
totals = {"uncached": 0, "read": 0, "w5": 0, "w1": 0, "output": 0}
estimated = 0
for pair in pairs:
    events = [json.loads(line[5:]) for line in pair["response"]["body"].splitlines() if line.startswith("data:")]
    usage = {}
    final = False
    for e in events:
        if e["type"] == "message_start":
            usage.update(e["message"]["usage"])
        elif e["type"] == "message_delta":
            usage.update({k: v for k, v in e["usage"].items() if v is not None})
            final = True
    creation = usage.get("cache_creation") or {}
    totals["uncached"] += usage["input_tokens"]
    totals["read"] += usage.get("cache_read_input_tokens") or 0
    totals["w5"] += creation.get("ephemeral_5m_input_tokens") or 0
    totals["w1"] += creation.get("ephemeral_1h_input_tokens") or 0
    totals["output"] += usage["output_tokens"]
    estimated += not final
out = {"kind": "requests", "calls": len(pairs)}
out["input_tokens"] = totals["uncached"] + totals["read"] + totals["w5"] + totals["w1"]
out["output_tokens"] = totals["output"]
out["cache_read_tokens"] = totals["read"]
out["cache_write_tokens"] = totals["w5"] + totals["w1"]
out["estimated_requests"] = estimated
cost = (
    totals["uncached"] * PRICE["input"]
    + totals["w5"] * PRICE["write_5m"]
    + totals["w1"] * PRICE["write_1h"]
    + totals["read"] * PRICE["read"]
    + totals["output"] * PRICE["output"]
) / 1e6
out["cost_usd"] = round(cost, 9)
print(json.dumps(out))
