"""Hand count of a mini-swe-agent trajectory (*.traj.json, gzipped), sharing no code with llmcost (stdlib only).

Every assistant message is one API call; `extra.response.usage` is DeepSeek's own answer:
`prompt_tokens` = `prompt_cache_hit_tokens` + `prompt_cache_miss_tokens`, `completion_tokens` the output.

Prices: DeepSeek's "Models & Pricing" page (https://api-docs.deepseek.com/quick_start/pricing), deepseek-chat
(DeepSeek-V3.2, from 2025-09-29): input cache hit $0.028/M, input cache miss $0.28/M, output $0.42/M.
"""

import gzip
import json
from pathlib import Path

HIT, MISS, OUT = 0.028, 0.28, 0.42

out = {"kind": "requests", "calls": 0, "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0}
out["cache_write_tokens"] = 0
cost = 0.0
for name in sorted(Path(".").glob("*.traj.json.gz")):
    traj = json.loads(gzip.decompress(name.read_bytes()))
    for message in traj["messages"]:
        if message["role"] != "assistant":
            continue
        usage = message["extra"]["response"]["usage"]
        out["calls"] += 1
        hit = usage["prompt_cache_hit_tokens"]
        miss = usage["prompt_cache_miss_tokens"]
        assert hit + miss == usage["prompt_tokens"]
        out["input_tokens"] += usage["prompt_tokens"]
        out["cache_read_tokens"] += hit
        out["output_tokens"] += usage["completion_tokens"]
        cost += (hit * HIT + miss * MISS + usage["completion_tokens"] * OUT) / 1e6
out["cost_usd"] = round(cost, 9)
print(json.dumps(out))
