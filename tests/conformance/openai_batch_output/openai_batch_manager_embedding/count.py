"""Hand count of one real OpenAI Batch API output line of the /v1/embeddings endpoint, sharing no code with llmcost
(stdlib json only). An embedding bills its input tokens only.

Prices: OpenAI's pricing page (https://platform.openai.com/docs/pricing, Embeddings, Batch API column):
text-embedding-3-small $0.01/MTok (standard $0.02/MTok).
"""

import json
from pathlib import Path

PRICE = {"text-embedding-3-small": 0.01}  # USD per million input tokens, Batch API

line = json.loads(Path("v1-embedding.json").read_text())
body = line["response"]["body"]
tokens = body["usage"]["prompt_tokens"]
out = {"kind": "requests", "calls": 1, "input_tokens": tokens, "output_tokens": 0, "cache_read_tokens": 0}
out["cost_usd"] = round(tokens * PRICE[body["model"]] / 1e6, 12)
# Every call has a list price: none may be left unpriced.
out["unpriced_requests"] = 0
print(json.dumps(out))
