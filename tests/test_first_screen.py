"""Every figure on the first screen adds up, and the terminal is as good as ccusage's (issue 22).

The first-screen checks read the figures back from what is shown and sum them to the headline."""

from __future__ import annotations

import json
import re

import pytest

from analyzer.cli import cli
from tests.conftest import ROOT, SHARED, openai_record, write_jsonl


def _money(s: str) -> float:
    return float(s.replace("$", "").replace(",", ""))


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory):
    from click.testing import CliRunner

    if not SHARED.is_dir():
        pytest.skip("../shared/samples not present")
    d = tmp_path_factory.mktemp("shared")
    db = d / "s.db"
    r = CliRunner()
    text = r.invoke(cli, ["report", str(SHARED), "--db", str(db)])
    assert text.exit_code == 0, text.output
    rep = json.loads(r.invoke(cli, ["report", "--db", str(db), "--json", "-"]).stdout)
    return text.stdout, rep, db


# ---- item 1: undated calls get their own row; periods + undated = total ------------------------------------


def _period_block(out: str, title: str = "Spend by") -> list[str]:
    block = out[out.index(title) :].split("\n\n")[0].splitlines()
    return block[2:]  # title, header


def test_spend_by_period_plus_undated_adds_up_to_the_headline(shared_run):
    out, rep, _ = shared_run
    headline_usd = _money(re.search(r"^Spend +(\$[\d.,]+)", out, re.M).group(1))
    headline_calls = int(re.search(r"^Requests +([\d,]+) API calls", out, re.M).group(1).replace(",", ""))
    assert rep["period"]["undated_requests"] > 0  # the case of the issue: 9 undated calls
    assert f"{rep['period']['undated_requests']} undated" in out
    rows = _period_block(out)
    body = [r for r in rows if not r.startswith("TOTAL")]
    assert any(r.startswith("(undated)") for r in body)
    calls = sum(int(r.split()[1].replace(",", "")) for r in body)
    usd = sum(_money(re.search(r"\$[\d.,]+", r).group(0)) for r in body)
    assert calls == headline_calls
    assert usd == pytest.approx(headline_usd, abs=0.0001 * len(body))  # each row rounded to 4 decimals
    total = next(r for r in rows if r.startswith("TOTAL"))
    assert int(total.split()[1]) == headline_calls and re.search(r"\$[\d.,]+", total).group(0) in out.split("\n")[2]
    # the JSON: periods + undated = totals, exactly
    v = rep["spend_by_period"]
    assert sum(p["requests"] for p in v["periods"]) + v["undated"]["requests"] == rep["totals"]["requests"]
    assert sum(p["cost_usd"] or 0 for p in v["periods"]) + v["undated"]["cost_usd"] == pytest.approx(
        rep["totals"]["cost_usd"]
    )


def test_a_view_has_the_undated_row_and_a_total(runner, tmp_path):
    recs = [openai_record(ts=1_764_000_000, rid="a"), openai_record(ts=1_764_100_000, rid="b")]
    undated = openai_record(rid="c", prompt=1000)
    undated.pop("timestamp")
    log = write_jsonl(tmp_path / "a.jsonl", [*recs, undated])
    res = runner.invoke(cli, ["report", str(log), "--view", "daily"])
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert lines[-2].split()[:3] == ["(undated)", "1", "1,000"] and lines[-1].split()[:3] == ["TOTAL", "3", "1,200"]
    doc = json.loads(runner.invoke(cli, ["report", str(log), "--view", "daily", "--json", "-"]).stdout)
    assert doc["undated"]["requests"] == 1 and sum(r["requests"] for r in doc["rows"]) == 2


def test_the_earlier_periods_are_summed_on_one_line(runner):
    from analyzer.render.text import period_lines

    periods = [
        {
            "start": f"2025-01-{d:02d}",
            "requests": 1,
            "input_tokens": 10,
            "cache_read_tokens": 0,
            "output_tokens": 1,
            "cost_usd": 0.25,
            "has_unpriced": False,
            "by_model": {"m": 0.25},
        }
        for d in range(1, 21)
    ]
    lines = period_lines({"unit": "day", "periods": periods}, last=14)
    assert lines[0] == "Spend by day (the latest 14 of 20)"
    assert lines[2].startswith("(earlier 6 days)") and "$1.50" in lines[2]
    assert lines[-1].startswith("TOTAL") and "$5.00" in lines[-1] and " 20 " in lines[-1]


# ---- item 2: the waterfall starts at the bill; the simulator's difference is its own step --------------------


def _waterfall_adds_up(report):
    from analyzer import charts

    steps = charts.waterfall(report)["data"]["values"]
    assert steps[0]["step"] == "spend" and steps[0]["end"] == report["totals"]["cost_usd"]
    level = steps[0]["end"]
    for d in steps[1:-1]:
        assert d["start"] == pytest.approx(level)
        level = d["end"]
        assert d["amount"] == pytest.approx(d["end"] - d["start"])
    assert steps[-1]["end"] == pytest.approx(level)
    est = report["combined"]["estimate"]
    assert level == pytest.approx(est["baseline_usd"] - est["saving_usd"])
    return steps


def test_waterfall_starts_at_the_headline_spend_and_every_step_adds_up():
    base = {
        "totals": {"cost_usd": 6.56},
        "combined": {
            "estimate": {"baseline_usd": 6.75, "saving_usd": 1.47},
            "components": [
                {"lever": "caching", "policy": "p", "saving_usd": 1.0},
                {"lever": "routing", "policy": "q", "saving_usd": 0.6},
            ],
        },
    }
    steps = _waterfall_adds_up(base)
    sim = next(d for d in steps if d["step"] == "simulator difference")
    assert sim["amount"] == pytest.approx(0.19) and sim["kind"] == "simulator"
    assert [d["step"] for d in steps] == [
        "spend",
        "simulator difference",
        "caching",
        "routing",
        "interaction",
        "all levers together",
    ]
    same = base | {"totals": {"cost_usd": 6.75}}
    assert "simulator difference" not in [d["step"] for d in _waterfall_adds_up(same)]


def test_shared_samples_waterfall_adds_up(shared_run):
    _, rep, _ = shared_run
    if rep.get("combined") and rep["combined"].get("components") and rep["combined"].get("estimate"):
        _waterfall_adds_up(rep)


