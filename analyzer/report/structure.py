"""The report's structure sections: conversations and context growth, prefix reuse and the shared and
volatile prefixes, and the savings estimates, which run (on other processes when a backend has them) while
the rest is built.

Apart from the spend tables because these read the messages, not only the priced requests: they rebuild the
threads (written back to the store), replay the traffic, and show prompt text only as redacted excerpts.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

import polars as pl

from analyzer import conversations, perf, prefixes, progress, queries, tokens
from analyzer import reuse as reuse_mod
from analyzer import system_prompts as system_prompts_mod
from analyzer.backends.base import Backend
from analyzer.backends.local import INLINE, Local
from analyzer.perf import return_free_heap
from analyzer.prices import Catalogue, price_one
from analyzer.redact import excerpt, excerpt_of
from analyzer.report.schema import round_usd
from analyzer.savings.routing import Rule
from analyzer.savings.run import start_estimates, start_replays
from analyzer.store import Store


def structure(
    store: Store,
    cat: Catalogue,
    priced: pl.DataFrame,
    since: datetime | None,
    until: datetime | None,
    cache_capacity: int | None,
    calibration: dict[str, float] | None = None,
    routing_rules: list[Rule] | None = None,
    show_text: bool = False,
    backend: Backend = INLINE,
) -> dict[str, Any]:
    """Conversations, context growth, prefixes and savings; thread ids and turns are written back to
    `requests`. Prompt text appears only as excerpts (redacted unless show_text)."""
    con = store.con
    next_stage("load messages")
    seq = conversations.load_sequence(con, since, until)
    # Savings are what a lever saves from now on: the logged traffic and every replay of it at today's prices
    # (the same prices on both sides of each estimate), priced as billed (each call at its time's prices). When
    # they run on other processes, the workers build their traffic while the threads are rebuilt here, and
    # replay while the stages below run.
    started = start_replays(priced, seq, cat, calibration or {}, backend)
    pending = None
    own_stages_done = threading.Event()  # the routing plan waits for it (start_estimates' `plan_after`)
    try:
        next_stage("threads")
        # the requests' lists parsed a slice at a time and let go: nothing else walks them (the replays read the
        # message columns themselves, columns.read_inputs)
        threads = conversations.reconstruct_threads(seq, keep=False)
        if threads.height:
            store.write_threads(threads)
        system_prompts = queries.run(con, "system_prompts", since=since, until=until)
        groups = system_prompts_mod.volatile_prefixes(system_prompts)
        split = volatile_split(con, groups)
        pending = start_estimates(
            con, priced, seq, threads, cat, calibration or {}, routing_rules, split, backend, started, own_stages_done
        )
    except BaseException:  # (Ctrl-C too) before the estimates took the workers over: their bins' files go
        own_stages_done.set()
        if pending is None:
            with contextlib.suppress(Exception):  # the error that stopped the run is the one to report
                engine = started.result()
                if engine is not None:
                    engine.abandon()
        raise
    try:
        next_stage("conversations")
        windows = {k: cat.context_window(k) for k in priced["model_key"].drop_nulls().unique().to_list()}
        retrieved = conversations.retrieved_blocks(con, seq, threads, token_counter(backend))
        convo = conversations.summarise(priced, seq, threads, windows, retrieved)
        next_stage("prefix reuse")
        if pending.db_waits:  # the blocks of the contents the conversations read (~300 MiB at a million calls)
            perf.shed_file_blocks(con)
        # The reuse gaps and the top prefixes read the chains' rows (`node_frame`) and request keys; only a replay
        # under a capacity walks the chains themselves. Without one they are not kept (~1.6 GB of Python objects at
        # a million calls), and the replays build chains of their own.
        message_reqs = prefixes.message_prefix_requests(seq) if cache_capacity is not None else []
        message_nodes, message_keys, n_message = prefixes.message_nodes(seq)  # from the kept chains when made above
        block_reqs = prefixes.block_prefix_requests(queries.run(con, "block_sequence", since=since, until=until))
        reuse = reuse_mod.reuse_summary(
            {"messages": message_reqs, "block_traces": block_reqs},
            cache_capacity,
            {"messages": message_nodes},
            {"messages": n_message},
        )
        del message_reqs, block_reqs
        seq._chains.clear()
        # one lazy query: the input messages' three columns are read where they are, not filtered into a copy of
        # every message column first (+724 MiB in the parent at a million calls, its peak beside the workers)
        counted = (
            seq.messages.lazy()
            .filter(~pl.col("is_output"))
            .group_by("req")
            .agg((pl.col("tokens").fill_null(0) + tokens.TOKENS_PER_MESSAGE).sum().alias("counted"))
            .join(seq.requests.lazy().select("req", "request_id"), on="req")
        )
        attrs = (
            priced.lazy()
            .select(
                "request_id",
                scope=pl.coalesce("user", "api_key", pl.lit("")),
                input_cost=pl.sum_horizontal(
                    "cost_input", "cost_cache_read", "cost_cache_write_5m", "cost_cache_write_1h"
                ),
                priced=pl.col("priced"),
                cache_read_tokens=pl.col("cache_read_tokens"),
                input_tokens=pl.col("input_tokens"),
            )
            .join(counted, on="request_id", how="inner")
            .join(threads.lazy().select("request_id", "thread_id"), on="request_id", how="left")
            .select(
                "request_id",
                "scope",
                "thread_id",
                "cache_read_tokens",
                input_cost_per_token=pl.when(pl.col("priced") & (pl.col("counted") > 0))
                .then(pl.col("input_cost") / pl.col("counted"))
                .otherwise(None),
                scale=pl.when(pl.col("counted") > 0).then(pl.col("input_tokens") / pl.col("counted")).otherwise(None),
            )
            .collect()
        )
        # The message sequence is not held through the prefix tables (the parent's own peak at a million calls, beside
        # the workers building their engines) nor while waiting for the replays, unless the replays here read it
        # (they hold it then); the node rows go once the tables are made.
        del counted, retrieved, seq
        next_stage("prefix tables")
        prefix_tables = _prefix_tables(con, message_keys, message_nodes, attrs, groups, cat, show_text)
        shared = system_prompts_mod.shared_system_prefixes(system_prompts)
        del message_nodes, message_keys, attrs
        if pending.db_waits:  # before the replays' thread may query (own_stages_done)
            perf.shed_file_blocks(con)
    finally:  # the routing plan waits for this process's own stages, or for them to stop
        own_stages_done.set()
    next_stage("savings replays")
    if pending.background:  # this process now waits for the workers, beside them at their peak
        return_free_heap()
    return {
        "conversations": convo,
        "prefix_reuse": reuse,
        **prefix_tables,
        "shared_system_prefixes": shared,
        **pending.result(),
    }


def next_stage(name: str) -> None:
    """The report's next stage (progress.stage), with the heap the last one freed given back first
    (`perf.return_free_heap`, no collection): glibc otherwise keeps what a stage freed beside what the next one
    takes from new pages. At a million calls the parent's peak went from 5,150 to 4,695-4,758 MiB in three sampled
    runs."""
    perf.return_free_heap(collect=False)
    progress.stage(name)


def token_counter(backend: Backend) -> Callable[[list[str]], list[int]]:
    """How this process counts tokens it must count itself (the retrieved blocks): in a new worker of the pool
    when its fork server runs, which has the tokenizer loaded (loading it here cost ~0.6 s of CPU on the real
    traces, while the replays' workers wanted both cores); here otherwise (a small run starts no pool for it)."""
    if isinstance(backend, Local) and backend.warm:
        return partial(backend.once, tokens.count_many)
    return tokens.count_many


def volatile_split(con: Any, groups: list[dict[str, Any]]) -> dict[int, tuple[int, int]]:
    """For the caching replay of stable system prompts: each variant of a volatile system prompt (by the
    message sequence's content hash) -> its group's shared stable part and that part's tokens (the prompt with
    its volatile span moved to the end)."""
    ids = [(k, cid) for k, g in enumerate(groups) for cid in g["content_ids"]]
    if not ids:
        return {}
    hashed = dict(queries.values(con, "content_hashes", content_ids=[cid for _, cid in ids]))
    return {
        hashed[cid]: (hash(("stable system prompt", k)), groups[k]["cacheable_if_moved_to_end"])
        for k, cid in ids
        if cid in hashed
    }


def _prefix_tables(
    con: Any,
    keys: pl.DataFrame,
    nodes: pl.DataFrame,
    attrs: pl.DataFrame,
    groups: list[dict[str, Any]],
    cat: Catalogue,
    show_text: bool,
) -> dict[str, list[dict[str, Any]]]:
    """top_prefixes and volatile_prefixes (the groups of system_prompts.volatile_prefixes), each shared prefix that
    starts with a volatile system prompt marked with that prompt's span (why its variants do not share a cache
    entry)."""
    volatile = _volatile([dict(g) for g in groups], cat, show_text)
    top = _with_excerpts(con, prefixes.top_prefixes([], attrs, nodes=nodes, keys=keys), show_text)
    span = {}
    for v in volatile:
        for cid in v.pop("content_ids"):
            span[cid] = {"first_diff_token": v["first_diff_token"], "volatile_tokens": v["volatile_tokens"]}
    for p in top:
        p["volatile_span"] = span.get(p.pop("_first_content_id", None))
    return {"top_prefixes": top, "volatile_prefixes": volatile}


def _with_excerpts(con: Any, top: list[dict[str, Any]], show_text: bool) -> list[dict[str, Any]]:
    """Each shared prefix's first message and, for a longer prefix, its last, as excerpts (role: text)."""
    if not top:
        return top
    examples = pl.DataFrame(
        {"request_id": [p["example_request_id"] for p in top], "messages": [p["messages"] for p in top]},
        schema={"request_id": pl.String, "messages": pl.Int64},
    )
    queries.register(con, "_prefix_examples", examples)
    try:
        found = queries.rows(con, "prefix_excerpts")
    finally:
        con.unregister("_prefix_examples")
    by_example = {(row["request_id"], row["messages"]): row for row in found}

    def line(role: str | None, text: str | None) -> str | None:
        shown = excerpt(text, show_text)
        return None if shown is None else f"{role}: {shown}"

    for p in top:
        row = by_example.get((p["example_request_id"], p["messages"])) or {}
        p["prefix"] = row.get("prefix_id") or p["prefix"]
        p["_first_content_id"] = row.get("first_content_id")
        p["excerpt"] = line(row.get("first_role"), row.get("first_text"))
        p["last_excerpt"] = line(row.get("last_role"), row.get("last_text")) if p["messages"] > 1 else None
    top.sort(key=lambda p: (-p["reusable_tokens"], p["prefix"]))  # ties in a stable order, run to run
    return top


def _volatile(groups: list[dict[str, Any]], cat: Catalogue, show_text: bool) -> list[dict[str, Any]]:
    """Volatile system prompts with their text as excerpts and what moving the span would save at most: the
    gained tokens read from cache instead of sent uncached, on every request after each variant's first."""
    for g in groups:
        text, spans = g.pop("_text"), g.pop("_spans")
        for k, (a, b) in spans.items():
            g[k] = excerpt_of(text, a, b, show_text, limit=40 if k != "prompt_start" else None)
        g["saving_upper_usd"] = None
        if g["model"] and g["gain_tokens"] > 0:
            n = g["gain_tokens"]
            full = price_one(cat, g["model"], input_tokens=n)["cost"]
            read = price_one(cat, g["model"], input_tokens=n, cache_read_tokens=n)["cost"]
            if full is not None and read is not None:
                g["saving_upper_usd"] = round_usd((full - read) * max(g["requests"] - g["variants"], 0))
    return groups
