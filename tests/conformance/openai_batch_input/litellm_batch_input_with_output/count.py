"""Hand count of an OpenAI Batch API input file with its output file, stdlib only.

The input lines (`custom_id`, `method`, `url`, `body`) are requests, not calls: they are billed through their
output lines. Each output line with a `response` is one call, matched to its input line by `custom_id`; the count
checks every output has its input and counts the call once (the input adds no call and no token).

Prices: OpenAI's pricing page, Batch API (https://platform.openai.com/docs/pricing, "Batch" tier: 50% off):
gpt-4o-mini (gpt-4o-mini-2024-07-18) input $0.075/M, cached input $0.0375/M, output $0.30/M.
"""

import json
from pathlib import Path

BATCH = {"gpt-4o-mini": {"input": 0.075, "cached": 0.0375, "output": 0.30}}

inputs, outputs = {}, []
for name in sorted(Path(".").glob("*.jsonl")):
    for line in name.read_text().splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        if "body" in rec and "response" not in rec:
            inputs[rec["custom_id"]] = rec
        else:
            outputs.append(rec)

out = {"kind": "requests", "calls": 0, "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0}
out["cache_write_tokens"] = 0
cost = 0.0
for rec in outputs:
    assert rec["custom_id"] in inputs, rec["custom_id"]
    body = rec["response"]["body"]
    usage = body["usage"]
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    price = BATCH[next(k for k in BATCH if body["model"].startswith(k))]
    out["calls"] += 1
    out["input_tokens"] += usage["prompt_tokens"]
    out["cache_read_tokens"] += cached
    out["output_tokens"] += usage["completion_tokens"]
    cost += (
        (usage["prompt_tokens"] - cached) * price["input"]
        + cached * price["cached"]
        + usage["completion_tokens"] * price["output"]
    ) / 1e6
out["cost_usd"] = round(cost, 9)
print(json.dumps(out))
