"""The store: idempotent ingest, content addressing, --no-text, compression, transactions."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys

import pytest
import zstandard

from analyzer import queries
from analyzer.errors import InputError
from analyzer.migrations import MIGRATIONS
from analyzer.store import Store
from tests.conftest import ROOT, SAMPLES, openai_record, write_jsonl


def count(store, table):
    return store.con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def test_sample_logs_load_completely(store):
    result = store.ingest([str(SAMPLES)])
    assert result.rejected == 0
    formats = {f.format for f in result.files}
    assert formats == {
        "openai_chat",
        "anthropic_messages",
        "openai_batch_input",
        "openai_batch_output",
        "litellm_payload",
        "litellm_spend_log",
        "mooncake_trace",
        "claude_code",
        "openai_usage",
        "openai_costs",
        "anthropic_usage",
        "anthropic_cost",
        "claude_code_usage_report",
        "bedrock_converse",
        "gemini_generate_content",
        "codex_session",
        "langfuse",
        "otel_genai",
        "llm_logs_db",
        "bedrock_invocation_log",
    }
    assert count(store, "requests") == result.rows == 105
    assert count(store, "sources") == 22
    assert count(store, "usage_buckets") == result.buckets == 15
    trace_inputs = store.con.execute("SELECT input_tokens FROM requests WHERE trace_ms IS NOT NULL").fetchall()
    assert len(trace_inputs) == 60
    assert count(store, "blocks") == sum(-(-n // 512) for (n,) in trace_inputs)


def test_reingest_and_renamed_copy_add_nothing(tmp_path):
    db = tmp_path / "t.duckdb"
    shutil.copy(SAMPLES / "openai_chat.jsonl", tmp_path / "a.jsonl")
    s = Store(db)
    first = s.ingest([str(tmp_path / "a.jsonl")])
    s.close()
    shutil.copy(tmp_path / "a.jsonl", tmp_path / "renamed.jsonl")
    s = Store(db)
    again = s.ingest([str(tmp_path / "a.jsonl"), str(tmp_path / "renamed.jsonl")])
    assert first.rows == 9 and again.rows == 0
    assert all(f.skipped and f.skipped.startswith("already ingested") for f in again.files)
    assert count(s, "requests") == 9
    s.close()


def test_same_request_in_two_files_is_a_duplicate_not_a_second_row(store, tmp_path):
    # A provider's unique id is the call however two loggers describe it; a short id (a counter, Ollama's
    # chatcmpl-<0..999>) is the call only with the same record (issue 23, item 1).
    uid = "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
    write_jsonl(tmp_path / "one.jsonl", [openai_record(rid="req-1"), openai_record(rid=uid)])
    two = [openai_record(rid=uid, prompt=101), openai_record(rid="req-1"), openai_record(rid="r3")]
    write_jsonl(tmp_path / "two.jsonl", two)
    result = store.ingest([str(tmp_path)])
    assert result.rows == 3
    assert sum(f.duplicates for f in result.files) == 2


def test_an_ingest_lets_its_working_sets_go_and_the_next_one_looks_up_the_database(store, tmp_path):
    """The ids and token counts a run met are its working set, not the store's: kept after the run they held
    ~50 MiB at 100k calls through the whole report. The next ingest into the same store finds the same
    duplicates and token counts in the database."""
    first = [openai_record(rid="req-1"), openai_record(rid="req-2")]
    store.ingest([str(write_jsonl(tmp_path / "one.jsonl", first))])
    assert store._request_ids is None and store._tok is None
    tokens_before = store.con.execute("SELECT sum(tokens_o200k) FROM contents").fetchall()[0][0]
    second = [openai_record(rid="req-2"), openai_record(rid="r3")]
    again = store.ingest([str(write_jsonl(tmp_path / "two.jsonl", second))])
    assert (again.rows, sum(f.duplicates for f in again.files)) == (1, 1)
    assert count(store, "requests") == 3
    assert store.con.execute("SELECT sum(tokens_o200k) FROM contents").fetchall()[0][0] >= tokens_before


def test_contents_are_stored_and_tokenized_once(store, tmp_path):
    system = "You are a meticulous assistant. " * 50
    recs = []
    for i in range(5):
        r = openai_record(rid=f"r{i}")
        r["request"]["messages"] = [{"role": "system", "content": system}, {"role": "user", "content": f"q{i}"}]
        recs.append(r)
    store.ingest([str(write_jsonl(tmp_path / "x.jsonl", recs))])
    rows = store.con.execute(
        "SELECT count(*), count(DISTINCT content_id) FROM messages WHERE role = 'system'"
    ).fetchall()[0]
    assert rows == (5, 1)
    stored = store.con.execute("SELECT count(*) FROM contents WHERE text = ?", [system]).fetchall()[0][0]
    assert stored == 1


def test_no_text_keeps_hashes_and_tokens_but_no_text(store, tmp_path):
    store.ingest([str(SAMPLES / "openai_chat.jsonl")], no_text=True)
    texts, tokens = store.con.execute("SELECT count(text), count(tokens_o200k) FROM contents").fetchall()[0]
    assert texts == 0 and tokens > 0
    assert store.con.execute("SELECT count(*) FROM messages WHERE tokens IS NULL").fetchall()[0][0] == 0


def test_message_token_counts_match_reported_prompt_tokens_for_openai(store):
    # the constructed support records' prompt_tokens were counted with the same tokenizer + chat overhead
    store.ingest([str(SAMPLES / "openai_chat.jsonl")])
    rows = store.con.execute("""
        SELECT r.input_tokens, sum(m.tokens) + 3 * count(*) + 3
        FROM requests r JOIN messages m USING (request_id)
        WHERE r.request_id LIKE 'chatcmpl-sample-support-%' AND NOT m.is_output AND m.role <> 'tools'
        GROUP BY ALL""").fetchall()
    assert rows and all(reported == counted for reported, counted in rows)


def test_gzip_and_zstd_are_read_transparently(store, tmp_path):
    raw = (SAMPLES / "anthropic_messages.jsonl").read_bytes()
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "b.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(raw))
    result = store.ingest([str(tmp_path / "a.jsonl.gz"), str(tmp_path / "b.jsonl.zst")])
    # same records in both: the second file's are duplicates by request id
    assert [f.rows for f in result.files] == [5, 0]
    assert [f.duplicates for f in result.files] == [0, 5]


def test_globs_and_folders(store, tmp_path):
    sub = tmp_path / "deep" / "er"
    sub.mkdir(parents=True)
    write_jsonl(sub / "x.jsonl", [openai_record(rid="g1")])
    write_jsonl(tmp_path / "y.jsonl", [openai_record(rid="g2")])
    (tmp_path / "notes.txt").write_text("not a log")
    assert store.ingest([str(tmp_path / "**" / "*.jsonl")]).rows == 2


def test_missing_path_is_an_input_error(store, tmp_path):
    with pytest.raises(InputError, match="no such file"):
        store.ingest([str(tmp_path / "nope.jsonl")])


def test_unrecognised_file_named_directly_is_an_error_but_skipped_in_a_folder(store, tmp_path):
    write_jsonl(tmp_path / "other.json", [{"hello": "world"}])
    write_jsonl(tmp_path / "good.jsonl", [openai_record(rid="ok1")])
    with pytest.raises(InputError, match="unrecognised format"):
        store.ingest([str(tmp_path / "other.json")])
    result = store.ingest([str(tmp_path)])
    assert result.rows == 1
    assert [f.skipped for f in result.files if f.skipped][0].startswith("unrecognised format")


def test_a_failing_file_rolls_back_whole(store, tmp_path, monkeypatch):
    write_jsonl(tmp_path / "a.jsonl", [openai_record(rid=f"t{i}") for i in range(3)])
    from analyzer.ingest import merge

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(merge.FileMerge, "flush", boom)
    with pytest.raises(RuntimeError):
        store.ingest([str(tmp_path / "a.jsonl")])
    assert count(store, "sources") == 0 and count(store, "requests") == 0
    monkeypatch.undo()
    assert store.ingest([str(tmp_path / "a.jsonl")]).rows == 3


def test_migrations_are_recorded_once(tmp_path):
    db = tmp_path / "m.duckdb"
    Store(db).close()
    s = Store(db)
    recorded = [r[0] for r in s.con.execute("SELECT id FROM _llmcost_migrations ORDER BY id").fetchall()]
    assert recorded == sorted(n for n, _, _ in MIGRATIONS)
    assert recorded[:8] == list(range(1, 9))
    s.close()


def test_a_scratch_store_is_a_file_in_its_own_folder_removed_on_close(tmp_path, monkeypatch):
    """A run without --db keeps nothing, but its DuckDB database is a file (compressed, its blocks evictable),
    not memory: in a folder of its own under the temporary directory, gone when the store closes, with the same
    contents as an in-memory store."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    (tmp_path / "logs").mkdir()
    log = write_jsonl(tmp_path / "logs" / "a.jsonl", [openai_record(prompt=100 + i, rid=f"r{i}") for i in range(5)])
    memory = Store(None)
    scratch = Store(None, scratch=True)
    try:
        assert memory.scratch is None
        assert scratch.scratch is not None and scratch.scratch.startswith(str(tmp_path))
        files = [r[0] for r in scratch.con.execute("SELECT path FROM duckdb_databases() WHERE NOT internal").fetchall()]
        assert files == [str(tmp_path / scratch.scratch / "run.duckdb")]
        assert memory.con.execute("SELECT path FROM duckdb_databases() WHERE NOT internal").fetchall() == [(None,)]
        for s in (memory, scratch):
            s.ingest([str(log)])
        q = "SELECT request_id, input_tokens FROM requests ORDER BY request_id"
        assert scratch.con.execute(q).fetchall() == memory.con.execute(q).fetchall() != []
        assert scratch.path == ":memory:"  # what the report says of it: no database kept
    finally:
        memory.close()
        scratch.close()
    assert [p.name for p in tmp_path.iterdir()] == ["logs"]  # the folder went with the store


