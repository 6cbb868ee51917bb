"""Budgets (issue 25 part 3): spend against a budget, the month-end forecast with its interval, the alerts, and
the audit's exit 3; every figure hand-computed."""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta

import polars as pl
import pytest

from analyzer import budgets
from analyzer.cli import cli
from tests.conftest import write_jsonl
from tests.test_audit import DAY1, audit, calls


def test_weekday_pattern_forecast_by_hand():
    # June 2025 starts on a Sunday. Weekdays cost $10, weekend days $2, June 1-14 (two whole weeks: weekday means).
    days = {date(2025, 6, d): (2.0 if date(2025, 6, d).weekday() >= 5 else 10.0) for d in range(1, 15)}
    fc = budgets.forecast(days, date(2025, 6, 14))
    # spent: 10 weekdays x $10 + 4 weekend days x $2 = $108; June 15-30: 11 weekdays, 5 weekend days = $120
    assert fc["method"] == "weekday means" and fc["history_days"] == 14 and fc["remaining_days"] == 16
    assert fc["spent_usd"] == pytest.approx(108) and fc["forecast_usd"] == pytest.approx(228)
    assert fc["forecast_low_usd"] == pytest.approx(228) and fc["forecast_high_usd"] == pytest.approx(228)  # no noise


def test_short_history_uses_the_daily_mean_and_its_spread():
    days = {date(2025, 6, 1): 1.0, date(2025, 6, 2): 3.0, date(2025, 6, 3): 2.0}
    fc = budgets.forecast(days, date(2025, 6, 3))
    # mean $2/day x 27 days left = $54; s = sqrt((1 + 1 + 0) / (3 - 1)) = 1; half-width 1.645 x 1 x sqrt(27)
    half = 1.645 * math.sqrt(27)
    assert fc["method"] == "daily mean" and fc["forecast_usd"] == pytest.approx(60)
    assert fc["forecast_low_usd"] == pytest.approx(60 - half) and fc["forecast_high_usd"] == pytest.approx(60 + half)


def test_one_day_of_history_gives_no_interval():
    fc = budgets.forecast({date(2025, 6, 10): 3.0}, date(2025, 6, 10))
    assert fc["forecast_usd"] == pytest.approx(3 + 3 * 20)
    assert fc["forecast_low_usd"] is None and fc["forecast_high_usd"] is None
    row = budgets.evaluate([budgets_row(limit=50)], _frame({date(2025, 6, 10): 3.0}), date(2025, 6, 10))[0]
    assert [a["kind"] for a in row["alerts"]] == ["forecast"] and "no interval" in row["alerts"][0]["message"]
    assert "no interval from 1 day of history" in budgets.lines([row])[0]


def budgets_row(limit: float) -> dict:
    return {"name": "b", "period": "month", "limit_usd": limit, "scope": None, "alert_at": [1.0]}


def _frame(days: dict) -> pl.DataFrame:
    ts = [datetime.combine(d, datetime.min.time()) for d in days]
    return pl.DataFrame({"ts": ts, "cost": list(days.values())})


def test_zero_days_count_in_the_history():
    fc = budgets.forecast({date(2025, 6, 1): 4.0, date(2025, 6, 4): 4.0}, date(2025, 6, 4))
    assert fc["history_days"] == 4 and fc["forecast_usd"] == pytest.approx(8 + 2 * 26)  # mean $2/day, 26 days left


@pytest.mark.parametrize(
    "text, reason",
    [
        ("[[budget]]\nperiod = 'month'\n", "limit_usd"),
        ("[[budget]]\nlimit_usd = 5\nperiod = 'week'\n", "period"),
        ("[[budget]]\nlimit_usd = 5\nuser = 'a'\nmodel = 'b'\n", "one scope"),
        ("[[budget]]\nlimit_usd = 5\nteam = 'a'\n", "unknown key"),
        ("[[budget]]\nlimit_usd = 5\ntag = ''\n", "tag must be a non-empty string"),  # matched no request
        ("[[budget]]\nlimit_usd = 5\nalert_at = 0.5\n", "alert_at"),
        ("limit_usd = 5\n", "no [[budget]]"),
        ("[[budget]\n", "not a TOML file"),
    ],
)
def test_bad_budgets_file_is_one_line(runner, tmp_path, text, reason):
    f = tmp_path / "b.toml"
    f.write_text(text)
    res = runner.invoke(cli, ["report", str(tmp_path), "--budgets", str(f)])
    assert res.exit_code == 1 and reason in res.stderr and str(f) in res.stderr
    assert "Traceback" not in res.output


@pytest.fixture
def two_days(tmp_path):
    (tmp_path / "logs").mkdir()
    write_jsonl(tmp_path / "logs" / "d1.jsonl", calls(DAY1, 10, cached=1024, tag="d1"))
    write_jsonl(tmp_path / "logs" / "d2.jsonl", calls(DAY1 + timedelta(days=1), 15, cached=0, tag="d2"))
    return tmp_path


