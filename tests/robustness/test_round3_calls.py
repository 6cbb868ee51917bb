"""Issue 23, third round of hostile input: valid calls lost to id collisions, mixed files and half lines (items
1-4), terminal and Markdown injection (17), and the audit over usage exports (18)."""

from __future__ import annotations

import gzip
import random

from analyzer.store import Store
from tests.robustness.conftest import jsonl


def _chat(rid, i: int, *, ts: int = 1_764_000_000, prompt: int = 100) -> dict:
    """An OpenAI-compatible chat log line (an Ollama or per-file-counter id when `rid` is short)."""
    return {
        "timestamp": ts + i,
        "request": {"model": "llama3.1:8b", "messages": [{"role": "user", "content": "same question"}]},
        "response": {
            "id": rid,
            "object": "chat.completion",
            "model": "llama3.1:8b",
            "choices": [{"message": {"role": "assistant", "content": "ok"}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": 20},
        },
    }


def _rows(store: Store) -> int:
    return store.con.execute("SELECT count(*) FROM requests").fetchall()[0][0]


# ---- item 1: a request id is not globally unique ----------------------------------------------------------


def test_ollama_ids_that_repeat_are_still_distinct_calls(tmp_path):
    """Ollama answers `chatcmpl-<0..999>`: 2,000 calls at different times are 2,000 calls, and reading the same
    records again (a recompressed copy) adds none of them."""
    rng = random.Random(7)
    recs = [_chat(f"chatcmpl-{rng.randrange(1000)}", i) for i in range(2000)]
    log = tmp_path / "ollama.jsonl"
    log.write_bytes(jsonl(recs))
    store = Store(tmp_path / "db.duckdb")
    res = store.ingest([str(log)])
    assert (res.rows, res.files[0].duplicates) == (2000, 0)
    gz = tmp_path / "copy.jsonl.gz"
    gz.write_bytes(gzip.compress(log.read_bytes() + b"\n"))  # other bytes, same records
    again = store.ingest([str(gz)])
    assert (again.rows, again.files[0].duplicates) == (0, 2000)
    assert _rows(store) == 2000
    store.close()
    # a later run (ids looked up in the database, not in this run's memory) agrees
    store = Store(tmp_path / "db.duckdb")
    assert store.ingest([str(tmp_path / "copy.jsonl.gz")]).files[0].skipped
    third = tmp_path / "third.jsonl"
    third.write_bytes(jsonl(list(reversed(recs)) + [_chat("chatcmpl-5", 5000)]))
    res = store.ingest([str(third)])
    assert (res.rows, res.files[0].duplicates) == (1, 2000)
    assert _rows(store) == 2001


def test_per_file_counters_are_not_ids_across_files(tmp_path):
    """Two loggers that number their lines "id": 1, 2, ...: each file's calls are calls."""
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(jsonl([_chat(n, n, prompt=100) for n in range(1, 51)]))
    b.write_bytes(jsonl([_chat(n, n, ts=1_765_000_000, prompt=300) for n in range(1, 51)]))
    store = Store()
    res = store.ingest([str(a), str(b)])
    assert res.rows == 100 and sum(f.duplicates for f in res.files) == 0


def test_the_same_record_twice_is_still_one_call(tmp_path):
    """Only the same record is a duplicate: a line logged twice, or a provider's unique id on two lines of one
    reply (Claude Code writes one line per content block, differing in time)."""
    log = tmp_path / "twice.jsonl"
    log.write_bytes(jsonl([_chat("chatcmpl-7", 1), _chat("chatcmpl-7", 1), _chat("chatcmpl-7", 2)]))
    res = Store().ingest([str(log)])
    assert (res.rows, res.files[0].duplicates) == (2, 1)
    uid = "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"
    log.write_bytes(jsonl([_chat(uid, 1), _chat(uid, 2)]))
    res = Store().ingest([str(log)])
    assert (res.rows, res.files[0].duplicates) == (1, 1)


# ---- item 2: the format is decided per record where a file mixes shapes ------------------------------------


def _anthropic(i: int) -> dict:
    return {
        "timestamp": 1_764_000_000 + i,
        "request": {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": f"q{i}"}]},
        "response": {
            "id": f"msg_01XFDUDYJgAACzvnptvVo{i:04d}",
            "type": "message",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "ok"}],
            "usage": {"input_tokens": 10, "output_tokens": 5},
        },
    }


def test_a_proxy_log_opening_with_many_events_is_read(tmp_path):
    """60 start-up events before the first call: the file is not skipped as unrecognised (1,000 calls lost)."""
    events = [{"ts": 1_764_000_000 + i, "level": "info", "event": f"proxy.start step {i}"} for i in range(60)]
    calls = [_chat(f"chatcmpl-{i}", i) for i in range(1000)]
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "proxy.jsonl").write_bytes(jsonl(events + calls))
    res = Store().ingest([str(folder)])
    f = res.files[0]
    assert f.skipped is None and f.format == "openai_chat"
    assert f.rows == 1000
    # named on the command line, and piped in: the same
    assert Store().ingest([str(folder / "proxy.jsonl")]).rows == 1000


