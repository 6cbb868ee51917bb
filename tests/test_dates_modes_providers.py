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