# ---- item 3: block-hash trace tokens and request tokens are kept apart ---------------------------------------


@pytest.fixture(scope="module")
def sample_logs_run(tmp_path_factory):
    from click.testing import CliRunner

    from tests.conftest import SAMPLES

    d = tmp_path_factory.mktemp("samples")
    r = CliRunner()
    res = r.invoke(cli, ["report", str(SAMPLES), "--db", str(d / "s.db")])
    assert res.exit_code == 0, res.output
    html = d / "r.html"
    js = d / "r.json"
    assert r.invoke(cli, ["report", "--db", str(d / "s.db"), "-o", str(html), "--json", str(js)]).exit_code == 0
    return res.stdout, html.read_text(), json.loads(js.read_text())


def test_prefix_reuse_compares_request_logs_with_request_logs(sample_logs_run):
    out, html, rep = sample_logs_run
    src = rep["prefix_reuse"]["by_source"]
    assert src["messages"]["requests"] and src["block_traces"]["requests"]  # both kinds in sample_logs
    pct = lambda v: f"{v * 100:.1f}%"  # noqa: E731
    req = html[html.index('id="reuse-requests"') :].split("</p>")[0]
    assert pct(src["messages"]["ideal_hit_ratio"]) in req and f"{src['messages']['input_tokens']:,}" in req
    assert pct(rep["totals"]["cached_share"]) in req
    assert pct(rep["prefix_reuse"]["ideal_hit_ratio"]) not in req  # the mixed ratio (5.1%) is not the logs'
    trc = html[html.index('id="reuse-traces"') :].split("</p>")[0]
    assert pct(src["block_traces"]["ideal_hit_ratio"]) in trc and "not in the spend" in trc
    line = next(x for x in out.splitlines() if x.startswith("Reuse"))
    assert "of the trace's input (apart from the request logs above)" in line


# ---- item 4: the window asked for and the span of the data, both ---------------------------------------------


def test_period_says_the_window_asked_for_and_the_span_of_the_data(runner, tmp_path):
    day = 1_764_000_000  # 2025-11-24 16:00 UTC
    log = write_jsonl(
        tmp_path / "a.jsonl", [openai_record(ts=day, rid="a"), openai_record(ts=day + 3 * 86400, rid="b")]
    )
    res = runner.invoke(cli, ["report", str(log), "--since", "2025-11-01", "--until", "2025-11-30"])
    first = res.stdout.splitlines()[0]
    assert first == (
        "Period     2025-11-01 .. 2025-11-30 asked (30 days); the data spans 2025-11-24 16:00 .. 2025-11-27 16:00 UTC"
    )
    md = runner.invoke(cli, ["report", str(log), "--since", "2025-11-01", "--until", "2025-11-30", "--md", "-"])
    assert (
        md.stdout.splitlines()[0] == "# LLM spend: 2025-11-01 .. 2025-11-30 asked (30 days); the data spans "
        "2025-11-24 .. 2025-11-27"
    )
    plain = runner.invoke(cli, ["report", str(log)]).stdout.splitlines()[0]
    assert plain == "Period     2025-11-24 16:00 .. 2025-11-27 16:00 UTC (3 days)"


# ---- item 5: one precision per sentence; no $0.00 for an unknown gap; which figure is the bill ----------------


def test_reconcile_line_writes_both_sides_to_one_precision():
    from analyzer.reconcile import _money

    assert _money(0.014011, 1.0205) == "$0.0140" and _money(1.0205, 0.014011) == "$1.0205"
    assert _money(2.5, 1.25) == "$2.50" and _money(0.014011) == "$0.014011"


def test_first_screen_says_which_figure_is_the_bill_and_never_prices_an_unpriced_gap(sample_logs_run):
    out, html, rep = sample_logs_run
    lines = {x[:10].strip(): x[11:] for x in out.splitlines() if x[:10].strip()}
    assert "computed from the request logs at list prices; the bill is below" in lines["Spend"]
    assert lines["Billed"].startswith("$1.30, the bill per the providers' usage exports")
    rec = rep["usage_export"]["reconciliation"]
    assert all(r["gap_cost_usd"] is None for r in rec)  # the export's buckets are unpriced here
    assert "$0.00" not in lines["Logs gap"] and "cost unknown" in lines["Logs gap"]
    # "billed" or "logged": reconciliation says which figure it compared with (issue 21, item 8)
    pair = re.search(r"computed \$[\d,]+\.(\d+) vs \$[\d,]+\.(\d+) (?:billed|logged)", lines["Reconcile"])
    assert len(pair.group(1)) == len(pair.group(2)), lines["Reconcile"]  # computed and billed to one precision
    assert "at list prices (not the bill)" in html


# ---- item 9: a date window with no traffic is an error that says where the data is -------------------------


def test_a_window_with_no_traffic_exits_1_and_says_where_the_data_is(runner, tmp_path):
    day = 1_764_000_000  # 2025-11-24
    log = write_jsonl(tmp_path / "a.jsonl", [openai_record(ts=day, rid="a"), openai_record(ts=day + 86400, rid="b")])
    res = runner.invoke(cli, ["report", str(log), "--since", "2020-01-01", "--until", "2020-01-31"])
    assert res.exit_code == 1 and res.stdout == ""
    assert res.stderr.strip() == (
        "llmcost: error: no requests between 2020-01-01 and 2020-01-31; the data spans 2025-11-24 to 2025-11-25"
    )
    later = runner.invoke(cli, ["report", str(log), "--since", "20260101"])
    assert later.exit_code in (1, 2)  # 20260101 is item 17's spelling; until then a usage error
    ok = runner.invoke(cli, ["report", str(log), "--since", "2025-11-25"])
    assert ok.exit_code == 0 and "Requests   1 API call " in ok.stdout


# ---- item 13: the README's first command prints the headline, not only "wrote report.html" -----------------


