"""FOCUS export (issue 25 part 2): rows per day x provider x model x key x project x token type, each row's cost
= quantity x unit price, and the sum of BilledCost = the report's total spend."""

from __future__ import annotations

import json

import polars as pl
import pytest

from analyzer.cli import cli
from tests.conftest import SAMPLES, write_jsonl

# USD per token of the made-up model (a --prices override), so every figure below is hand-computed.
PRICES = {
    "acme-focus-test": {
        "litellm_provider": "anthropic",
        "mode": "chat",
        "input_cost_per_token": 2e-6,
        "output_cost_per_token": 10e-6,
        "cache_read_input_token_cost": 0.2e-6,
        "cache_creation_input_token_cost": 2.5e-6,
        "cache_creation_input_token_cost_above_1hr": 4e-6,
    }
}


def _call(ts: int, uncached: int, read: int, w5: int, w1: int, out: int, key: str, status: int | None = None):
    """One Anthropic Messages API request/response record (usage.input_tokens is the uncached input)."""
    return {
        "timestamp": ts,
        "api_key": key,
        "request": {"model": "acme-focus-test", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]},
        "response": {
            "id": f"msg_{ts}_{key}",
            "type": "message",
            "role": "assistant",
            "model": "acme-focus-test",
            "content": [{"type": "text", "text": "ok"}],
            "stop_reason": "end_turn",
            "usage": {
                "input_tokens": uncached,
                "cache_read_input_tokens": read,
                "cache_creation_input_tokens": w5 + w1,
                "cache_creation": {"ephemeral_5m_input_tokens": w5, "ephemeral_1h_input_tokens": w1},
                "output_tokens": out,
            },
        },
    }


DAY1, DAY2 = 1764064800, 1764151200  # 2025-11-25 10:00 and 2025-11-26 10:00 UTC


