"""Hand count of a Langfuse ingestion batch (POST /api/public/ingestion body), stdlib only.

Every `generation-create` event is one call (trace-create events carry no usage): `body.usage.input` /
`body.usage.output` are the prompt and completion tokens as the sender (LiteLLM's Langfuse callback) reported them,
cached input from `body.usageDetails.cache_read_input_tokens` when present.

Prices: OpenAI's pricing page (https://platform.openai.com/docs/pricing, "Other models" / legacy table):
gpt-3.5-turbo (the alias of gpt-3.5-turbo-0125 since February 2024) input $0.50/M, output $1.50/M.
Langfuse's own `totalCost` (LiteLLM's price then, $1.50/$2.00) is not used.
"""

import json
from pathlib import Path

PRICES = {"gpt-3.5-turbo": {"input": 0.50, "cached": 0.50, "output": 1.50}}

out = {"kind": "requests", "calls": 0, "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0}
out["cache_write_tokens"] = 0
cost = 0.0
for name in sorted(Path(".").glob("*.json")):
    if name.name == "expected.json":
        continue
    for event in json.loads(name.read_text())["batch"]:
        if event["type"] != "generation-create":
            continue
        body = event["body"]
        out["calls"] += 1
        usage = body["usage"]
        cached = (body.get("usageDetails") or {}).get("cache_read_input_tokens") or 0
        price = PRICES[body["model"]]
        out["input_tokens"] += usage["input"]
        out["cache_read_tokens"] += cached
        out["output_tokens"] += usage["output"]
        cost += (
            (usage["input"] - cached) * price["input"] + cached * price["cached"] + usage["output"] * price["output"]
        ) / 1e6
out["cost_usd"] = round(cost, 9)
print(json.dumps(out))
