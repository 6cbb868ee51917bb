"""Request-level sources added for real usage data: Bedrock Converse, Gemini generateContent, Codex CLI sessions,
the Langfuse ingestion batch. Totals are checked by hand (tokens x the catalogue's per-token rates, quoted
from `llmcost prices MODEL`), and broken records are rejected with a reason while the rest load."""

from __future__ import annotations

import json

import pytest

from analyzer.cli import cli
from tests.conftest import SAMPLES, SHARED, write_jsonl

M = 1e-6  # rates below are USD per million tokens


def report(runner, *paths):
    res = runner.invoke(cli, ["report", *map(str, paths), "--json", "-"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_bedrock_converse_sample_by_hand(runner):
    t = report(runner, SAMPLES / "bedrock_converse.jsonl")["totals"]
    # us.anthropic.claude-sonnet-4-5-20250929-v1:0: input 3.30, cache read 0.33, 5m write 4.125, output 16.50
    assert (t["requests"], t["input_tokens"], t["cache_read_tokens"], t["cache_write_5m_tokens"]) == (
        2,
        2 * (2 + 1322),
        1322,
        1322,
    )
    write_call = 2 * 3.30 * M + 1322 * 4.125 * M + 5 * 16.50 * M
    read_call = 2 * 3.30 * M + 1322 * 0.33 * M + 5 * 16.50 * M
    assert t["cost_usd"] == pytest.approx(write_call + read_call)


def test_bedrock_model_from_recorded_uri_and_cache_points(store, tmp_path):
    if not SHARED.exists():
        pytest.skip("../shared/samples not present")
    store.ingest([str(SHARED / "bedrock_converse/converse_cache_write_and_read_pairs.json")])
    model, latency = store.con.execute("SELECT model, latency_ms FROM requests ORDER BY latency_ms DESC").fetchone()
    assert model == "us.anthropic.claude-sonnet-4-5-20250929-v1:0" and latency == 2023
    bps = store.con.execute("SELECT count(*) FROM messages WHERE breakpoint = '5m'").fetchone()[0]
    assert bps == 2 * 3  # tools, system and the user turn each carry a cachePoint, in both calls
    texts = [r[0] for r in store.con.execute("SELECT text FROM contents").fetchall()]
    assert not any("cachePoint" in t for t in texts)


def test_gemini_sample_by_hand(runner):
    t = report(runner, SAMPLES / "gemini_generate_content.jsonl")["totals"]
    # gemini-2.5-flash: input 0.30, cache read 0.03, output (thinking included) 2.50
    assert t["requests"] == 3  # the cachedContents creation is not a generation
    assert (t["input_tokens"], t["cache_read_tokens"]) == (9 + 3520 + 3520, 3512 * 2)
    assert (t["output_tokens"], t["reasoning_tokens"]) == (9 + 34 + 2 + 42 + 2 + 51, 34 + 42 + 51)
    plain = 9 * 0.30 * M + (9 + 34) * 2.50 * M
    cached = 2 * (8 * 0.30 * M + 3512 * 0.03 * M) + (2 + 42 + 2 + 51) * 2.50 * M
    assert t["cost_usd"] == pytest.approx(plain + cached)


def test_codex_session_per_call_deltas_by_hand(runner):
    rep = report(runner, SAMPLES / "codex_session.jsonl")
    t = rep["totals"]
    assert (t["requests"], t["input_tokens"], t["cache_read_tokens"], t["output_tokens"], t["reasoning_tokens"]) == (
        2,
        1000 + 2500,
        250 + 500,
        125 + 300,
        75 + 200,
    )
    # gpt-5.2-codex and gpt-5.3-codex: input 1.75, cache read 0.175, output 14.00
    c1 = 750 * 1.75 * M + 250 * 0.175 * M + 125 * 14 * M
    c2 = 2000 * 1.75 * M + 500 * 0.175 * M + 300 * 14 * M
    assert t["cost_usd"] == pytest.approx(c1 + c2)
    assert {m["model"] for m in rep["by_model"]} == {"gpt-5.2-codex", "gpt-5.3-codex"}


def _codex(ts, usage=None, total=None, model=None, kind="token_count"):
    info = {}
    if usage is not None:
        info["last_token_usage"] = usage
    if total is not None:
        info["total_token_usage"] = total
    if model:
        info["model"] = model
    return {"timestamp": ts, "type": "event_msg", "payload": {"type": kind, "info": info}}


def u(i, c=0, o=0, r=0):
    return {"input_tokens": i, "cached_input_tokens": c, "output_tokens": o, "reasoning_output_tokens": r}


def test_codex_cumulative_totals_become_deltas_per_file_and_repeats_are_no_call(store, tmp_path):
    lines = [
        {"timestamp": "2026-05-13T09:00:00Z", "type": "turn_context", "payload": {"model": "gpt-5"}},
        _codex("2026-05-13T09:01:00Z", total=u(1200, 200, 500)),
        _codex("2026-05-13T09:02:00Z", total=u(1200, 200, 500)),  # the same totals again: no new call
        _codex("2026-05-13T09:03:00Z", total=u(2000, 300, 800, 10)),
    ]
    write_jsonl(tmp_path / "a.jsonl", lines)
    write_jsonl(tmp_path / "b.jsonl", lines[:2])  # another session starts from zero, not from a.jsonl's totals
    store.ingest([str(tmp_path)])
    rows = store.con.execute(
        "SELECT conversation_id, input_tokens, cache_read_tokens, output_tokens, reasoning_tokens FROM requests "
        "ORDER BY conversation_id, ts"
    ).fetchall()
    assert rows == [("a", 1200, 200, 500, 0), ("a", 800, 100, 300, 10), ("b", 1200, 200, 500, 0)]


def test_codex_event_written_twice_is_one_call_and_a_dropped_total_still_counts(store, tmp_path):
    """Codex writes each token_count twice (same last and same total usage): the repeat is no call (issue 20,
    defect 1; the real files are in tests/conformance/codex_session). A total that drops (a resumed or compacted
    session) moved, so its call counts."""
    first = _codex("2026-05-13T09:01:00Z", usage=u(1000, 200, 50, 20), total=u(1000, 200, 50, 20))
    again = dict(first, timestamp="2026-05-13T09:01:01Z")
    second = _codex("2026-05-13T09:02:00Z", usage=u(1500, 900, 30), total=u(2500, 1100, 80, 20))
    reset = _codex("2026-05-13T09:03:00Z", usage=u(400, 0, 10), total=u(400, 0, 10))
    lines = [
        {"timestamp": "2026-05-13T09:00:00Z", "type": "turn_context", "payload": {"model": "gpt-5"}},
        first,
        again,
        second,
        dict(second, timestamp="2026-05-13T09:02:02Z"),
        reset,
    ]
    write_jsonl(tmp_path / "s.jsonl", lines)
    store.ingest([str(tmp_path / "s.jsonl")])
    rows = store.con.execute(
        "SELECT input_tokens, cache_read_tokens, output_tokens, reasoning_tokens FROM requests ORDER BY ts"
    ).fetchall()
    assert rows == [(1000, 200, 50, 20), (1500, 900, 30, 0), (400, 0, 10, 0)]


def test_codex_without_a_model_is_unpriced_not_guessed(runner, tmp_path):
    f = write_jsonl(tmp_path / "s.jsonl", [_codex("2026-05-13T09:01:00Z", usage=u(100, 0, 10))])
    rep = report(runner, f)
    assert rep["totals"]["unpriced_requests"] == 1 and rep["unpriced"][0]["model"] == "unknown"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (_codex("2026-05-13T09:01:00Z", usage=u(-1)), "negative"),
        (_codex("2026-05-13T09:01:00Z", usage=u(10, 50)), "exceed input"),
        (_codex("not a time", usage=u(10), model="gpt-5"), "unparseable timestamp"),
        (
            {"timestamp": "2026-05-13T09:01:00Z", "type": "event_msg", "payload": {"type": "token_count", "info": 7}},
            "not an object",
        ),
    ],
)
def test_codex_bad_lines_are_rejected(store, tmp_path, line, reason):
    good = _codex("2026-05-13T09:00:00Z", usage=u(10, 0, 1), model="gpt-5")
    write_jsonl(tmp_path / "s.jsonl", [good, line])
    res = store.ingest([str(tmp_path / "s.jsonl")], fmt="codex_session")
    assert res.rows == 1 and res.rejected == 1
    assert reason in store.con.execute("SELECT reason FROM rejects").fetchone()[0]


