"""Conversations: threads reconstructed from content, turns, and what each request's input was made of.

Most logs carry no conversation id. A request continues an earlier one when its messages start with that
request's messages plus its reply. Each request's input is a chain of hashes over (role, content_id), so
finding its parent is a dictionary look-up per message: linear in the number of messages. A given
conversation/session id is honoured as the thread; the scope (user, else API key) keeps two users who sent
the same opening lines apart. Two requests continuing the same parent are a branch (an edited or
regenerated turn) of one thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import duckdb
import polars as pl

from analyzer import queries, tokens
from analyzer.perf import gc_paused
from analyzer.prices import order_free_sum

SEGMENTS = ("system", "history", "user", "tool_results", "retrieved")
RAG_MIN_TOKENS = 256  # a block this long, in user content, repeated across threads, looks retrieved
RAG_MIN_THREADS = 3


@dataclass(slots=True)
class _Req:
    request_id: str
    scope: str
    conversation_id: str | None
    roles: list[str]
    cids: list[int]
    tokens: list[int]
    reply: int | None


@dataclass(frozen=True)
class Sequence:
    """Requests with message bodies, numbered in time order, and their messages (see the two SQL files)."""

    requests: pl.DataFrame  # req, request_id, ts, model, scope, conversation_id
    messages: pl.DataFrame  # req, position, cid, role, tokens, is_output, breakpoint, breakpoints
    _parsed: list[_Req] = field(default_factory=list, compare=False, repr=False)  # requests_of, once
    _chains: list[Any] = field(default_factory=list, compare=False, repr=False)  # prefix chains, once

    def __reduce__(self) -> tuple[Any, ...]:
        # sent to a worker as its two frames: the memoised Python lists stay here (the worker builds its own)
        return (Sequence, (self.requests, self.messages))


def load_sequence(con: duckdb.DuckDBPyConnection, since: Any = None, until: Any = None) -> Sequence:
    reqs = queries.run(con, "sequence_requests", since=since, until=until)
    queries.register(con, "_sequence_requests", reqs.select("req", "request_id"))
    try:
        msgs = queries.run(con, "message_sequence")
    finally:
        con.unregister("_sequence_requests")
    # One chunk each, in polars' own memory: as DuckDB hands them over (63 chunks at a million calls) a column's
    # buffers are freed only with every other column of its chunks, and take more room (the messages 566 MiB
    # resident, 446 rechunked), held by the parent until the prefix tables. The roles and breakpoints (a handful of
    # values) as categories: a string costs a 16-byte view a row, a null too (117 MiB each at 7.7M rows, 30 as codes).
    msgs = msgs.with_columns(pl.col(c).cast(pl.Categorical) for c in ("role", "breakpoint") if c in msgs.columns)
    return Sequence(reqs.rechunk(), msgs.rechunk())


def requests_of(seq: Sequence) -> list[_Req]:
    """One record per numbered request, holding its input messages and its reply (built once per sequence:
    threads, trimming and the combined replay all walk it; callers must not modify it)."""
    return once(seq, seq._parsed, _parse)


def once(seq: Sequence, slot: list[Any], build: Any) -> list[Any]:
    """`build(seq)` computed on first use and kept in one of the sequence's slots."""
    if not slot and seq.requests.height:
        slot.extend(build(seq))
    return slot


PARSE_CHUNK = 20_000  # requests parsed at a time where the lists are not kept (`reconstruct_threads`)


@gc_paused()
def _parse(seq: Sequence) -> list[_Req]:
    return next(_parts(seq, seq.requests.height), [])


def _parts(seq: Sequence, size: int, tokens: bool = True) -> Iterator[list[_Req]]:
    """The requests of `requests_of`, `size` at a time in req order (a slice of the messages each, when they
    are in req order, as `load_sequence` gives them); without `tokens`, each with an empty list of counts."""
    r, m = seq.requests, seq.messages
    ids, scopes, convs = r["request_id"], r["scope"], r["conversation_id"]
    if size < r.height and m["req"].is_sorted():
        edges = [*range(0, r.height, size), r.height]
        starts = m["req"].search_sorted(pl.Series([e + 1 for e in edges]), side="left").to_list()
    else:
        edges, starts = [0, r.height], [0, m.height]
    for lo, hi, a, b in zip(edges, edges[1:], starts, starts[1:]):  # noqa: B905 - each pair from one list
        part = m.slice(a, b - a)
        out = [
            _Req(rid, scope or "", conv, [], [], [], None)
            for rid, scope, conv in zip(
                ids.slice(lo, hi - lo).to_list(),
                scopes.slice(lo, hi - lo).to_list(),
                convs.slice(lo, hi - lo).to_list(),
                strict=True,
            )
        ]
        # one list per request (its input messages in order), not a Python step per message row
        cols = ("req", "role", "cid", "tokens") if tokens else ("req", "role", "cid")
        inputs = (
            part.filter(~pl.col("is_output"))
            .group_by("req", maintain_order=True)
            .agg(*cols[1:3], *([pl.col("tokens").fill_null(0)] if tokens else []))
        )
        if tokens:
            for req, roles, cids, toks in zip(*(inputs[c].to_list() for c in cols), strict=True):
                cur = out[req - 1 - lo]
                cur.roles, cur.cids, cur.tokens = roles, cids, toks
        else:
            for req, roles, cids in zip(*(inputs[c].to_list() for c in cols), strict=True):
                cur = out[req - 1 - lo]
                cur.roles, cur.cids = roles, cids
        replies = part.filter(pl.col("is_output")).group_by("req").agg(pl.col("cid").last())  # the last output row's
        for req, cid in zip(replies["req"].to_list(), replies["cid"].to_list(), strict=True):
            out[req - 1 - lo].reply = cid
        yield out


