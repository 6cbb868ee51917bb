"""Simon Willison's `llm` CLI log database (`logs.db`, SQLite), read with Python's sqlite3.

One row of its `responses` table per prompt: `id`, `model` (and `resolved_model` when an alias was resolved),
`system`, `prompt`, `response`, `conversation_id`, `duration_ms`, `datetime_utc`, `input_tokens`,
`output_tokens` and `token_details` (the provider's remaining usage fields as JSON), as llm's own migrations
define them. Cached tokens come from `token_details`: OpenAI's `prompt_tokens_details.cached_tokens` (inside
the input count) or Anthropic's `cache_read_input_tokens` / `cache_creation_input_tokens` (outside it, so added
back). `prompt` is that turn's prompt only: llm sends a conversation's earlier turns again but logs them in
their own rows, so message prefixes here are per turn, and threads come from `conversation_id`. A row with no
token counts (llm records usage only when the model's plugin reports it) is rejected with that reason rather
than priced at $0.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from analyzer.errors import InputError
from analyzer.sources.base import RecordError, Request, Source, count, first_str, guess_provider, sub, timestamp_us

SQLITE_MAGIC = b"SQLite format 3\x00"
_COLUMNS = (
    "id",
    "model",
    "resolved_model",
    "prompt",
    "system",
    "response",
    "conversation_id",
    "duration_ms",
    "datetime_utc",
    "input_tokens",
    "output_tokens",
    "token_details",
)


def sqlite_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(rowid, row) for every row of `responses`, oldest first; the file is opened read-only."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as e:
        raise InputError(f"{path}: cannot open SQLite database ({e})") from None
    try:
        cols = {r[1] for r in con.execute("PRAGMA table_info(responses)").fetchall()}
        if not cols:
            raise InputError(f"{path}: SQLite database without a `responses` table (not an llm logs.db)")
        wanted = [c for c in _COLUMNS if c in cols]
        sql = f"SELECT rowid, {', '.join(wanted)} FROM responses ORDER BY rowid"
        for row in con.execute(sql):
            yield row[0], dict(zip(wanted, row[1:], strict=True))
    except sqlite3.Error as e:
        raise InputError(f"{path}: cannot read SQLite database ({e})") from None
    finally:
        con.close()


class LlmLogsDb(Source):
    name = "llm_logs_db"
    title = "Simon Willison's llm CLI log database (logs.db, SQLite: the responses table)"
    enables = "cost (tokens as logged, cached where the provider reports them), conversations, messages (prefixes)"
    example = "llm_logs.db"
    detected_by = "a SQLite file whose responses table has model, prompt, datetime_utc, input_tokens"

    def sniff(self, obj: dict[str, Any]) -> bool:
        return {"model", "prompt", "datetime_utc", "input_tokens"} <= set(obj)

    def parse(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Request:
        model = first_str(obj.get("resolved_model"), obj.get("model"))
        if model is None:
            raise RecordError("row has no model")
        if obj.get("input_tokens") is None and obj.get("output_tokens") is None:
            raise RecordError("no input_tokens/output_tokens logged (llm records usage only when the model reports it)")
        r = Request(model=model, provider=guess_provider(model))
        r.request_id = first_str(obj.get("id"))
        r.ts_us = timestamp_us(obj.get("datetime_utc"), "datetime_utc")
        r.input_tokens = count(obj.get("input_tokens"), "input_tokens")
        r.output_tokens = count(obj.get("output_tokens"), "output_tokens")
        details: Any = obj.get("token_details")
        if isinstance(details, str) and details.strip():
            try:
                details = orjson.loads(details)
            except orjson.JSONDecodeError:
                raise RecordError("token_details is not JSON") from None
        if isinstance(details, dict):
            read = count(details.get("cache_read_input_tokens"), "token_details.cache_read_input_tokens")
            write = count(details.get("cache_creation_input_tokens"), "token_details.cache_creation_input_tokens")
            if read or write:  # Anthropic's counts sit outside input_tokens
                r.input_tokens += read + write
                r.cache_read_tokens, r.cache_write_5m_tokens = read, write
            else:
                r.cache_read_tokens = count(
                    sub(details, "prompt_tokens_details", "cached_tokens"), "prompt_tokens_details.cached_tokens"
                )
            r.reasoning_tokens = count(
                sub(details, "completion_tokens_details", "reasoning_tokens"),
                "completion_tokens_details.reasoning_tokens",
            )
        if obj.get("duration_ms") is not None:
            r.latency_ms = float(count(obj.get("duration_ms"), "duration_ms"))
        r.conversation_id = first_str(obj.get("conversation_id"))
        r.endpoint = "llm"
        if isinstance(obj.get("system"), str) and obj["system"]:
            r.messages.append(("system", obj["system"], False))
        if isinstance(obj.get("prompt"), str):
            r.messages.append(("user", obj["prompt"], False))
        if isinstance(obj.get("response"), str):
            r.messages.append(("assistant", obj["response"], True))
        return r.check()
