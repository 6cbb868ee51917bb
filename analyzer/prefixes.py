"""Prefixes: which token prefixes requests share, how soon they are reused, what an ideal cache could have
served, and system prompts whose early volatile span (a date, a name, an id) defeats caching.

A request's input is a chain of prefix nodes: for message logs, one node per message (a hash over the model
and every (role, content) so far, sized in counted tokens); for block-hash traces, one node per 512-token
block (the trace's own ids). A node seen earlier means the whole prefix up to it was seen earlier, so the
longest previously seen prefix is found by walking the chain until the first unseen node.
"""

from __future__ import annotations

import hashlib
import itertools
from array import array
from collections.abc import Iterator
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from typing import cast

import polars as pl
import pyarrow as pa

from analyzer import tokens
from analyzer.conversations import Sequence, once
from analyzer.perf import gc_paused
from analyzer.prices import order_free_sum
from analyzer.providers import TTL_S
from analyzer.sources.mooncake import BLOCK_TOKENS


@dataclass(slots=True)
class PrefixRequest:
    request_id: str
    ts: float  # seconds
    nodes: list[int]
    sizes: list[int]  # tokens each node adds
    sys_end: int = -1  # index of the last node of the leading system prompt / tool definitions, -1 if none
    breakpoints: list[int] = field(default_factory=list)  # nodes where the request set a cache breakpoint


def message_prefix_requests(seq: Sequence) -> list[PrefixRequest]:
    """One node per input message; a node hashes the model and every (role, content) up to it. Built once per
    sequence (prefix reuse, top prefixes and the caching simulator share it; callers must not modify it)."""
    return once(seq, seq._chains, _chains)


def stable_hash(text: str) -> int:
    """A 63-bit hash of `text` that is the same in every process (unlike `hash(str)`)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1


SYSTEM_ROLES = ("system", "tools", "developer")  # the leading system prompt and tool definitions
_ROLE_IDS: dict[str, int] = {}
_SEEDS: dict[str, int] = {}


def chain_seed(model: str | None) -> int:
    """The root of a request's chain: prefixes of different models never share a node."""
    key = model or ""
    seed = _SEEDS.get(key)
    if seed is None:
        seed = _SEEDS[key] = stable_hash("model\0" + key)
    return seed


def _role_id(role: str) -> int:
    """The integer a role is hashed into prefix nodes as (the same in every process)."""
    rid = _ROLE_IDS.get(role)
    if rid is None:
        rid = _ROLE_IDS[role] = stable_hash("role\0" + role)
    return rid


class PrefixChain:
    """The one builder of prefix chains (the prefix tables and the cache simulator alike): each node hashes the
    previous one with a message's role and content id, so equal nodes mean equal prefixes. Node ids come from
    integers only: Python seeds its string hashing per process, and these ids order the shared prefixes that
    tie (which of them make the top list), so they must be the same in every run."""

    __slots__ = ("h", "nodes", "sys_end")

    def __init__(self, seed: int) -> None:
        self.h = seed
        self.nodes: list[int] = []
        self.sys_end = -1  # index of the last node of the leading system prompt / tool definitions, -1 if none

    def add(self, role: str, cid: int) -> int:
        rid = _ROLE_IDS.get(role)
        if rid is None:
            rid = _role_id(role)
        nodes = self.nodes
        if self.sys_end == len(nodes) - 1 and role in SYSTEM_ROLES:
            self.sys_end = len(nodes)
        self.h = h = hash((self.h, rid, cid))
        nodes.append(h)
        return h


CHAIN_CHUNK = 50_000  # requests `_walk` pairs with their earlier ones and turns into chains at a time (`_added`)


@gc_paused()
def _chains(seq: Sequence) -> list[PrefixRequest]:
    flat = _walk(seq)
    if flat is None:
        return []
    nodes, sizes, off = flat.nodes, flat.sizes, flat.off
    return [
        PrefixRequest(rid, ts, nodes[off[k] : off[k + 1]].tolist(), sizes[off[k] : off[k + 1]].tolist(), sys_end, bps)
        for k, (rid, ts, sys_end, bps) in enumerate(
            zip(flat.ids.to_list(), flat.ts, flat.sys_end, flat.bps.to_list(), strict=True)
        )
    ]


