"""Simon Willison's `llm` CLI log database (`logs.db`, SQLite), read with Python's sqlite3.

Two schemas, both read (a database upgraded from an older llm holds its old calls in the first and its new ones
in the second):

- llm up to 0.31: one row of `responses` per prompt: `id`, `model` (and `resolved_model` when an alias was
  resolved), `system`, `prompt`, `response`, `conversation_id`, `duration_ms`, `datetime_utc`, `input_tokens`,
  `output_tokens` and `token_details` (the provider's remaining usage fields as JSON). `prompt` is that turn's
  prompt only: llm sends a conversation's earlier turns again but logs them in their own rows, so message
  prefixes here are per turn.
- llm 0.32 and later (migration m023_message_store): new calls go to `turns` (one row per model call: `id`,
  `thread_id`, `model`, `resolved_model`, the same token columns, `duration_ms`, `datetime_utc`, and from 0.36
  `response_json`, the provider's payload, whose `model` is the model that answered) and the `responses` table
  stays empty. A turn's messages are content-addressed in `messages` (`hash`, `parent_hash`, `role`) and
  `parts` (`type`, `text`, `payload`, fragments through `part_fragments`): the chain from the root to
  `parent_message_hash` is what the call sent, the rest up to `tip_message_hash` what it answered, so prefixes
  here are the whole conversation. Threads come from `thread_id`.

The model priced is `resolved_model`, else the `model` of `response_json`, else `model` (llm's own id, such as
"anthropic/claude-sonnet-4-5"). Cached tokens come from `token_details`: OpenAI's
`prompt_tokens_details.cached_tokens` (inside the input count; `cache_write_tokens` likewise) or Anthropic's
`cache_read_input_tokens` / `cache_creation_input_tokens` (outside it, so added back). A row with no token counts
(llm records usage only when the model's plugin reports it) is rejected with that reason rather than priced at
$0. A SQLite file with neither table is refused with that reason.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from analyzer.errors import InputError
from analyzer.providers import guess_provider
from analyzer.sources.base import RecordError, Request, Source
from analyzer.sources.fields import count, first_str, sub, timestamp_us

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


_TURN_COLUMNS = (
    "id",
    "thread_id",
    "model",
    "resolved_model",
    "parent_message_hash",
    "tip_message_hash",
    "duration_ms",
    "datetime_utc",
    "input_tokens",
    "output_tokens",
    "token_details",
    "response_json",
)


def _columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in con.execute(f"PRAGMA table_info({table})").fetchall()}


def sqlite_rows(path: Path) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(table, rowid, row) for every call of an llm logs.db, oldest first: the rows of `responses` (llm up to
    0.31), then those of `turns` (0.32 and later) with their messages. The file is opened read-only."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as e:
        raise InputError(f"cannot open SQLite database ({e})", path=str(path)) from None
    try:
        cols = _columns(con, "responses")
        turn_cols = _columns(con, "turns")
        if not {"model", "input_tokens"} <= cols and not {"model", "input_tokens"} <= turn_cols:
            tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            shown = ", ".join(tables[:8]) + (", ..." if len(tables) > 8 else "") if tables else "none"
            raise InputError(
                f"SQLite database of an unknown schema (not an llm logs.db: no `responses` or `turns` table "
                f"with model and token columns; its tables: {shown})",
                path=str(path),
            )
        if {"model", "input_tokens"} <= cols:
            wanted = [c for c in _COLUMNS if c in cols]
            sql = f"SELECT rowid, {', '.join(wanted)} FROM responses ORDER BY rowid"
            for row in con.execute(sql):
                yield "responses", row[0], dict(zip(wanted, row[1:], strict=True))
        if {"model", "input_tokens"} <= turn_cols:
            yield from _turns(con, turn_cols)
    except sqlite3.Error as e:
        raise InputError(f"cannot read SQLite database ({e})", path=str(path)) from None
    finally:
        con.close()


def _turns(con: sqlite3.Connection, cols: set[str]) -> Iterator[tuple[str, int, dict[str, Any]]]:
    wanted = [c for c in _TURN_COLUMNS if c in cols]
    texts = _message_texts(con)
    for row in con.execute(f"SELECT rowid, {', '.join(wanted)} FROM turns ORDER BY rowid").fetchall():
        obj = dict(zip(wanted, row[1:], strict=True))
        obj["messages"] = _chain(texts, obj.get("parent_message_hash"), obj.get("tip_message_hash"))
        yield "turns", row[0], obj


def _message_texts(con: sqlite3.Connection) -> dict[str, tuple[str | None, str, str]]:
    """hash -> (parent hash, role, text of its parts in order) for the message store (empty without one)."""
    if not {"hash", "parent_hash", "role"} <= _columns(con, "messages"):
        return {}
    parts: dict[str, list[str]] = {}
    if {"message_hash", "position", "text"} <= _columns(con, "parts"):
        has_payload = "payload" in _columns(con, "parts")
        fragments: dict[int, list[str]] = {}
        if {"part_id", "fragment_id"} <= _columns(con, "part_fragments") and "content" in _columns(con, "fragments"):
            sql = (
                "SELECT pf.part_id, f.content FROM part_fragments pf JOIN fragments f ON f.id = pf.fragment_id "
                'ORDER BY pf.part_id, pf."order"'
            )
            for part_id, content in con.execute(sql):
                if isinstance(content, str):
                    fragments.setdefault(part_id, []).append(content)
        payload = "payload" if has_payload else "NULL"
        sql = f"SELECT id, message_hash, text, {payload} FROM parts ORDER BY message_hash, position"
        for part_id, message_hash, text, extra in con.execute(sql):
            piece = text if isinstance(text, str) and text else "".join(fragments.get(part_id, ()))
            if not piece and isinstance(extra, str):
                piece = extra  # a tool call or result: its JSON stands for its text
            parts.setdefault(message_hash, []).append(piece)
    return {
        h: (parent, role if isinstance(role, str) else "user", "\n".join(parts.get(h, ())))
        for h, parent, role in con.execute("SELECT hash, parent_hash, role FROM messages")
    }


def _chain(texts: dict[str, tuple[str | None, str, str]], parent: Any, tip: Any) -> list[tuple[str, str, bool]]:
    """A turn's messages, root first: (role, text, is_output); output is what follows `parent` up to `tip`."""
    out: list[tuple[str, str, bool]] = []
    h, is_output, seen = tip, True, set()
    while isinstance(h, str) and h in texts and h not in seen:
        seen.add(h)
        if h == parent:
            is_output = False
        up, role, text = texts[h]
        out.append((role, text, is_output))
        h = up
    out.reverse()
    return out


