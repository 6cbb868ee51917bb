"""Cases found by trying llmcost as a new user would (helper hr1): each was a wrong or confusing figure."""

from __future__ import annotations

from analyzer.cli import cli
from tests.conftest import chat_call, write_jsonl


def test_a_table_cut_to_the_top_rows_does_not_call_them_all(runner, tmp_path):
    """The report keeps the 20 costliest threads; with 25 threads the fold said "All 20 threads (10 more)" under a
    line counting 25: it is the top 20 of 25."""
    usage = {"prompt_tokens": 100, "completion_tokens": 10}
    recs = [
        chat_call(f"t{i}", 1_764_000_000 + i, [{"role": "user", "content": f"question number {i}"}], usage)
        for i in range(25)
    ]
    f = write_jsonl(tmp_path / "calls.jsonl", recs)
    html = tmp_path / "r.html"
    res = runner.invoke(cli, ["report", str(f), "-o", str(html)])
    assert res.exit_code == 0, res.output
    text = html.read_text()
    assert "25 threads" in text
    assert "All 20 threads" not in text
    assert "The top 20 of 25 threads (15 more)" in text


def test_levers_left_out_are_monthly_under_a_monthly_heading(runner):
    """`llmcost report sample_logs` heads "What to change first (per month at the logged rate)" and the HTML says
    "Monthly figures = saving over the 383 days logged x 30 / days", but the levers left out were quoted over the
    whole 383 days (routing "would cost $0.0021 more": $0.00016 a month, as the routing chart shows)."""
    import json

    from analyzer.savings import usd_text
    from tests.conftest import SAMPLES

    res = runner.invoke(cli, ["report", str(SAMPLES), "--json", "-"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    h, days = rep["headline"], rep["period"]["days"]
    assert h["scaled_to_month"] and days > 300
    left = h["costs_more"] + h["nothing_to_gain"] + h["withheld"]
    assert left
    for x in left:
        monthly = x["saving_usd"] * 30 / days  # the report's one rule: 30 days at the logged daily rate
        shown = usd_text(abs(monthly))
        assert f"{shown}/month" in x["text"], (x["text"], shown)
        if abs(x["saving_usd"]) >= 0.001:  # the period figure would print differently
            assert usd_text(abs(x["saving_usd"])) not in x["text"], x["text"]
    routing = next(x for x in h["costs_more"] if x["lever"] == "routing")
    assert f"would cost {usd_text(-routing['saving_usd'] * 30 / days)}/month more" in h["no_lever_reason"]


def test_a_month_is_labelled_as_a_month(runner):
    """`llmcost report sample_logs --view monthly` labelled each month by its first day (2024-12-01), which reads as
    the spend of that one day; the rows are months: 2024-12 (ccusage monthly does the same)."""
    from tests.conftest import SAMPLES

    res = runner.invoke(cli, ["report", str(SAMPLES), "--view", "monthly"])
    assert res.exit_code == 0, res.output
    labels = [ln.split()[0] for ln in res.stdout.splitlines()[2:] if ln[:2] == "20"]
    assert labels and all(len(x) == 7 and x[4] == "-" for x in labels), labels
    assert "2024-12" in labels  # the two December 2024 batch calls of openai_batch_output.jsonl


def test_a_name_cut_to_its_column_says_it_was_cut(runner):
    """`llmcost report sample_logs` printed "us.anthropic.claude-sonnet-4-5-20250929-" for
    us.anthropic.claude-sonnet-4-5-20250929-v1:0 in both MODEL and PRICED AS: a name cut to the 40-character column
    read as a whole (and two names alike in their first 40 characters as one). A cut name is shortened in the
    middle with an ellipsis, so both its start and its end (`v1:0`) stay (issue 22, item 16)."""
    from tests.conftest import SAMPLES

    res = runner.invoke(cli, ["report", str(SAMPLES)])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("MODEL "))
    row = next(ln for ln in lines[head:] if ln.startswith("us.anthropic.claude-"))
    model = row.split()[0]
    assert "\u2026" in model and model.endswith("v1:0") and len(model) <= 40, row
    short = next(ln for ln in lines[head:] if ln.startswith("gpt-4o "))
    assert "\u2026" not in short


def test_markdown_summary_counts_in_the_right_number(runner):
    """`llmcost report sample_logs --md -` said "**Unpriced:** 1 requests on models missing ... are not in this
    total": one request is."""
    from tests.conftest import SAMPLES

    res = runner.invoke(cli, ["report", str(SAMPLES), "--md", "-"])
    assert res.exit_code == 0, res.output
    assert "**Unpriced:** 1 request on models missing from the price catalogue is not in this total." in res.stdout
    assert "over 45 requests" in res.stdout and "1 requests" not in res.stdout
