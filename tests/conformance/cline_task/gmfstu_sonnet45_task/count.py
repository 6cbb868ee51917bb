"""Hand count of a Cline task history (ui_messages.json; stdlib only, shares no code with the project under test).

A call is a `say: "api_req_started"` (or `"deleted_api_reqs"`) message whose `text` (a JSON string) carries
`tokensIn`, `tokensOut`, `cacheWrites`, `cacheReads`, `cost`; one whose counts and cost are all 0 (a stream that
failed before any usage, e.g. HTTP 400) was not billed and is not a call. `tokensIn` is the uncached input
(Anthropic's `input_tokens`; Cline's own provider subtracts the cached part too), so the prompt is
tokensIn + cacheWrites + cacheReads. Cache writes are 5-minute writes.

Prices: Anthropic's pricing page (https://docs.anthropic.com/en/docs/about-claude/pricing), USD per million tokens,
Claude Sonnet 4.5 (<= 200K prompt): input 3, 5-minute cache write 3.75, cache read 0.30, output 15. The model
appears as `claude-sonnet-4-5-20250929` (Anthropic provider) or `anthropic/claude-sonnet-4.5` (Cline provider).
"""

import json
from pathlib import Path

SONNET_45 = {"input": 3.0, "write": 3.75, "read": 0.30, "output": 15.0}
PRICES = {"claude-sonnet-4-5-20250929": SONNET_45, "anthropic/claude-sonnet-4.5": SONNET_45}

calls = 0
totals = {"uncached": 0, "write": 0, "read": 0, "output": 0}
cost = 0.0
for path in sorted(Path(".").glob("*.json")):
    if path.name == "expected.json":
        continue
    for message in json.loads(path.read_text(encoding="utf-8")):
        if message.get("type") != "say" or message.get("say") not in ("api_req_started", "deleted_api_reqs"):
            continue
        info = json.loads(message["text"])
        part = {
            "uncached": info.get("tokensIn") or 0,
            "write": info.get("cacheWrites") or 0,
            "read": info.get("cacheReads") or 0,
            "output": info.get("tokensOut") or 0,
        }
        if not any(part.values()) and not info.get("cost"):
            continue
        assert info.get("apiProtocol") != "openai"  # these files' tokensIn never include the cache reads
        p = PRICES[message["modelInfo"]["modelId"]]
        assert part["uncached"] + part["write"] + part["read"] <= 200_000  # the long-context tier is not reached
        cost += sum(part[k] * p[k if k != "uncached" else "input"] for k in part) / 1e6
        calls += 1
        for k, v in part.items():
            totals[k] += v

print(
    json.dumps(
        {
            "kind": "requests",
            "calls": calls,
            "input_tokens": totals["uncached"] + totals["write"] + totals["read"],
            "output_tokens": totals["output"],
            "cache_read_tokens": totals["read"],
            "cache_write_tokens": totals["write"],
            "cost_usd": round(cost, 9),
        }
    )
)
