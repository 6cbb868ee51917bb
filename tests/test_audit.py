"""`llmcost audit`: the nightly job's comparison, thresholds and exit codes, idempotence and its lock."""

from __future__ import annotations

import fcntl
import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from analyzer.cli import cli
from tests.conftest import chat_call, write_jsonl

DAY1 = datetime(2025, 11, 20, 9, 0, tzinfo=UTC)


def calls(start: datetime, n: int, cached: int = 0, model: str = "gpt-4o", tag: str = "a") -> list[dict]:
    """n Chat Completions calls of 2,000 input tokens (`cached` of them read from cache) and 100 output."""
    usage = {"prompt_tokens": 2000, "completion_tokens": 100, "prompt_tokens_details": {"cached_tokens": cached}}
    return [
        chat_call(
            f"chatcmpl-{tag}-{i}",
            (start + timedelta(minutes=i)).timestamp(),
            [{"role": "user", "content": f"question {tag} {i}"}],
            usage,
            model,
            reply=f"answer {i}",
        )
        for i in range(n)
    ]


def audit(runner, tmp_path, *extra: str, day: str | None = "2025-11-21"):
    out = tmp_path / "out"
    if day:
        extra = ("--day", day, *extra)
    res = runner.invoke(
        cli, ["audit", str(tmp_path / "logs"), "--db", str(tmp_path / "a.duckdb"), "--out-dir", str(out)] + list(extra)
    )
    latest = out / "audit-latest.json"
    return res, (json.loads(latest.read_text()) if latest.exists() else None)


@pytest.fixture
def two_days(tmp_path):
    (tmp_path / "logs").mkdir()
    write_jsonl(tmp_path / "logs" / "d1.jsonl", calls(DAY1, 10, cached=1024, tag="d1"))
    write_jsonl(tmp_path / "logs" / "d2.jsonl", calls(DAY1 + timedelta(days=1), 15, cached=0, tag="d2"))
    return tmp_path


def test_spend_increase_past_the_threshold_exits_3_with_one_line_each(runner, two_days):
    res, out = audit(runner, two_days, "--fail-on-increase", "20")
    assert res.exit_code == 3, res.output
    assert out["day"] == "2025-11-21" and out["current"]["requests"] == 15 and out["previous"]["requests"] == 10
    # gpt-4o: $2.50 / $1.25 (cached) / $10 per million. Day 1: 10 x (976 x 2.5 + 1024 x 1.25 + 100 x 10) / 1e6
    day1 = 10 * (976 * 2.5 + 1024 * 1.25 + 100 * 10) / 1e6
    day2 = 15 * (2000 * 2.5 + 100 * 10) / 1e6
    assert out["previous"]["cost_usd"] == pytest.approx(day1) and out["current"]["cost_usd"] == pytest.approx(day2)
    assert out["change"]["cost_pct"] == pytest.approx((day2 - day1) / day1 * 100, abs=0.01)
    crossed, median = out["crossed"]  # against the day before, and against the median day of the 7 before (day 1)
    assert crossed["check"] == "spend_increase_pct" and "exceeds --fail-on-increase 20" in res.output
    assert median["check"] == "spend_vs_7day_median_pct" and median["value"] == crossed["value"]
    assert "$0.0900 against $0.0472" in res.output  # sub-dollar amounts keep their digits
    assert "Traceback" not in res.output
    files = sorted(p.name for p in (two_days / "out").iterdir() if p.name != ".llmcost-written")
    written = (two_days / "out" / ".llmcost-written").read_text().split()  # what --keep-days may delete
    assert written == [f for f in files if f.endswith(".html") and f != "index.html" or "2025" in f]
    assert files == [
        "audit-2025-11-21.json",
        "audit-latest.json",
        "index.html",
        "llmcost-2025-11-21.html",
        "llmcost-2025-11-21.json",
        "llmcost-2025-11-21.md",
    ]
    report = json.loads((two_days / "out" / "llmcost-2025-11-21.json").read_text())
    assert report["totals"]["requests"] == 15  # the report covers the audited window only


def test_under_the_thresholds_exits_0(runner, two_days):
    res, out = audit(runner, two_days, "--fail-on-increase", "200", "--fail-on-cache-drop", "60")
    assert res.exit_code == 0, res.output
    assert out["crossed"] == [] and out["change"]["cached_share_pts"] == pytest.approx(-51.2)


def test_cache_share_drop_past_the_threshold(runner, two_days):
    res, out = audit(runner, two_days, "--fail-on-cache-drop", "10")
    assert res.exit_code == 3
    assert out["crossed"][0]["check"] == "cached_share_drop_pts" and out["crossed"][0]["value"] == pytest.approx(51.2)
    assert "fell 51.2 points" in res.output


def test_rerun_is_idempotent(runner, two_days):
    first, a = audit(runner, two_days, "--fail-on-increase", "200")
    second, b = audit(runner, two_days, "--fail-on-increase", "200")
    assert first.exit_code == second.exit_code == 0
    assert a["ingest"]["files_read"] == 2 and b["ingest"]["files_read"] == 0 and b["ingest"]["files_skipped"] == 2
    for k in ("current", "previous", "change", "crossed"):
        assert a[k] == b[k]


