"""Hand count of streamed Responses API calls (SSE text as the response body), stdlib only.

The `response.completed` event carries the whole response with its usage; input_tokens includes the cached
tokens, output_tokens the reasoning tokens. Prices: OpenAI's pricing page (https://openai.com/api/pricing/,
https://platform.openai.com/docs/pricing) for gpt-4o (gpt-4o-2024-08-06): input $2.50/MTok, cached input
$1.25/MTok, output $10/MTok.
"""

import json
from pathlib import Path

PRICE = {"input": 2.50, "cached": 1.25, "output": 10.0}  # USD per million

pairs = json.loads(Path("responses_stream_pairs.json").read_text())
inp = cached = output = 0
for pair in pairs:
    usage = None
    for line in pair["response"]["body"].splitlines():
        if line.startswith("data: "):
            event = json.loads(line[6:])
            if event["type"] == "response.completed":
                usage = event["response"]["usage"]
    inp += usage["input_tokens"]
    cached += usage["input_tokens_details"]["cached_tokens"]
    output += usage["output_tokens"]
out = {
    "kind": "requests",
    "calls": len(pairs),
    "input_tokens": inp,
    "output_tokens": output,
    "cache_read_tokens": cached,
    "cache_write_tokens": 0,
    "estimated_requests": 0,
}
cost = ((inp - cached) * PRICE["input"] + cached * PRICE["cached"] + output * PRICE["output"]) / 1e6
out["cost_usd"] = round(cost, 9)
print(json.dumps(out))
