"""Hand count of Chat Completions streams the client closed after three chunks, stdlib only.

Each stream ends before its finish_reason and its usage chunk: the calls are counted, their tokens estimated from
their text (no token or cost totals here: an estimate is not a hand count), flagged estimated and incomplete.
"""

import json
from pathlib import Path

lines = [json.loads(x) for x in Path("openai_sdk_chunks_cancelled.jsonl").read_text().splitlines() if x.strip()]


def finished(chunk):
    return bool(chunk.get("usage")) or any(ch.get("finish_reason") for ch in chunk.get("choices", []))


cut = sum(not any(finished(c) for c in line["response"]["body"]) for line in lines)
print(json.dumps({"kind": "requests", "calls": len(lines), "estimated_requests": cut, "incomplete_requests": cut}))
