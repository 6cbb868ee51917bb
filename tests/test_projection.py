"""`llmcost project`: the seed's before-you-ship arithmetic, checked against the issue's hand-computed figures."""

from __future__ import annotations

import json

import pytest

from analyzer.cli import cli
from analyzer.errors import InputError
from analyzer.projection import Workload, cost, project
from tests.conftest import SAMPLES


def test_plain_gpt4o(catalogue):
    r = cost(Workload(500_000, 2000, 300, "gpt-4o"), catalogue)
    assert (r["input_usd"], r["output_usd"], r["total_usd"]) == (2500.0, 1500.0, 4000.0)


def test_routing_70_percent_to_mini(catalogue):
    r = cost(Workload(500_000, 2000, 300, "gpt-4o", route_share=0.7, route_to="gpt-4o-mini"), catalogue)
    # 30% stays: $750 + $450; 70% on mini ($0.15 / $0.60 per 1M): $105 + $63
    assert r["input_usd"] == pytest.approx(855.0)
    assert r["output_usd"] == pytest.approx(513.0)


def test_cached_prompt_pays_the_write_premium(catalogue):
    r = cost(Workload(500_000, 3000, 0, "claude-sonnet-4-5", cached_prefix=3000, cache_hit_rate=0.8), catalogue)
    # 400k reads x 3000 x $0.30/1M = $360; 100k writes x 3000 x $3.75/1M = $1,125 (not $900 at $3.00)
    assert r["cache_read_usd"] == pytest.approx(360.0)
    assert r["cache_write_usd"] == pytest.approx(1125.0)
    assert r["total_usd"] == pytest.approx(1485.0)


def test_growth_applies_to_the_non_prefix_input(catalogue):
    r = cost(Workload(1000, 1000, 0, "gpt-4o", cached_prefix=0, growth=0.3), catalogue)
    assert r["input_usd"] == pytest.approx(1000 * 1300 * 2.5e-6)
    r = cost(Workload(1000, 2000, 0, "gpt-4o", cached_prefix=1200, cache_hit_rate=1.0, growth=0.5), catalogue)
    # 1,200 cached (1,024 + one 128-token step = 1,152 read at $1.25/1M), 800 grows to 1,200 uncached at $2.50/1M
    assert r["cache_read_usd"] == pytest.approx(1000 * 1152 * 1.25e-6)
    assert r["input_usd"] == pytest.approx(1000 * (1200 + 48) * 2.5e-6)


def test_a_prefix_is_credited_only_as_the_provider_caches_it(catalogue):
    """OpenAI caches from 1,024 tokens in 128-token steps; Haiku 4.5 from 4,096; a shorter prefix is no cache."""
    r = cost(Workload(1000, 2000, 0, "gpt-4o", cached_prefix=600, cache_hit_rate=1.0), catalogue)
    assert r["cache_read_usd"] == 0 and r["input_usd"] == pytest.approx(1000 * 2000 * 2.5e-6)
    assert any("600-token prefix" in n and "1,024" in n for n in r["notes"])
    r = cost(Workload(1000, 5000, 0, "claude-haiku-4-5", cached_prefix=3000, cache_hit_rate=0.5), catalogue)
    assert r["cache_read_usd"] == 0 and r["cache_write_usd"] == 0  # 3,000 < Haiku 4.5's 4,096: nothing cached
    assert r["input_usd"] == pytest.approx(1000 * 5000 * 1e-6)
    # DeepSeek: automatic, 64-token units, no write premium (misses are plain input)
    r = cost(Workload(1000, 3000, 0, "deepseek-chat", cached_prefix=1000, cache_hit_rate=0.5), catalogue)
    assert r["cache_read_usd"] == pytest.approx(500 * 960 * 0.028e-6) and r["cache_write_usd"] == 0


