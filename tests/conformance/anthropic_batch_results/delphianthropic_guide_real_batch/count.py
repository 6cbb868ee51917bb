"""Hand count of an Anthropic Message Batches results file, sharing no code with llmcost (stdlib json only).

Every line is one request of the batch: `result.type` "succeeded" carries the Message and its usage; "errored",
"expired" and "canceled" are not billed (https://docs.anthropic.com/en/docs/build-with-claude/batch-processing:
"You are only charged for requests that succeeded"), so they are calls at $0.

Prices: Anthropic's pricing page, Batch processing table (https://docs.anthropic.com/en/docs/about-claude/pricing):
Claude Sonnet 4.5 batch input $1.50/MTok, batch output $7.50/MTok; prompt caching multipliers stack on the batch
price (5-minute write 1.25x = $1.875, 1-hour write 2x = $3.00, cache read 0.1x = $0.15).
"""

import json
from pathlib import Path

BATCH = {"claude-sonnet-4-5": {"input": 1.50, "write_5m": 1.875, "write_1h": 3.00, "read": 0.15, "output": 7.50}}

out = {"kind": "requests", "calls": 0, "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0}
out["cache_write_tokens"] = 0
cost = 0.0
for name in sorted(Path(".").glob("*.jsonl")):
    for line in name.read_text().splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        out["calls"] += 1
        result = rec["result"]
        if result["type"] != "succeeded":
            continue  # not billed
        message = result["message"]
        usage = message["usage"]
        family = next(k for k in BATCH if message["model"].startswith(k))
        price = BATCH[family]
        creation = usage.get("cache_creation") or {}
        w5 = creation.get("ephemeral_5m_input_tokens") or 0
        w1 = creation.get("ephemeral_1h_input_tokens") or 0
        if not creation:
            w5 = usage.get("cache_creation_input_tokens") or 0
        read = usage.get("cache_read_input_tokens") or 0
        uncached = usage["input_tokens"]
        out["input_tokens"] += uncached + read + w5 + w1
        out["output_tokens"] += usage["output_tokens"]
        out["cache_read_tokens"] += read
        out["cache_write_tokens"] += w5 + w1
        cost += (
            uncached * price["input"]
            + w5 * price["write_5m"]
            + w1 * price["write_1h"]
            + read * price["read"]
            + usage["output_tokens"] * price["output"]
        ) / 1e6
out["cost_usd"] = round(cost, 9)
print(json.dumps(out))
