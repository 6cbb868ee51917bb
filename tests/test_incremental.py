"""Incremental ingest: a new day on top of a month costs the new day. The store looks up only the ids and
contents of the batch it is writing, instead of loading every request id and token count into Python, and the
results are the same as before: duplicates across runs, token counts reused, one row per content."""

from __future__ import annotations

import pytest

from analyzer import tokens
from analyzer.store import Store
from tests.conftest import openai_record, write_jsonl

SYSTEM = "You are the support assistant of a shop that sells tents and boots. " * 40


def _day(day: int, n: int, model: str = "gpt-4o", start: int = 0) -> list[dict]:
    out = []
    for i in range(start, start + n):
        r = openai_record(model=model, rid=f"d{day}-{i}", ts=1_764_000_000 + day * 86_400 + i)
        r["request"]["messages"] = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"day {day} question {i}"},
        ]
        out.append(r)
    return out


def test_a_new_day_holds_only_its_own_ids_and_contents_in_memory(tmp_path, monkeypatch):
    db = tmp_path / "month.duckdb"
    s = Store(db)
    s.ingest([str(write_jsonl(tmp_path / f"day{d}.jsonl", _day(d, 40))) for d in range(30)])
    s.close()
    s = Store(db)
    held: list[tuple[int, int]] = []  # the working set's size when the ingest lets it go
    forget = s.forget

    def measured_forget():
        if s._request_ids is not None and s._tok is not None:
            held.append((len(s._request_ids), len(s._tok["o200k_base"])))
        forget()

    monkeypatch.setattr(s, "forget", measured_forget)
    try:
        new = s.ingest([str(write_jsonl(tmp_path / "day30.jsonl", _day(30, 40)))])
        assert new.rows == 40
        # Old code loaded all 1,240 request ids and every content's counts; now only this day's are held,
        # and let go when the ingest ends.
        assert held == [(40, 41 + 1)]  # 40 questions, the system prompt, the reply "ok"
        assert s._request_ids is None and s._tok is None
        assert s.con.execute("SELECT count(*) FROM requests").fetchall()[0][0] == 30 * 40 + 40
    finally:
        s.close()


def test_requests_already_stored_by_an_earlier_run_are_duplicates(tmp_path):
    db = tmp_path / "t.duckdb"
    s = Store(db)
    s.ingest([str(write_jsonl(tmp_path / "a.jsonl", _day(1, 10)))])
    s.close()
    s = Store(db)
    try:
        # the same calls re-exported with 5 new ones (different bytes, so not skipped as a known file)
        res = s.ingest([str(write_jsonl(tmp_path / "b.jsonl", _day(1, 15)))])
        assert res.rows == 5 and res.files[0].duplicates == 10
        assert s.con.execute("SELECT count(*) FROM requests").fetchall()[0][0] == 15
    finally:
        s.close()


def test_contents_from_an_earlier_run_are_reused_not_stored_again(tmp_path):
    db = tmp_path / "t.duckdb"
    s = Store(db)
    s.ingest([str(write_jsonl(tmp_path / "a.jsonl", _day(1, 3)))])
    s.close()
    s = Store(db)
    try:
        s.ingest([str(write_jsonl(tmp_path / "b.jsonl", _day(2, 3)))])
        dup = s.con.execute(
            "SELECT count(*) FROM (SELECT content_id FROM contents GROUP BY content_id HAVING count(*) > 1)"
        ).fetchall()[0][0]
        assert dup == 0
        sys_tokens = s.con.execute("SELECT DISTINCT m.tokens FROM messages m WHERE m.role = 'system'").fetchall()
        assert sys_tokens == [(tokens.count(SYSTEM, "o200k_base"),)]
    finally:
        s.close()


def test_a_stored_content_gets_its_cl100k_count_when_a_later_run_needs_it(tmp_path):
    db = tmp_path / "t.duckdb"
    s = Store(db)
    s.ingest([str(write_jsonl(tmp_path / "a.jsonl", _day(1, 2, model="gpt-4o")))])
    assert s.con.execute("SELECT count(tokens_cl100k) FROM contents").fetchall()[0][0] == 0
    s.close()
    s = Store(db)
    try:
        s.ingest([str(write_jsonl(tmp_path / "b.jsonl", _day(2, 2, model="gpt-4")))])
        cl = s.con.execute("SELECT tokens_cl100k FROM contents WHERE text = ?", [SYSTEM]).fetchall()
        assert cl == [(tokens.count(SYSTEM, "cl100k_base"),)]
        used = s.con.execute(
            "SELECT DISTINCT m.tokens FROM messages m JOIN requests r USING (request_id) "
            "WHERE m.role = 'system' AND r.model = 'gpt-4'"
        ).fetchall()
        assert used == [(tokens.count(SYSTEM, "cl100k_base"),)]
    finally:
        s.close()


