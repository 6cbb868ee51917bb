"""Hand count of OTLP/JSON trace exports (ExportTraceServiceRequest bodies), stdlib only.

Every span with `gen_ai.usage.input_tokens` is one model call (OpenTelemetry GenAI semantic conventions):
input tokens (cached ones included, as the OpenAI instrumentation reports prompt_tokens), output tokens; cache
reads from `gen_ai.usage.cache_read.input_tokens` when present. Model: `gen_ai.response.model`, else
`gen_ai.request.model`.

Prices: OpenAI's pricing page (https://platform.openai.com/docs/pricing), gpt-4o-mini (gpt-4o-mini-2024-07-18):
input $0.15/M, cached input $0.075/M, output $0.60/M.
"""

import json
from pathlib import Path

PRICES = {"gpt-4o-mini": {"input": 0.15, "cached": 0.075, "output": 0.60}}


def value(v):
    for key in ("intValue", "stringValue", "doubleValue", "boolValue"):
        if key in v:
            return int(v[key]) if key == "intValue" else v[key]
    return None


out = {"kind": "requests", "calls": 0, "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0}
out["cache_write_tokens"] = 0
cost = 0.0
for name in sorted(Path(".").glob("*.otlp.json")):
    for rs in json.loads(name.read_text())["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                attrs = {a["key"]: value(a["value"]) for a in span.get("attributes", [])}
                if "gen_ai.usage.input_tokens" not in attrs:
                    continue
                out["calls"] += 1
                model = attrs.get("gen_ai.response.model") or attrs["gen_ai.request.model"]
                price = PRICES[next(k for k in PRICES if model.startswith(k))]
                inp = attrs["gen_ai.usage.input_tokens"]
                outp = attrs.get("gen_ai.usage.output_tokens") or 0
                cached = attrs.get("gen_ai.usage.cache_read.input_tokens") or 0
                out["input_tokens"] += inp
                out["output_tokens"] += outp
                out["cache_read_tokens"] += cached
                cost += ((inp - cached) * price["input"] + cached * price["cached"] + outp * price["output"]) / 1e6
out["cost_usd"] = round(cost, 9)
print(json.dumps(out))
