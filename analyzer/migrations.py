"""Numbered DuckDB schema migrations, each applied once and recorded in `_llmcost_migrations`.

Append new migrations; never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

MIGRATIONS: list[tuple[int, str, Callable[[duckdb.DuckDBPyConnection], None]]] = []


def migration(number: int, name: str):
    def register(fn: Callable[[duckdb.DuckDBPyConnection], None]):
        MIGRATIONS.append((number, name, fn))
        return fn

    return register


@migration(1, "canonical tables")
def _m001(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""
        CREATE TABLE sources (
            source_id INTEGER PRIMARY KEY, path VARCHAR NOT NULL, sha256 VARCHAR NOT NULL UNIQUE,
            bytes BIGINT, format VARCHAR, rows BIGINT, rejected BIGINT, duplicates BIGINT,
            ingested_at TIMESTAMP, no_text BOOLEAN);
        CREATE TABLE requests (
            request_id VARCHAR NOT NULL, source_id INTEGER NOT NULL, line INTEGER, ts TIMESTAMP,
            provider VARCHAR, model VARCHAR NOT NULL, api_key VARCHAR, project VARCHAR, "user" VARCHAR,
            feature VARCHAR, tags VARCHAR[], conversation_id VARCHAR, thread_id VARCHAR, turn INTEGER,
            endpoint VARCHAR, input_tokens BIGINT NOT NULL, cache_read_tokens BIGINT NOT NULL,
            cache_write_5m_tokens BIGINT NOT NULL, cache_write_1h_tokens BIGINT NOT NULL,
            output_tokens BIGINT NOT NULL, reasoning_tokens BIGINT NOT NULL, batch BOOLEAN NOT NULL,
            service_tier VARCHAR, reported_cost DOUBLE, latency_ms DOUBLE, status VARCHAR NOT NULL,
            n_messages INTEGER NOT NULL, has_tools BOOLEAN NOT NULL, encoding VARCHAR);
        CREATE TABLE messages (
            request_id VARCHAR NOT NULL, position INTEGER NOT NULL, role VARCHAR NOT NULL,
            content_id VARCHAR NOT NULL, tokens INTEGER, is_output BOOLEAN NOT NULL);
        CREATE TABLE contents (
            content_id VARCHAR NOT NULL, chars INTEGER NOT NULL, tokens_o200k INTEGER, tokens_cl100k INTEGER,
            text VARCHAR);
        CREATE TABLE usage_buckets (
            source_id INTEGER, period_start TIMESTAMP, period_end TIMESTAMP, provider VARCHAR, model VARCHAR,
            project VARCHAR, api_key VARCHAR, requests BIGINT, input_tokens BIGINT, cache_read_tokens BIGINT,
            cache_write_tokens BIGINT, output_tokens BIGINT, reported_cost DOUBLE);
        CREATE TABLE rejects (
            source_id INTEGER, path VARCHAR, line INTEGER, location VARCHAR, reason VARCHAR, excerpt VARCHAR);
    """)


