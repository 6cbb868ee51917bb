"""Hand count of Codex rollout files (stdlib only, shares no code with the project under test).

A call is a `token_count` event (`type` "event_msg", `payload.type` "token_count", `payload.info` not null) whose
running total `info.total_token_usage` differs from the previous event's in the same file: Codex writes each
event twice (same total and same `last_token_usage`), and a repeat is not a new call. The call's usage is
`info.last_token_usage`. `input_tokens` includes `cached_input_tokens`; `output_tokens` includes
`reasoning_output_tokens` (OpenAI's convention: reasoning is billed as output, once).

Prices: OpenAI's model page for GPT-5.3-Codex (https://developers.openai.com/api/docs/models/gpt-5.3-codex, and
the pricing page https://developers.openai.com/api/docs/pricing, standard tier): input $1.75/MTok, cached input
$0.175/MTok, output $14.00/MTok.
"""

import json
from pathlib import Path

PRICES = {"gpt-5.3-codex": {"input": 1.75, "cached": 0.175, "output": 14.0}}  # USD per million tokens

calls = []
for path in sorted(Path(".").glob("*.jsonl")):
    model = None
    previous_total = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        event = json.loads(line)
        payload = event.get("payload") or {}
        if event.get("type") == "turn_context":
            model = payload.get("model") or model
            continue
        if event.get("type") != "event_msg" or payload.get("type") != "token_count" or not payload.get("info"):
            continue
        total = payload["info"]["total_token_usage"]
        if total == previous_total:
            continue  # the same event written again
        previous_total = total
        last = payload["info"]["last_token_usage"]
        calls.append((model, last))

out = {"kind": "requests", "calls": len(calls)}
out["input_tokens"] = sum(u["input_tokens"] for _, u in calls)
out["output_tokens"] = sum(u["output_tokens"] for _, u in calls)
out["cache_read_tokens"] = sum(u["cached_input_tokens"] for _, u in calls)
out["cache_write_tokens"] = 0
cost = 0.0
for model, u in calls:
    p = PRICES[model]
    uncached = u["input_tokens"] - u["cached_input_tokens"]
    cost += (uncached * p["input"] + u["cached_input_tokens"] * p["cached"] + u["output_tokens"] * p["output"]) / 1e6
out["cost_usd"] = round(cost, 9)
print(json.dumps(out))