@dataclass
class _Flat:
    """Every request's chain (`_walk`) as flat arrays, in req order: the k-th chain's nodes and sizes are
    nodes[off[k]:off[k + 1]] and sizes[off[k]:off[k + 1]]; its request id, time, system run and breakpoints."""

    ids: pl.Series
    ts: array[float]
    off: array[int]
    nodes: array[int]
    sizes: array[int]
    sys_end: array[int]
    bps: pl.Series


ROLE_CHAIN_MAX = 32  # distinct roles mapped to their ids by a chain of comparisons (`_role_column`), not a lookup


def _role_column(role_ids: dict[str, int]) -> pl.Expr:
    """Each message's role as its id (`_role_id`; a missing role is ""). For the few roles a log has, a chain of
    comparisons in the query that collects the rows: the roles collected as strings and then looked up
    (`replace_strict`) held both columns and the lookup's own buffers, ~0.4 GB more at that step of the prefix
    reuse stage at a million calls (the report parent's peak)."""
    if len(role_ids) > ROLE_CHAIN_MAX:
        return pl.col("role").fill_null("").replace_strict(role_ids, return_dtype=pl.Int64)
    out = pl.lit(role_ids[""], dtype=pl.Int64)  # a null role, or ""
    for role, rid in role_ids.items():
        if role:
            out = pl.when(pl.col("role") == role).then(pl.lit(rid, dtype=pl.Int64)).otherwise(out)
    return out


