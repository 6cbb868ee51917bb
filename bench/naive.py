"""The naive baseline: json-parse every line and tokenize every message of every request (what a quick
script does), then price input and output at list prices.

    python bench/naive.py FILE...
"""

from __future__ import annotations

import json
import sys

from analyzer.tokens import encoding

PRICES = {  # USD per token: input, output
    "gpt-4o-2024-08-06": (2.5e-6, 1e-5),
    "gpt-4o-mini": (1.5e-7, 6e-7),
    "claude-sonnet-4-5-20250929": (3e-6, 1.5e-5),
}


def text(content) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(b.get("text", "") for b in content or [] if isinstance(b, dict))


def main() -> None:
    enc = encoding("o200k_base")
    counted = reported = 0
    cost = 0.0
    calls = 0
    for path in sys.argv[1:]:
        with open(path) as fh:
            for line in fh:
                rec = json.loads(line)
                req, usage = rec["request"], rec["response"]["usage"]
                msgs = list(req.get("messages", []))
                if req.get("system"):
                    msgs.insert(0, {"content": req["system"]})
                counted += sum(len(enc.encode_ordinary(text(m["content"]))) for m in msgs)
                inp = usage.get("prompt_tokens", usage.get("input_tokens", 0))
                out = usage.get("completion_tokens", usage.get("output_tokens", 0))
                reported += inp
                pin, pout = PRICES[req["model"]]
                cost += inp * pin + out * pout
                calls += 1
    print(f"{calls} calls, {counted} tokens counted, {reported} reported input tokens, ${cost:,.2f}")


if __name__ == "__main__":
    main()
