"""Prefix reuse against brute force, capacity and TTL behaviour, top prefixes and volatile system prompts."""

from __future__ import annotations

import json
import random

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer import prefixes, reuse, system_prompts, tokens
from analyzer.cli import cli
from analyzer.prefixes import PrefixRequest
from analyzer.reuse import replay
from tests.conftest import write_jsonl


def synthetic_trace(rng: random.Random, n: int, gap: float = 60.0) -> list[dict]:
    """Mooncake-style records: each request shares a prefix with an earlier one (or only the system block),
    then adds fresh blocks; hash ids are prefix-aware as in the real trace."""
    next_id = 1
    prefixes_seen: list[list[int]] = []
    out = []
    t = 0.0
    for _ in range(n):
        t += rng.expovariate(1 / gap)
        if prefixes_seen and rng.random() < 0.7:
            base = rng.choice(prefixes_seen)
            ids = base[: rng.randint(1, len(base))]
        else:
            ids = [0]  # a system prompt block shared by everyone
        for _ in range(rng.randint(0, 4)):
            ids = ids + [next_id]
            next_id += 1
        last = rng.randint(1, 512)
        out.append(
            {
                "timestamp": round(t * 1000),
                "input_length": 512 * (len(ids) - 1) + last,
                "output_length": rng.randint(1, 300),
                "hash_ids": ids,
            }
        )
        prefixes_seen.append(ids)
    return out


def as_requests(records: list[dict]) -> list[PrefixRequest]:
    reqs = []
    for i, r in enumerate(records):
        sizes = [512] * (len(r["hash_ids"]) - 1) + [r["input_length"] - 512 * (len(r["hash_ids"]) - 1)]
        reqs.append(PrefixRequest(f"r{i}", r["timestamp"] / 1000, list(r["hash_ids"]), sizes))
    return reqs


def brute_force(reqs: list[PrefixRequest], ttl: float | None = None) -> int:
    """For each request, the longest common prefix (in tokens) with any earlier request still in the TTL."""
    hit = 0
    for i, r in enumerate(reqs):
        best = 0
        for q in reqs[:i]:
            if ttl is not None and r.ts - q.ts > ttl:
                continue
            k = 0
            while k < min(len(r.nodes), len(q.nodes)) and r.nodes[k] == q.nodes[k]:
                k += 1
            best = max(best, sum(r.sizes[:k]))
        hit += best
    return hit


def test_ideal_ratio_equals_brute_force_on_a_synthetic_trace():
    reqs = as_requests(synthetic_trace(random.Random(11), 400))
    hit, total = replay(reqs)
    assert hit == brute_force(reqs) and 0 < hit < total
    for ttl in (300.0, 3600.0):
        assert replay(reqs, ttl=ttl)[0] == brute_force(reqs, ttl=ttl)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 40), gap=st.sampled_from([5.0, 120.0, 900.0]))
def test_replay_matches_brute_force_and_is_monotone(seed, n, gap):
    reqs = as_requests(synthetic_trace(random.Random(seed), n, gap))
    ideal, total = replay(reqs)
    assert ideal == brute_force(reqs)
    short, _ = replay(reqs, ttl=300.0)
    long, _ = replay(reqs, ttl=3600.0)
    assert short == brute_force(reqs, ttl=300.0)
    assert short <= long <= ideal <= total
    caps = [replay(reqs, capacity=c)[0] for c in (0, 512, 4096, 10**9)]
    assert caps[0] == 0 and caps == sorted(caps) and caps[-1] == ideal


def test_block_trace_through_the_cli_matches_brute_force(runner, tmp_path):
    records = synthetic_trace(random.Random(5), 150)
    f = write_jsonl(tmp_path / "trace.jsonl", records)
    out = tmp_path / "s.json"
    res = runner.invoke(cli, ["report", str(f), "--json", str(out), "--cache-capacity", "20000"])
    assert res.exit_code == 0, res.output
    reuse = json.loads(out.read_text())["prefix_reuse"]
    reqs = as_requests(records)
    hit, total = brute_force(reqs), sum(sum(r.sizes) for r in reqs)
    assert reuse["input_tokens"] == total
    assert reuse["ideal_hit_tokens"] == hit
    assert reuse["ideal_hit_ratio"] == round(hit / total, 6)
    assert reuse["ttl_5m_hit_ratio"] == round(brute_force(reqs, ttl=300.0) / total, 6)
    assert reuse["capacity_tokens"] == 20000
    assert reuse["capacity_hit_ratio"] <= reuse["ideal_hit_ratio"]


