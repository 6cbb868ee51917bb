"""Every source, on real-shaped records: the sample_logs files and the shared provider samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.sources import BY_NAME, open_source
from analyzer.sources.base import RecordError
from analyzer.sources.fields import text_of, timestamp_us
from tests.conftest import SAMPLES, SHARED


def parsed(path, fmt=None, ctx=None):
    source, items = open_source(path, fmt)
    ctx = {} if ctx is None else ctx
    return source, [source.parse(i.obj, ctx) for i in items]


def test_openai_chat_real_prompt_cache_pair():
    source, reqs = parsed(SAMPLES / "openai_chat.jsonl")
    assert source.name == "openai_chat"
    first, second = reqs[0], reqs[1]
    assert (first.model, first.input_tokens, first.cache_read_tokens, first.cache_write_5m_tokens) == (
        "gpt-5.6-sol",
        4020,
        0,
        4012,
    )
    assert (second.cache_read_tokens, second.cache_write_5m_tokens, second.output_tokens) == (4012, 0, 4)
    assert first.user == "eval-harness" and first.tags == ["prompt-cache-test"]
    # the cache breakpoint marker does not change the content: both requests send the same text
    assert first.messages[0] == second.messages[0]


def test_openai_reasoning_tokens_and_created_timestamp():
    _, reqs = parsed(SAMPLES / "openai_chat.jsonl")
    o3 = next(r for r in reqs if r.model.startswith("o3-mini"))
    assert (o3.output_tokens, o3.reasoning_tokens, o3.input_tokens) == (87, 64, 7)


def test_openai_conversation_metadata_and_tools():
    _, reqs = parsed(SAMPLES / "openai_chat.jsonl")
    turn2 = next(r for r in reqs if r.request_id == "chatcmpl-sample-support-1")
    assert turn2.conversation_id == "conv-7f3a" and turn2.api_key == "key-support-prod"
    assert turn2.has_tools and turn2.feature == "support-bot"
    roles = [m[0] for m in turn2.messages]
    assert roles == ["tools", "system", "user", "assistant", "user", "assistant"]
    assert turn2.messages[-1][2] is True  # the reply is marked as output


def test_deepseek_cache_hit_fields_and_provider():
    _, reqs = parsed(SAMPLES / "openai_chat.jsonl")
    ds = [r for r in reqs if r.model == "deepseek-chat"]
    assert [r.provider for r in ds] == ["deepseek", "deepseek"]
    assert [(r.input_tokens, r.cache_read_tokens) for r in ds] == [(142, 0), (142, 128)]


def test_deepseek_without_prompt_tokens_sums_hit_and_miss():
    obj = {
        "request": {"model": "deepseek-chat", "messages": []},
        "response": {
            "model": "deepseek-chat",
            "object": "chat.completion",
            "usage": {"prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 10, "completion_tokens": 5},
        },
    }
    r = BY_NAME["openai_chat"].parse(obj, {})
    assert (r.input_tokens, r.cache_read_tokens) == (74, 64)


def test_error_response_is_kept_unbilled():
    _, reqs = parsed(SAMPLES / "openai_chat.jsonl")
    err = [r for r in reqs if r.status == "error"]
    assert len(err) == 1 and err[0].input_tokens == 0


def test_anthropic_real_pairs_add_cache_tokens_back_into_input():
    source, reqs = parsed(SAMPLES / "anthropic_messages.jsonl")
    assert source.name == "anthropic_messages"
    a, b = reqs[0], reqs[1]
    # usage.input_tokens=3 is the uncached part; reads 1111 (+ writes 418 on the second)
    assert (a.input_tokens, a.cache_read_tokens, a.cache_write_5m_tokens) == (1114, 1111, 0)
    assert (b.input_tokens, b.cache_read_tokens, b.cache_write_5m_tokens, b.output_tokens) == (1532, 1111, 418, 33)
    assert a.messages[0] == ("system", "You are a helpful assistant.", False)


def test_anthropic_one_hour_write_and_block_system():
    _, reqs = parsed(SAMPLES / "anthropic_messages.jsonl")
    r = next(r for r in reqs if r.request_id == "msg_sample_1h_write")
    assert (r.cache_write_5m_tokens, r.cache_write_1h_tokens, r.input_tokens) == (0, 1650, 1664)
    assert r.messages[0][0] == "system" and "Northwind" in r.messages[0][1]


def test_anthropic_without_split_uses_request_ttl():
    obj = {
        "request": {
            "model": "claude-sonnet-4-5",
            "system": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
            "messages": [],
        },
        "response": {
            "type": "message",
            "model": "claude-sonnet-4-5",
            "content": [],
            "usage": {"input_tokens": 5, "cache_creation_input_tokens": 2000, "output_tokens": 1},
        },
    }
    r = BY_NAME["anthropic_messages"].parse(obj, {})
    assert (r.cache_write_1h_tokens, r.cache_write_5m_tokens) == (2000, 0)


def test_anthropic_inconsistent_cache_split_is_rejected():
    obj = {
        "request": {"model": "claude-sonnet-4-5", "messages": []},
        "response": {
            "type": "message",
            "model": "claude-sonnet-4-5",
            "content": [],
            "usage": {
                "input_tokens": 5,
                "cache_creation_input_tokens": 100,
                "output_tokens": 1,
                "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 10},
            },
        },
    }
    with pytest.raises(RecordError, match="cache_creation split"):
        BY_NAME["anthropic_messages"].parse(obj, {})


@pytest.mark.skipif(not SHARED.is_dir(), reason="the project's shared/ folder is not beside this checkout")
def test_shared_cassette_wrappers_are_read_directly():
    source, reqs = parsed(SHARED / "anthropic_messages" / "block_cache_breakpoint_request_response_pairs.json")
    assert source.name == "anthropic_messages"
    assert [r.cache_read_tokens for r in reqs] == [0, 1590]


def test_batch_output_joins_input_messages():
    ctx: dict = {}
    src_in, _ = parsed(SAMPLES / "openai_batch_input.jsonl", ctx=ctx)
    assert src_in.name == "openai_batch_input" and src_in.companion
    src_out, reqs = parsed(SAMPLES / "openai_batch_output.jsonl", ctx=ctx)
    assert src_out.name == "openai_batch_output"
    assert all(r.batch for r in reqs)
    assert reqs[1].messages[0] == ("system", "You are an unhelpful assistant.", False)
    assert (reqs[0].input_tokens, reqs[0].output_tokens) == (20, 10)


def test_batch_output_alone_has_usage_but_no_messages():
    _, reqs = parsed(SAMPLES / "openai_batch_output.jsonl")
    assert [len(r.messages) for r in reqs] == [1, 1]  # only the reply


def test_litellm_payload():
    source, (r,) = parsed(SAMPLES / "litellm_standard_logging_payload.json")
    assert source.name == "litellm_payload"
    assert (r.model, r.provider, r.input_tokens, r.output_tokens) == ("gpt-4o", "openai", 10, 20)
    assert r.reported_cost == pytest.approx(0.000225)
    assert r.ts_us == timestamp_us("2025-01-24 09:20:46.847371")
    assert r.latency_ms == pytest.approx(4.583)


def test_litellm_spend_log_row_with_json_string_metadata():
    source, (r,) = parsed(SAMPLES / "litellm_spend_log.json")
    assert source.name == "litellm_spend_log"
    assert (r.request_id, r.conversation_id, r.input_tokens, r.output_tokens) == (
        "chatcmpl-2283081b-dc89-41f6-93e6-d4f914774027",
        "1234567890",
        10,
        20,
    )


def test_litellm_anthropic_style_usage_adds_cache_counts_when_excluded():
    obj = {
        "call_type": "acompletion",
        "startTime": 1_764_000_000.0,
        "endTime": 1_764_000_001.5,
        "model": "claude-sonnet-4-5",
        "response_cost": 0.01,
        "status": "success",
        "response": {
            "usage": {
                "prompt_tokens": 10,
                "completion_tokens": 5,
                "cache_read_input_tokens": 900,
                "cache_creation_input_tokens": 100,
            }
        },
    }
    r = BY_NAME["litellm_payload"].parse(obj, {})
    assert (r.input_tokens, r.cache_read_tokens, r.cache_write_5m_tokens) == (1010, 900, 100)
    assert r.latency_ms == pytest.approx(1500)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_764_000_000, 1_764_000_000_000_000),
        (1_764_000_000_123, 1_764_000_000_123_000),  # milliseconds
        ("1764000000.5", 1_764_000_000_500_000),
        ("2025-11-24T16:00:00Z", 1_764_000_000_000_000),
        ("2025-11-24T17:00:00+01:00", 1_764_000_000_000_000),
        ("2025-11-24 16:00:00", 1_764_000_000_000_000),  # naive = UTC
    ],
)
def test_timestamps(value, expected):
    assert timestamp_us(value) == expected


@pytest.mark.parametrize("bad", ["yesterday", "2025-13-45", True, -5, {"t": 1}])
def test_bad_timestamps(bad):
    with pytest.raises(RecordError, match="unparseable timestamp"):
        timestamp_us(bad)


def test_text_of_strips_cache_markers_and_joins_blocks():
    plain = text_of([{"type": "text", "text": "a"}, {"type": "image", "source": {"data": "x"}}])
    marked = text_of(
        [
            {"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}},
            {"type": "image", "source": {"data": "x"}, "cache_control": {"type": "ephemeral"}},
        ]
    )
    assert plain == marked and plain.startswith("a\n")


def test_claude_code_transcript():
    source, reqs = parsed(SAMPLES / "claude_code_session.jsonl")
    assert source.name == "claude_code"
    calls = [r for r in reqs if r is not None]
    assert len(calls) == 5 and len(reqs) == 12  # user turns and the summary are not API calls
    first = calls[0]
    assert (first.request_id, first.model, first.input_tokens, first.output_tokens) == (
        "msg_002:req_001",
        "claude-3-sonnet-20240229",
        25,
        120,
    )
    assert first.conversation_id == "test_session" and first.project == "/tmp"


def test_claude_code_cache_fields_and_reported_cost():
    _, reqs = parsed(SAMPLES / "claude_code_ccusage.jsonl")
    a = reqs[0]
    # usage: 100 uncached + 10 read + 25 written
    assert (a.input_tokens, a.cache_read_tokens, a.cache_write_5m_tokens, a.reported_cost) == (135, 10, 25, 0.12)


def test_claude_code_repeated_content_block_lines_are_one_call(store, tmp_path):
    import json

    line = json.loads((SAMPLES / "claude_code_ccusage.jsonl").read_text().splitlines()[0])
    side = dict(line, isSidechain=True, message={**line["message"], "id": "msg-side"})
    synthetic = dict(line, message={**line["message"], "id": "msg-syn", "model": "<synthetic>"})
    f = tmp_path / "session.jsonl"
    f.write_text("\n".join(json.dumps(x) for x in (line, line, line, side, synthetic)) + "\n")
    result = store.ingest([str(f)])
    assert result.rows == 2 and result.files[0].duplicates == 2
    tags = store.con.execute("SELECT tags FROM requests ORDER BY request_id").fetchall()
    assert tags == [(None,), (["sidechain"],)]


def _reply_lines(mid: str, rid: str, outputs: list[int], ts: str) -> list[dict]:
    """A Claude Code reply as 2.1.x writes it: one line per content block, the same input and cache counts on
    each, a placeholder output count on all but the last line."""
    usage = {"input_tokens": 3, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1000}
    return [
        {
            "type": "assistant",
            "sessionId": "s1",
            "requestId": rid,
            "timestamp": ts,
            "message": {
                "id": mid,
                "role": "assistant",
                "model": "claude-haiku-4-5-20251001",
                "usage": {**usage, "output_tokens": out},
                "content": [{"type": "text", "text": f"block {n}"}],
            },
        }
        for n, out in enumerate(outputs)
    ]


def _claude_code_replies(tmp_path, copies: int = 1):
    import json

    # ids shaped as Anthropic's (random): a repeat in another file is the same call, not another
    a = _reply_lines("msg_01AxK7q2Vb9TzQe4", "req_011CXy5Fh3Wm8Lp2", [1, 1, 150], "2026-02-10T10:00:00Z")
    b = _reply_lines("msg_01BwR3n8Jc5UsDk7", "req_011CZa9Gt6Qv1Nr4", [5, 80], "2026-02-10T10:01:00Z")
    tool_result = {"type": "user", "sessionId": "s1", "message": {"role": "user", "content": "ok"}}
    lines = [a[0], a[1], tool_result, b[0], a[2], b[1]]  # a tool result between the lines of one reply
    paths = []
    for n in range(copies):  # a resumed session copies the replies into another file: one call each still
        f = tmp_path / f"session{n}.jsonl"
        f.write_text("".join(json.dumps(x) + "\n" for x in lines * 40 if x is not tool_result or n == 0))
        paths.append(f)
    return paths


@pytest.mark.parametrize("batch_rows", [5_000, 2])
def test_claude_code_keeps_the_last_line_of_a_reply(store, tmp_path, monkeypatch, batch_rows):
    """Issue 20, defect 2: the last line of a reply holds its final output count, whichever batch it falls in; a
    copy of the reply in another file stays a duplicate of the first file's call."""
    from analyzer.ingest import batches

    monkeypatch.setattr(batches, "BATCH_ROWS", batch_rows)
    paths = _claude_code_replies(tmp_path, copies=2)
    result = store.ingest([str(p) for p in paths])
    rows = store.con.execute(
        "SELECT request_id, input_tokens, cache_read_tokens, cache_write_5m_tokens, output_tokens FROM requests "
        "ORDER BY request_id"
    ).fetchall()
    assert rows == [
        ("msg_01AxK7q2Vb9TzQe4:req_011CXy5Fh3Wm8Lp2", 1103, 1000, 100, 150),
        ("msg_01BwR3n8Jc5UsDk7:req_011CZa9Gt6Qv1Nr4", 1103, 1000, 100, 80),
    ]
    assert result.rows == 2
    assert [f.rows for f in result.files] == [2, 0]
    assert [f.duplicates for f in result.files] == [40 * 5 - 2, 40 * 5]