def test_writing_files_prints_the_headline(runner, tmp_path):
    from tests.conftest import SAMPLES

    out, js = tmp_path / "report.html", tmp_path / "summary.json"
    res = runner.invoke(cli, ["report", str(SAMPLES), "-o", str(out), "--json", str(js)])
    assert res.exit_code == 0
    rep = json.loads(js.read_text())
    lines = res.stdout.splitlines()
    t = rep["totals"]
    assert lines[0].startswith(f"Spend      ${t['cost_usd']:.4f} over {t['requests']} API calls, ")
    assert rep["period"]["start"][:10] in lines[0] and rep["period"]["end"][:10] in lines[0]
    top = next(x for x in lines if x.startswith("Top lever"))
    h = rep["headline"]
    if h["levers"]:
        assert top.startswith(f"Top lever  {h['levers'][0]['lever']}: ") and " .. " in top
    else:
        assert "none saves money" in top
    assert "wrote" in res.stderr and "wrote" not in res.stdout
    piped = runner.invoke(cli, ["report", str(SAMPLES), "--json", "-"])
    assert "Top lever" not in piped.stdout  # stdout holds the JSON alone


# ---- item 6: the savings table: whole policies, no "saves" for nothing, routing counts that agree -------------


def _estimate(lever, policy, requests, saving, verdict, **kw):
    return {
        "lever": lever,
        "policy": policy,
        "requests": requests,
        "saving_usd": saving,
        "saving_low_usd": saving,
        "saving_high_usd": saving,
        "backtest": {"band_usd": 0.0},
        "verdict": verdict,
        "assumptions": [],
        "evidence": [],
        **kw,
    }


def test_savings_table_keeps_policies_whole_and_a_lever_that_changes_nothing_does_not_save():
    from analyzer.render.commands import render_savings

    common = "Anthropic breakpoints after the system prompt and tools and at the end of the input"
    rep = {
        "totals": {"cost_usd": 1.0},
        "caching": {"backtest": None},
        "savings": [
            _estimate("caching", f"{common}, 5-minute TTL", 3, 0.25, "saves"),
            _estimate("caching", f"{common}, 1-hour TTL", 3, -0.5, "costs more"),
            _estimate("caching", "24-hour prompt cache retention", 0, 0.0, "saves"),
        ],
    }
    out = render_savings(rep)
    table = out.split("\n\n")[2].splitlines()
    assert table[0].split() == ["LEVER", "REQUESTS", "SAVING", "RANGE", "BAND", "TODAY", "VERDICT", "POLICY"]
    assert table[1].endswith(f"{common}, 5-minute TTL") and table[2].endswith(f"{common}, 1-hour TTL")
    assert "saves" not in table[3] and "no request changes" in table[3]


def test_routing_evidence_counts_agree_with_the_requests_column(shared_run):
    from click.testing import CliRunner

    _, _, db = shared_run
    res = CliRunner().invoke(cli, ["savings", "--db", str(db), "--json"])
    routing = [e for e in json.loads(res.stdout)["savings"] if e["lever"] == "routing"]
    if not routing:
        pytest.skip("no routing estimate on the shared samples")
    for e in routing:
        d = e["detail"]
        text = " ".join(e["evidence"])
        if d["dearer_on_target"]:
            simple = d["eligible_requests"] + d["dearer_on_target"]
            assert f"{simple} of {d['candidates']} requests simple enough to route; {d['eligible_requests']} of" in text
            assert f"{d['dearer_on_target']} left alone" in text
        if e["requests"]:
            assert f"{e['requests']} routed in the central case (70% of the {d['eligible_requests']})" in text


# ---- item 7: project: headers over their numbers, the levers named as given, no fractional requests -----------


def _header_over_numbers(lines: list[str], header: str) -> None:
    """Every column heading ends where its numbers end (right-aligned columns)."""
    i = next(k for k, x in enumerate(lines) if "TOTAL" in x and "INPUT" in x)
    head = lines[i]
    ends = [m.end() for m in re.finditer(r"[A-Z]+(?: [A-Z]+)?", head)]
    for row in lines[i + 1 :]:
        if not row.strip():
            break
        cells = [m.end() for m in re.finditer(r"-?\$[\d,.]+", row)]
        assert cells == ends, f"{header}: {head!r} vs {row!r}"


