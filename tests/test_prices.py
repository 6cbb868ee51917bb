"""Price resolution and the money, checked against hand-computed values from the catalogue's list prices."""

from __future__ import annotations

import json

import pytest

from analyzer.errors import InputError
from analyzer.prices import load_catalogue, price_one


@pytest.mark.parametrize(
    ("model", "provider", "key"),
    [
        ("gpt-4o", None, "gpt-4o"),
        ("gpt-4o-2024-08-06", None, "gpt-4o-2024-08-06"),
        ("GPT-4o", None, "gpt-4o"),
        ("openai/gpt-4o", None, "gpt-4o"),
        ("claude-sonnet-4-5-20250929", None, "claude-sonnet-4-5-20250929"),
        ("anthropic/claude-sonnet-4-5", None, "claude-sonnet-4-5"),
        ("azure/gpt-4o-mini", None, "azure/gpt-4o-mini"),
        ("bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0", None, "us.anthropic.claude-3-5-sonnet-20241022-v2:0"),
        ("models/gemini-2.5-flash", "google", "gemini-2.5-flash"),
        ("deepseek-chat", "deepseek", "deepseek-chat"),
        ("gpt-4o-mini-2099-01-01", None, "gpt-4o-mini"),  # a snapshot newer than the catalogue
    ],
)
def test_resolution(catalogue, model, provider, key):
    assert catalogue.resolve(model, provider).key == key


@pytest.mark.parametrize("model", ["acme-llm-7b", "claude-9-imaginary-20300101", "gpt-9-ultra"])
def test_unknown_models_are_unpriced_not_free(catalogue, model):
    res = catalogue.resolve(model)
    assert res.key is None
    row = price_one(catalogue, model, input_tokens=1000, output_tokens=100)
    assert row["priced"] is False and row["cost"] is None


@pytest.mark.parametrize(
    ("model", "key", "first_party"),
    [
        # the snapshot lists these first-party names only under Bedrock or Vertex; the price history still has
        # their own first-party listing, which prices them (issue 21 item 6); without it, the cloud's listing
        ("claude-sonnet-4-20250514", "anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4-20250514"),
        ("claude-3-5-sonnet@20240620", "anthropic.claude-3-5-sonnet-20240620-v1:0", "claude-3-5-sonnet-20240620"),
        ("claude-opus-4-1", "anthropic.claude-opus-4-1-20250805-v1:0", "claude-opus-4-1"),
    ],
)
def test_same_model_listed_under_a_cloud(catalogue, model, key, first_party):
    assert catalogue.resolve(model, "anthropic").key == first_party
    snapshot_only = load_catalogue(history=False)
    res = snapshot_only.resolve(model, "anthropic")
    assert res.key == key
    assert not res.key.startswith(("us.", "eu.", "apac.", "global."))  # regional ids may carry a premium
    # and the price is Anthropic's list price: $3 / 1M input (below the 200k long-context tier)
    for cat in (catalogue, snapshot_only):
        row = price_one(cat, "claude-sonnet-4-20250514", input_tokens=100_000)
        assert row["cost"] == pytest.approx(0.3)


def cost(cat, model, **kw):
    return price_one(cat, model, **kw)


def test_uncached_input_cache_read_and_output(catalogue):
    # gpt-4o: $2.50 / 1M input, $1.25 / 1M cached, $10 / 1M output
    row = cost(catalogue, "gpt-4o", input_tokens=1000, cache_read_tokens=200, output_tokens=100)
    assert row["cost_input"] == pytest.approx(800 * 2.5e-6)
    assert row["cost_cache_read"] == pytest.approx(200 * 1.25e-6)
    assert row["cost_output"] == pytest.approx(100 * 1e-5)
    assert row["cost"] == pytest.approx(0.00325)


def test_anthropic_cache_writes_5m_and_1h(catalogue):
    # claude-sonnet-4-5: $3 in, $0.30 read, $3.75 5-minute write (1.25x), $6 1-hour write (2x), $15 out
    row = cost(
        catalogue,
        "claude-sonnet-4-5-20250929",
        input_tokens=4000,
        cache_read_tokens=1000,
        cache_write_5m_tokens=1000,
        cache_write_1h_tokens=1000,
        output_tokens=100,
    )
    assert row["cost_input"] == pytest.approx(1000 * 3e-6)
    assert row["cost_cache_read"] == pytest.approx(1000 * 3e-7)
    assert row["cost_cache_write_5m"] == pytest.approx(1000 * 3.75e-6)
    assert row["cost_cache_write_1h"] == pytest.approx(1000 * 6e-6)
    assert row["cost"] == pytest.approx(0.003 + 0.0003 + 0.00375 + 0.006 + 0.0015)