def test_a_scratch_store_stays_in_memory_when_no_folder_can_be_made(tmp_path, monkeypatch):
    import tempfile

    def no_room(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "mkdtemp", no_room)
    log = write_jsonl(tmp_path / "a.jsonl", [openai_record(rid="r1")])
    store = Store(None, scratch=True)
    try:
        assert store.scratch is None
        assert store.ingest([str(log)]).rejected == 0
        assert count(store, "requests") == 1
    finally:
        store.close()


def test_every_store_has_duckdb_give_back_freed_memory_on_its_own_threads(tmp_path):
    """A report's parent holds a period's frames for the whole run: DuckDB's allocator must not also keep what
    each large query freed (at a million calls ~300 MiB after the period's requests alone) until its thread
    allocates again. Memory, a scratch file, a database file and that file opened read-only alike."""
    db = tmp_path / "d.duckdb"
    Store(db).close()
    for make in (
        lambda: Store(None),
        lambda: Store(None, scratch=True),
        lambda: Store(db),
        lambda: Store(db, read_only=True),
    ):
        s = make()
        try:
            on = s.con.execute("SELECT current_setting('allocator_background_threads')").fetchall()[0][0]
            assert on is True, s.path
            off = s.con.execute("SELECT current_setting('enable_external_access')").fetchall()[0][0]
            assert off is False, s.path
        finally:
            s.close()


