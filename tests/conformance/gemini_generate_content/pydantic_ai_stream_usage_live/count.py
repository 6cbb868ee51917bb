"""Hand count of a streamed Gemini call (streamGenerateContent?alt=sse, SSE text as the response body), stdlib only.

Every chunk carries the usage so far ("live"): the final usage is the one of the chunk with the finishReason, not a
sum of chunks. Thinking tokens (thoughtsTokenCount) are billed as output, on top of candidatesTokenCount.
Prices: Google's Gemini API pricing page (https://ai.google.dev/gemini-api/docs/pricing) for gemini-2.5-flash,
paid tier: input (text) $0.30/MTok, output including thinking tokens $2.50/MTok.
"""

import json
from pathlib import Path

PRICE = {"input": 0.30, "output": 2.50}  # USD per million

pairs = json.loads(Path("stream_usage_live_pairs.json").read_text())
prompt = output = thoughts = 0
for pair in pairs:
    final = None
    for line in pair["response"]["body"].splitlines():
        if line.startswith("data: "):
            chunk = json.loads(line[6:])
            if any("finishReason" in c for c in chunk.get("candidates", [])):
                final = chunk["usageMetadata"]
    prompt += final["promptTokenCount"]
    thoughts += final.get("thoughtsTokenCount", 0)
    output += final["candidatesTokenCount"] + final.get("thoughtsTokenCount", 0)
out = {
    "kind": "requests",
    "calls": len(pairs),
    "input_tokens": prompt,
    "output_tokens": output,
    "cache_read_tokens": 0,
    "cache_write_tokens": 0,
    "estimated_requests": 0,
}
out["cost_usd"] = round((prompt * PRICE["input"] + output * PRICE["output"]) / 1e6, 9)
print(json.dumps(out))