class LlmLogsDb(Source):
    name = "llm_logs_db"
    title = "Simon Willison's llm CLI log database (logs.db, SQLite: responses, or turns from llm 0.32)"
    enables = "cost (tokens as logged, cached where the provider reports them), conversations, messages (prefixes)"
    example = "llm_logs.db"
    detected_by = "a SQLite file with llm's responses table (model, prompt, input_tokens) or turns table (0.32+)"

    def sniff(self, obj: dict[str, Any]) -> bool:
        keys = set(obj)
        return {"model", "datetime_utc", "input_tokens"} <= keys and ("prompt" in keys or "tip_message_hash" in keys)

    def parse(self, obj: dict[str, Any], ctx: dict[str, Any]) -> Request:
        answered = None
        if isinstance(obj.get("response_json"), str) and obj["response_json"].strip():
            try:
                payload = orjson.loads(obj["response_json"])
                answered = first_str(payload.get("model")) if isinstance(payload, dict) else None
            except orjson.JSONDecodeError:
                answered = None  # the payload is llm's copy for display; the token columns are the usage
        model = first_str(obj.get("resolved_model"), answered, obj.get("model"))
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
                r.cache_write_5m_tokens = count(
                    sub(details, "prompt_tokens_details", "cache_write_tokens"),
                    "prompt_tokens_details.cache_write_tokens",
                )
            r.reasoning_tokens = count(
                sub(details, "completion_tokens_details", "reasoning_tokens"),
                "completion_tokens_details.reasoning_tokens",
            )
        if obj.get("duration_ms") is not None:
            r.latency_ms = float(count(obj.get("duration_ms"), "duration_ms"))
        r.conversation_id = first_str(obj.get("conversation_id"), obj.get("thread_id"))
        r.endpoint = "llm"
        if isinstance(obj.get("messages"), list):  # a turn (llm 0.32+): the conversation it sent, and its answer
            r.messages.extend(m for m in obj["messages"] if m[1])
            return r.check()
        if isinstance(obj.get("system"), str) and obj["system"]:
            r.messages.append(("system", obj["system"], False))
        if isinstance(obj.get("prompt"), str):
            r.messages.append(("user", obj["prompt"], False))
        if isinstance(obj.get("response"), str):
            r.messages.append(("assistant", obj["response"], True))
        return r.check()
