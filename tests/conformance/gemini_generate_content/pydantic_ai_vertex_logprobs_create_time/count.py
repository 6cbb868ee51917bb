"""Hand count of three real Vertex AI generateContent calls of gemini-2.5-flash, sharing no code with llmcost
(stdlib json only).

No recording has a logger's timestamp: each response dates itself by `createTime` (February 2026), so
`--since 2025-04-01` keeps all three. usageMetadata: promptTokenCount is the input; candidatesTokenCount plus
thoughtsTokenCount the output (thinking is billed as output).

Prices: Google Cloud's Vertex AI generative AI pricing page
(https://cloud.google.com/vertex-ai/generative-ai/pricing), Gemini 2.5 Flash: input (text) $0.30/MTok, output
(text, thinking included) $2.50/MTok.
"""

import json
from datetime import UTC, datetime
from pathlib import Path

PRICE = {"gemini-2.5-flash": {"input": 0.30, "output": 2.50}}  # USD per million
SINCE = datetime(2025, 4, 1, tzinfo=UTC)

out = {"kind": "requests", "args": ["--since", "2025-04-01"], "calls": 0}
inp = outp = 0
cost = 0.0
for path in sorted(Path(".").glob("*_request_response_pairs.json")):
    for pair in json.loads(path.read_text()):
        resp = pair["response"]["body"]
        when = datetime.fromisoformat(resp["createTime"].replace("Z", "+00:00"))
        if when < SINCE:
            continue
        um = resp["usageMetadata"]
        i = um["promptTokenCount"]
        o = um["candidatesTokenCount"] + um.get("thoughtsTokenCount", 0)
        p = PRICE[resp["modelVersion"]]
        out["calls"] += 1
        inp += i
        outp += o
        cost += (i * p["input"] + o * p["output"]) / 1e6
out["input_tokens"] = inp
out["output_tokens"] = outp
out["cache_read_tokens"] = 0
out["cost_usd"] = round(cost, 12)
print(json.dumps(out))
