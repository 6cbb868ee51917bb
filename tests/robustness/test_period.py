"""Case 14 of issue 14: one record dated 1970 among a week of traffic must not stretch the period (and so
shrink "projected per month" a thousandfold) without a word."""

from __future__ import annotations

import json

import pytest

from tests.conftest import openai_record
from tests.robustness.conftest import jsonl, run_cli

WEEK = [openai_record(rid=f"w{i}", ts=1_764_000_000 + i * 3600 * 6) for i in range(28)]


def _report(tmp_path, records, name):
    log = tmp_path / f"{name}.jsonl"
    log.write_bytes(jsonl(records))
    out = tmp_path / f"{name}.json"
    res = run_cli("report", str(log), "--json", str(out))
    assert res.returncode == 0, res.stderr.decode()
    return json.loads(out.read_text()), res.stderr.decode()


def test_an_epoch_zero_record_leaves_the_period_and_projection_alone_and_says_so(tmp_path):
    clean, _ = _report(tmp_path, WEEK, "clean")
    dirty, err = _report(tmp_path, [*WEEK, openai_record(rid="zero", ts=0)], "dirty")
    assert dirty["period"] == clean["period"]
    assert dirty["totals"]["projected_monthly_usd"] == clean["totals"]["projected_monthly_usd"]
    assert "timestamp is out of range (before 2015)" in err  # the record is named, not silently dropped


def test_a_date_far_from_the_rest_is_flagged_and_left_out_of_the_period(tmp_path):
    """#14 case 14: a record dated 2016 among a week of 2025 traffic passes the range check, but must not stretch
    the period (and with it every monthly figure) to nine years: it is left out of the period, with a note."""
    clean, _ = _report(tmp_path, WEEK, "clean")
    stray = openai_record(rid="stray", ts=1_451_606_400)  # 2016-01-01
    dirty, _ = _report(tmp_path, [*WEEK, stray], "dirty")
    assert dirty["period"]["start"] == clean["period"]["start"] and dirty["period"]["end"] == clean["period"]["end"]
    assert dirty["totals"]["projected_monthly_usd"] == pytest.approx(clean["totals"]["projected_monthly_usd"])
    out = dirty["period"]["left_out"]
    assert out["requests"] == 1 and out["first"].startswith("2016-01-01")
    assert any("left out of the period" in a for a in dirty["assumptions"])
