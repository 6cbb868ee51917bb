"""A new user's first hour: counts that agree, long tables that fold, the terminal views, the first screen of
each input kind (issue 16)."""

from __future__ import annotations

import json
import re

import pytest

from analyzer.cli import cli
from analyzer.render import count, duration
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
    assert _table_rows(html, "Input tokens by turn") == 12
    assert "All 60 turns (48 more)" in html
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
    total = re.search(r"(\d+) records added to .*: (\d+) API calls, (\d+) block-hash trace requests", res.stdout)
    assert total, res.stdout
    records, calls, trace = map(int, total.groups())
    assert records == calls + trace and trace == 60
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
