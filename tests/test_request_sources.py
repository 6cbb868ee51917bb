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