@migration(2, "block-hash traces")
def _m002(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE blocks (request_id VARCHAR NOT NULL, position INTEGER NOT NULL, block_hash BIGINT)")
    # Traces count time from their own start, not the calendar: kept apart from `ts` (which stays NULL).
    con.execute("ALTER TABLE requests ADD COLUMN trace_ms DOUBLE")


@migration(3, "cache breakpoints on messages")
def _m003(con: duckdb.DuckDBPyConnection) -> None:
    # The TTL of a cache breakpoint the request set on this message ("5m", "1h", "auto"), else NULL.
    con.execute("ALTER TABLE messages ADD COLUMN breakpoint VARCHAR")


@migration(4, "usage buckets of provider exports")
def _m004(con: duckdb.DuckDBPyConnection) -> None:
    # Migration 1's placeholder was never written to; the exports need more than it had (the export and kind,
    # 5m/1h cache writes, tier and line item, a key that makes a bucket exported twice one bucket).
    con.execute("DROP TABLE usage_buckets")
    con.execute("""
        CREATE TABLE usage_buckets (
            source_id INTEGER NOT NULL, line INTEGER, location VARCHAR, bucket_key VARCHAR NOT NULL,
            export VARCHAR NOT NULL, kind VARCHAR NOT NULL, provider VARCHAR NOT NULL,
            period_start TIMESTAMP NOT NULL, period_end TIMESTAMP, model VARCHAR, project VARCHAR,
            api_key VARCHAR, "user" VARCHAR, service_tier VARCHAR, batch BOOLEAN NOT NULL, context_window VARCHAR,
            line_item VARCHAR, requests BIGINT, input_tokens BIGINT NOT NULL, cache_read_tokens BIGINT NOT NULL,
            cache_write_5m_tokens BIGINT NOT NULL, cache_write_1h_tokens BIGINT NOT NULL,
            output_tokens BIGINT NOT NULL, audio_tokens BIGINT NOT NULL, reported_cost DOUBLE)
    """)


@migration(5, "price modifiers on requests")
def _m005(con: duckdb.DuckDBPyConnection) -> None:
    # Anthropic's data residency (`inference_geo`) and fast mode (`speed`) scale the price by the catalogue's
    # provider_specific_entry multipliers.
    con.execute("ALTER TABLE requests ADD COLUMN inference_geo VARCHAR")
    con.execute("ALTER TABLE requests ADD COLUMN speed VARCHAR")


@migration(6, "usage export pages")
def _m006(con: duckdb.DuckDBPyConnection) -> None:
    # Each page of a paginated export says whether more follow: without a last page the totals are short.
    con.execute(
        "CREATE TABLE usage_pages (source_id INTEGER NOT NULL, export VARCHAR NOT NULL, has_more BOOLEAN NOT NULL, "
        "next_page VARCHAR)"
    )


@migration(7, "estimated usage on requests")
def _m007(con: duckdb.DuckDBPyConnection) -> None:
    # A call whose usage was not logged (a stream cut before its usage, a timeout, a client abort) is counted
    # with its tokens counted from its text: flagged, so that reports show its share of spend apart. NULL (the
    # rows of earlier versions) is false.
    con.execute("ALTER TABLE requests ADD COLUMN usage_estimated BOOLEAN")


@migration(8, "record fingerprints")
def _m008(con: duckdb.DuckDBPyConnection) -> None:
    # A request id is not unique everywhere (Ollama answers chatcmpl-<0..999>, loggers number lines per file): a
    # hash of what the record says (time, model, usage, messages) tells a repeated id's other call from a second
    # reading of the same one. NULL on rows stored before: such an id seen again stays a duplicate.
    con.execute("ALTER TABLE requests ADD COLUMN fingerprint VARCHAR")


@migration(9, "billed units of calls not priced by tokens")
def _m009(con: duckdb.DuckDBPyConnection) -> None:
    # A call the catalogue prices by another unit than tokens (a transcription by the second of audio, an image
    # generation by the image): how many of that unit it billed, and which unit ("second", "image").
    con.execute("ALTER TABLE requests ADD COLUMN units DOUBLE")
    con.execute("ALTER TABLE requests ADD COLUMN unit VARCHAR")


@migration(10, "reject counts")
def _m010(con: duckdb.DuckDBPyConnection) -> None:
    # A flood of bad lines (4 million `{}` in a 15 KB .gz) is kept as the first rows of each file plus one row
    # per reason for the rest: `records` says how many records a row stands for.
    con.execute("ALTER TABLE rejects ADD COLUMN records BIGINT DEFAULT 1")


@migration(11, "breakpoint counts on messages")
def _m011(con: duckdb.DuckDBPyConnection) -> None:
    # How many blocks of the message carry the cache breakpoint (Anthropic's maximum of 4 per request counts
    # blocks: a message sent as two blocks with cache_control sets two). NULL on rows stored before: one where
    # `breakpoint` is set.
    con.execute("ALTER TABLE messages ADD COLUMN breakpoints INTEGER")


def pending(con: duckdb.DuckDBPyConnection) -> list[int]:
    """The migrations a database still needs (all of them for a new one), without changing it."""
    known = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = '_llmcost_migrations' "
        "AND database_name = current_database() AND NOT temporary"
    ).fetchone()
    done = set()
    if known and known[0]:
        done = {r[0] for r in con.execute("SELECT id FROM _llmcost_migrations").fetchall()}
    return [number for number, _, _ in sorted(MIGRATIONS) if number not in done]


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Bring the database to the newest schema; returns the migrations applied now."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS _llmcost_migrations (id INTEGER PRIMARY KEY, name VARCHAR, "
        "applied_at TIMESTAMP DEFAULT current_timestamp)"
    )
    done = {r[0] for r in con.execute("SELECT id FROM _llmcost_migrations").fetchall()}
    applied = []
    for number, name, fn in sorted(MIGRATIONS):
        if number in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            fn(con)
            con.execute("INSERT INTO _llmcost_migrations (id, name) VALUES (?, ?)", [number, name])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(number)
    return applied