def test_langfuse_batch_sample_by_hand(runner):
    rep = report(runner, SAMPLES / "langfuse_ingestion_batch.json")
    t = rep["totals"]
    assert (t["requests"], t["input_tokens"], t["output_tokens"]) == (1, 10, 20)
    assert t["cost_usd"] == pytest.approx(10 * 0.50 * M + 20 * 1.50 * M)  # gpt-3.5-turbo
    assert t["reported_cost_usd"] == pytest.approx(5.4999999999999995e-05)  # what LiteLLM told Langfuse


def test_langfuse_usage_details_trace_session_and_bad_generation(store, tmp_path):
    batch = {
        "batch": [
            {"id": "t", "type": "trace-create", "body": {"id": "tr1", "sessionId": "s-9", "userId": "u-1"}},
            {
                "id": "g1",
                "type": "generation-create",
                "body": {
                    "id": "gen-1",
                    "traceId": "tr1",
                    "model": "gpt-4o",
                    "startTime": "2025-06-01T10:00:00Z",
                    "endTime": "2025-06-01T10:00:02Z",
                    "usageDetails": {"input": 700, "input_cached_tokens": 300, "output": 50},
                    "costDetails": {"input": 0.001, "output": 0.0005},
                },
            },
            {
                "id": "g2",
                "type": "generation-create",
                "body": {"id": "gen-2", "model": "gpt-4o", "usage": {"input": -3}},
            },
            {"id": "s", "type": "span-create", "body": {"id": "sp"}},
        ]
    }
    (tmp_path / "b.json").write_text(json.dumps(batch))
    res = store.ingest([str(tmp_path / "b.json")])
    assert res.rows == 1 and res.rejected == 1
    row = store.con.execute(
        'SELECT conversation_id, "user", input_tokens, cache_read_tokens, output_tokens, reported_cost, latency_ms '
        "FROM requests"
    ).fetchone()
    assert row == ("s-9", "u-1", 1000, 300, 50, pytest.approx(0.0015), 2000.0)
    loc, why = store.con.execute("SELECT location, reason FROM rejects").fetchone()
    assert loc.endswith("batch[2]") and "negative" in why


