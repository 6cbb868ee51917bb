"""Ingest on a process pool (#15): files and byte ranges of a large JSONL parsed in workers, merged in unit order,
give exactly the tables (and so the report) of a serial ingest, with quarantined lines at their true file:line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pytest

from analyzer.backends.local import Inline, Local
from analyzer.cli import cli
from analyzer.errors import InputError
from analyzer.ingest import parse, run
from analyzer.ingest.units import split_ranges
from analyzer.inputs import expand_paths
from analyzer.store import Store
from tests.conftest import SAMPLES, chat_call, openai_record
from tests.test_report import _normalise

TABLES = {
    "requests": "SELECT * FROM requests",
    "messages": "SELECT * FROM messages",
    "contents": "SELECT * FROM contents",
    "blocks": "SELECT * FROM blocks",
    "rejects": "SELECT * FROM rejects",
    "usage_buckets": "SELECT * FROM usage_buckets",
    "usage_pages": "SELECT * FROM usage_pages",
    "sources": "SELECT * EXCLUDE (ingested_at) FROM sources",
}
RANGE = 4096  # bytes per range in these tests: the large file below becomes many ranges


def _line(rec: dict | str) -> str:
    return rec if isinstance(rec, str) else json.dumps(rec)


def _big_records() -> tuple[list[dict | str], list[int]]:
    """~300 records with keyless repeats (identical calls), shared prompts and broken lines scattered so that
    they land in different ranges; returns the records and the 1-based line numbers of the broken ones."""
    system = "You are a careful assistant. " + " ".join(f"policy {i}" for i in range(60))
    recs: list[dict | str] = []
    bad: list[int] = []
    for i in range(300):
        if i in (7, 140, 233):
            recs.append('{"timestamp": 1764000000, "request": {broken')
            bad.append(len(recs))
            continue
        if i == 181:
            recs.append("[1, 2, 3]")  # JSON, but not an object
            bad.append(len(recs))
            continue
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": f"question {i % 37}"}]
        usage = {"prompt_tokens": 400 + i % 37, "completion_tokens": 12}
        rec = chat_call(f"big-{i}", 1_764_000_000 + i * 60, msgs, usage, model="gpt-4" if i % 5 == 0 else "gpt-4o")
        if i % 11 == 0:
            del rec["response"]["id"]  # keyless: identified by content, repeats numbered #2, #3 across ranges
            rec["timestamp"] = 1_764_000_000
            rec["request"]["messages"][1]["content"] = "the same question"
        recs.append(rec)
    return recs, bad


def _inputs(tmp: Path) -> tuple[list[str], Path, list[int]]:
    recs, bad = _big_records()
    big = tmp / "big.jsonl"
    # CRLF on some lines and blank lines between some: line numbers count every line end, as split_lines does
    text = ""
    for i, r in enumerate(recs):
        text += _line(r) + ("\r\n" if i % 3 == 0 else "\n")
    big.write_bytes(text.encode())
    a = tmp / "a.jsonl"
    a.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                openai_record(rid="shared-1", prompt=50),
                openai_record(rid="a-2", model="gpt-4o-mini"),
                json.loads(_line(recs[1])),  # the same call as in big.jsonl: a duplicate, first seen wins
            ]
        )
        + "\nnot json\n"
    )
    gz = tmp / "c.jsonl.gz"
    with gzip.open(gz, "wt") as fh:
        for r in [openai_record(rid="shared-1", prompt=50), openai_record(rid="gz-1", prompt=70), recs[0]]:
            fh.write(_line(r) + "\n")
    # copies under other names: found to be the same bytes and skipped, whether read whole or in ranges
    (tmp / "z_copy_of_big.jsonl").write_bytes(big.read_bytes())
    (tmp / "b_copy_of_a.jsonl").write_bytes(a.read_bytes())
    return (
        [str(a), str(big), str(gz), str(tmp / "b_copy_of_a.jsonl"), str(SAMPLES), str(tmp / "z_copy_of_big.jsonl")],
        big,
        bad,
    )


def _tables(s: Store) -> dict[str, list[tuple]]:
    return {name: sorted(s.con.execute(sql).fetchall(), key=repr) for name, sql in TABLES.items()}


@pytest.fixture
def small_units(monkeypatch):
    monkeypatch.setattr(run, "RANGE_BYTES", RANGE)
    monkeypatch.setattr(run, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(run, "POOL_FILE_BYTES", 0)


@pytest.fixture(scope="module")
def pool():
    b = Local(2)
    yield b
    b.close()


def test_the_large_file_is_cut_at_line_ends(tmp_path) -> None:
    _, big, _ = _inputs(tmp_path)
    ranges = split_ranges(big, RANGE)
    data = big.read_bytes()
    assert len(ranges) > 5
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    for (_, end), (start, _) in zip(ranges, ranges[1:], strict=False):
        assert end == start and data[start - 1 : start] == b"\n"


@pytest.mark.parametrize(("no_text", "group"), [(False, 500), (True, 500), (False, 1), (False, 3)])
def test_parallel_ingest_gives_the_serial_tables(tmp_path, small_units, pool, no_text, group, monkeypatch) -> None:
    """Files read whole on the workers are merged in groups (one transaction, one insert per table): the rows, and
    their order, are a file-by-file ingest's whatever the group's size."""
    monkeypatch.setattr(run, "GROUP_FILES", group)
    paths, big, bad = _inputs(tmp_path)
    serial = Store()
    want = serial.ingest(paths, no_text=no_text)
    parallel = Store()
    got = parallel.ingest(paths, no_text=no_text, backend=pool)
    assert [f.as_dict() for f in got.files] == [f.as_dict() for f in want.files]
    assert [f.skipped for f in want.files[:2]] == [
        f"already ingested (same content as {tmp_path / 'a.jsonl'})",
        f"already ingested (same content as {big})",
    ]
    w, g = _tables(serial), _tables(parallel)
    assert w["requests"] and w["rejects"] and w["messages"]
    for name in TABLES:
        assert g[name] == w[name], name
    # the rows went in in the same order too (first seen wins, in input order)
    for sql in ("SELECT request_id FROM requests", "SELECT content_id FROM contents"):
        assert parallel.con.execute(sql).fetchall() == serial.con.execute(sql).fetchall()
    locs = {r[0] for r in parallel.con.execute("SELECT location FROM rejects WHERE path = ?", [str(big)]).fetchall()}
    assert locs == {f"{big}:{n}" for n in bad}


def test_small_files_parsed_whole_here_and_grouped_give_the_streamed_tables(tmp_path, small_units, monkeypatch):
    """Without a pool, a small file is parsed whole before its merge and joins a group; with WHOLE_HERE_BYTES 0
    every file streams into a transaction of its own, as before groups: the same rows, in the same order."""
    paths, _, _ = _inputs(tmp_path)
    grouped = Store()
    a = grouped.ingest(paths)
    monkeypatch.setattr(run, "WHOLE_HERE_BYTES", 0)
    streamed = Store()
    b = streamed.ingest(paths)
    assert [f.as_dict() for f in a.files] == [f.as_dict() for f in b.files]
    assert _tables(grouped) == _tables(streamed)
    for sql in ("SELECT request_id FROM requests", "SELECT content_id FROM contents", "SELECT * FROM messages"):
        assert grouped.con.execute(sql).fetchall() == streamed.con.execute(sql).fetchall()


class _Recording(Local):
    """A pool that remembers which files it was sent."""

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self.sent: set[str] = set()

    def map(self, fn, items):  # type: ignore[no-untyped-def]
        self.sent.update(Path(u.path).name for u in items)
        return super().map(fn, items)


def test_on_a_pool_small_files_are_parsed_here_and_large_ones_on_the_workers(tmp_path, small_units, monkeypatch):
    """Below POOL_FILE_BYTES of text a file is parsed here, even with a pool (a worker's result costs this process
    about what parsing it does); the large file and the compressed one (counted at its inflated size) go to the
    workers. The tables are the serial ingest's, row for row and in order."""
    monkeypatch.setattr(run, "POOL_FILE_BYTES", 2_000)
    paths, big, _ = _inputs(tmp_path)
    sizes = {Path(p).name: Path(p).stat().st_size for p in paths if Path(p).is_file()}
    assert sizes["a.jsonl"] < 2_000 <= sizes["big.jsonl"]
    assert sizes["c.jsonl.gz"] < 2_000 <= sizes["c.jsonl.gz"] * 8
    serial = Store()
    want = serial.ingest(paths)
    pool = _Recording(2)
    try:
        mixed = Store()
        got = mixed.ingest(paths, backend=pool)
    finally:
        pool.close()
    assert {"big.jsonl", "c.jsonl.gz"} <= pool.sent
    assert "a.jsonl" not in pool.sent
    assert [f.as_dict() for f in got.files] == [f.as_dict() for f in want.files]
    assert _tables(mixed) == _tables(serial)
    for sql in ("SELECT request_id FROM requests", "SELECT content_id FROM contents", "SELECT * FROM messages"):
        assert mixed.con.execute(sql).fetchall() == serial.con.execute(sql).fetchall()


