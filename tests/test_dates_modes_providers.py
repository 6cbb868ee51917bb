"""Issue 20, defects 5, 6 and 9 on the real files of the conformance corpus, plus hand-computed prices:
calls that date themselves (Responses API `created_at`, Vertex `createTime`, batch bodies), every mode the
catalogue prices (embeddings, moderation at $0, ...), and OpenAI-compatible providers named by model, host or
batch metadata."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analyzer.sources import open_source
from analyzer.sources.base import RecordError

CORPUS = Path(__file__).resolve().parent / "conformance"


def parsed(path, ctx=None):
    source, items = open_source(path, None)
    ctx = {} if ctx is None else ctx
    return source, [r for i in items if (r := source.parse(i.obj, ctx)) is not None]


def us(text: str) -> int:
    delta = datetime.fromisoformat(text).replace(tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


# ---- defect 5: calls that carry their own date -------------------------------------------------------------


def test_responses_api_batch_line_is_dated_by_created_at():
    case = CORPUS / "openai_batch_output" / "openai_batch_manager_responses_and_chat"
    source, (r,) = parsed(case / "v1-responses.json")
    assert source.name == "openai_batch_output"
    assert r.ts_us == 1767803824 * 1_000_000  # response.body.created_at
    _, (chat,) = parsed(case / "v1-chat-completion.json")
    assert chat.ts_us == 1767801703 * 1_000_000  # response.body.created


def test_vertex_response_is_dated_by_create_time():
    case = CORPUS / "gemini_generate_content" / "pydantic_ai_vertex_create_time"
    source, (r,) = parsed(case / "vertex_provider_request_response_pairs.json")
    assert source.name == "gemini_generate_content"
    assert r.ts_us == us("2025-06-27T08:48:21.154666")


def test_a_logger_timestamp_wins_over_the_body_date(tmp_path):
    case = CORPUS / "gemini_generate_content" / "pydantic_ai_vertex_create_time"
    (pair,) = json.loads((case / "vertex_labels_request_response_pairs.json").read_text())
    pair["timestamp"] = "2025-07-01T00:00:00Z"
    f = tmp_path / "one.json"
    f.write_text(json.dumps(pair))
    _, (r,) = parsed(f)
    assert r.ts_us == us("2025-07-01T00:00:00")


def test_a_bad_create_time_is_a_reject_not_a_crash(tmp_path):
    case = CORPUS / "gemini_generate_content" / "pydantic_ai_vertex_create_time"
    (pair,) = json.loads((case / "vertex_labels_request_response_pairs.json").read_text())
    pair["response"]["body"]["createTime"] = "yesterday"
    f = tmp_path / "one.json"
    f.write_text(json.dumps(pair))
    source, items = open_source(f, None)
    with pytest.raises(RecordError, match="createTime"):
        source.parse(next(items).obj, {})


# ---- defect 9: OpenAI-compatible providers ---------------------------------------------------------------


def test_groq_batch_lines_are_groq_and_priced_at_groq_batch_prices(catalogue):
    from analyzer.prices import price_one

    case = CORPUS / "openai_batch_output" / "groq_batch_processing"
    _, reqs = parsed(case / "batch_output.jsonl")
    assert {r.provider for r in reqs} == {"groq"} and all(r.batch for r in reqs)
    assert catalogue.resolve("llama-3.1-8b-instant", "groq").key == "groq/llama-3.1-8b-instant"
    # Groq list price $0.05 / $0.08 per million, half in batch: 1M in + 1M out = $0.025 + $0.04.
    cost = price_one(
        catalogue,
        "llama-3.1-8b-instant",
        "groq",
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        batch=True,
        ts=us("2025-03-19T00:00:00"),
    )["cost"]
    assert cost == pytest.approx(0.065)


def test_request_logs_take_the_provider_from_the_host_then_the_body_marks():
    case = CORPUS / "openai_chat" / "pydantic_ai_groq_cerebras"
    _, groq = parsed(case / "groq_native_output_request_response_pairs.json")
    _, cerebras = parsed(case / "cerebras_model_simple_request_response_pairs.json")
    assert [r.provider for r in groq + cerebras] == ["groq", "cerebras"]


@pytest.mark.parametrize(
    ("host", "want"),
    [
        ("api.groq.com", "groq"),
        ("api.together.xyz", "together_ai"),
        ("api.fireworks.ai", "fireworks_ai"),
        ("openrouter.ai", "openrouter"),
        ("api.mistral.ai", "mistral"),
        ("api.deepseek.com", "deepseek"),
        ("api.x.ai", "xai"),
        ("API.Cerebras.AI:443", "cerebras"),
        ("eu.api.openai.com", "openai"),
        ("myresource.openai.azure.com", "azure"),
        ("us-central1-aiplatform.googleapis.com", "google"),
        ("notgroq.com", None),
        ("api.groq.com.evil.example", None),
        (None, None),
    ],
)
def test_provider_of_host(host, want):
    from analyzer.sources.hosts import provider_of_host

    assert provider_of_host(host) == want


@pytest.mark.parametrize(
    ("body", "want"),
    [
        ({"x_groq": {"id": "req_1"}, "usage": {}}, "groq"),
        ({"usage": {"queue_time": 0.1, "prompt_tokens": 1}}, "groq"),
        ({"usage": {"prompt_cache_hit_tokens": 0, "prompt_cache_miss_tokens": 5}}, "deepseek"),
        ({"time_info": {"queue_time": 0.1}}, "cerebras"),
        ({"id": "gen-123", "provider": "OpenAI", "model": "openai/gpt-4o"}, "openrouter"),
        ({"model": "accounts/fireworks/models/llama-v3p1-8b-instruct"}, "fireworks_ai"),
        ({"id": "chatcmpl-1", "model": "gpt-4o", "usage": {"prompt_tokens": 1}}, None),
    ],
)
def test_compat_provider_marks(body, want):
    from analyzer.sources.hosts import compat_provider

    assert compat_provider(body) == want


def test_a_host_of_other_vendors_models_is_priced_from_its_own_listing(catalogue):
    from analyzer.prices import price_one

    # Groq's own listing of OpenAI's open-weight model, not OpenAI's: $0.15 in / $0.75 out per million on
    # 2025-09-02 (Groq's launch price), so 2M in + 1M out = $0.30 + $0.75.
    res = catalogue.resolve("openai/gpt-oss-120b", "groq")
    assert res.key == "groq/openai/gpt-oss-120b"
    row = price_one(
        catalogue,
        "openai/gpt-oss-120b",
        "groq",
        input_tokens=2_000_000,
        output_tokens=1_000_000,
        ts=us("2025-09-02T20:01:05"),
    )
    assert row["cost"] == pytest.approx(1.05)
    # A provider without a listed prefix is tried under its own name: cerebras/llama-3.3-70b, $0.85 / $1.20.
    assert catalogue.resolve("llama-3.3-70b", "cerebras").key == "cerebras/llama-3.3-70b"
    row = price_one(
        catalogue,
        "llama-3.3-70b",
        "cerebras",
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        ts=us("2025-11-26T22:41:26"),
    )
    assert row["cost"] == pytest.approx(2.05)
    # First-party names are unchanged: OpenAI's gpt-4o stays OpenAI's.
    assert catalogue.resolve("gpt-4o", "openai").key == "gpt-4o"


# ---- defect 6: every mode the catalogue prices, by its own unit -------------------------------------------


def test_embeddings_are_priced_by_their_input_tokens(catalogue):
    from analyzer.prices import price_one

    # text-embedding-3-small: $0.02 per million input tokens, $0.01 in batch; 3M tokens = $0.06 / $0.03.
    assert catalogue.resolve("text-embedding-3-small", "openai").key == "text-embedding-3-small"
    row = price_one(catalogue, "text-embedding-3-small", "openai", input_tokens=3_000_000)
    assert row["priced"] and row["cost"] == pytest.approx(0.06)
    row = price_one(catalogue, "text-embedding-3-small", "openai", input_tokens=3_000_000, batch=True)
    assert row["cost"] == pytest.approx(0.03)
    # text-embedding-3-large: $0.13 per million; 500k tokens = $0.065.
    row = price_one(catalogue, "text-embedding-3-large", "openai", input_tokens=500_000)
    assert row["cost"] == pytest.approx(0.065)


def test_moderation_is_priced_at_zero_not_unpriced(catalogue):
    from analyzer.prices import price_one

    row = price_one(catalogue, "omni-moderation-latest", "openai", input_tokens=1_000_000)
    assert row["priced"] is True and row["cost"] == 0.0


def test_a_rerank_model_priced_by_tokens_is_priced(catalogue):
    from analyzer.prices import price_one

    # voyage/rerank-2 lists $0.05 per million input tokens and nothing else: 2M tokens = $0.10.
    row = price_one(catalogue, "voyage/rerank-2", None, input_tokens=2_000_000)
    assert row["priced"] and row["cost"] == pytest.approx(0.10)


@pytest.mark.parametrize(
    ("model", "unit"),
    [
        ("whisper-1", "second"),  # $0.0001 per second of audio
        ("tts-1", "character"),  # $15 per million characters
        ("rerank-english-v3.0", "query"),  # $2 per thousand searches; its token prices are 0
        ("gpt-image-1", "image token"),  # image tokens cost more than text tokens
        ("text-embedding-004", "character"),  # Vertex bills its embeddings per character
    ],
)
def test_a_model_billed_by_another_unit_is_unpriced_with_that_unit_named(catalogue, model, unit):
    from analyzer.prices import price_one

    res = catalogue.resolve(model, "openai" if model[0] in "wtg" else None)
    assert res.key is None and f"priced per {unit}" in res.how
    # never $0: a token count cannot bill seconds, characters or queries
    assert price_one(catalogue, model, None, input_tokens=1000)["cost"] is None


def test_other_units_reads_the_entry():
    from analyzer.prices import other_units

    assert other_units({"input_cost_per_token": 2e-08, "input_cost_per_token_batches": 1e-08}) == []
    assert other_units({"input_cost_per_token": 0.0, "input_cost_per_query": 0.002}) == ["query"]
    assert other_units({"input_cost_per_second": 0.0001, "output_cost_per_second": 0.0001}) == ["second"]
    assert other_units({"input_cost_per_token": 1e-06, "input_cost_per_query": 0.0}) == []  # a $0 price bills nothing


def test_openrouter_variants_that_bill_as_the_model(catalogue):
    from analyzer.prices import price_one

    # `:thinking` bills as the model: claude-3.7-sonnet at $3 / $15 per million; 1M in + 1M out = $18.
    res = catalogue.resolve("anthropic/claude-3.7-sonnet:thinking", "openrouter")
    assert res.key == "openrouter/anthropic/claude-3.7-sonnet"
    row = price_one(
        catalogue,
        "anthropic/claude-3.7-sonnet:thinking",
        "openrouter",
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        ts=us("2025-10-09T00:00:00"),
    )
    assert row["cost"] == pytest.approx(18.0)
    # `:free` is another price (none): never priced as the paid model.
    assert catalogue.resolve("anthropic/claude-3.7-sonnet:free", "openrouter").key is None


# ---- defect 6, by their own unit: calls whose log gives the unit the catalogue bills -----------------------


def _report(runner, tmp_path, records):
    from analyzer.cli import cli
    from tests.conftest import write_jsonl

    data = tmp_path / "data"
    data.mkdir()
    write_jsonl(data / "calls.jsonl", records)
    out = tmp_path / "summary.json"
    result = runner.invoke(cli, ["report", str(data), "--json", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text()), result.output


def _transcription(seconds, model="whisper-1"):
    # The response shape OpenAI's /v1/audio/transcriptions returns for whisper-1 (response_format json).
    return {
        "timestamp": "2026-03-02T10:00:00Z",
        "request": {"model": model, "response_format": "json", "language": "es"},
        "response": {"text": "hola mundo", "usage": {"type": "duration", "seconds": seconds}},
    }


def test_a_transcription_is_priced_by_its_seconds(runner, tmp_path):
    # whisper-1: $0.006 per minute = $0.0001 per second; 4 s + 120 s = 124 s = $0.0124.
    summary, _ = _report(runner, tmp_path, [_transcription(4), _transcription(120)])
    t = summary["totals"]
    assert (t["requests"], t["unpriced_requests"]) == (2, 0)
    assert t["cost_usd"] == pytest.approx(0.0124)
    assert t["input_tokens"] == 0 and t["output_tokens"] == 0


def test_a_transcription_without_seconds_is_a_reject_with_its_reason(runner, tmp_path):
    bad = _transcription(None)
    summary, output = _report(runner, tmp_path, [bad, _transcription(60)])
    assert summary["totals"]["requests"] == 1
    assert summary["totals"]["cost_usd"] == pytest.approx(0.006)
    assert "no seconds" in json.dumps(summary["ingest"])


def test_units_price_only_a_model_billed_by_that_unit(catalogue):
    from analyzer.prices import price_one

    # tts-1: $15 per million characters; 200k characters = $3.
    assert price_one(catalogue, "tts-1", "openai", units=200_000.0, unit="character")["cost"] == pytest.approx(3.0)
    # rerank-english-v3.0: $2 per thousand searches; 25 searches = $0.05.
    assert price_one(catalogue, "rerank-english-v3.0", None, units=25.0, unit="query")["cost"] == pytest.approx(0.05)
    # a unit the entry does not price leaves the call unpriced, never $0
    assert price_one(catalogue, "whisper-1", "openai", units=10.0, unit="image")["cost"] is None
    # a token-priced model ignores a unit: gpt-4o's 1M input tokens are $2.50 whatever else the row says
    assert price_one(catalogue, "gpt-4o", "openai", input_tokens=1_000_000, units=5.0, unit="second")[
        "cost"
    ] == pytest.approx(2.5)


def test_a_verbose_json_translation_without_usage_is_priced_by_its_duration(runner, tmp_path):
    rec = {
        "timestamp": "2026-03-02T10:00:00Z",
        "request": {"model": "whisper-1", "response_format": "verbose_json"},
        "response": {"task": "translate", "language": "english", "duration": 30.0, "text": "hello", "segments": []},
    }
    summary, _ = _report(runner, tmp_path, [rec])
    # 30 s at $0.0001 per second = $0.003
    assert summary["totals"]["cost_usd"] == pytest.approx(0.003)


def test_a_moderation_call_is_counted_and_priced_at_zero(runner, tmp_path):
    rec = {
        "timestamp": "2026-03-02T10:00:00Z",
        "request": {"model": "omni-moderation-latest", "input": "some text"},
        "response": {
            "id": "modr-0d9740456c391e43c445bf0f010940c7",
            "model": "omni-moderation-latest",
            "results": [{"flagged": False, "categories": {}, "category_scores": {}}],
        },
    }
    summary, _ = _report(runner, tmp_path, [rec])
    t = summary["totals"]
    assert (t["requests"], t["unpriced_requests"], t["cost_usd"]) == (1, 0, 0.0)


def test_sniffing_a_bad_transcription_count_does_not_raise():
    from analyzer.sources.openai_chat import OpenAIChat

    bad = {"request": {"model": "whisper-1"}, "response": {"text": "x", "usage": {"type": "duration", "seconds": "?"}}}
    assert OpenAIChat().sniff(bad)
    with pytest.raises(RecordError, match="usage.seconds"):
        OpenAIChat().parse(bad, {})
