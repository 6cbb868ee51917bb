"""Hand count of an Anthropic Messages stream cut before its message_delta (a client abort), stdlib only.

message_start carries the exact input usage; the final output count would come in message_delta, which this
stream never reached: the call is counted, its input exact, its output estimated (so no output or cost figure
here: an estimate is not a hand count), and it is flagged as estimated and incomplete.
"""

import json
from pathlib import Path

pairs = json.loads(Path("stream_cut_pairs.json").read_text())
out = {"kind": "requests", "calls": len(pairs), "input_tokens": 0, "cache_read_tokens": 0, "cache_write_tokens": 0}
estimated = 0
for pair in pairs:
    events = [json.loads(line[5:]) for line in pair["response"]["body"].splitlines() if line.startswith("data:")]
    start = next(e for e in events if e["type"] == "message_start")["message"]["usage"]
    read = start.get("cache_read_input_tokens") or 0
    write = start.get("cache_creation_input_tokens") or 0
    out["input_tokens"] += start["input_tokens"] + read + write
    out["cache_read_tokens"] += read
    out["cache_write_tokens"] += write
    estimated += not any(e["type"] == "message_delta" for e in events)
out["estimated_requests"] = estimated
out["incomplete_requests"] = estimated
print(json.dumps(out))
