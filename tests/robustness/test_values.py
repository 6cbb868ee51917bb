"""Case 5 of issue 14: one bad value in one record is that record's reject, with a reason; it neither stops
the file (losing its good records) nor loads and breaks every later report of the database."""

from __future__ import annotations

import json

import pytest

from analyzer.report import build_report
from analyzer.store import Store
from tests.robustness.conftest import jsonl
from tests.robustness.formats import FORMATS, distinct, template, with_value

BAD_COUNTS = ["\u00b2", "\u0663", 1e30, 2**64 - 1, 2**63 - 1, -(2**63), "1e5", float(2**70)]
BAD_TIMES = [
    1e30,
    "1e30",
    "0001-01-01T00:00:00Z",
    "10000-01-01T00:00:00",
    253402300800,  # 10000-01-01 in seconds
    -1,
    0,
    "9" * 400,
]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_bad_token_counts_are_rejected_and_the_rest_loads(fmt, tmp_path, catalogue):
    _, count_path, _ = FORMATS[fmt]
    good = template(fmt)
    records = [distinct(with_value(good, count_path, v), i) for i, v in enumerate(BAD_COUNTS)]
    records.append(distinct(good, 999))
    store = _ingest_auto(tmp_path, fmt, records)
    loaded = store.con.execute("SELECT count(*) FROM requests").fetchall()[0][0]
    reasons = [r[0] for r in store.con.execute("SELECT reason FROM rejects").fetchall()]
    assert loaded == 1, reasons
    assert len(reasons) == len(BAD_COUNTS), reasons
    assert all(r and "Error" not in r for r in reasons), reasons  # a reason a user can act on
    build_report(store, catalogue)  # and the database still reports


@pytest.mark.parametrize("fmt", sorted(f for f in FORMATS if FORMATS[f][2]))
def test_bad_times_are_rejected_and_the_rest_loads(fmt, tmp_path, catalogue):
    _, _, ts_path = FORMATS[fmt]
    good = template(fmt)
    records = [distinct(with_value(good, ts_path, v), i) for i, v in enumerate(BAD_TIMES)]
    records.append(distinct(good, 999))
    store = _ingest_auto(tmp_path, fmt, records)
    loaded = store.con.execute("SELECT count(*) FROM requests").fetchall()[0][0]
    reasons = [r[0] for r in store.con.execute("SELECT reason FROM rejects").fetchall()]
    assert loaded == 1, reasons
    assert len(reasons) == len(BAD_TIMES), reasons
    build_report(store, catalogue)


def test_nanosecond_epochs_are_read_as_nanoseconds(tmp_path, catalogue):
    good = template("openai_chat")
    rec = with_value(good, ("timestamp",), 1_764_000_000_123_456_789)
    store = _ingest_auto(tmp_path, "openai_chat", [rec])
    ts = store.con.execute("SELECT ts FROM requests").fetchall()[0][0]
    assert ts.isoformat().startswith("2025-11-24T16:00:00.123456")
    build_report(store, catalogue)


def _ingest_auto(tmp_path, fmt: str, records: list) -> Store:
    """Ingest with the format detected (as a user would), from a file whose first record is the good one."""
    path = tmp_path / f"{fmt}.jsonl"
    path.write_bytes(jsonl([records[-1], *records[:-1]]))
    store = Store()
    res = store.ingest([str(path)])
    assert res.files and not res.files[0].skipped, res.files
    return store


def test_a_file_of_only_bad_values_is_still_a_clean_run(tmp_path):
    from tests.robustness.conftest import run_cli

    good = template("openai_chat")
    path = tmp_path / "bad.jsonl"
    path.write_bytes(jsonl([with_value(good, ("response", "usage", "prompt_tokens"), "\u00b2")]))
    res = run_cli("report", str(path), "--json", str(tmp_path / "s.json"))
    assert b"Traceback" not in res.stderr and res.returncode == 0, res.stderr.decode()
    assert json.loads((tmp_path / "s.json").read_text())["totals"]["requests"] == 0


# Shapes the fuzz run (HYPOTHESIS_PROFILE=fuzz) found raising out of a parser, kept as fixed examples.
FOUND_BY_FUZZING = [
    ("openai_chat", ("response", "choices", 0, "message"), True),
    ("openai_chat", ("response", "choices", 0, "message"), 1),
    ("openai_batch_output", ("response", "body", "choices", 0, "message"), [None]),
    ("litellm_payload", ("response", "choices", 0, "message"), True),
    ("anthropic_messages", ("request", "messages"), True),
]


@pytest.mark.parametrize(("fmt", "path", "value"), FOUND_BY_FUZZING)
def test_shapes_found_by_fuzzing_are_rejects_with_a_reason(fmt, path, value, tmp_path):
    good = template(fmt)
    node = bad = distinct(good, 1)
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    store = _ingest_auto(tmp_path, fmt, [bad, distinct(good, 0)])
    reasons = [r[0] for r in store.con.execute("SELECT reason FROM rejects").fetchall()]
    assert len(reasons) == 1 and not reasons[0].startswith("unexpected content"), reasons