def test_top_prefix_is_the_shared_system_prompt(runner, tmp_path):
    system = "You are the billing assistant for Acme. " * 40
    recs = []
    for i, user in enumerate(["u1", "u2", "u3", "u1"]):
        msgs = [{"role": "system", "content": system}, {"role": "user", "content": f"question {i}"}]
        recs.append(
            {
                "timestamp": 1_764_000_000 + 60 * i,
                "metadata": {"user": user},
                "request": {"model": "gpt-4o", "messages": msgs},
                "response": {
                    "id": f"p{i}",
                    "object": "chat.completion",
                    "model": "gpt-4o",
                    "choices": [{"message": {"role": "assistant", "content": f"answer {i}"}}],
                    "usage": {"prompt_tokens": 400, "completion_tokens": 3},
                },
            }
        )
    f = write_jsonl(tmp_path / "p.jsonl", recs)
    out = tmp_path / "s.json"
    assert runner.invoke(cli, ["report", str(f), "--json", str(out)]).exit_code == 0
    top = json.loads(out.read_text())["top_prefixes"][0]
    assert top["requests"] == 4 and top["users"] == 3 and top["messages"] == 1
    assert top["tokens"] == tokens.count(system) + tokens.TOKENS_PER_MESSAGE
    assert top["median_gap_s"] == 60 and top["reuses_within_5m"] == 1.0
    assert top["spend_usd"] > 0
    # nothing was reported as cached: all three reuses within 5 minutes are the per-prefix caching gap
    assert top["logged_cached_share"] == 0
    assert top["uncached_reuse_tokens"] == 3 * top["tokens"]


def test_volatile_date_found_at_the_right_token():
    body = " You are Ava, the support assistant for Northwind. Follow the refund policy strictly." * 6
    variants = [f"Today is 2025-11-{d}.{body}" for d in (20, 21, 24)]
    frame = pl.DataFrame(
        {"content_id": ["a", "b", "c"], "text": variants, "requests": [10, 5, 7], "model": ["m1", "m2", "m2"]}
    )
    (group,) = system_prompts.volatile_prefixes(frame)
    assert group["volatile_example"] == "20" and group["model"] == "m2"  # 12 requests to m2, 10 to m1
    # o200k: 'Today' ' is' ' ' '202' '5' '-' '11' '-' | '20' ... : the day is token 8
    assert group["first_diff_token"] == 8
    assert group["stable_before"] == "Today is 2025-11-"
    assert group["volatile_tokens"] == 1
    assert group["variants"] == 3 and group["requests"] == 22
    total = len(tokens.encoding().encode_ordinary(variants[0]))
    assert group["cacheable_now"] == 8 and group["cacheable_if_moved_to_end"] == total - 1


def test_different_prompts_with_a_shared_ending_are_not_volatile():
    tail = " Always answer in English and cite the policy section." * 8
    frame = pl.DataFrame(
        {
            "content_id": ["a", "b"],
            "requests": [3, 3],
            "text": [
                "You are a tax advisor for freelancers in Spain with many years of practice." * 4 + tail,
                "Eres un asistente de viajes." + tail,
            ],
        }
    )
    assert system_prompts.volatile_prefixes(frame) == []


def test_one_system_prompt_is_compared_with_nothing_and_loads_no_tokenizer(monkeypatch):
    """An agent's traffic sends one system prompt: no group can form, and the command's own process does not load
    the tokenizer for it (0.27 s on the real traces)."""

    def no_tokenizer(*_a, **_k):
        raise AssertionError("the tokenizer was loaded")

    monkeypatch.setattr(tokens, "encoding", no_tokenizer)
    one = pl.DataFrame({"content_id": ["a", "b"], "text": ["You are an agent. " * 40, None], "requests": [99, 1]})
    assert system_prompts.volatile_prefixes(one) == [] and system_prompts.shared_system_prefixes(one) == []
    assert system_prompts.volatile_prefixes(one.clear()) == []
    two = one.with_columns(text=pl.lit("You are an agent. " * 40))
    with pytest.raises(AssertionError, match="tokenizer"):  # two texts: compared
        system_prompts.volatile_prefixes(two)
    with pytest.raises(AssertionError, match="tokenizer"):
        system_prompts.shared_system_prefixes(two)


