"""Hand count of streamed Chat Completions calls (SSE text as the response body), stdlib only.

With stream_options.include_usage the usage is in the last chunk before `data: [DONE]` (its `choices` is empty);
prompt_tokens includes the cached tokens. Prices: OpenAI's pricing page (https://openai.com/api/pricing/,
https://platform.openai.com/docs/pricing) for gpt-4o-mini: input $0.15/MTok, cached input $0.075/MTok,
output $0.60/MTok.
"""

import json
from pathlib import Path

PRICE = {"input": 0.15, "cached": 0.075, "output": 0.60}  # USD per million

pairs = json.loads(Path("stream_include_usage_pairs.json").read_text())
prompt = cached = completion = 0
for pair in pairs:
    usage = None
    for line in pair["response"]["body"].splitlines():
        if line.startswith("data: ") and line[6:].strip() != "[DONE]":
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                usage = chunk["usage"]
    prompt += usage["prompt_tokens"]
    cached += usage["prompt_tokens_details"]["cached_tokens"]
    completion += usage["completion_tokens"]
out = {
    "kind": "requests",
    "calls": len(pairs),
    "input_tokens": prompt,
    "output_tokens": completion,
    "cache_read_tokens": cached,
    "cache_write_tokens": 0,
    "estimated_requests": 0,
}
cost = ((prompt - cached) * PRICE["input"] + cached * PRICE["cached"] + completion * PRICE["output"]) / 1e6
out["cost_usd"] = round(cost, 9)
print(json.dumps(out))