def test_project_headers_sit_over_their_numbers_and_name_the_levers_given(runner):
    args = ["project", "--requests", "500000", "--input-tokens", "2000", "--output-tokens", "300", "--model", "gpt-4o"]
    res = runner.invoke(cli, [*args, "--route-share", "0.7", "--route-to", "gpt-4o-mini"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    _header_over_numbers(lines, "project")
    assert any(x.startswith("Routing saves $") for x in lines) and "caching" not in res.stdout.split("\n\n")[2]
    plain = runner.invoke(cli, args).stdout
    assert "save" not in plain.split("\n- ")[0].lower().replace("no routing or caching given", "")


def test_project_from_db_has_no_fractional_request_and_a_total(shared_run, runner):
    _, _, db = shared_run
    res = runner.invoke(cli, ["project", "--from-db", str(db)])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    doc = json.loads(runner.invoke(cli, ["project", "--from-db", str(db), "--json"]).stdout)
    table = lines[lines.index(next(x for x in lines if x.startswith("MODEL"))) :]
    head = ["MODEL", "REQUESTS/MONTH", "INPUT/REQUEST", "OUTPUT/REQUEST", "CACHE", "HITS", "COST/MONTH"]
    assert table[0].split() == head
    for m in doc["models"]:
        if m["requests_per_month"] < 1:
            row = next(x for x in table if x.startswith(m["model"][:40]))
            assert "under 1" in row and " 0.1 " not in row and " 0.2 " not in row
    total = next(x for x in table if x.startswith("TOTAL"))
    assert total.split()[-1] == f"${doc['as_given']['total_usd']:.4f}"
    _header_over_numbers(lines, "project --from-db")


# ---- item 8: the audit day page: every crossed threshold alerted, one alert per model, never "saved -$" --------


def test_audit_alerts_every_crossed_threshold_once_per_model_and_the_markdown_has_the_comparison(runner, tmp_path):
    from datetime import UTC, datetime, timedelta

    from tests.conftest import chat_call
    from tests.test_audit import audit, calls

    day1 = datetime(2025, 11, 20, 9, 0, tzinfo=UTC)
    (tmp_path / "logs").mkdir()
    write_jsonl(tmp_path / "logs" / "d1.jsonl", calls(day1, 10, cached=1024, tag="d1"))
    usage = {"prompt_tokens": 2000, "completion_tokens": 100, "prompt_tokens_details": {"cached_tokens": 0}}
    day2 = day1 + timedelta(days=1)
    new = [
        chat_call(f"n{i}", (day2 + timedelta(minutes=i)).timestamp(), [{"role": "user", "content": f"q{i}"}], usage, m)
        for i, m in enumerate(["gpt-4.1"] * 3 + ["gpt-4.1-2025-04-14"] * 2)
    ]
    write_jsonl(tmp_path / "logs" / "d2.jsonl", calls(day2, 15, tag="d2") + new)
    res, out = audit(runner, tmp_path, "--fail-on-increase", "20", day="2025-11-21")
    assert res.exit_code == 3, res.output
    crossed = {c["check"] for c in out["crossed"]}
    assert "spend_increase_pct" in crossed
    alerted = {a.get("check") for a in out["alerts"]}
    assert crossed <= alerted  # every crossed threshold is in the alert list
    models = [a for a in out["alerts"] if a["kind"] == "new_model"]
    assert len(models) == 1 and models[0]["requests"] == 5 and models[0]["aliases"] == ["gpt-4.1-2025-04-14"]
    page = (tmp_path / "out" / "llmcost-2025-11-21.html").read_text()
    alerts = page[page.index("<h3>Alerts</h3>") :].split("</ul>")[0]
    for c in out["crossed"]:
        assert c["message"].split(" (")[0] in alerts
    assert "already saved -$" not in page
    md = (tmp_path / "out" / "llmcost-2025-11-21.md").read_text()
    assert "## Audit of 2025-11-21" in md and "the window before" in md and "Change against the window before" in md
    assert "exceeds --fail-on-increase 20" in md


def test_negative_already_saved_reads_as_a_cost():
    from analyzer.render import _env

    tpl = _env().from_string(
        '{% set r = {"caching": {"already_saved_usd": x}} %}{% if (r.caching.already_saved_usd or 0) < 0 %}'
        "cost {{ -r.caching.already_saved_usd | usd }} more{% else %}saved {{ r.caching.already_saved_usd | usd }}"
        "{% endif %}"
    )
    assert tpl.render(x=-0.0001) == "cost $0.0001 more" and tpl.render(x=0.5) == "saved $0.5000"


# ---- item 10: Ctrl-C: one line, exit 130, the workers stopped at once -------------------------------------------


def sigint_handler(_: int) -> str:
    import signal

    return "ignored" if signal.getsignal(signal.SIGINT) == signal.SIG_IGN else "default"


def nap(seconds: float) -> float:
    import time

    time.sleep(seconds)
    return seconds


class Napper:
    def nap(self, seconds: float) -> float:
        return nap(seconds)


def test_ctrl_c_is_one_line_and_exit_130(runner, tmp_path, monkeypatch):
    import duckdb

    import analyzer.cli.report_cmd as cli_mod

    log = write_jsonl(tmp_path / "a.jsonl", [openai_record(rid="a")])

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_mod, "build_report", interrupted)
    res = runner.invoke(cli, ["report", str(log)])
    assert res.exit_code == 130 and res.stderr == "llmcost: interrupted\n" and "Aborted" not in res.output

    def cleanup_fails(*a, **k):  # Ctrl-C inside a database call, then the cleanup's follow-up error
        try:
            raise KeyboardInterrupt
        finally:
            raise duckdb.InvalidInputException("connection is busy with another call")

    monkeypatch.setattr(cli_mod, "build_report", cleanup_fails)
    res = runner.invoke(cli, ["report", str(log)])
    assert res.exit_code == 130 and res.stderr == "llmcost: interrupted\n"


@pytest.mark.parametrize(
    "error",
    [
        "RuntimeError: Query interrupted",
        "InvalidInputException: reading the schema of the object registered as '_new_contents' failed: "
        "KeyboardInterrupt: ",
    ],
)
def test_ctrl_c_that_duckdb_turns_into_an_error_of_its_own_is_still_an_interruption(
    runner, tmp_path, monkeypatch, error
):
    """What a Ctrl-C during the ingest gave on the real traces (`timeout -s INT 4..8 llmcost report ...`): DuckDB
    caught the KeyboardInterrupt inside its call and raised its own error, so a traceback (RuntimeError) or a
    misleading database error reached the user, exit 1. Once the handler has seen the Ctrl-C: one line, 130."""
    import contextlib
    import signal

    import duckdb

    import analyzer.cli as cli_pkg
    import analyzer.cli.report_cmd as cli_mod

    kind, message = error.split(": ", 1)
    raised = RuntimeError(message) if kind == "RuntimeError" else duckdb.InvalidInputException(message)
    log = write_jsonl(tmp_path / "a.jsonl", [openai_record(rid="a")])

    def duckdb_call(*a, **k):
        with contextlib.suppress(KeyboardInterrupt):  # caught inside DuckDB
            cli_pkg._on_sigint(signal.SIGINT, None)  # the Ctrl-C, as the installed handler receives it
        raise raised

    monkeypatch.setattr(cli_pkg, "SIGINT_SEEN", type(cli_pkg.SIGINT_SEEN)())
    monkeypatch.setattr(cli_mod, "build_report", duckdb_call)
    res = runner.invoke(cli, ["report", str(log)])
    assert res.exit_code == 130 and res.stderr == "llmcost: interrupted\n", res.output
    # the same error with no Ctrl-C behind it is not an interruption
    monkeypatch.setattr(cli_pkg, "SIGINT_SEEN", type(cli_pkg.SIGINT_SEEN)())
    monkeypatch.setattr(cli_mod, "build_report", lambda *a, **k: (_ for _ in ()).throw(raised))
    res = runner.invoke(cli, ["report", str(log)])
    assert res.exit_code == 1 and "interrupted" not in res.stderr


TRACES = SHARED.parent / "traces" / "mini_swe_agent_deepseek_test"


@pytest.mark.skipif(not TRACES.is_dir(), reason="../shared/traces not beside the repository")
def test_ctrl_c_at_any_moment_of_a_real_run_is_one_line_and_exit_130(tmp_path):
    """A terminal's Ctrl-C reaches the whole process group (the command, the fork server, the workers). Sent at
    moments from the imports to the replays of the real agent traces, it gave tracebacks: the command's own
    while it still imported its modules, the fork server's while it preloaded, and DuckDB's "Query interrupted"
    during the ingest. Now at each moment: the one line, 130, and no scratch folder left."""
    import os
    import signal
    import subprocess
    import sys
    import time

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "LLMCOST_WORKERS": "2"}
    # from 1 s: before then it may still be the interpreter's own start (runpy finding the package), which no
    # code of ours runs in yet; at 1-1.5 s the command is importing its modules, later the ingest and replays
    for delay in (1.0, 2.0, 4.0):
        p = subprocess.Popen(
            [sys.executable, "-m", "analyzer", "report", str(TRACES), "-o", str(tmp_path / "r.html")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group, as a terminal's foreground job
        )
        time.sleep(delay)
        os.killpg(p.pid, signal.SIGINT)
        out, err = p.communicate(timeout=120)
        assert "Traceback" not in err, f"at {delay} s:\n{err}"
        if p.returncode == 0:  # finished before the Ctrl-C: nothing to check at this moment
            continue
        # the notes of a stage that finished before the Ctrl-C (the file passed over, once the ingest is done) stay
        lines = err.splitlines()
        assert (p.returncode, lines[-1:]) == (130, ["llmcost: interrupted"]), f"at {delay} s:\n{err}"
        assert all(line.startswith("llmcost: note: ") for line in lines[:-1]), f"at {delay} s:\n{err}"
        assert list(scratch.iterdir()) == [], f"at {delay} s"


def test_workers_leave_ctrl_c_to_the_parent_which_stops_them_at_once():
    import signal
    import threading
    import time

    from analyzer.backends.local import Local

    be = Local(2)
    try:
        assert be.map(sigint_handler, [0, 1]) == ["ignored", "ignored"]  # no traceback from each worker
        actors = be.actors(Napper, [(), ()])
        assert be.call(actors, "nap", [(0,), (0,)]) == [0, 0]
        # Ctrl-C reaching the parent alone (to its main thread, as the terminal's would be handled)
        timer = threading.Timer(1.0, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))
        timer.start()
        t0 = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            try:
                be.call(actors, "nap", [(60,), (60,)])
            finally:
                be.close()
        assert time.monotonic() - t0 < 10  # was 5 s a worker and then its unit: stopped at once now
        assert all(not a.proc.is_alive() for a in actors)
    finally:
        be.close()