def _run(runner, tmp_path, records, suffix=".csv"):
    log = write_jsonl(tmp_path / "anthropic_messages.jsonl", records)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps(PRICES))
    out, rep = tmp_path / f"focus{suffix}", tmp_path / "r.json"
    res = runner.invoke(
        cli,
        ["report", str(log), "--prices", str(prices), "--focus", str(out), "--json", str(rep)],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    rows = pl.read_csv(out) if suffix == ".csv" else pl.read_parquet(out)
    return rows, json.loads(rep.read_text()), res


def _row(rows, day, token_type, key="sk-a"):
    r = rows.filter(
        (pl.col("ChargePeriodStart") == f"{day}T00:00:00Z")
        & (pl.col("x_TokenType") == token_type)
        & (pl.col("x_ApiKey") == key)
    )
    assert r.height == 1, (day, token_type, key, r)
    return r.to_dicts()[0]


RECORDS = [
    _call(DAY1, 1000, 2000, 500, 0, 300, "sk-a"),
    _call(DAY1 + 3600, 100, 0, 0, 1000, 50, "sk-a"),
    _call(DAY2, 10, 0, 0, 0, 5, "sk-a"),
    _call(DAY2 + 60, 40, 0, 0, 0, 20, "sk-b"),
]
# (day, token type, key) -> (tokens, USD per 1M tokens), hand-computed from RECORDS and PRICES
EXPECTED = {
    ("2025-11-25", "input", "sk-a"): (1100, 2.0),
    ("2025-11-25", "cache_read", "sk-a"): (2000, 0.2),
    ("2025-11-25", "cache_write_5m", "sk-a"): (500, 2.5),
    ("2025-11-25", "cache_write_1h", "sk-a"): (1000, 4.0),
    ("2025-11-25", "output", "sk-a"): (350, 10.0),
    ("2025-11-26", "input", "sk-a"): (10, 2.0),
    ("2025-11-26", "output", "sk-a"): (5, 10.0),
    ("2025-11-26", "input", "sk-b"): (40, 2.0),
    ("2025-11-26", "output", "sk-b"): (20, 10.0),
}
# 1100*2 + 2000*0.2 + 500*2.5 + 1000*4 + 350*10 + 10*2 + 5*10 + 40*2 + 20*10 = 11,700 USD per 1M tokens
TOTAL_USD = 0.0117


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_focus_rows_are_quantity_times_list_unit_price(runner, tmp_path, suffix):
    rows, rep, _ = _run(runner, tmp_path, RECORDS, suffix)
    assert rows.height == len(EXPECTED)
    for (day, kind, key), (tokens, per_m) in EXPECTED.items():
        r = _row(rows, day, kind, key)
        assert r["ConsumedQuantity"] == tokens and r["ConsumedUnit"] == "Tokens"
        assert r["PricingUnit"] == "1000000 Tokens" and r["PricingQuantity"] == pytest.approx(tokens / 1e6, rel=1e-12)
        assert r["ListUnitPrice"] == pytest.approx(per_m, rel=1e-9)
        assert r["BilledCost"] == pytest.approx(tokens * per_m / 1e6, rel=1e-9)
        assert r["BilledCost"] == pytest.approx(r["PricingQuantity"] * r["ListUnitPrice"], rel=1e-9)
        assert r["EffectiveCost"] == r["ListCost"] == r["BilledCost"]
    assert rows["BilledCost"].sum() == pytest.approx(TOTAL_USD, rel=1e-9)
    assert rows["BilledCost"].sum() == pytest.approx(rep["totals"]["cost_usd"], abs=1e-9)


def test_focus_columns_name_the_charge(runner, tmp_path):
    rows, _, res = _run(runner, tmp_path, RECORDS)
    r = _row(rows, "2025-11-25", "cache_write_1h")
    assert r["ChargePeriodEnd"] == "2025-11-26T00:00:00Z"
    assert (r["BillingPeriodStart"], r["BillingPeriodEnd"]) == ("2025-11-01T00:00:00Z", "2025-12-01T00:00:00Z")
    assert (r["ServiceCategory"], r["ServiceSubcategory"]) == ("AI and Machine Learning", "Generative AI")
    assert (r["ChargeCategory"], r["BillingCurrency"], r["ProviderName"]) == ("Usage", "USD", "Anthropic")
    assert (r["x_CacheAction"], r["x_CacheTTL"], r["x_TokenDirection"]) == ("write", "1h", "input")
    assert r["x_Requests"] == 1  # only the second call of the day wrote to the 1-hour cache
    assert json.loads(r["SkuPriceDetails"])["x_CacheTTL"] == "1h"
    out = _row(rows, "2025-11-25", "output")
    assert (out["x_CacheAction"], out["x_TokenDirection"], out["x_CacheTTL"]) == ("none", "output", None)
    assert out["SkuId"] == "acme-focus-test/output" != r["SkuId"]
    assert "FOCUS: 9 rows" in res.stderr


def test_focus_leaves_out_unbilled_errors_and_says_so(runner, tmp_path):
    err = _call(DAY2 + 120, 500, 0, 0, 0, 0, "sk-a")
    err["response"] = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    rows, rep, res = _run(runner, tmp_path, [*RECORDS, err])
    assert rows["BilledCost"].sum() == pytest.approx(rep["totals"]["cost_usd"], abs=1e-9)
    assert _row(rows, "2025-11-26", "input")["ConsumedQuantity"] == 10


def test_focus_of_the_samples_sums_to_the_report_total(runner, tmp_path):
    out, rep = tmp_path / "f.parquet", tmp_path / "r.json"
    res = runner.invoke(cli, ["report", str(SAMPLES), "--focus", str(out), "--json", str(rep)])
    assert res.exit_code == 0, res.output
    rows, total = pl.read_parquet(out), json.loads(rep.read_text())["totals"]["cost_usd"]
    assert rows["BilledCost"].sum() == pytest.approx(total, abs=1e-9)
    assert (rows["BilledCost"] - rows["PricingQuantity"] * rows["ListUnitPrice"]).abs().max() < 1e-12


def test_focus_with_a_wrong_suffix_is_one_line_before_any_work(runner, tmp_path):
    res = runner.invoke(cli, ["report", str(SAMPLES), "--focus", str(tmp_path / "f.xlsx")])
    assert res.exit_code == 1 and "--focus" in res.stderr and ".parquet" in res.stderr
    assert "Traceback" not in res.output


def test_focus_of_a_usage_export_alone_prices_its_buckets(runner, tmp_path):
    """No request log: the rows are the usage export's buckets at list prices (claude-sonnet-4-20250514: $3 input,
    $0.30 cache read, $3.75 5-minute and $6 1-hour cache write, $15 output per 1M tokens)."""
    out, rep = tmp_path / "f.csv", tmp_path / "r.json"
    res = runner.invoke(
        cli, ["report", str(SAMPLES / "anthropic_usage_report.json"), "--focus", str(out), "--json", str(rep)]
    )
    assert res.exit_code == 0, res.output
    rows = pl.read_csv(out)
    got = {r["x_TokenType"]: (r["ConsumedQuantity"], r["ListUnitPrice"], r["BilledCost"]) for r in rows.to_dicts()}
    want = {
        "input": (1500, 3.0),
        "cache_read": (200, 0.3),
        "cache_write_5m": (500, 3.75),
        "cache_write_1h": (1000, 6.0),
    }
    want["output"] = (500, 15.0)
    assert set(got) == set(want) and set(rows["x_Source"]) == {"usage export"}
    for kind, (tokens, per_m) in want.items():
        assert got[kind][0] == tokens and got[kind][1] == pytest.approx(per_m, rel=1e-9)
        assert got[kind][2] == pytest.approx(tokens * per_m / 1e6, rel=1e-9)
    # 1500*3 + 200*0.3 + 500*3.75 + 1000*6 + 500*15 = 19,935 USD per 1M tokens
    assert rows["BilledCost"].sum() == pytest.approx(0.019935, rel=1e-9)
    assert rows["BilledCost"].sum() == pytest.approx(json.loads(rep.read_text())["usage_export"]["totals"]["cost_usd"])


def test_focus_with_nothing_priced_is_typed_and_says_what_was_left_out(runner, tmp_path):
    out = tmp_path / "f.parquet"
    res = runner.invoke(cli, ["report", str(SAMPLES / "openai_usage_completions.json"), "--focus", str(out)])
    assert res.exit_code == 0, res.output
    rows = pl.read_parquet(out)
    assert rows.height == 0 and rows.schema["BilledCost"] == pl.Float64 and rows.schema["x_Requests"] == pl.Int64
    assert (
        "FOCUS: 0 rows from the usage export" in res.stderr and "1 usage buckets whose model has no price" in res.stderr
    )


_FOCUS_MEMORY = r"""
import json, resource, sys
from datetime import datetime, timedelta
import polars as pl
from analyzer import focus
from analyzer.prices import Catalogue

n = 400_000
i = pl.int_range(n, eager=True)
base = datetime(2025, 11, 24)
priced = pl.DataFrame(
    {
        "request_id": ("req-" + i.cast(pl.String)),
        "ts": [base + timedelta(seconds=3 * k) for k in range(n)],
        "status": pl.Series(["200"] * n),
        "priced": pl.Series([True] * n),
        "provider": pl.Series([("anthropic", "openai", "gemini")[k % 3] for k in range(n)]),
        "model": pl.Series([f"model-{k % 5}" for k in range(n)]),
        "model_key": pl.Series([f"model-{k % 5}" for k in range(n)]),
        "api_key": pl.Series([f"sk-a-fairly-long-api-key-name-{k % 4}" for k in range(n)]),
        "project": pl.Series([f"project-{k % 2}" for k in range(n)]),
        "mode": pl.Series(["standard"] * n),
        "tier": pl.Series([0] * n),
        "price_version": pl.Series(["litellm-2025-11-20"] * n),
        "adjustments": pl.Series([None] * n, dtype=pl.String),
        **{c: (i % 997 + 1) for c in ("input_tokens", "output_tokens")},
        **{c: (i % 13) for c in ("cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens")},
        "reasoning_tokens": i % 13,
        **{c: (i % 997).cast(pl.Float64) * 1e-6 for c in ("cost_input", "cost_cache_read", "cost_cache_write_5m",
                                                           "cost_cache_write_1h", "cost_output", "cost_reasoning")},
    }
).with_columns(input_tokens=pl.col("input_tokens") + 40)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rows, left = focus.from_requests(priced, Catalogue({}, "test", "2025-11-20"))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
groups = priced.select(pl.struct(pl.col("ts").dt.date(), "provider", "model", "api_key", "project").n_unique()).item()
print(json.dumps({"grew_mib": (after - before) / 1024, "frame_mib": priced.estimated_size("mb"), "rows": rows.height,
                  "expected_rows": 6 * groups,
                  "cost": float(rows["BilledCost"].sum()), "expected": float(priced.select(
                      pl.sum_horizontal(pl.col("^cost_.*$")).sum()).item())}))
"""


def test_focus_rows_are_made_without_a_row_per_request_and_token_type(tmp_path):
    """The FOCUS rows group the priced requests by day, provider, model, key, project and token type. Stacking
    every request once per token type before grouping held six copies of the period's group columns (+300 MiB at
    100k calls, the report's parent peak with --focus): each token type is grouped on its own now. 400k requests
    in a process of their own: the export grows it by less than the frame it reads (~0.5x measured, ~19x
    before: 1.56 GB for an 81 MB frame), and its cost is the requests' cost."""
    import subprocess
    import sys

    script = tmp_path / "focus_memory.py"
    script.write_text(_FOCUS_MEMORY)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True).stdout
    got = json.loads(out)
    assert got["rows"] == got["expected_rows"]  # every group has every token type here
    assert got["cost"] == pytest.approx(got["expected"], rel=1e-12)
    assert got["grew_mib"] < got["frame_mib"], got
