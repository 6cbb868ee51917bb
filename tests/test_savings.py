"""Savings estimators on constructed traffic whose savings can be counted by hand."""

from __future__ import annotations

import json

import pytest

from analyzer import tokens
from analyzer.cli import cli
from analyzer.sources.fields import text_of
from tests.conftest import write_jsonl

SYS = "You are a helpful assistant."


def call(rid, ts, messages, prompt=None, cached=0, model="gpt-4o", out=100, **meta):
    if prompt is None:
        prompt = sum(tokens.count(m["content"]) + 3 for m in messages) + 3
    return {
        "timestamp": ts,
        "metadata": meta,
        "request": {"model": model, "messages": messages},
        "response": {
            "id": rid,
            "object": "chat.completion",
            "model": model,
            "choices": [{"message": {"role": "assistant", "content": f"reply {rid}"}}],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": out,
                "prompt_tokens_details": {"cached_tokens": cached},
            },
        },
    }


def savings_of(runner, path):
    res = runner.invoke(cli, ["savings", str(path), "--json"])
    assert res.exit_code == 0, res.output
    return {(e["lever"], e["policy"]): e for e in json.loads(res.stdout)["savings"]}


def test_batching_programmatic_single_requests(runner, tmp_path):
    t = 1_764_000_000
    recs = [
        call(f"etl{i}", t + 2 * i, [{"role": "user", "content": f"classify item {i}"}], prompt=1000, api_key="etl")
        for i in range(25)
    ]
    # an interactive conversation: never batched
    convo = [{"role": "system", "content": SYS}, {"role": "user", "content": "hi"}]
    recs.append(call("c1", t + 100, convo, user="alice"))
    recs.append(
        call(
            "c2",
            t + 160,
            convo + [{"role": "assistant", "content": "reply c1"}, {"role": "user", "content": "more"}],
            user="alice",
        )
    )
    est = savings_of(runner, write_jsonl(tmp_path / "b.jsonl", recs))
    b = est[("batching", "Batch API for programmatic single-request traffic")]
    # gpt-4o: $2.50/$10 standard, $1.25/$5 batch; 1000 in + 100 out per call
    per_call = (1000 * 2.5e-6 + 100 * 1e-5) - (1000 * 1.25e-6 + 100 * 5e-6)
    assert b["requests"] == 25
    assert b["saving_usd"] == pytest.approx(25 * per_call)
    assert b["saving_low_usd"] == pytest.approx(25 * per_call)  # no end user on the etl key
    assert b["saving_high_usd"] == pytest.approx(25 * per_call)  # alice's thread is conversational


def long_conversation(turns, cached=0):
    msgs = [{"role": "system", "content": SYS}]
    recs = []
    for k in range(1, turns + 1):
        msgs = msgs + [{"role": "user", "content": f"question number {k} about the order"}]
        recs.append(call(f"t{k}", 1_764_000_000 + 60 * k, msgs, cached=cached if k > 1 else 0, user="bob"))
        msgs = msgs + [{"role": "assistant", "content": f"reply t{k}"}]
    return recs


def removed_by_last_n(turn, n):
    """Hand count: history before the n-th last user message, at the request of this turn (each message's
    content plus its 3 tokens of chat framing)."""
    if turn <= n:
        return 0
    dropped = turn - n  # user/assistant pairs that fall out
    return sum(
        tokens.count(f"question number {k} about the order") + 3 + tokens.count(f"reply t{k}") + 3
        for k in range(1, dropped + 1)
    )


def test_trimming_last_n_turns_hand_counted(runner, tmp_path):
    est = savings_of(runner, write_jsonl(tmp_path / "t.jsonl", long_conversation(10)))
    e = est[("trimming", "last 4 turns")]
    removed = sum(removed_by_last_n(k, 4) for k in range(1, 11))
    assert e["requests"] == 6  # turns 5..10
    assert e["saving_usd"] == pytest.approx(removed * 2.5e-6)
    assert e["saving_low_usd"] == pytest.approx(e["saving_high_usd"])  # nothing was cached
    assert ("trimming", "last 8 turns") in est


def test_trimming_range_when_history_was_cached(runner, tmp_path):
    recs = long_conversation(10, cached=40)
    est = savings_of(runner, write_jsonl(tmp_path / "c.jsonl", recs))
    e = est[("trimming", "last 4 turns")]
    assert e["saving_low_usd"] < e["saving_high_usd"]
    assert e["saving_low_usd"] <= e["saving_usd"] <= e["saving_high_usd"]


