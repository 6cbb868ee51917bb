"""Hand count of two real OpenAI /v1/embeddings calls, sharing no code with llmcost (stdlib json only).
An embedding bills its input tokens (`usage.prompt_tokens`) and nothing else.

Prices: OpenAI's pricing page (https://platform.openai.com/docs/pricing, Embeddings): text-embedding-3-small
$0.02/MTok.
"""

import json
from pathlib import Path

PRICE = {"text-embedding-3-small": 0.02}  # USD per million input tokens

calls = tokens = 0
cost = 0.0
for path in sorted(Path(".").glob("*_request_response_pairs.json")):
    for pair in json.loads(path.read_text()):
        body = pair["response"]["body"]
        n = body["usage"]["prompt_tokens"]
        calls += 1
        tokens += n
        cost += n * PRICE[body["model"]] / 1e6
out = {"kind": "requests", "calls": calls, "input_tokens": tokens, "output_tokens": 0, "cache_read_tokens": 0}
out["cost_usd"] = round(cost, 12)
# The cost is far below the corpus's cost tolerance: what proves the price is that no call is left unpriced.
out["unpriced_requests"] = 0
print(json.dumps(out))
