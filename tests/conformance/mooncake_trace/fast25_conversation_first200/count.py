"""Hand count of a Mooncake-format block-hash trace (JSONL: timestamp ms, input_length, output_length, hash_ids),
stdlib only.

Every line is one request. `hash_ids` are the request's 512-token prefix blocks (kvcache-ai/Mooncake
FAST25-release/README.md: "Identical hash IDs indicate reusable prefix KV cache blocks"). An ideal prefix cache
(unbounded, never evicts) serves, for each request in arrival order, its longest run of leading blocks already
seen, at 512 tokens a block but never more than the request's input. The trace has no model: no cost.
"""

import json
from pathlib import Path

BLOCK = 512

rows = []
for name in sorted(Path(".").glob("*.jsonl")):
    for i, line in enumerate(name.read_text().splitlines()):
        if line.strip():
            rows.append((json.loads(line), i))
rows.sort(key=lambda r: (r[0]["timestamp"], r[1]))

seen = set()
out = {"kind": "block_trace", "calls": 0, "input_tokens": 0}
hit = 0
for rec, _ in rows:
    out["calls"] += 1
    out["input_tokens"] += rec["input_length"]
    matched = 0
    for block in rec["hash_ids"]:
        if block not in seen:
            break
        matched += 1
    hit += min(matched * BLOCK, rec["input_length"])
    seen.update(rec["hash_ids"])
out["ideal_hit_ratio"] = round(hit / out["input_tokens"], 6)
print(json.dumps(out))
