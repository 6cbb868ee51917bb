"""Hand count of Bedrock ConverseStream calls (a tool call, then the answer) logged as the events boto3 yielded,
stdlib only.

The usage is in the stream's last event, `metadata.usage`; inputTokens leaves out cache reads and writes.
Prices: AWS's Amazon Bedrock pricing page (https://aws.amazon.com/bedrock/pricing/, Amazon Nova, on-demand,
us-east-1) for Nova Micro: $0.000035 per 1,000 input tokens, $0.00014 per 1,000 output tokens.
"""

import json
from pathlib import Path

PRICE = {"input": 0.035, "cache_read": 0.00875, "output": 0.14}  # USD per million

lines = [json.loads(x) for x in Path("converse_stream_tool_use.jsonl").read_text().splitlines() if x.strip()]
uncached = read = write = output = 0
for line in lines:
    usage = next(e["metadata"]["usage"] for e in line["response"]["body"] if "metadata" in e)
    uncached += usage["inputTokens"]
    read += usage.get("cacheReadInputTokens", 0)
    write += usage.get("cacheWriteInputTokens", 0)
    output += usage["outputTokens"]
out = {
    "kind": "requests",
    "calls": len(lines),
    "input_tokens": uncached + read + write,
    "output_tokens": output,
    "cache_read_tokens": read,
    "cache_write_tokens": write,
    "estimated_requests": 0,
}
out["cost_usd"] = round((uncached * PRICE["input"] + read * PRICE["cache_read"] + output * PRICE["output"]) / 1e6, 9)
print(json.dumps(out))