def test_gemini_and_bedrock_bad_records(store, tmp_path):
    gem = {
        "request": {"contents": []},
        "response": {
            "modelVersion": "gemini-2.5-flash",
            "usageMetadata": {"promptTokenCount": 5, "cachedContentTokenCount": 9},
        },
    }
    gem_ok = {
        "request": {"contents": []},
        "response": {"modelVersion": "gemini-2.5-flash", "usageMetadata": {"promptTokenCount": 5}},
    }
    bed = {"request": {"messages": []}, "response": {"output": {}, "usage": {"inputTokens": 1, "outputTokens": 1}}}
    bed_ok = dict(bed, modelId="anthropic.claude-3-haiku-20240307-v1:0")
    write_jsonl(tmp_path / "g.jsonl", [gem_ok, gem])
    write_jsonl(tmp_path / "b.jsonl", [bed_ok, bed])
    res = store.ingest([str(tmp_path)])
    assert res.rows == 2 and res.rejected == 2
    reasons = sorted(r[0] for r in store.con.execute("SELECT reason FROM rejects").fetchall())
    assert "exceed input" in reasons[0] and "no model id" in reasons[1]


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/samples not present")
def test_every_shared_sample_folder_is_read(runner, tmp_path):
    for folder in sorted(p for p in SHARED.iterdir() if p.is_dir()):
        res = runner.invoke(cli, ["ingest", str(folder), "--db", str(tmp_path / f"{folder.name}.db"), "--json"])
        assert res.exit_code == 0, (folder, res.output)
        files = json.loads(res.stdout)["files"]
        skipped = [f["path"] for f in files if f["skipped"]]
        assert not skipped, skipped
        assert all(f["rejected"] == 0 for f in files), folder


# ---- OpenTelemetry GenAI spans (sample made with the real SDK by tests/fixtures/build_otel_genai_sample.py) ----


def test_otel_genai_sample_by_hand(runner):
    rep = report(runner, SAMPLES / "otel_genai_spans.jsonl")
    t = rep["totals"]
    # 6 LLM spans (one failed: counted, not billed); the HTTP span is not a call
    assert (t["requests"], t["error_requests"]) == (6, 1)
    assert t["input_tokens"] == 31 + 62 + 2500 + 2100 + 33
    assert (t["cache_read_tokens"], t["cache_write_5m_tokens"]) == (2048, 2048)
    by = {m["model"]: m for m in rep["by_model"]}
    # mistral-small-latest (gen_ai.provider.name mistral_ai, OpenInference's mistralai), at the prices in force on
    # the spans' day (`llmcost prices mistral-small-latest --provider mistral --on 2025-11-27`): 0.10 in / 0.30 out
    mistral = (31 + 62 + 33) * 0.10 * M + (14 + 21 + 16) * 0.30 * M
    assert by["mistral-small-latest"]["cost_usd"] == pytest.approx(mistral)
    assert by["mistral-small-latest"]["provider"] == "mistral"
    # gpt-4.1-mini-2025-04-14: 0.40 in, 0.10 cache read, 1.60 out
    assert by["gpt-4.1-mini-2025-04-14"]["cost_usd"] == pytest.approx(452 * 0.4 * M + 2048 * 0.1 * M + 300 * 1.6 * M)
    # claude-3-7-sonnet-20250219 from the older gen_ai.system: 3.00 in, 3.75 5m write, 15.00 out
    sonnet = by["claude-3-7-sonnet-20250219"]
    assert sonnet["provider"] == "anthropic"
    assert sonnet["cost_usd"] == pytest.approx(52 * 3.0 * M + 2048 * 3.75 * M + 150 * 15.0 * M)


def test_otel_spans_carry_conversation_messages_and_openinference_fields(store):
    store.ingest([str(SAMPLES / "otel_genai_spans.jsonl")])
    conv = store.con.execute(
        "SELECT conversation_id, n_messages FROM requests WHERE request_id = 'cmpl-otel-2'"
    ).fetchone()
    assert conv == ("conv-nw-1042", 4)  # system instructions + three input messages
    oi = store.con.execute(
        "SELECT model, provider, \"user\", n_messages, latency_ms FROM requests WHERE conversation_id = 'sess-77'"
    ).fetchone()
    assert oi == ("mistral-small-latest", "mistral", "u-5", 2, 1300.0)


def test_openinference_cache_counts_are_inside_the_prompt_count(store, tmp_path):
    attrs = {
        "llm.model_name": "gpt-4o",
        "llm.provider": "openai",
        "llm.token_count.prompt": 3000,
        "llm.token_count.prompt_details.cache_read": 2048,
        "llm.token_count.prompt_details.cache_write": 512,
        "llm.token_count.completion": 40,
        "llm.token_count.completion_details.reasoning": 12,
    }
    write_jsonl(tmp_path / "t.jsonl", [_otlp(_span(**attrs))])
    store.ingest([str(tmp_path / "t.jsonl")])
    row = store.con.execute(
        "SELECT input_tokens, cache_read_tokens, cache_write_5m_tokens, output_tokens, reasoning_tokens FROM requests"
    ).fetchone()
    assert row == (3000, 2048, 512, 40, 12)


