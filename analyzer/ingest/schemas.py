"""The Arrow schemas of a parsed batch: the columns of `requests`, `messages`, `contents` and `blocks` as a worker
builds them and the store inserts them. Apart, as both sides of the ingest (builder and merge) name them."""

from __future__ import annotations

import pyarrow as pa

REQUEST_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("source_id", pa.int32()),
        ("line", pa.int32()),
        ("ts", pa.timestamp("us")),
        ("provider", pa.string()),
        ("model", pa.string()),
        ("api_key", pa.string()),
        ("project", pa.string()),
        ("user", pa.string()),
        ("feature", pa.string()),
        ("tags", pa.list_(pa.string())),
        ("conversation_id", pa.string()),
        ("endpoint", pa.string()),
        ("input_tokens", pa.int64()),
        ("cache_read_tokens", pa.int64()),
        ("cache_write_5m_tokens", pa.int64()),
        ("cache_write_1h_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("reasoning_tokens", pa.int64()),
        ("batch", pa.bool_()),
        ("service_tier", pa.string()),
        ("reported_cost", pa.float64()),
        ("latency_ms", pa.float64()),
        ("status", pa.string()),
        ("n_messages", pa.int32()),
        ("has_tools", pa.bool_()),
        ("encoding", pa.string()),
        ("trace_ms", pa.float64()),
        ("inference_geo", pa.string()),
        ("speed", pa.string()),
        ("fingerprint", pa.string()),
        ("usage_estimated", pa.bool_()),
        ("units", pa.float64()),
        ("unit", pa.string()),
    ]
)
REQUEST_FIELDS = [f.name for f in REQUEST_SCHEMA]
MESSAGE_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("position", pa.int32()),
        ("role", pa.string()),
        ("content_id", pa.string()),
        ("tokens", pa.int32()),
        ("is_output", pa.bool_()),
        ("breakpoint", pa.string()),
        ("breakpoints", pa.int32()),
    ]
)
CONTENT_SCHEMA = pa.schema(
    [
        ("content_id", pa.string()),
        ("chars", pa.int32()),
        ("tokens_o200k", pa.int32()),
        ("tokens_cl100k", pa.int32()),
        ("text", pa.string()),
    ]
)
# A unit's messages and blocks name their request by its row in the batch (`req`); the store puts the id there.
UNIT_MESSAGE_SCHEMA = pa.schema([("req", pa.int32())] + list(MESSAGE_SCHEMA)[1:])
BLOCK_SCHEMA = pa.schema([("req", pa.int32()), ("position", pa.int32()), ("block_hash", pa.int64())])
# The `sources` manifest's columns (migrations.py), as Store.add_source gives a file's row
SOURCE_SCHEMA = pa.schema(
    [
        ("source_id", pa.int32()),
        ("path", pa.string()),
        ("sha256", pa.string()),
        ("bytes", pa.int64()),
        ("format", pa.string()),
        ("rows", pa.int64()),
        ("rejected", pa.int64()),
        ("duplicates", pa.int64()),
        ("ingested_at", pa.timestamp("us")),
        ("no_text", pa.bool_()),
    ]
)