def test_a_second_audit_of_the_same_database_is_refused_while_one_runs(runner, two_days):
    lock = os.open(two_days / "a.duckdb.lock", os.O_RDWR | os.O_CREAT)
    try:
        os.write(lock, b"pid 4242 since 2025-11-22T01:10:00Z")
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        res, _ = audit(runner, two_days)
        assert res.exit_code == 1
        assert "another audit is running (pid 4242 since 2025-11-22T01:10:00Z)" in res.output
        assert not (two_days / "a.duckdb").exists()  # nothing was touched
    finally:
        os.close(lock)
    res, _ = audit(runner, two_days)
    assert res.exit_code == 0, res.output


def test_by_default_yesterday_is_audited_not_today(runner, tmp_path):
    (tmp_path / "logs").mkdir()
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    write_jsonl(tmp_path / "logs" / "y.jsonl", calls(midnight - timedelta(hours=12), 3, tag="y"))
    write_jsonl(tmp_path / "logs" / "t.jsonl", calls(midnight, 2, tag="t"))
    res, out = audit(runner, tmp_path, day=None)
    assert res.exit_code == 0, res.output
    assert out["day"] == (midnight - timedelta(days=1)).date().isoformat() and out["current"]["requests"] == 3


def test_a_day_without_traffic_is_an_error_not_a_silent_older_audit(runner, two_days):
    res, out = audit(runner, two_days, day="2025-11-23")
    assert res.exit_code == 1 and out is None
    assert "no traffic logged on 2025-11-23" in res.output and "the latest is 2025-11-21" in res.output
    res, _ = audit(runner, two_days, day=None)  # yesterday, by the clock: nothing logged then either
    assert res.exit_code == 1 and "Traceback" not in res.output


def test_backfill_keeps_the_newest_day_as_latest_and_windows_name_their_files(runner, two_days):
    audit(runner, two_days)
    res, out = audit(runner, two_days, day="2025-11-20")
    assert res.exit_code == 0 and out["day"] == "2025-11-21"  # audit-latest.json still the newest day
    assert (two_days / "out" / "audit-2025-11-20.json").exists()
    res, _ = audit(runner, two_days, "--window", "2")
    assert res.exit_code == 0 and (two_days / "out" / "audit-2025-11-21-w2.json").exists()
    assert (two_days / "out" / "llmcost-2025-11-21-w2.html").exists()


def test_day_and_window_outside_the_calendar_is_one_line(runner, two_days):
    res, _ = audit(runner, two_days, day="0001-01-01")
    # a usage error (exit 2), as every option value at its type's edge (issue 23, item 10)
    assert res.exit_code == 2 and "outside the dates" in res.output and "Traceback" not in res.output


def test_window_and_day_options(runner, two_days):
    res, _ = audit(runner, two_days, day="2025-11-20")
    out = json.loads((two_days / "out" / "audit-2025-11-20.json").read_text())
    assert res.exit_code == 0 and out["current"]["requests"] == 10 and out["previous"]["requests"] == 0
    assert out["change"]["cost_pct"] is None
    res, out = audit(runner, two_days, "--window", "2", "--fail-on-increase", "5")
    assert res.exit_code == 0 and out["current"]["requests"] == 25 and out["window_days"] == 2
    assert any("no priced spend in the previous window" in n for n in out["notes"])


def test_strict_rejects_exit_4_unless_a_threshold_was_crossed(runner, two_days):
    write_jsonl(two_days / "logs" / "bad.jsonl", [calls(DAY1, 1, tag="ok")[0], "{not json"])
    res, _ = audit(runner, two_days, "--strict")
    assert res.exit_code == 4 and "bad.jsonl:2" in res.output
    res, _ = audit(runner, two_days, "--strict", "--fail-on-increase", "1")
    assert res.exit_code == 3  # the audit's own verdict wins; the rejects were reported on the first run


def test_no_database_and_no_logs_is_one_clear_line(runner, tmp_path):
    res = runner.invoke(cli, ["audit", "--db", str(tmp_path / "none.duckdb"), "--out-dir", str(tmp_path / "o")])
    assert res.exit_code == 1 and "no such database" in res.output and "Traceback" not in res.output


def test_the_days_page_opens_with_the_comparison_each_threshold_and_a_partial_window_note(runner, two_days):
    res, out = audit(runner, two_days, "--fail-on-increase", "20")
    assert res.exit_code == 3
    assert out["previous"]["partial"] is True  # day 1's logs start at 09:00
    assert any("the window before is partial" in n for n in out["notes"])
    page = (two_days / "out" / "llmcost-2025-11-21.html").read_text()
    audit_part = page[page.index('id="audit"') : page.index('id="headline"')]
    assert "Audit of 2025-11-21" in audit_part and "the window before" in audit_part
    assert "partial: the logs start inside it" in audit_part
    assert "$0.0900" in audit_part and "$0.0472" in audit_part
    assert f"{out['change']['cost_pct']:+.1f}%" in audit_part
    assert "20%" in audit_part and "<strong>crossed</strong>" in audit_part
    assert "not set" in audit_part  # --fail-on-cache-drop was not given: shown as not checked, not as ok
    assert page.index('id="audit"') < page.index('id="headline"')  # first on the page