def test_system_prompts_sharing_a_token_prefix():
    policy = "You are Ava, the support assistant for Northwind. Follow the refund policy strictly. " * 20
    texts = [
        policy + "Now help with billing questions only.",
        policy + "Now help with shipping questions only.",
        "Something else entirely. " * 80,
    ]
    frame = pl.DataFrame({"content_id": ["a", "b", "c"], "text": texts, "requests": [4, 6, 9]})
    (group,) = system_prompts.shared_system_prefixes(frame)
    enc = tokens.encoding()
    a, b = enc.encode_ordinary(texts[0]), enc.encode_ordinary(texts[1])
    common = next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)
    assert enc.decode(a[:common]) == policy + "Now help with"
    assert group == {
        "variants": 2,
        "requests": 10,
        "shared_tokens": common,
        "longest_variant_tokens": max(len(a), len(b)),
        "reusable_tokens": common * 9,
    }


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6), st.floats(5.0, 4000.0))
def test_reuse_gap_histogram_agrees_with_the_ttl_replays(seed, gap):
    """Tokens served within a TTL of their prefix's last use are exactly what that TTL's replay serves (a deeper
    node is never used more recently than its ancestors), so the histogram left of 5 min / 1 h must add up to
    the replays' hit tokens, and all of it to the ideal cache's."""
    reqs = as_requests(synthetic_trace(random.Random(seed), 80, gap))
    buckets = reuse.reuse_summary({"t": reqs})["gaps"]
    assert sum(b["tokens"] for b in buckets) == replay(reqs)[0]
    for ttl in (300, 3600):
        within = sum(b["tokens"] for b in buckets if b["to_s"] is not None and b["to_s"] <= ttl)
        assert within == replay(reqs, ttl=ttl)[0]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_node_rows_counted_by_hand(seed):
    """One row per node of each request with nodes, in order: its request's place, time, node, size, the node before
    it (0 at the root), depth and cumulative tokens, counted here in plain Python."""
    reqs = as_requests(synthetic_trace(random.Random(seed), 60, 30.0))
    reqs.insert(7, PrefixRequest("empty", 1.5, [], []))  # no nodes: no rows and no place
    want = []
    for k, r in enumerate([r for r in reqs if r.nodes]):
        for j, (node, size) in enumerate(zip(r.nodes, r.sizes, strict=True)):
            want.append((k, r.ts, node, size, r.nodes[j - 1] if j else 0, j + 1, sum(r.sizes[: j + 1])))
    got = prefixes.node_frame(reqs)
    assert got.columns == ["k", "ts", "node", "size", "parent", "depth", "tokens"]
    assert got.rows() == want and len({w[0] for w in want}) == 60
    assert prefixes.node_frame([]).height == 0


def test_a_reuse_exactly_one_ttl_apart_is_in_the_bucket_that_ttl_serves():
    """A gap equal to a bucket's upper edge is in that bucket (a TTL keeps a prefix for gap <= ttl): reuses 300 s and
    3600 s apart are served by the 5-minute and 1-hour replays, and the histogram counts them there."""
    ts = [0.0, 300.0, 3900.0, 3910.0]  # gaps 300, 3600, 10 on the shared node
    reqs = [PrefixRequest(f"r{i}", t, [7, 100 + i], [1000, 5]) for i, t in enumerate(ts)]
    buckets = {b["to_s"]: b["tokens"] for b in reuse.reuse_summary({"t": reqs})["gaps"]}
    assert buckets[300] == buckets[3600] == buckets[10] == 1000 and sum(buckets.values()) == 3000
    for ttl in (10, 300, 3600):
        assert sum(n for hi, n in buckets.items() if hi is not None and hi <= ttl) == replay(reqs, ttl=ttl)[0]