def test_scenarios(catalogue):
    w = Workload(500_000, 2000, 300, "gpt-4o", cached_prefix=1000, cache_hit_rate=0.5)
    p = project(w, catalogue)
    s = p["scenarios"]
    assert s["traffic_x0.2"]["workload"]["requests"] == 100_000
    assert (
        s["context_plus_30pct"]["workload"]["growth"] == 0.3
        and s["context_plus_30pct"]["workload"]["requests"] == 500_000
    )
    agg = s["traffic_x3_context_plus_50pct_no_cache"]["workload"]
    assert agg["requests"] == 1_500_000 and agg["growth"] == 0.5 and agg["caching"] is False
    # 3x traffic, +50% context, no caching: 1.5M x (1000 + 1000 x 1.5) in at $2.50, 300 out at $10
    assert s["traffic_x3_context_plus_50pct_no_cache"]["total_usd"] == pytest.approx(
        1_500_000 * (2500 * 2.5e-6 + 300 * 1e-5)
    )
    assert p["levers_save_usd"] == pytest.approx(p["without_levers"]["total_usd"] - p["as_given"]["total_usd"])


@pytest.mark.parametrize(
    "kw",
    [{"route_share": 0.5}, {"cache_hit_rate": 1.5}, {"cached_prefix": 5000}, {"requests": -1}],
)
def test_bad_workloads(catalogue, kw):
    base = {"requests": 10, "input_tokens": 100, "output_tokens": 10, "model": "gpt-4o"}
    with pytest.raises(InputError):
        cost(Workload(**{**base, **kw}), catalogue)


def test_unknown_model_is_an_error_not_zero(catalogue):
    with pytest.raises(InputError, match="no price for acme"):
        cost(Workload(10, 100, 10, "acme-llm-7b"), catalogue)


def test_cli_json_and_from_db(runner, tmp_path):
    res = runner.invoke(
        cli,
        [
            "project",
            "--requests",
            "500000",
            "--input-tokens",
            "2000",
            "--output-tokens",
            "300",
            "--model",
            "gpt-4o",
            "--route-share",
            "0.7",
            "--route-to",
            "gpt-4o-mini",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["as_given"]["total_usd"] == pytest.approx(1368.0)
    assert data["without_levers"]["total_usd"] == pytest.approx(4000.0)
    db = str(tmp_path / "x.duckdb")
    assert runner.invoke(cli, ["ingest", str(SAMPLES), "--db", db]).exit_code == 0
    res = runner.invoke(cli, ["project", "--from-db", db, "--model", "gpt-4o", "--json"])
    assert res.exit_code == 0, res.output
    measured = json.loads(res.stdout)["as_given"]["workload"]
    assert measured["model"] == "gpt-4o" and measured["requests"] > 0 and 0 < measured["cache_hit_rate"] < 1


def test_cli_needs_inputs(runner):
    res = runner.invoke(cli, ["project", "--requests", "10"])
    assert res.exit_code == 2 and "--input-tokens" in res.output


def test_project_from_db_projects_every_model_as_the_report_does(runner, tmp_path):
    """`project --from-db` on a many-model database: each model on its own workload, summed, the same figures
    as the report's projection (one code path), not one model's '2.0 requests/month'."""
    db = str(tmp_path / "x.duckdb")
    assert runner.invoke(cli, ["ingest", str(SAMPLES), "--db", db]).exit_code == 0
    res = runner.invoke(cli, ["project", "--from-db", db, "--json"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    rep = json.loads(runner.invoke(cli, ["report", "--db", db, "--json", "-"]).stdout)["projection"]
    assert len(got["models"]) == len(rep["models"]) == len({m["model"] for m in rep["models"]}) > 5
    assert got["as_given"] == rep["as_given"] and got["scenarios"] == rep["scenarios"]
    assert got["unpriced_models"] == ["acme-llm-7b"]
    text = runner.invoke(cli, ["project", "--from-db", db]).stdout
    assert f"{len(got['models'])} models" in text and "conservative" not in text
    assert "3x traffic, +50% context, no caching" in text


def test_scenarios_are_named_for_what_they_assume(catalogue):
    p = project(Workload(requests=1000, input_tokens=1000, output_tokens=100, model="gpt-4o"), catalogue)
    assert set(p["scenarios"]) == set(p["scenarios_assume"])
    assert not {"conservative", "base", "aggressive"} & set(p["scenarios"])
    assert p["scenarios_assume"]["traffic_x0.2"] == "20% of the traffic"
