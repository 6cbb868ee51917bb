"""Block-hash inference traces in the public Mooncake format (no text, no model).

One JSON object per line: `timestamp` (milliseconds from the trace start), `input_length`, `output_length` and
`hash_ids`, the ids of the request's fixed-size token blocks (512 tokens) in order, where an id repeated
across requests means the same prefix up to and including that block. They feed prefix-reuse analysis; the
calls have no model, so they are unpriced.
"""

from __future__ import annotations

from typing import Any

from analyzer.sources.base import RecordError, Request, Source
from analyzer.sources.fields import count

BLOCK_TOKENS = 512
TRACE_MODEL = "(block-hash trace)"


class MooncakeTrace(Source):
    name = "mooncake_trace"
    title = "Block-hash inference trace (Mooncake format: timestamp ms, input/output length, hash_ids)"
    enables = "prefix reuse and ideal cache-hit ratios from 512-token block hashes; no cost (no model)"
    example = "mooncake_trace.jsonl"
    detected_by = "lines with hash_ids and input_length"

    def sniff(self, obj: dict[str, Any]) -> bool:
        return "hash_ids" in obj and "input_length" in obj

    def parse(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Request:
        ids = obj.get("hash_ids")
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise RecordError("hash_ids is not a list of integers")
        n_in = count(obj.get("input_length"), "input_length")
        if len(ids) != -(-n_in // BLOCK_TOKENS):
            raise RecordError(f"{len(ids)} hash_ids for input_length {n_in} (expected one per {BLOCK_TOKENS} tokens)")
        ts = obj.get("timestamp")
        if isinstance(ts, bool) or not isinstance(ts, int | float) or ts < 0:
            raise RecordError("unparseable timestamp", ts)
        r = Request(
            model=TRACE_MODEL, input_tokens=n_in, output_tokens=count(obj.get("output_length"), "output_length")
        )
        r.trace_ms = float(ts)
        r.blocks = ids
        r.endpoint = "trace"
        return r
