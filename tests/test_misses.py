"""Why each cache miss happened and what it cost (issue 25, part 1): a synthetic log with one miss of each cause,
its costs hand-computed (tokens x the price difference between an uncached and a cached input token), and the
real DeepSeek traces, where the causes add up to the as-is replay minus the ideal one."""

from __future__ import annotations

import json

import pytest

from analyzer import charts, tokens
from analyzer.cli import cli
from analyzer.render import render_html, render_markdown
from tests.conftest import ROOT, write_jsonl

T0 = 1_764_000_000  # 2025-11-24: deepseek-chat is still V3.2 (longest-prefix cache, 64-token units, 1 h)
# list prices per token (api-docs.deepseek.com/quick_start/pricing; anthropic.com/pricing, Claude Sonnet 4.5)
DS_IN, DS_READ, DS_OUT = 0.28e-6, 0.028e-6, 0.42e-6
CL_IN, CL_OUT = 3e-6, 15e-6
CL_READ = 0.3e-6
LONG = "Answer with the control id and the clause of the policy that applies to the question asked. " * 20
CLAUDE_SYSTEM = "You are the audit assistant. Quote the control id and the clause in every answer you give. " * 80


def ntok(text):
    return tokens.count(text) + 3  # o200k tokens + the per-message framing


def n_in(msgs):
    return sum(ntok(m["content"]) for m in msgs) + 3


def grain(n):
    return n // 64 * 64  # DeepSeek caches 64-token units


def ds(rid, ts, msgs, conv, model="deepseek-chat", key="k1", out=10):
    return {
        "timestamp": ts,
        "metadata": {"conversation_id": conv, "api_key": key},
        "request": {"model": model, "messages": msgs},
        "response": {
            "id": rid,
            "object": "chat.completion",
            "model": model,
            "choices": [{"message": {"role": "assistant", "content": "ok"}}],
            "usage": {"prompt_tokens": n_in(msgs), "completion_tokens": out},
        },
    }


def claude(rid, ts, msgs, conv, out=10):
    n = ntok(CLAUDE_SYSTEM) + sum(ntok(m["content"]) for m in msgs) + 3
    return {
        "timestamp": ts,
        "metadata": {"conversation_id": conv},
        "request": {"model": "claude-sonnet-4-5", "system": CLAUDE_SYSTEM, "messages": msgs, "max_tokens": 100},
        "response": {
            "id": rid,
            "type": "message",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "ok"}],
            "usage": {"input_tokens": n, "output_tokens": out},
        },
    }


def turn(system, q1="first question", q2="second question"):
    first = [{"role": "system", "content": system}, {"role": "user", "content": q1}]
    return first, first + [{"role": "assistant", "content": "ok"}, {"role": "user", "content": q2}]


def synthetic(tmp_path):
    """One miss of each cause, each in its own conversation with its own system prompt (nothing shared across)."""
    e1, e2 = turn("E. " + LONG)
    m1, m2 = turn("M. " + LONG)
    p1, _ = turn("P. Today is 2025-11-24. " + LONG)
    _, p2 = turn("P. Today is 2025-11-25. " + LONG)
    n1, n2 = turn("Be brief.", "hi", "more")
    recs = [
        ds("e1", T0, e1, "e"),
        ds("e2", T0 + 7200, e2, "e"),  # expired: 2 h idle, DeepSeek keeps about 1 h
        ds("m1", T0 + 10, m1, "m"),
        ds("m2", T0 + 70, m2, "m", model="deepseek-reasoner"),  # another cache scope: model switch
        ds("p1", T0 + 20, p1, "p"),
        ds("p2", T0 + 80, p2, "p"),  # the date in the system prompt changed
        ds("n1", T0 + 30, n1, "n"),
        ds("n2", T0 + 90, n2, "n"),  # the shared prefix is below DeepSeek's 64-token minimum
    ]
    write_jsonl(tmp_path / "ds.jsonl", recs)
    b1 = [{"role": "user", "content": "first question"}]
    b2 = b1 + [{"role": "assistant", "content": "ok"}, {"role": "user", "content": "second question"}]
    # no cache_control: Anthropic caches nothing
    write_jsonl(tmp_path / "cl.jsonl", [claude("b1", T0 + 40, b1, "b"), claude("b2", T0 + 100, b2, "b")])
    inputs = {
        "e1": n_in(e1), "e2": n_in(e2), "m1": n_in(m1), "m2": n_in(m2), "p1": n_in(p1), "p2": n_in(p2),
        "n1": n_in(n1), "n2": n_in(n2),
    }  # fmt: skip
    reads = {
        "expired": grain(n_in(e1) - 3),  # e2 could have read e1's whole input (without the reply framing)
        "scope": grain(n_in(m1) - 3),
        "prefix_changed": grain(n_in(p2[:2]) - 3),  # p2's own system prompt and first question
        "min_length": n_in(n1) - 3,  # 16 tokens: no minimum, no unit
        "breakpoint": ntok(CLAUDE_SYSTEM) + ntok("first question"),
    }
    return inputs, reads


