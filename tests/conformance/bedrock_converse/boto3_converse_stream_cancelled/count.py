"""Hand count of a Bedrock ConverseStream the client cancelled after its first delta, stdlib only.

The stream ends before its `metadata` event: no usage. The call is counted, its tokens estimated from its text
(no token or cost totals here: an estimate is not a hand count), flagged estimated and incomplete.
"""

import json
from pathlib import Path

lines = [json.loads(x) for x in Path("converse_stream_cancelled.jsonl").read_text().splitlines() if x.strip()]
cut = sum(not any("metadata" in e for e in line["response"]["body"]) for line in lines)
print(json.dumps({"kind": "requests", "calls": len(lines), "estimated_requests": cut, "incomplete_requests": cut}))