def test_a_pipe_opening_with_many_events_is_read(tmp_path):
    from tests.robustness.conftest import run_cli

    events = [{"ts": 1_764_000_000 + i, "event": "tick"} for i in range(60)]
    calls = [_chat(f"chatcmpl-{i}", i) for i in range(50)]
    db = tmp_path / "db.duckdb"
    res = run_cli("ingest", "--db", str(db), "-", input=jsonl(events + calls))
    assert res.returncode == 0, res.stderr.decode()
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM requests").fetchall()[0][0] == 50
    con.close()


def test_a_gateway_log_with_openai_and_anthropic_calls_reads_both(tmp_path):
    recs = []
    for i in range(40):
        recs.append(_anthropic(i))
        recs.append(_chat(f"chatcmpl-{i}", i))
    log = tmp_path / "gateway.jsonl"
    log.write_bytes(jsonl(recs))
    store = Store()
    res = store.ingest([str(log)])
    assert (res.rows, res.rejected) == (80, 0)
    by = dict(store.con.execute("SELECT provider, count(*) FROM requests GROUP BY ALL").fetchall())
    assert by.pop("anthropic") == 40 and sum(by.values()) == 40


def test_a_forced_format_is_not_second_guessed(tmp_path):
    recs = [_anthropic(0), _chat("chatcmpl-1", 1)]
    log = tmp_path / "gateway.jsonl"
    log.write_bytes(jsonl(recs))
    res = Store().ingest([str(log)], fmt="anthropic_messages")
    assert (res.rows, res.rejected) == (1, 1)


# ---- item 3: a live log ending in half a line ---------------------------------------------------------------


def test_a_half_written_last_line_waits_for_the_next_night(tmp_path):
    from tests.robustness.conftest import chat_no_id, run_cli

    log = tmp_path / "live.jsonl"
    whole = jsonl([chat_no_id(i) for i in range(4)])
    last = whole.splitlines(keepends=True)[-1]
    log.write_bytes(whole[: -len(last)] + last[: len(last) // 2])  # the writer is half way through line 4
    db = tmp_path / "db.duckdb"
    res = run_cli("ingest", "--db", str(db), "--strict", str(log))
    assert res.returncode == 0, res.stderr.decode()
    store = Store(db)
    assert store.con.execute("SELECT count(*) FROM requests").fetchall()[0][0] == 3
    assert store.con.execute("SELECT count(*) FROM rejects").fetchall()[0][0] == 0
    log.write_bytes(whole)  # the next night: line 4 complete
    res = store.ingest([str(log)])
    assert (res.rows, res.rejected, res.files[0].duplicates) == (1, 0, 3)
    assert store.con.execute("SELECT count(*) FROM rejects").fetchall()[0][0] == 0
    store.close()


def test_a_complete_last_line_without_a_line_end_is_read(tmp_path):
    from tests.robustness.conftest import chat_no_id

    log = tmp_path / "done.jsonl"
    log.write_bytes(jsonl([chat_no_id(i) for i in range(3)]).rstrip(b"\n"))
    assert Store().ingest([str(log)]).rows == 3
