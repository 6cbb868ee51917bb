"""Hand count of Groq Chat Completions streams, one of which fails mid-stream, stdlib only.

The first call streams reasoning, then an `event: error` (tool_use_failed) and no usage: the model ran, the call is
counted with its tokens estimated from its text (so no token or cost totals here: an estimate is not a hand
count), flagged estimated and incomplete. The second streams to its end with its usage. Groq's attribution and
prices are issue 20 defect 9 (OpenAI-compatible providers), not asserted here.
"""

import json
from pathlib import Path

pairs = json.loads(Path("groq_failed_stream_pairs.json").read_text())
failed = 0
for pair in pairs:
    chunks = [
        json.loads(line[6:])
        for line in pair["response"]["body"].splitlines()
        if line.startswith("data: ") and line[6:].strip() != "[DONE]"
    ]
    has_usage = any(c.get("usage") for c in chunks)
    errored = any("error" in c for c in chunks)
    failed += errored and not has_usage
out = {"kind": "requests", "calls": len(pairs), "estimated_requests": failed, "incomplete_requests": failed}
print(json.dumps(out))
