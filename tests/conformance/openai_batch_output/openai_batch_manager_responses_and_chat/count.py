"""Hand count of two real OpenAI Batch API output lines (one /v1/responses, one /v1/chat/completions), sharing no
code with llmcost (stdlib json only).

Both lines carry their date in the response body: the Responses API as `created_at`, Chat Completions as
`created` (both January 2026), so `--since 2025-04-01` keeps both calls.

Prices: OpenAI's pricing page (https://platform.openai.com/docs/pricing, Batch API column) for gpt-4o-mini:
input $0.075/MTok, cached input $0.0375/MTok, output $0.30/MTok (half the standard $0.15 / $0.075 / $0.60).
"""

import json
from datetime import UTC, datetime
from pathlib import Path

PRICE = {"input": 0.075, "cached": 0.0375, "output": 0.30}  # USD per million, Batch API
SINCE = datetime(2025, 4, 1, tzinfo=UTC)

out = {"kind": "requests", "args": ["--since", "2025-04-01"], "calls": 0}
inp = cached = outp = 0
for path in sorted(Path(".").glob("v1-*.json")):
    line = json.loads(path.read_text())
    body = line["response"]["body"]
    when = datetime.fromtimestamp(body.get("created_at", body.get("created")), UTC)
    if when < SINCE:
        continue
    usage = body["usage"]
    i = usage.get("input_tokens", usage.get("prompt_tokens"))
    o = usage.get("output_tokens", usage.get("completion_tokens"))
    details = usage.get("input_tokens_details") or usage.get("prompt_tokens_details") or {}
    out["calls"] += 1
    inp += i
    cached += details.get("cached_tokens", 0)
    outp += o
out["input_tokens"] = inp
out["output_tokens"] = outp
out["cache_read_tokens"] = cached
cost = ((inp - cached) * PRICE["input"] + cached * PRICE["cached"] + outp * PRICE["output"]) / 1e6
out["cost_usd"] = round(cost, 9)
print(json.dumps(out))
