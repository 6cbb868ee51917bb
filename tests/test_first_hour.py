"""A new user's first hour: counts that agree, long tables that fold, the terminal views, the first screen of
each input kind (issue 16)."""

from __future__ import annotations

import json
import math
import re

import pytest

from analyzer.cli import cli
from analyzer.formatting import count, duration
from tests.conftest import SAMPLES, agent_calls, openai_record, write_jsonl


@pytest.fixture(scope="module")
def agent_html(tmp_path_factory):
    from click.testing import CliRunner

    d = tmp_path_factory.mktemp("agent")
    log = write_jsonl(d / "agent.jsonl", agent_calls(conversations=3, turns=60))
    res = CliRunner().invoke(cli, ["report", str(log), "-o", str(d / "r.html"), "--json", str(d / "r.json")])
    assert res.exit_code == 0, res.output
    return (d / "r.html").read_text(), json.loads((d / "r.json").read_text())


def _table_rows(html: str, after: str) -> int:
    """Rows in the first table after the heading `after`."""
    i = html.index(after)
    table = html[html.index("<table", i) : html.index("</table>", i)]
    return table.count("<tr") - 1  # minus the header


def test_long_tables_fold_into_details(agent_html):
    html, rep = agent_html
    assert len(rep["conversations"]["growth_by_turn"]) == 60
    assert _table_rows(html, "Input tokens by turn") == 6
    assert "All 60 turns (54 more)" in html
    details = html[html.index("All 60 turns") :]
    assert details[: details.index("</details>")].count("<tr") == 61  # the whole table, sortable, inside
    assert "<script" not in details[: details.index("</details>")]


def test_attribution_tables_that_would_only_say_none_are_hidden(agent_html):
    html, rep = agent_html
    assert all(rows[0]["value"] == "(none)" for rows in rep["by_attribution"].values())
    section = html[html.index('id="attribution"') : html.index('id="ingest"')]
    assert "(none)" not in section and "<table" not in section
    assert "no API key, user, project, feature or tag" in section


def test_no_mid_word_breaks_in_table_cells():
    from analyzer.resources import resource_dir

    css = (resource_dir("reports") / "report.css").read_text()
    assert "overflow-wrap: anywhere" not in css and "word-break: break-all" not in css


@pytest.mark.parametrize(
    "n,noun,text",
    [
        (1, "request", "1 request"),
        (2, "request", "2 requests"),
        (0, "file", "0 files"),
        (1, "entry", "1 entry"),
        (3, "entry", "3 entries"),
        (1200, "day", "1,200 days"),
    ],
)
def test_count_says_the_noun_in_the_right_number(n, noun, text):
    assert count(n, noun) == text


def test_a_period_just_short_of_a_day_never_reads_as_a_day(runner, tmp_path):
    log = write_jsonl(
        tmp_path / "a.jsonl",
        [openai_record(ts=1_764_000_000, rid="a"), openai_record(ts=1_764_000_000 + 86_399, rid="b")],
    )
    out = tmp_path / "r.html"
    assert runner.invoke(cli, ["report", str(log), "-o", str(out)]).exit_code == 0
    html = out.read_text()
    assert "needs at least a day" in html
    assert "over 1.0 days" not in html and "over 23.9 hours" in html
    assert "2 priced requests" in html and "1 file;" in html
    assert duration(2.0) == "2 days" and duration(0.5) == "12 hours"


def test_ingest_says_what_it_counts(runner, tmp_path):
    res = runner.invoke(cli, ["ingest", str(SAMPLES), "--db", str(tmp_path / "x.duckdb")])
    assert res.exit_code == 0
    total = re.search(
        r"(\d+) records added to .*: (\d+) API calls, (\d+) block-hash trace requests, (\d+) usage buckets", res.stdout
    )
    assert total, res.stdout
    records, calls, trace, buckets = map(int, total.groups())
    assert records == calls + trace + buckets and trace == 60 and buckets > 0
    rep = runner.invoke(cli, ["report", "--db", str(tmp_path / "x.duckdb"), "--json", "-"])
    assert json.loads(rep.stdout)["totals"]["requests"] == calls
    assert "mooncake_trace: 60 block-hash trace requests" in res.stdout


