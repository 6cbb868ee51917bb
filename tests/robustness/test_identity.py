"""Cases 1, 2, 4 of issue 14: a record is counted once however the file that holds it grows, is copied,
recompressed, rotated or truncated under us, and identical files in one folder do not stop the run."""

from __future__ import annotations

import gzip
import shutil

import duckdb
import zstandard

from analyzer import inputs
from analyzer.sources import BY_NAME
from analyzer.store import Store
from tests.robustness.conftest import chat_no_id, jsonl, mooncake, run_cli


def _rows(store: Store) -> int:
    return store.con.execute("SELECT count(*) FROM requests").fetchall()[0][0]


def test_grown_file_adds_only_the_new_records(tmp_path):
    log = tmp_path / "app.jsonl"
    log.write_bytes(jsonl([chat_no_id(i) for i in range(4)]))
    store = Store(tmp_path / "db.duckdb")
    assert store.ingest([str(log)]).rows == 4
    log.write_bytes(jsonl([chat_no_id(i) for i in range(5)]))  # one more line appended
    res = store.ingest([str(log)])
    assert res.rows == 1 and res.files[0].duplicates == 4
    assert _rows(store) == 5


def test_compressed_copies_and_rotations_add_nothing_new(tmp_path):
    records = [mooncake(i) for i in range(6)]
    (tmp_path / "a").mkdir()
    plain = tmp_path / "a" / "trace.jsonl"
    plain.write_bytes(jsonl(records[:4]))
    store = Store()
    assert store.ingest([str(plain)]).rows == 4
    gz = tmp_path / "trace.jsonl.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    zst = tmp_path / "trace.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(plain.read_bytes()))
    assert store.ingest([str(gz), str(zst)]).rows == 0
    # logrotate: the old file (grown by one record before rotation) is now .1; the new one holds the rest
    rotated = tmp_path / "trace.jsonl.1.log"
    rotated.write_bytes(jsonl(records[:5]))
    plain.write_bytes(jsonl(records[5:]))
    assert store.ingest([str(rotated), str(plain)]).rows == 2
    assert _rows(store) == 6


def test_identical_calls_in_one_file_are_two_calls(store, tmp_path):
    """Two id-less calls with the same content in one log are two calls (a retried prompt); only a second
    reading of the same record is a duplicate."""
    log = tmp_path / "same.jsonl"
    log.write_bytes(jsonl([chat_no_id(1), chat_no_id(1)]))
    assert store.ingest([str(log)]).rows == 2
    assert store.ingest([str(log)]).rows == 0


def test_record_identity_is_one_helper_every_source_shares():
    from analyzer.sources.base import record_key

    a = record_key("openai_chat", {"b": 1, "a": [1, 2]})
    assert a == record_key("openai_chat", {"a": [1, 2], "b": 1})  # key order is not identity
    assert a != record_key("mooncake_trace", {"a": [1, 2], "b": 1})  # the source is part of it
    assert a != record_key("openai_chat", {"a": [1, 2], "b": 2})


def test_file_truncated_while_being_read_is_read_again_from_its_rotated_copy(tmp_path, monkeypatch):
    """logrotate's copytruncate: the log is copied to .1 and truncated while we read it. What we did not read
    must still be read from the copy, so the manifest holds the hash of what was read, not of the file before."""
    monkeypatch.setattr(inputs, "READ_CHUNK", 512)  # read in small pieces so the truncation lands mid-file
    log = tmp_path / "app.jsonl"
    records = [mooncake(i) for i in range(2000)]  # well past the 64 KiB read to sniff the format
    log.write_bytes(jsonl(records))
    source = BY_NAME["mooncake_trace"]
    parse = type(source).parse
    calls = {"n": 0}

    def parse_then_rotate(self, obj, ctx):
        calls["n"] += 1
        if calls["n"] == 3:  # logrotate runs while we are reading
            shutil.copy(log, tmp_path / "app.jsonl.1.jsonl")
            log.write_bytes(b"")
        return parse(self, obj, ctx)

    monkeypatch.setattr(type(source), "parse", parse_then_rotate)
    store = Store()
    first = store.ingest([str(log)]).rows
    assert first < 2000  # the truncation cut the read short
    monkeypatch.setattr(type(source), "parse", parse)
    store.ingest([str(tmp_path / "app.jsonl.1.jsonl")])
    assert _rows(store) == 2000


def test_two_identical_files_in_one_folder(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(jsonl([chat_no_id(i) for i in range(3)]))
    shutil.copy(folder / "a.jsonl", folder / "b.jsonl")
    db = tmp_path / "db.duckdb"
    res = run_cli("ingest", str(folder), "--db", str(db))
    assert res.returncode == 0, res.stderr.decode()
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM requests").fetchall()[0][0] == 3
    con.close()
    assert b"same content" in res.stdout or b"already ingested" in res.stdout
