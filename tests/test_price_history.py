"""Prices at request time: each call at the catalogue's prices of its day, from the dated price history; the
shipped snapshot after the history ends. Hand-computed from the history's listed prices."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest

from analyzer.prices import load_catalogue, load_history, price_one

M = 1_000_000


def at(day: str, hour: int = 12) -> int:
    d = datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)
    return int(d.timestamp() * 1_000_000)


@pytest.fixture(scope="module")
def dated():
    return load_catalogue()


def deepseek(cat, day):
    return price_one(
        cat, "deepseek-chat", "deepseek", input_tokens=2 * M, cache_read_tokens=M, output_tokens=M, ts=at(day)
    )


@pytest.mark.parametrize(
    ("day", "miss", "hit", "out", "version"),
    [
        ("2025-02-10", 0.27, 0.07, 1.10, "2025-02-07"),  # before deepseek-chat's own listing: its twin's
        ("2025-08-01", 0.27, 0.07, 1.10, "2025-02-26"),  # V3 prices at 12:00 UTC (peak)
        ("2025-09-10", 0.56, 0.07, 1.68, "2025-09-05"),  # V3.1 prices
        ("2025-10-01", 0.28, 0.028, 0.42, "2025-09-29"),  # the September 2025 cut (V3.2-Exp)
        ("2026-04-10", 0.28, 0.028, 0.42, "2026-01-13"),
        ("2026-11-28", 0.28, 0.028, 0.42, "snapshot"),  # after the history ends: the shipped snapshot
    ],
)
def test_deepseek_chat_priced_at_the_prices_of_its_day(dated, day, miss, hit, out, version):
    row = deepseek(dated, day)
    assert row["cost"] == pytest.approx(miss + hit + out)
    assert row["price_version"] == version


@pytest.mark.parametrize(
    ("day", "hour", "expected"),
    [
        ("2025-06-01", 18, 0.135 + 0.035 + 0.55),  # 16:30-00:30 UTC: DeepSeek's off-peak discount (50%)
        ("2025-06-02", 0, 0.135 + 0.035 + 0.55),
        ("2025-06-02", 1, 0.27 + 0.07 + 1.10),
        ("2025-09-10", 18, 0.56 + 0.07 + 1.68),  # V3.1 ended the discount
    ],
)
def test_deepseek_off_peak_discount_until_september_2025(dated, day, hour, expected):
    row = price_one(
        dated, "deepseek-chat", "deepseek", input_tokens=2 * M, cache_read_tokens=M, output_tokens=M, ts=at(day, hour)
    )
    assert row["cost"] == pytest.approx(expected)


def test_today_prices_ignore_the_history(dated):
    import polars as pl

    from analyzer.prices import price_requests

    frame = pl.DataFrame(
        {
            "model": ["deepseek-chat"],
            "provider": ["deepseek"],
            "input_tokens": [2 * M],
            "cache_read_tokens": [M],
            "cache_write_5m_tokens": [0],
            "cache_write_1h_tokens": [0],
            "output_tokens": [M],
            "reasoning_tokens": [0],
            "batch": [False],
            "service_tier": [None],
            "status": ["ok"],
            "ts": [datetime(2025, 9, 10, 12)],
        },
        schema_overrides={"service_tier": pl.String},
    )
    assert price_requests(frame, dated)["cost"][0] == pytest.approx(0.56 + 0.07 + 1.68)
    today = price_requests(frame, dated, dated=False)
    assert today["cost"][0] == pytest.approx(0.28 + 0.028 + 0.42)
    assert today["price_version"][0] == "snapshot"


def test_a_retired_model_is_priced_from_the_history(dated):
    # claude-2.1 left the catalogue on 2025-07-23; it listed $8 / $24 per million until then
    res = dated.resolve("claude-2.1", "anthropic")
    assert res.key == "claude-2.1" and res.how.startswith("retired")
    row = price_one(dated, "claude-2.1", "anthropic", input_tokens=M, output_tokens=M, ts=at("2025-03-01"))
    assert row["cost"] == pytest.approx(8 + 24)
    # without the history it is unpriced, never $0
    snap = load_catalogue(history=False)
    assert price_one(snap, "claude-2.1", "anthropic", input_tokens=M)["cost"] is None


@pytest.fixture
def small(tmp_path):
    """A hand-built history: acme-1 repriced on 2025-03-01 and retired on 2025-06-01."""
    hist = {
        "format": 1,
        "first": "2025-01-01",
        "last": "2025-12-31",
        "source": "test",
        "models": {
            "acme-1": [
                ["2025-01-01", {"input_cost_per_token": 2e-6, "output_cost_per_token": 4e-6, "mode": "chat"}],
                ["2025-03-01", {"input_cost_per_token": 1e-6, "output_cost_per_token": 3e-6, "mode": "chat"}],
                ["2025-06-01", None],
            ]
        },
    }
    f = tmp_path / "h.json.gz"
    f.write_bytes(gzip.compress(json.dumps(hist).encode()))
    return load_history(f)


@pytest.mark.parametrize(
    ("day", "version"),
    [
        ("2024-12-01", ("2025-01-01", 2e-6)),  # before the history: its earliest version
        ("2025-02-28", ("2025-01-01", 2e-6)),
        ("2025-03-01", ("2025-03-01", 1e-6)),
        ("2025-07-01", ("2025-03-01", 1e-6)),  # retired: its last listed prices
        ("2026-01-01", None),  # after the history: the snapshot
    ],
)
def test_version_on(small, day, version):
    got = small.version_on("acme-1", day)
    assert (None if got is None else (got[0], got[1]["input_cost_per_token"])) == version
    assert small.version_on("other", day) is None


def test_user_price_file_wins_over_the_history(tmp_path):
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"deepseek-chat": {"input_cost_per_token": 1e-7, "output_cost_per_token": 2e-7}}))
    cat = load_catalogue(f)
    row = price_one(cat, "deepseek-chat", "deepseek", input_tokens=M, output_tokens=M, ts=at("2025-09-10"))
    assert row["cost"] == pytest.approx(0.1 + 0.2)
    assert row["price_version"] == "snapshot"


def test_prices_on_a_day(runner):
    from analyzer.cli import cli

    res = runner.invoke(cli, ["prices", "deepseek-chat", "--provider", "deepseek", "--on", "2025-09-10", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    base = info["usd_per_million_tokens"][0]
    assert (base["mode"], base["input"], base["cache_read"], base["output"]) == ("standard", 0.56, 0.07, 1.68)
    assert info["price_version"] == "2025-09-05" and info["prices_from"].startswith("price history")
    assert info["rate_sources"]["input"] == "listed: input_cost_per_token"
    res = runner.invoke(cli, ["prices", "deepseek-chat", "--provider", "deepseek", "--json"])
    info = json.loads(res.output)
    assert info["usd_per_million_tokens"][0]["input"] == 0.28 and info["price_version"] == "snapshot"
    res = runner.invoke(cli, ["prices", "deepseek-chat", "--on", "2025-13-40"])
    assert res.exit_code == 2  # a usage error, no traceback


def test_usage_buckets_are_priced_at_the_prices_of_their_day(dated):
    import polars as pl

    from analyzer.prices import price_buckets

    bucket = pl.DataFrame(
        {
            "model": ["deepseek-chat", "deepseek-chat"],
            "provider": ["deepseek", "deepseek"],
            "input_tokens": [M, M],
            "cache_read_tokens": [0, 0],
            "cache_write_5m_tokens": [0, 0],
            "cache_write_1h_tokens": [0, 0],
            "output_tokens": [M, M],
            "reasoning_tokens": [0, 0],
            "batch": [False, False],
            "service_tier": [None, None],
            "status": ["ok", "ok"],
            "context_window": [None, None],
            "period_start": [datetime(2025, 9, 10), datetime(2025, 10, 1)],
        },
        schema_overrides={"service_tier": pl.String, "context_window": pl.String},
    )
    costs = price_buckets(bucket, dated)["cost"].to_list()
    assert costs == pytest.approx([0.56 + 1.68, 0.28 + 0.42])