def test_a_provider_not_logged_is_taken_from_the_catalogue_never_none(runner, tmp_path):
    rec = openai_record(model="command-r-08-2024", rid="x")
    out = tmp_path / "r.json"
    res = runner.invoke(cli, ["report", str(write_jsonl(tmp_path / "c.jsonl", [rec])), "--json", str(out)])
    assert res.exit_code == 0, res.output
    (m,) = json.loads(out.read_text())["by_model"]
    assert m["model_key"] and m["provider"] == "cohere_chat"
    page = runner.invoke(cli, ["report", str(tmp_path / "c.jsonl"), "-o", "-"]).stdout
    assert ">None<" not in page


# ---- charts (item 3) ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_model(tmp_path_factory):
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("samples") / "r.json"
    assert CliRunner().invoke(cli, ["report", str(SAMPLES), "--json", str(out)]).exit_code == 0
    return json.loads(out.read_text())


def test_spend_chart_aggregates_a_long_period_and_never_repeats_a_date(sample_model):
    from analyzer import charts

    assert sample_model["period"]["days"] > 366
    spec = charts.daily_spend(sample_model)
    x = spec["encoding"]["x"]
    assert x["type"] == "ordinal" and x["title"] == "Month (UTC)"
    labels = x["sort"]
    assert len(labels) == len(set(labels)) <= 14  # one band per month (empty months too: issue 22), each once
    assert all(re.fullmatch(r"[A-Z][a-z]{2} \d{4}", label) for label in labels)
    assert {d["period"] for d in spec["data"]["values"]} <= set(labels)


def test_spend_chart_legend_names_models_as_logged(sample_model):
    from analyzer import charts

    models = {d["model"] for d in charts.daily_spend(sample_model)["data"]["values"]}
    assert "claude-opus-4-20250514" in models or "other models" in models
    assert not any(m.startswith(("anthropic.", "vertex_ai/")) for m in models)  # catalogue keys
    assert charts.daily_spend(sample_model)["encoding"]["color"]["title"] == "Model (as logged)"


@pytest.mark.parametrize("top", [0.00004, 0.0002, 0.003, 0.05, 0.18, 2.0, 42.0])
def test_money_axes_keep_neighbouring_ticks_apart(top):
    from analyzer import charts

    fmt = charts.money_format(top)
    digits = int(re.fullmatch(r"\$,\.(\d)f", fmt).group(1))
    step = 10 ** math.floor(math.log10(top / 5))  # the finest tick step Vega's nice ticks take at this height
    ticks = [f"{i * step:.{digits}f}" for i in range(0, 6)]
    assert len(set(ticks)) == len(ticks), (fmt, ticks)


def test_axis_titles_and_legends_leave_room_for_the_browser_font():
    from analyzer import charts

    assert charts.CONFIG["axis"]["titlePadding"] >= 10 and charts.CONFIG["legend"]["columnPadding"] >= 20


def test_a_period_picks_days_weeks_or_months():
    from analyzer.report.spend import period_unit, spend_by_period

    assert [period_unit(d) for d in (None, 3, 62, 63, 366, 382)] == ["day", "day", "day", "week", "week", "month"]
    rows = [
        {"day": "2025-11-24", "model": "a", "requests": 1, "input_tokens": 10, "cache_read_tokens": 0,
         "output_tokens": 1, "cost_usd": 0.5, "has_unpriced": False},
        {"day": "2025-11-30", "model": "b", "requests": 2, "input_tokens": 20, "cache_read_tokens": 5,
         "output_tokens": 2, "cost_usd": None, "has_unpriced": True},
        {"day": "2025-12-01", "model": "a", "requests": 1, "input_tokens": 10, "cache_read_tokens": 0,
         "output_tokens": 1, "cost_usd": 0.25, "has_unpriced": False},
    ]  # fmt: skip
    weeks = spend_by_period(rows, "week")["periods"]
    assert [w["start"] for w in weeks] == ["2025-11-24", "2025-12-01"]  # Monday to Sunday
    assert weeks[0]["requests"] == 3 and weeks[0]["cost_usd"] == 0.5 and weeks[0]["has_unpriced"]
    assert weeks[0]["by_model"] == {"a": 0.5}  # unpriced traffic is not $0 of anything
    months = spend_by_period(rows, "month")["periods"]
    assert [(m["start"], m["cost_usd"]) for m in months] == [("2025-11-01", 0.5), ("2025-12-01", 0.25)]


