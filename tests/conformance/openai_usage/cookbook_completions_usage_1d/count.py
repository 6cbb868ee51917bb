"""Hand count of OpenAI Usage API completions buckets (GET /v1/organization/usage/completions), stdlib only.

The file is a page's `data` array (or a page {"object": "page", "data": [...]}) of buckets; each result of
`"object": "organization.usage.completions.result"` counts `num_model_requests` calls, `input_tokens` (cached
included, https://platform.openai.com/docs/api-reference/usage/completions_object), `input_cached_tokens`,
`output_tokens`. Cost: only with a model (`group_by=model`); results whose `model` is null cannot be priced, so a
file of them has no cost (None).
"""

import json
from pathlib import Path

PRICES = {}  # no result here names a model

out = {"kind": "usage_export", "calls": 0, "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0}
out["cache_write_tokens"] = 0
cost = None
for name in sorted(Path(".").glob("*.json")):
    if name.name == "expected.json":
        continue
    data = json.loads(name.read_text())
    buckets = data["data"] if isinstance(data, dict) else data
    for bucket in buckets:
        for res in bucket["results"]:
            if res["object"] != "organization.usage.completions.result":
                continue
            out["calls"] += res["num_model_requests"]
            out["input_tokens"] += res["input_tokens"]
            out["cache_read_tokens"] += res.get("input_cached_tokens") or 0
            out["output_tokens"] += res["output_tokens"]
            if res.get("model") in PRICES:
                raise SystemExit("a priced model appeared: extend the count")
out["cost_usd"] = cost
print(json.dumps(out))
