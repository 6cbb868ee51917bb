"""The traffic rebuilt under a trimming lever (traffic.build): the requests a policy surely leaves whole are not
rebuilt but copied from the as-logged calls, and the rebuilt traffic is the one made by looking at every request."""

from __future__ import annotations

import subprocess
import sys
from array import array
from pathlib import Path

import polars as pl
import pytest

from analyzer import conversations
from analyzer.prices import load_catalogue
from analyzer.report import priced_frame
from analyzer.savings import traffic as traffic_module
from analyzer.savings.columns import Logged, scopes_of
from analyzer.savings.engine import Engine
from analyzer.savings.levers import Budget, ClearToolResults, Compact, LastTurns, Lever
from analyzer.savings.traffic import build, prepare
from analyzer.savings.trimming import POLICIES
from analyzer.store import Store
from tests.conftest import ROOT

TRACES = ROOT.parent / "shared" / "traces" / "mini_swe_agent_deepseek_test"

# every shipped policy, and small thresholds that trigger on small logs (a compaction's summary and extra turns)
TRIMS = [
    *POLICIES,
    LastTurns(1),
    LastTurns(2),
    Budget(1500),
    Compact(2000),
    Compact(4000, summary_tokens=8000, extra_turns=2),
    ClearToolResults(1000, 1),
]


def _engine(paths: list[Path]) -> Engine:
    store = Store(None)
    store.ingest([str(p) for p in paths])
    cat = load_catalogue()
    seq = conversations.load_sequence(store.con)
    return Engine(prepare(priced_frame(store, cat, None, None), seq, conversations.reconstruct_threads(seq)), cat)


def _logs(tmp_path: Path) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    if TRACES.is_dir():
        out["traces"] = sorted(TRACES.glob("*.traj.json.gz"))[:6]
    synthetic = tmp_path / "synthetic"
    subprocess.run([sys.executable, str(ROOT / "bench" / "make_log.py"), str(synthetic), "--calls", "1500"], check=True)
    out["synthetic"] = [synthetic]
    out["sample_logs"] = [ROOT / "sample_logs"]
    return out


def _sequence(log: str, tmp_path: Path) -> conversations.Sequence:
    """The message sequence of one of `_logs`, ingested into a new in-memory store (skipped without the traces)."""
    paths = _logs(tmp_path).get(log)
    if not paths:
        pytest.skip("../shared/traces is not beside the repository")
    store = Store(None)
    store.ingest([str(p) for p in paths])
    return conversations.load_sequence(store.con)


@pytest.mark.parametrize("log", ["traces", "synthetic", "sample_logs"])
def test_a_trimmed_traffic_is_the_one_rebuilt_request_by_request(log, tmp_path, monkeypatch):
    paths = _logs(tmp_path).get(log)
    if paths is None:
        pytest.skip("the shared traces are not beside this checkout")
    engine = _engine(paths)
    traffic, base = engine.traffic, engine.base.index
    order = traffic.order
    routed = {rid: "gpt-4o-mini" for rid in order[::7]}  # a trim with routing (a combined lever)
    levers = [Lever(t.name, trim=t) for t in TRIMS] + [
        Lever("compact + route", trim=Compact(2000), route=routed, target_provider={"gpt-4o-mini": "openai"})
    ]
    skipped = rebuilt = 0
    for lever in levers:
        todo = traffic_module._rebuilt_only(traffic, lever, base)
        assert todo is not None and todo == sorted(set(todo))
        skipped += len(order) - len(todo)
        rebuilt += len(todo)
        fast = build(traffic, lever, base)
        with monkeypatch.context() as m:
            m.setattr(traffic_module, "_rebuilt_only", lambda *a: None)
            every = build(traffic, lever, base)
        assert [c.call_id for c in fast] == [c.call_id for c in every], lever.name
        assert fast == every, lever.name
        # a request left whole is the as-logged call itself, which the replay tells by identity
        assert [c is base.get(c.call_id) for c in fast] == [c is base.get(c.call_id) for c in every], lever.name
    assert skipped and rebuilt  # both paths ran: some requests were copied, some rebuilt