def test_claude_code_last_line_wins_across_parallel_ranges(tmp_path, monkeypatch):
    from analyzer.backends.local import Local
    from analyzer.ingest import run
    from analyzer.store import Store

    monkeypatch.setattr(run, "RANGE_BYTES", 2048)
    monkeypatch.setattr(run, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(run, "POOL_FILE_BYTES", 0)
    (path,) = _claude_code_replies(tmp_path)
    pool = Local(2)
    s = Store()
    try:
        s.ingest([str(path)], backend=pool)
        rows = s.con.execute("SELECT request_id, output_tokens FROM requests ORDER BY request_id").fetchall()
    finally:
        s.close()
        pool.close()
    assert rows == [
        ("msg_01AxK7q2Vb9TzQe4:req_011CXy5Fh3Wm8Lp2", 150),
        ("msg_01BwR3n8Jc5UsDk7:req_011CZa9Gt6Qv1Nr4", 80),
    ]


def test_claude_code_reply_with_ids_that_do_not_look_random_is_still_one_call(store, tmp_path):
    """Ids that do not look random get the record's fingerprint in their identity (issue 23): within one Claude
    Code file the lines of a reply differ in output_tokens, yet stay one call, the last one."""
    import json

    lines = _reply_lines("msg_a", "req_a", [1, 1, 150], "2026-02-10T10:00:00Z")
    f = tmp_path / "session.jsonl"
    f.write_text("".join(json.dumps(x) + "\n" for x in lines))
    store.ingest([str(f)])
    assert store.con.execute("SELECT request_id, output_tokens FROM requests").fetchall() == [("msg_a:req_a", 150)]


def test_claude_code_transcript_read_again_after_it_grew_keeps_the_final_counts(tmp_path):
    """A transcript ingested while a reply was being written holds that reply's placeholder count; read again
    after it grew (another reading of the same path), the reply's row moves to the new reading with the final
    count, once. A copy at another path stays a duplicate."""
    import json

    from analyzer.store import Store

    a = _reply_lines("msg_01AxK7q2Vb9TzQe4", "req_011CXy5Fh3Wm8Lp2", [1, 1, 150], "2026-02-10T10:00:00Z")
    b = _reply_lines("msg_01BwR3n8Jc5UsDk7", "req_011CZa9Gt6Qv1Nr4", [5, 80], "2026-02-10T10:01:00Z")
    f = tmp_path / "session.jsonl"
    db = tmp_path / "usage.duckdb"
    f.write_text("".join(json.dumps(x) + "\n" for x in a[:2]))  # reply a still streaming
    for lines in (a[:2], a + b[:1], a + b):  # the file grows twice; each reading is its own run
        f.write_text("".join(json.dumps(x) + "\n" for x in lines))
        s = Store(str(db))
        try:
            s.ingest([str(f)])
        finally:
            s.close()
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "session.jsonl").write_text(f.read_text())
    s = Store(str(db))
    try:
        res = s.ingest([str(tmp_path / "copy" / "session.jsonl")])
        rows = s.con.execute("SELECT request_id, output_tokens FROM requests ORDER BY request_id").fetchall()
        per_source = s.con.execute("SELECT sum(rows) FROM sources").fetchone()[0]
    finally:
        s.close()
    assert rows == [
        ("msg_01AxK7q2Vb9TzQe4:req_011CXy5Fh3Wm8Lp2", 150),
        ("msg_01BwR3n8Jc5UsDk7:req_011CZa9Gt6Qv1Nr4", 80),
    ]
    assert res.rows == 0 and per_source == 2