def _walk(seq: Sequence) -> _Flat | None:
    """Each request's chain, in req order, as `PrefixChain` builds it (the nodes are the simulator's:
    test_prefix_chain.py). A request that re-sends what the last request with its model and first two messages
    sent, plus more (a turn of a conversation, an agent's step), takes that request's nodes for the shared part
    and hashes only the rest. How much each request shares is found in columns, so only what it adds becomes
    Python objects (the shared part's nodes and sizes are the earlier request's own): on the real agent traces,
    15,849 of 718,913 input messages."""
    r = seq.requests
    framing = tokens.TOKENS_PER_MESSAGE
    m = seq.messages
    # the input messages in request order, each request's in the order sent: as `load_sequence` gives them, so
    # they are sorted only when they are not; and only the columns read here (a filtered copy of every column of
    # a million calls' messages, and its sorted copy, raised this stage ~0.9 GB)
    lf = m.lazy().filter(~pl.col("is_output"))
    if not m["req"].is_sorted():
        lf = lf.with_row_index("row").sort("req", "row")
    role_ids = {role: _role_id(role) for role in ("", *m["role"].drop_nulls().unique().to_list())}
    system = {role_ids[role] for role in role_ids if role in SYSTEM_ROLES}
    rows = lf.select(
        "req",
        role=_role_column(role_ids),
        cid="cid",
        size=pl.col("tokens").fill_null(0) + framing,
        marked=pl.col("breakpoint").is_not_null(),
        # the message's place in its request: the rows are in req order, so its row number less its request's first
        # row's, not a window over a million requests (message_nodes at 1M calls: +1,042-1,060 -> +986-990 MiB)
        idx=(pl.int_range(pl.len(), dtype=pl.Int64) - pl.col("req").search_sorted(pl.col("req"), side="left")).cast(
            pl.Int32
        ),
    ).collect()
    if not rows.height:
        return None
    # each request's first row in `rows`, its length, its key (its model and first two messages) and the last earlier
    # request with that key, in req order: from its first and second rows (the rows are in req order), not a
    # group-by of every row (its groups' row lists were ~0.5 GB of the stage's peak at a million calls)
    lazy = rows.lazy()
    firsts = lazy.with_row_index("start").filter(pl.col("idx") == 0).select("req", "start", r0="role", c0="cid")
    seconds = lazy.filter(pl.col("idx") == 1).select("req", r1="role", c1="cid")
    per = (
        firsts.join(seconds, on="req", how="left", maintain_order="left")
        .with_columns(start=pl.col("start").cast(pl.Int64))
        .with_columns(n=pl.col("start").shift(-1, fill_value=rows.height) - pl.col("start"))
        .join(r.lazy().select("req", "model"), on="req", how="left", maintain_order="left")
        .with_columns(prev=pl.col("req").shift(1).over("model", "r0", "c0", "r1", "c1", order_by="req"))
        .select("req", "n", "start", "prev")
        .collect()
    )
    # the earlier request's first row and length, beside each request (in req order)
    at = per.select("req", "prev").join(
        per.select(prev="req", p_start="start", p_n="n"), on="prev", how="left", maintain_order="left"
    )
    models = r["model"].to_list()
    # Every chain is written into flat arrays as it is made, and an earlier request's shared part is copied from
    # them: no Python object per chain or node outlives its step. Chains kept as objects (~1.6 GB at a million
    # calls), or even only the last one per key, left the interpreter's memory fragmented at that size.
    first_of: array[int] = array("q", bytes(8 * (r.height + 1)))  # req -> the place of its chain's first node
    sys_of: array[int] = array("q", bytes(8 * (r.height + 1)))  # req -> its chain's system run
    nodes: array[int] = array("q")
    sizes: array[int] = array("q")
    off: array[int] = array("q", [0])
    sys_ends: array[int] = array("q")
    reqs: list[pl.Series] = []
    marks: list[pl.Series] = []
    names = ("req", "prev", "done", "same_sizes", "roles", "cids", "sizes")
    for part in _added(rows, per, at):  # a slice of the requests at a time (CHAIN_CHUNK), in req order
        for req, prev, done, same_sizes, roles, cids, new_sizes in zip(
            *(part[c].to_list() for c in names), strict=True
        ):
            first_of[req] = start = len(nodes)
            if prev is not None:  # the shared part: the earlier request's nodes, sizes and leading system run
                p = first_of[prev]
                nodes.extend(nodes[p : p + done])
                sizes.extend(sizes[p : p + same_sizes])
                sys_end = min(sys_of[prev], done - 1)
            else:  # nothing shared (done is 0)
                sys_end = -1
            h = nodes[-1] if len(nodes) > start else chain_seed(models[req - 1])
            for rid, cid in zip(roles, cids, strict=True):
                h = hash((h, rid, cid))
                nodes.append(h)
            sizes.extend(new_sizes)
            if sys_end == done - 1:  # every shared message is system: the run may go on into what this one adds
                for role in roles:
                    if role not in system:
                        break
                    sys_end += 1
            sys_of[req] = sys_end
            sys_ends.append(sys_end)
            off.append(len(nodes))
        reqs.append(part["req"])
        marks.append(part["bps"])
    which = pl.concat(reqs) - 1
    times = r["ts"].gather(which)
    return _Flat(
        ids=r["request_id"].gather(which),
        ts=array("d", [t.timestamp() if t is not None else 0.0 for t in times.to_list()]),
        off=off,
        nodes=nodes,
        sizes=sizes,
        sys_end=sys_ends,
        bps=pl.concat(marks),
    )