# ---- the terminal (items 1 and 5) --------------------------------------------------------------------------


def test_terminal_prints_spend_by_period_and_sessions(runner):
    res = runner.invoke(cli, ["report", str(SAMPLES)])
    assert res.exit_code == 0
    out = res.stdout
    assert "Spend by month" in out and "\n2025-11 " in out  # 382 days: months, as 2025-11 (issue 22, item 16)
    assert "conversations and sessions" in out.lower() and "session-alpha" in out


@pytest.mark.parametrize("view,key", [("daily", "day"), ("weekly", "week"), ("monthly", "month")])
def test_each_period_view_prints_and_writes_json(runner, view, key):
    res = runner.invoke(cli, ["report", str(SAMPLES), "--view", view])
    assert res.exit_code == 0 and key.upper() in res.stdout
    doc = json.loads(runner.invoke(cli, ["report", str(SAMPLES), "--view", view, "--json", "-"]).stdout)
    assert doc["view"] == view and doc["unit"] == key
    full = json.loads(runner.invoke(cli, ["report", str(SAMPLES), "--json", "-"]).stdout)
    assert sum(r["requests"] for r in doc["rows"]) == sum(d["requests"] for d in full["by_day"])
    priced = sum(d["cost_usd"] for d in full["by_day"] if d["cost_usd"] is not None)
    assert sum(r["cost_usd"] or 0 for r in doc["rows"]) == pytest.approx(priced)


def test_sessions_view_as_json(runner):
    doc = json.loads(runner.invoke(cli, ["report", str(SAMPLES), "--view", "sessions", "--json", "-"]).stdout)
    rows = {r["session"]: r for r in doc["rows"]}
    assert rows["session-alpha"]["source"] == "logged" and rows["session-alpha"]["requests"] == 3
    assert doc["sessions"] >= len(doc["rows"])
    costs = [r["cost_usd"] for r in doc["rows"] if r["cost_usd"] is not None]
    assert costs == sorted(costs, reverse=True)


def test_output_files_are_announced_with_their_size(runner, tmp_path):
    out = tmp_path / "r.html"
    res = runner.invoke(cli, ["report", str(SAMPLES), "-o", str(out), "--json", str(tmp_path / "r.json")])
    kb = round(out.stat().st_size / 1024)
    assert f"wrote {out} ({kb:,} KB)" in res.stderr and f"wrote {tmp_path / 'r.json'} (" in res.stderr
    assert "wrote" not in runner.invoke(cli, ["report", str(SAMPLES), "--json", "-"]).stderr


def test_a_block_hash_trace_shows_its_cache_reuse_not_zero_dollars(runner, tmp_path):
    trace = tmp_path / "trace.jsonl"
    trace.write_text((SAMPLES / "mooncake_trace.jsonl").read_text())
    res = runner.invoke(cli, ["report", str(trace)])
    assert res.exit_code == 0
    out = res.stdout
    assert "Spend      $0.00" not in out and "Requests   0" not in out and "no lever" not in out.lower()
    assert "60 requests from block-hash traces" in out and "743,189 input tokens" in out
    assert re.search(r"ideal prefix cache serves 4\.1% of the trace.s input;", out)
    html = tmp_path / "t.html"
    runner.invoke(cli, ["report", str(trace), "-o", str(html)])
    first = html.read_text()
    first = first[first.index('id="headline"') : first.index("<nav")]
    assert "$0.00" not in first and "Prefix cache reuse" in first and "4.1%" in first and ">60<" in first


def test_waterfall_labels_are_level_so_none_is_clipped(sample_model):
    from analyzer import charts

    spec = charts.waterfall(sample_model)
    if spec is None:
        pytest.skip("no combined estimate on the samples")
    axis = spec["encoding"]["x"]["axis"]
    assert axis["labelAngle"] == 0 and "split" in axis["labelExpr"]