# gpt-4o: $2.50 input / $1.25 cached / $10 output per 1M. 2025-11-20: 10 x (976 x 2.5 + 1024 x 1.25 + 100 x 10) / 1e6;
# 2025-11-21: 15 x (2000 x 2.5 + 100 x 10) / 1e6.
D1, D2 = 0.0472, 0.09
MEAN = (D1 + D2) / 2
SD = math.sqrt(2 * ((D2 - D1) / 2) ** 2 / 1)  # residuals +-(D2-D1)/2, 2 days - 1 mean
FORECAST = D1 + D2 + 9 * MEAN  # November 22-30 at the daily mean


def _budgets(tmp_path, text):
    f = tmp_path / "b.toml"
    f.write_text(text)
    return str(f)


def test_report_json_and_terminal_show_spend_against_budget(runner, two_days):
    b = _budgets(two_days, '[[budget]]\nname = "all"\nlimit_usd = 1.0\n[[budget]]\nperiod = "day"\nlimit_usd = 0.05\n')
    rep = two_days / "r.json"
    res = runner.invoke(cli, ["report", str(two_days / "logs"), "--budgets", b, "--json", str(rep)])
    assert res.exit_code == 0, res.output
    month, day = json.loads(rep.read_text())["budgets"]
    assert month["as_of"] == "2025-11-21" and month["spent_usd"] == pytest.approx(D1 + D2)
    assert month["forecast"]["forecast_usd"] == pytest.approx(FORECAST)
    assert month["forecast"]["forecast_high_usd"] == pytest.approx(FORECAST + 1.645 * SD * 3)
    assert month["alerts"] == []
    assert day["spent_usd"] == pytest.approx(D2) and day["share"] == pytest.approx(D2 / 0.05)
    assert [a["kind"] for a in day["alerts"]] == ["share"]  # $0.09 of a $0.05 day
    assert "Budget     all: $0.14 of $1.00 (14%)" in res.stdout


def test_audit_exits_3_when_a_budget_share_or_its_forecast_is_crossed(runner, two_days):
    b = _budgets(two_days, "[[budget]]\nname = 'team'\nlimit_usd = 0.5\nalert_at = [0.25]\n")
    res, out = audit(runner, two_days, "--budgets", b)
    assert res.exit_code == 3, res.output
    assert [c["check"] for c in out["crossed"]] == ["budget_share", "budget_forecast"]
    share, fc = out["crossed"]
    assert share["value"] == pytest.approx(D1 + D2) and share["threshold"] == pytest.approx(0.125)
    assert fc["value"] == pytest.approx(FORECAST) and fc["threshold"] == pytest.approx(0.5)
    assert "budget team: month-end forecast $0.75" in res.output
    assert out["budgets"][0]["share"] == pytest.approx((D1 + D2) / 0.5)


def test_audit_under_budget_exits_0(runner, two_days):
    res, out = audit(runner, two_days, "--budgets", _budgets(two_days, "[[budget]]\nlimit_usd = 1.0\n"))
    assert res.exit_code == 0, res.output
    assert out["crossed"] == [] and out["budgets"][0]["forecast"]["forecast_usd"] == pytest.approx(FORECAST)


def test_a_scope_no_request_matches_says_so_instead_of_a_silent_zero(runner, two_days):
    """Issue 25 try-out: a budget on `model = "gpt-9-nonexistent"` (a typo, or a name not as logged) showed
    "$0.00 of $5.00 (0%); month-end forecast $0.00 (no interval from 1 day of history)" on a database of two
    days: no word that nothing matched, and a history of one day that was not there."""
    text = '[[budget]]\nmodel = "gpt-4o-typo"\nlimit_usd = 1.0\n[[budget]]\nmodel = "gpt-4o"\nlimit_usd = 1.0\n'
    b = _budgets(two_days, text)
    note = "no priced request with model = gpt-4o-typo in the 56 days to 2025-11-21 (scopes match the values as logged)"
    res = runner.invoke(cli, ["report", str(two_days / "logs"), "--budgets", b, "--md", str(two_days / "r.md")])
    assert res.exit_code == 0, res.output
    typo = next(line for line in res.stdout.splitlines() if "gpt-4o-typo" in line)
    assert typo == f"Budget     model gpt-4o-typo per month: $0.00 of $1.00 (0%); {note}"
    assert "Budget     model gpt-4o per month: $0.14 of $1.00 (14%); month-end forecast" in res.stdout
    assert note in (two_days / "r.md").read_text()
    res, out = audit(runner, two_days, "--budgets", b)
    assert res.exit_code == 0, res.output
    typo_row, ok_row = out["budgets"]
    assert typo_row["note"] == note and "note" not in ok_row
    assert typo_row["forecast"]["history_days"] == 0 and typo_row["forecast"]["forecast_usd"] == 0
    assert f"llmcost: note: budget model gpt-4o-typo per month: {note}" in res.output
