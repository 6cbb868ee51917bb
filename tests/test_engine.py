"""The counterfactual engine on small hand-built logs whose right answer follows from the providers' documented
rules: every saving is replay(as logged) - replay(with the lever), the backtest can fail, and what costs more or
sits inside the error band is never offered as a saving."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from analyzer import tokens
from analyzer.cli import cli
from analyzer.render import render_markdown
from tests.conftest import ROOT, write_jsonl

T0 = 1_764_000_000
SYSTEM = "You are the audit assistant. Quote the control id and the clause in every answer you give. " * 80


def anthropic_call(rid, ts, messages, usage, system_ttl=None, model="claude-sonnet-4-5", user=None):
    block = {"type": "text", "text": SYSTEM}
    if system_ttl:
        block["cache_control"] = {"type": "ephemeral", "ttl": system_ttl}
    return {
        "timestamp": ts,
        "metadata": {"user": user} if user else {},
        "request": {"model": model, "system": [block], "messages": messages, "max_tokens": 100},
        "response": {
            "id": rid,
            "type": "message",
            "model": model,
            "content": [{"type": "text", "text": "ok"}],
            "usage": usage,
        },
    }


def report_of(runner, path, *extra):
    res = runner.invoke(cli, ["report", str(path), "--json", "-", *extra])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_one_hour_breakpoints_backtest_with_their_own_ttl(runner, tmp_path):
    """A 1-hour breakpoint on the system prompt, read 20 minutes later: the as-is replay honours the
    breakpoint's own TTL and matches what Anthropic reported (a 5-minute replay would find nothing: -100%)."""
    sys_tokens = tokens.count(SYSTEM) + 3
    recs = []
    for i, gap in enumerate((0, 1200, 2400)):
        user = [{"role": "user", "content": f"check control {i}"}]
        n_user = tokens.count(f"check control {i}") + 3 + 3
        usage = {"input_tokens": n_user, "output_tokens": 5}
        if i == 0:
            usage |= {
                "cache_creation_input_tokens": sys_tokens,
                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": sys_tokens},
            }
        else:
            usage |= {"cache_read_input_tokens": sys_tokens}
        recs.append(anthropic_call(f"h{i}", T0 + gap, user, usage, system_ttl="1h"))
    bt = report_of(runner, write_jsonl(tmp_path / "h.jsonl", recs))["caching"]["backtest"]
    assert bt["reported_cache_read_tokens"] == 2 * sys_tokens
    assert bt["simulated_cache_read_tokens"] == 2 * sys_tokens
    assert bt["error_pct"] == 0.0 and bt["reported_zero_simulated_hits"] == 0
    assert bt["per_call_error_points_p95"] == 0.0
    # the replay priced the first call's write at the 1-hour price, as billed: no cost error
    assert bt["cost_error_pct"] == 0.0


