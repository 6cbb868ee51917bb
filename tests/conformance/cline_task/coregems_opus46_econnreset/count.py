"""Hand count of a Cline task history (ui_messages.json; stdlib only, shares no code with the project under test).

A call is a `say: "api_req_started"` (or `"deleted_api_reqs"`) message whose `text` (a JSON string) carries
`tokensIn`, `tokensOut`, `cacheWrites`, `cacheReads`, `cost`; one whose counts and cost are all 0 (a stream that
failed before any usage, e.g. HTTP 400) was not billed and is not a call. `tokensIn` is the uncached input
(Anthropic's `input_tokens`; Cline's own provider subtracts the cached part too), so the prompt is
tokensIn + cacheWrites + cacheReads. Cache writes are 5-minute writes.

A request whose stream broke after the model ran (`cancelReason: "streaming_failed"`, ECONNRESET) carries counts
and a cost: it was billed and is a call.

Prices: Anthropic's pricing page (https://docs.anthropic.com/en/docs/about-claude/pricing), USD per million tokens,
Claude Opus 4.6 (<= 200K prompt): input 5, 5-minute cache write 6.25, cache read 0.50, output 25.
"""

import json
from pathlib import Path

PRICES = {"claude-opus-4-6": {"input": 5.0, "write": 6.25, "read": 0.50, "output": 25.0}}

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