@gc_paused()
def reconstruct_threads(seq: Sequence, keep: bool = True) -> pl.DataFrame:
    """request_id -> thread_id, turn, parent_id, branch, history_messages (how many leading input messages
    were already sent by the parent request or returned as its reply). Not `keep`: nothing else in this
    process walks the requests' lists (`requests_of`), so they are made PARSE_CHUNK requests at a time and let
    go, not kept whole (~2.3 GB more at the peak of a million calls)."""
    after_reply: dict[int, str] = {}  # chain hash of a request's inputs + its reply -> request
    inputs_end: dict[int, str] = {}  # chain hash of a request's inputs -> request
    info: dict[str, tuple[str, int]] = {}  # request -> (thread, turn)
    children: dict[str, int] = {}
    conv_turns: dict[str, int] = {}
    rows: dict[str, list[Any]] = {
        k: [] for k in ("request_id", "thread_id", "turn", "parent_id", "branch", "history_messages")
    }
    if keep or seq._parsed:
        reqs: Iterable[_Req] = requests_of(seq)
    else:
        reqs = (r for part in _parts(seq, PARSE_CHUNK, tokens=False) for r in part)
    for r in reqs:
        h = hash(("scope", r.scope))
        chain = []
        for role, cid in zip(r.roles, r.cids, strict=True):
            h = hash((h, role, cid))
            chain.append(h)
        parent = None
        shared = 0
        # Longest earlier request whose inputs + reply are our first k messages (k < n: we add a new turn).
        for k in range(len(chain) - 1, 0, -1):
            p = after_reply.get(chain[k - 1])
            if p is not None and r.roles[k - 1] == "assistant":
                parent, shared = p, k
                break
        if parent is None:  # the reply came back altered (whitespace, dropped fields): match on inputs alone
            for k in range(len(chain) - 1, 0, -1):
                p = inputs_end.get(chain[k - 1])
                if p is not None and r.roles[k] == "assistant":
                    parent, shared = p, k + 1
                    break
        if r.conversation_id:
            thread = f"conv:{r.conversation_id}"
            turn = conv_turns[thread] = conv_turns.get(thread, 0) + 1
        elif parent is not None:
            thread, pturn = info[parent]
            turn = pturn + 1
        else:
            thread, turn = r.request_id, 1
        branch = False
        if parent is not None:
            branch = children.get(parent, 0) > 0
            children[parent] = children.get(parent, 0) + 1
        info[r.request_id] = (thread, turn)
        if chain:
            inputs_end[chain[-1]] = r.request_id
            if r.reply is not None:
                after_reply[hash((chain[-1], "assistant", r.reply))] = r.request_id
        for col, v in (
            ("request_id", r.request_id),
            ("thread_id", thread),
            ("turn", turn),
            ("parent_id", parent),
            ("branch", branch),
            ("history_messages", shared),
        ):
            rows[col].append(v)
    return pl.DataFrame(
        rows,
        schema={
            "request_id": pl.String,
            "thread_id": pl.String,
            "turn": pl.Int32,
            "parent_id": pl.String,
            "branch": pl.Boolean,
            "history_messages": pl.Int32,
        },
    )


