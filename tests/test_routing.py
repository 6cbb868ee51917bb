"""Routing: the transparent classifier, the rules file, and the repricing, checked by hand."""

from __future__ import annotations

import json

import pytest

from analyzer import tokens
from analyzer.cli import cli
from analyzer.savings.routing import CLASSIFIER_PROMPT_TOKENS, SHARES, classify
from tests.conftest import write_jsonl


def call(rid, question, ts, prompt=1000, out=100, model="gpt-4o", tags=None, tools=None):
    req = {"model": model, "messages": [{"role": "user", "content": question}]}
    if tools:
        req["tools"] = tools
    return {
        "timestamp": ts,
        "metadata": {"user": f"u{rid}", "tags": tags or []},
        "request": req,
        "response": {
            "id": rid,
            "object": "chat.completion",
            "model": model,
            "choices": [{"message": {"role": "assistant", "content": "ok"}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": out},
        },
    }


def estimates(runner, path, *extra):
    res = runner.invoke(cli, ["savings", str(path), "--json", *extra])
    assert res.exit_code == 0, res.output
    return {e["lever"]: e for e in json.loads(res.stdout)["savings"]}


PER_CALL_SAVING = (1000 * 2.5e-6 + 100 * 1e-5) - (1000 * 1.5e-7 + 100 * 6e-7)  # gpt-4o -> gpt-4o-mini


def test_simple_requests_are_routed_and_the_classifier_is_paid_for(runner, tmp_path):
    questions = [f"What are your opening hours on day {i}?" for i in range(10)]
    recs = [call(f"s{i}", q, 1_764_000_000 + i) for i, q in enumerate(questions)]
    recs.append(call("code", "Why does `def f(x): return x/0` crash?\n```python\nf(1)\n```", 1_764_000_100))
    e = estimates(runner, write_jsonl(tmp_path / "r.jsonl", recs))["routing"]
    read = sum(tokens.count(q) for q in questions) + tokens.count(recs[-1]["request"]["messages"][0]["content"])
    classifier = (read + CLASSIFIER_PROMPT_TOKENS * 11) * 1.5e-7 + 11 * 6e-7  # gpt-4o-mini, 1 output token each
    assert e["saving_usd"] == pytest.approx(SHARES["central"] * 10 * PER_CALL_SAVING - classifier)
    assert e["saving_low_usd"] == pytest.approx(SHARES["low"] * 10 * PER_CALL_SAVING - classifier)
    assert "10 of 11 requests eligible" in e["evidence"][0]
    assert "code or maths 1" in e["evidence"][1]
    assert any("Quality is not measured" in a for a in e["assumptions"])


def test_rules_file_routes_by_tag_without_a_classifier(runner, tmp_path):
    recs = [call(f"f{i}", f"faq {i}", 1_764_000_000 + i, tags=["faq"]) for i in range(4)]
    recs += [call(f"o{i}", f"other {i}", 1_764_000_100 + i) for i in range(3)]
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nmodel = "gpt-4o*"\ntag = "faq"\nroute_to = "gpt-4o-mini"\n')
    e = estimates(runner, write_jsonl(tmp_path / "r.jsonl", recs), "--routing-rules", str(rules))["routing"]
    assert e["policy"] == "rules file"
    assert e["saving_usd"] == pytest.approx(SHARES["central"] * 4 * PER_CALL_SAVING)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not = [toml", "not valid TOML"),
        ("[[rule]]\nmodel = 'x'\n", "needs route_to"),
        ("[[rule]]\nroute_to = 'a'\nlast_user_regex = '('\n", "bad last_user_regex"),
        ("", "no [[rule]]"),
    ],
)
def test_bad_rules_files(runner, tmp_path, content, message):
    rules = tmp_path / "r.toml"
    rules.write_text(content)
    f = write_jsonl(tmp_path / "x.jsonl", [call("a", "hi", 1_764_000_000)])
    res = runner.invoke(cli, ["savings", str(f), "--routing-rules", str(rules)])
    assert res.exit_code == 1 and message in res.stderr


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"text": None}, "no message text"),
        ({"user_tokens": 900}, "long user message"),
        ({"output_tokens": 2000}, "long answer"),
        ({"has_tools": True}, "uses tools"),
        ({"turn": 9}, "deep in"),
        ({"text": "solve 3 * 4 = ?"}, "code or maths"),
        ({}, None),
    ],
)
def test_classifier_reasons(row, reason):
    base = {
        "text": "where is my parcel",
        "user_tokens": 5,
        "output_tokens": 50,
        "input_tokens": 300,
        "has_tools": False,
        "turn": 1,
    }
    why = classify({**base, **row})
    assert (why is None) if reason is None else why.startswith(reason)


def test_report_takes_routing_rules(runner, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nroute_to = "gpt-4o-mini"\n')
    f = write_jsonl(tmp_path / "x.jsonl", [call("a", "hi", 1_764_000_000)])
    res = runner.invoke(cli, ["report", str(f), "--routing-rules", str(rules), "--json", "-"])
    assert res.exit_code == 0, res.output
    routing = [e for e in json.loads(res.stdout)["savings"] if e["lever"] == "routing"]
    assert routing and routing[0]["policy"] == "rules file"


def test_cross_family_routing_retokenizes_each_request(runner, tmp_path):
    # a Claude request routed to gpt-4o-mini is priced on its own o200k count, not on Claude's token count
    q = "Where is my parcel? It was due yesterday and the tracking page shows nothing at all."
    rec = {
        "timestamp": 1_764_000_000,
        "metadata": {"user": "z"},
        "request": {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": q}]},
        "response": {
            "id": "x1",
            "type": "message",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "ok"}],
            "usage": {"input_tokens": 500, "output_tokens": 100},
        },
    }
    rules = tmp_path / "r.toml"
    rules.write_text('[[rule]]\nmodel = "claude-*"\nroute_to = "gpt-4o-mini"\n')
    e = estimates(runner, write_jsonl(tmp_path / "c.jsonl", [rec]), "--routing-rules", str(rules))["routing"]
    counted = tokens.count(q) + 3 + 3
    # this log's calibration: Claude reported 500 for our `counted`; OpenAI's ratio is 1 by definition
    factor = counted / 500
    target = counted * 1.5e-7 + round(100 * factor) * 6e-7
    base = 500 * 3e-6 + 100 * 1.5e-5
    assert e["saving_usd"] == pytest.approx(SHARES["central"] * (base - target), rel=1e-6)
