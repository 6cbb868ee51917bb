"""Issue 23, third round of hostile input: values at their types' edges, secrets without a known shape, records
that cost more than linear time or memory, nesting deep enough to end a run, and reject floods."""

from __future__ import annotations

import json

import pytest

from tests.robustness.conftest import ROOT, SAMPLES, chat_no_id, jsonl, run_cli

PROJECT = ["project", "--requests", "1000", "--input-tokens", "2000", "--output-tokens", "300", "--model", "gpt-4o"]


def _usage_error(res, option: str) -> None:
    err = res.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err, err
    assert res.returncode == 2, (res.returncode, err)
    assert option in err, err


# item 10: option values at their types' edges are usage errors (exit 2), never tracebacks


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
@pytest.mark.parametrize("option", ["--until", "--since"])
def test_dates_at_the_edge_of_the_calendar(option, day, tmp_path):
    res = run_cli("report", str(SAMPLES), option, day, "-o", str(tmp_path / "r.html"))
    _usage_error(res, option)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--input-tokens", "1e19"),
        ("--input-tokens", "1e308"),
        ("--requests", "1e308"),
        ("--requests", "nan"),
        ("--output-tokens", "inf"),
        ("--cached-prefix", "1e300"),
        ("--growth", "inf"),
        ("--growth", "1e308"),
        ("--growth", "-2"),
        ("--route-share", "nan"),
        ("--cache-hit-rate", "nan"),
    ],
)
def test_project_numbers_at_the_edge(option, value):
    args = list(PROJECT)
    if option in args:
        args[args.index(option) + 1] = value
    else:
        args += [option, value]
    res = run_cli(*args)
    _usage_error(res, option)