def _added(rows: pl.DataFrame, per: pl.DataFrame, at: pl.DataFrame) -> Iterator[pl.DataFrame]:
    """What each request adds to the earlier request it continues (`_walk`), CHAIN_CHUNK requests at a time in req
    order: req, prev, done (where it stops sending what that one sent: the first message that differs, or its
    length), same_sizes (where it stops counting the same tokens for it), the roles and contents after `done`, the
    sizes after `same_sizes`, and its breakpoints' places. Each message is compared with the earlier request's
    message at its place, taken from `rows` by row number (a gather; a join of every row on (request, place) was
    the report's largest frame, ~1.9 GB at a million calls). A slice at a time: the pairs and cut rows of every
    request at once raised the stage's peak by ~0.7 GB at a million calls."""
    starts, lengths = per["start"], per["n"]
    role, cid, size = rows["role"], rows["cid"], rows["size"]
    for lo in range(0, per.height, CHAIN_CHUNK):
        hi = min(lo + CHAIN_CHUNK, per.height)
        first, last = int(starts[lo]), int(starts[hi - 1]) + int(lengths[hi - 1])
        part = rows.slice(first, last - first)
        partner = (
            part.select("req", "idx")
            .join(at.slice(lo, hi - lo), on="req", how="left", maintain_order="left")
            .select(partner=pl.when(pl.col("idx") < pl.col("p_n")).then(pl.col("p_start") + pl.col("idx")))
            .to_series()
        )
        paired = part.select("req", "idx", "role", "cid", "size").with_columns(
            p_role=role.gather(partner), p_cid=cid.gather(partner), p_size=size.gather(partner)
        )
        del partner
        differs = pl.col("p_cid").is_null() | (pl.col("p_cid") != pl.col("cid")) | (pl.col("p_role") != pl.col("role"))
        firsts = paired.group_by("req").agg(
            done=pl.col("idx").filter(differs).min(),
            same_sizes=pl.col("idx").filter(differs | (pl.col("p_size") != pl.col("size"))).min(),
        )
        del paired
        cut = (
            per.slice(lo, hi - lo)
            .join(firsts, on="req", how="left")
            .with_columns(
                done=pl.col("done").fill_null(pl.col("n")), same_sizes=pl.col("same_sizes").fill_null(pl.col("n"))
            )
            .select("req", "prev", "done", "same_sizes")
        )
        yield (
            part.join(cut.select("req", "done", "same_sizes"), on="req", how="left", maintain_order="left")
            .group_by("req", maintain_order=True)
            .agg(
                roles=pl.col("role").filter(pl.col("idx") >= pl.col("done")),
                cids=pl.col("cid").filter(pl.col("idx") >= pl.col("done")),
                sizes=pl.col("size").filter(pl.col("idx") >= pl.col("same_sizes")),
                bps=pl.col("idx").filter("marked"),
            )
            .join(cut, on="req", how="left", maintain_order="left")
        )


@gc_paused()
def block_prefix_requests(blocks: pl.DataFrame) -> list[PrefixRequest]:
    """From block-hash traces (request_id, t, input_tokens, position, block_hash ordered by t, request,
    position): one node per block; the last block holds what remains of the input."""
    out: list[PrefixRequest] = []
    cur: PrefixRequest | None = None
    remaining = 0
    cols = [blocks[c].to_list() for c in ("request_id", "t", "input_tokens", "block_hash")]
    for rid, t, n_in, bh in zip(*cols, strict=True):
        if cur is None or cur.request_id != rid:
            cur = PrefixRequest(rid, t if t is not None else 0.0, [], [])
            out.append(cur)
            remaining = n_in
        size = min(BLOCK_TOKENS, remaining)
        remaining -= size
        cur.nodes.append(bh)
        cur.sizes.append(size)
    return out


def node_frame(reqs: list[PrefixRequest]) -> pl.DataFrame:
    """One row per node of every request, in request order: k (the request's place among `reqs` with nodes),
    ts, node, parent (the node before it; 0 at the root), depth (1 at the root), size and tokens (cumulative).
    No request id per row (~45 B each, 6.6M rows at a million calls): `request_keys` maps ids to k."""
    reqs = [r for r in reqs if r.nodes]
    return _node_rows(
        [r.ts for r in reqs],
        [len(r.nodes) for r in reqs],
        pl.Series(list(itertools.chain.from_iterable(r.nodes for r in reqs)), dtype=pl.Int64),
        pl.Series(list(itertools.chain.from_iterable(r.sizes for r in reqs)), dtype=pl.Int64),
    )


