"""One prefix-chain builder (prefixes.PrefixChain): the cache simulator's requests and the prefix tables see the
same prefixes, and every estimate's range and verdict come from one rule (estimate.judge)."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import patch

from hypothesis import example, given, settings
from hypothesis import strategies as st

from analyzer import conversations, prefixes, tokens
from analyzer.prices import load_catalogue
from analyzer.report import priced_frame
from analyzer.savings import Verdict
from analyzer.savings.engine import Engine
from analyzer.savings.estimate import judge
from analyzer.savings.traffic import prepare
from analyzer.store import Store
from tests.conftest import chat_call, write_jsonl


def test_the_simulator_and_the_prefix_tables_build_the_same_chains(tmp_path: Path) -> None:
    """Two conversations of three turns behind one system prompt, on two models. The prefix tables' chains start
    from the model (two models never share a node there); the simulator's start from 0, as its caches are per
    scope (provider, model, key), and are then why-missed's model-free chains too. Within a model both builders
    see the same prefixes: the same nodes equal, the same system-prompt end."""
    system = {"role": "system", "content": "You are the shop's assistant. " * 30}
    calls = []
    for c, model in enumerate(("gpt-4o-mini", "gpt-4o")):
        history = [system]
        for turn in range(3):
            history = [*history, {"role": "user", "content": f"conversation {c} question {turn}"}]
            usage = {"prompt_tokens": 200 + 40 * turn, "completion_tokens": 5}
            calls.append(chat_call(f"r{c}{turn}", 1_764_000_000 + 100 * c + 10 * turn, history, usage, model=model))
            history = [*history, {"role": "assistant", "content": "ok"}]
    log = write_jsonl(tmp_path / "calls.jsonl", calls)
    store = Store(None)
    store.ingest([str(log)])
    cat = load_catalogue()
    seq = conversations.load_sequence(store.con)
    engine = Engine(prepare(priced_frame(store, cat, None, None), seq, conversations.reconstruct_threads(seq)), cat)
    tables = {p.request_id: p for p in prefixes.message_prefix_requests(seq)}
    simulated = [c for c in engine.base.calls if c.nodes]
    assert len(simulated) == 6
    for a in simulated:
        body = engine.traffic.body[a.call_id]
        assert a.nodes == _scratch(None, body.roles, body.cids, seed=0)[0]
        assert a.sys_end == tables[a.call_id].sys_end == 0
        for b in simulated:
            if a.model == b.model:
                ta, tb = tables[a.call_id].nodes, tables[b.call_id].nodes
                assert [[x == y for y in b.nodes] for x in a.nodes] == [[x == y for y in tb] for x in ta]
    by_id = {c.call_id: c for c in simulated}
    assert tables["r00"].nodes[0] != tables["r10"].nodes[0]  # the same system prompt on another model
    assert by_id["r00"].nodes[0] == by_id["r10"].nodes[0]  # one node: the model is in the cache's scope
    assert tables["r01"].nodes[:2] == tables["r00"].nodes[:2]  # a turn extends its predecessor's chain
    assert by_id["r01"].nodes[:2] == by_id["r00"].nodes[:2]


def test_the_range_is_the_cases_widened_by_the_band_and_the_low_case_decides() -> None:
    j = judge(10.0, [10.0, 4.0, 12.0], 1.0)
    assert (j.verdict, j.saving, j.low, j.high, j.withheld) == (Verdict.SAVES, 10.0, 3.0, 13.0, None)
    # the central case clears the band, the low case does not: withheld, and why
    j = judge(10.0, [10.0, 0.5, 12.0], 1.0)
    assert j.verdict == Verdict.WITHHELD and "does not clear the error band" in (j.withheld or "")
    assert judge(10.0, [10.0, -2.0], 1.0).withheld == "its low case loses money (-$2.00)"
    # inside the band: nothing to gain; below it: costs more; an unknown band widens nothing
    assert judge(0.5, [0.5], 1.0).verdict == Verdict.NOTHING_TO_GAIN
    assert judge(-3.0, [-3.0, -1.0], 1.0).verdict == Verdict.COSTS_MORE
    assert judge(2.0, [2.0, 1.0], None)[2:4] == (1.0, 2.0)
    assert Verdict.SAVES == "saves" and f"{Verdict.COSTS_MORE}" == "costs more"  # the model's text, unchanged


def _scratch(model: str | None, roles: list[str], cids: list[int], seed: int | None = None) -> tuple[list[int], int]:
    """A request's nodes and sys_end built message by message by PrefixChain, the one builder, from the model's
    seed (the prefix tables') or from `seed`."""
    chain = prefixes.PrefixChain(prefixes.chain_seed(model) if seed is None else seed)
    for role, cid in zip(roles, cids, strict=True):
        chain.add(role, cid)
    return chain.nodes, chain.sys_end


_SAME_START = [("system", 0, 0), ("user", 1, 0)]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["m1", "m2"]),
            # few roles and contents: requests often share a start, and differ later by a role or a content only
            # and a content's tokens may differ between requests (another encoding, a recount): sizes are not nodes
            st.lists(
                st.tuples(st.sampled_from(["system", "user"]), st.integers(0, 1), st.sampled_from([0, 0, 0, 1])),
                max_size=7,
            ),
            st.booleans(),
        ),
        min_size=1,
        max_size=30,
    )
)
@example(
    [
        ("m1", [*_SAME_START, ("user", 1, 0), ("user", 0, 0)], False),
        ("m1", [*_SAME_START, ("system", 1, 0), ("user", 0, 0), ("user", 1, 0)], True),  # same contents, a role differs
        ("m1", [*_SAME_START, ("user", 1, 1)], False),  # a trimmed history: part of the last one, recounted
        ("m2", [*_SAME_START, ("user", 1, 0), ("user", 0, 0)], False),  # another model: no node shared
    ]
)
def test_the_prefix_tables_chains_are_the_one_builders_whatever_requests_share(reqs) -> None:
    """message_prefix_requests hashes only what a request adds to the last one with its model and first two
    messages: requests that share all, part (a trimmed or edited history) or none of it, interleaved, on two
    models, with outputs and breakpoints among their messages, get PrefixChain's nodes, sys_end and breakpoints."""
    from datetime import UTC, datetime

    import polars as pl

    from analyzer.conversations import Sequence

    requests, messages = [], []
    for req, (model, msgs, marked) in enumerate(reqs, start=1):
        requests.append((req, f"r{req}", datetime.fromtimestamp(1_764_000_000 + req, UTC), model))
        for pos, (role, cid, recount) in enumerate(msgs):
            bp = "5m" if marked and pos == len(msgs) - 1 else None
            messages.append((req, pos, cid, role, 10 + cid + recount, False, bp))
        messages.append((req, len(msgs), 99, "assistant", 5, True, None))  # an output: not part of the chain
    seq = Sequence(
        pl.DataFrame(requests, schema=["req", "request_id", "ts", "model"], orient="row"),
        pl.DataFrame(
            messages, schema=["req", "position", "cid", "role", "tokens", "is_output", "breakpoint"], orient="row"
        ),
    )
    # the requests walked all at once, one at a time, and in slices of 2 and 3 (`_added`): a request's earlier one
    # may be in another slice
    for chunk in (prefixes.CHAIN_CHUNK, 1, 2, 3):
        with patch.object(prefixes, "CHAIN_CHUNK", chunk):
            got = {p.request_id: p for p in prefixes.message_prefix_requests(Sequence(seq.requests, seq.messages))}
        assert list(got) == [f"r{req}" for req, (_, msgs, _) in enumerate(reqs, start=1) if msgs]
        for req, (model, msgs, marked) in enumerate(reqs, start=1):
            if not msgs:
                continue
            p = got[f"r{req}"]
            nodes, sys_end = _scratch(model, [r for r, _, _ in msgs], [c for _, c, _ in msgs])
            assert (p.nodes, p.sys_end) == (nodes, sys_end)
            assert p.sizes == [10 + c + e + tokens.TOKENS_PER_MESSAGE for _, c, e in msgs]
            assert p.breakpoints == ([len(msgs) - 1] if marked else [])


def test_each_role_becomes_its_id_in_the_query_that_collects_the_rows() -> None:
    """`_walk` maps each message's role to `_role_id` while it collects the rows (a chain of comparisons for a
    log's few roles, a lookup beyond ROLE_CHAIN_MAX): a missing role is "", and both ways give every role its id."""
    import polars as pl

    roles = [None, "", "system", "user", "assistant", "tool", "Developer", "x" * 40]
    frame = pl.DataFrame({"role": roles}, schema={"role": pl.String})
    ids = {role: prefixes._role_id(role) for role in ("", *frame["role"].drop_nulls().unique().to_list())}
    want = [prefixes._role_id(r or "") for r in roles]
    assert len(set(want)) == len(roles) - 1  # only None and "" share an id
    for cap in (prefixes.ROLE_CHAIN_MAX, 1):  # the chain, then the lookup
        with patch.object(prefixes, "ROLE_CHAIN_MAX", cap):
            got = frame.select(role=prefixes._role_column(ids))["role"]
        assert got.dtype == pl.Int64 and got.to_list() == want
