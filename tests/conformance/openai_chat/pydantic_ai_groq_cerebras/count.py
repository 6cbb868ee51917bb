"""Hand count of five real chat completions served by two OpenAI-compatible providers, Groq and Cerebras,
sharing no code with llmcost (stdlib json only). Each call is priced by who served it (the host of its URL)
at that provider's list price on the day of the call (the response's `created`).

Prices, USD per million tokens (input / output):
- Groq (https://groq.com/pricing): openai/gpt-oss-120b $0.15 / $0.75 at its launch in August 2025 (the output
  price fell to $0.60 in January 2026); llama-3.3-70b-versatile $0.59 / $0.79.
- Cerebras (https://www.cerebras.ai/pricing): llama-3.3-70b $0.85 / $1.20; gpt-oss-120b $0.35 / $0.75 (from
  February 2026). Reasoning tokens are inside completion_tokens and billed as output.
"""

import json
from pathlib import Path

PRICE = {
    ("api.groq.com", "openai/gpt-oss-120b"): (0.15, 0.75),
    ("api.groq.com", "llama-3.3-70b-versatile"): (0.59, 0.79),
    ("api.cerebras.ai", "llama-3.3-70b"): (0.85, 1.20),
    ("api.cerebras.ai", "gpt-oss-120b"): (0.35, 0.75),
}

calls = inp = outp = cached = 0
cost = 0.0
for path in sorted(Path(".").glob("*_request_response_pairs.json")):
    for pair in json.loads(path.read_text()):
        host = pair["request"]["uri"].split("//", 1)[1].split("/", 1)[0]
        body = pair["response"]["body"]
        usage = body["usage"]
        i, o = usage["prompt_tokens"], usage["completion_tokens"]
        c = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        assert c == 0, "no cached tokens in these calls"
        pin, pout = PRICE[(host, body["model"])]
        calls += 1
        inp += i
        outp += o
        cost += (i * pin + o * pout) / 1e6
out = {"kind": "requests", "calls": calls, "input_tokens": inp, "output_tokens": outp, "cache_read_tokens": cached}
out["cost_usd"] = round(cost, 12)
out["unpriced_requests"] = 0
print(json.dumps(out))
