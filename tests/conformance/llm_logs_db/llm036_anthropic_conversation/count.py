"""Hand count of an llm logs.db (stdlib sqlite3 only, shares no code with the project under test).

llm 0.32 and later log each model call as a row of `turns` (the old `responses` table stays empty): input_tokens,
output_tokens, and token_details (JSON) with the provider's remaining usage. The model that answered is the
`model` of the turn's `response_json` (the provider's payload, as llm stores it).
- OpenAI (Chat Completions): input_tokens includes `prompt_tokens_details.cached_tokens`; output_tokens includes
  `completion_tokens_details.reasoning_tokens` (billed once, as output).
- Anthropic: input_tokens is the uncached input; `cache_read_input_tokens` / `cache_creation_input_tokens` in
  token_details come on top of it.

Prices, USD per million tokens (input / cached input or cache read / 5-minute cache write / output):
- o3-mini (OpenAI's model page https://developers.openai.com/api/docs/models/o3-mini and the pricing page
  https://developers.openai.com/api/docs/pricing): 1.10 / 0.55 / - / 4.40
- Claude Sonnet 4.5 and Claude Sonnet 4 (https://docs.anthropic.com/en/docs/about-claude/pricing):
  3 / 0.30 / 3.75 / 15
"""

import json
import sqlite3
from pathlib import Path

PRICES = {
    "o3-mini-2025-01-31": {"input": 1.10, "read": 0.55, "write": 1.10, "output": 4.40},
    "claude-sonnet-4-5-20250929": {"input": 3.0, "read": 0.30, "write": 3.75, "output": 15.0},
    "claude-sonnet-4-20250514": {"input": 3.0, "read": 0.30, "write": 3.75, "output": 15.0},
}

out = {"kind": "requests", "calls": 0, "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0}
out["cache_write_tokens"] = 0
cost = 0.0
for db in sorted(Path(".").glob("*.db")):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    assert con.execute("SELECT count(*) FROM responses").fetchone()[0] == 0
    for inp, outp, details, payload in con.execute(
        "SELECT input_tokens, output_tokens, token_details, response_json FROM turns ORDER BY rowid"
    ):
        model = json.loads(payload)["model"]
        details = json.loads(details) if details else {}
        p = PRICES[model]
        if model.startswith("claude"):
            read = details.get("cache_read_input_tokens") or 0
            write = details.get("cache_creation_input_tokens") or 0
            uncached = inp
        else:
            prompt_details = details.get("prompt_tokens_details") or {}
            read = prompt_details.get("cached_tokens") or 0
            write = prompt_details.get("cache_write_tokens") or 0
            uncached = inp - read - write
        out["calls"] += 1
        out["input_tokens"] += uncached + read + write
        out["output_tokens"] += outp
        out["cache_read_tokens"] += read
        out["cache_write_tokens"] += write
        cost += (uncached * p["input"] + read * p["read"] + write * p["write"] + outp * p["output"]) / 1e6
    con.close()
out["cost_usd"] = round(cost, 9)
print(json.dumps(out))