def test_project_at_the_largest_accepted_values_runs():
    res = run_cli(
        "project", "--requests", "1e12", "--input-tokens", "1e8", "--output-tokens", "1e8", "--model", "gpt-4o",
        "--growth", "1000",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr.decode()
    assert b"Traceback" not in res.stderr


@pytest.mark.parametrize("name", [":memory:", ":MEMORY:"])
def test_db_in_memory_is_refused(name):
    res = run_cli("ingest", str(SAMPLES), "--db", name)
    _usage_error(res, "--db")


# item 16: secrets without a known prefix or a digit are redacted by the name they are given

SECRETS = {
    "password=CorrectHorseBatteryStaple": "CorrectHorseBatteryStaple",
    "https blob?sv=2022-11-02&sig=ZmFrZXNpZ25hdHVyZWZvcnRlc3Rz&se=1": "ZmFrZXNpZ25hdHVyZWZvcnRlc3Rz",
    "x-api-key: abcdefghijklmnopq": "abcdefghijklmnopq",
    '{"client_secret": "hunter two words"}': "hunter two",
    "Authorization: Basic dXNlcjpwYXNz": "dXNlcjpwYXNz",
}


@pytest.mark.parametrize("text", sorted(SECRETS))
def test_redact_by_name(text):
    from analyzer.redact import redact

    out = redact(text)
    assert SECRETS[text] not in out, out
    assert "[secret]" in out, out


@pytest.mark.parametrize("text", ["design=simple", "max_tokens=300 please", "the token budget: small"])
def test_redact_by_name_keeps_ordinary_words(text):
    from analyzer.redact import redact

    assert redact(text) == text


def test_secrets_never_reach_the_outputs(tmp_path):
    system = "You are a bot. " + " ".join(SECRETS) + " Answer briefly."
    records = []
    for i in range(6):
        rec = chat_no_id(i)
        rec["request"]["messages"].insert(0, {"role": "system", "content": system})
        records.append(rec)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "calls.jsonl").write_bytes(jsonl(records))
    out = tmp_path / "out"
    out.mkdir()
    res = run_cli(
        "report", str(logs), "-o", str(out / "r.html"), "--json", str(out / "s.json"), "--md", str(out / "s.md"),
        "--csv-dir", str(out / "csv"),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr.decode()
    written = [p for p in out.rglob("*") if p.is_file()]
    assert len(written) >= 4
    text = "\n".join(p.read_text("utf-8", "replace") for p in written)
    assert "Answer briefly" in text or "You are a bot" in text, (
        "the prompt's excerpt is shown (else this tests nothing)"
    )
    for secret in SECRETS.values():
        assert secret not in text


# item 8: per-record costs are linear and bounded (run in a subprocess with a timeout: the old code took minutes)


# The child's own peak memory: VmHWM starts afresh at exec, where ru_maxrss carries the parent's peak at fork
# (pytest's, hundreds of MB late in a run), which would hide or fake growth.
_PEAK = (
    "def peak_mb():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            return int(line.split()[1]) // 1024\n"
)


def _in_subprocess(code: str, timeout: float = 30) -> str:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_redaction_of_a_long_value_is_linear():
    # an e-mail-like run with no "@" made the pattern try every start: 12 minutes for 400 KB
    out = _in_subprocess(
        "from analyzer.redact import redact\n"
        "for v in ['a' * 400_000, 'a.' * 200_000, '1 ' * 200_000 + 'x', 'a@' + 'b' * 400_000]:\n"
        "    redact(v)\n"
        "print('ok')\n",
        timeout=20,
    )
    assert out.strip() == "ok"


def test_a_huge_model_name_is_unpriced_not_a_memory_bomb():
    out = _in_subprocess(
        _PEAK + "from analyzer.prices import load_catalogue\n"
        "cat = load_catalogue()\n"
        "before = peak_mb()\n"
        "r = cat.resolve('openai/' * 30_000)\n"
        "print(r.key, peak_mb() - before)\n",
        timeout=20,
    )
    key, grew_mb = out.split()
    assert key == "None"
    assert int(grew_mb) < 100, f"resolving one name grew memory by {grew_mb} MB"


# item 5: one record nested deep ends only itself, never the run


def _nested(depth: int) -> str:
    """JSON text nested `depth` levels (Python's own json stops near 1,000)."""
    opens = "".join('{"k":' if i % 2 else "[" for i in range(depth))
    closes = "".join("}" if i % 2 else "]" for i in reversed(range(depth)))
    return opens + '"x"' + closes


def _with(record: dict, deep: str) -> bytes:
    return json.dumps(record).replace('"__DEEP__"', deep).encode() + b"\n"


@pytest.mark.parametrize("depth", [300, 3000])
def test_a_deeply_nested_record_does_not_end_the_run(depth, tmp_path, rows_of):
    deep_meta = chat_no_id(1)
    deep_meta["request"]["metadata"] = "__DEEP__"  # unkeyed: its identity hashes the whole record
    deep_content = chat_no_id(2)
    deep_content["request"]["messages"][0]["content"] = [{"type": "text", "text": "hi", "extra": "__DEEP__"}]
    deep = _nested(depth)
    lines = [jsonl([chat_no_id(0)]), _with(deep_meta, deep), _with(deep_content, deep)]
    lines.append(b"[" * 5000 + b"]" * 5000 + b"\n")
    lines.append(jsonl([chat_no_id(3)]))
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes(b"".join(lines))
    db = tmp_path / "x.duckdb"
    res = run_cli("ingest", str(logs), "--db", str(db))
    err = res.stderr.decode()
    assert "Traceback" not in err and "Recursion" not in err, err
    assert res.returncode == 0, err
    # the two ordinary calls always load; a deep one loads or is its own reject, never the file's end
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    loaded = con.execute("SELECT count(*) FROM requests").fetchone()[0]
    rejected = con.execute("SELECT count(*) FROM rejects").fetchone()[0]
    con.close()
    assert loaded >= 2
    assert loaded + rejected == 5
    if depth == 300:
        assert loaded == 4, "300 levels is deep but readable: orjson's limit is not the reader's"


# item 6: reject floods are stored in bulk, memory bounded; the count stays exact


def test_a_reject_flood_is_counted_exactly_and_listed_within_a_cap(tmp_path, monkeypatch):
    import gzip

    import duckdb

    from analyzer.ingest import merge
    from analyzer.store import Store

    monkeypatch.setattr(merge, "MAX_REJECT_ROWS", 1_000)  # the cap, small enough for a quick test
    bad = 12_345
    logs = tmp_path / "logs"
    logs.mkdir()
    body = jsonl([chat_no_id(0)]) + b"{}\n" * bad + b"[1]\n" * 10 + jsonl([chat_no_id(1)])
    (logs / "flood.jsonl.gz").write_bytes(gzip.compress(body))
    db = tmp_path / "x.duckdb"
    s = Store(db)
    result = s.ingest([str(logs)])
    assert result.rows == 2, "the good records on both sides of the flood load"
    assert result.rejected == bad + 10
    listed = s.con.execute("SELECT count(*), sum(records) FROM rejects").fetchone()
    assert listed[0] <= 1_000 + 2, "rows past the cap are one row per reason"
    assert listed[1] == bad + 10, "the rows still count every reject"
    by_reason = dict(
        s.con.execute(
            "SELECT reason, records FROM (SELECT reason, sum(records) AS records FROM rejects GROUP BY 1)"
        ).fetchall()
    )
    assert sum(by_reason.values()) == bad + 10
    s.close()
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT rejected FROM sources").fetchone()[0] == bad + 10
    con.close()


# item 9: under an address-space limit the report is written, charts left out with one line saying why


@pytest.mark.parametrize("hard_too", [True, False])
def test_report_under_an_address_space_limit(hard_too, tmp_path):
    import os
    import resource
    import subprocess
    import sys

    limit = 8 * 2**30  # 8 GiB: plenty for the report, not for V8's reservation

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit if hard_too else resource.RLIM_INFINITY))

    html = tmp_path / "r.html"
    done = subprocess.run(
        [sys.executable, "-m", "analyzer", "report", str(SAMPLES), "-o", str(html)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=cap,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    page = html.read_text()
    if hard_too:  # the limit cannot be lifted: no charts, and the page and the terminal say why
        assert "<svg" not in page
        assert "address-space limit" in page
        notes = [ln for ln in done.stderr.splitlines() if "address-space limit" in ln]
        assert len(notes) == 1 and notes[0].startswith("llmcost: note:")
    else:  # a soft limit only: the chart process lifts it and draws
        assert page.count("<svg") >= 3


# item 7: a JSON document of millions of objects is read a window of elements at a time, memory bounded


def test_a_huge_json_array_is_read_in_bounded_memory(tmp_path):
    import gzip

    path = tmp_path / "a.json.gz"
    path.write_bytes(gzip.compress(b"[" + b"{}," * 3_000_000 + b"{}]"))
    out = _in_subprocess(
        _PEAK + "from pathlib import Path\n"
        "from analyzer.sources import read_items\n"
        f"n = sum(1 for i in read_items(Path({str(path)!r})) if i.obj == {{}})\n"
        "print(n, peak_mb())\n",
        timeout=120,
    )
    n, peak_mb = map(int, out.split())
    assert n == 3_000_001
    assert peak_mb < 250, f"peak {peak_mb} MB: the document was held as Python objects"


@pytest.mark.parametrize("window", [1, 64, 1 << 20])
def test_an_array_read_by_windows_reads_what_a_whole_parse_reads(window, tmp_path, monkeypatch):
    from analyzer import sources
    from analyzer.store import Store

    records = [chat_no_id(i) for i in range(40)]
    records[7]["request"]["messages"][0]["content"] = 'tool said {"a": 1}, {"b": [2, "],"]}, done'
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "calls.json").write_text(json.dumps(records, indent=1))

    def read() -> tuple:
        s = Store(None)
        try:
            res = s.ingest([str(logs)])
            rows = s.con.execute("SELECT count(*), sum(input_tokens), sum(output_tokens) FROM requests").fetchone()
            return res.rows, res.rejected, rows
        finally:
            s.close()

    whole = read()
    assert whole[:2] == (40, 0)
    monkeypatch.setattr(sources, "MAX_DOCUMENT_CONTAINERS", 10)
    monkeypatch.setattr(sources, "_WINDOW", window)
    assert read() == whole
    # a broken element is its own reject; the elements around it load
    (logs / "calls.json").write_text(json.dumps(records[:20])[:-1] + ", {broken}, " + json.dumps(records[20:])[1:])
    rows, rejected, _ = read()
    assert (rows, rejected) == (40, 1)


def test_a_huge_document_that_is_not_an_array_is_refused_in_one_line(tmp_path, monkeypatch):
    from analyzer import sources

    monkeypatch.setattr(sources, "MAX_DOCUMENT_CONTAINERS", 10)
    monkeypatch.setattr(sources, "_SMALL", 0)
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"data": [{} for _ in range(50)]}, indent=1))
    items = list(sources.read_items(path))
    assert len(items) == 1 and items[0].obj is None and "not an array of records" in items[0].error
    # the same on one line is a JSONL record: refused as a record, the next line still read
    path.write_text(json.dumps({"data": [{} for _ in range(50)]}) + "\n" + json.dumps(chat_no_id(0)) + "\n")
    items = list(sources.read_items(path))
    assert items[0].obj is None and "objects and arrays" in items[0].error
    assert items[1].obj == chat_no_id(0)
