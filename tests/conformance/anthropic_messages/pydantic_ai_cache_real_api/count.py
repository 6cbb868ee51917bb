"""Hand count of the cassette's request/response pairs, sharing no code with llmcost (stdlib json only).

Prices: Anthropic's pricing page for Claude Sonnet 4.5 (https://docs.anthropic.com/en/docs/about-claude/pricing,
prompts up to 200k tokens): input $3/MTok, 5-minute cache write $3.75/MTok, cache read $0.30/MTok, output $15/MTok.
"""

import json
from pathlib import Path

PRICE = {"input": 3.0, "write_5m": 3.75, "write_1h": 6.0, "read": 0.30, "output": 15.0}  # USD per million

pairs = json.loads(Path("cache_real_api_request_response_pairs.json").read_text())
calls = []
for pair in pairs:
    usage = pair["response"]["body"]["usage"]
    creation = usage.get("cache_creation") or {}
    calls.append(
        {
            "input_tokens": usage["input_tokens"],
            "output_tokens": usage["output_tokens"],
            "cache_read_input_tokens": usage.get("cache_read_input_tokens") or 0,
            "ephemeral_5m_input_tokens": creation.get("ephemeral_5m_input_tokens") or 0,
            "ephemeral_1h_input_tokens": creation.get("ephemeral_1h_input_tokens") or 0,
        }
    )
out = {"kind": "requests", "calls": len(calls)}
uncached = sum(c["input_tokens"] for c in calls)
read = sum(c["cache_read_input_tokens"] for c in calls)
w5 = sum(c["ephemeral_5m_input_tokens"] for c in calls)
w1 = sum(c["ephemeral_1h_input_tokens"] for c in calls)
output = sum(c["output_tokens"] for c in calls)
out["input_tokens"] = uncached + read + w5 + w1
out["output_tokens"] = output
out["cache_read_tokens"] = read
out["cache_write_tokens"] = w5 + w1
cost = (
    uncached * PRICE["input"]
    + w5 * PRICE["write_5m"]
    + w1 * PRICE["write_1h"]
    + read * PRICE["read"]
    + output * PRICE["output"]
) / 1e6
out["cost_usd"] = round(cost, 9)
print(json.dumps(out))