def test_compaction_pays_for_its_summariser_call(runner, tmp_path, monkeypatch):
    """Compaction at a threshold: one summariser call on the same model (the history as sent plus an
    instruction) writes a summary that replaces the history; its cost is in the counterfactual."""
    from analyzer.savings import levers, trimming

    monkeypatch.setattr(trimming, "POLICIES", [levers.Compact(30)])  # a tiny threshold: compacts every few turns
    est = savings_of(runner, write_jsonl(tmp_path / "s.jsonl", long_conversation(6)))
    e = est[("trimming", "compact at 0k tokens")]
    assert any("summariser call" in a for a in e["assumptions"])
    # gpt-4o, prompts far below 1,024 tokens (nothing cached): every compaction is a call reading the history and
    # writing 2,000 output tokens at $10/M, so here it costs far more than the history it removes
    assert e["verdict"] == "costs more" and e["saving_usd"] < -5 * 2000 * 1e-5 * 0.9


def test_savings_text_output(runner, tmp_path):
    res = runner.invoke(cli, ["savings", str(write_jsonl(tmp_path / "t.jsonl", long_conversation(6)))])
    assert res.exit_code == 0 and "trimming" in res.stdout and "RANGE" in res.stdout


def test_combined_is_its_own_replay_and_trimming_costs_cache_reads(runner, tmp_path):
    # a long Claude conversation behind a 1,500-token system prompt: caching pays, trimming breaks prefixes
    system = "You are the contracts assistant. Cite the clause number for every answer you give. " * 90
    msgs = [{"role": "user", "content": "first question about clause 1"}]
    recs = []
    for k in range(1, 12):
        body = {"model": "claude-sonnet-4-5", "system": system, "messages": msgs, "max_tokens": 2000}
        n_in = tokens.count(system) + sum(tokens.count(text_of(m["content"])) + 3 for m in msgs) + 6
        recs.append(
            {
                "timestamp": 1_764_000_000 + 90 * k,
                "metadata": {"user": "carol"},
                "request": body,
                "response": {
                    "id": f"m{k}",
                    "type": "message",
                    "model": "claude-sonnet-4-5",
                    "content": [{"type": "text", "text": f"answer {k}"}],
                    "usage": {"input_tokens": n_in, "output_tokens": 900},
                },
            }
        )
        msgs = msgs + [
            {"role": "assistant", "content": [{"type": "text", "text": f"answer {k}"}]},
            {"role": "user", "content": f"follow-up question {k} about clause {k + 1}"},
        ]
    res = runner.invoke(cli, ["report", str(write_jsonl(tmp_path / "c.jsonl", recs)), "--json", "-"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    combined = data["combined"]
    caching = next(e for e in data["savings"] if e["lever"] == "caching" and "5-minute" in e["policy"])
    assert caching["saving_usd"] > 0 and caching["verdict"] == "saves"  # 1.25x writes once, 0.1x reads after
    window = {e["policy"]: e for e in data["savings"] if e["lever"] == "trimming"}["last 4 turns"]
    # with no breakpoints logged there is no cache to break: the sliding window saves its removed tokens
    assert window["saving_usd"] > 0
    est = combined["estimate"]
    assert {c["lever"] for c in combined["components"]} == {"caching", "trimming"}
    assert combined["separate_sum_usd"] == pytest.approx(sum(c["saving_usd"] for c in combined["components"]))
    assert est["saving_low_usd"] <= est["saving_usd"] <= est["saving_high_usd"]
    # replayed together, the window breaks the prefixes the breakpoints would have cached: less than the sum
    assert combined["cache_read_tokens_combined"] < caching["detail"]["cache_read_tokens_after"]
    assert est["saving_usd"] < combined["separate_sum_usd"]


def test_combined_equals_caching_when_only_caching_applies(runner, tmp_path):
    system = "You are the pricing assistant for Acme. Answer only from the price list below. " * 150
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    recs = []
    # tools: never routed; one key, a minute apart but only 6 requests: never batched; 6 (not 3) so that enough
    # requests read the prompt for the caching lever to be ranked (issue 21, item 11)
    for i in range(6):
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": f"price of item {i}"}]
        r = call(f"p{i}", 1_764_000_000 + 60 * i, msgs, api_key="k", model="claude-sonnet-4-5")
        r["request"]["tools"] = tools
        recs.append(r)
    data = json.loads(
        runner.invoke(cli, ["report", str(write_jsonl(tmp_path / "p.jsonl", recs)), "--json", "-"]).stdout
    )
    caching = next(e for e in data["savings"] if e["lever"] == "caching")
    assert caching["saving_usd"] > 0
    assert data["combined"]["estimate"]["saving_usd"] == pytest.approx(caching["saving_usd"])
