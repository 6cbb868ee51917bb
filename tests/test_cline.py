"""Cline / Roo Code task histories (ui_messages.json): one call per api_req_started with usage."""

from __future__ import annotations

import json

import pytest

from analyzer.prices import load_catalogue, price_one
from analyzer.sources.base import RecordError
from analyzer.sources.cline import ClineTask

SRC = ClineTask()


def _msg(usage: dict, say: str = "api_req_started", provider: str = "anthropic", model: str = "claude-sonnet-4-5"):
    return {
        "ts": 1769053681259,
        "type": "say",
        "say": say,
        "text": json.dumps({"request": "<task>hi</task>", **usage}),
        "modelInfo": {"providerId": provider, "modelId": model, "mode": "act"},
    }


def _cost(r) -> float:
    kinds = ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "output_tokens")
    tokens = {k: getattr(r, k) for k in kinds}
    return price_one(load_catalogue(), r.model, r.provider, **tokens)["cost"]


def test_anthropic_call_counts_cache_on_top_of_tokens_in_and_prices_it():
    # the first call of the real gmfstu task: Cline's own cost 0.04485375
    usage = {"tokensIn": 10, "tokensOut": 595, "cacheWrites": 9573, "cacheReads": 0, "cost": 0.04485375}
    r = SRC.parse(_msg(usage), {"path": "/x/tasks/1769053680585/ui_messages.json"})
    assert (r.input_tokens, r.cache_write_5m_tokens, r.cache_read_tokens, r.output_tokens) == (9583, 9573, 0, 595)
    assert r.provider == "anthropic" and r.conversation_id == "1769053680585"
    assert r.ts_us == 1769053681259000 and r.reported_cost == pytest.approx(0.04485375)
    # Sonnet 4.5 list prices per MTok: input 3, 5m write 3.75, output 15
    assert _cost(r) == pytest.approx((10 * 3 + 9573 * 3.75 + 595 * 15) / 1e6)


def test_cline_provider_prices_the_openrouter_slug_at_openrouter_prices():
    usage = {"tokensIn": 545, "tokensOut": 127, "cacheWrites": 0, "cacheReads": 50858, "cost": 0}
    r = SRC.parse(_msg(usage, provider="cline", model="anthropic/claude-sonnet-4.5"), {})
    assert (r.input_tokens, r.cache_read_tokens, r.provider) == (51403, 50858, "openrouter")
    assert _cost(r) == pytest.approx((545 * 3 + 50858 * 0.30 + 127 * 15) / 1e6)


def test_openai_protocol_tokens_in_already_holds_the_cache_reads_and_writes():
    usage = {"tokensIn": 1000, "tokensOut": 50, "cacheReads": 400, "cacheWrites": 0, "apiProtocol": "openai"}
    r = SRC.parse(_msg(usage, provider="openai", model="gpt-4o"), {})
    assert (r.input_tokens, r.cache_read_tokens, r.output_tokens) == (1000, 400, 50)
    # a real Roo Code line (quoted in a public repo): 2855 in, of which 2853 written to the cache
    usage = {"apiProtocol": "openai", "tokensIn": 2855, "tokensOut": 2264, "cacheWrites": 2853, "cacheReads": 0}
    r = SRC.parse(_msg(usage, provider="anthropic", model="claude-sonnet-4-5"), {})
    assert (r.input_tokens, r.cache_write_5m_tokens) == (2855, 2853)
    # Sonnet 4.5: 2 uncached x 3 + 2853 written x 3.75 + 2264 out x 15 per MTok
    assert _cost(r) == pytest.approx((2 * 3 + 2853 * 3.75 + 2264 * 15) / 1e6)


def test_failed_stream_without_usage_is_no_call_but_a_cancelled_one_with_usage_is():
    zero = {"tokensIn": 0, "tokensOut": 0, "cacheWrites": 0, "cacheReads": 0, "cost": 0}
    assert SRC.parse(_msg({**zero, "cancelReason": "streaming_failed"}), {}) is None
    assert SRC.parse(_msg({"tokensIn": 0, "tokensOut": 0, "cost": 0}, say="deleted_api_reqs"), {}) is None
    r = SRC.parse(_msg({**zero, "tokensIn": 20, "tokensOut": 3, "cancelReason": "user_cancelled"}), {})
    assert r.status == "incomplete" and r.tags == ["cancelled:user_cancelled"]


def test_other_messages_and_requests_not_answered_are_not_calls():
    assert SRC.parse({"ts": 1, "type": "say", "say": "text", "text": "hello"}, {}) is None
    assert SRC.parse({"ts": 1, "type": "ask", "ask": "followup", "text": "{}"}, {}) is None
    assert SRC.parse(_msg({}), {}) is None  # only the request text: no reply streamed


def test_bad_records_are_rejected_with_a_reason():
    bad = _msg({"tokensIn": 1})
    bad["text"] = "{not json"
    with pytest.raises(RecordError, match="not JSON"):
        SRC.parse(bad, {})
    no_model = _msg({"tokensIn": 5, "tokensOut": 1})
    del no_model["modelInfo"]
    with pytest.raises(RecordError, match="modelId"):
        SRC.parse(no_model, {})
    with pytest.raises(RecordError, match="tokensOut"):
        SRC.parse(_msg({"tokensIn": 5, "tokensOut": -1}), {})


def test_sniff_takes_ui_messages_and_nothing_else():
    assert SRC.sniff({"ts": 1767644899093, "type": "say", "say": "text", "text": "yo"})
    assert SRC.sniff({"ts": 1767644899093, "type": "ask", "ask": "followup"})
    assert not SRC.sniff({"type": "say", "say": "text"})  # no ts
    assert not SRC.sniff({"ts": 1, "type": "message", "message": "x"})
    assert not SRC.sniff({"role": "user", "content": [{"type": "text", "text": "x"}]})
