"""Prices at request time: each call at the catalogue's prices of its day, from the dated price history; the
shipped snapshot after the history ends. Hand-computed from the history's listed prices."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest

from analyzer.prices import load_catalogue, load_history, price_one

M = 1_000_000


def at(day: str, hour: int = 12, minute: int = 0) -> int:
    d = datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)
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
        ("2025-02-10", 0.27, 0.07, 1.10, "2025-02-08T16:00"),  # the V3 promotion ended 2025-02-08 16:00 UTC
        ("2025-08-01", 0.27, 0.07, 1.10, "2025-02-26T16:30"),  # V3 prices at 12:00 UTC (peak)
        ("2025-09-10", 0.56, 0.07, 1.68, "2025-09-05T16:00"),  # V3.1 prices
        ("2025-10-01", 0.28, 0.028, 0.42, "2025-09-29"),  # the September 2025 cut (V3.2-Exp)
        ("2026-04-10", 0.28, 0.028, 0.42, "2025-09-29"),
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
    assert info["price_version"] == "2025-09-05T16:00" and info["prices_from"].startswith("price history")
    assert info["rate_sources"]["input"] == "listed: input_cost_per_token"
    res = runner.invoke(cli, ["prices", "deepseek-chat", "--provider", "deepseek", "--json"])
    info = json.loads(res.output)
    assert info["usd_per_million_tokens"][0]["input"] == 0.28 and info["price_version"] == "snapshot"
    res = runner.invoke(cli, ["prices", "deepseek-chat", "--on", "2025-13-40"])
    assert res.exit_code == 2  # a usage error, no traceback
    # to the minute: V3.1 prices came into force at 16:00 UTC on 2025-09-05
    for on, miss in (("2025-09-05T15:59", 0.27), ("2025-09-05 16:00", 0.56)):
        res = runner.invoke(cli, ["prices", "deepseek-chat", "--provider", "deepseek", "--on", on, "--json"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.output)["usd_per_million_tokens"][0]["input"] == miss


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


# DeepSeek's announced change times, to the minute (api-docs.deepseek.com/news): the V3 promotion ended 2025-02-08
# 16:00 UTC; off-peak discounts from 2025-02-26 16:30 UTC; V3.1 prices from 2025-09-05 16:00 UTC. Each call:
# 1M cache-miss input + 1M cache-hit input + 1M output tokens, so the cost is miss + hit + out per million.
@pytest.mark.parametrize(
    ("day", "hour", "minute", "expected", "version"),
    [
        ("2025-02-08", 15, 59, 0.14 + 0.014 + 0.28, "2025-02-06"),  # V3 promotion still on
        ("2025-02-08", 16, 0, 0.27 + 0.07 + 1.10, "2025-02-08T16:00"),  # promotion over
        ("2025-02-26", 0, 15, 0.27 + 0.07 + 1.10, "2025-02-08T16:00"),  # in 00:00-00:30, but no off-peak yet
        ("2025-02-26", 16, 15, 0.27 + 0.07 + 1.10, "2025-02-08T16:00"),
        ("2025-02-26", 16, 45, 0.135 + 0.035 + 0.55, "2025-02-26T16:30"),  # the first off-peak window
        ("2025-09-05", 0, 15, 0.135 + 0.035 + 0.55, "2025-02-26T16:30"),  # the last night's window
        ("2025-09-05", 12, 0, 0.27 + 0.07 + 1.10, "2025-02-26T16:30"),  # V3 prices until 16:00 UTC
        ("2025-09-05", 16, 45, 0.56 + 0.07 + 1.68, "2025-09-05T16:00"),  # V3.1: no off-peak in 16:30-00:30
    ],
)
def test_deepseek_changes_at_the_announced_minute(dated, day, hour, minute, expected, version):
    row = price_one(
        dated,
        "deepseek-chat",
        "deepseek",
        input_tokens=2 * M,
        cache_read_tokens=M,
        output_tokens=M,
        ts=at(day, hour, minute),
    )
    assert row["cost"] == pytest.approx(expected)
    assert row["price_version"] == version


def test_deepseek_reasoner_cache_hits_at_their_price_before_the_catalogue_listed_one(dated):
    # R1 from launch: $0.55 miss / $0.14 hit / $2.19 out per 1M (the catalogue's early entry named no cache-read
    # price, so hits were priced as misses)
    row = price_one(
        dated,
        "deepseek-reasoner",
        "deepseek",
        input_tokens=2 * M,
        cache_read_tokens=M,
        output_tokens=M,
        ts=at("2025-02-10"),
    )
    assert row["cost"] == pytest.approx(0.55 + 0.14 + 2.19)


def test_version_on_within_a_day(tmp_path):
    hist = {
        "format": 1,
        "first": "2025-01-01",
        "last": "2025-12-31",
        "source": "test",
        "models": {
            "acme-1": [
                ["2025-01-01", {"input_cost_per_token": 2e-6, "mode": "chat"}],
                ["2025-03-01T16:30", {"input_cost_per_token": 1e-6, "mode": "chat"}],
            ]
        },
    }
    f = tmp_path / "h.json.gz"
    f.write_bytes(gzip.compress(json.dumps(hist).encode()))
    h = load_history(f)
    assert h.version_on("acme-1", "2025-03-01T16:29")[0] == "2025-01-01"
    assert h.version_on("acme-1", "2025-03-01T16:30")[0] == "2025-03-01T16:30"
    assert h.version_on("acme-1", "2025-03-02")[0] == "2025-03-01T16:30"
    assert h.version_on("acme-1", "2025-12-31T23:59")[0] == "2025-03-01T16:30"  # still inside the history
    assert h.intraday_days == {"2025-03-01"}


def test_the_history_is_rebuilt_by_one_command_up_to_the_newest_catalogue(tmp_path):
    """tools/build_price_history.py over a git history of the catalogue, then a newer catalogue (--snapshot) and
    the corrections: versions in force from the commit's day, the snapshot's day, or the corrected minute."""
    import subprocess
    import sys

    from tests.conftest import ROOT as REPO_ROOT

    repo = tmp_path / "mirror"
    repo.mkdir()
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}

    def git(*args, date=None):
        e = {**env, "PATH": "/usr/bin:/bin", **({"GIT_COMMITTER_DATE": date, "GIT_AUTHOR_DATE": date} if date else {})}
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=e)

    git("init", "-q")
    cat = repo / "model_prices_and_context_window.json"
    for date, price in (("2025-01-01T10:00:00Z", 1e-6), ("2025-02-01T10:00:00Z", 2e-6)):
        cat.write_text(json.dumps({"acme-1": {"input_cost_per_token": price, "mode": "chat"}}))
        git("add", ".")
        git("commit", "-q", "-m", "c", date=date)
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"acme-1": {"input_cost_per_token": 3e-6, "mode": "chat"}}))
    fixes = tmp_path / "fixes.json"
    fixes.write_text(
        json.dumps(
            {
                "acme-1": {
                    "range": ["2025-02-01", "2025-03-01"],
                    "source": "acme's price page",
                    "versions": [["2025-02-01T16:30", {"input_cost_per_token": 2e-6}]],
                }
            }
        )
    )
    out = tmp_path / "h.json.gz"
    res = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "tools" / "build_price_history.py"),
            str(repo / ".git"),
            "--snapshot",
            f"{newer}@2025-06-01",
            "--corrections",
            str(fixes),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    raw = json.loads(gzip.decompress(out.read_bytes()))
    assert (raw["first"], raw["last"]) == ("2025-01-01", "2025-06-01")
    assert [d for d, _ in raw["models"]["acme-1"]] == ["2025-01-01", "2025-02-01T16:30", "2025-06-01"]
    assert raw["corrected"] == {"acme-1": "acme's price page"}
    h = load_history(out)
    assert h.version_on("acme-1", "2025-02-01T12:00")[1]["input_cost_per_token"] == 1e-6  # before 16:30
    assert h.version_on("acme-1", "2025-07-01") is None  # after the newest catalogue: the shipped snapshot
    assert "newer.json from 2025-06-01" in raw["source"]


def test_the_shipped_history_reaches_the_shipped_catalogue():
    from analyzer.prices import CATALOGUE_DATE

    h = load_history()
    assert h.last == CATALOGUE_DATE  # no gap where a call would fall to the snapshot before it was copied


# DeepSeek V4 (api-docs.deepseek.com/quick_start/pricing, cited in tools/price_history_corrections.json): from
# 2026-04-24 deepseek-chat / deepseek-reasoner are deepseek-v4-flash's two modes, billed $0.14 miss / $0.028 hit /
# $0.28 out per 1M; hits $0.0028 from 2026-04-26 12:15 UTC. The catalogue kept V3.2's $0.28 / $0.028 / $0.42.
@pytest.mark.parametrize(
    ("model", "day", "hour", "minute", "expected", "version"),
    [
        ("deepseek-chat", "2026-04-23", 12, 0, 0.28 + 0.028 + 0.42, "2025-09-29"),  # V3.2 until V4
        ("deepseek-chat", "2026-04-25", 12, 0, 0.14 + 0.028 + 0.28, "2026-04-24"),
        ("deepseek-chat", "2026-04-26", 12, 14, 0.14 + 0.028 + 0.28, "2026-04-24"),
        ("deepseek-chat", "2026-04-26", 12, 15, 0.14 + 0.0028 + 0.28, "2026-04-26T12:15"),
        ("deepseek-reasoner", "2026-05-10", 9, 0, 0.14 + 0.0028 + 0.28, "2026-04-26T12:15"),
        ("deepseek/deepseek-chat", "2026-07-01", 9, 0, 0.14 + 0.0028 + 0.28, "2026-04-26T12:15"),
    ],
)
def test_deepseek_names_billed_as_v4_flash_after_its_release(dated, model, day, hour, minute, expected, version):
    row = price_one(
        dated, model, "deepseek", input_tokens=2 * M, cache_read_tokens=M, output_tokens=M, ts=at(day, hour, minute)
    )
    assert row["cost"] == pytest.approx(expected)
    assert row["price_version"] == version


def test_every_correction_cites_the_providers_page():
    from tests.conftest import ROOT

    fixes = json.loads((ROOT / "tools" / "price_history_corrections.json").read_text())
    for key, fix in fixes.items():
        if key.startswith("_") or "same_as" in fix:
            continue
        assert "https://" in fix["source"], key  # a provider page to check it against
        for frm, _ in fix["versions"]:
            assert fix["range"][0] <= frm < fix["range"][1], (key, frm)  # every version inside its range
    assert load_history().models["deepseek-chat"][0][0] == "2025-02-06"


# Claude 3 Haiku from Anthropic: $0.25 input, $0.03 cache read, $0.30 cache write, $1.25 output per 1M (Anthropic's
# pricing page; LiteLLM's first-party key `claude-3-haiku-20240307` until it left the catalogue). Vertex's listing
# has no cache prices (inferred 0.1x / 1.25x input: $0.025 / $0.3125) and must not price a first-party call.
@pytest.mark.parametrize("day", ["2025-06-01", "2026-10-01", "2026-12-01"])
@pytest.mark.parametrize("provider", ["anthropic", None])
def test_first_party_claude_priced_under_the_first_party_key(dated, day, provider):
    row = price_one(
        dated,
        "claude-3-haiku-20240307",
        provider,
        input_tokens=3 * M,
        cache_read_tokens=M,
        cache_write_5m_tokens=M,
        output_tokens=M,
        ts=at(day),
    )
    assert row["model_key"] == "claude-3-haiku-20240307"
    assert (row["cost_input"], row["cost_cache_read"], row["cost_cache_write_5m"], row["cost_output"]) == (
        pytest.approx(0.25),
        pytest.approx(0.03),
        pytest.approx(0.30),
        pytest.approx(1.25),
    )


def test_claude_code_names_never_fall_to_a_cloud_key_while_first_party_listed(dated):
    # claude-sonnet-4-20250514: Anthropic $3 in / $0.30 read / $3.75 write / $15 out per 1M (below 200k input);
    # it used to fall to Bedrock's `anthropic.claude-sonnet-4-20250514-v1:0`
    row = price_one(
        dated,
        "claude-sonnet-4-20250514",
        "anthropic",
        input_tokens=30_000,
        cache_read_tokens=10_000,
        cache_write_5m_tokens=10_000,
        output_tokens=10_000,
        ts=at("2026-10-01"),
    )
    assert row["model_key"] == "claude-sonnet-4-20250514"
    assert row["cost"] == pytest.approx((10_000 * 3 + 10_000 * 0.30 + 10_000 * 3.75 + 10_000 * 15) / M)
    assert dated.context_window("claude-sonnet-4-20250514") == 200_000  # from the cloud listing of the model
    # a log that names the cloud keeps the cloud's listing
    assert dated.resolve("claude-3-haiku-20240307", "google").key == "vertex_ai/claude-3-haiku@20240307"


def test_no_batch_row_for_a_provider_without_a_batch_api(runner, dated):
    from analyzer.cli import cli

    res = runner.invoke(cli, ["prices", "deepseek-chat", "--provider", "deepseek", "--json"])
    modes = {r["mode"] for r in json.loads(res.output)["usd_per_million_tokens"]}
    assert "batch" not in modes and "standard" in modes
    res = runner.invoke(cli, ["prices", "gpt-4o-2024-08-06", "--json"])
    assert "batch" in {r["mode"] for r in json.loads(res.output)["usd_per_million_tokens"]}
    # a DeepSeek call flagged batch is billed at the standard rate: $0.28 per 1M input at the snapshot
    row = price_one(dated, "deepseek-chat", "deepseek", input_tokens=M, batch=True, ts=at("2026-12-01"))
    assert row["cost"] == pytest.approx(0.28) and row["mode"] == "standard"


def test_a_call_before_the_first_listing_is_priced_there_and_flagged(small, runner, tmp_path):
    """acme-1 first listed 2025-01-01 at $2/M input: a call on 2024-12-01 is priced so and says so."""
    import polars as pl

    from analyzer.prices import Catalogue, price_requests

    cat = Catalogue({"acme-1": {"input_cost_per_token": 1e-6, "mode": "chat"}}, "test", "2026-01-01", history=small)
    frame = pl.DataFrame(
        {
            "model": ["acme-1", "acme-1"],
            "provider": [None, None],
            "input_tokens": [M, M],
            "cache_read_tokens": [0, 0],
            "cache_write_5m_tokens": [0, 0],
            "cache_write_1h_tokens": [0, 0],
            "output_tokens": [0, 0],
            "reasoning_tokens": [0, 0],
            "batch": [False, False],
            "service_tier": [None, None],
            "status": ["ok", "ok"],
            "ts": [datetime(2024, 12, 1, 12), datetime(2025, 2, 1, 12)],
        },
        schema_overrides={"service_tier": pl.String, "provider": pl.String},
    )
    out = price_requests(frame, cat)
    assert out["cost"].to_list() == pytest.approx([2.0, 2.0])
    assert out["price_version"].to_list() == ["2025-01-01 (first known listing; the call predates it)", "2025-01-01"]


def test_prices_on_a_day_before_the_first_listing(runner):
    from analyzer.cli import cli

    # claude-sonnet-4-20250514 was first listed on 2025-05-22 ($3 / $15 per 1M)
    res = runner.invoke(cli, ["prices", "claude-sonnet-4-20250514", "--on", "2025-03-01", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["before_first_listing"] is True
    assert info["price_version"] == "2025-05-22 (first known listing; the call predates it)"
    assert info["usd_per_million_tokens"][0]["input"] == 3.0
    res = runner.invoke(cli, ["prices", "claude-sonnet-4-20250514", "--on", "2025-03-01"])
    assert "was not in the catalogue on 2025-03-01" in res.output
    res = runner.invoke(cli, ["prices", "claude-sonnet-4-20250514", "--on", "2025-06-01", "--json"])
    assert json.loads(res.output)["before_first_listing"] is False


def test_the_report_flags_calls_before_the_first_listing():
    from tests.conftest import ROOT

    golden = json.loads((ROOT / "tests" / "golden" / "sample_logs_report.json").read_text())
    flagged = {b["model_key"]: b for b in golden["prices"]["before_first_listing"]}
    # sample_logs has claude-opus-4-8 calls before its first listing of 2026-05-29 (the golden file is checked
    # against a fresh report by tests/test_report.py)
    assert flagged["claude-opus-4-8"]["first_listed"] == "2026-05-29"
    assert any("first known listing" in a for a in golden["assumptions"])


# DeepSeek V4's own names from its release (2026-04-24), before LiteLLM listed them (2026-06-21): 1M miss + 1M hit
# + 1M out per call; hits at 1/10 from 2026-04-26 12:15 UTC (DeepSeek's pricing page, cited in the corrections).
@pytest.mark.parametrize(
    ("model", "day", "hour", "minute", "expected", "version"),
    [
        ("deepseek-v4-flash", "2026-04-25", 12, 0, 0.14 + 0.028 + 0.28, "2026-04-24"),
        ("deepseek-v4-flash", "2026-04-26", 12, 15, 0.14 + 0.0028 + 0.28, "2026-04-26T12:15"),
        ("deepseek-v4-pro", "2026-04-25", 12, 0, 0.435 + 0.03625 + 0.87, "2026-04-24"),
        ("deepseek-v4-pro", "2026-05-30", 12, 0, 0.435 + 0.003625 + 0.87, "2026-04-26T12:15"),
    ],
)
def test_deepseek_v4_models_priced_from_their_release(dated, model, day, hour, minute, expected, version):
    row = price_one(
        dated, model, "deepseek", input_tokens=2 * M, cache_read_tokens=M, output_tokens=M, ts=at(day, hour, minute)
    )
    assert row["cost"] == pytest.approx(expected)
    assert row["price_version"] == version  # not flagged "before its first listing"


def test_markdown_flags_calls_before_the_first_listing(runner, tmp_path):
    from analyzer.cli import cli
    from tests.conftest import SAMPLES

    out = tmp_path / "r.md"
    res = runner.invoke(cli, ["report", str(SAMPLES), "--md", str(out)])
    assert res.exit_code == 0, res.output
    assert "claude-opus-4-8 (2 calls, first listed 2026-05-29)" in out.read_text()


# Anthropic bills a 1-hour cache write at 2x base input: Claude Haiku 3 $0.50/M, Haiku 3.5 $1.60/M, Opus 3 $30/M
# (LiteLLM listed Sonnet's $6/M for them from 2025-09-17; corrected with Anthropic's pricing page as source).
@pytest.mark.parametrize(
    ("model", "day", "per_million"),
    [
        ("claude-3-haiku-20240307", "2025-06-01", 0.50),
        ("claude-3-haiku-20240307", "2026-10-01", 0.50),
        ("claude-3-haiku-20240307", "2026-12-01", 0.50),  # retired: its last (corrected) first-party prices
        ("claude-3-5-haiku-20241022", "2025-12-01", 1.60),
        ("claude-3-opus-20240229", "2025-12-01", 30.0),
    ],
)
def test_one_hour_cache_writes_at_twice_input(dated, model, day, per_million):
    row = price_one(dated, model, "anthropic", input_tokens=M, cache_write_1h_tokens=M, ts=at(day))
    assert row["cost_cache_write_1h"] == pytest.approx(per_million)
