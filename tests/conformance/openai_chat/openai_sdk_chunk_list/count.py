"""Hand count of Chat Completions streams logged as the chunks the openai SDK yielded, stdlib only.

With stream_options.include_usage the usage is in the last chunk (empty `choices`); prompt_tokens includes the
cached tokens. Prices: OpenAI's pricing page (https://openai.com/api/pricing/, https://platform.openai.com/docs/pricing)
for gpt-4o-mini: input $0.15/MTok, cached input $0.075/MTok, output $0.60/MTok.
"""

import json
from pathlib import Path

PRICE = {"input": 0.15, "cached": 0.075, "output": 0.60}  # USD per million

lines = [json.loads(x) for x in Path("openai_sdk_chunks.jsonl").read_text().splitlines() if x.strip()]
prompt = cached = completion = 0
for line in lines:
    usage = [c["usage"] for c in line["response"]["body"] if c.get("usage")][-1]
    prompt += usage["prompt_tokens"]
    cached += usage["prompt_tokens_details"]["cached_tokens"]
    completion += usage["completion_tokens"]
out = {
    "kind": "requests",
    "calls": len(lines),
    "input_tokens": prompt,
    "output_tokens": completion,
    "cache_read_tokens": cached,
    "cache_write_tokens": 0,
    "estimated_requests": 0,
}
cost = ((prompt - cached) * PRICE["input"] + cached * PRICE["cached"] + completion * PRICE["output"]) / 1e6
out["cost_usd"] = round(cost, 9)
print(json.dumps(out))
