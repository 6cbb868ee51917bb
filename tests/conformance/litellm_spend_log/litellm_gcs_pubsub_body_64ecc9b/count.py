"""Hand count of LiteLLM proxy LiteLLM_SpendLogs rows (one JSON object or a list of them), stdlib only.

Each row is one call: `prompt_tokens` (cached ones included, as OpenAI reports them), `completion_tokens`; cached
input is in `metadata` (a JSON string) -> `usage_object.prompt_tokens_details.cached_tokens` when present.

Prices: OpenAI's pricing page (https://openai.com/api/pricing/, https://platform.openai.com/docs/pricing),
gpt-4o (gpt-4o-2024-08-06): input $2.50/M, cached input $1.25/M, output $10.00/M.
"""

import json
from pathlib import Path

PRICES = {"gpt-4o": {"input": 2.50, "cached": 1.25, "output": 10.00}}

out = {"kind": "requests", "calls": 0, "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0}
out["cache_write_tokens"] = 0
cost = 0.0
for name in sorted(Path(".").glob("*.json")):
    if name.name == "expected.json":
        continue
    data = json.loads(name.read_text())
    for row in data if isinstance(data, list) else [data]:
        out["calls"] += 1
        meta = json.loads(row["metadata"]) if isinstance(row["metadata"], str) else row["metadata"]
        usage = meta.get("usage_object") or {}
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        price = PRICES[row["model"]]
        out["input_tokens"] += row["prompt_tokens"]
        out["cache_read_tokens"] += cached
        out["output_tokens"] += row["completion_tokens"]
        cost += (
            (row["prompt_tokens"] - cached) * price["input"]
            + cached * price["cached"]
            + row["completion_tokens"] * price["output"]
        ) / 1e6
out["cost_usd"] = round(cost, 9)
print(json.dumps(out))
