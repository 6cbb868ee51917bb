"""Every sample against every sniffer: each file is recognised by exactly its own format, never another."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from analyzer.sources import SNIFF_RECORDS, SOURCES, _sniffs, read_items
from tests.conftest import SAMPLES, SHARED

# sample_logs/ file -> format
EXPECTED = {
    "anthropic_cost_report.json": "anthropic_cost",
    "anthropic_messages.jsonl": "anthropic_messages",
    "anthropic_usage_report.json": "anthropic_usage",
    "bedrock_converse.jsonl": "bedrock_converse",
    "bedrock_invocation_log.jsonl": "bedrock_invocation_log",
    "codex_session.jsonl": "codex_session",
    "gemini_generate_content.jsonl": "gemini_generate_content",
    "langfuse_ingestion_batch.json": "langfuse",
    "claude_code_ccusage.jsonl": "claude_code",
    "claude_code_session.jsonl": "claude_code",
    "claude_code_usage_report.json": "claude_code_usage_report",
    "litellm_spend_log.json": "litellm_spend_log",
    "litellm_standard_logging_payload.json": "litellm_payload",
    "mooncake_trace.jsonl": "mooncake_trace",
    "openai_batch_input.jsonl": "openai_batch_input",
    "openai_batch_output.jsonl": "openai_batch_output",
    "openai_chat.jsonl": "openai_chat",
    "openai_costs.json": "openai_costs",
    "openai_usage_completions.json": "openai_usage",
    "openai_usage_completions_1d.json": "openai_usage",
    "otel_genai_spans.jsonl": "otel_genai",
    "llm_logs.db": "llm_logs_db",
}
# ../shared/samples/ file (folder/name) -> format
EXPECTED_SHARED = {
    "anthropic_messages/block_cache_breakpoint_request_response_pairs.json": "anthropic_messages",
    "anthropic_messages/cache_real_api_request_response_pairs.json": "anthropic_messages",
    "anthropic_usage_report/claude_code_usage_report_response.json": "claude_code_usage_report",
    "anthropic_usage_report/cost_report_response.json": "anthropic_cost",
    "anthropic_usage_report/usage_report_messages_response.json": "anthropic_usage",
    "bedrock_converse/converse_cache_write_and_read_pairs.json": "bedrock_converse",
    "codex_cli_jsonl/ccusage_fixture_codex_session-alpha.jsonl": "codex_session",
    "gemini_usage_metadata/cached_content_request_response_pairs.json": "gemini_generate_content",
    "gemini_usage_metadata/generate_content_request_response.json": "gemini_generate_content",
    "litellm_logging/langfuse_ingestion_batch_from_litellm.json": "langfuse",
    "claude_code_jsonl/ccusage_fixture_project-alpha_session-alpha_chat.jsonl": "claude_code",
    "claude_code_jsonl/claude-code-log_representative_messages.jsonl": "claude_code",
    "litellm_logging/spend_logs_payload.json": "litellm_spend_log",
    "litellm_logging/standard_logging_payload.json": "litellm_payload",
    "openai_batch/batch_input.jsonl": "openai_batch_input",
    "openai_batch/batch_output.jsonl": "openai_batch_output",
    "openai_chat_completions/chat_prompt_cache_request_response_pairs.json": "openai_chat",
    "openai_chat_completions/o3_mini_request_response.json": "openai_chat",
    "openai_usage_api/cookbook_usage_completions_buckets_1d.json": "openai_usage",
    "openai_usage_api/costs_response.json": "openai_costs",
    "openai_usage_api/usage_completions_response.json": "openai_usage",
    "openrouter/responses_prompt_cache_request_response_pairs.json": "openai_chat",
}


def sniffed_by(path: Path) -> list[str]:
    objs = [i.obj for i in itertools.islice(read_items(path), SNIFF_RECORDS) if isinstance(i.obj, dict)]
    return [s.name for s in SOURCES if any(_sniffs(s, o) for o in objs)]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_is_recognised_by_its_format_alone(name):
    assert sniffed_by(SAMPLES / name) == [EXPECTED[name]]


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/samples not present")
def test_every_shared_json_sample_is_in_the_map():
    found = {str(p.relative_to(SHARED)) for p in SHARED.rglob("*") if p.suffix in (".json", ".jsonl")}
    assert found == set(EXPECTED_SHARED)


def test_every_sample_and_every_format_is_covered():
    on_disk = {p.name for p in SAMPLES.iterdir() if p.suffix in (".json", ".jsonl", ".db")}
    assert on_disk == set(EXPECTED)
    examples = {s.example for s in SOURCES if "/" not in s.example}
    assert examples <= on_disk
    assert {s.name for s in SOURCES} == set(EXPECTED.values()) | set(EXPECTED_FIXTURES.values())


# formats whose example is kept under tests/fixtures/ (a real agent run would move the samples' hand-checked totals)
EXPECTED_FIXTURES = {
    "mini_swe_agent.traj.json.gz": "mini_swe_agent_traj",
    "anthropic_batch_results.jsonl": "anthropic_batch_results",
    "bedrock_invoke_model_pairs.json": "bedrock_invoke_model",
    # real files from the conformance corpus
    "../conformance/cline_task/gmfstu_sonnet45_task/ui_messages.first120.json": "cline_task",
    "../conformance/cline_task/fineye_cline_provider_task/ui_messages.items151-206.json": "cline_task",
}


@pytest.mark.parametrize("name", sorted(EXPECTED_FIXTURES))
def test_each_fixture_example_is_recognised_by_its_format_alone(name):
    assert sniffed_by(SAMPLES.parent / "tests" / "fixtures" / name) == [EXPECTED_FIXTURES[name]]


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/samples not present")
@pytest.mark.parametrize("rel", sorted(EXPECTED_SHARED))
def test_each_shared_sample_is_recognised_by_its_format_alone(rel):
    assert sniffed_by(SHARED / rel) == [EXPECTED_SHARED[rel]]


def test_formats_say_how_each_is_detected_and_what_it_enables(runner):
    import json

    from analyzer.cli import cli

    rows = json.loads(runner.invoke(cli, ["formats", "--json"]).stdout)
    assert {r["name"] for r in rows} == {s.name for s in SOURCES}
    assert all(r["detected_by"] and r["enables"] for r in rows)


def test_a_files_records_are_matched_against_the_formats_once(tmp_path, monkeypatch):
    """Sniffing a folder of many small files (a Claude Code projects folder) costs a read of each file's first
    records and one pass of the formats over them: the format found is passed on, not detected a second time
    (half the work of `check inputs` on 5,000 files), and reading the records for it hashes nothing. The same
    format, late or early in the file, sniffed or opened."""
    import analyzer.inputs as inputs_mod
    import analyzer.sources as sources
    from tests.conftest import openai_record, write_jsonl

    calls = []
    real = sources.detect_format

    def counted(path, items):
        calls.append(len(items))
        return real(path, items)

    monkeypatch.setattr(sources, "detect_format", counted)
    early = write_jsonl(tmp_path / "early.jsonl", [openai_record(rid=f"c{i}") for i in range(3)])
    late = write_jsonl(
        tmp_path / "late.jsonl", [{"event": "start", "level": "info"}] * SNIFF_RECORDS + [openai_record(rid="c")]
    )
    for path in (early, late):
        calls.clear()
        assert sources.sniff_source(path).name == "openai_chat"
        assert len(calls) == (1 if path is early else 2)  # the head, then the next records once
        calls.clear()
        source, items = sources.open_source(path)
        items.close()
        assert source.name == "openai_chat" and len(calls) == (1 if path is early else 2)

    streams = []
    opened = inputs_mod.ByteStream.__init__

    def kept(self, *a, **k):
        opened(self, *a, **k)
        streams.append(self)

    monkeypatch.setattr(inputs_mod.ByteStream, "__init__", kept)
    assert sources.sniff_source(early).name == "openai_chat"
    assert streams and all(s.digest._h is None and s.digest.size > 0 for s in streams)
    with pytest.raises(ValueError):
        streams[0].digest.hexdigest()
