"""Budgets in the HTML report and the Markdown summary (#25 part 3): budget, spent, share, forecast and interval.
Figures hand-computed: claude-sonnet-4 at $3/M input and $15/M output, 1,000 input + 200 output tokens a call."""

import math
import re
from pathlib import Path

from analyzer.cli import cli
from analyzer.formatting import usd
from tests.test_audit import audit
from tests.test_blocks import CALL_USD, claude_code_log
from tests.test_budgets import two_days  # noqa: F401 (a fixture)

TIMES = [f"2026-01-08T{hm}:00Z" for hm in ("10:20", "10:50")] + [
    f"2026-01-09T{hm}:00Z" for hm in ("10:20", "10:50", "11:20")
]


def test_budgets_table_in_html_and_markdown(runner, tmp_path):
    log = claude_code_log(tmp_path / "s.jsonl", TIMES)
    (tmp_path / "b.toml").write_text(
        '[[budget]]\nname = "team <a>"\nlimit_usd = 0.02\n\n[[budget]]\nperiod = "day"\nlimit_usd = 1\n'
    )
    html, md = tmp_path / "r.html", tmp_path / "r.md"
    args = ["report", str(log), "--budgets", str(tmp_path / "b.toml"), "-o", str(html), "--md", str(md)]
    res = runner.invoke(cli, args)
    assert res.exit_code == 0, res.output
    # as of 2026-01-09: Jan 8 spent 2 calls, Jan 9 3 calls; the month so far 5 calls
    spent = 5 * CALL_USD
    mean = (2 * CALL_USD + 3 * CALL_USD) / 2  # two days of history: under 14, the overall daily mean
    sd = math.sqrt(((2 * CALL_USD - mean) ** 2 + (3 * CALL_USD - mean) ** 2) / (2 - 1))
    rest, half = 22 * mean, 1.645 * sd * math.sqrt(22)  # Jan 10..31
    forecast, low, high = spent + rest, spent + rest - half, spent + rest + half
    page = html.read_text()
    sec = re.search(r'<section id="budgets">.*?</section>', page, re.S).group()
    assert "team &lt;a&gt;" in sec and "team <a>" not in sec  # names are escaped
    assert usd(0.02) in sec and usd(spent) in sec and "150.0%" in sec
    assert usd(forecast) in sec and f"{usd(low)} .. {usd(high)}" in sec
    assert "exceeds" not in sec and "(alert at 100%)" in sec  # over the limit already: the share alert
    assert "all spend per day" in sec and usd(3 * CALL_USD) in sec and "1.8%" in sec  # the day: $0.018 of $1
    text = md.read_text()
    assert "## Budgets on 2026-01-09" in text
    row = next(ln for ln in text.splitlines() if ln.startswith("| team \\<a\\> |"))  # Markdown-escaped
    assert f"| {usd(forecast)} | {usd(low)} .. {usd(high)} |" in row and "| 150.0% |" in row


def test_no_budgets_no_section(runner, tmp_path):
    log = claude_code_log(tmp_path / "s.jsonl", TIMES)
    res = runner.invoke(cli, ["report", str(log), "-o", str(tmp_path / "r.html"), "--md", str(tmp_path / "r.md")])
    assert res.exit_code == 0, res.output
    assert 'id="budgets"' not in (tmp_path / "r.html").read_text()
    assert "Budgets" not in (tmp_path / "r.md").read_text()


def test_the_audit_page_shows_its_budgets(runner, two_days):  # noqa: F811 (the fixture)
    from tests.test_budgets import D1, D2, FORECAST, _budgets

    b = _budgets(two_days, "[[budget]]\nname = 'team'\nlimit_usd = 1.0\n")
    res, out = audit(runner, two_days, "--budgets", b)
    assert res.exit_code == 0, res.output
    page = Path(out["outputs"]["html"]).read_text()
    sec = re.search(r'<section id="budgets">.*?</section>', page, re.S).group()
    assert usd(D1 + D2) in sec and usd(FORECAST) in sec and f"{(D1 + D2) / 1.0:.1%}" in sec
    assert "## Budgets on 2025-11-21" in Path(out["outputs"]["md"]).read_text()
