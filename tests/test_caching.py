"""The caching simulator: hand-computed fixtures for each provider rule, properties against brute force."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer import tokens
from analyzer.cli import cli
from analyzer.providers import RULES, min_tokens
from analyzer.savings.engine import simulate as engine_simulate
from analyzer.savings.levers import Lever
from analyzer.savings.traffic import Call
from tests.conftest import write_jsonl


def req(rid, ts, sizes, provider="openai", model="gpt-4o", nodes=None, sys_end=-1, key="k"):
    cum, acc = [], 0
    for s in sizes:
        acc += s
        cum.append(acc)
    nodes = nodes or list(range(1, len(sizes) + 1))
    return Call(rid, rid, ts, provider, model, key, cum[-1], 0, 0, False, nodes, cum, sys_end, (), (0, 0, 0), False)


def simulate(reqs, ttl, actual=False):
    """(read, writes) per call: automatic caches with retention `ttl`; explicit ones with breakpoints after the
    system prompt and at the end of input (or, `actual`, the breakpoints each call set) of that TTL."""
    case = next(c for c in ("central", "high", "low") if _ttl(reqs[0].provider, c) == ttl)
    lever = Lever("test") if actual else Lever("test", placement=ttl)
    return {k: (r, w5 + w1) for k, (r, w5, w1) in engine_simulate(reqs, case, lever).items()}


def _ttl(provider, case):
    from analyzer.providers import case_ttl

    rule = RULES[provider]
    return ttl_for_explicit if rule.mode == "explicit" else case_ttl(rule, case)


ttl_for_explicit = 300


def test_openai_minimum_and_128_token_steps():
    a = req("a", 0, [2000, 500])
    b = req("b", 60, [2000, 500, 300])  # shares a's 2,500-token prefix
    sim = simulate([a, b], ttl=300)
    assert sim["a"] == (0, 0)
    assert sim["b"] == (1024 + (2500 - 1024) // 128 * 128, 0)  # 2,432: hits come in 128-token steps
    small = simulate([req("c", 0, [900]), req("d", 1, [900, 50])], ttl=300)
    assert small["d"] == (0, 0)  # below 1,024 tokens nothing is cached


def test_ttl_expiry_and_refresh():
    reqs = [req("a", 0, [3000]), req("b", 200, [3000, 10]), req("c", 450, [3000, 20])]
    sim = simulate(reqs, ttl=300)
    # b hits (200 s after a) and refreshes the entry, so c (250 s after b) hits too
    assert sim["b"][0] > 0 and sim["c"][0] > 0
    late = simulate([req("a", 0, [3000]), req("b", 301, [3000, 10])], ttl=300)
    assert late["b"] == (0, 0)


def test_deepseek_64_token_units():
    sim = simulate(
        [req("a", 0, [1000], "deepseek", "deepseek-chat"), req("b", 5, [1000, 40], "deepseek", "deepseek-chat")],
        ttl=3600,
    )
    assert sim["b"] == (1000 // 64 * 64, 0)


def test_anthropic_breakpoints_reads_and_writes():
    model = "claude-sonnet-4-5"
    first = req("a", 0, [1500, 100], "anthropic", model, nodes=[1, 2], sys_end=0)
    second = req("b", 60, [1500, 100, 50, 80], "anthropic", model, nodes=[1, 2, 3, 4], sys_end=0)
    other_user = req("c", 90, [1500, 70], "anthropic", model, nodes=[1, 5], sys_end=0)
    sim = simulate([first, second, other_user], ttl=300)
    assert sim["a"] == (0, 1600)  # writes system+first turn
    assert sim["b"] == (1600, 130)  # reads all of a's input, writes its own increment
    assert sim["c"] == (1500, 70)  # shares only the system-prompt breakpoint
    short = simulate([req("d", 0, [900, 50], "anthropic", model, sys_end=0)], ttl=300)
    assert short["d"] == (0, 0)  # under 1,024 tokens nothing can be cached


def test_minimums_by_model():
    assert min_tokens(RULES["anthropic"], "claude-haiku-4-5") == 4096
    assert min_tokens(RULES["anthropic"], "claude-3-5-haiku-20241022") == 2048
    assert min_tokens(RULES["anthropic"], "claude-sonnet-4-5") == 1024
    assert min_tokens(RULES["google"], "gemini-2.5-pro") == 4096
    assert min_tokens(RULES["google"], "gemini-2.5-flash") == 1024


def random_trace(seed: int, n: int) -> list[Call]:
    rng = random.Random(seed)
    chains: list[list[int]] = []
    out = []
    t = 0.0
    next_node = 10
    for i in range(n):
        t += rng.choice([5, 60, 200, 400, 2000])
        base = rng.choice(chains)[: rng.randint(1, 4)] if chains and rng.random() < 0.7 else [1]
        nodes = base + list(range(next_node, next_node + rng.randint(0, 3)))
        next_node += 3
        chains.append(nodes)
        sizes = [(node * 7919) % 900 + 200 for node in nodes]  # a node always has the same size
        out.append(req(f"r{i}", t, sizes, nodes=nodes))
    return out


def brute_force_reads(reqs: list[Call], ttl: float) -> dict[str, int]:
    """OpenAI's rule restated pairwise, O(n^2): the longest common prefix with any earlier request sent at most
    `ttl` seconds before (with refresh-on-use, a prefix is live exactly when some request that contained it
    came within the TTL), floored to 1,024 + 128-token steps."""
    out = {}
    for i, r in enumerate(reqs):
        best = 0
        for q in reqs[:i]:
            if r.ts - q.ts > ttl:
                continue
            k = 0
            while k < min(len(r.nodes), len(q.nodes)) and r.nodes[k] == q.nodes[k]:
                k += 1
            if k:
                best = max(best, r.cum[k - 1])
        out[r.call_id] = 0 if best < 1024 or r.cum[-1] < 1024 else 1024 + (best - 1024) // 128 * 128
    return out


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 30))
def test_automatic_replay_properties(seed, n):
    reqs = random_trace(seed, n)
    short = simulate(reqs, ttl=300)
    long = simulate(reqs, ttl=3600)
    assert {k: v[0] for k, v in short.items()} == brute_force_reads(reqs, 300)
    for r in reqs:
        assert 0 <= short[r.call_id][0] <= long[r.call_id][0] <= r.cum[-1]  # monotone in TTL
        assert short[r.call_id][1] == 0  # automatic caching writes at no premium


def test_automatic_cache_is_never_turned_on_and_reported_zero_is_a_contradiction(runner, tmp_path):
    """OpenAI caches gpt-4o automatically: there is no caching lever to "turn on" (the as-is replay and the rules
    are the same policy), and a log that reports 0 cached tokens where the simulator predicts hits is a
    contradiction the backtest counts (-100%), not "no data"."""
    system = "You are the claims assistant. Follow policy section by section. " * 150
    recs = []
    for i in range(4):
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": f"claim {i}"}]
        prompt = sum(tokens.count(m["content"]) + 3 for m in msgs) + 3
        recs.append(
            {
                "timestamp": 1_764_000_000 + 30 * i,
                "metadata": {"api_key": "k1"},
                "request": {"model": "gpt-4o", "messages": msgs},
                "response": {
                    "id": f"o{i}",
                    "object": "chat.completion",
                    "model": "gpt-4o",
                    "choices": [{"message": {"role": "assistant", "content": "ok"}}],
                    "usage": {
                        "prompt_tokens": prompt,
                        "completion_tokens": 5,
                        "prompt_tokens_details": {"cached_tokens": 0},
                    },
                },
            }
        )
    f = write_jsonl(tmp_path / "c.jsonl", recs)
    out = tmp_path / "s.json"
    assert runner.invoke(cli, ["report", str(f), "--json", str(out)]).exit_code == 0
    data = json.loads(out.read_text())
    caching = data["caching"]
    sys_tokens = tokens.count(system) + 3
    expected_read = 1024 + (sys_tokens - 1024) // 128 * 128
    assert caching["backtest"]["reported_cache_read_tokens"] == 0
    assert caching["backtest"]["simulated_cache_read_tokens"] == 3 * expected_read
    assert caching["estimates"] == []  # automatic caching: nothing to turn on, nothing credited
    assert caching["backtest"]["reported_zero_simulated_hits"] == 3
    assert caching["backtest"]["reported_vs_simulated_pct"] == -100.0
    assert caching["automatic_providers"] == ["openai"]


def test_breakpoints_are_stored_from_the_real_anthropic_requests(store):
    from tests.conftest import SAMPLES

    store.ingest([str(SAMPLES / "anthropic_messages.jsonl")])
    rows = store.con.execute(
        "SELECT request_id, position, role, breakpoint FROM messages WHERE breakpoint IS NOT NULL ORDER BY ALL"
    ).fetchall()
    # top-level cache_control marks the last message; block-level markers their message; a 1h system prompt
    assert ("msg_01KPaKTJSqAKoZri7Ujrny58", 3, "user", "5m") in rows
    assert ("msg_011CdZ7H96cYjLa6r1Kjqx2H", 4, "system", "5m") in rows
    assert ("msg_sample_1h_write", 0, "system", "1h") in rows


def test_breakpoint_blocks_are_stored_per_message_and_older_rows_count_one(store):
    """pydantic-ai's Bedrock cassette puts two cachePoint blocks in its user message (content blocks 3 and 5),
    one after the system prompt and one after the tools: four breakpoints on three entries. A row stored before
    migration 11 (no count) counts one."""
    import polars as pl

    from analyzer.conversations import Sequence
    from analyzer.savings.columns import read_breakpoints
    from tests.conftest import SAMPLES

    store.ingest([str(SAMPLES / "bedrock_converse.jsonl")])
    rows = store.con.execute(
        "SELECT DISTINCT position, role, breakpoint, breakpoints FROM messages WHERE breakpoint IS NOT NULL "
        "ORDER BY ALL"
    ).fetchall()
    assert rows == [(0, "tools", "5m", 1), (1, "system", "5m", 1), (2, "user", "5m", 2)]
    seq = Sequence(
        pl.DataFrame({"req": [1, 2], "request_id": ["new", "old"]}),
        pl.DataFrame(
            {
                "req": [1, 1, 2, 2],
                "position": [0, 1, 0, 1],
                "is_output": [False] * 4,
                "breakpoint": ["5m", "1h", "5m", "5m"],
                "breakpoints": [1, 3, None, None],
            }
        ),
    )
    ttls, marks = read_breakpoints(seq)
    assert ttls == {"new": {0: "5m", 1: "1h"}, "old": {0: "5m", 1: "5m"}}
    assert marks == {"new": 4, "old": 2}


def test_actual_breakpoints_drive_the_backtest():
    model = "claude-sonnet-4-5"
    a = req("a", 0, [1500, 100], "anthropic", model, nodes=[1, 2], sys_end=0)
    b = req("b", 60, [1500, 100, 50], "anthropic", model, nodes=[1, 2, 3], sys_end=0)
    none = simulate([a, b], ttl=300, actual=True)
    assert none == {"a": (0, 0), "b": (0, 0)}  # no cache_control: Anthropic caches nothing
    a.bps, b.bps = ((1, 300.0),), ((2, 300.0),)
    assert simulate([a, b], ttl=300, actual=True) == {"a": (0, 1600), "b": (1600, 50)}


def test_lookback_limit_of_20_blocks():
    model = "claude-sonnet-4-5"
    nodes = list(range(1, 40))
    a = req("a", 0, [1200] + [10] * 2, "anthropic", model, nodes=nodes[:3], sys_end=0)
    a.bps = ((2, 300.0),)
    b = req("b", 30, [1200] + [10] * 30, "anthropic", model, nodes=nodes[:31], sys_end=0)
    b.bps = ((30, 300.0),)  # 28 blocks after a's entry: too far back to be found
    assert simulate([a, b], ttl=300, actual=True)["b"][0] == 0
    b.bps = ((10, 300.0),)
    assert simulate([a, b], ttl=300, actual=True)["b"][0] == 1220


def test_sample_backtest_after_warm_start(runner):
    from tests.conftest import SAMPLES

    res = runner.invoke(cli, ["savings", str(SAMPLES), "--json"])
    assert res.exit_code == 0
    res = runner.invoke(cli, ["report", str(SAMPLES), "--json", "-"])
    bt = json.loads(res.stdout)["caching"]["backtest"]
    by = {p["provider"]: p for p in bt["by_provider"]}
    # the real OpenAI pair: 4,012 reported; 128-token steps over 1,024 give 3,968
    assert by["openai"]["reported_cache_read_tokens"] == 4012
    assert by["openai"]["simulated_cache_read_tokens"] == 3968
    # the real Anthropic pairs, once the warm-start request is set aside, within a few percent
    warm = by["anthropic"]["after_first_request_of_each_scope"]
    assert abs(warm["error_pct"]) < 5


def test_anthropic_strategy_dollars_by_hand(runner, tmp_path):
    system = "You are the audit assistant. Quote the control id in every answer. " * 100
    users = ["check control A-1", "check control B-7"]
    recs, inputs = [], []
    for i, u in enumerate(users):
        n_in = tokens.count(system) + 3 + tokens.count(u) + 3 + 3  # as our counter sees it: scale 1
        inputs.append(n_in)
        recs.append(
            {
                "timestamp": 1_764_000_000 + 60 * i,
                "metadata": {"api_key": "k"},
                "request": {
                    "model": "claude-sonnet-4-5",
                    "system": system,
                    "messages": [{"role": "user", "content": u}],
                },
                "response": {
                    "id": f"a{i}",
                    "type": "message",
                    "model": "claude-sonnet-4-5",
                    "content": [{"type": "text", "text": "ok"}],
                    "usage": {"input_tokens": n_in, "output_tokens": 10},
                },
            }
        )
    res = runner.invoke(cli, ["report", str(write_jsonl(tmp_path / "a.jsonl", recs)), "--json", "-"])
    est = json.loads(res.stdout)["caching"]["estimates"][0]
    sys_tokens = tokens.count(system) + 3
    # request 1 writes its whole input (breakpoints after the system prompt and at the end) but the reply
    # overhead; request 2 reads the system prompt and writes its own question
    first = 3 * 3e-6 + (inputs[0] - 3) * 3.75e-6
    second = 3 * 3e-6 + sys_tokens * 3e-7 + (inputs[1] - 3 - sys_tokens) * 3.75e-6
    logged = sum(inputs) * 3e-6
    assert est["saving_usd"] == pytest.approx(logged - first - second, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 25))
def test_pure_cache_reads_never_cost_more(seed, n):
    """Automatic caching only adds reads (priced at or below input), so repricing never costs more."""
    import polars as pl

    from analyzer.prices import load_catalogue, price_requests

    cat = _CAT.setdefault("cat", load_catalogue())
    reqs = random_trace(seed, n)
    sim = simulate(reqs, ttl=3600)
    rows = pl.DataFrame(
        {
            "request_id": [r.call_id for r in reqs],
            "model": "gpt-4o",
            "provider": "openai",
            "input_tokens": [r.cum[-1] for r in reqs],
            "cache_read_tokens": 0,
            "cache_write_5m_tokens": 0,
            "cache_write_1h_tokens": 0,
            "output_tokens": 10,
            "reasoning_tokens": 0,
            "batch": False,
            "service_tier": None,
            "status": "ok",
        },
        schema_overrides={"service_tier": pl.String},
    )
    logged = float(price_requests(rows, cat)["cost"].sum())
    reads = pl.Series([sim[r.call_id][0] for r in reqs], dtype=pl.Int64)
    replayed = float(price_requests(rows.with_columns(cache_read_tokens=reads), cat)["cost"].sum())
    assert replayed <= logged + 1e-12


_CAT: dict = {}


def test_gemini_explicit_cache_storage_by_hand(runner, tmp_path):
    system = "You are the travel planner. Always give prices in EUR and cite the source. " * 80
    recs, n_in = [], None
    for i, t in enumerate([0, 600, 1200]):
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": f"trip {i}"}]
        n_in = tokens.count(system) + 3 + tokens.count(f"trip {i}") + 3 + 3
        recs.append(
            {
                "timestamp": 1_764_000_000 + t,
                "metadata": {"api_key": "k"},
                "provider": "google",
                "request": {"model": "gemini-2.5-flash", "messages": msgs},
                "response": {
                    "id": f"g{i}",
                    "object": "chat.completion",
                    "model": "gemini-2.5-flash",
                    "choices": [{"message": {"role": "assistant", "content": "ok"}}],
                    "usage": {"prompt_tokens": n_in, "completion_tokens": 5},
                },
            }
        )
    res = runner.invoke(cli, ["report", str(write_jsonl(tmp_path / "g.jsonl", recs)), "--json", "-"])
    ests = [e for e in json.loads(res.stdout)["caching"]["estimates"] if e["policy"].startswith("Gemini explicit")]
    assert len(ests) == 1
    prefix = tokens.count(system) + 3
    storage = prefix * (1200 + 3600) / 3600 * 1.00e-6  # alive from the first use to an hour after the last
    # gemini-2.5-flash: $0.30 input, $0.03 cached input per 1M
    expected = 2 * prefix * (3e-7 - 3e-8) - storage
    assert ests[0]["saving_usd"] == pytest.approx(expected, abs=1e-9)