def test_ranges_parsed_in_this_process_give_the_serial_tables(tmp_path, small_units) -> None:
    paths, _, _ = _inputs(tmp_path)
    serial = Store()
    serial.ingest(paths)
    ranged = Store()
    ranged.ingest(paths, backend=Local(1))  # units and ranges, parsed in this process (a pool of one maps here)
    assert _tables(ranged) == _tables(serial)


def test_inline_is_the_serial_ingest(tmp_path, small_units, monkeypatch) -> None:
    """Inline, the default, reads each file whole in this process: no units, no ranges."""
    paths, _, _ = _inputs(tmp_path)
    serial = Store()
    serial.ingest(paths)

    def no_ranges(*args):
        raise AssertionError("Inline cut a file into ranges")

    monkeypatch.setattr(parse, "range_items", no_ranges)
    inline = Store()
    inline.ingest(paths, backend=Inline())
    assert _tables(inline) == _tables(serial)


def test_a_bad_line_in_the_second_range_has_its_true_line_number(tmp_path, small_units, pool) -> None:
    lines = [json.dumps(openai_record(rid=f"r{i}", prompt=100 + i)) for i in range(200)]
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(lines) + "\n")
    first_end = split_ranges(path, RANGE)[0][1]
    n_first = path.read_bytes()[:first_end].count(b"\n")
    lines[n_first + 2] = "{oops"  # the third line of the second range
    path.write_text("\n".join(lines) + "\n")
    assert split_ranges(path, RANGE)[0][1] == first_end
    s = Store()
    res = s.ingest([str(path)], backend=pool)
    assert res.rejected == 1 and res.rows == 199
    loc, line = s.con.execute("SELECT location, line FROM rejects").fetchone()
    assert (loc, line) == (f"{path}:{n_first + 3}", n_first + 3)
    lines_of = dict(s.con.execute("SELECT request_id, line FROM requests").fetchall())
    assert lines_of["r199"] == 200 and lines_of[f"r{n_first + 3}"] == n_first + 4


