"""Hand count of recorded Bedrock InvokeModel calls, sharing no code with llmcost (stdlib json only).

Each pair is one call. Its tokens are the X-Amzn-Bedrock-Input-Token-Count / -Output-Token-Count response headers
(what Bedrock meters; cache reads and writes, when present, in X-Amzn-Bedrock-Cache-Read/Write-Input-Token-Count,
outside the input count). The body's own usage, where the model family writes one, must agree: it is checked, not
added.

Prices: Amazon Bedrock on-demand list prices, USD per million tokens (https://aws.amazon.com/bedrock/pricing/,
per 1,000 tokens there): Nova Micro 0.035 in / 0.14 out; Titan Text Lite 0.15 / 0.20; Claude 2.0 8.00 / 24.00;
Claude 3.5 Sonnet 3.00 / 15.00 (cache read 0.30, cache write 3.75); Command R 0.50 / 1.50; Command Light 0.30 / 0.60;
Llama 3.1 70B Instruct 0.72 / 0.72; Mistral 7B Instruct 0.15 / 0.20.
"""

import json
from pathlib import Path
from urllib.parse import unquote

PRICES = {  # model id -> (input, output, cache read, cache write) USD per million tokens
    "amazon.nova-micro-v1:0": (0.035, 0.14, None, None),
    "amazon.titan-text-lite-v1": (0.15, 0.20, None, None),
    "anthropic.claude-v2": (8.00, 24.00, None, None),
    "us.anthropic.claude-3-5-sonnet-20240620-v1:0": (3.00, 15.00, 0.30, 3.75),
    "cohere.command-r-v1:0": (0.50, 1.50, None, None),
    "cohere.command-light-text-v14": (0.30, 0.60, None, None),
    "meta.llama3-1-70b-instruct-v1:0": (0.72, 0.72, None, None),
    "mistral.mistral-7b-instruct-v0:2": (0.15, 0.20, None, None),
}


def header(headers, name):
    for key, value in headers.items():
        if key.lower() == name.lower():
            return int(value[0] if isinstance(value, list) else value)
    return 0


def body_usage(body):
    """(input, output) as the body states them, or None for families that state none (Cohere, Mistral)."""
    u = body.get("usage") or {}
    if "input_tokens" in u:  # Anthropic Messages
        return u["input_tokens"], u["output_tokens"]
    if "inputTokens" in u:  # Amazon Nova
        return u["inputTokens"], u["outputTokens"]
    if "inputTextTokenCount" in body:  # Amazon Titan Text
        return body["inputTextTokenCount"], sum(r["tokenCount"] for r in body["results"])
    if "prompt_token_count" in body:  # Meta Llama
        return body["prompt_token_count"], body["generation_token_count"]
    return None


out = {"kind": "requests", "calls": 0, "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0}
out["cache_write_tokens"] = 0
cost = 0.0
for name in sorted(Path(".").glob("*_pairs.json")):
    for pair in json.loads(name.read_text()):
        model = unquote(pair["request"]["uri"].split("/model/", 1)[1].split("/", 1)[0])
        headers = pair["response"]["headers"]
        uncached = header(headers, "X-Amzn-Bedrock-Input-Token-Count")
        output = header(headers, "X-Amzn-Bedrock-Output-Token-Count")
        read = header(headers, "X-Amzn-Bedrock-Cache-Read-Input-Token-Count")
        write = header(headers, "X-Amzn-Bedrock-Cache-Write-Input-Token-Count")
        stated = body_usage(pair["response"]["body"])
        assert stated is None or stated == (uncached, output), (model, stated, uncached, output)
        p_in, p_out, p_read, p_write = PRICES[model]
        out["calls"] += 1
        out["input_tokens"] += uncached + read + write
        out["output_tokens"] += output
        out["cache_read_tokens"] += read
        out["cache_write_tokens"] += write
        cost += (uncached * p_in + output * p_out + read * (p_read or 0) + write * (p_write or 0)) / 1e6
out["cost_usd"] = round(cost, 9)
print(json.dumps(out))