RAG_BLOCK_CHARS = 400  # a paragraph at least this long (~100 tokens) can be a retrieved chunk
# what str.strip() removes (every character whose str.isspace() is true; the test checks all of Unicode), for the SQL
# that cuts messages into paragraphs as Python did; written out rather than found at every import (~0.5 ms)
_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def retrieved_blocks(
    con: duckdb.DuckDBPyConnection,
    seq: Sequence,
    threads: pl.DataFrame,
    count: Callable[[list[str]], list[int]] = tokens.count_many,
) -> pl.DataFrame:
    """cid -> retrieved_tokens: how much of a user or system message is made of blocks (blank-line separated
    paragraphs of 400+ characters) that also appear inside other, different messages of at least
    RAG_MIN_THREADS threads: documents a retriever injected. Needs message text; empty with --no-text. `count`:
    the blocks' token counts (`report.structure.token_counter`: in a worker when the pool runs)."""
    thread_of = (  # each request's thread as a number: only how many threads a block is in is read
        seq.requests.select("req", "request_id")
        .join(threads.select("request_id", "thread_id"), on="request_id")
        .select("req", thread=pl.col("thread_id").rank("dense").fill_null(0))  # no thread: one value, as a set's None
    )
    pairs = (
        seq.messages.lazy()
        .filter(~pl.col("is_output") & pl.col("role").is_in(["user", "system"]))
        .select("req", "cid")
        .join(thread_of.lazy(), on="req")
        .select("cid", "thread")
        .unique()
        .collect()
    )
    queries.register(con, "_cid_threads", pairs)
    try:
        found = queries.run(
            con,
            "retrieved_blocks",
            min_tokens=64,
            min_chars=RAG_BLOCK_CHARS,
            min_threads=RAG_MIN_THREADS,
            whitespace=_WHITESPACE,
        )
    finally:
        con.unregister("_cid_threads")
    if found.is_empty():
        return pl.DataFrame(schema={"cid": pl.Int64, "retrieved_tokens": pl.Int64})
    # a message's retrieved tokens: those of every retrieved block in it, a block twice in it counted twice
    sizes = pl.Series("tokens", count(found["text"].to_list()), pl.Int64)
    return (
        found.select("cids", sizes)
        .explode("cids")
        .group_by(pl.col("cids").alias("cid"))
        .agg(retrieved_tokens=pl.col("tokens").sum())
        .filter(pl.col("retrieved_tokens") > 0)
        .sort("cid")
    )