def _otlp(*spans):
    return {"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {}, "spans": list(spans)}]}]}


def _span(**attrs):
    kv = [
        {"key": k, "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}}
        for k, v in attrs.items()
    ]
    return {
        "traceId": "ab",
        "spanId": "cd",
        "name": "chat",
        "startTimeUnixNano": "1764259200000000000",
        "endTimeUnixNano": "1764259201000000000",
        "attributes": kv,
    }


@pytest.mark.parametrize(
    ("span", "reason"),
    [
        (_span(**{"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 1}), "no model"),
        (_span(**{"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": "x"}), "not a whole number"),
        (
            _span(
                **{
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.input_tokens": 5,
                    "gen_ai.usage.cache_read.input_tokens": 9,
                }
            ),
            "exceed input",
        ),
        (
            _span(
                **{
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.input_tokens": 5,
                    "gen_ai.input.messages": "[not json",
                }
            ),
            "not JSON",
        ),
    ],
)
def test_bad_otel_spans_are_rejected_with_their_place(store, tmp_path, span, reason):
    good = _span(**{"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 5, "gen_ai.usage.output_tokens": 1})
    write_jsonl(tmp_path / "t.jsonl", [_otlp(good, span)])
    res = store.ingest([str(tmp_path / "t.jsonl")])
    assert res.rows == 1 and res.rejected == 1
    loc, why = store.con.execute("SELECT location, reason FROM rejects").fetchone()
    assert reason in why and loc.endswith("spans[1]")


# ---- llm's logs.db (SQLite) ------------------------------------------------------------------------------------


def test_llm_logs_db_sample_by_hand(runner):
    rep = report(runner, SAMPLES / "llm_logs.db")
    t = rep["totals"]
    assert (t["requests"], t["input_tokens"], t["output_tokens"]) == (3, 29 + 28 + 32, 9 + 12 + 12)
    # gpt-4.1-nano-2025-04-14: 0.10 in / 0.40 out; claude-3-5-haiku-20241022: 0.80 in / 4.00 out
    assert t["cost_usd"] == pytest.approx((29 + 28) * 0.1 * M + (9 + 12) * 0.4 * M + 32 * 0.8 * M + 12 * 4.0 * M)
    assert rep["conversations"]["threads"] == 2


def test_llm_token_details_cached_counts(store, tmp_path):
    rows = [
        (
            "a",
            "gpt-4o",
            "hi",
            None,
            "ok",
            "c",
            5,
            "2025-11-28T09:00:00",
            2000,
            5,
            json.dumps({"prompt_tokens_details": {"cached_tokens": 1024}}),
        ),
        (
            "b",
            "claude-3-5-haiku-20241022",
            "hi",
            None,
            "ok",
            "d",
            5,
            "2025-11-28T09:00:01",
            40,
            5,
            json.dumps({"cache_read_input_tokens": 1100, "cache_creation_input_tokens": 60}),
        ),
    ]
    store.ingest([str(_llm_db(tmp_path / "logs.db", rows))])
    got = store.con.execute(
        "SELECT input_tokens, cache_read_tokens, cache_write_5m_tokens FROM requests ORDER BY request_id"
    ).fetchall()
    assert got == [(2000, 1024, 0), (40 + 1100 + 60, 1100, 60)]  # OpenAI's inside the input, Anthropic's added


def _llm_db(path, rows):
    import sqlite3

    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE responses (id TEXT PRIMARY KEY, model TEXT, prompt TEXT, system TEXT, response TEXT, "
        "conversation_id TEXT, duration_ms INTEGER, datetime_utc TEXT, input_tokens INTEGER, output_tokens INTEGER, "
        "token_details TEXT)"
    )
    con.executemany("INSERT INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    return path


def test_llm_rows_without_usage_or_with_bad_fields_are_rejected(store, tmp_path):
    ok = ("a", "gpt-4o", "hi", None, "hello", "c", 5, "2025-11-28T09:00:00", 10, 2, None)
    rows = [
        ok,
        ("b", "gpt-4o", "hi", None, "x", "c", 5, "2025-11-28T09:00:01", None, None, None),
        ("c", "gpt-4o", "hi", None, "x", "c", 5, "yesterday", 10, 2, None),
        ("d", "gpt-4o", "hi", None, "x", "c", 5, "2025-11-28T09:00:02", 10, 2, "{broken"),
        ("e", "gpt-4o", "hi", None, "x", "c", 5, "2025-11-28T09:00:03", -1, 2, None),
    ]
    db = _llm_db(tmp_path / "logs.db", rows)
    res = store.ingest([str(db)])
    assert res.rows == 1 and res.rejected == 4
    reasons = [r[0] for r in store.con.execute("SELECT reason FROM rejects ORDER BY line").fetchall()]
    assert "no input_tokens/output_tokens" in reasons[0] and "unparseable" in reasons[1]
    assert "not JSON" in reasons[2] and "negative" in reasons[3]
    loc = store.con.execute("SELECT location FROM rejects ORDER BY line").fetchone()[0]
    assert loc.endswith("logs.db:responses[rowid 2]")


def _llm_032_db(path, turns, messages=(), parts=(), responses=()):
    """A logs.db with llm 0.32+'s tables as its migration m023 (and m027) creates them; `responses` as before."""
    import sqlite3

    _llm_db(path, list(responses))
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE messages (hash TEXT PRIMARY KEY, parent_hash TEXT, role TEXT, provider_metadata TEXT);"
        "CREATE TABLE parts (id INTEGER PRIMARY KEY, message_hash TEXT, position INTEGER, type TEXT, "
        "tool_name TEXT, text TEXT, payload TEXT);"
        "CREATE TABLE fragments (id INTEGER PRIMARY KEY, hash TEXT, content TEXT, datetime_utc TEXT, source TEXT);"
        'CREATE TABLE part_fragments (part_id INTEGER, fragment_id INTEGER, "order" INTEGER);'
        "CREATE TABLE threads (id TEXT PRIMARY KEY, name TEXT, tip_message_hash TEXT, forked_from TEXT, "
        "datetime_utc TEXT);"
        "CREATE TABLE turns (id TEXT PRIMARY KEY, thread_id TEXT, parent_message_hash TEXT, tip_message_hash TEXT, "
        "model TEXT, resolved_model TEXT, options_json TEXT, schema_id TEXT, input_tokens INTEGER, "
        "output_tokens INTEGER, token_details TEXT, duration_ms INTEGER, datetime_utc TEXT, response_json TEXT);"
    )
    con.executemany("INSERT INTO messages VALUES (?, ?, ?, NULL)", messages)
    con.executemany("INSERT INTO parts VALUES (?, ?, ?, ?, NULL, ?, NULL)", parts)
    con.executemany(
        "INSERT INTO turns (id, thread_id, parent_message_hash, tip_message_hash, model, resolved_model, "
        "input_tokens, output_tokens, token_details, duration_ms, datetime_utc, response_json) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        turns,
    )
    con.commit()
    con.close()
    return path


def test_llm_032_turns_and_old_responses_are_both_read_with_the_conversation(store, tmp_path):
    """Issue 20, defect 3: llm 0.32+ logs calls to `turns` (an upgraded database keeps its old calls in
    `responses`). A turn sends the whole chain of messages up to its parent and answers the rest; its model is
    resolved_model, else the one response_json names, else llm's id. (Real files: tests/conformance/llm_logs_db.)"""
    old = ("r1", "gpt-4o", "hi", None, "ok", "c0", 5, "2025-11-28T09:00:00", 10, 2, None)
    messages = [("m1", None, "user"), ("m2", "m1", "assistant"), ("m3", "m2", "user"), ("m4", "m3", "assistant")]
    parts = [(1, "m1", 0, "text", "Hello"), (2, "m2", 0, "text", "Hi"), (3, "m3", 0, "text", "More?")]
    parts += [(4, "m4", 0, "reasoning", "thinking"), (5, "m4", 1, "text", "Sure")]
    cached = json.dumps({"prompt_tokens_details": {"cached_tokens": 8, "cache_write_tokens": 0}})
    turns = [
        (
            "t1",
            "th",
            "m1",
            "m2",
            "anthropic/claude-sonnet-4-5",
            None,
            20,
            5,
            None,
            7,
            "2026-12-04T10:00:00+00:00",
            json.dumps({"model": "claude-sonnet-4-5-20250929"}),
        ),
        (
            "t2",
            "th",
            "m3",
            "m4",
            "gpt-4o",
            "gpt-4o-2024-08-06",
            30,
            9,
            cached,
            7,
            "2026-12-04T10:01:00+00:00",
            json.dumps({"model": "ignored-when-resolved"}),
        ),
    ]
    store.ingest([str(_llm_032_db(tmp_path / "logs.db", turns, messages, parts, [old]))])
    rows = store.con.execute(
        "SELECT request_id, model, conversation_id, input_tokens, cache_read_tokens, output_tokens, n_messages "
        "FROM requests ORDER BY ts"
    ).fetchall()
    assert rows == [
        ("r1", "gpt-4o", "c0", 10, 0, 2, 1),  # n_messages counts what the call sent
        ("t1", "claude-sonnet-4-5-20250929", "th", 20, 0, 5, 1),
        ("t2", "gpt-4o-2024-08-06", "th", 30, 8, 9, 3),
    ]
    sent = store.con.execute(
        "SELECT m.role, c.text, m.is_output FROM messages m JOIN contents c USING (content_id) "
        "WHERE request_id = 't2' ORDER BY position"
    ).fetchall()
    assert sent == [
        ("user", "Hello", False),
        ("assistant", "Hi", False),
        ("user", "More?", False),
        ("assistant", "thinking\nSure", True),
    ]


def test_an_llm_032_database_with_no_call_yet_is_read_not_called_not_json(runner, tmp_path):
    db = _llm_032_db(tmp_path / "logs.db", [])
    res = runner.invoke(cli, ["report", str(db), "--json", "-"])
    assert "not JSON" not in res.output and "Traceback" not in res.output


def test_a_sqlite_file_of_an_unknown_schema_says_so(runner, tmp_path):
    import sqlite3

    con = sqlite3.connect(tmp_path / "app.db")
    con.executescript("CREATE TABLE users (id INTEGER, name TEXT); CREATE TABLE orders (id INTEGER)")
    con.close()
    res = runner.invoke(cli, ["report", str(tmp_path / "app.db"), "--json", "-"])
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert "unknown schema" in res.output and "orders, users" in res.output and "not JSON" not in res.output


def test_other_sqlite_and_duckdb_files_in_a_folder_are_skipped(runner, tmp_path):
    import sqlite3

    import duckdb

    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE t (x)").connection.commit()
    duckdb.connect(str(tmp_path / "analytics.db")).close()
    write_jsonl(
        tmp_path / "calls.jsonl",
        [
            {
                "timestamp": 1_764_000_000,  # a time in 1970 is rejected at ingest (issue 14, case 5)
                "request": {"model": "gpt-4o", "messages": []},
                "response": {"model": "gpt-4o", "usage": {"prompt_tokens": 1, "completion_tokens": 1}},
            }
        ],
    )
    res = runner.invoke(cli, ["report", str(tmp_path), "--json", "-"])
    assert res.exit_code == 0, res.output
    assert "other.db" in res.stderr and "analytics.db" in res.stderr
    assert json.loads(res.stdout)["totals"]["requests"] == 1


# ---- Bedrock model invocation logging ---------------------------------------------------------------------------


def test_bedrock_invocation_log_sample_by_hand(runner):
    rep = report(runner, SAMPLES / "bedrock_invocation_log.jsonl")
    t = rep["totals"]
    assert (t["requests"], t["input_tokens"], t["cache_read_tokens"], t["cache_write_5m_tokens"]) == (
        2,
        2 * 1324,
        1322,
        1322,
    )
    # us.anthropic.claude-sonnet-4-5-20250929-v1:0: input 3.30, cache read 0.33, 5m write 4.125, output 16.50
    expected = 2 * 2 * 3.30 * M + 1322 * 4.125 * M + 1322 * 0.33 * M + 2 * 5 * 16.50 * M
    assert t["cost_usd"] == pytest.approx(expected)
    users = rep["by_attribution"]["user"]
    assert users[0]["value"].endswith("assumed-role/support-bot/session-1")


def _invocation(**over):
    rec = {
        "schemaType": "ModelInvocationLog",
        "timestamp": "2025-11-26T17:00:00Z",
        "requestId": "r1",
        "modelId": "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
        "input": {"inputTokenCount": 10},
        "output": {"outputTokenCount": 2},
    }
    rec.update(over)
    return rec


def test_bedrock_invocation_foundation_model_arn_and_bad_records(store, tmp_path):
    lines = [
        _invocation(),
        _invocation(requestId="r2", input={"inputTokenCount": -1}),
        _invocation(requestId="r3", modelId=None),
        _invocation(requestId="r4", input={}, output={}),
        _invocation(requestId="r5", timestamp="soon"),
    ]
    write_jsonl(tmp_path / "inv.jsonl", lines)
    res = store.ingest([str(tmp_path / "inv.jsonl")])
    assert res.rows == 1 and res.rejected == 4
    assert store.con.execute("SELECT model FROM requests").fetchone()[0] == "anthropic.claude-3-haiku-20240307-v1:0"
    reasons = [r[0] for r in store.con.execute("SELECT reason FROM rejects ORDER BY line").fetchall()]
    assert "negative" in reasons[0] and "no modelId" in reasons[1]
    assert "no input.inputTokenCount" in reasons[2] and "unparseable" in reasons[3]


def test_langfuse_observations_export_page(store, tmp_path):
    page = {
        "data": [
            {
                "id": "o1",
                "traceId": "t1",
                "type": "GENERATION",
                "model": "gpt-4o",
                "startTime": "2025-06-01T10:00:00Z",
                "usageDetails": {"input": 100, "output": 10},
                "costDetails": {"total": 0.0004},
            },
            {"id": "o2", "traceId": "t1", "type": "SPAN", "name": "retrieve"},
            {"id": "o3", "traceId": "t1", "type": "GENERATION", "usageDetails": {"input": 1}},
        ],
        "meta": {"page": 1, "limit": 50, "totalItems": 3, "totalPages": 1},
    }
    (tmp_path / "obs.json").write_text(json.dumps(page))
    res = store.ingest([str(tmp_path / "obs.json")])
    assert res.rows == 1 and res.rejected == 1
    row = store.con.execute(
        "SELECT conversation_id, input_tokens, output_tokens, reported_cost FROM requests"
    ).fetchone()
    assert row == ("t1", 100, 10, pytest.approx(0.0004))
    loc, why = store.con.execute("SELECT location, reason FROM rejects").fetchone()
    assert loc.endswith("data[2]") and "no model" in why


def test_gemini_calls_on_an_explicit_cache_keep_tokens_but_no_partial_messages(store):
    store.ingest([str(SAMPLES / "gemini_generate_content.jsonl")])
    rows = store.con.execute(
        "SELECT cache_read_tokens, n_messages FROM requests ORDER BY cache_read_tokens, request_id"
    ).fetchall()
    assert rows == [(0, 2), (3512, 0), (3512, 0)]  # the plain call has system + user; the cached ones none


# ---- Anthropic Message Batches results ----------------------------------------------------------------------------


def _batch_line(custom_id, result):
    return {"custom_id": custom_id, "result": result}


def test_anthropic_batch_results_at_batch_prices_failed_ones_apart(runner, tmp_path):
    """Constructed lines in the shape of the real results file (tests/fixtures/anthropic_batch_results.jsonl):
    a succeeded request with a 1-hour cache write and a cache read, then one errored, one expired and one
    canceled request, which Anthropic does not bill."""
    usage = {
        "input_tokens": 100,
        "cache_creation_input_tokens": 2000,
        "cache_read_input_tokens": 3000,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 2000},
        "output_tokens": 40,
        "service_tier": "batch",
    }
    message = {"id": "msg_1", "type": "message", "model": "claude-sonnet-4-5-20250929", "content": [], "usage": usage}
    error = {"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens too large"}}
    write_jsonl(
        tmp_path / "results.jsonl",
        [
            _batch_line("a", {"type": "succeeded", "message": message}),
            _batch_line("b", {"type": "errored", "error": error}),
            _batch_line("c", {"type": "expired"}),
            _batch_line("d", {"type": "canceled"}),
        ],
    )
    t = report(runner, tmp_path / "results.jsonl")["totals"]
    assert (t["requests"], t["error_requests"]) == (4, 3)
    assert (t["input_tokens"], t["cache_read_tokens"], t["cache_write_1h_tokens"], t["output_tokens"]) == (
        5100,
        3000,
        2000,
        40,
    )
    # Sonnet 4.5 at batch prices (half): input 1.50, 1h write 3.00, cache read 0.15, output 7.50 per MTok
    assert t["cost_usd"] == pytest.approx(100 * 1.50 * M + 2000 * 3.00 * M + 3000 * 0.15 * M + 40 * 7.50 * M)
    # the three unbilled lines carry no model: they cost $0 (known), they are not "unpriced"
    assert t["unpriced_requests"] == 0


def test_anthropic_batch_results_bad_lines_are_rejected(store, tmp_path):
    write_jsonl(
        tmp_path / "results.jsonl",
        [
            _batch_line("ok", {"type": "expired"}),
            _batch_line("no-message", {"type": "succeeded"}),
            _batch_line("no-usage", {"type": "succeeded", "message": {"model": "claude-sonnet-4-5", "content": []}}),
            _batch_line("odd", {"type": "succeeded", "message": {"model": "claude-sonnet-4-5", "usage": {"x": 1}}}),
            _batch_line("what", {"type": "pending"}),
        ],
    )
    res = store.ingest([str(tmp_path / "results.jsonl")])
    assert res.rows == 1 and res.rejected == 4
    reasons = [r[0] for r in store.con.execute("SELECT reason FROM rejects ORDER BY line").fetchall()]
    assert "no message" in reasons[0] and "no usage" in reasons[1]
    assert "not Anthropic's usage" in reasons[2] and "pending" in reasons[3]


# ---- Bedrock InvokeModel bodies ------------------------------------------------------------------------------------


def test_bedrock_invoke_model_real_recordings_by_family(store):
    """The real InvokeModel recordings of seven model families (OpenTelemetry botocore cassettes): the counts in
    Bedrock's X-Amzn-Bedrock-*-Token-Count headers, which Cohere and Mistral bodies lack."""
    res = store.ingest([str(SAMPLES.parent / "tests" / "fixtures" / "bedrock_invoke_model_pairs.json")])
    assert (res.rows, res.rejected) == (7, 0)
    rows = dict(
        (m, (i, o))
        for m, i, o in store.con.execute("SELECT model, input_tokens, output_tokens FROM requests").fetchall()
    )
    assert rows == {
        "amazon.nova-micro-v1:0": (5, 10),
        "amazon.titan-text-lite-v1": (5, 10),
        "anthropic.claude-v2": (14, 10),
        "cohere.command-r-v1:0": (5, 10),
        "cohere.command-light-text-v14": (5, 10),
        "meta.llama3-1-70b-instruct-v1:0": (5, 10),
        "mistral.mistral-7b-instruct-v0:2": (6, 10),
    }
    assert (
        store.con.execute("SELECT count(*) FROM requests WHERE provider = 'bedrock' AND ts IS NOT NULL").fetchone()[0]
        == 7
    )


def test_invoke_model_anthropic_body_in_a_converse_file_is_never_a_free_call(store, tmp_path):
    """A file detected as Converse holding an Anthropic body (usage.input_tokens): read by its uri as InvokeModel,
    and without a uri rejected with the reason, never 0 tokens."""
    converse = {
        "request": {"method": "POST", "uri": "https://x/model/amazon.nova-micro-v1%3A0/converse", "body": {}},
        "response": {"status": 200, "body": {"output": {}, "usage": {"inputTokens": 3, "outputTokens": 4}}},
    }
    anthropic_body = {"type": "message", "content": [], "usage": {"input_tokens": 392, "output_tokens": 135}}
    invoke = {
        "request": {"method": "POST", "uri": "https://x/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke"},
        "response": {"status": 200, "body": anthropic_body},
    }
    invoke["request"]["body"] = {"anthropic_version": "bedrock-2023-05-31", "messages": []}
    no_uri = {"modelId": "anthropic.claude-3-haiku-20240307-v1:0", "request": {}, "response": {"body": anthropic_body}}
    no_uri["response"] = anthropic_body
    write_jsonl(tmp_path / "mixed.jsonl", [converse, invoke, no_uri])
    res = store.ingest([str(tmp_path / "mixed.jsonl")])
    assert (res.rows, res.rejected) == (2, 1)
    got = store.con.execute("SELECT input_tokens, output_tokens FROM requests ORDER BY input_tokens").fetchall()
    assert got == [(3, 4), (392, 135)]
    reason = store.con.execute("SELECT reason FROM rejects").fetchone()[0]
    assert "not a Converse usage" in reason


def test_invocation_log_invoke_model_bodies_by_family(runner, tmp_path):
    """Invocation-log records without the metered counts: the InvokeModel response body is read by its family.
    Constructed records in the documented shapes (Anthropic, Nova, Titan, Llama, OpenAI-shaped Mistral)."""
    anthropic_usage = {
        "input_tokens": 20,
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 300,
        "output_tokens": 7,
    }
    bodies = {
        "us.anthropic.claude-3-5-sonnet-20240620-v1:0": {"type": "message", "content": [], "usage": anthropic_usage},
        "amazon.nova-micro-v1:0": {"output": {}, "usage": {"inputTokens": 11, "outputTokens": 12}},
        "amazon.titan-text-lite-v1": {"inputTextTokenCount": 5, "results": [{"tokenCount": 9, "outputText": "x"}]},
        "meta.llama3-1-70b-instruct-v1:0": {"generation": "x", "prompt_token_count": 6, "generation_token_count": 8},
        "mistral.mistral-large-2407-v1:0": {"choices": [], "usage": {"prompt_tokens": 13, "completion_tokens": 2}},
    }
    lines = [
        _invocation(requestId=m, modelId=m, operation="InvokeModel", input={}, output={"outputBodyJson": b})
        for m, b in bodies.items()
    ]
    write_jsonl(tmp_path / "inv.jsonl", lines)
    rep = report(runner, tmp_path / "inv.jsonl")
    t = rep["totals"]
    assert t["requests"] == 5
    assert t["input_tokens"] == 1320 + 11 + 5 + 6 + 13
    assert t["output_tokens"] == 7 + 12 + 9 + 8 + 2
    assert (t["cache_read_tokens"], t["cache_write_5m_tokens"]) == (1000, 300)
    by_model = {m["model"]: m for m in rep["by_model"]}
    # Claude 3.5 Sonnet on Bedrock (`llmcost prices`): input 3.00, 5m write 3.75, cache read 0.30, output 15.00 per MTok
    sonnet = by_model["us.anthropic.claude-3-5-sonnet-20240620-v1:0"]["cost_usd"]
    assert sonnet == pytest.approx(20 * 3.00 * M + 300 * 3.75 * M + 1000 * 0.30 * M + 7 * 15.00 * M)


def test_invocation_log_counts_win_body_fills_the_cache_and_unknown_shapes_are_rejected(store, tmp_path):
    anthropic_body = {
        "type": "message",
        "usage": {"input_tokens": 20, "cache_read_input_tokens": 1000, "output_tokens": 7},
    }
    lines = [
        # the record's metered counts, the body's cache read (the record has no cache field)
        _invocation(input={"inputTokenCount": 20}, output={"outputTokenCount": 7, "outputBodyJson": anthropic_body}),
        # an embedding: an input count alone is a whole call
        _invocation(requestId="e", input={"inputTokenCount": 4}, output={}),
        # output counted, input nowhere: rejected, not a call without input
        _invocation(requestId="x", input={}, output={"outputTokenCount": 3, "outputBodyJson": {"generations": []}}),
        # no count and a body of no known shape (Cohere Command without the headers): rejected
        _invocation(requestId="y", input={}, output={"outputBodyJson": {"generations": [{"text": "hi"}]}}),
        # a usage of an unknown shape
        _invocation(requestId="z", input={}, output={"outputBodyJson": {"usage": {"tokens": 5}}}),
    ]
    write_jsonl(tmp_path / "inv.jsonl", lines)
    res = store.ingest([str(tmp_path / "inv.jsonl")])
    assert (res.rows, res.rejected) == (2, 3)
    got = store.con.execute(
        "SELECT input_tokens, cache_read_tokens, output_tokens FROM requests ORDER BY input_tokens"
    ).fetchall()
    assert got == [(4, 0, 0), (1020, 1000, 7)]
    reasons = [r[0] for r in store.con.execute("SELECT reason FROM rejects ORDER BY line").fetchall()]
    assert all("no input.inputTokenCount" in r and "known shape" in r for r in reasons), reasons
    assert "body keys generations" in reasons[0] and "usage keys tokens" in reasons[2]


def test_invocation_log_streamed_bodies_without_counts(store, tmp_path):
    """InvokeModelWithResponseStream records whose outputBodyJson is the list of chunks (constructed, in the
    documented chunk shapes): Bedrock's amazon-bedrock-invocationMetrics, else Anthropic's message_start +
    message_delta usage; chunks without usage are rejected with the reason."""
    metrics = {"inputTokenCount": 12, "outputTokenCount": 30, "invocationLatency": 900, "firstByteLatency": 200}
    titan = [{"outputText": "a", "index": 0}, {"outputText": "b", "amazon-bedrock-invocationMetrics": metrics}]
    anthropic = [
        {"type": "message_start", "message": {"usage": {"input_tokens": 40, "cache_read_input_tokens": 500}}},
        {"type": "content_block_delta", "delta": {"text": "hi"}},
        {"type": "message_delta", "usage": {"output_tokens": 25}},
        {"type": "message_stop"},
    ]
    lines = [
        _invocation(requestId="t", input={}, output={"outputBodyJson": titan}),
        _invocation(requestId="a", input={}, output={"outputBodyJson": anthropic}),
        _invocation(requestId="n", input={}, output={"outputBodyJson": [{"outputText": "a"}]}),
    ]
    write_jsonl(tmp_path / "inv.jsonl", lines)
    res = store.ingest([str(tmp_path / "inv.jsonl")])
    assert (res.rows, res.rejected) == (2, 1)
    got = store.con.execute(
        "SELECT input_tokens, cache_read_tokens, output_tokens FROM requests ORDER BY input_tokens"
    ).fetchall()
    assert got == [(12, 0, 30), (540, 500, 25)]
    assert "a list of 1 stream chunks without usage" in store.con.execute("SELECT reason FROM rejects").fetchone()[0]


def test_an_otel_span_without_a_trace_id_is_still_a_call(store, tmp_path):
    """OTLP requires a traceId, but a span written without one still records a call the provider billed: it is
    read (identified by its span id), not rejected as unexpected content, as it was before mypy found the bug."""
    attrs = {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 5, "gen_ai.usage.output_tokens": 1}
    span = _span(**attrs)
    del span["traceId"]
    write_jsonl(tmp_path / "t.jsonl", [_otlp(span)])
    res = store.ingest([str(tmp_path / "t.jsonl")])
    assert (res.rows, res.rejected) == (1, 0)
    assert store.con.execute("SELECT request_id, input_tokens FROM requests").fetchone() == (":cd", 5)
