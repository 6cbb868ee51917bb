"""Usage and cost exports (OpenAI Usage/Costs API, Anthropic usage/cost/Claude Code reports): reading, pricing,
the report's usage_export section, and reconciliation with request logs."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from analyzer.cli import cli
from analyzer.report import build_report
from tests.conftest import SAMPLES, SHARED, openai_record, write_jsonl

DAY = 1_764_028_800  # 2025-11-25T00:00:00Z
HOUR = 3600


def completions_page(results_by_hour: dict[int, list[dict]], has_more: bool = False) -> dict:
    """An OpenAI Usage API completions page, hourly buckets from DAY."""
    return {
        "object": "page",
        "data": [
            {
                "object": "bucket",
                "start_time": DAY + h * HOUR,
                "end_time": DAY + (h + 1) * HOUR,
                "results": [{"object": "organization.usage.completions.result", **r} for r in rs],
            }
            for h, rs in sorted(results_by_hour.items())
        ],
        "has_more": has_more,
        "next_page": "page_x" if has_more else None,
    }


def usage(model="gpt-4o-mini-2024-07-18", inp=0, cached=0, out=0, n=0, **extra):
    return {
        "model": model,
        "input_tokens": inp,
        "input_cached_tokens": cached,
        "output_tokens": out,
        "num_model_requests": n,
        "project_id": None,
        "api_key_id": None,
        "user_id": None,
        "batch": False,
        **extra,
    }


def anthropic_page(results: list[dict], start="2025-11-25T00:00:00Z", end="2025-11-26T00:00:00Z") -> dict:
    return {
        "data": [{"starting_at": start, "ending_at": end, "results": results}],
        "has_more": False,
        "next_page": None,
    }


def report_json(runner, *paths, extra=()):
    res = runner.invoke(cli, ["report", *map(str, paths), "--json", "-", *extra])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


# ---- the real samples ----------------------------------------------------------------------------------------


def test_openai_usage_sample_totals_by_hand(runner):
    rep = report_json(runner, SAMPLES / "openai_usage_completions.json")
    ux = rep["usage_export"]
    (e,) = ux["exports"]
    assert (e["export"], e["buckets"], e["input_tokens"], e["output_tokens"]) == ("openai_usage", 1, 1000, 500)
    t = ux["totals"]
    assert (t["requests"], t["cache_read_tokens"], t["cache_write_5m_tokens"]) == (5, 400, 100)
    assert t["audio_tokens"] == 50 + 50
    # the doc example is not grouped by model: tokens, but no price
    assert t["cost_usd"] is None and t["unpriced_buckets"] == 1 and not t["billed_complete"]
    assert "group_by=model" in ux["unpriced"][0]["reason"]
    assert rep["totals"]["requests"] == 0 and ux["needs_logs"]


def test_openai_cookbook_data_array_and_costs_page(runner):
    rep = report_json(runner, SAMPLES / "openai_usage_completions_1d.json", SAMPLES / "openai_costs.json")
    ux = rep["usage_export"]
    by = {e["export"]: e for e in ux["exports"]}
    # 9 non-empty daily buckets (the 10th has no results), summed by hand from the file
    assert by["openai_usage"]["buckets"] == 9
    assert by["openai_usage"]["input_tokens"] == (
        141201 + 45949 + 3718360 + 52786 + 35664 + 5464 + 3390547 + 8117824 + 13542
    )
    assert ux["totals"]["requests"] == 470 + 150 + 3053 + 157 + 55 + 8 + 2687 + 6335 + 46
    assert by["openai_costs"]["reported_cost_usd"] == pytest.approx(0.06)
    assert ux["billed_by_line_item"][0]["reported_cost_usd"] == pytest.approx(0.06)


def test_anthropic_usage_report_sample_priced_by_hand(runner):
    rep = report_json(runner, SAMPLES / "anthropic_usage_report.json")
    t = rep["usage_export"]["totals"]
    assert (t["input_tokens"], t["cache_read_tokens"], t["cache_write_5m_tokens"], t["cache_write_1h_tokens"]) == (
        1500 + 200 + 500 + 1000,
        200,
        500,
        1000,
    )
    assert t["output_tokens"] == 500 and t["requests"] is None  # the report counts no requests
    (m,) = rep["usage_export"]["by_model"]
    assert m["model"] == "claude-sonnet-4-20250514" and m["cost_usd"] is not None
    assert rep["usage_export"]["by_api_key"][0]["api_key"] == "apikey_01Rj2N8SVvo6BePZj99NhmiT"
    assert rep["usage_export"]["by_project"][0]["project"] == "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"


def test_anthropic_cost_report_amount_is_cents(runner):
    rep = report_json(runner, SAMPLES / "anthropic_cost_report.json")
    t = rep["usage_export"]["totals"]
    assert t["reported_cost_usd"] == pytest.approx(1.2378912)  # "123.78912" cents
    assert t["billed_usd"] == pytest.approx(1.2378912)
    assert rep["usage_export"]["billed_by_line_item"][0]["line_item"] == "Claude Sonnet 4 Usage - Input Tokens"


def test_claude_code_usage_report_sample(runner):
    rep = report_json(runner, SAMPLES / "claude_code_usage_report.json")
    ux = rep["usage_export"]
    (u,) = ux["by_user"]
    assert u["user"] == "user@emaildomain.com" and u["buckets"] == 2
    assert u["input_tokens"] == 45230 + 2340 + 8790 + 23100 + 890 + 3420
    assert u["reported_cost_usd"] == pytest.approx((186 + 42) / 100)  # minor units
    assert ux["totals"]["billed_usd"] == pytest.approx(2.28)


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/samples not present")
@pytest.mark.parametrize("folder", ["openai_usage_api", "anthropic_usage_report"])
def test_every_shared_export_file_is_read(runner, folder, tmp_path):
    db = tmp_path / "x.duckdb"
    res = runner.invoke(cli, ["ingest", str(SHARED / folder), "--db", str(db), "--json"])
    assert res.exit_code == 0, res.output
    files = json.loads(res.stdout)["files"]
    assert files and all(f["format"] and f["buckets"] > 0 and f["rejected"] == 0 for f in files)


# ---- pricing, by hand -----------------------------------------------------------------------------------------


def test_usage_buckets_priced_per_token_type_with_caching_saved(runner, tmp_path):
    # gpt-4o-mini-2024-07-18: input $0.15/M, cache read $0.075/M, output $0.60/M
    f = tmp_path / "u.json"
    f.write_text(json.dumps(completions_page({0: [usage(inp=1_000_000, cached=400_000, out=100_000, n=10)]})))
    t = report_json(runner, f)["usage_export"]["totals"]
    assert t["cost_usd"] == pytest.approx(600_000 * 0.15e-6 + 400_000 * 0.075e-6 + 100_000 * 0.60e-6)
    assert t["caching_saved_usd"] == pytest.approx(400_000 * (0.15e-6 - 0.075e-6))
    assert t["billed_usd"] == pytest.approx(t["cost_usd"]) and t["billed_complete"]


def test_anthropic_long_context_window_is_priced_at_the_tier(runner, tmp_path, catalogue):
    model = "claude-sonnet-4-20250514"  # listed with a 200k tier (under Bedrock's first-party-equal listing)
    key = catalogue.resolve(model, "anthropic").key
    rows = {r["mode"]: r for r in catalogue.rate_rows(key) if r["threshold"] > 0}
    if "standard" not in rows:
        pytest.skip("no long-context tier for this model in the catalogue")
    r = {"uncached_input_tokens": 1000, "output_tokens": 100, "model": model}
    f = tmp_path / "a.json"
    f.write_text(json.dumps(anthropic_page([r | {"context_window": "200k-1M"}, r | {"context_window": "0-200k"}])))
    by = report_json(runner, f)["usage_export"]["totals"]
    tier, base = rows["standard"], next(x for x in catalogue.rate_rows(key) if x["mode"] == "standard")
    expected = 1000 * (tier["r_input"] + base["r_input"]) + 100 * (tier["r_output"] + base["r_output"])
    assert by["cost_usd"] == pytest.approx(expected)


def test_same_bucket_in_two_files_is_counted_once_and_pages_concatenate(runner, tmp_path):
    p1 = completions_page({0: [usage(inp=100, n=1)]}, has_more=True)
    p2 = completions_page({1: [usage(inp=200, n=2)]})
    (tmp_path / "p1.json").write_text(json.dumps(p1))
    (tmp_path / "p2.json").write_text(json.dumps(p2))
    (tmp_path / "p1-again.json").write_text(json.dumps(p1, indent=1))  # same bucket, other bytes
    rep = report_json(runner, tmp_path)
    assert rep["usage_export"]["totals"]["input_tokens"] == 300
    assert rep["ingest"]["duplicates"] == 1


# ---- malformed records ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"input_tokens": -5, "output_tokens": 1}, "negative"),
        ({"input_tokens": "lots", "output_tokens": 1}, "not a whole number"),
        ({"input_tokens": 10, "input_cached_tokens": 50, "output_tokens": 1}, "exceed input"),
        ({"model": "gpt-4o"}, "no input_tokens or output_tokens"),
    ],
)
def test_one_bad_openai_result_is_rejected_the_rest_kept(store, tmp_path, bad, reason):
    page = completions_page({0: [usage(inp=100, n=1)], 1: [usage(inp=7, n=1)]})
    page["data"][1]["results"].append({"object": "organization.usage.completions.result", **bad})
    f = tmp_path / "u.json"
    f.write_text(json.dumps(page))
    res = store.ingest([str(f)])
    assert res.buckets == 2 and res.rejected == 1
    loc, why = store.con.execute("SELECT location, reason FROM rejects").fetchone()
    assert reason in why and loc.endswith("data[1].results[1]")


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"uncached_input_tokens": 5, "cache_creation": {"ephemeral_5m_input_tokens": -1}}, "negative"),
        ({"amount": "12.5", "currency": "EUR"}, "only USD"),
        ({"amount": "abc", "currency": "USD"}, "not a number"),
    ],
)
def test_bad_anthropic_results_are_rejected_with_their_place(store, tmp_path, bad, reason):
    good = {"amount": "100", "currency": "USD"} if "amount" in bad else {"uncached_input_tokens": 5}
    f = tmp_path / "a.json"
    f.write_text(json.dumps(anthropic_page([good, bad])))
    res = store.ingest([str(f)])
    assert res.buckets == 1 and res.rejected == 1
    loc, why = store.con.execute("SELECT location, reason FROM rejects").fetchone()
    assert reason in why and loc.endswith("data[0].results[1]")


def test_bucket_without_start_and_claude_code_without_tokens_are_rejected(store, tmp_path):
    page = completions_page({0: [usage(inp=1, n=1)]})
    page["data"].append({"object": "bucket", "results": [usage(inp=2)]})
    (tmp_path / "u.json").write_text(json.dumps(page))
    cc = json.loads((SAMPLES / "claude_code_usage_report.json").read_text())
    del cc["data"][0]["model_breakdown"][1]["tokens"]
    (tmp_path / "cc.json").write_text(json.dumps(cc))
    res = store.ingest([str(tmp_path)])
    reasons = [r[0] for r in store.con.execute("SELECT reason FROM rejects ORDER BY reason").fetchall()]
    assert res.rejected == 2 and reasons == ["bucket has no start_time", "model breakdown has no tokens"]
    assert res.buckets == 2


# ---- reconciliation --------------------------------------------------------------------------------------------


def _traffic(hours: range, per_hour: int = 2):
    """Request-log records and the matching usage page: per_hour calls an hour on gpt-4o-mini."""
    recs, buckets = [], {}
    for h in hours:
        for i in range(per_hour):
            recs.append(
                openai_record(
                    model="gpt-4o-mini-2024-07-18",
                    prompt=1000 + h,
                    completion=50,
                    cached=512,
                    ts=DAY + h * HOUR + 60 * i,
                    rid=f"r{h}-{i}",
                    provider="openai",
                )
            )
        buckets[h] = [usage(inp=per_hour * (1000 + h), cached=per_hour * 512, out=per_hour * 50, n=per_hour)]
    return recs, completions_page(buckets)


def test_same_traffic_reconciles_to_zero_gap_and_totals_are_not_added(runner, tmp_path):
    recs, page = _traffic(range(6))
    write_jsonl(tmp_path / "calls.jsonl", recs)
    (tmp_path / "usage.json").write_text(json.dumps(page))
    rep = report_json(runner, tmp_path)
    (row,) = rep["usage_export"]["reconciliation"]
    assert row["day"] == "2025-11-25" and row["model"] == "gpt-4o-mini-2024-07-18"
    assert row["export_requests"] == row["logs_requests"] == 12
    assert (row["gap_requests"], row["gap_input_tokens"], row["gap_output_tokens"]) == (0, 0, 0)
    assert row["gap_cost_usd"] == pytest.approx(0, abs=1e-12)
    # totals: billed from the export, analyses from the logs; never both added
    assert rep["usage_export"]["totals"]["billed_usd"] == pytest.approx(rep["totals"]["cost_usd"])
    assert rep["totals"]["requests"] == 12 and rep["usage_export"]["needs_logs"] is None


def test_a_missing_hour_shows_exactly_that_hours_gap(runner, tmp_path, catalogue):
    recs, page = _traffic(range(6))
    missing = 3
    write_jsonl(tmp_path / "calls.jsonl", [r for r in recs if not r["response"]["id"].startswith(f"r{missing}-")])
    (tmp_path / "usage.json").write_text(json.dumps(page))
    (row,) = report_json(runner, tmp_path)["usage_export"]["reconciliation"]
    assert row["gap_requests"] == 2
    assert row["gap_input_tokens"] == 2 * (1000 + missing)
    assert row["gap_cache_read_tokens"] == 2 * 512
    assert row["gap_output_tokens"] == 2 * 50
    # that hour's dollars, by hand: uncached input, cache reads and output of the two calls
    hour = 2 * ((1000 + missing - 512) * 0.15e-6 + 512 * 0.075e-6 + 50 * 0.60e-6)
    assert row["gap_cost_usd"] == pytest.approx(hour, rel=1e-9)


def test_export_only_report_says_what_would_enable_the_analyses(runner, tmp_path):
    (tmp_path / "u.json").write_text(json.dumps(completions_page({0: [usage(inp=10, out=1, n=1)]})))
    out = tmp_path / "r.html"
    res = runner.invoke(cli, ["report", str(tmp_path), "-o", str(out), "--md", "-"])
    assert res.exit_code == 0
    html = out.read_text()
    assert "Usage exports: what the providers billed" in html and "need request logs with message bodies" in html
    assert "Prefix reuse" not in html
    assert "Billed per the usage exports" in res.stdout and "$0.00** over 0 requests" not in res.stdout


def test_since_until_filter_buckets(store, catalogue, tmp_path):
    (tmp_path / "u.json").write_text(json.dumps(completions_page({0: [usage(inp=10, n=1)], 30: [usage(inp=5, n=1)]})))
    store.ingest([str(tmp_path)])
    rep = build_report(store, catalogue, since=datetime(2025, 11, 26), until=datetime(2025, 11, 27))
    assert rep["usage_export"]["totals"]["input_tokens"] == 5


def test_an_export_without_its_last_page_is_flagged(runner, tmp_path):
    first = completions_page({0: [usage(inp=100, n=1)]}, has_more=True)
    (tmp_path / "p1.json").write_text(json.dumps(first))
    out = tmp_path / "r.html"
    res = runner.invoke(cli, ["report", str(tmp_path / "p1.json"), "--json", "-", "-o", str(out)])
    (mp,) = json.loads(res.stdout)["usage_export"]["missing_pages"]
    assert mp == {"export": "openai_usage", "pages": 1, "next_pages": ["page_x"]}
    assert "pages missing" in out.read_text() and "page=page_x" in out.read_text()
    # with the last page added, nothing is missing
    (tmp_path / "p2.json").write_text(json.dumps(completions_page({1: [usage(inp=5, n=1)]})))
    rep = report_json(runner, tmp_path)
    assert rep["usage_export"]["missing_pages"] == [] and rep["usage_export"]["totals"]["input_tokens"] == 105


def test_cursor_text_from_an_export_is_escaped(runner, tmp_path):
    page = completions_page({0: [usage(inp=1, n=1)]}, has_more=True)
    page["next_page"] = "<script>alert(1)</script>"
    (tmp_path / "p.json").write_text(json.dumps(page))
    out = tmp_path / "r.html"
    assert runner.invoke(cli, ["report", str(tmp_path), "-o", str(out)]).exit_code == 0
    html = out.read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_reconciliation_reaches_the_terminal_and_csv(runner, tmp_path):
    recs, page = _traffic(range(4))
    logs = tmp_path / "logs"
    logs.mkdir()
    write_jsonl(logs / "calls.jsonl", [r for r in recs if not r["response"]["id"].startswith("r1-")])
    (logs / "usage.json").write_text(json.dumps(page))
    res = runner.invoke(cli, ["report", str(logs)])
    assert res.exit_code == 0
    assert "Logs gap   2,002 input tokens" in res.stdout  # the missing hour: 2 calls of 1,001 input tokens
    res = runner.invoke(cli, ["report", str(logs), "--csv-dir", str(tmp_path / "csv")])
    assert res.exit_code == 0
    import csv

    (row,) = list(csv.DictReader((tmp_path / "csv" / "usage_reconciliation.csv").open()))
    assert (row["gap_requests"], row["gap_input_tokens"], row["gap_output_tokens"]) == ("2", "2002", "100")
    by_model = list(csv.DictReader((tmp_path / "csv" / "usage_export_by_model.csv").open()))
    assert by_model[0]["model"] == "gpt-4o-mini-2024-07-18" and by_model[0]["requests"] == "8"


def test_cost_export_beside_the_logged_calls_per_day(runner, tmp_path):
    recs, _ = _traffic(range(2))  # 4 calls on 2025-11-25
    write_jsonl(tmp_path / "calls.jsonl", recs)
    costs = {
        "object": "page",
        "data": [
            {
                "object": "bucket",
                "start_time": DAY,
                "end_time": DAY + 86_400,
                "results": [
                    {
                        "object": "organization.costs.result",
                        "amount": {"value": 0.01, "currency": "usd"},
                        "line_item": "gpt-4o-mini-2024-07-18, input",
                        "project_id": "proj_1",
                    }
                ],
            }
        ],
        "has_more": False,
        "next_page": None,
    }
    (tmp_path / "costs.json").write_text(json.dumps(costs))
    rep = report_json(runner, tmp_path)
    (row,) = rep["usage_export"]["billed_reconciliation"]
    assert row["day"] == "2025-11-25" and row["provider"] == "openai" and row["logs_requests"] == 4
    assert row["billed_usd"] == pytest.approx(0.01)
    assert row["logs_cost_usd"] == pytest.approx(rep["totals"]["cost_usd"])
    assert row["gap_usd"] == pytest.approx(0.01 - rep["totals"]["cost_usd"])
    assert rep["usage_export"]["totals"]["billed_usd"] == pytest.approx(0.01)  # the bill, not the logs, not both


def test_days_outside_the_logs_span_are_not_compared_but_a_missing_day_inside_is(runner, tmp_path):
    recs, _ = _traffic(range(2))
    day2 = [dict(r, timestamp=r["timestamp"] + 2 * 86_400) for r in recs]  # logs on the 25th and the 27th
    for r in day2:
        r["response"] = dict(r["response"], id=r["response"]["id"] + "-d2")
    write_jsonl(tmp_path / "calls.jsonl", recs + day2)
    page = {"object": "page", "has_more": False, "next_page": None, "data": []}
    for d in range(-1, 4):  # the export runs from the 24th to the 28th, the 26th included
        page["data"].append(
            {
                "object": "bucket",
                "start_time": DAY + d * 86_400,
                "end_time": DAY + (d + 1) * 86_400,
                "results": [
                    {
                        "object": "organization.usage.completions.result",
                        **usage(inp=2 * 1000 + 1, cached=1024, out=200, n=4),
                    }
                ],
            }
        )
    (tmp_path / "usage.json").write_text(json.dumps(page))
    rows = report_json(runner, tmp_path)["usage_export"]["reconciliation"]
    assert [r["day"] for r in rows] == ["2025-11-25", "2025-11-26", "2025-11-27"]
    assert rows[1]["logs_input_tokens"] is None and rows[1]["gap_input_tokens"] == 2001  # the unlogged day


def test_unpriced_export_buckets_reconcile_with_no_dollar_gap_not_zero(runner, tmp_path):
    recs, _ = _traffic(range(1))
    write_jsonl(tmp_path / "calls.jsonl", recs)
    page = completions_page({0: [usage(model=None, inp=5000, out=10, n=3)]})
    (tmp_path / "usage.json").write_text(json.dumps(page))
    rows = report_json(runner, tmp_path)["usage_export"]["reconciliation"]
    ungrouped = next(r for r in rows if r["model"] is None)
    assert ungrouped["export_cost_usd"] is None and ungrouped["gap_cost_usd"] is None
    assert ungrouped["gap_input_tokens"] == 5000


def test_export_with_no_priced_bucket_bills_unknown_not_zero(runner, tmp_path):
    """hr1: an Usage export not grouped by model (every bucket unpriced, no cost export) said "Billed $0.00" on
    the first screen; nothing of the bill is known, so it is n/a, and the one-line summary says it is incomplete."""
    page = completions_page({0: [usage(model=None, inp=5000, out=10, n=3)]})
    (tmp_path / "usage.json").write_text(json.dumps(page))
    t = report_json(runner, tmp_path)["usage_export"]["totals"]
    assert t["billed_usd"] is None and not t["billed_complete"] and t["unpriced_buckets"] == 1
    out = runner.invoke(cli, ["report", str(tmp_path)]).output
    assert "Billed     n/a" in out and "$0.00" not in out.split("Billed", 1)[1].splitlines()[0]
    html = tmp_path / "r.html"
    res = runner.invoke(cli, ["report", str(tmp_path), "-o", str(html)])
    assert res.exit_code == 0, res.output
    billed = next(x for x in res.output.splitlines() if x.startswith("Billed"))
    assert "n/a" in billed and "incomplete: 1 buckets unpriced" in billed
    assert 'id="billed">n/a<' in html.read_text() and "unknown: no bucket could be priced" in html.read_text()


def test_export_with_some_priced_buckets_bills_the_priced_ones(runner, tmp_path):
    """The priced bucket's tokens x list prices stay the (incomplete) bill when another bucket is unpriced;
    the one-line summary names the gap."""
    page = completions_page({0: [usage(inp=1_000_000, n=1)], 1: [usage(model=None, inp=5000, n=1)]})
    (tmp_path / "usage.json").write_text(json.dumps(page))
    t = report_json(runner, tmp_path)["usage_export"]["totals"]
    assert t["billed_usd"] == pytest.approx(0.15) and not t["billed_complete"]  # 1M x $0.15/M (gpt-4o-mini input)
    res = runner.invoke(cli, ["report", str(tmp_path), "-o", str(tmp_path / "r.html")])
    billed = next(x for x in res.output.splitlines() if x.startswith("Billed"))
    assert "$0.15" in billed and "incomplete: 1 buckets unpriced" in billed