def report_of(runner, path, *extra):
    res = runner.invoke(cli, ["report", str(path), "--json", "-", *extra])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_one_miss_of_each_cause_costs_what_its_tokens_cost_and_they_add_up(runner, tmp_path):
    inputs, reads = synthetic(tmp_path)
    assert reads["min_length"] < 64 and all(v >= 64 for k, v in reads.items() if k != "min_length")
    m = report_of(runner, tmp_path)["cache_misses"]
    causes = {c["cause"]: c for c in m["causes"]}
    assert set(causes) == set(reads)
    for cause, toks in reads.items():
        saved = CL_IN - CL_READ if cause == "breakpoint" else DS_IN - DS_READ
        assert causes[cause]["requests"] == 1, cause
        assert causes[cause]["tokens"] == toks, cause
        assert causes[cause]["cost_usd"] == pytest.approx(toks * saved, rel=1e-9), cause
    # nothing was read as logged nor in the as-is replay: every call pays its whole input and output
    b_in = {k: ntok(CLAUDE_SYSTEM) + v for k, v in (("b1", ntok("first question") + 3),)}
    b2_in = ntok(CLAUDE_SYSTEM) + ntok("first question") + ntok("ok") + ntok("second question") + 3
    as_is = sum(inputs.values()) * DS_IN + 8 * 10 * DS_OUT + (b_in["b1"] + b2_in) * CL_IN + 2 * 10 * CL_OUT
    assert m["as_is_usd"] == pytest.approx(as_is, rel=1e-9)
    total = sum(c["cost_usd"] for c in m["causes"])
    assert m["missed_usd"] == pytest.approx(total, rel=1e-9)
    assert m["as_is_usd"] - m["ideal_usd"] == pytest.approx(total, rel=1e-9)
    top = {x["cause"]: x for x in m["top"]}
    assert top["expired"]["request_id"] == "e2" and top["expired"]["conversation"] == "conv:e"
    assert top["expired"]["gap_s"] == 7200 and top["expired"]["ttl_s"] == 3600
    assert top["expired"]["option"].startswith("none")
    assert top["scope"]["detail"] == "model switch (deepseek-chat -> deepseek-reasoner)"
    assert top["prefix_changed"]["detail"].startswith("system prompt changed")
    assert top["breakpoint"]["detail"] == "no breakpoint"
    assert m["top"][0]["cause"] == "breakpoint"  # the costliest first


def test_an_anthropic_miss_after_5_minutes_names_the_1_hour_option_and_its_price(runner, tmp_path):
    msgs = [{"role": "user", "content": "first question"}]
    rec = []
    for i, ts in enumerate((T0, T0 + 1200)):
        r = claude(f"x{i}", ts, msgs, "x")
        r["request"]["system"] = [
            {"type": "text", "text": CLAUDE_SYSTEM, "cache_control": {"type": "ephemeral"}},
        ]
        rec.append(r)
    write_jsonl(tmp_path / "x.jsonl", rec)
    m = report_of(runner, tmp_path)["cache_misses"]
    (x,) = m["top"]
    assert x["cause"] == "expired" and x["request_id"] == "x1" and x["gap_s"] == 1200 and x["ttl_s"] == 300
    assert x["option"].startswith("1-hour") and "$6.00/MTok instead of $3.75/MTok" in x["option_price"]
    # the system prompt the as-is replay wrote again at $3.75/MTok read instead at $0.30/MTok, and (the ideal
    # caches every prefix) the first question too, uncached at $3/MTok
    w, q = ntok(CLAUDE_SYSTEM), ntok("first question")
    assert x["tokens"] == w + q
    assert x["cost_usd"] == pytest.approx(w * (3.75e-6 - CL_READ) + q * (CL_IN - CL_READ), rel=1e-9)