def test_parallel_reingest_adds_nothing(tmp_path, small_units, pool) -> None:
    paths, _, _ = _inputs(tmp_path)
    db = tmp_path / "x.duckdb"
    s = Store(db)
    first = s.ingest(paths, backend=pool)
    before = _tables(s)
    again = s.ingest(paths, backend=pool)
    assert first.rows > 0 and again.rows == 0
    assert all(f.skipped and f.skipped.startswith("already ingested") for f in again.files if f.format or f.skipped)
    assert _tables(s) == before
    # a grown copy adds only its new records, in a worker as serially
    grown = tmp_path / "grown.jsonl"
    grown.write_bytes(Path(paths[1]).read_bytes() + (json.dumps(openai_record(rid="new-1")) + "\n").encode())
    res = s.ingest([str(grown)], backend=pool)
    assert res.rows == 1


def test_report_json_is_the_same_with_workers(tmp_path, small_units, runner) -> None:
    paths, _, _ = _inputs(tmp_path)
    out = {}
    for workers in ("1", "2"):
        target = tmp_path / f"r{workers}.json"
        res = runner.invoke(cli, ["report", *paths, "--json", str(target), "--workers", workers])
        assert res.exit_code == 0, res.output
        out[workers] = _normalise(json.loads(target.read_text()))
    assert out["1"] == out["2"]


