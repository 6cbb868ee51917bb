"""Hand count of one real OpenRouter chat completion of `anthropic/claude-3.7-sonnet:thinking`, sharing no code
with llmcost (stdlib json only). OpenRouter bills its `:thinking` variant as the model itself.

Prices: OpenRouter's model page (https://openrouter.ai/anthropic/claude-3.7-sonnet:thinking): $3/MTok input,
$15/MTok output (Anthropic's list price for Claude 3.7 Sonnet). Reasoning tokens are inside completion_tokens.
"""

import json
from pathlib import Path

PRICE = {"anthropic/claude-3.7-sonnet:thinking": (3.0, 15.0)}  # USD per million, input / output

calls = inp = outp = 0
cost = 0.0
for path in sorted(Path(".").glob("*_request_response_pairs.json")):
    for pair in json.loads(path.read_text()):
        body = pair["response"]["body"]
        usage = body["usage"]
        pin, pout = PRICE[body["model"]]
        calls += 1
        inp += usage["prompt_tokens"]
        outp += usage["completion_tokens"]
        cost += (usage["prompt_tokens"] * pin + usage["completion_tokens"] * pout) / 1e6
out = {"kind": "requests", "calls": calls, "input_tokens": inp, "output_tokens": outp, "cache_read_tokens": 0}
out["cost_usd"] = round(cost, 12)
out["unpriced_requests"] = 0
print(json.dumps(out))