def test_an_edited_earlier_message_is_named_as_such(runner, tmp_path):
    """The second request re-sends the first question edited: against the previous request of its conversation,
    the prefix changed at a user message, after the system prompt it still shares (which it reads as-is)."""
    first = [{"role": "system", "content": "E. " + LONG}, {"role": "user", "content": "first question " * 40}]
    edited = [first[0], {"role": "user", "content": "first question! " * 40}]
    second = edited + [{"role": "assistant", "content": "ok"}, {"role": "user", "content": "second question"}]
    write_jsonl(tmp_path / "ds.jsonl", [ds("a1", T0, first, "a"), ds("a2", T0 + 60, second, "a")])
    m = report_of(runner, tmp_path)["cache_misses"]
    (x,) = m["top"]
    assert x["cause"] == "prefix_changed" and x["detail"] == "an earlier message or tool result edited"
    sys_read = grain(ntok("E. " + LONG))  # read as-is
    assert x["tokens"] == grain(n_in(edited) - 3) - sys_read
    assert x["cost_usd"] == pytest.approx(x["tokens"] * (DS_IN - DS_READ), rel=1e-9)


def test_why_missed_lists_the_costliest_misses(runner, tmp_path):
    synthetic(tmp_path)
    res = runner.invoke(cli, ["why-missed", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [x["cause"] for x in out["top"]][0] == "breakpoint" and len(out["top"]) == 5
    res = runner.invoke(cli, ["why-missed", str(tmp_path), "--top", "2"])
    assert res.exit_code == 0, res.output
    assert "b2" in res.output and "conv:b" in res.output and "expired" in res.output
    assert "breakpoint" in res.output and "$0.00" in res.output


def test_the_report_shows_the_causes(runner, tmp_path):
    synthetic(tmp_path)
    r = report_of(runner, tmp_path)
    md = render_markdown(r)
    assert "Cache misses cost" in md and "prefix changed" in md and "`llmcost why-missed`" in md
    (chart,) = [c for c in charts.specs(r) if c["id"] == "cache-misses"]
    bars = {d["cause"]: d["usd"] for d in chart["spec"]["data"]["values"]}
    assert bars == {c["cause"].replace("_", " "): c["cost_usd"] for c in r["cache_misses"]["causes"]}
    html = render_html(r)
    assert 'id="cache-misses"' in html and 'id="chart-cache-misses"' in html
    assert "model switch (deepseek-chat -&gt; deepseek-reasoner)" in html


@pytest.mark.skipif(
    not (ROOT.parent / "shared" / "traces" / "mini_swe_agent_deepseek_test").is_dir(),
    reason="the shared traces are not beside this checkout",
)
def test_real_deepseek_traces_causes_add_up_to_as_is_minus_ideal(runner):
    m = report_of(runner, ROOT.parent / "shared" / "traces" / "mini_swe_agent_deepseek_test")["cache_misses"]
    total = sum(c["cost_usd"] for c in m["causes"])
    assert m["as_is_usd"] - m["ideal_usd"] == pytest.approx(total, rel=1e-9, abs=1e-12)
    assert m["as_is_usd"] >= m["ideal_usd"]
    assert all(c["cost_usd"] >= 0 for c in m["causes"])


def test_reordered_tool_definitions_are_named_as_such(runner, tmp_path):
    """The second request sends the same two tools in the other order: the first node (the tools, which lead the
    cached prefix) differs, so nothing is read as-is; with the prefix held stable the whole first request's input
    would have been read. The cause is the tool definitions, not the system prompt or a message."""
    a = {"type": "function", "function": {"name": "lookup_control", "parameters": {"type": "object"}}}
    b = {"type": "function", "function": {"name": "quote_clause", "parameters": {"type": "object"}}}
    first = [{"role": "system", "content": "T. " + LONG}, {"role": "user", "content": "first question"}]
    second = first + [{"role": "assistant", "content": "ok"}, {"role": "user", "content": "second question"}]
    recs = []
    for rid, ts, msgs, tools in (("t1", T0, first, [a, b]), ("t2", T0 + 60, second, [b, a])):
        r = ds(rid, ts, msgs, "t")
        r["request"]["tools"] = tools
        # o200k tokens of the tools as sent (compact JSON, keys sorted) + the per-message framing
        tools_tok = ntok(json.dumps(tools, sort_keys=True, separators=(",", ":")))
        r["response"]["usage"]["prompt_tokens"] = n_in(msgs) + tools_tok
        recs.append(r)
    write_jsonl(tmp_path / "ds.jsonl", recs)
    m = report_of(runner, tmp_path)["cache_misses"]
    (x,) = m["top"]
    assert x["request_id"] == "t2" and x["cause"] == "prefix_changed"
    assert x["detail"] == "tool definitions changed or reordered"
    # lifted, the first request's tools, system prompt and question count as re-sent unchanged: all read
    t1_tok = recs[0]["response"]["usage"]["prompt_tokens"]
    assert x["tokens"] == grain(t1_tok - 3)
    assert x["cost_usd"] == pytest.approx(x["tokens"] * (DS_IN - DS_READ), rel=1e-9)


def test_more_than_four_breakpoints_are_named_with_their_count(runner, tmp_path):
    """Five cache_control breakpoints (Anthropic allows four): on the system prompt and on four of the messages,
    none on the last one, so the last question is never cached as-is; the ideal (every prefix cached) reads it on
    the next request. The miss is put down to the breakpoints and says how many there were."""

    def block(text):
        return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]

    talk = ["question one " * 60, "answer one " * 60, "question two " * 60, "answer two " * 60]
    msgs = [{"role": ("user", "assistant")[i % 2], "content": block(t)} for i, t in enumerate(talk)]
    last_q = "question three " * 60
    first = msgs + [{"role": "user", "content": last_q}]
    second = first + [{"role": "assistant", "content": "ok"}, {"role": "user", "content": "question four"}]
    rec = []
    for rid, ts, m in (("f0", T0, first), ("f1", T0 + 60, second)):
        r = claude(rid, ts, [], "f")
        r["request"]["messages"], r["request"]["system"] = m, block(CLAUDE_SYSTEM)
        r["response"]["usage"]["input_tokens"] = (
            ntok(CLAUDE_SYSTEM)
            + sum(ntok(t) for t in talk)
            + ntok(last_q)
            + 3
            + (ntok("ok") + ntok("question four") if rid == "f1" else 0)
        )
        rec.append(r)
    write_jsonl(tmp_path / "f.jsonl", rec)
    m = report_of(runner, tmp_path)["cache_misses"]
    (x,) = [x for x in m["top"] if x["request_id"] == "f1"]
    assert x["cause"] == "breakpoint" and x["detail"] == "5 breakpoints (more than 4)"
    # as-is, f1 reads up to its deepest breakpoint (the fourth message); ideally it reads f0's last question too
    assert x["tokens"] == ntok(last_q)
    assert x["cost_usd"] == pytest.approx(ntok(last_q) * (CL_IN - CL_READ), rel=1e-9)


def test_breakpoints_are_counted_by_block_not_by_message(runner, tmp_path):
    """Anthropic counts every content block that carries cache_control (its API answers 400 "A maximum of 4
    blocks with cache_control may be provided. Found 5."): a system prompt block, a first question sent as two
    blocks each with cache_control, and the next two messages make five breakpoints on four messages. None is on
    the last question, so as-is the next request reads up to the fourth message only; the ideal reads the last
    question too. The miss names five breakpoints, not a misplaced one."""

    def block(text):
        return {"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}

    part_a, part_b = "question one, the context " * 60, "question one, the ask " * 60
    answer, q2 = "answer one " * 60, "question two " * 60
    msgs = [
        {"role": "user", "content": [block(part_a), block(part_b)]},  # two breakpoints on one message
        {"role": "assistant", "content": [block(answer)]},
        {"role": "user", "content": [block(q2)]},
    ]
    last_q = "question three " * 60
    first = msgs + [{"role": "user", "content": last_q}]
    second = first + [{"role": "assistant", "content": "ok"}, {"role": "user", "content": "question four"}]
    # the two blocks are one message of their text joined by a newline (fields.text_of)
    sent = ntok(CLAUDE_SYSTEM) + ntok(part_a + "\n" + part_b) + ntok(answer) + ntok(q2) + ntok(last_q) + 3
    rec = []
    for rid, ts, m in (("g0", T0, first), ("g1", T0 + 60, second)):
        r = claude(rid, ts, [], "g")
        r["request"]["messages"], r["request"]["system"] = m, [block(CLAUDE_SYSTEM)]
        r["response"]["usage"]["input_tokens"] = sent + (ntok("ok") + ntok("question four") if rid == "g1" else 0)
        rec.append(r)
    write_jsonl(tmp_path / "g.jsonl", rec)
    m = report_of(runner, tmp_path)["cache_misses"]
    (x,) = [x for x in m["top"] if x["request_id"] == "g1"]
    assert x["cause"] == "breakpoint" and x["detail"] == "5 breakpoints (more than 4)"
    assert x["tokens"] == ntok(last_q)
    assert x["cost_usd"] == pytest.approx(ntok(last_q) * (CL_IN - CL_READ), rel=1e-9)
    assert sum(c["cost_usd"] for c in m["causes"]) == pytest.approx(m["as_is_usd"] - m["ideal_usd"], rel=1e-9)


def test_a_fraction_of_a_cent_is_printed_so_that_as_is_minus_ideal_can_be_checked(runner, tmp_path):
    """Issue 25 try-out: on the real traces `why-missed` printed "Cache misses cost $0.000618: as-is replay $6.75,
    ideal $6.75" (the difference cannot be checked from what is printed), and the audit's day page said "Cache
    misses cost $0.0000 ... min length $0.0000 (2 requests)" for misses costing $0.0000126. One miss of 25 tokens
    at DeepSeek's $0.28 - $0.028 per 1M: 25 x 0.252e-6 = $0.0000063."""
    from analyzer.savings.misses import render_why_missed

    cause = {
        "cause": "min_length",
        "label": "prefix below the provider's minimum cacheable length",
        "fix": "none below the minimum",
        "requests": 1,
        "tokens": 25,
        "cost_usd": 25 * 0.252e-6,
        "details": [{"detail": "below 64 tokens", "cost_usd": 25 * 0.252e-6}],
    }
    block = {
        "as_is_usd": 6.752668384,
        "ideal_usd": 6.752668384 - 25 * 0.252e-6,
        "missed_usd": 25 * 0.252e-6,
        "causes": [cause],
        "misses": 1,
        "top": [],
    }
    head = render_why_missed(block).splitlines()[0]
    assert head == "Cache misses cost $0.000006: as-is replay $6.752668, ideal $6.752662."
    synthetic(tmp_path)
    r = report_of(runner, tmp_path)
    r["cache_misses"] = block
    md = render_markdown(r)
    assert "Cache misses cost $0.000006 against an ideal replay: min length $0.000006 (1 request)." in md
    html = render_html(r)
    assert "cost <strong>$0.000006</strong> (as-is replay $6.752668, ideal $6.752662)" in html
    assert "below 64 tokens ($0.000006)" in html and ">$0.000006</td>" in html


TRACES = ROOT.parent / "shared" / "traces" / "mini_swe_agent_deepseek_test"


@pytest.mark.skipif(not TRACES.is_dir(), reason="the shared traces are not beside this checkout")
def test_steps_without_their_obstacle_are_skipped_with_the_same_figures(runner, tmp_path, monkeypatch):
    """On an agent's log (one model, one key: no explicit cache, no conversation crossing scopes) the `breakpoint`
    and `scope` steps replay exactly as the step before, so they are not replayed: the misses are the same as with
    every step replayed. On the synthetic log (a Claude call without breakpoints, a conversation switching
    model), neither is skipped."""
    from analyzer.savings import misses

    for f in sorted(TRACES.glob("*.traj.json.gz"))[:6]:
        (tmp_path / "t" / f.name).parent.mkdir(exist_ok=True)
        (tmp_path / "t" / f.name).write_bytes(f.read_bytes())
    found: list[set[str]] = []
    real = misses._moot
    monkeypatch.setattr(misses, "_moot", lambda reqs: found.append(real(reqs)) or found[-1])
    skipped = report_of(runner, tmp_path / "t", "--workers", "1")["cache_misses"]
    assert found == [{"breakpoint", "scope"}]
    monkeypatch.setattr(misses, "_moot", lambda reqs: set())
    assert report_of(runner, tmp_path / "t", "--workers", "1")["cache_misses"] == skipped
    assert skipped["as_is_usd"] > skipped["ideal_usd"]  # there are misses to explain

    monkeypatch.setattr(misses, "_moot", lambda reqs: found.append(real(reqs)) or found[-1])
    (tmp_path / "s").mkdir()
    synthetic(tmp_path / "s")
    report_of(runner, tmp_path / "s", "--workers", "1")
    assert found[-1] == set()


def _late_lifts() -> list[set[str]]:
    """The lifts of the steps from `scope` on, as bin_misses accumulates them."""
    from analyzer.savings.misses import ORDER

    out, lifted = [], set()
    for cause in ORDER[1:]:
        lifted.add(cause)
        if cause in ("scope", "expired", "prefix_changed", "min_length"):
            out.append(set(lifted))
    return out


@pytest.mark.parametrize("log", ["traces", "synthetic", "sample_logs"])
def test_the_late_steps_replayed_in_one_pass_read_what_each_own_replay_reads(tmp_path, log):
    """The steps from `scope` on share their stores (no explicit cache once `breakpoint` is lifted), so one pass
    gives each its reads: the same, call for call, as `_simulate` of each step alone, and the same gaps and changed
    roles `_simulate` records at the `expired` and `prefix_changed` steps. Also for every subset of those steps."""
    from itertools import combinations

    from analyzer.savings import misses
    from tests.test_build import _engine

    if log == "traces":
        paths = sorted(TRACES.glob("*.traj.json.gz"))[:12]
    elif log == "synthetic":
        synthetic(tmp_path)
        # and a conversation whose system prompt changes as it switches model (the scope lifted, its previous
        # request still counts)
        q1, _ = turn("Q. Today is 2025-11-24. " + LONG)
        _, q2 = turn("Q. Today is 2025-11-25. " + LONG)
        write_jsonl(
            tmp_path / "q.jsonl", [ds("q1", T0 + 50, q1, "q"), ds("q2", T0 + 110, q2, "q", "deepseek-reasoner")]
        )
        paths = [tmp_path]
    else:
        paths = [ROOT / "sample_logs"]
    reqs = misses._prepare(_engine(paths))
    assert len(reqs) >= 4
    lifts = _late_lifts()
    alone_info: dict = {}
    # bin_misses gives `_simulate` its info at these two steps (1 and 2) only
    alone = [misses._simulate(reqs, lift, alone_info if k in (1, 2) else None) for k, lift in enumerate(lifts)]
    shared_info: dict = {}
    assert misses._simulate_shared(reqs, lifts, shared_info) == alone
    assert shared_info == alone_info
    assert any(a != alone[0] for a in alone[1:]) or log == "sample_logs"  # the steps differ somewhere
    for k in range(1, len(lifts)):
        for some in combinations(range(len(lifts)), k):
            assert misses._simulate_shared(reqs, [lifts[i] for i in some], {}) == [alone[i] for i in some]


@pytest.mark.parametrize("log", ["synthetic", "sample_logs"])
def test_the_levels_priced_stacked_cost_what_each_level_priced_alone_costs(tmp_path, log, monkeypatch):
    """bin_misses prices its levels in one pricing of their frames stacked (up to STACK_ROWS rows at a time):
    pricing goes row by row (price version, off-peak window, tier, multipliers), so each level's costs are those of
    a pricing of its own, call for call, however the levels are grouped."""
    import random

    import polars as pl

    from analyzer.savings import misses
    from analyzer.savings.traffic import with_bill
    from tests.test_build import _engine

    if log == "synthetic":
        synthetic(tmp_path)
        paths = [tmp_path]
    else:
        paths = [ROOT / "sample_logs"]
    engine = _engine(paths)
    reqs = misses._prepare(engine)
    ids = [r.call.call_id for r in reqs]
    frame = with_bill(engine.baseline("central").frame.filter(pl.col("call_id").is_in(ids)), engine.traffic.rows)
    rng = random.Random(7)
    inputs = dict(zip(frame["call_id"].to_list(), frame["input_tokens"].to_list(), strict=True))
    levels = [{c: rng.randint(0, n) for c, n in inputs.items()} for _ in range(4)]
    alone = [misses._price(frame, [lv], engine.cat)[0] for lv in levels]
    for rows in (10**9, 3 * frame.height, 2 * frame.height + 1, 1):  # all four at once, 3 + 1, 2 + 2, one by one
        monkeypatch.setattr(misses, "STACK_ROWS", rows)
        assert misses._price(frame, levels, engine.cat) == alone
    assert len({tuple(c) for c in alone}) == 4 and all(len(c) == frame.height for c in alone)
    assert len(set(frame["model"].to_list())) >= 2