def test_a_file_that_changes_while_its_ranges_are_read_is_read_again_whole(tmp_path, small_units, pool, monkeypatch):
    paths, big, _ = _inputs(tmp_path)
    serial = Store()
    serial.ingest([str(big)])
    calls = []
    real = run._stat

    def changed_once(path):  # the first look after reading the ranges sees another file
        calls.append(path)
        return None if len(calls) == 1 else real(path)

    monkeypatch.setattr(run, "_stat", changed_once)
    s = Store()
    res = s.ingest([str(big)], backend=pool)
    assert calls and res.files[0].rows == serial.con.execute("SELECT count(*) FROM requests").fetchone()[0]
    assert _tables(s) == _tables(serial)


def test_a_file_found_in_a_folder_that_fails_half_way_is_skipped_and_the_next_file_is_whole(
    tmp_path, small_units, monkeypatch
):
    folder = tmp_path / "logs"
    folder.mkdir()
    _, big, _ = _inputs(folder)
    (folder / "z_copy_of_big.jsonl").unlink()
    later = folder / "zz_later.jsonl"
    later.write_text("\n".join(json.dumps(openai_record(rid=f"later-{i}")) for i in range(5)) + "\n")
    real = parse.range_items

    def unreadable_after_the_first_range(path, start, end, ends):
        if Path(path) == big and start > 0:
            raise InputError("cannot read (Input/output error)", path=str(path))  # as inputs.py raises it
        return real(path, start, end, ends)

    monkeypatch.setattr(parse, "range_items", unreadable_after_the_first_range)
    s = Store()
    res = s.ingest([str(folder)], backend=Local(1))  # a pool of one: the units run here, where the patch is
    skipped = {f.path: f.skipped for f in res.files if f.skipped}
    assert skipped[str(big)] == "cannot read (Input/output error)"
    assert s.con.execute("SELECT count(*) FROM requests WHERE request_id LIKE 'later-%'").fetchone()[0] == 5
    assert s.con.execute("SELECT count(*) FROM sources WHERE path = ?", [str(big)]).fetchone()[0] == 0


def _small_files(folder: Path, n: int) -> list[Path]:
    folder.mkdir(exist_ok=True)
    out = []
    for i in range(n):
        f = folder / f"s{i:02d}.jsonl"
        f.write_text("\n".join(json.dumps(openai_record(rid=f"s{i}-{j}", prompt=40 + j)) for j in range(3)) + "\n")
        out.append(f)
    return out


