"""The price list's edge cases (issue 12), each hand-computed from the shipped catalogue's listed prices and the
provider's documented rule: rates a cloud listing lacks, batch on a long-context tier, reasoning above a tier,
and the catalogue's multipliers (inference geography, fast mode, off-peak windows, service tiers)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analyzer.prices import load_catalogue, price_one
from analyzer.sources import BY_NAME

M = 1_000_000


def us(y: int, mo: int, d: int, h: int = 12) -> int:
    return int(datetime(y, mo, d, h, tzinfo=UTC).timestamp() * 1_000_000)


# ---- first-party cache multipliers on a borrowed cloud listing ---------------------------------------------


def test_claude_3_haiku_cache_reads_are_a_tenth_of_input_not_full_price(catalogue):
    # With the price history: Anthropic's own listing, reads $0.03/M (issue 21 item 6).
    res = catalogue.resolve("claude-3-haiku-20240307", "anthropic")
    assert res.key == "claude-3-haiku-20240307"
    row = price_one(catalogue, "claude-3-haiku-20240307", "anthropic", input_tokens=M, cache_read_tokens=M)
    assert row["cost"] == pytest.approx(0.03)
    # The snapshot alone lists it only as vertex_ai/claude-3-haiku@20240307: $0.25/M in, no cache price, so
    # Anthropic's rule prices reads at 0.1x input: $0.025, not $0.25.
    snapshot_only = load_catalogue(history=False)
    res = snapshot_only.resolve("claude-3-haiku-20240307", "anthropic")
    assert res.key == "vertex_ai/claude-3-haiku@20240307"
    row = price_one(snapshot_only, "claude-3-haiku-20240307", "anthropic", input_tokens=M, cache_read_tokens=M)
    assert row["cost"] == pytest.approx(M * 0.25e-6 * 0.1)
    assert "cache_read" in snapshot_only.inferred_rates(res.key)


def test_claude_3_5_sonnet_cache_reads_and_writes_inferred(catalogue):
    # vertex_ai/claude-3-5-sonnet: $3/M in, no cache fields. Reads $0.30, 5-minute writes $3.75, 1-hour $6.
    row = price_one(
        catalogue,
        "claude-3-5-sonnet",
        "anthropic",
        input_tokens=3 * M,
        cache_read_tokens=M,
        cache_write_5m_tokens=M,
        cache_write_1h_tokens=M,
    )
    assert row["cost_cache_read"] == pytest.approx(0.30)
    assert row["cost_cache_write_5m"] == pytest.approx(3.75)
    assert row["cost_cache_write_1h"] == pytest.approx(6.00)
    inferred = catalogue.inferred_rates(catalogue.resolve("claude-3-5-sonnet", "anthropic").key)
    assert {"cache_read", "cache_write_5m", "cache_write_1h"} <= set(inferred)


def test_claude_sonnet_4_one_hour_writes_are_twice_input(catalogue):
    # Bedrock's anthropic.claude-sonnet-4-20250514-v1:0 lists 5-minute writes ($3.75) but no 1-hour rate.
    row = price_one(
        catalogue, "claude-sonnet-4-20250514", "anthropic", input_tokens=100_000, cache_write_1h_tokens=100_000
    )
    assert row["cost"] == pytest.approx(100_000 * 6e-6)  # $6/M, not $3.75/M
    # above the 200k tier the base is the tier's $6/M input: 1-hour writes $12/M
    row = price_one(
        catalogue, "claude-sonnet-4-20250514", "anthropic", input_tokens=300_000, cache_write_1h_tokens=100_000
    )
    assert row["cost"] == pytest.approx(200_000 * 6e-6 + 100_000 * 12e-6)
    # Anthropic's own (history) listing lists the 1-hour rate; Bedrock's, the snapshot's only one, does not
    assert catalogue.inferred_rates(catalogue.resolve("claude-sonnet-4-20250514", "anthropic").key) == {}
    snapshot_only = load_catalogue(history=False)
    key = snapshot_only.resolve("claude-sonnet-4-20250514", "anthropic").key
    assert set(snapshot_only.inferred_rates(key)) == {"cache_write_1h"}  # the listed rates are not "inferred"


def test_listed_cache_rates_are_not_inferred(catalogue):
    assert catalogue.inferred_rates("claude-sonnet-4-5-20250929") == {}


# ---- LiteLLM payload 1-hour writes ---------------------------------------------------------------------------


def test_litellm_payload_one_hour_writes_from_cache_creation_token_details(catalogue):
    # As LiteLLM's own usage conversion writes Anthropic usage: prompt_tokens includes the writes.
    obj = {
        "call_type": "acompletion",
        "startTime": 1_764_000_000.0,
        "endTime": 1_764_000_001.0,
        "model": "claude-sonnet-4-5-20250929",
        "custom_llm_provider": "anthropic",
        "response_cost": 0.06315,
        "status": "success",
        "response": {
            "usage": {
                "prompt_tokens": 11_000,
                "completion_tokens": 10,
                "prompt_tokens_details": {
                    "cached_tokens": 0,
                    "cache_creation_tokens": 10_000,
                    "cache_creation_token_details": {
                        "ephemeral_5m_input_tokens": 0,
                        "ephemeral_1h_input_tokens": 10_000,
                    },
                },
            }
        },
    }
    r = BY_NAME["litellm_payload"].parse(obj, {})
    assert (r.input_tokens, r.cache_write_5m_tokens, r.cache_write_1h_tokens) == (11_000, 0, 10_000)
    row = price_one(
        catalogue,
        r.model,
        r.provider,
        input_tokens=r.input_tokens,
        cache_write_5m_tokens=r.cache_write_5m_tokens,
        cache_write_1h_tokens=r.cache_write_1h_tokens,
        output_tokens=r.output_tokens,
    )
    # 1,000 uncached x $3/M + 10,000 1-hour writes x $6/M + 10 out x $15/M
    assert row["cost"] == pytest.approx(0.003 + 0.06 + 0.00015)
    assert row["cost"] == pytest.approx(0.06315)


# ---- batch on a long-context tier ---------------------------------------------------------------------------


def test_batch_discount_applies_to_the_tiered_rate(catalogue):
    # vertex_ai/claude-sonnet-4-5 above 200k: $6/M in, $22.50/M out; batch is half of that (listed: 1.5 vs 3)
    row = price_one(catalogue, "vertex_ai/claude-sonnet-4-5", "vertex_ai", input_tokens=250_000, output_tokens=1000)
    assert row["cost"] == pytest.approx(1.5225)
    row = price_one(
        catalogue, "vertex_ai/claude-sonnet-4-5", "vertex_ai", input_tokens=250_000, output_tokens=1000, batch=True
    )
    assert row["cost"] == pytest.approx(0.76125)


# ---- reasoning above a tier ---------------------------------------------------------------------------------


def test_reasoning_above_a_tier_is_that_tiers_output_rate(catalogue):
    key = catalogue.resolve("claude-sonnet-4-20250514", "anthropic").key
    tier = next(r for r in catalogue.rate_rows(key) if r["mode"] == "standard" and r["threshold"] == 200_000)
    assert tier["r_reasoning"] == pytest.approx(22.5e-6) == tier["r_output"]
    row = price_one(
        catalogue,
        "claude-sonnet-4-20250514",
        "anthropic",
        input_tokens=250_000,
        output_tokens=1000,
        reasoning_tokens=400,
    )
    assert row["cost"] == pytest.approx(250_000 * 6e-6 + 1000 * 22.5e-6)


# ---- the catalogue's multipliers ----------------------------------------------------------------------------


def test_inference_geo_us_is_1_1x(catalogue):
    # claude-opus-4-6: $5/M in, $25/M out; provider_specific_entry {"us": 1.1}
    base = price_one(catalogue, "claude-opus-4-6", "anthropic", input_tokens=1000, output_tokens=100)
    us_row = price_one(
        catalogue, "claude-opus-4-6", "anthropic", input_tokens=1000, output_tokens=100, inference_geo="us"
    )
    glob = price_one(
        catalogue, "claude-opus-4-6", "anthropic", input_tokens=1000, output_tokens=100, inference_geo="global"
    )
    assert base["cost"] == pytest.approx(0.0075) == glob["cost"]
    assert us_row["cost"] == pytest.approx(0.0075 * 1.1)
    assert us_row["adjustments"] == "inference_geo us x1.1"


def test_fast_mode_and_us_geo_multiply(catalogue):
    # claude-opus-4-8: provider_specific_entry {"us": 1.1, "fast": 2.0}
    row = price_one(
        catalogue,
        "claude-opus-4-8",
        "anthropic",
        input_tokens=1000,
        output_tokens=100,
        inference_geo="us",
        speed="fast",
    )
    assert row["cost"] == pytest.approx((1000 * 5e-6 + 100 * 25e-6) * 1.1 * 2.0)
    # a model whose entry lists no "fast" multiplier is not guessed at
    row = price_one(catalogue, "claude-opus-4-6", "anthropic", input_tokens=1000, speed="fast")
    assert row["cost"] == pytest.approx(0.005)


@pytest.mark.parametrize(
    ("ts", "off_peak"),
    [
        # after the price history ends (2026-11-27): the shipped snapshot's windows
        (us(2026, 12, 5, 8), True),  # a Saturday: off-peak all day
        (us(2026, 12, 1, 8), False),  # Tuesday 08:00 UTC: peak
        (us(2026, 12, 1, 11), True),  # Tuesday 11:00 UTC: in the 10:00-24:00 window
        (us(2026, 12, 1, 0), True),  # Tuesday 00:00 UTC: in the 00:00-01:00 window
    ],
)
def test_deepseek_off_peak_windows(catalogue, ts, off_peak):
    # deepseek-v4-flash: peak $0.30 in, $0.006 cache read, $1.20 out; off-peak $0.15, $0.003, $0.60
    row = price_one(
        catalogue,
        "deepseek-v4-flash",
        "deepseek",
        input_tokens=2 * M,
        cache_read_tokens=M,
        output_tokens=M,
        ts=ts,
    )
    expected = (0.15 + 0.003 + 0.60) if off_peak else (0.30 + 0.006 + 1.20)
    assert row["cost"] == pytest.approx(expected)
    assert (row["adjustments"] == "off-peak") is off_peak


@pytest.mark.parametrize(
    ("tier", "inp", "out"),
    [("flex", 5e-6, 2.5e-5), ("priority", 2e-5, 1e-4), ("ultrafast", 6e-5, 3e-4), ("default", 1e-5, 5e-5)],
)
def test_service_tiers_the_catalogue_prices(catalogue, tier, inp, out):
    row = price_one(catalogue, "gpt-6-astra", "openai", input_tokens=1000, output_tokens=100, service_tier=tier)
    assert row["cost"] == pytest.approx(1000 * inp + 100 * out)


def test_anthropic_log_with_us_geo_and_fast_mode_end_to_end(store, tmp_path, catalogue):
    # Anthropic puts inference_geo in usage; fast mode is the request's `speed`. claude-opus-4-8 lists
    # {"us": 1.1, "fast": 2.0}: 1000 in + 100 out = $0.0075 list, x2.2 = $0.0165.
    from analyzer.report import build_report
    from tests.conftest import write_jsonl

    def rec(i, geo, speed):
        req = {"model": "claude-opus-4-8", "max_tokens": 100, "messages": [{"role": "user", "content": f"hi {i}"}]}
        if speed:
            req["speed"] = speed
        usage = {"input_tokens": 1000, "output_tokens": 100, "inference_geo": geo, "service_tier": "standard"}
        resp = {"type": "message", "id": f"m{i}", "model": "claude-opus-4-8", "role": "assistant", "usage": usage}
        resp["content"] = [{"type": "text", "text": "ok"}]
        return {"timestamp": 1795507200 + i, "request": req, "response": resp}

    log = write_jsonl(tmp_path / "a.jsonl", [rec(1, "us", "fast"), rec(2, "global", None)])
    store.ingest([str(log)])
    r = build_report(store, catalogue)
    assert r["totals"]["cost_usd"] == pytest.approx(0.0165 + 0.0075)
    assert r["prices"]["adjusted_requests"] == [
        {"adjustments": "inference_geo us x1.1; speed fast x2.0", "requests": 1}
    ]