# ---- item 11: files passed over beside the logs are said, not skipped silently ---------------------------------


def test_csv_files_beside_logs_get_a_note(runner, tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [openai_record(rid="a")])
    for name in ("x.csv", "y.csv", "z.csv", "w.csv"):
        (tmp_path / name).write_text("a,b\n1,2\n")
    res = runner.invoke(cli, ["report", str(tmp_path)])
    assert res.exit_code == 0
    notes = [x for x in res.stderr.splitlines() if "not a log by name" in x]
    assert len(notes) == 1 and notes[0].startswith("llmcost: note: skipped 4 files that are not a log by name")
    assert notes[0].endswith("and 1 more") and "w.csv" in notes[0]
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "x.csv").write_text("a,b\n")
    res = runner.invoke(cli, ["report", str(alone)])
    assert res.exit_code == 1 and "none of the 1 file found" in res.stderr


# ---- item 14: --view V --md writes the view as a Markdown table, nothing glued to it ----------------------------


def test_view_as_markdown_is_the_view_alone(runner):
    from tests.conftest import SAMPLES

    res = runner.invoke(cli, ["report", str(SAMPLES), "--view", "daily", "--md", "-"])
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert lines[0].startswith("# Spend by day") and lines[1] == ""
    assert lines[2] == "| Day | Requests | Input | Cache read | Cache write | Output | Cost | Models |"
    assert all(x.startswith("|") and x.endswith("|") for x in lines[2:])  # a table to the end, no terminal text
    doc = json.loads(runner.invoke(cli, ["report", str(SAMPLES), "--view", "daily", "--json", "-"]).stdout)
    assert len(lines) - 4 == len(doc["rows"]) + (1 if doc["undated"] else 0) + 1  # rows, undated, total
    total = lines[-1].split(" | ")
    assert total[0] == "| **Total**" and int(total[1].replace(",", "")) == sum(r["requests"] for r in doc["rows"]) + (
        doc["undated"]["requests"] if doc["undated"] else 0
    )
    assert "LAST ACTIVITY" not in res.stdout and "Spend      " not in res.stdout
    sessions = runner.invoke(cli, ["report", str(SAMPLES), "--view", "sessions", "--md", "-"]).stdout.splitlines()
    assert sessions[0].startswith("# Conversations and sessions") and sessions[2].startswith("| Session |")


# ---- item 15: a pipe closed early is no error; the display spans the terminal, not 80 columns -------------------