def test_real_anthropic_sample_hand_computed(catalogue):
    # sample_logs/anthropic_messages.jsonl records 1 and 2 (real API usage)
    a = cost(catalogue, "claude-sonnet-4-5-20250929", input_tokens=1114, cache_read_tokens=1111, output_tokens=406)
    b = cost(
        catalogue,
        "claude-sonnet-4-5-20250929",
        input_tokens=1532,
        cache_read_tokens=1111,
        cache_write_5m_tokens=418,
        output_tokens=33,
    )
    assert a["cost"] == pytest.approx(3 * 3e-6 + 1111 * 3e-7 + 406 * 1.5e-5)
    assert b["cost"] == pytest.approx(3 * 3e-6 + 1111 * 3e-7 + 418 * 3.75e-6 + 33 * 1.5e-5)
    assert a["cost"] + b["cost"] == pytest.approx(0.0088371)


def test_reasoning_billed_at_output_rate_when_no_reasoning_price(catalogue):
    # o3-mini: $1.10 in, $4.40 out; 87 output tokens of which 64 reasoning
    row = cost(catalogue, "o3-mini-2025-01-31", input_tokens=7, output_tokens=87, reasoning_tokens=64)
    assert row["cost_output"] == pytest.approx(23 * 4.4e-6)
    assert row["cost_reasoning"] == pytest.approx(64 * 4.4e-6)
    assert row["cost"] == pytest.approx(7 * 1.1e-6 + 87 * 4.4e-6)


def test_reasoning_rate_when_listed(tmp_path):
    f = tmp_path / "p.json"
    f.write_text(
        json.dumps(
            {
                "think-1": {
                    "input_cost_per_token": 1e-6,
                    "output_cost_per_token": 2e-6,
                    "output_cost_per_reasoning_token": 5e-6,
                    "mode": "chat",
                }
            }
        )
    )
    cat = load_catalogue(f)
    row = cost(cat, "think-1", input_tokens=10, output_tokens=30, reasoning_tokens=20)
    assert row["cost"] == pytest.approx(10 * 1e-6 + 10 * 2e-6 + 20 * 5e-6)


def test_batch_prices(catalogue):
    # gpt-4o batch: $1.25 in, $5 out
    row = cost(catalogue, "gpt-4o", input_tokens=1000, output_tokens=100, batch=True)
    assert row["mode"] == "batch"
    assert row["cost"] == pytest.approx(1000 * 1.25e-6 + 100 * 5e-6)


def test_batch_without_listed_price_is_half(tmp_path):
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"plain-1": {"input_cost_per_token": 2e-6, "output_cost_per_token": 4e-6}}))
    row = cost(load_catalogue(f), "plain-1", input_tokens=100, output_tokens=10, batch=True)
    assert row["cost"] == pytest.approx(0.5 * (100 * 2e-6 + 10 * 4e-6))


def test_priority_tier(catalogue):
    row = cost(catalogue, "gpt-4o", input_tokens=1000, service_tier="priority")
    assert row["cost"] == pytest.approx(1000 * 4.25e-6)


def test_tier_above_200k_prices_the_whole_request(catalogue):
    # gemini-2.5-pro: $1.25 / $10 up to 200k input tokens, $2.50 / $15 above
    below = cost(catalogue, "gemini-2.5-pro", provider="google", input_tokens=200_000, output_tokens=1000)
    above = cost(catalogue, "gemini-2.5-pro", provider="google", input_tokens=250_000, output_tokens=1000)
    assert below["cost"] == pytest.approx(200_000 * 1.25e-6 + 1000 * 1e-5)
    assert above["tier"] == 200_000
    assert above["cost"] == pytest.approx(250_000 * 2.5e-6 + 1000 * 1.5e-5)


def test_failed_calls_cost_nothing(catalogue):
    row = cost(catalogue, "gpt-4o", input_tokens=1000, output_tokens=10, status="error")
    assert row["priced"] and row["cost"] == 0


def test_override_file_prices_a_new_model_and_changes_a_known_one(tmp_path):
    f = tmp_path / "p.json"
    f.write_text(
        json.dumps(
            {
                "acme-llm-7b": {"input_cost_per_token": 1e-7, "output_cost_per_token": 2e-7},
                "gpt-4o": {"input_cost_per_token": 1e-6},
            }
        )
    )
    cat = load_catalogue(f)
    assert cost(cat, "acme-llm-7b", input_tokens=1000, output_tokens=100)["cost"] == pytest.approx(1e-4 + 2e-5)
    # gpt-4o keeps its other fields (output $10/1M) but takes the new input price
    assert cost(cat, "gpt-4o", input_tokens=1000, output_tokens=100)["cost"] == pytest.approx(1e-3 + 1e-3)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"m": {"input_cost_per_token": -1}}', "non-negative"),
        ('{"m": 3}', "must be an object"),
    ],
)
def test_bad_price_files(tmp_path, content, message):
    f = tmp_path / "p.json"
    f.write_text(content)
    with pytest.raises(InputError, match=message):
        load_catalogue(f)


def test_missing_price_file(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        load_catalogue(tmp_path / "nope.json")
