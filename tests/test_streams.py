"""Streamed responses and calls without usage (issue 20, defects 4 and 10).

The streams are the conformance corpus's real ones (pydantic-ai's real-API cassettes, a boto3 ConverseStream),
changed here only the way a logger or a failure changes them (the usage chunk left out, the SSE text parsed into
the chunk list an SDK yields, the response lost to a timeout). Estimated counts are checked against tiktoken's
count of the same text, not typed in.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analyzer import queries, tokens
from analyzer.cli import cli
from analyzer.render.text import render_text
from analyzer.sources.streams import assemble, sse_events
from tests.conftest import write_jsonl

CONF = Path(__file__).resolve().parent / "conformance"
CHAT = CONF / "openai_chat/pydantic_ai_stream_include_usage/stream_include_usage_pairs.json"
ANTHROPIC = CONF / "anthropic_messages/pydantic_ai_stream_redacted_thinking/stream_redacted_thinking_pairs.json"
GEMINI = CONF / "gemini_generate_content/pydantic_ai_stream_usage_live/stream_usage_live_pairs.json"
BEDROCK = CONF / "bedrock_converse/boto3_converse_stream/converse_stream.jsonl"
M = 1e-6  # gpt-4o-mini: input $0.15, output $0.60 per million tokens (`llmcost prices gpt-4o-mini`)


def summary(runner, tmp_path, *paths) -> dict:
    out = tmp_path / "summary.json"
    res = runner.invoke(cli, ["report", *map(str, paths), "--json", str(out), "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    return json.loads(out.read_text())


def chat_pairs() -> list[dict]:
    return json.loads(CHAT.read_text())


def without_usage_chunk(body: str) -> str:
    """The stream as the API sends it when the request did not set stream_options.include_usage."""
    return "\n\n".join(e for e in body.split("\n\n") if '"usage":{"prompt_tokens"' not in e)


def test_sse_events_skip_done_comments_and_broken_data():
    text = ': OPENROUTER PROCESSING\n\ndata: {"a": 1}\n\ndata: not json\n\n'
    text += 'event: x\ndata: {"b":\ndata: 2}\n\ndata: [DONE]\n'
    assert sse_events(text) == [{"a": 1}, {"b": 2}]


def test_chat_stream_assembled_usage_from_the_last_chunk():
    body = chat_pairs()[0]["response"]["body"]
    resp, stream = assemble(body)
    assert stream.kind == "openai_chat" and stream.has_usage and stream.complete
    assert resp["usage"]["prompt_tokens"] == 53 and resp["usage"]["completion_tokens"] == 15
    call = resp["choices"][0]["message"]["tool_calls"][0]
    assert call["function"] == {"name": "get_capital", "arguments": '{"country":"UK"}'}  # fragments joined


def test_chunk_list_reads_as_its_sse_text(runner, tmp_path):
    """An SDK logger keeps the chunks it yielded as a list: the same calls, tokens and cost as the SSE text."""
    pairs = chat_pairs()
    as_list = [p | {"response": p["response"] | {"body": sse_events(p["response"]["body"])}} for p in pairs]
    for name, content in (("sse", pairs), ("list", as_list)):
        (tmp_path / name / "logs").mkdir(parents=True)
        (tmp_path / name / "logs" / "pairs.json").write_text(json.dumps(content))
    a = summary(runner, tmp_path / "sse", tmp_path / "sse" / "logs")["totals"]
    b = summary(runner, tmp_path / "list", tmp_path / "list" / "logs")["totals"]
    keys = ("requests", "input_tokens", "output_tokens", "cost_usd", "estimated_requests")
    assert {k: a[k] for k in keys} == {k: b[k] for k in keys}
    assert a["requests"] == 2 and a["estimated_requests"] == 0
    assert a["cost_usd"] == pytest.approx((53 + 78) * 0.15 * M + (15 + 9) * 0.60 * M)


def test_stream_without_include_usage_is_counted_from_its_text(runner, tmp_path):
    pairs = chat_pairs()
    pairs[1]["response"]["body"] = without_usage_chunk(pairs[1]["response"]["body"])
    path = tmp_path / "logs" / "pairs.json"
    path.parent.mkdir()
    path.write_text(json.dumps(pairs))
    s = summary(runner, tmp_path, path.parent)
    t = s["totals"]
    assert t["requests"] == 2 and t["estimated_requests"] == 1
    assert t["incomplete_requests"] == 0  # the stream ended (finish_reason "stop"): only its usage is missing
    # the estimate: the request's messages and tools with the chat overhead, the reply's text, in o200k
    req = pairs[1]["request"]["body"]
    enc = tokens.encoding_for("gpt-4o-mini")
    reply = "".join(
        c["choices"][0]["delta"].get("content") or ""
        for c in sse_events(pairs[1]["response"]["body"])
        if c.get("choices")
    )
    out = tokens.count(reply, enc)
    assert t["output_tokens"] == 15 + out
    assert t["input_tokens"] > 53 and t["input_tokens"] - 53 >= sum(
        tokens.count(m["content"], enc) for m in req["messages"] if isinstance(m.get("content"), str)
    )
    est_input = t["input_tokens"] - 53
    assert t["estimated_cost_usd"] == pytest.approx(est_input * 0.15 * M + out * 0.60 * M)
    assert t["estimated_share"] == pytest.approx(t["estimated_cost_usd"] / t["cost_usd"], abs=1e-4)


def test_gemini_live_usage_is_the_finishing_chunk_not_a_sum():
    body = json.loads(GEMINI.read_text())[0]["response"]["body"]
    resp, stream = assemble(body)
    chunks = sse_events(body)
    assert len(chunks) > 1 and stream.has_usage
    assert resp["usageMetadata"] == chunks[-1]["usageMetadata"]
    assert resp["usageMetadata"]["candidatesTokenCount"] == 80


def test_gemini_stream_cut_before_its_finish_keeps_the_prompt_count(runner, tmp_path):
    pairs = json.loads(GEMINI.read_text())
    body = pairs[0]["response"]["body"]
    events = body.split("\r\n\r\n")
    pairs[0]["response"]["body"] = "\r\n\r\n".join(events[:-2]) + "\r\n\r\n"  # the finishing chunk never came
    cut = sse_events(pairs[0]["response"]["body"])
    assert cut and not any("finishReason" in c["candidates"][0] for c in cut)
    path = tmp_path / "logs" / "g.json"
    path.parent.mkdir()
    path.write_text(json.dumps(pairs))
    t = summary(runner, tmp_path, path.parent)["totals"]
    text = "".join(p["text"] for c in cut for p in c["candidates"][0]["content"]["parts"])
    assert (t["requests"], t["estimated_requests"], t["incomplete_requests"]) == (1, 1, 1)
    assert t["input_tokens"] == cut[-1]["usageMetadata"]["promptTokenCount"]
    assert t["output_tokens"] == max(tokens.count(text), 0)


def test_anthropic_message_delta_replaces_the_placeholder():
    resp, stream = assemble(json.loads(ANTHROPIC.read_text())[0]["response"]["body"])
    assert stream.kind == "anthropic" and stream.has_usage and not stream.output_partial
    assert resp["usage"]["output_tokens"] == 189 and resp["usage"]["input_tokens"] == 92


def test_bedrock_events_assembled():
    line = json.loads(BEDROCK.read_text().splitlines()[0])
    resp, stream = assemble(line["response"]["body"])
    assert stream.kind == "bedrock" and stream.complete
    assert resp["usage"] == {"inputTokens": 13, "outputTokens": 82, "totalTokens": 95}
    assert resp["metrics"] == {"latencyMs": 522}
    assert resp["output"]["message"]["content"][0]["text"].startswith("The capital of France is Paris.")


def _logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    return folder


def _chat_request(content: str) -> dict:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]}


def test_timeouts_are_billed_estimates_rejections_are_not(runner, tmp_path):
    """No response at all: a timeout (408, or an error saying so) ran the model and is an estimated, incomplete
    call; a 400 or a 429 was refused before it ran: a failed call at $0. None is dropped."""
    prompt = "Summarise the following text in one line. " * 20
    path = write_jsonl(
        _logs(tmp_path) / "calls.jsonl",
        [
            {"timestamp": 1_764_000_000, "request": _chat_request(prompt), "response": None, "status_code": 408},
            {"timestamp": 1_764_000_001, "request": _chat_request(prompt), "error": "Request timed out."},
            {"timestamp": 1_764_000_002, "request": _chat_request(prompt), "response": None, "status_code": 400},
            {"timestamp": 1_764_000_003, "request": _chat_request(prompt), "response": None, "status_code": 429},
            {"timestamp": 1_764_000_005, "request": _chat_request(prompt), "response": None, "status": "failure"},
            {
                "timestamp": 1_764_000_004,
                "request": _chat_request("hi"),
                "response": {
                    "object": "chat.completion",
                    "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
                    "usage": {"prompt_tokens": 8, "completion_tokens": 1},
                },
            },
        ],
    )
    s = summary(runner, tmp_path, path.parent)
    t = s["totals"]
    est = tokens.chat_input([tokens.count(prompt)])
    assert t["requests"] == 6 and s["ingest"]["rejected"] == 0
    assert (t["estimated_requests"], t["incomplete_requests"], t["error_requests"]) == (2, 2, 3)
    assert t["input_tokens"] == 2 * est + 8
    assert t["estimated_cost_usd"] == pytest.approx(2 * est * 0.15 * M)
    assert t["cost_usd"] == pytest.approx(2 * est * 0.15 * M + 8 * 0.15 * M + 1 * 0.60 * M)


def test_a_5xx_without_output_is_not_billed_one_with_output_is(runner, tmp_path):
    pairs = chat_pairs()
    failed = pairs[1]["response"]["body"]
    chunks = [e for e in failed.split("\n\n") if '"content":"' in e]  # the deltas written before it failed
    assert chunks
    records = [
        {
            "request": {"body": pairs[1]["request"]["body"], "uri": pairs[1]["request"]["uri"]},
            "response": {"status": 500, "body": {"error": {"message": "The server had an error"}}},
            "timestamp": 1_764_000_000,
        },
        {
            "request": {"body": pairs[1]["request"]["body"], "uri": pairs[1]["request"]["uri"]},
            "response": {"status": 500, "body": "\n\n".join(chunks) + "\n\n"},
            "timestamp": 1_764_000_001,
        },
    ]
    path = write_jsonl(_logs(tmp_path) / "c.jsonl", records)
    t = summary(runner, tmp_path, path.parent)["totals"]
    assert t["requests"] == 2
    assert (t["error_requests"], t["incomplete_requests"], t["estimated_requests"]) == (1, 1, 1)
    assert t["estimated_cost_usd"] > 0 and t["estimated_cost_usd"] == pytest.approx(t["cost_usd"])


def test_terminal_and_assumptions_show_the_estimated_share(runner, tmp_path):
    pairs = chat_pairs()
    pairs[1]["response"]["body"] = without_usage_chunk(pairs[1]["response"]["body"])
    path = tmp_path / "logs" / "pairs.json"
    path.parent.mkdir()
    path.write_text(json.dumps(pairs))
    s = summary(runner, tmp_path, path.parent)
    text = render_text(s)
    assert "Estimated" in text and "1 call without usage" in text
    assert any("carry no usage of their own" in a for a in s["assumptions"])


def test_estimated_calls_do_not_calibrate_the_tokenizer(store, tmp_path):
    pairs = chat_pairs()
    for p in pairs:
        p["response"]["body"] = without_usage_chunk(p["response"]["body"])
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps(pairs))
    store.ingest([str(path)])
    assert store.con.execute("SELECT count(*) FROM requests WHERE usage_estimated").fetchall() == [(2,)]
    assert queries.rows(store.con, "tokenizer_calibration", since=None, until=None) == []


RESPONSES = CONF / "openai_chat/pydantic_ai_responses_stream/responses_stream_pairs.json"


def test_responses_stream_cut_before_response_completed(runner, tmp_path):
    pairs = json.loads(RESPONSES.read_text())
    body = pairs[0]["response"]["body"]
    events = body.split("\n\n")
    kept = [e for e in events if "response.completed" not in e]
    assert len(kept) == len(events) - 1
    pairs[0]["response"]["body"] = "\n\n".join(kept)
    resp, stream = assemble(pairs[0]["response"]["body"])
    assert stream.kind == "responses" and not stream.has_usage and not stream.complete
    # the call streamed a function call: its arguments are what the model wrote
    written = ("response.output_text.delta", "response.function_call_arguments.delta")
    text = "".join(e["delta"] for e in sse_events(body) if e.get("type") in written)
    assert text == '{"country":"France"}'
    folder = _logs(tmp_path)
    (folder / "pairs.json").write_text(json.dumps(pairs))
    t = summary(runner, tmp_path, folder)["totals"]
    assert (t["requests"], t["estimated_requests"], t["incomplete_requests"]) == (2, 1, 1)
    second = json.loads(RESPONSES.read_text())[1]["response"]["body"]
    usage = next(e for e in sse_events(second) if e.get("type") == "response.completed")["response"]["usage"]
    assert t["output_tokens"] == usage["output_tokens"] + tokens.count(text)


def test_html_report_has_the_estimated_card(runner, tmp_path):
    pairs = chat_pairs()
    pairs[1]["response"]["body"] = without_usage_chunk(pairs[1]["response"]["body"])
    folder = _logs(tmp_path)
    (folder / "pairs.json").write_text(json.dumps(pairs))
    res = runner.invoke(cli, ["report", str(folder), "-o", str(tmp_path / "r.html"), "--workers", "1"])
    assert res.exit_code == 0, res.output
    html = (tmp_path / "r.html").read_text()
    assert "Estimated" in html and "call(s) without usage" in html


def test_unstreamed_response_kept_as_json_text(runner, tmp_path):
    """VCR keeps every body as text ({"string": ...}): an unstreamed JSON response in it is read as the object."""
    resp = {
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris"}}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 2},
    }
    record = {
        "request": {"method": "POST", "uri": "https://api.openai.com/v1/chat/completions", "body": _chat_request("?")},
        "response": {"status": {"code": 200}, "body": {"string": json.dumps(resp)}},
        "timestamp": 1_764_000_000,
    }
    t = summary(runner, tmp_path, write_jsonl(_logs(tmp_path) / "c.jsonl", [record]).parent)["totals"]
    assert (t["requests"], t["input_tokens"], t["output_tokens"], t["estimated_requests"]) == (1, 20, 2, 0)
    assert t["cost_usd"] == pytest.approx(20 * 0.15 * M + 2 * 0.60 * M)


def test_a_stream_that_is_only_an_error_is_a_failed_call(runner, tmp_path):
    """Anthropic answers an overloaded API with a stream of one `error` event (its documented shape): the model
    never ran, the call is counted as failed at $0, not rejected."""
    pairs = json.loads(ANTHROPIC.read_text())
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    overloaded = f"event: error\ndata: {json.dumps(error)}\n\n"
    failed = {"request": pairs[0]["request"], "response": {"status": 200, "body": overloaded}}
    folder = _logs(tmp_path)
    (folder / "pairs.json").write_text(json.dumps([*pairs, failed]))
    s = summary(runner, tmp_path, folder)
    t = s["totals"]
    assert (t["requests"], t["error_requests"], t["estimated_requests"], s["ingest"]["rejected"]) == (2, 1, 0, 0)
    assert t["cost_usd"] == pytest.approx(92 * 3.0 * M + 189 * 15.0 * M)


def test_markdown_summary_has_the_estimated_line(runner, tmp_path):
    pairs = chat_pairs()
    pairs[1]["response"]["body"] = without_usage_chunk(pairs[1]["response"]["body"])
    folder = _logs(tmp_path)
    (folder / "pairs.json").write_text(json.dumps(pairs))
    res = runner.invoke(cli, ["report", str(folder), "--md", str(tmp_path / "r.md"), "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "**Estimated:**" in (tmp_path / "r.md").read_text()