def segment_tokens(seq: Sequence, threads: pl.DataFrame, retrieved: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per request, counted input tokens by segment: system (system prompt and tool definitions), history
    (messages re-sent from earlier turns), user (new user text), tool_results, retrieved (RAG-like injected
    documents: blocks found by `retrieved_blocks`, or whole long user messages repeated across threads)."""
    # each message row joined on its request's number, with its thread as a number (the same distinct counts,
    # a null counting as one value): no id strings on the 7.7M input rows of a million calls
    per_req = seq.requests.select("req", "request_id").join(
        threads.select("request_id", "thread_id", "history_messages"), on="request_id", how="left"
    )
    # one lazy query, collected once it is down to a row per request and segment: the input rows of a million
    # calls (7.7M) are not held in several joined copies, each with every column of the messages
    inputs = (
        seq.messages.lazy()
        .filter(~pl.col("is_output"))
        .select("req", "position", "cid", "role", "tokens")
        .join(
            per_req.lazy().select("req", "history_messages", thread=pl.col("thread_id").rank("dense")),
            on="req",
            how="left",
        )
    )
    rag = (
        inputs.filter((pl.col("role") == "user") & (pl.col("tokens") >= RAG_MIN_TOKENS))
        .group_by("cid")
        .agg(pl.col("thread").n_unique().alias("threads"))
        .filter(pl.col("threads") >= RAG_MIN_THREADS)
        .select("cid", retrieved=pl.lit(True))
    )
    seg = inputs.join(rag, on="cid", how="left").select(
        "req",
        "cid",
        "tokens",
        segment=pl.when(pl.col("role").is_in(["system", "tools", "developer"]))
        .then(pl.lit("system"))
        .when(pl.col("position") < pl.col("history_messages"))
        .then(pl.lit("history"))
        .when(pl.col("retrieved").fill_null(False))
        .then(pl.lit("retrieved"))
        .when(pl.col("role") == "tool")
        .then(pl.lit("tool_results"))
        .when(pl.col("role") == "assistant")
        .then(pl.lit("history"))
        .otherwise(pl.lit("user")),
    )
    if retrieved is not None and retrieved.height:
        # carve retrieved blocks out of new user text and system prompts
        seg = seg.join(retrieved.lazy(), on="cid", how="left").with_columns(
            ret=pl.when(pl.col("segment").is_in(["user", "system"]))
            .then(pl.min_horizontal(pl.col("retrieved_tokens").fill_null(0), pl.col("tokens")))
            .otherwise(0)
        )
        seg = pl.concat(
            [
                seg.select("req", "segment", tokens=pl.col("tokens") - pl.col("ret")),
                seg.filter(pl.col("ret") > 0).select("req", segment=pl.lit("retrieved"), tokens=pl.col("ret")),
            ]
        )
    sums = seg.group_by("req", "segment").agg(pl.col("tokens").sum().alias("tokens")).collect()
    # position counts tools/system too; history_messages counts input messages: both index the same list.
    return (
        sums.pivot(on="segment", index="req", values="tokens")
        .fill_null(0)
        .with_columns([pl.lit(0).alias(s) for s in SEGMENTS if s not in sums["segment"].unique().to_list()])
        .join(per_req.select("req", "request_id"), on="req", how="left")
        .select("request_id", *SEGMENTS)
    )


NEAR_LIMIT = 0.8  # a thread whose largest input reaches this share of the model's context window is flagged


def summarise(
    priced: pl.DataFrame,
    seq: Sequence,
    threads: pl.DataFrame,
    context_windows: dict[str, int | None],
    retrieved: pl.DataFrame | None = None,
    top: int = 20,
) -> dict[str, Any]:
    """The report's `conversations` block.

    priced: the priced request frame (request_id, model_key, input_tokens, the cost_* columns).
    Segment tokens are counted with our tokenizer and scaled, request by request, to the input tokens the
    provider reported; each segment's cost is its share of the request's input cost.
    """
    req = priced.select(
        "request_id",
        "model_key",
        "input_tokens",
        input_cost=pl.sum_horizontal("cost_input", "cost_cache_read", "cost_cache_write_5m", "cost_cache_write_1h"),
        cost=pl.col("cost"),
    ).join(threads, on="request_id", how="inner")
    if req.is_empty():
        return {"threads": 0, "requests": 0}
    growth = (
        req.group_by("turn")
        .agg(
            pl.len().alias("requests"),
            pl.col("input_tokens").median().alias("median_input_tokens"),
            pl.col("input_tokens").quantile(0.9, interpolation="nearest").alias("p90_input_tokens"),
        )
        .sort("turn")
    )
    seg = segment_tokens(seq, threads, retrieved).join(
        req.select("request_id", "input_tokens", "input_cost"), on="request_id", how="inner"
    )
    counted = pl.sum_horizontal(*SEGMENTS)
    scale = pl.when(counted > 0).then(pl.col("input_tokens") / counted).otherwise(0.0)
    cost_scale = pl.when(counted > 0).then(pl.col("input_cost").fill_null(0.0) / counted).otherwise(0.0)
    seg_totals = seg.select(
        *[(pl.col(s) * scale).sum().alias(f"{s}_tokens") for s in SEGMENTS],
        *[(pl.col(s) * cost_scale).sum().alias(f"{s}_cost") for s in SEGMENTS],
    ).row(0, named=True)
    all_seg = sum(seg_totals[f"{s}_tokens"] for s in SEGMENTS)
    per_thread = req.group_by("thread_id").agg(
        pl.col("turn").max().alias("turns"),
        pl.len().alias("requests"),
        pl.col("branch").sum().alias("branches"),
        pl.col("input_tokens").sum().alias("input_tokens"),
        pl.col("input_tokens").max().alias("max_input_tokens"),
        # null, not $0, for a thread on unpriced models only
        pl.when(pl.col("cost").is_not_null().any()).then(order_free_sum(pl.col("cost"))).alias("cost_usd"),
        pl.col("model_key").drop_nulls().first().alias("model_key"),
    )
    windows = pl.DataFrame(
        {"model_key": list(context_windows), "context_window": list(context_windows.values())},
        schema={"model_key": pl.String, "context_window": pl.Int64},
    )
    per_thread = per_thread.join(windows, on="model_key", how="left").with_columns(
        near_limit=(pl.col("max_input_tokens") >= NEAR_LIMIT * pl.col("context_window")).fill_null(False)
    )
    return {
        "threads": per_thread.height,
        "multi_turn_threads": per_thread.filter(pl.col("turns") > 1).height,
        "requests": req.height,
        "branched_requests": cast(int, req["branch"].sum()),  # the sum of a Boolean column is a count
        "max_turn": cast(int, req["turn"].max()),  # req is not empty and every request has its turn
        "growth_by_turn": growth.to_dicts(),
        "segments": {
            s: {
                "tokens": round(seg_totals[f"{s}_tokens"]),
                "share": round(seg_totals[f"{s}_tokens"] / all_seg, 6) if all_seg else None,
                "cost_usd": round(seg_totals[f"{s}_cost"], 10),
            }
            for s in SEGMENTS
        },
        "near_context_limit": per_thread.filter(pl.col("near_limit")).height,
        "top_threads": per_thread.sort(
            ["cost_usd", "input_tokens", "thread_id"], descending=[True, True, False], nulls_last=True
        )
        .head(top)
        .to_dicts(),
    }