def test_output_into_head_prints_no_error(tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT, SAMPLES

    proc = subprocess.Popen(
        [sys.executable, "-m", "analyzer", "report", str(SAMPLES), "--json", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout.read(10)  # `| head -c 10`: the reader goes after the first bytes
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0
    assert "Broken pipe" not in err and "Traceback" not in err and "Exception ignored" not in err


def test_progress_display_takes_the_terminal_width():
    import fcntl
    import os
    import pty
    import struct
    import termios

    from analyzer.progress import _columns

    master, slave = pty.openpty()
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
        with os.fdopen(os.dup(slave), "w") as tty:
            assert _columns(tty) == 200
    finally:
        os.close(master)
        os.close(slave)


# ---- item 16: tables as ccusage's: ellipsis, totals, 2025-11, one precision a column, plurals, no None -----------


def test_long_names_keep_their_start_and_end():
    from analyzer.formatting import shorten, table

    name = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    short = shorten(name, 40)
    assert len(short) == 40 and "…" in short and short.endswith("-v1:0") and short.startswith("us.anthropic.")
    a, b = shorten("x" * 30 + "-alpha:0", 20), shorten("x" * 30 + "-beta:0", 20)
    assert a != b
    rows = table([("NAME", "COST"), ("a", "$0.00"), ("b", "$0.0037"), ("c", "$1.25")])
    costs = [r.split()[-1] for r in rows[1:]]
    assert costs == ["$0.0000", "$0.0037", "$1.2500"]  # one precision in the column


def test_first_screen_tables_have_totals_months_plurals_and_no_none(shared_run):
    out, rep, _ = shared_run
    assert "None" not in out and "(s)" not in out
    models = out[out.index("MODEL ") :].split("\n\n")[0].splitlines()
    total = models[-1]
    assert total.startswith("TOTAL") and total.split()[-1] == re.search(r"^Spend +(\S+)", out, re.M).group(1)
    body = [r for r in models[1:-1]]
    assert sum(int(r.split()[-4].replace(",", "")) for r in body) == rep["totals"]["requests"]
    assert not any(len(r.split("  ")[0]) == 40 and "…" not in r.split("  ")[0] for r in body)  # cut only with …
    months = _period_block(out, "Spend by month")
    assert all(re.match(r"^(\d{4}-\d{2} |\(undated\)|TOTAL)", r) for r in months), months


# ---- item 12: the latency `formats` promises is shown: median and p95 by model ---------------------------------


def test_latency_by_model_where_logged(sample_logs_run):
    out, html, rep = sample_logs_run
    lat = {x["model"]: x for x in rep["latency_by_model"]}
    bedrock = lat["us.anthropic.claude-sonnet-4-5-20250929-v1:0"]  # sample_logs/bedrock_converse.jsonl: 2023, 1990 ms
    assert bedrock["requests"] == 2 and bedrock["median_ms"] == (2023 + 1990) / 2
    assert bedrock["p95_ms"] == pytest.approx(1990 + 0.95 * (2023 - 1990), abs=0.1)  # linear interpolation
    block = out[out.index("Latency by model") :].split("\n\n")[0]
    assert "2,007 ms" in block and "2,021 ms" in block
    assert 'id="latency"' in html and "Latency by model" in html


# ---- item 17: --breakdown, --order, cache write and read columns, --since 20250601, --model --------------------


def test_view_breakdown_order_cache_columns_compact_dates_and_model_filter(runner, tmp_path):
    day = 1_764_000_000  # 2025-11-24
    recs = [
        openai_record(model="gpt-4o", prompt=1000, completion=10, cached=200, ts=day, rid="a"),
        openai_record(model="gpt-4o-mini", prompt=500, completion=20, ts=day + 60, rid="b"),
        openai_record(model="gpt-4o", prompt=100, completion=5, ts=day + 86400, rid="c"),
    ]
    log = write_jsonl(tmp_path / "a.jsonl", recs)
    args = ["report", str(log), "--view", "daily", "--since", "20251124"]
    res = runner.invoke(cli, [*args, "--breakdown", "--order", "desc"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[1].split()[:7] == ["DAY", "REQUESTS", "INPUT", "CACHE", "READ", "CACHE", "WRITE"]
    assert lines[2].startswith("2025-11-25") and lines[4].startswith("2025-11-24")  # newest first
    assert lines[3].split()[:3] == ["└", "gpt-4o", "1"]
    sub = {x.split()[1]: x for x in lines[5:7]}
    # gpt-4o on the 24th: 1,000 input (200 read) x $2.50/$1.25 per million + 10 output x $10 per million
    assert (
        sub["gpt-4o"].split()[2:4] == ["1", "1,000"]
        and f"${(800 * 2.5 + 200 * 1.25 + 10 * 10) / 1e6:.4f}" in sub["gpt-4o"]
    )
    assert "$0.0001" in sub["gpt-4o-mini"]  # 500 x $0.15 + 20 x $0.60 per million = $0.000087, to 4 places
    doc = json.loads(runner.invoke(cli, [*args, "--model", "GPT-4O", "--json", "-"]).stdout)
    assert doc["period"]["filters"] == {"model": ["GPT-4O"]} and [r["requests"] for r in doc["rows"]] == [1, 1]
    assert doc["rows"][0]["cache_write_tokens"] == 0 and doc["rows"][0]["cache_read_tokens"] == 200
    assert doc["rows"][0]["cost_usd"] == pytest.approx((800 * 2.5 + 200 * 1.25 + 10 * 10) / 1e6)


def _filtered_log(tmp_path):
    day = 1_764_000_000  # 2025-11-24
    recs = [
        openai_record(
            model="gpt-4o", prompt=1000, completion=10, ts=day, rid="a", user="ann", api_key="k1", tags=["x"]
        ),
        openai_record(model="gpt-4o", prompt=2000, completion=20, ts=day + 60, rid="b", user="bob", project="p1"),
        openai_record(model="gpt-4o-mini", prompt=500, completion=20, ts=day + 120, rid="c", user="ann", api_key="k2"),
        openai_record(model="gpt-4o-mini", prompt=300, completion=30, ts=day + 86400, rid="d", tags=["x", "y"]),
    ]
    return write_jsonl(tmp_path / "f.jsonl", recs)


# hand-computed at list prices: gpt-4o $2.50 / $10 per million input / output, gpt-4o-mini $0.15 / $0.60
_COST = {
    "a": (1000 * 2.5 + 10 * 10) / 1e6,
    "b": (2000 * 2.5 + 20 * 10) / 1e6,
    "c": (500 * 0.15 + 20 * 0.6) / 1e6,
    "d": (300 * 0.15 + 30 * 0.6) / 1e6,
}


@pytest.mark.parametrize(
    ("flags", "kept"),
    [
        (["--user", "ann"], "ac"),
        (["--key", "k2", "--key", "k1"], "ac"),
        (["--tag", "x"], "ad"),
        (["--project", "p1"], "b"),
        (["--model", "gpt-4o-mini"], "cd"),
        (["--user", "ann", "--model", "gpt-4o"], "a"),
    ],
)
def test_filters_apply_to_the_whole_report(runner, tmp_path, flags, kept):
    log = _filtered_log(tmp_path)
    res = runner.invoke(cli, ["report", str(log), *flags, "--json", "-"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    t = rep["totals"]
    assert t["requests"] == len(kept)
    assert t["cost_usd"] == pytest.approx(sum(_COST[k] for k in kept))
    assert sum(m["requests"] for m in rep["by_model"]) == len(kept)
    assert sum(p["requests"] for p in rep["spend_by_period"]["periods"]) == len(kept)
    assert rep["sessions"]["count"] <= len(kept)
    want = {}
    for flag, value in zip(flags[::2], flags[1::2], strict=True):
        want.setdefault(flag[2:], []).append(value)
    assert rep["period"]["filters"] == want
    text = runner.invoke(cli, ["report", str(log), *flags]).stdout
    said = [f"{k} {', '.join(want[k])}" for k in ("model", "key", "user", "tag", "project") if k in want]
    assert text.splitlines()[0].endswith("; only " + "; ".join(said))
    spend = text.splitlines()[2].split()
    shown = pytest.approx(sum(_COST[k] for k in kept), abs=5.1e-5)  # to 4 places
    assert spend[0] == "Spend" and _money(spend[1]) == shown


def test_a_filter_that_keeps_nothing_says_so(runner, tmp_path):
    res = runner.invoke(cli, ["report", str(_filtered_log(tmp_path)), "--user", "nobody"])
    assert res.exit_code == 1 and res.output.strip() == "llmcost: error: no requests match --user nobody"


def test_views_by_key_project_and_model_add_up_to_the_headline(runner, tmp_path, monkeypatch):
    log = str(_filtered_log(tmp_path))
    doc = json.loads(runner.invoke(cli, ["report", log, "--view", "keys", "--json", "-"]).stdout)
    got = {r["name"]: (r["requests"], r["cost_usd"]) for r in doc["rows"]}
    assert got == {
        "k1": (1, pytest.approx(_COST["a"])),
        "k2": (1, pytest.approx(_COST["c"])),
        "(none)": (2, pytest.approx(_COST["b"] + _COST["d"])),
    }
    assert [r["name"] for r in doc["rows"]] == ["(none)", "k1", "k2"]  # the costliest first
    assert doc["total"]["cost_usd"] == pytest.approx(sum(_COST.values())) and doc["other"] is None
    doc = json.loads(runner.invoke(cli, ["report", log, "--view", "models", "--json", "-"]).stdout)
    mini = next(r for r in doc["rows"] if r["name"] == "gpt-4o-mini")
    assert (mini["requests"], mini["input_tokens"], mini["output_tokens"]) == (2, 800, 50)
    assert mini["cost_usd"] == pytest.approx(_COST["c"] + _COST["d"]) and mini["cache_write_tokens"] == 0
    out = runner.invoke(cli, ["report", log, "--view", "projects"]).stdout.splitlines()
    assert out[0] == "Spend by project"
    assert out[1].split() == ["PROJECT", "REQUESTS", "INPUT", "CACHE", "READ", "CACHE", "WRITE", "OUTPUT", "COST"]
    assert [x.split()[:3] for x in out[2:]] == [["p1", "1", "2,000"], ["(none)", "3", "1,800"], ["TOTAL", "4", "3,800"]]
    md = runner.invoke(cli, ["report", log, "--view", "keys", "--md", "-"]).stdout
    assert md.startswith("# Spend by API key\n") and "| **Total** | 4 | 3,800 |" in md
    # a capped list: the rest on one line, so the column still adds up to the headline
    monkeypatch.setattr("analyzer.report.TOP_ATTRIBUTION", 1)
    doc = json.loads(runner.invoke(cli, ["report", log, "--view", "keys", "--json", "-"]).stdout)
    assert [r["name"] for r in doc["rows"]] == ["(none)"]
    assert doc["other"]["requests"] == 2 and doc["other"]["cost_usd"] == pytest.approx(_COST["a"] + _COST["c"])


def test_tz_counts_days_in_local_time(runner, tmp_path):
    day = 1_764_000_000  # 2025-11-24 16:00 UTC: Tokyo (UTC+9) 25th 01:00, Los Angeles (PST, UTC-8) 24th 08:00
    recs = [
        openai_record(model="gpt-4o", prompt=1000, completion=10, ts=day, rid="a"),
        # 2025-11-24 06:00 UTC: Tokyo 24th 15:00, Los Angeles 23rd 22:00
        openai_record(model="gpt-4o", prompt=2000, completion=20, ts=day - 10 * 3600, rid="b"),
        # 2025-11-30 20:00 UTC: Tokyo 2025-12-01 05:00
        openai_record(model="gpt-4o-mini", prompt=500, completion=20, ts=day + 6 * 86400 + 4 * 3600, rid="c"),
    ]
    log = str(write_jsonl(tmp_path / "tz.jsonl", recs))
    cost = {"a": (1000 * 2.5 + 10 * 10) / 1e6, "b": (2000 * 2.5 + 20 * 10) / 1e6, "c": (500 * 0.15 + 20 * 0.6) / 1e6}

    def days(*extra):
        res = runner.invoke(cli, ["report", log, "--view", "daily", "--json", "-", *extra])
        assert res.exit_code == 0, res.output
        doc = json.loads(res.stdout)
        return doc, {r["start"]: (r["requests"], pytest.approx(r["cost_usd"])) for r in doc["rows"]}

    doc, got = days()
    assert got == {"2025-11-24": (2, cost["a"] + cost["b"]), "2025-11-30": (1, cost["c"])} and "tz" not in doc["period"]
    doc, got = days("--tz", "Asia/Tokyo")
    assert got == {"2025-11-24": (1, cost["b"]), "2025-11-25": (1, cost["a"]), "2025-12-01": (1, cost["c"])}
    assert doc["period"]["tz"] == "Asia/Tokyo"
    _, got = days("--tz", "America/Los_Angeles")
    assert got == {"2025-11-23": (1, cost["b"]), "2025-11-24": (1, cost["a"]), "2025-11-30": (1, cost["c"])}
    months = runner.invoke(cli, ["report", log, "--view", "monthly", "--tz", "Asia/Tokyo"]).stdout
    assert [x.split()[:2] for x in months.splitlines()[2:4]] == [["2025-11", "2"], ["2025-12", "1"]]
    text = runner.invoke(cli, ["report", log, "--tz", "Asia/Tokyo"]).stdout
    assert text.splitlines()[0].endswith("; days in Asia/Tokyo time")
    bad = runner.invoke(cli, ["report", log, "--tz", "Mars/Olympus"])
    assert bad.exit_code == 2 and "'Mars/Olympus' is not a time zone" in bad.output


@pytest.mark.parametrize("view", ["units", "users", "tags"])
def test_unit_cost_views_as_markdown(runner, tmp_path, view):
    res = runner.invoke(cli, ["report", str(_filtered_log(tmp_path)), "--view", view, "--md", "-"])
    assert res.exit_code == 0 and res.exception is None, res.output
    assert res.stdout.startswith("# ") and res.stdout.count("```") in (0, 2)
    if view == "users":
        assert "ann" in res.stdout and "bob" in res.stdout


# ---- item 18: the HTML: empty months on the time axis, the shared-prefixes table fits 1280 px --------------------


def test_time_axis_keeps_empty_months():
    from analyzer import charts

    def p(start, cost):
        return {"start": start, "cost_usd": cost, "by_model": {"m": cost}}

    rep = {"spend_by_period": {"unit": "month", "periods": [p("2025-01-01", 1.0), p("2025-04-01", 2.0)]}}
    spec = charts.daily_spend(rep)
    x = spec["encoding"]["x"]
    assert x["scale"]["domain"] == ["Jan 2025", "Feb 2025", "Mar 2025", "Apr 2025"]
    assert sorted({d["period"] for d in spec["data"]["values"]}) == ["Apr 2025", "Jan 2025"]
    assert x["axis"]["labelOverlap"] == "greedy"
    assert charts._every_period("2025-12-29", "2026-01-12", "week") == ["2025-12-29", "2026-01-05", "2026-01-12"]


def test_shared_prefixes_headings_wrap_and_hashes_are_short(sample_logs_run):
    _, html, rep = sample_logs_run
    if not rep.get("top_prefixes"):
        pytest.skip("no shared prefixes in sample_logs")
    table = html[html.index('id="top-prefixes"') :].split("</table>")[0]
    assert table.count('<th class="wrap">') + table.count('<th class="n wrap">') == 14
    full = rep["top_prefixes"][0]["prefix"]
    assert f'title="{full}">{full[:12]}</code>' in table
    assert '<table class="sortable dense" id="top-prefixes">' in html  # padded tighter (measured: 1,200 px at 1280)


def test_a_one_day_window_over_its_own_day_is_said_once():
    from analyzer.formatting import period_words

    p = {"start": "2025-11-27T00:01:00Z", "end": "2025-11-27T23:00:00Z", "days": 1.0}
    p |= {"since": "2025-11-27T00:00:00Z", "until": "2025-11-28T00:00:00Z"}
    assert period_words(p, minutes=False) == "2025-11-27 (1 day)"
    assert period_words(p).startswith("2025-11-27 asked (1 day); the data spans 2025-11-27 00:01 .. ")


def test_savings_names_the_replay_its_savings_start_from_beside_the_spend():
    """`savings` printed "Spend in period: $0.1139" and, further down, "$0.1179 as logged" with no word on the
    difference (hr1's walkthrough): the as-logged replay is named beside the spend, with the gap."""
    from analyzer.render.commands import render_savings

    rep = {
        "totals": {"cost_usd": 1.0},
        "caching": {"backtest": None},
        "savings": [
            _estimate("caching", "p1", 3, 0.25, "saves", baseline_usd=1.2),
            _estimate("routing", "p2", 2, -0.1, "costs more", baseline_usd=1.2),
        ],
    }
    head = render_savings(rep).splitlines()[:2]
    assert head[0] == "Spend in period: $1.00"
    assert head[1].startswith("As replayed:     $1.20") and "$0.2000 above the spend" in head[1]


def test_money_column_precision_comes_from_the_amount_not_from_zeros():
    """Issue 25 try-out: `--view daily` on the real traces printed $6.1600 for a day of $6.164493944 (usd gave
    $6.16, the column's four decimals were made up with zeros) and a TOTAL of $6.5600 for $6.55529392, so the
    column did not add up ($6.1600 + $0.3908 != $6.5600). Each amount is written at the column's precision
    from its value."""
    from analyzer.formatting import table, usd

    rows = table(
        [
            ("DAY", "COST"),
            ("2026-04-10", usd(6.164493944)),
            ("2026-04-11", usd(0.390799976) + " +unpriced"),
            ("TOTAL", usd(6.55529392)),
        ]
    )
    costs = [r.split(None, 1)[1].strip() for r in rows[1:]]
    assert costs == ["$6.1645", "$0.3908 +unpriced", "$6.5553"]  # 6.164493944 and 6.55529392 to 4 decimals
    big = table([("NAME", "COST"), ("a", usd(-1234.56789)), ("b", usd(0.0037))])
    assert [r.split()[-1] for r in big[1:]] == ["-$1,234.5679", "$0.0037"]


# ---- the projection chart's first bar and the headline's monthly figure, side by side -------------------------


def test_the_projection_caption_sets_its_first_bar_beside_the_headlines_monthly_figure(shared_run):
    """On ../shared/samples the card 'Projected per month' said $0.0060 and the projection chart's 'as measured'
    bar $0.0040, with nothing on the screen saying why (a new user's trial). The caption now gives both
    figures, their difference, and what sets them apart."""
    from analyzer import charts
    from analyzer.formatting import usd

    _, rep, _ = shared_run
    modelled = rep["projection"]["as_given"]["total_usd"]
    logged = rep["totals"]["projected_monthly_usd"]
    assert modelled is not None and logged is not None and usd(modelled) != usd(logged)
    (caption,) = [c["caption"] for c in charts.specs(rep) if c["id"] == "projection"]
    assert f"The first bar, {usd(modelled)}/month, prices each model's mean request" in caption
    assert f"the headline's {usd(logged)}/month is the logged spend" in caption
    assert f"({usd(logged - modelled)} apart:" in caption
    # with no monthly figure (under a day of traffic) the caption is the plain one
    rep = {**rep, "totals": {**rep["totals"], "projected_monthly_usd": None}}
    (caption,) = [c["caption"] for c in charts.specs(rep) if c["id"] == "projection"]
    assert "headline" not in caption and caption == charts.CHARTS["projection"][2]


def test_a_worker_whose_start_message_was_cut_by_a_ctrl_c_exits_without_a_traceback():
    """A Ctrl-C that ends the command while it writes a worker's start message to the fork server leaves that worker
    a truncated pickle; the worker exits without printing its unpickling error (the command's one line says what
    happened), and any other error a worker meets is printed in full."""
    import subprocess
    import sys

    code = (
        "import pickle, sys, analyzer.backends.no_ctrl_c\n"
        "try:\n"
        "    pickle.loads(pickle.dumps(list(range(1000)))[:50])\n"
        "except Exception:\n"
        "    sys.excepthook(*sys.exc_info())\n"
        "try:\n"
        "    pickle.loads(b'')\n"
        "except Exception:\n"
        "    sys.excepthook(*sys.exc_info())\n"
        "raise ValueError('a real error')\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 1
    assert p.stderr.count("Traceback") == 1 and "ValueError: a real error" in p.stderr
    assert "pickle" not in p.stderr.replace("import pickle", "") and "EOFError" not in p.stderr
