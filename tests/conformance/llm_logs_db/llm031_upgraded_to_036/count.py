"""Hand count of an llm logs.db that two llm versions wrote (stdlib sqlite3 only, shares no code with the project
under test).

llm 0.31 logged its call as a row of `responses` (`model`, `input_tokens`, `output_tokens`, `token_details`);
llm 0.36, run on the same database, added its tables (migrations m023-m027) and logged its call as a row of
`turns`, whose `response_json` names the model that answered. Both rows are calls. OpenAI counts: input includes
`prompt_tokens_details.cached_tokens`, output includes `completion_tokens_details.reasoning_tokens`.

Prices, USD per million tokens (input / cached input / output), OpenAI's pricing page
(https://developers.openai.com/api/docs/pricing) and model pages: gpt-4o-mini 0.15 / 0.075 / 0.60; o3-mini
1.10 / 0.55 / 4.40.
"""

import json
import sqlite3

PRICES = {
    "gpt-4o-mini": {"input": 0.15, "read": 0.075, "output": 0.60},
    "o3-mini-2025-01-31": {"input": 1.10, "read": 0.55, "output": 4.40},
}

con = sqlite3.connect("file:logs.db?mode=ro", uri=True)
calls = [
    (model, inp, outp, details)
    for model, inp, outp, details in con.execute(
        "SELECT coalesce(resolved_model, model), input_tokens, output_tokens, token_details FROM responses"
    )
]
for inp, outp, details, payload in con.execute(
    "SELECT input_tokens, output_tokens, token_details, response_json FROM turns"
):
    calls.append((json.loads(payload)["model"], inp, outp, details))
con.close()

out = {"kind": "requests", "calls": len(calls), "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0}
out["cache_write_tokens"] = 0
cost = 0.0
for model, inp, outp, details in calls:
    read = ((json.loads(details) if details else {}).get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    p = PRICES[model]
    out["input_tokens"] += inp
    out["output_tokens"] += outp
    out["cache_read_tokens"] += read
    cost += ((inp - read) * p["input"] + read * p["read"] + outp * p["output"]) / 1e6
out["cost_usd"] = round(cost, 9)
print(json.dumps(out))