def test_after_a_rollback_what_earlier_files_committed_is_still_found(tmp_path, monkeypatch):
    s = Store()
    try:
        s.ingest([str(write_jsonl(tmp_path / "a.jsonl", _day(1, 4)))])
        s._request_ids, s._tok = None, None  # what a rolled-back file leaves: the run's sets forgotten
        res = s.ingest([str(write_jsonl(tmp_path / "b.jsonl", _day(1, 6)))])
        assert res.rows == 2 and res.files[0].duplicates == 4
        assert s.con.execute("SELECT count(*) FROM contents WHERE text = ?", [SYSTEM]).fetchall()[0][0] == 1
    finally:
        s.close()


def _table(store: Store, name: str) -> list[tuple]:
    return store.con.execute(
        f"SELECT * EXCLUDE (source_id) FROM {name}" if name == "requests" else f"SELECT * FROM {name}"
    ).fetchall()


@pytest.mark.parametrize("in_file", [False, True])
def test_a_large_files_rows_go_in_as_it_is_read_and_a_failure_still_undoes_them(tmp_path, monkeypatch, in_file):
    """A file too large to join a group is a transaction of its own; its rows were held in the parent until its end
    (the 12 GB file of the 1M-call log: 3.4 GB by the end of reading). They go in every FLUSH_ROWS rows within the
    transaction: the same tables, row for row, and a file that fails half way still leaves nothing. In a database
    file, the blocks just written are shed too (here whatever their size), inside the open transaction."""
    from analyzer import perf
    from analyzer.ingest import batches
    from analyzer.ingest import run as ingest_run
    from analyzer.ingest.merge import FileMerge

    monkeypatch.setattr(batches, "BATCH_ROWS", 200)  # requests a parsed batch holds (5,000)

    recs = _day(3, 3000)
    for i, r in enumerate(recs):
        r["request"]["messages"].append({"role": "user", "content": f"more about item {i} " * 30})
    path = write_jsonl(tmp_path / "big.jsonl", recs)
    assert path.stat().st_size > ingest_run.WHOLE_HERE_BYTES
    tables = ("requests", "messages", "contents")

    monkeypatch.setattr(ingest_run, "FLUSH_ROWS", 10**9)
    held = Store()
    held.ingest([str(path)])
    want = {t: _table(held, t) for t in tables}
    held.close()

    monkeypatch.setattr(ingest_run, "FLUSH_ROWS", 1000)
    pending: list[int] = []
    write = Store.write_pending
    monkeypatch.setattr(Store, "write_pending", lambda s: pending.append(s.pending_rows) or write(s))
    shed: list[int] = []
    if in_file:
        monkeypatch.setattr(perf, "SHED_FROM_BYTES", 0)
        real_shed = perf.shed_file_blocks
        monkeypatch.setattr(ingest_run, "shed_file_blocks", lambda con: shed.append(real_shed(con)) or shed[-1])
    s = Store(tmp_path / "s.duckdb" if in_file else None)
    try:
        s.ingest([str(path)])
        assert {t: _table(s, t) for t in tables} == want and len(want["requests"]) == 3000
        assert len(shed) >= 5 if in_file else not shed
        assert sum(n >= 1000 for n in pending) >= 5  # inserted along the way, not all at the end
        # a file that fails half way (the database, Ctrl-C): its first rows were inserted, and the rollback undoes them
        other = write_jsonl(
            tmp_path / "other.jsonl",
            [{**r, "response": {**r["response"], "id": r["response"]["id"].replace("d3-", "d4-")}} for r in recs],
        )
        flush, calls = FileMerge.flush, []

        def failing(self, b, res):
            calls.append(1)
            if len(calls) == 12:
                raise RuntimeError("the disk is full")
            flush(self, b, res)

        monkeypatch.setattr(FileMerge, "flush", failing)
        pending.clear()
        with pytest.raises(RuntimeError):
            s.ingest([str(other)])
        assert sum(n >= 1000 for n in pending) >= 2
        assert s.con.execute("SELECT count(*) FROM requests WHERE request_id LIKE 'd4-%'").fetchall() == [(0,)]
        assert {t: _table(s, t) for t in tables} == want
    finally:
        s.close()
