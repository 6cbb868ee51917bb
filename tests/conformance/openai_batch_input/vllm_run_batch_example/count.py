"""Hand count of an OpenAI-format batch input file with the output vLLM's `run_batch` wrote for it, stdlib only.

Input lines (`custom_id`, `method`, `url`, `body`) are requests, not calls. Each output line is one call, matched to
its input by `custom_id`. This vLLM output (May 2024) puts the chat completion itself under `response` (no
`status_code` / `body` wrapper, as OpenAI's files have); its `usage` holds prompt and completion tokens.

Prices: none. The model (meta-llama/Meta-Llama-3-8B-Instruct) ran on the user's own vLLM server: there is no
provider list price, so the calls are unpriced ($0 priced, both counted as unpriced).
"""

import json
from pathlib import Path

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
out["unpriced_requests"] = 0
for rec in outputs:
    assert rec["custom_id"] in inputs, rec["custom_id"]
    response = rec["response"]
    body = response.get("body", response)
    usage = body["usage"]
    out["calls"] += 1
    out["unpriced_requests"] += 1
    out["input_tokens"] += usage["prompt_tokens"]
    out["output_tokens"] += usage["completion_tokens"]
out["cost_usd"] = 0.0
print(json.dumps(out))