@pytest.mark.parametrize("log", ["traces", "synthetic"])
def test_top_prefixes_counted_by_hand_from_the_chains(log, tmp_path):
    """Each top prefix's requests, users, threads, example request and reuse gaps, counted in Python from the
    requests' chains: the gaps are found for the top prefixes alone, the rows joined on the request's place."""
    import statistics

    from analyzer import conversations
    from tests.test_build import _sequence

    seq = _sequence(log, tmp_path)
    threads = conversations.reconstruct_threads(seq)
    reqs = prefixes.message_prefix_requests(seq)
    scope_of = dict(zip(seq.requests["request_id"].to_list(), seq.requests["scope"].to_list(), strict=True))
    thread_of = dict(zip(threads["request_id"].to_list(), threads["thread_id"].to_list(), strict=True))
    attrs = pl.DataFrame(
        {
            "request_id": list(scope_of),
            "scope": [scope_of[r] or "" for r in scope_of],
            "thread_id": [thread_of.get(r) for r in scope_of],
            "cache_read_tokens": [0] * len(scope_of),
            "input_cost_per_token": [1e-6] * len(scope_of),
            "scale": [1.0] * len(scope_of),
        },
        schema_overrides={"thread_id": pl.String, "cache_read_tokens": pl.Int64},
    )
    top = prefixes.top_prefixes(reqs, attrs, limit=5)
    assert top
    uses: dict[int, list] = {}
    for r in reqs:
        for node in r.nodes:
            uses.setdefault(node, []).append(r)
    for p in top:
        (node,) = [n for n in uses if f"{n & 0xFFFFFFFFFFFF:012x}" == p["prefix"]]
        rs = uses[node]
        users = {scope_of[r.request_id] or "" for r in rs}
        ts = sorted(r.ts for r in rs)
        gaps = [b - a for a, b in zip(ts, ts[1:], strict=False)]
        assert p["requests"] == len(rs) and p["users"] == len(users)
        assert p["threads"] == len({thread_of.get(r.request_id) for r in rs})
        assert p["example_request_id"] == rs[0].request_id
        assert p["median_gap_s"] == pytest.approx(statistics.median(gaps))
        assert p["reuses_within_5m"] == pytest.approx(sum(g <= 300 for g in gaps) / len(gaps))


@pytest.mark.parametrize("log", ["traces", "synthetic", "sample_logs"])
def test_chains_made_a_slice_at_a_time_are_the_chains_made_at_once(log, tmp_path, monkeypatch):
    """The requests' added messages become Python lists CHAIN_CHUNK requests at a time: with slices of 3, every
    chain (its nodes, sizes, system run and breakpoints) is the one made from one slice, and chains that share
    an earlier request's nodes across a slice edge still do."""
    from analyzer import conversations
    from tests.test_build import _sequence

    seq = _sequence(log, tmp_path)
    monkeypatch.setattr(prefixes, "CHAIN_CHUNK", 10**9)
    whole = prefixes._chains(seq)
    monkeypatch.setattr(prefixes, "CHAIN_CHUNK", 3)
    sliced = prefixes._chains(seq)
    assert len(whole) > 3
    assert sliced == whole
    shared = sum(1 for a, b in zip(sliced, sliced[1:], strict=False) if b.nodes[:1] and a.nodes[:1] == b.nodes[:1])
    assert shared > 0
    # messages not in request order (each request's still in the order sent): the same chains (they are sorted
    # first, so that each request finds its shared part; without it every chain would be hashed whole)
    interleaved = seq.messages.sort("position", "req")
    assert not interleaved["req"].is_sorted()
    assert prefixes._chains(conversations.Sequence(seq.requests, interleaved)) == whole


@pytest.mark.parametrize("log", ["traces", "synthetic", "sample_logs"])
def test_node_rows_made_while_walking_the_chains_are_those_of_the_kept_chains(log, tmp_path):
    """`message_nodes` makes the node rows, request keys and count as it walks the chains, keeping none (the
    sequence's memo stays empty): the same frames as from the kept list, and the same reuse block."""
    from analyzer import conversations
    from tests.test_build import _sequence

    seq = _sequence(log, tmp_path)
    walked = conversations.Sequence(seq.requests, seq.messages)
    nodes, keys, n = prefixes.message_nodes(walked)
    assert not walked._chains
    reqs = prefixes.message_prefix_requests(seq)
    assert n == len(reqs) and nodes.height == sum(len(r.nodes) for r in reqs) > 0
    assert nodes.equals(prefixes.node_frame(reqs)) and keys.equals(prefixes.request_keys(reqs))
    assert reuse.reuse_summary({"messages": []}, None, {"messages": nodes}, {"messages": n}) == (
        reuse.reuse_summary({"messages": reqs})
    )