def conversation(turns, provider_cached=True):
    """A DeepSeek agent-like thread: every call re-sends the whole history, DeepSeek caches it automatically
    (64-token units) and reports the hits, as the real traces do."""
    msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "fix the failing test in utils.py"}]
    recs = []
    prev_prompt = 0
    for k in range(turns):
        prompt = sum(tokens.count(m["content"]) + 3 for m in msgs) + 3
        hit = (prev_prompt // 64) * 64 if provider_cached else 0
        recs.append(
            {
                "timestamp": T0 + 20 * k,
                "request": {"model": "deepseek-chat", "messages": msgs},
                "response": {
                    "id": f"d{k}",
                    "object": "chat.completion",
                    "model": "deepseek-chat",
                    "choices": [{"message": {"role": "assistant", "content": f"running step {k}"}}],
                    "usage": {
                        "prompt_tokens": prompt,
                        "completion_tokens": 40,
                        "prompt_cache_hit_tokens": hit,
                        "prompt_cache_miss_tokens": prompt - hit,
                    },
                },
            }
        )
        tool_output = f"step {k} output: " + " ".join(f"line {k}-{j} of the build log" for j in range(120))
        msgs = msgs + [{"role": "assistant", "content": f"running step {k}"}, {"role": "tool", "content": tool_output}]
        prev_prompt = prompt - 3  # the next call shares every message of this one (not the reply framing)
    return recs


def test_sliding_window_on_cached_agent_traffic_costs_more_and_is_never_a_saving(runner, tmp_path):
    r = report_of(runner, write_jsonl(tmp_path / "a.jsonl", conversation(12)))
    bt = r["caching"]["backtest"]
    assert abs(bt["error_pct"]) < 2  # the simulator reproduces DeepSeek's reported hits
    trims = {e["policy"]: e for e in r["savings"] if e["lever"] == "trimming"}
    window = trims["history budget 8k tokens"]
    # every turn's oldest kept message changes, so every turn misses the cache: the bill goes up
    assert window["saving_usd"] < 0 and window["verdict"] == "costs more"
    assert window["detail"]["cache_read_tokens_after"] < window["detail"]["cache_read_tokens_before"]
    assert all(lv["policy"] != "history budget 8k tokens" for lv in r["headline"]["levers"])
    assert any("history budget 8k tokens" in x["text"] for x in r["headline"]["costs_more"])
    assert all(c["policy"] != "history budget 8k tokens" for c in (r["combined"]["components"] or []))
    # DeepSeek caches automatically: there is no caching lever to "turn on"
    assert not [e for e in r["savings"] if e["lever"] == "caching"]
    assert "Turn on" not in json.dumps(r["headline"])
    # no batch price exists for DeepSeek: nothing is invented
    assert not [e for e in r["savings"] if e["lever"] == "batching"]


def test_every_estimate_says_how_it_was_made(runner, tmp_path):
    r = report_of(runner, write_jsonl(tmp_path / "a.jsonl", conversation(12)))
    for e in r["savings"]:
        assert e["method"].startswith("two-replay") and e["policies"]
        assert {"band_usd", "cost_logged_usd", "cost_replayed_usd"} <= set(e["backtest"])
        assert e["verdict"] in ("saves", "nothing to gain", "costs more")
        if e["verdict"] == "nothing to gain":
            assert abs(e["saving_usd"]) <= e["backtest"]["band_usd"]
        if e["verdict"] == "costs more":
            assert e["saving_usd"] < -e["backtest"]["band_usd"]


def test_batching_never_credits_end_user_chats_nor_invents_a_batch_price(runner, tmp_path):
    """30 single-turn support chats, each with an end user: not programmatic, not batched. 30 DeepSeek calls from a
    machine: DeepSeek has no Batch API, so nothing is credited. 30 gpt-4o calls from a machine: batched at the
    catalogue's batch price ($1.25 / $5 per M)."""
    recs = []
    for i in range(30):
        m = [{"role": "user", "content": f"where is my order {i}?"}]
        recs.append(chat(f"u{i}", T0 + i, m, "gpt-4o", user=f"customer-{i}", key="support"))
        recs.append(
            chat(f"d{i}", T0 + i, [{"role": "user", "content": f"label row {i}"}], "deepseek-chat", key="etl-ds")
        )
        recs.append(chat(f"o{i}", T0 + i, [{"role": "user", "content": f"classify row {i}"}], "gpt-4o", key="etl"))
    r = report_of(runner, write_jsonl(tmp_path / "b.jsonl", recs))
    (b,) = [e for e in r["savings"] if e["lever"] == "batching"]
    per_call = (1000 * 2.5e-6 + 100 * 1e-5) - (1000 * 1.25e-6 + 100 * 5e-6)
    assert b["requests"] == 30 and b["saving_usd"] == pytest.approx(30 * per_call)
    assert any("30 programmatic request(s) left out: their provider offers no batch price" in x for x in b["evidence"])


def test_an_openai_record_in_a_file_read_as_anthropic_is_read_as_openai_not_free(runner, tmp_path):
    """A file is detected from its first records: a later OpenAI-style record used to load as a call with 0 tokens
    ($0), then was rejected. A gateway log mixes both (issue 23, item 2): it is read in its own format, priced."""
    first = anthropic_call("c0", T0, [{"role": "user", "content": "hi"}], {"input_tokens": 10, "output_tokens": 5})
    other = chat("o0", T0 + 1, [{"role": "user", "content": "hi"}], "gpt-4o")
    r = report_of(runner, write_jsonl(tmp_path / "m.jsonl", [first, other]))
    assert r["totals"]["requests"] == 2 and r["ingest"]["rejected"] == 0
    assert r["totals"]["input_tokens"] == 10 + 1000 and r["totals"]["output_tokens"] == 5 + 100


def chat(rid, ts, messages, model, user=None, key=None, prompt=1000, out=100):
    meta = {k: v for k, v in (("user", user), ("api_key", key)) if v}
    return {
        "timestamp": ts,
        "metadata": meta,
        "request": {"model": model, "messages": messages},
        "response": {
            "id": rid,
            "object": "chat.completion",
            "model": model,
            "choices": [{"message": {"role": "assistant", "content": "ok"}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": out},
        },
    }


def test_combined_replays_exactly_the_ranked_levers_and_the_markdown_sum_adds_up(runner, tmp_path):
    """Caching (breakpoints on an uncached Claude conversation) and batching (a programmatic gpt-4o key) both
    save: the combined replay runs exactly their best policies, its "separate sum" is their sum, and the
    Markdown's "if summed" figure is that sum."""
    recs = []
    msgs = [{"role": "user", "content": "first question about clause 1"}]
    for k in range(6):
        n_in = tokens.count(SYSTEM) + 3 + sum(tokens.count(m["content"]) + 3 for m in msgs) + 3
        recs.append(anthropic_call(f"c{k}", T0 + 60 * k, msgs, {"input_tokens": n_in, "output_tokens": 50}))
        msgs = msgs + [{"role": "assistant", "content": "ok"}, {"role": "user", "content": f"question {k}"}]
    write_jsonl(tmp_path / "c.jsonl", recs)  # one format per file: a file is read in its first records' format
    etl = [chat(f"o{i}", T0 + i, [{"role": "user", "content": f"row {i}"}], "gpt-4o", key="etl") for i in range(30)]
    write_jsonl(tmp_path / "o.jsonl", etl)
    r = report_of(runner, tmp_path)
    h = r["headline"]
    ranked = {(lv["lever"], lv["policy"]) for lv in h["levers"] + h["other_levers"] if lv["lever"] != "prompt layout"}
    comps = {(c["lever"], c["policy"]) for c in r["combined"]["components"]}
    assert comps == ranked and {lever for lever, _ in comps} >= {"caching", "batching"}
    assert all(x["verdict"] != "saves" for x in r["combined"]["left_out"])
    best = {}
    for e in r["savings"]:
        if e["verdict"] == "saves" and e["saving_usd"] > best.get(e["lever"], -1):
            best[e["lever"]] = e["saving_usd"]
    assert r["combined"]["separate_sum_usd"] == pytest.approx(sum(best.values()))
    assert h["combined"]["separate_sum_usd"] == pytest.approx(sum(best.values()))
    md = render_markdown(r)
    assert f"the levers above add up to ${sum(best.values()):.4f} if summed" in md.replace("\\", "")


@pytest.mark.skipif(
    not (ROOT.parent / "shared" / "traces" / "mini_swe_agent_deepseek_test").is_dir(),
    reason="the shared traces are not beside this checkout",
)
def test_real_deepseek_agent_traces_backtest_and_advice(runner, tmp_path):
    """99 real mini-swe-agent runs on DeepSeek (../shared/traces, PROVENANCE.md): the as-is replay is within 2% of
    the cache reads DeepSeek reported, in total and per model; no lever inside the error band is ranked; sliding
    windows cost more; compaction's figure says what it rests on."""
    traces = ROOT.parent / "shared" / "traces" / "mini_swe_agent_deepseek_test"
    r = report_of(runner, traces)
    assert r["totals"]["requests"] == 7924
    bt = r["caching"]["backtest"]
    assert bt["reported_cache_read_tokens"] == 172_823_680
    assert abs(bt["error_pct"]) < 2
    for m in bt["by_model"]:
        assert abs(m["error_pct"]) < 2, m
    assert bt["per_call_error_points_p95"] is not None
    for lv in r["headline"]["levers"]:
        e = next(e for e in r["savings"] if (e["lever"], e["policy"]) == (lv["lever"], lv["policy"]))
        assert e["verdict"] == "saves" and e["saving_usd"] > e["backtest"]["band_usd"]
    trims = {e["policy"]: e for e in r["savings"] if e["lever"] == "trimming"}
    assert trims["history budget 8k tokens"]["saving_usd"] < 0
    assert trims["history budget 32k tokens"]["saving_usd"] < 0
    compact = trims["compact at 32k tokens"]
    assert compact["detail"]["compactions"] > 0 and compact["detail"]["summariser_usd"] > 0
    assert any("summariser" in x for x in compact["evidence"])


def test_the_trajectory_source_reads_a_real_run():
    from analyzer.store import Store

    path = ROOT / "tests" / "fixtures" / "mini_swe_agent.traj.json.gz"
    run = json.loads(gzip.decompress(Path(path).read_bytes()))
    calls = [m for m in run["messages"] if m["role"] == "assistant"]
    store = Store(None)
    res = store.ingest([str(path)])
    assert res.files[0].format == "mini_swe_agent_traj" and res.files[0].rows == len(calls) == 31
    got = store.con.execute(
        "SELECT sum(input_tokens), sum(cache_read_tokens), sum(output_tokens), sum(reported_cost) FROM requests"
    ).fetchone()
    usage = [m["extra"]["response"]["usage"] for m in calls]
    assert got[0] == sum(u["prompt_tokens"] for u in usage)
    assert got[1] == sum(u["prompt_cache_hit_tokens"] for u in usage)
    assert got[2] == sum(u["completion_tokens"] for u in usage)
    assert got[3] == pytest.approx(sum(m["extra"]["cost"] for m in calls))
    # the request of call k is the messages before it: each call's messages extend the previous call's
    n = store.con.execute("SELECT count(*) FROM messages WHERE NOT is_output").fetchone()[0]
    first_call = next(i for i, m in enumerate(run["messages"]) if m["role"] == "assistant")
    assert n == sum(first_call + 2 * k for k in range(31))


def test_each_scope_gets_its_own_best_trimming_policy():
    from analyzer.savings import Estimate
    from analyzer.savings.trimming import _best_by_scope

    def est(policy, by_scope, verdict="saves"):
        return Estimate(
            "trimming",
            policy,
            "",
            1,
            1.0,
            1.0,
            0.0,
            0.0,
            0.0,
            detail={"saving_by_scope_usd": by_scope},
            verdict=verdict,
        )

    window = est("last 4 turns", {"openai/gpt-4o": 2.0, "deepseek/deepseek-chat": -3.0})
    compact = est("compact at 32k tokens", {"openai/gpt-4o": 0.5, "deepseek/deepseek-chat": 1.5})
    banded = est("clear tool results", {"deepseek/deepseek-chat": 9.0}, verdict="nothing to gain")
    _best_by_scope([window, compact, banded])
    assert window.detail["best_for_scopes"] == [{"scope": "openai/gpt-4o", "saving_usd": 2.0}]
    assert compact.detail["best_for_scopes"] == [{"scope": "deepseek/deepseek-chat", "saving_usd": 1.5}]
    assert "best_for_scopes" not in banded.detail


def test_a_broken_call_in_a_trajectory_is_rejected_with_its_place_and_the_others_load(tmp_path):
    from analyzer.store import Store

    path = ROOT / "tests" / "fixtures" / "mini_swe_agent.traj.json.gz"
    run = json.loads(gzip.decompress(Path(path).read_bytes()))
    calls = [i for i, m in enumerate(run["messages"]) if m["role"] == "assistant"]
    del run["messages"][calls[2]]["extra"]["response"]  # one call without the provider's response
    run["messages"][calls[5]]["extra"]["response"]["usage"]["prompt_tokens"] = -5  # one with a bad count
    run["messages"][calls[7]]["extra"]["timestamp"] = "yesterday"  # one with a bad time
    bad = tmp_path / "broken.traj.json"
    bad.write_text(json.dumps(run))
    store = Store(None)
    res = store.ingest([str(bad)])
    assert res.files[0].format == "mini_swe_agent_traj"
    assert res.files[0].rows == 28 and res.files[0].rejected == 3
    reasons = store.con.execute("SELECT location, reason FROM rejects ORDER BY line").fetchall()
    assert reasons[0][0] == f"{bad}[{calls[2] + 1}]" and "extra.response" in reasons[0][1]
    assert "negative" in reasons[1][1] or "prompt_tokens" in reasons[1][1]
    assert "timestamp" in reasons[2][1]


def test_a_case_that_keeps_every_ttl_is_not_replayed_again(runner, tmp_path, monkeypatch):
    """OpenAI's low case keeps the central 5 minutes, DeepSeek's high case the central hour: those cases replay
    the calls exactly as the central one, so the engine reuses the central replay and comparison instead of
    simulating them again. The report is the one computed with every case replayed, with fewer simulations."""

    from analyzer.providers import DEEPSEEK_V4_ALIASES_FROM
    from analyzer.savings import engine
    from analyzer.savings.traffic import Call
    from tests.conftest import ROOT

    def call(provider, model, ts=0.0):
        return Call("c", "c", ts, provider, model, "k", 1, 1, 0, False, [1], [1], -1, (), (0, 0, 0), False)

    assert [engine.twin([call("openai", "gpt-4o")], c) for c in ("central", "low", "high")] == [
        "central",
        "central",
        "high",
    ]
    assert engine.twin([call("deepseek", "deepseek-chat")], "high") == "central"
    assert engine.twin([call("google", "gemini-2.5-pro")], "low") == "low"  # 3 minutes, not 5
    assert engine.twin([call("openai", "gpt-4o"), call("deepseek", "deepseek-chat")], "low") == "low"
    # DeepSeek V4's units keep the same TTLs; a call on each side of the alias date is checked with its own rule
    v4 = call("deepseek", "deepseek-chat", DEEPSEEK_V4_ALIASES_FROM + 1)
    assert engine.twin([v4, call("deepseek", "deepseek-chat")], "high") == "central"

    # six real agent runs on DeepSeek (one hour central and high, 5 minutes low): a trimming policy saves there,
    # so its low and high cases are compared too
    traces = ROOT.parent / "shared" / "traces" / "mini_swe_agent_deepseek_test"
    if not traces.is_dir():
        pytest.skip("the shared traces are not beside this checkout")
    log = tmp_path / "log"
    log.mkdir()
    for f in sorted(traces.glob("*.traj.json.gz"))[:6]:
        (log / f.name).write_bytes(f.read_bytes())
    runs = {}
    simulated: list[int] = []
    real = engine.simulate

    def counting(*a, **k):
        simulated.append(1)
        return real(*a, **k)

    monkeypatch.setattr(engine, "simulate", counting)
    cases: list[str] = []  # the cases compared with the lever's calls in hand (the ones a twin can spare)
    compare = engine.Engine._compare

    def noting(self, lever, case, calls):
        if calls is not None:
            cases.append(case)
        return compare(self, lever, case, calls)

    monkeypatch.setattr(engine.Engine, "_compare", noting)
    for mode in ("twins", "every case"):
        if mode == "every case":
            monkeypatch.setattr(engine, "twin", lambda calls, case: case)
        simulated.clear()
        res = runner.invoke(cli, ["report", str(log), "--json", "-", "--workers", "1"])
        assert res.exit_code == 0, res.output
        r = json.loads(res.stdout)
        runs[mode] = (len(simulated), {k: r[k] for k in ("savings", "combined", "caching", "cache_misses")})
    assert {"low", "high"} <= set(cases)  # every case was compared in the second run: the check is not empty
    assert runs["twins"][1] == runs["every case"][1]
    assert runs["twins"][0] < runs["every case"][0]


def test_a_lever_copied_to_a_worker_is_the_same_lever():
    """The twin cases' memo keeps the last lever compared: a worker gets a new copy of the lever with each question
    (a Trim defines no equality), which must count as the same lever; another policy or route must not."""
    import pickle

    from analyzer.savings import trimming
    from analyzer.savings.levers import Compact, Lever, same_lever

    for policy in trimming.POLICIES:
        lever = Lever(policy.name, trim=policy)
        assert same_lever(lever, pickle.loads(pickle.dumps(lever)))
    a = Lever("compact", trim=Compact(32000))
    assert not same_lever(a, Lever("compact", trim=Compact(64000)))
    assert not same_lever(a, Lever("compact", trim=Compact(32000), batch=frozenset({"r1"})))
    assert not same_lever(Lever("r", route={"r1": "m"}), Lever("r", route={"r1": "n"}))
    assert same_lever(None, None) and not same_lever(a, None)


def _evidence_by_hand(engine_, affected, alt):
    """An outcome's evidence (Outcome: reported cache tokens in the changed requests' scopes, the lever's cache
    tokens on them, its calls that read a prefix the log shows), counted row by row in Python."""
    from analyzer.providers import RULES, min_tokens

    lg = engine_.traffic.logged
    scopes_logged = {(lg[r].provider, lg[r].model, lg[r].key) for r in affected if r in lg}
    logged = sum(sum(x.cache) for x in lg.values() if (x.provider, x.model, x.key) in scopes_logged)
    rows = list(alt.frame.iter_rows(named=True))
    mine = [r for r in rows if r["base_id"] in affected]
    cache = ("cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens")
    simulated = sum(r[c] for r in mine for c in cache)
    key = {rid: x.key for rid, x in lg.items()}
    scopes = {(r["provider"], r["model"], key.get(r["base_id"], "")) for r in mine}
    evidenced = 0
    for r in rows:
        body, rule = engine_.traffic.body.get(r["base_id"]), RULES.get(r["provider"] or "")
        if r["cache_read_tokens"] <= 0 or (r["provider"], r["model"], key.get(r["base_id"], "")) not in scopes:
            continue
        if body is not None and rule is not None and body.scale > 0:
            evidenced += r["cache_read_tokens"] / body.scale >= min_tokens(rule, r["model"])
    return logged, simulated, evidenced


def test_the_evidence_of_every_outcome_is_the_one_counted_by_hand(runner, tmp_path, monkeypatch):
    """Every comparison's evidence, computed in frames, is the one counted row by row: on six real agent runs
    (one provider and key) and on a synthetic log of several providers, models and keys."""
    import subprocess
    import sys

    from analyzer.savings import engine

    traces = ROOT.parent / "shared" / "traces" / "mini_swe_agent_deepseek_test"
    logs = []
    if traces.is_dir():
        (tmp_path / "t").mkdir()
        for f in sorted(traces.glob("*.traj.json.gz"))[:6]:
            (tmp_path / "t" / f.name).write_bytes(f.read_bytes())
        logs.append(tmp_path / "t")
    synthetic = tmp_path / "s"
    subprocess.run([sys.executable, str(ROOT / "bench" / "make_log.py"), str(synthetic), "--calls", "1500"], check=True)
    logs.append(synthetic)
    real = engine.Engine._evidence
    seen: list[tuple[int, int, int]] = []

    def checked(self, affected, ids, base_rows, alt_rows, alt):
        got = real(self, affected, ids, base_rows, alt_rows, alt)
        if affected:
            logged, simulated, evidenced = _evidence_by_hand(self, affected, alt)
            assert (got[0], got[2], got[3]) == (logged, simulated, evidenced)
            assert set(base_rows["base_id"].to_list()) <= affected
            seen.append((logged, simulated, evidenced))
        return got

    monkeypatch.setattr(engine.Engine, "_evidence", checked)
    for log in logs:
        before = len(seen)
        res = runner.invoke(cli, ["report", str(log), "--json", "-", "--workers", "1"])
        assert res.exit_code == 0, res.output
        assert len(seen) > before  # levers changed requests there: the check ran
    assert any(e > 0 for *_, e in seen) and any(lg > 0 for lg, *_ in seen)


def test_evidence_counts_only_the_changed_requests_scopes_and_reads_at_the_minimum():
    """By hand: a lever changes r1 (OpenAI, key A). Its scope's calls that read at least the minimum (1,024 tokens
    for OpenAI; r4 reads exactly that, at its scale) are evidence; r2 (the same model on key B) and r3 (below the
    minimum once scaled) are not; r5 (no body) is not. The reported cache counts r1's and r4's scope only."""
    import polars as pl

    from analyzer.savings.engine import Engine, Replay, _ids
    from analyzer.savings.levers import Body
    from analyzer.savings.traffic import Logged, Traffic

    def logged(key, cache):
        return Logged("openai", "gpt-4o", key, None, 0.0, 5000, 10, 0, False, cache)

    def body(scale):
        return Body(["user"], [1], [4000], {}, scale)

    lg = {
        "r1": logged("A", (100, 0, 0)),
        "r2": logged("B", (7000, 0, 0)),
        "r3": logged("A", (20, 0, 0)),
        "r4": logged("A", (0, 0, 0)),
        "r5": logged("A", (1, 0, 0)),
    }
    bodies = {"r1": body(1.0), "r2": body(1.0), "r3": body(2.0), "r4": body(0.5)}
    engine_ = Engine.__new__(Engine)
    engine_.traffic = Traffic(pl.DataFrame(), list(lg), lg, bodies, {}, {})
    engine_._reported_by_scope, engine_._meta_frame = None, None
    frame = pl.DataFrame(
        {
            "base_id": ["r1", "r2", "r3", "r4", "r5"],
            "provider": ["openai"] * 5,
            "model": ["gpt-4o"] * 5,
            "cache_read_tokens": [3000, 4000, 2000, 512, 5000],
            "cache_write_5m_tokens": [7, 0, 0, 0, 0],
            "cache_write_1h_tokens": [0, 0, 0, 0, 0],
        }
    )
    alt = Replay(frame)
    mine = frame.filter(pl.col("base_id") == "r1")
    got = engine_._evidence({"r1"}, _ids({"r1"}), mine, mine, alt)
    assert got == (121, 3007, 3007, 2)  # r1 and r4: 3000 / 1.0 and 512 / 0.5 = 1,024
    assert (got[0], got[2], got[3]) == _evidence_by_hand(engine_, {"r1"}, alt)


def test_a_lever_that_changes_no_call_is_the_as_logged_replay_without_pricing_anything(monkeypatch):
    """Replayed against the as-logged calls, a lever that moves, trims, batches and re-caches nothing gives the
    as-logged replay's own frame: no filtered copy of it and no pricing of an empty frame (two ~7 ms pricings, for
    half the replays of a small log). A lever that changes something still prices what it changed."""
    from analyzer.savings import engine as engine_mod
    from analyzer.savings.levers import Lever
    from tests.test_build import _engine

    e = _engine([ROOT / "sample_logs"])
    base = e.baseline("central")
    pricings: list[int] = []
    real = engine_mod.price_as_billed

    def counted(frame, cat):
        pricings.append(frame.height)
        return real(frame, cat)

    monkeypatch.setattr(engine_mod, "price_as_billed", counted)
    for nothing in (Lever("route nothing", route={}), Lever("batch nothing", batch=frozenset())):
        got = e.replay(nothing, "central")
        assert got.frame is base.frame and got.cost == base.cost and got.redone == set()
        out = e.compare(nothing, "central")
        assert out.saving == 0.0 and out.affected == set()
    assert pricings == []
    some = sorted(e.traffic.logged)[:3]
    changed = e.replay(Lever("batch three", batch=frozenset(some)), "central")
    assert pricings and changed.redone == set(some) and changed.frame is not base.frame


@pytest.mark.parametrize("log", ["traces", "synthetic", "sample_logs"])
def test_a_replay_against_the_as_logged_one_is_the_whole_replay(log, tmp_path):
    """A lever's replay simulates again only the cache scopes it can change, and takes the other calls' cache from
    the as-logged replay (a call batched in a scope nothing else changed keeps its simulated cache): call for call
    the replay of every call from scratch, in every TTL case, for routing, batching, trimming, placement and
    retention levers and their combination."""
    import random

    from analyzer.savings import engine as engine_mod
    from analyzer.savings.levers import LastTurns, Lever, compose
    from tests.test_build import _engine, _logs

    paths = _logs(tmp_path).get(log)
    if paths is None:
        pytest.skip("the shared traces are not beside this checkout")
    e = _engine(paths)
    ids = sorted(e.traffic.logged)
    rng = random.Random(3)
    some = frozenset(rng.sample(ids, max(1, len(ids) // 3)))
    cheap = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "deepseek": "deepseek-chat"}
    route = {r: cheap.get(e.traffic.logged[r].provider, "gpt-4o-mini") for r in rng.sample(ids, max(1, len(ids) // 4))}
    providers = {"gpt-4o-mini": "openai", "claude-haiku-4-5": "anthropic", "deepseek-chat": "deepseek"}
    levers = [
        Lever("batch a third", batch=some),
        Lever("route a quarter", route=route, target_provider=providers),
        Lever("last 4 turns", trim=LastTurns(4)),
        Lever("breakpoints, 1 hour", placement=3600.0),
        Lever("retain a day", retention=86400.0),
    ]
    levers.append(compose([levers[0], levers[1], levers[3]], "three together"))
    columns = None
    for lever in levers:
        calls = e.build(lever)
        for case in ("central", "low", "high"):
            e.baseline(case)
            part = engine_mod.replay(e.traffic, lever, case, e.cat, calls, e.base).frame
            whole = engine_mod.replay(e.traffic, lever, case, e.cat, calls).frame
            columns = columns or whole.columns
            assert part.select(columns).sort("call_id").equals(whole.select(columns).sort("call_id")), (
                lever.name,
                case,
            )
