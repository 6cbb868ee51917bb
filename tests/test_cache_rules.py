"""Cache rules per provider as the providers state them, each with its source (issue 21, item 7): Anthropic's
minimum cacheable length per model, DeepSeek V4's cache prefix units, OpenAI's billed cache writes. Token counts
are hand-set on hand-built calls; a hit reads the cumulative tokens of the matched prefix."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analyzer.providers import RULES, min_tokens
from analyzer.savings.engine import simulate
from analyzer.savings.levers import AS_LOGGED
from analyzer.savings.traffic import Call


@pytest.mark.parametrize(
    ("model", "minimum"),
    [
        ("claude-opus-4-5-20251101", 4096),
        ("claude-opus-4-6", 4096),
        ("claude-opus-4-7", 2048),
        ("claude-opus-4-8", 1024),  # a real recorded Opus 4.8 call wrote a 1,590-token cache (shared samples)
        ("claude-opus-5", 512),
        ("claude-haiku-4-5-20251001", 4096),
        ("claude-sonnet-4-6", 2048),
        ("claude-3-haiku-20240307", 2048),
        ("claude-sonnet-4-5-20250929", 1024),
        ("claude-opus-4-1-20250805", 1024),
        ("claude-3-7-sonnet-20250219", 1024),
    ],
)
def test_anthropic_minimum_cacheable_length_per_model(model, minimum):
    assert min_tokens(RULES["anthropic"], model) == minimum


def test_every_rule_cites_its_source():
    for provider, rule in RULES.items():
        assert rule.source.startswith("https://"), provider


def ts(day: str) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()


def call(i: int, model: str, nodes: list[int], cum: list[int], day: str, provider: str = "deepseek") -> Call:
    return Call(
        call_id=f"c{i}",
        base_id=f"c{i}",
        ts=ts(day) + i,
        provider=provider,
        model=model,
        key="k",
        input_tokens=cum[-1],
        output_tokens=10,
        reasoning_tokens=0,
        batch=False,
        nodes=nodes,
        cum=cum,
        sys_end=0,
        bps=(),
        logged_cache=(0, 0, 0),
        changed=False,
    )


# Nodes are prefix ids at message boundaries: A, then A+B (id 2), A+C (id 3), A+D (id 4).
def test_deepseek_v4_hits_only_whole_prefix_units():
    # V4 (https://api-docs.deepseek.com/guides/kv_cache): "A + B" then "A + C" misses (A is no stored unit);
    # the common prefix A is then stored, so "A + D" hits A's 640 tokens.
    calls = [
        call(1, "deepseek-v4-flash", [1, 2], [640, 1280], "2026-06-01"),
        call(2, "deepseek-v4-flash", [1, 3], [640, 1280], "2026-06-01"),
        call(3, "deepseek-v4-flash", [1, 4], [640, 1280], "2026-06-01"),
    ]
    out = simulate(calls, "central", AS_LOGGED)
    assert [out[f"c{i}"][0] for i in (1, 2, 3)] == [0, 0, 640]
    # the same traffic before V4 (deepseek-chat in 2025, longest-prefix on 64-token units): A hits at once
    old = [call(i, "deepseek-chat", c.nodes, c.cum, "2025-06-01") for i, c in enumerate(calls, 1)]
    out = simulate(old, "central", AS_LOGGED)
    assert [out[f"c{i}"][0] for i in (1, 2, 3)] == [0, 640, 640]


def test_deepseek_v4_output_end_is_a_unit():
    # turn 1: system+user (nodes 1, 2); turn 2 adds the assistant reply (node 3) and a user message (node 4):
    # the end of turn 1's output (node 3, 1,500 tokens) is a stored unit and hits whole
    calls = [
        call(1, "deepseek-chat", [1, 2], [700, 1000], "2026-05-01"),  # deepseek-chat is V4 Flash from 2026-04-24
        call(2, "deepseek-chat", [1, 2, 3, 4], [700, 1000, 1500, 1800], "2026-05-01"),
    ]
    out = simulate(calls, "central", AS_LOGGED)
    assert out["c2"][0] == 1500


def test_openai_cache_writes_billed_where_the_model_bills_them():
    # gpt-5.6 bills cache writes (the catalogue lists cache_creation_input_token_cost): the 2,048-token prompt
    # is written once, then read whole
    calls = [
        call(1, "gpt-5.6", [1, 2], [1024, 2048], "2026-10-01", provider="openai"),
        call(2, "gpt-5.6", [1, 2], [1024, 2048], "2026-10-01", provider="openai"),
    ]
    out = simulate(calls, "central", AS_LOGGED, writes_billed=frozenset({"gpt-5.6"}))
    assert out["c1"] == (0, 2048, 0) and out["c2"] == (2048, 0, 0)
    out = simulate(calls, "central", AS_LOGGED)  # a model that bills no writes
    assert out["c1"] == (0, 0, 0) and out["c2"] == (2048, 0, 0)


def test_which_openai_models_bill_cache_writes(catalogue):
    from analyzer.savings.engine import writes_billed

    calls = [
        call(1, "gpt-5.6", [1], [2048], "2026-10-01", provider="openai"),  # lists $5/M cache writes
        call(2, "gpt-4o", [1], [2048], "2026-10-01", provider="openai"),  # caches for free
    ]
    assert writes_billed(calls, catalogue) == frozenset({"gpt-5.6"})


def test_the_report_lists_the_rules_with_their_sources():
    import json

    from tests.conftest import ROOT

    golden = json.loads((ROOT / "tests" / "golden" / "sample_logs_report.json").read_text())
    rules = {r["provider"]: r for r in golden["caching"]["rules"]}
    assert rules["deepseek (V4)"]["mode"] == "prefix_units"
    assert rules["deepseek (V4)"]["source"] == "https://api-docs.deepseek.com/guides/kv_cache"
    assert all(r["source"].startswith("https://") for r in rules.values())


def test_the_replays_rule_lookup_is_rule_of_for_every_call():
    """rules_for looks a rule up once per model and side of DeepSeek's V4 alias date: the same answers as rule_of,
    min_tokens and case_ttl per call, on both sides of the date, for every case."""
    from analyzer.providers import DEEPSEEK_V4_ALIASES_FROM, case_ttl, min_tokens, rule_of, rules_for

    calls = [
        (provider, model, ts)
        for provider, model in [
            ("deepseek", "deepseek-chat"),
            ("deepseek", "deepseek/deepseek-reasoner"),
            ("deepseek", "deepseek-v4-flash"),
            ("anthropic", "claude-opus-4-5"),
            ("anthropic", "claude-haiku-4-5"),
            ("anthropic", "claude-sonnet-4-5"),
            ("openai", "gpt-5"),
            ("google", "gemini-2.5-pro"),
            ("nobody", "x"),
            (None, "y"),
        ]
        for ts in (0.0, DEEPSEEK_V4_ALIASES_FROM - 1, DEEPSEEK_V4_ALIASES_FROM, DEEPSEEK_V4_ALIASES_FROM + 86400)
    ]
    for case in ("central", "low", "high"):
        lookup = rules_for(case)
        for provider, model, ts in calls * 2:  # asked twice: the second answer comes from the memo
            rule = rule_of(provider, model, ts)
            want = (rule, min_tokens(rule, model), case_ttl(rule, case)) if rule else (None, 0, 0.0)
            assert lookup(provider, model, ts) == want, (case, provider, model, ts)
    v4 = rules_for("central")
    assert (
        v4("deepseek", "deepseek-chat", DEEPSEEK_V4_ALIASES_FROM - 1)[0]
        is not v4("deepseek", "deepseek-chat", DEEPSEEK_V4_ALIASES_FROM)[0]
    )


def test_a_lever_that_moves_calls_to_a_model_billing_writes_replays_them_with_writes(catalogue, monkeypatch):
    """A lever's replay finds the write-billing models of the as-logged calls once, and adds those of the calls
    the lever made: a request routed to gpt-5.6 is replayed with its writes billed."""
    from dataclasses import replace

    from analyzer.savings import engine

    logged = [
        call(1, "gpt-4o", [1], [2048], "2026-10-01", "openai"),
        call(2, "gpt-4o", [1], [2048], "2026-10-01", "openai"),
    ]
    base = engine.Base(logged, {c.call_id: c for c in logged}, {("openai", "gpt-4o", "k")})
    base.replays["central"] = engine.Replay(None)  # type: ignore[arg-type]
    seen: list[frozenset[str]] = []

    class Simulated(Exception):
        pass

    def fake(calls, case, lever, writes_billed=frozenset()):
        seen.append(writes_billed)
        raise Simulated

    monkeypatch.setattr(engine, "simulate", fake)
    for calls in (logged, [logged[0], replace(logged[1], model="gpt-5.6", changed=True)]):
        with pytest.raises(Simulated):
            engine.replay(None, AS_LOGGED, "central", catalogue, calls, base)  # type: ignore[arg-type]
    assert seen == [frozenset(), frozenset({"gpt-5.6"})]
