"""Billed vs computed: the cost a log carries beside llmcost's own, per day and model, hand-computed."""

from __future__ import annotations

import pytest

from analyzer.prices import load_catalogue
from analyzer.reconcile import likely_cause
from analyzer.report import build_report
from tests.conftest import SHARED, write_jsonl


def payload(i: int, model: str, prompt: int, completion: int, cost: float, day: str = "2026-03-02") -> dict:
    return {
        "id": f"r{i}",
        "call_type": "acompletion",
        "startTime": f"{day}T10:00:0{i}Z",
        "endTime": f"{day}T10:00:0{i}Z",
        "model": model,
        "custom_llm_provider": "openai",
        "response_cost": cost,
        "status": "success",
        "response": {"usage": {"prompt_tokens": prompt, "completion_tokens": completion}},
    }


def report_of(store, tmp_path, records):
    store.ingest([str(write_jsonl(tmp_path / "l.jsonl", records))])
    return build_report(store, load_catalogue())


def test_billed_vs_computed_per_day_and_model(store, tmp_path):
    # gpt-4o: $2.50 / $10 per million. 1000 in + 100 out = $0.0035 each.
    recs = [
        payload(1, "gpt-4o", 1000, 100, 0.0035),
        payload(2, "gpt-4o", 1000, 100, 0.0035),
        payload(3, "gpt-4o", 1000, 100, 0.00385, day="2026-03-03"),  # billed 1.1x
        payload(4, "acme-llm-7b", 1000, 100, 0.01),
    ]
    rc = report_of(store, tmp_path, recs)["reconciliation"]
    rows = {(r["day"], r["model"]): r for r in rc["rows"]}
    a = rows[("2026-03-02", "gpt-4o")]
    assert (a["requests"], a["billed_usd"], a["computed_usd"], a["gap_usd"]) == (2, 0.007, 0.007, 0.0)
    assert a["likely_cause"] == "matches"
    b = rows[("2026-03-03", "gpt-4o")]
    assert b["gap_usd"] == pytest.approx(0.0035 - 0.00385)
    assert b["gap_pct"] == pytest.approx(-9.09, abs=0.01)
    assert "1.1x" in b["likely_cause"]
    u = rows[("2026-03-02", "acme-llm-7b")]
    assert u["computed_usd"] is None and u["gap_usd"] is None and "not in the price catalogue" in u["likely_cause"]
    # totals over the comparable rows only: billed 0.01085, computed 0.0105
    assert rc["billed_usd"] == pytest.approx(0.01085)
    assert rc["computed_usd"] == pytest.approx(0.0105)
    assert rc["gap_pct"] == pytest.approx(-3.23, abs=0.01)
    # LiteLLM's response_cost is LiteLLM's own computation, not the provider's bill: a "logged cost"
    assert rc["line"].startswith("Differs from the logged cost by $0.00035")
    assert rc["compared_with"] == "logged cost"
    assert {r["figure"] for r in rc["rows"]} == {"logged cost"}
    assert a["reported_usd"] == 0.007
    assert rc["requests_with_billed_cost"] == 4


def test_matching_logs_say_so(store, tmp_path):
    rc = report_of(store, tmp_path, [payload(1, "gpt-4o", 1000, 100, 0.0035)])["reconciliation"]
    assert rc["line"] == (
        "Matches the logged cost within 0.00% ($0.0035 logged on 1 calls). The logged cost is the logging "
        "client's own computation, not the provider's bill."
    )


def test_no_billed_cost_no_line(store, tmp_path):
    rec = payload(1, "gpt-4o", 1000, 100, 0.0)
    rec["response_cost"] = None  # LiteLLM could not price it
    rc = report_of(store, tmp_path, [rec])["reconciliation"]
    assert rc["line"] is None and rc["rows"] == []


@pytest.mark.parametrize(
    ("billed", "computed", "cause"),
    [
        (1.0, 2.0, "50% discount"),
        (2.0, 1.0, "2x premium"),
        (10.0, 1.0, "too large"),
        (1.005, 1.0, "matches"),
    ],
)
def test_likely_cause(billed, computed, cause):
    row = {"billed_usd": billed, "computed_usd": computed, "unpriced": 0, "format": "openai_chat", "provider": "x"}
    assert cause in likely_cause(row)


def test_openrouter_sample_matches_at_the_price_of_its_day(store):
    # OpenRouter's usage.cost $0.027461 on 2026-07-17: the catalogue's gpt-5.6-sol prices of that day (listed
    # 2026-07-09: $5 in, $0.50 cache read, $6.25 cache write, $30 out) give the same; the later snapshot's
    # ($4, $0.40, $5, $20) would compute -20%.
    path = SHARED / "openrouter"
    if not path.is_dir():
        pytest.skip("../shared samples not present")
    store.ingest([str(path)])
    r = build_report(store, load_catalogue())
    rc = r["reconciliation"]
    assert rc["billed_usd"] == pytest.approx(0.027461)
    assert rc["computed_usd"] == pytest.approx(0.027461)
    assert rc["line"].startswith("Matches what was billed")  # OpenRouter's own charge: billed
    assert rc["compared_with"] == "billed" and rc["rows"][0]["figure"] == "billed"
    assert r["prices"]["cost_at_today_prices_usd"] < 0.85 * 0.027461


def test_reconciliation_in_every_output(runner, tmp_path):
    from analyzer.cli import cli

    log = write_jsonl(tmp_path / "l.jsonl", [payload(1, "gpt-4o", 1000, 100, 0.00385)])
    out = tmp_path / "out"
    out.mkdir()
    res = runner.invoke(
        cli,
        ["report", str(log), "-o", str(out / "r.html"), "--md", str(out / "r.md"), "--csv-dir", str(out / "csv")],
    )
    assert res.exit_code == 0, res.output
    line = "Differs from the logged cost by $0.00035"
    html = (out / "r.html").read_text()
    assert 'id="billed-line"' in html and line in html and 'id="reconciliation"' in html
    assert "logged cost" in html
    md = (out / "r.md").read_text()
    assert f"**Logged cost vs computed:** {line}" in md and "## Reconciliation: logged cost vs computed" in md
    csv = (out / "csv" / "billed_vs_computed.csv").read_text().splitlines()
    assert csv[0].startswith("day,model,model_key,provider,format,figure,")
    assert csv[1].startswith("2026-03-02,gpt-4o,gpt-4o")
    assert ",litellm_payload,logged cost," in csv[1]
    assert line in runner.invoke(cli, ["report", str(log)]).output  # the terminal summary


@pytest.mark.parametrize(
    ("fmt", "provider", "figure"),
    [
        ("litellm_payload", "openai", "logged cost"),
        ("litellm_spend_log", "anthropic", "logged cost"),
        ("claude_code", "anthropic", "logged cost"),
        ("mini_swe_agent_traj", "deepseek", "logged cost"),
        ("langfuse", "openai", "logged cost"),
        ("openai_chat", "openrouter", "billed"),
        ("openai_chat", "openai", "logged cost"),
    ],
)
def test_figure_kind_by_source(fmt, provider, figure):
    from analyzer.reconcile import figure_kind

    assert figure_kind({"format": fmt, "provider": provider}) == figure