def _node_rows(ts: Seq[float], lens: Seq[int], nodes: pl.Series, sizes: pl.Series) -> pl.DataFrame:
    """The node frame of requests given by their times, node counts and their nodes and sizes end to end. Each row's
    request, depth, parent and tokens come from the requests' offsets by search and gather: windows over the
    request (`over("k")`) took 2.35 s and ~80 MB more for 6.5M rows, this 0.43 s."""
    n = pl.Series("n", lens, dtype=pl.Int64)
    ends = n.cum_sum()
    starts = ends - n
    total = int(cast(int, ends[-1])) if n.len() else 0
    row = pl.int_range(total, dtype=pl.Int64, eager=True)
    k = ends.search_sorted(row, side="right").cast(pl.Int32)  # the request each row belongs to
    del ends
    start = starts.gather(k)  # the request's first row
    depth = (row - start + 1).cast(pl.Int32)
    del row
    cum = sizes.cum_sum()
    tokens = cum - (cum - sizes).gather(start)  # cumulative within the request
    del cum, start
    f = pl.DataFrame(
        {
            "k": k,
            "ts": pl.Series("ts", ts, dtype=pl.Float64).gather(k),
            "node": nodes,
            "size": sizes,
            "depth": depth,
            "tokens": tokens,
        }
    )
    return f.select(
        "k",
        "ts",
        "node",
        "size",
        parent=pl.when(pl.col("depth") > 1).then(pl.col("node").shift(1)).otherwise(0),
        depth="depth",
        tokens="tokens",
    )


@gc_paused()
def message_nodes(seq: Sequence) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """The `node_frame` and `request_keys` of `message_prefix_requests(seq)`, and how many requests it has,
    made from the chains as flat arrays (`_walk`) without Python chains: a million calls' chains took ~1.6 GB as
    Python objects, their nodes and sizes as flat arrays ~0.1 GB. From the kept chains when there are."""
    if seq._chains:
        return node_frame(seq._chains), request_keys(seq._chains), len(seq._chains)
    flat = _walk(seq)
    if flat is None:
        return node_frame([]), _keys([]), 0
    # every chain has a node (a request is walked for its input messages), as node_frame's rows need
    lens = array("q", (b - a for a, b in zip(flat.off, flat.off[1:], strict=False)))
    return (
        _node_rows(flat.ts, lens, _int64(flat.nodes), _int64(flat.sizes)),
        _keys(flat.ids),
        len(lens),
    )


def _int64(values: array[int]) -> pl.Series:
    """A flat array of 64-bit integers as a Series, without a Python int per value on the way."""
    return cast(pl.Series, pl.from_arrow(pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])))


def request_keys(reqs: list[PrefixRequest]) -> pl.DataFrame:
    """request_id -> k, the request's place in `node_frame`."""
    return _keys([r.request_id for r in reqs if r.nodes])


def _keys(ids: list[str] | pl.Series) -> pl.DataFrame:
    return pl.DataFrame(
        {"request_id": ids, "k": pl.int_range(len(ids), dtype=pl.Int32, eager=True)},
        schema={"request_id": pl.String, "k": pl.Int32},
    )