def test_batch_output_of_vllm_run_batch_before_status_and_body():
    """Issue 20: vLLM's `run_batch` (May 2024, its README's real output) wrote the completion itself under
    `response`, without OpenAI's `status_code` / `body` wrapper: read it as the body, not a reject."""
    case = Path(__file__).resolve().parent / "conformance" / "openai_batch_input" / "vllm_run_batch_example"
    ctx: dict = {}
    parsed(case / "openai_example_batch.jsonl", ctx=ctx)
    source, reqs = parsed(case / "results.jsonl", ctx=ctx)
    assert source.name == "openai_batch_output"
    assert [(r.model, r.input_tokens, r.output_tokens, r.batch) for r in reqs] == [
        ("meta-llama/Meta-Llama-3-8B-Instruct", 25, 31, True),
        ("meta-llama/Meta-Llama-3-8B-Instruct", 27, 5, True),
    ]
    assert reqs[1].messages[0] == ("system", "You are an unhelpful assistant.", False)


def test_breakpoints_count_the_blocks_that_carry_cache_control():
    """Anthropic's maximum of 4 breakpoints counts blocks with cache_control (its 400 says "A maximum of 4 blocks
    with cache_control may be provided. Found 5."): two marked tools are two on the tools entry, a message sent as
    two marked blocks two on that message; a top-level cache_control marks the last block, one more unless that
    block already carries one. Bedrock's cachePoint blocks count the same way."""
    from analyzer.sources.anthropic import anthropic_messages
    from analyzer.sources.bedrock_invoke import converse_messages

    cc, cc1h = {"type": "ephemeral"}, {"type": "ephemeral", "ttl": "1h"}
    tools = [{"name": n, "input_schema": {}, "cache_control": cc1h} for n in "ab"]
    two = [{"type": "text", "text": "x", "cache_control": cc}, {"type": "text", "text": "y", "cache_control": cc}]
    req = {
        "tools": tools,
        "system": "S",
        "messages": [{"role": "user", "content": two}, {"role": "user", "content": "q"}],
    }
    bps: dict = {}
    blocks: dict = {}
    anthropic_messages(req, bps, blocks)
    assert bps == {0: "1h", 2: "5m"} and blocks == {0: 2, 2: 2}  # 4 blocks on 2 entries
    bps, blocks = {}, {}
    anthropic_messages({**req, "cache_control": cc}, bps, blocks)  # automatic: the last message, a fifth block
    assert bps == {0: "1h", 2: "5m", 3: "5m"} and blocks == {0: 2, 2: 2}
    last_marked = {**req, "messages": [{"role": "user", "content": two}], "cache_control": cc}
    bps, blocks = {}, {}
    anthropic_messages(last_marked, bps, blocks)  # the automatic breakpoint lands on a block already marked
    assert bps == {0: "1h", 2: "5m"} and blocks == {0: 2, 2: 2}
    first_marked = {**last_marked, "messages": [{"role": "user", "content": [two[0], {"type": "text", "text": "z"}]}]}
    bps, blocks = {}, {}
    anthropic_messages(first_marked, bps, blocks)  # on the message's first block, then the automatic on its last
    assert bps == {0: "1h", 2: "5m"} and blocks == {0: 2, 2: 2}

    point = {"cachePoint": {"type": "default"}}
    conv = {
        "toolConfig": {"tools": [{"toolSpec": {"name": "a"}}, point]},
        "system": [{"text": "S"}, point],
        "messages": [{"role": "user", "content": [{"text": "x"}, point, {"text": "y"}, point]}],
    }
    bps, blocks = {}, {}
    converse_messages(conv, bps, blocks)
    assert bps == {0: "5m", 1: "5m", 2: "5m"} and blocks == {2: 2}
