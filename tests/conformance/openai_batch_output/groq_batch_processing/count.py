"""Hand count of a real Groq Batch API output file (OpenAI's batch format, written by Groq), sharing no code with
llmcost (stdlib json only). The input file only names the requests; the output carries the usage.

Groq is an OpenAI-compatible provider: the lines say so by `x_groq` and `batch_req_out_` ids, and the model
`llama-3.1-8b-instant` is Groq's. Prices: Groq's pricing page (https://groq.com/pricing): Llama 3.1 8B Instant
$0.05/MTok input, $0.08/MTok output; the Batch API bills 50% of that (https://console.groq.com/docs/batch).
"""

import json
from pathlib import Path

PRICE = {"input": 0.05 * 0.5, "output": 0.08 * 0.5}  # USD per million, batch

calls = inp = outp = 0
for raw in Path("batch_output.jsonl").read_text().splitlines():
    if not raw.strip():
        continue
    line = json.loads(raw)
    usage = line["response"]["body"]["usage"]
    calls += 1
    inp += usage["prompt_tokens"]
    outp += usage["completion_tokens"]
cost = (inp * PRICE["input"] + outp * PRICE["output"]) / 1e6
out = {"kind": "requests", "calls": calls, "input_tokens": inp, "output_tokens": outp, "cache_read_tokens": 0}
out["cost_usd"] = round(cost, 12)
# Every call has a list price: none may be left unpriced.
out["unpriced_requests"] = 0
print(json.dumps(out))