def _unreadable_when_read(monkeypatch, bad: Path) -> None:
    """`bad` is sniffed as usual, then cannot be read (as inputs.py says an I/O error) where its unit is parsed:
    here, with a pool of one (Local(1) maps its units in this process)."""
    real = parse.open_source

    def failing(path, *args, **kwargs):
        if Path(path) == bad:
            raise InputError("cannot read (Input/output error)", path=str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(parse, "open_source", failing)


def _consistent(s: Store) -> None:
    """Every file in the manifest has its rows, and every row its file: no file half in."""
    per_source = dict(s.con.execute("SELECT source_id, count(*) FROM requests GROUP BY source_id").fetchall())
    manifest = dict(s.con.execute("SELECT source_id, rows FROM sources").fetchall())
    assert per_source == {k: v for k, v in manifest.items() if v}
    orphans = "SELECT count(*) FROM messages WHERE request_id NOT IN (SELECT request_id FROM requests)"
    assert s.con.execute(orphans).fetchone()[0] == 0


def test_an_unreadable_file_given_after_a_group_leaves_the_group_in(tmp_path, small_units, monkeypatch) -> None:
    """A file named on the command line that cannot be read stops the run (as serially); the files merged before
    it, in a group not yet committed, stay in the database, as they did when each file had its transaction."""
    files = _small_files(tmp_path / "logs", 7)
    _unreadable_when_read(monkeypatch, files[-1])
    db = tmp_path / "x.duckdb"
    s = Store(db)
    with pytest.raises(InputError, match="Input/output error"):
        s.ingest([str(f) for f in files], backend=Local(1))
    s.close()
    s = Store(db)
    assert s.con.execute("SELECT count(*) FROM sources").fetchone()[0] == 6
    assert s.con.execute("SELECT count(*) FROM requests").fetchone()[0] == 18
    _consistent(s)


def test_an_unreadable_file_found_in_a_folder_is_skipped_and_the_group_goes_on(tmp_path, small_units, monkeypatch):
    folder = tmp_path / "logs"
    files = _small_files(folder, 7)
    _unreadable_when_read(monkeypatch, files[2])
    (folder / "s04_copy.jsonl").write_bytes(files[1].read_bytes())
    s = Store()
    res = s.ingest([str(folder)], backend=Local(1))
    skipped = {Path(f.path).name: f.skipped for f in res.files if f.skipped}
    assert skipped.keys() == {"s02.jsonl", "s04_copy.jsonl"}, skipped
    assert skipped["s02.jsonl"] == "cannot read (Input/output error)"
    assert res.rows == 18 and s.con.execute("SELECT count(*) FROM requests").fetchone()[0] == 18
    _consistent(s)
    serial = Store()
    files[2].unlink()
    serial.ingest([str(folder)])
    assert _tables(s) == _tables(serial)


def test_a_failure_inside_a_grouped_merge_rolls_the_group_back_whole(tmp_path, small_units, pool, monkeypatch):
    """The database failing half way through a file of a group: the group goes back with it (its files were not
    reported done), the groups committed before it stay, and no file is half in."""
    from analyzer.ingest import merge

    monkeypatch.setattr(run, "GROUP_FILES", 3)
    files = _small_files(tmp_path / "logs", 8)
    real, merged = merge.FileMerge.flush, []

    def fails_in_the_fifth_file(self, b, res):
        merged.append(self.path)
        if len(set(merged)) == 5:
            raise duckdb.IOException("IO Error: No space left on device")
        return real(self, b, res)

    monkeypatch.setattr(merge.FileMerge, "flush", fails_in_the_fifth_file)
    db = tmp_path / "x.duckdb"
    s = Store(db)
    with pytest.raises(duckdb.IOException):
        s.ingest([str(f) for f in files], backend=pool)
    s.close()
    s = Store(db)
    names = [Path(r[0]).name for r in s.con.execute("SELECT path FROM sources ORDER BY source_id").fetchall()]
    assert names == ["s00.jsonl", "s01.jsonl", "s02.jsonl"]  # the first group; the second (s03, s04) is gone
    _consistent(s)
    s.close()
    monkeypatch.setattr(merge.FileMerge, "flush", real)
    s = Store(db)
    again = s.ingest([str(f) for f in files], backend=pool)  # the next run reads what is missing
    assert again.rows == 15 and s.con.execute("SELECT count(*) FROM requests").fetchone()[0] == 24
    _consistent(s)


def test_the_fork_server_starts_before_the_checks_only_when_the_logs_go_to_a_pool(tmp_path, runner, monkeypatch):
    """`report` starts the pool's fork server as soon as its backend exists when the logs will be read on the pool
    (the ingest's own rule, `run.worth_a_pool`), so that its imports overlap the checks; never for logs read here,
    nor with one worker."""
    paths, _, _ = _inputs(tmp_path)
    started: list[int] = []
    monkeypatch.setattr(Local, "prestart", lambda self: started.append(self.workers))
    monkeypatch.setattr(run, "POOL_FILE_BYTES", 0)
    on_disk = sum(path.stat().st_size for path, _ in expand_paths(paths) if path.is_file())
    for minimum, workers, want in ((on_disk, "2", [2]), (on_disk + 1, "2", []), (0, "1", [])):
        monkeypatch.setattr(run, "PARALLEL_MIN_BYTES", minimum)
        started.clear()
        res = runner.invoke(cli, ["report", *paths, "--json", str(tmp_path / "r.json"), "--workers", workers])
        assert res.exit_code == 0, res.output
        assert started == want, (minimum, workers)