def test_index_lists_every_audited_day_with_a_trend_and_links(runner, two_days):
    audit(runner, two_days, day="2025-11-20")
    audit(runner, two_days, day="2025-11-21")
    index = (two_days / "out" / "index.html").read_text()
    assert index.count("<tr") == 3  # header + two days
    assert index.index("2025-11-21") < index.index('href="llmcost-2025-11-20.html"')  # newest first
    for name in ("llmcost-2025-11-20.html", "llmcost-2025-11-21.html", "audit-2025-11-21.json"):
        assert f'href="{name}"' in index
    assert "<svg" in index and "<script" not in index


def test_alerts_against_the_trailing_median_and_for_new_models_and_prefixes(runner, tmp_path):
    (tmp_path / "logs").mkdir()
    for d in range(7):  # a steady week: 10 calls a day, half the input from cache
        write_jsonl(tmp_path / "logs" / f"w{d}.jsonl", calls(DAY1 + timedelta(days=d), 10, cached=1024, tag=f"w{d}"))
    last = DAY1 + timedelta(days=7)
    big = "Policy manual. " + " ".join(f"clause {i} applies to every refund and exchange" for i in range(250))
    usage = {"prompt_tokens": 2400, "completion_tokens": 50, "prompt_tokens_details": {"cached_tokens": 0}}
    new = [
        chat_call(
            f"chatcmpl-new-{i}",
            (last + timedelta(minutes=i)).timestamp(),
            [{"role": "system", "content": big}, {"role": "user", "content": f"refund {i}"}],
            usage,
            "gpt-4.1",
            reply=f"ok {i}",
        )
        for i in range(30)
    ] + calls(last, 2, model="acme-llm-7b", tag="acme")
    write_jsonl(tmp_path / "logs" / "last.jsonl", new)
    res, out = audit(
        runner, tmp_path, "--fail-on-increase", "50", "--fail-on-cache-drop", "20", day=last.date().isoformat()
    )
    assert res.exit_code == 3, res.output
    kinds = {a["kind"]: a for a in out["alerts"]}
    day_cost = 10 * (976 * 2.5 + 1024 * 1.25 + 100 * 10) / 1e6
    med = kinds["spend_above_trailing_median"]
    assert med["median_daily_cost_usd"] == pytest.approx(day_cost)
    assert med["value"] == pytest.approx((out["current"]["cost_usd"] - day_cost) / day_cost * 100, abs=0.01)
    share = kinds["cached_share_below_trailing_median"]
    assert share["median_cached_share"] == pytest.approx(1024 / 2000) and share["value"] > 20
    assert kinds["new_model"]["model"] == "gpt-4.1" and kinds["new_model"]["requests"] == 30
    assert kinds["new_unpriced_model"]["model"] == "acme-llm-7b" and kinds["new_unpriced_model"]["requests"] == 2
    prefix = kinds["new_large_uncached_prefix"]
    assert prefix["tokens"] >= 1024 and prefix["requests"] == 30 and prefix["logged_cached_share"] == 0
    assert {c["check"] for c in out["crossed"]} >= {"spend_vs_7day_median_pct", "cached_share_vs_7day_median_drop_pts"}
    page = (tmp_path / "out" / f"llmcost-{last.date()}.html").read_text()
    assert "new UNPRICED model" in page and "acme-llm-7b" in page


def test_keep_days_prunes_old_dated_reports_but_no_rows(runner, tmp_path):
    (tmp_path / "logs").mkdir()
    for d in range(4):
        write_jsonl(tmp_path / "logs" / f"d{d}.jsonl", calls(DAY1 + timedelta(days=d), 3, tag=f"k{d}"))
    for d in range(4):
        res, _ = audit(runner, tmp_path, "--keep-days", "2", day=(DAY1 + timedelta(days=d)).date().isoformat())
        assert res.exit_code == 0, res.output
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert [n for n in names if n.startswith("audit-")] == [
        "audit-2025-11-22.json",
        "audit-2025-11-23.json",
        "audit-latest.json",
    ]
    assert "llmcost-2025-11-21.html" not in names and "llmcost-2025-11-22.html" in names and "index.html" in names
    assert "removed llmcost-2025-11-21.html" in res.output
    index = (tmp_path / "out" / "index.html").read_text()
    assert "2025-11-21" not in index and "2025-11-23" in index
    rep = runner.invoke(cli, ["report", "--db", str(tmp_path / "a.duckdb"), "--json", "-"])
    assert json.loads(rep.stdout)["totals"]["requests"] == 12  # the database keeps every row