def top_prefixes(
    reqs: list[PrefixRequest],
    attrs: pl.DataFrame,
    limit: int = 20,
    nodes: pl.DataFrame | None = None,
    keys: pl.DataFrame | None = None,
) -> list[dict[str, object]]:
    """The shared prefixes worth caching: nodes reached by at least two requests and closed (no extension is
    shared by as many), ranked by tokens x (requests - 1), with users, threads, spend and reuse gaps.

    attrs: request_id, scope, thread_id, input_cost_per_token (USD per counted input token, null if unpriced),
    cache_read_tokens (as reported) and scale (reported input tokens per counted token). `nodes` and `keys`: the
    requests' `node_frame` and `request_keys`, when the caller has them (`reqs` is then not read: its chains may
    be gone).
    """
    if nodes is None:
        nodes = node_frame(reqs)
    if keys is None:
        keys = request_keys(reqs)
    if nodes.is_empty():
        return []
    # The ranking first, from the node rows alone: how many requests reach each node, its tokens, and whether a
    # child is reached by as many (a node's parent is part of its hash, so a node has one parent, and a child's
    # count is its own). Every other figure is then counted on the top prefixes' rows only: with them counted for
    # every node of a million calls (6.7M rows joined with each request's attributes), this stage held ~1 GB more.
    counts = nodes.group_by("node").agg(pl.len().alias("requests"), pl.col("tokens").first(), pl.col("parent").first())
    child_max = counts.group_by("parent").agg(pl.col("requests").max().alias("max_child"))
    top = (
        counts.filter(pl.col("requests") >= 2)
        .join(child_max, left_on="node", right_on="parent", how="left")
        .filter(pl.col("max_child").is_null() | (pl.col("max_child") < pl.col("requests")))
        .with_columns(reusable_tokens=pl.col("tokens") * (pl.col("requests") - 1))
        .sort("reusable_tokens", "node", descending=[True, False])
        .head(limit)
        .select("node", "requests", "tokens", "reusable_tokens")
    )
    del counts, child_max
    # joined on the request's place, with its scope and thread as numbers (the same distinct counts, a null
    # counting as one value, as the strings)
    by_k = keys.join(attrs.with_columns(pl.col("scope", "thread_id").rank("dense")), on="request_id", how="inner").drop(
        "request_id"
    )
    f = (
        nodes.select("k", "ts", "node", "depth", "tokens")
        .join(top.select("node"), on="node", how="semi", maintain_order="left")
        .join(by_k, on="k", how="left", maintain_order="left")
    )
    stats = f.group_by("node").agg(
        pl.col("scope").n_unique().alias("users"),
        pl.col("thread_id").n_unique().alias("threads"),
        pl.col("depth").first().alias("messages"),
        pl.col("k").first().alias("example"),
        order_free_sum(pl.col("tokens") * pl.col("input_cost_per_token")).alias("spend_usd"),
        # as logged: requests whose reported cache reads covered (90% of) this prefix
        (pl.col("cache_read_tokens").fill_null(0) >= 0.9 * pl.col("tokens") * pl.col("scale").fill_null(1.0))
        .sum()
        .alias("logged_hits"),
        # the reuse gaps of the top prefixes alone (the ranking does not read them): not a list per node of the log
        pl.col("ts").sort().diff().drop_nulls().alias("gaps"),
    )
    closed = (
        top.join(stats, on="node", how="left", maintain_order="left")
        .with_columns(
            median_gap_s=pl.col("gaps").list.median(),
            within_5m=pl.col("gaps").list.eval((pl.element() <= TTL_S["5m"]).mean()).list.first(),
            within_1h=pl.col("gaps").list.eval((pl.element() <= TTL_S["1h"]).mean()).list.first(),
        )
        .with_columns(
            logged_cached_share=(pl.col("logged_hits") / (pl.col("requests") - 1)).clip(upper_bound=1.0),
            # reuses a 5-minute cache would have served that the provider did not report as cached
            uncached_reuse_tokens=(
                (pl.col("within_5m") * (pl.col("requests") - 1) - pl.col("logged_hits")).clip(lower_bound=0)
                * pl.col("tokens")
            )
            .round(0)
            .cast(pl.Int64),
        )
        .join(
            keys.rename({"k": "example", "request_id": "example_request_id"}),
            on="example",
            how="left",
            maintain_order="left",
        )
    )
    return [
        {
            "prefix": f"{row['node'] & 0xFFFFFFFFFFFF:012x}",
            "messages": row["messages"],
            "tokens": row["tokens"],
            "requests": row["requests"],
            "users": row["users"],
            "threads": row["threads"],
            "reusable_tokens": row["reusable_tokens"],
            "spend_usd": round(row["spend_usd"] or 0.0, 10),
            "median_gap_s": row["median_gap_s"],
            "reuses_within_5m": row["within_5m"],
            "reuses_within_1h": row["within_1h"],
            "logged_cached_share": row["logged_cached_share"],
            "uncached_reuse_tokens": row["uncached_reuse_tokens"],
            "example_request_id": row["example_request_id"],
        }
        for row in closed.iter_rows(named=True)
    ]