def test_a_stateful_policy_rebuilds_a_thread_from_the_first_request_it_may_change():
    """By hand: a compaction at 1,000 tokens over one thread whose requests grow 400, 800, 1,200, 600 tokens (the
    last a branch): the first two are copied; from the third on every request of the thread is rebuilt, the
    fourth too although it is small (the thread has compacted). A window of 1 turn rebuilds only requests with
    two user messages or more; another thread is untouched."""
    from analyzer.savings.levers import Body
    from analyzer.savings.traffic import Shape, Traffic

    def body(toks, roles):
        return Body(roles, list(range(len(roles))), toks, {}, 1.0)

    bodies = {
        "a1": body([397], ["user"]),
        "b1": body([10, 10], ["user", "user"]),
        "a2": body([397, 400], ["user", "assistant"]),
        "a3": body([397, 400, 400], ["user", "assistant", "user"]),
        "a4": body([597], ["user"]),
    }
    order = ["a1", "b1", "a2", "a3", "a4"]
    traffic = Traffic(None, order, {}, bodies, {"a1": "A", "a2": "A", "a3": "A", "a4": "A", "b1": "B"}, {})  # type: ignore[arg-type]
    shape = traffic.shape()
    assert isinstance(shape, Shape) and shape.sizes[2] == 797 + 2 * 3 and shape.users == [1, 2, 1, 2, 1]
    base = dict.fromkeys(order)
    assert traffic_module._rebuilt_only(traffic, Lever("c", trim=Compact(1000)), base) == [3, 4]  # type: ignore[arg-type]
    assert traffic_module._rebuilt_only(traffic, Lever("w", trim=LastTurns(1)), base) == [1, 3]  # type: ignore[arg-type]
    # the threads given later (Worker.set_threads): the shape is found again
    traffic.thread = {rid: "one" for rid in order}
    assert traffic_module._rebuilt_only(traffic, Lever("c", trim=Compact(1000)), base) == [3, 4]  # type: ignore[arg-type]
    traffic.thread = {"a3": "x"}  # each other request its own thread
    assert traffic_module._rebuilt_only(traffic, Lever("c", trim=Compact(1000)), base) == [3]  # type: ignore[arg-type]


def test_routed_calls_are_made_once_per_request_and_target_and_shared_by_every_routing_lever(tmp_path, monkeypatch):
    """Routing levers of several shares (and a combined lever's cases) route the same requests to the same
    targets: each routed call is made once per traffic. A lever that routes more makes only the new ones, and
    every lever gets the calls a fresh traffic makes for it (another target: another call)."""
    synthetic = tmp_path / "synthetic"
    subprocess.run([sys.executable, str(ROOT / "bench" / "make_log.py"), str(synthetic), "--calls", "600"], check=True)
    engine, fresh = _engine([synthetic]), _engine([synthetic])
    order = engine.traffic.order
    targets = {"gpt-4o-mini": "openai", "claude-haiku-4-5": "anthropic"}
    levers = [
        Lever("half", route=dict.fromkeys(order[::2], "gpt-4o-mini"), target_provider=targets),
        Lever("all", route=dict.fromkeys(order, "gpt-4o-mini"), target_provider=targets),
        Lever("half again", route=dict.fromkeys(order[::2], "gpt-4o-mini"), target_provider=targets),
        Lever("other target", route=dict.fromkeys(order[::3], "claude-haiku-4-5"), target_provider=targets),
    ]
    made: list[int] = []
    real = traffic_module.build

    def counting(traffic, lever, base=None):
        if base is None:  # the routed requests' own build
            made.append(len(traffic.order))
        return real(traffic, lever, base)

    monkeypatch.setattr(traffic_module, "build", counting)
    for lever in levers:
        got = engine.build(lever)
        assert got == real(fresh.traffic, lever, None), lever.name  # as a traffic with nothing made yet makes them
        assert [c.model for c in got] == [lever.route.get(c.call_id, c.model) for c in got]
    half, rest, third = len(order[::2]), len(order) - len(order[::2]), len(order[::3])
    assert made == [half, rest, third]  # nothing made again for "half again"


def expected_order(s: conversations.Sequence) -> list[str]:
    """The requests with input messages, in req order (how the sequence numbers them)."""
    m = s.messages.filter(~pl.col("is_output"))
    reqs = sorted(set(m["req"].to_list()))
    ids = s.requests.sort("req")["request_id"].to_list()
    return [ids[r - 1] for r in reqs]