def test_a_frame_is_registered_for_sql_without_a_copy_of_its_strings():
    """`queries.register` hands DuckDB the frame as Arrow with polars' own string views (no copy; registered as a
    polars frame, DuckDB gets the older string layout, a copy of every string column held while registered: the
    priced requests' for a whole report), and SQL reads the same values either way: strings, nulls, lists of
    strings, times."""
    from datetime import datetime

    import duckdb
    import polars as pl
    import pyarrow as pa

    from analyzer import queries

    frame = pl.DataFrame(
        {
            "request_id": ["chatcmpl-a-much-longer-id-than-twelve-bytes", "r2", None],
            "tags": [["env:prod", "team:a-rather-long-team-name"], [], None],
            "ts": [datetime(2026, 1, 1, 12), None, datetime(2026, 1, 2)],
            "n": [1, None, 3],
        }
    )
    con = duckdb.connect()
    given: list[object] = []
    real = con.register

    class Spy:
        def register(self, name, obj):
            given.append(obj)
            return real(name, obj)

        def __getattr__(self, name):
            return getattr(con, name)

    queries.register(Spy(), "viewed", frame)  # type: ignore[arg-type]
    con.register("copied", frame)
    (table,) = given
    assert isinstance(table, pa.Table)
    assert table.schema.field("request_id").type == pa.string_view()
    assert table.schema.field("tags").type.value_type == pa.string_view()
    q = "SELECT request_id, tags, ts, n, length(request_id) AS k FROM {} ORDER BY n NULLS LAST"
    assert con.execute(q.format("viewed")).fetchall() == con.execute(q.format("copied")).fetchall()
    assert con.execute("SELECT count(*) FROM viewed WHERE list_contains(tags, 'env:prod')").fetchall() == [(1,)]


def test_system_prompts_of_a_read_only_database_are_counted_without_carrying_their_text(tmp_path):
    """On a read-only --db the rebuilt threads are laid over `requests` by a view over a join. The system prompts'
    query once joined every system message to its text before counting them, and DuckDB carried each message's copy
    of the text through the view's join: 1.4 GB at 100k calls, 14 GB and 19 s at 1M. Counted first, the texts are
    joined once per distinct prompt: 5,000 calls sharing four ~14 KB prompts (~70 MB carried before) fit in 40 MB
    with nothing spilled to disk, and the counts are those of the messages themselves."""
    logs, db = tmp_path / "logs", tmp_path / "d.duckdb"
    subprocess.run([sys.executable, str(ROOT / "bench" / "make_log.py"), str(logs), "--calls", "5000"], check=True)
    s = Store(db)
    try:
        assert s.ingest([str(logs)]).rejected == 0
        per_prompt = "SELECT content_id, count(*) FROM messages WHERE role = 'system' AND NOT is_output GROUP BY 1"
        expected = sorted(s.con.execute(per_prompt).fetchall())
    finally:
        s.close()
    s = Store(db, read_only=True)
    try:
        threads = s.con.sql("SELECT request_id, 't' || request_id AS thread_id, 1 AS turn FROM requests").pl()
        s.write_threads(threads)  # the read-only path: `requests` is now a temporary view
        assert s.con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'requests'").fetchall() == [(1,)]
        s.con.execute("SET max_temp_directory_size = '0KB'")  # nothing spilled to disk
        s.con.execute("SET memory_limit = '40MB'")
        got = queries.run(s.con, "system_prompts", since=None, until=None)
    finally:
        s.close()
    assert len(expected) == 4
    assert sorted(got.select("content_id", "requests").rows()) == expected
    assert got["text"].str.len_chars().min() > 10_000