@pytest.mark.parametrize("log", ["traces", "synthetic"])
def test_the_top_prefixes_are_the_ranking_of_every_node_counted_by_hand(log, tmp_path):
    """Which prefixes make the list and in what order, and their spend and logged hits, counted in Python from the
    chains: every node reached by two requests or more that no child is reached by as often, ranked by tokens x
    (requests - 1), then by node id. top_prefixes ranks from the node rows alone and counts the rest on the top
    prefixes' rows; this counts everything for every node."""
    import random

    from analyzer import conversations
    from tests.test_build import _sequence

    seq = _sequence(log, tmp_path)
    threads = conversations.reconstruct_threads(seq)
    reqs = prefixes.message_prefix_requests(seq)
    rng = random.Random(7)
    ids = seq.requests["request_id"].to_list()
    scope = dict(zip(ids, seq.requests["scope"].to_list(), strict=True))
    thread = dict(zip(threads["request_id"].to_list(), threads["thread_id"].to_list(), strict=True))
    cost = {r: rng.choice([None, 1e-6, 3e-6, 2.5e-7]) for r in ids}
    reads = {r: rng.choice([0, 100, 5_000, 10**6]) for r in ids}
    scale = {r: rng.choice([None, 0.9, 1.0, 1.3]) for r in ids}
    attrs = pl.DataFrame(
        {
            "request_id": ids,
            "scope": [scope[r] or "" for r in ids],
            "thread_id": [thread.get(r) for r in ids],
            "cache_read_tokens": [reads[r] for r in ids],
            "input_cost_per_token": [cost[r] for r in ids],
            "scale": [scale[r] for r in ids],
        },
        schema_overrides={"thread_id": pl.String, "cache_read_tokens": pl.Int64, "input_cost_per_token": pl.Float64},
    )
    limit = 40
    top = prefixes.top_prefixes(reqs, attrs, limit=limit)

    uses: dict[int, list] = {}
    tokens: dict[int, int] = {}
    children: dict[int, set[int]] = {}
    for r in reqs:
        total = 0
        for j, (node, size) in enumerate(zip(r.nodes, r.sizes, strict=True)):
            total += size
            uses.setdefault(node, []).append((r, total))
            tokens.setdefault(node, total)
            children.setdefault(r.nodes[j - 1] if j else 0, set()).add(node)
    closed = [n for n, rs in uses.items() if len(rs) >= 2 and all(len(uses[c]) < len(rs) for c in children.get(n, ()))]
    ranked = sorted(closed, key=lambda n: (-tokens[n] * (len(uses[n]) - 1), n))[:limit]
    assert len(ranked) > 5
    assert [p["prefix"] for p in top] == [f"{n & 0xFFFFFFFFFFFF:012x}" for n in ranked]
    for p, n in zip(top, ranked, strict=True):
        rs = uses[n]
        assert p["requests"] == len(rs) and p["tokens"] == tokens[n]
        assert p["reusable_tokens"] == tokens[n] * (len(rs) - 1)
        assert p["messages"] == rs[0][0].nodes.index(n) + 1
        spend = sum(t * cost[r.request_id] for r, t in rs if cost[r.request_id] is not None)
        assert p["spend_usd"] == pytest.approx(spend, rel=1e-9, abs=1e-12)
        hits = sum(reads[r.request_id] >= 0.9 * t * (scale[r.request_id] or 1.0) for r, t in rs)
        assert p["logged_cached_share"] == pytest.approx(min(hits / (len(rs) - 1), 1.0))
        assert p["users"] == len({scope[r.request_id] or "" for r, _ in rs})
        assert p["threads"] == len({thread.get(r.request_id) for r, _ in rs})
        assert p["example_request_id"] == rs[0][0].request_id