@pytest.mark.parametrize("log", ["traces", "synthetic", "sample_logs"])
def test_the_prepared_inputs_are_each_requests_messages_in_compact_columns(log, tmp_path):
    paths = _logs(tmp_path).get(log)
    if paths is None:
        pytest.skip("the shared traces are not beside this checkout")
    store = Store(None)
    store.ingest([str(p) for p in paths])
    seq = conversations.load_sequence(store.con)
    # the same messages with the requests' rows interleaved (each request's in the order given)
    rows = seq.messages.with_row_index("_k")
    backwards = conversations.Sequence(seq.requests, rows.sort("position", "req", descending=[False, True]).drop("_k"))
    # a missing count is 0; a missing content id or role is kept as missing
    holes = conversations.Sequence(
        seq.requests,
        rows.with_columns(
            tokens=pl.when(pl.col("_k") % 5 == 0).then(None).otherwise(pl.col("tokens")),
            cid=pl.when(pl.col("_k") == 3).then(None).otherwise(pl.col("cid")),
            role=pl.when(pl.col("_k") == 4).then(None).otherwise(pl.col("role")),
        ).drop("_k"),
    )
    priced = priced_frame(store, load_catalogue(), None, None)
    for s in (seq, backwards, holes):
        traffic = prepare(priced, s, conversations.reconstruct_threads(s))
        expected = {
            q.request_id: (q.roles, q.cids, q.tokens)
            for q in conversations.requests_of(s)
            if q.roles and q.request_id in traffic.logged
        }
        got = {rid: (list(b.roles), list(b.cids), list(b.tokens)) for rid, b in traffic.body.items()}
        assert got == expected and len(got) > 5
        if s is seq:  # machine integers, and one string object per role name
            assert all(isinstance(b.cids, array) and isinstance(b.tokens, array) for b in traffic.body.values())
            names = {id(r) for b in traffic.body.values() for r in b.roles}
            assert len(names) == len({r for b in traffic.body.values() for r in b.roles})
            # one object per request id and per thread id, however many maps hold it
            assert {id(k) for k in traffic.body} <= {id(k) for k in traffic.order} == {id(k) for k in traffic.logged}
            assert {id(k) for k in traffic.thread if k in traffic.logged} <= {id(k) for k in traffic.order}
            assert (
                len({id(t) for t in traffic.thread.values()}) == len(set(traffic.thread.values())) < len(traffic.thread)
            )
            # one tuple object per distinct sequence of roles, shared by the requests that send it
            bodies = list(traffic.body.values())
            assert len({id(b.roles) for b in bodies}) == len({b.roles for b in bodies}) < len(bodies)
            # each request's logged figures, as read from its priced row here, and one object per cache tuple
            ok = priced.filter(pl.col("priced") & (pl.col("status") == "ok"))
            for r in ok.iter_rows(named=True):
                assert traffic.logged[r["request_id"]] == Logged(
                    r["provider"] or "",
                    r["model"],
                    r["api_key"] or "",
                    r["user"],
                    r["ts"].timestamp() if r["ts"] is not None else 0.0,
                    r["input_tokens"],
                    r["output_tokens"],
                    r["reasoning_tokens"],
                    bool(r["batch"]),
                    (r["cache_read_tokens"], r["cache_write_5m_tokens"], r["cache_write_1h_tokens"]),
                )
            assert len(traffic.logged) == ok.height and set(traffic.logged) == set(ok["request_id"])
            caches = [traffic.logged[rid].cache for rid in traffic.order]
            assert len({id(c) for c in caches}) == len(set(caches)) < len(caches)
            # the bodies in the order read (req order); a logged request without input messages has none
            assert list(traffic.body) == [rid for rid in expected_order(s) if rid in expected]
            for rid in traffic.order:
                if rid in expected:
                    assert traffic.scale_of(rid) == traffic.body[rid].scale
                else:
                    assert traffic.scale_of(rid) is None and traffic.body.get(rid) is None
            # each request's cache scope read from the columns, "" where it was not logged
            ids = [*traffic.order[:50], "not-a-request"]
            assert scopes_of(traffic.logged, ids) == (
                [traffic.logged[r].provider for r in ids[:-1]] + [""],
                [traffic.logged[r].model for r in ids[:-1]] + [""],
                [traffic.logged[r].key for r in ids[:-1]] + [""],
            )
