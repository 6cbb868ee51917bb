"""The traffic every replay shares, prepared once, and the traffic rebuilt under a lever.

`prepare` reads the priced period once: each request's logged figures (`Logged`), its input messages (`Body`:
roles, content ids, counted tokens, breakpoints as logged), both held as columns (columns.py), and its thread.
`build` rebuilds the traffic under a `Lever` as `Call`s in time order: routed requests on their target
(re-tokenized across tokenizer families), trimmed histories, summariser calls a compaction adds, each call's input
as a prefix chain (prefixes.PrefixChain, the one builder the prefix tables use too) with cumulative tokens at the
provider's scale. The engine (engine.py) then simulates the cache on these calls and prices them as billed.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from collections.abc import Sequence as Seq
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from itertools import accumulate
from types import MappingProxyType
from typing import Any, NamedTuple

import polars as pl

from analyzer import tokens
from analyzer.conversations import Sequence
from analyzer.perf import gc_paused
from analyzer.prefixes import SYSTEM_ROLES, PrefixChain
from analyzer.prices import PRICE_COLUMNS, Catalogue, price_requests
from analyzer.providers import TTL_S, tokenizer_family
from analyzer.savings.columns import (
    NO_BREAKPOINTS,
    BodyTable,
    Logged,
    LoggedTable,
    read_breakpoints,
    read_inputs,
    shared_strings,
)
from analyzer.savings.levers import CLEARED_TOKENS, SUMMARY_PROMPT_TOKENS, SUMMARY_TOKENS, Body, Lever, Trim


@dataclass
class Traffic:
    """What every replay of one period shares."""

    rows: pl.DataFrame  # the priced, successful requests: request_id, cost and the PRICE_COLUMNS
    order: list[str]  # request ids in time order
    logged: Mapping[str, Logged]  # a LoggedTable as `prepare` makes it
    body: Mapping[str, Body]  # a BodyTable as `prepare` makes it
    thread: dict[str, str]
    calibration: dict[str | None, float]  # provider -> reported input tokens per counted (o200k) token
    _shape: Shape | None = field(default=None, init=False, repr=False, compare=False)
    # routed calls made so far: (request, target model, the target's provider as the lever names it) -> call
    routed: dict[tuple[str, str, str | None], Call] = field(default_factory=dict, init=False, repr=False, compare=False)

    def shape(self) -> Shape:
        """Each request's size and user messages, and the threads' requests (found again when the threads are
        given later: `Worker.set_threads`)."""
        if self._shape is None or self._shape.threads is not self.thread:
            self._shape = Shape.of(self)
        return self._shape

    def scale_of(self, rid: str) -> float | None:
        """The request's body's scale (None without a body), without making its body (`BodyTable`)."""
        if isinstance(self.body, BodyTable):
            return self.body.scale_of(rid)
        b = self.body.get(rid)
        return None if b is None else b.scale

    def cost_logged(self, ids: set[str] | None = None) -> float:
        rows = self.rows if ids is None else self.rows.filter(pl.col("request_id").is_in(list(ids)))
        return float(rows["cost"].sum())


@dataclass
class Shape:
    """Per request, by its place in time order: its whole input's counted tokens with framing at its scale (None
    without a body: never rebuilt by a policy), its user messages and its thread; each thread's places; each
    request's place. What `Trim.whole` is asked about, found once per traffic."""

    threads: dict[str, str]  # the traffic's thread map these were found with
    sizes: list[float | None]
    users: list[int]
    thread_of: list[str]
    by_thread: dict[str, list[int]]
    position: dict[str, int]

    @staticmethod
    def of(traffic: Traffic) -> Shape:
        sizes: list[float | None] = []
        users: list[int] = []
        framing = tokens.TOKENS_PER_MESSAGE
        for rid in traffic.order:
            b = traffic.body.get(rid)
            if b is None:
                sizes.append(None)
                users.append(0)
            else:  # Body.size of every message, at the scale `build` gives the policy
                sizes.append((sum(b.tokens) + len(b.roles) * framing) * b.scale)
                users.append(b.roles.count("user"))
        thread = traffic.thread
        thread_of = [thread.get(rid, rid) for rid in traffic.order]
        by_thread: dict[str, list[int]] = {}
        for k, t in enumerate(thread_of):
            by_thread.setdefault(t, []).append(k)
        lg = traffic.logged
        if isinstance(lg, LoggedTable) and lg.order is traffic.order:
            position = lg.position  # the same map, not a second one
        else:
            position = {rid: k for k, rid in enumerate(traffic.order)}
        return Shape(thread, sizes, users, thread_of, by_thread, position)


# What the bill's pricing reads besides PRICE_COLUMNS (prices.price_requests): the call's time (the price
# version in force, off-peak windows) and the inference geography and speed multipliers. A replay prices each of
# its calls with its logged request's values, so both replays are priced call by call exactly as the bill is.
BILL_COLUMNS = ("ts", "inference_geo", "speed")
PRICES_AS_BILLED = (
    "as billed: each call at the prices in force at its time (price version, off-peak window, service tier, "
    "long-context tier, batch, region and speed multipliers)"
)


def bill_columns(frame: pl.DataFrame) -> list[str]:
    return [c for c in BILL_COLUMNS if c in frame.columns]


# What `prepare` reads of the priced requests: all the partitioned engine ships to its workers of each row.
REPLAY_COLUMNS = ("request_id", "api_key", "user", "cost", "priced", *PRICE_COLUMNS, *BILL_COLUMNS)


def ok_rows(priced: pl.DataFrame, columns: Seq[str]) -> pl.DataFrame:
    """The priced, successful requests (what the replays and estimates read) with only `columns` (those the frame
    has), in the frame's order: the filter copies only them. The priced period is 54 columns (~360 MiB at a million
    calls); a filter of all of them, made for a few, was a transient copy of it in the parent, beside the workers."""
    cols = list(dict.fromkeys(c for c in columns if c in priced.columns))
    return priced.lazy().filter(pl.col("priced") & (pl.col("status") == "ok")).select(cols).collect()


def price_as_billed(frame: pl.DataFrame, cat: Catalogue) -> pl.DataFrame:
    """The bill's pricing of a frame of calls (PRICE_COLUMNS plus any BILL_COLUMNS), with `cost_today`: the same
    calls at today's prices (the shipped snapshot), the forward-looking figure."""
    cols = [*PRICE_COLUMNS, *bill_columns(frame)]
    today = price_requests(frame.select(*cols), cat, dated=False)["cost"]
    return price_requests(frame.select(*cols), cat).with_columns(cost_today=today)


def with_bill(frame: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """The calls of `frame` (a replay's: call_id, base_id, model, provider, tokens, batch) with what the bill reads
    of their logged request (`rows`: the traffic's) and the replay keeps no copy of: service tier, status, time,
    region and speed. A call is priced with its logged request's (a summariser call at the time of the request that
    triggered it), exactly as the bill priced that request."""
    other = [c for c in (*PRICE_COLUMNS, *bill_columns(rows)) if c not in frame.columns]
    if not other:
        return frame
    return frame.join(
        rows.select(pl.col("request_id").alias("base_id"), *other), on="base_id", how="left", maintain_order="left"
    )


def prepare(
    priced: pl.DataFrame, seq: Sequence, threads: pl.DataFrame, calibration: dict[str, float] | None = None
) -> Traffic:
    rows = ok_rows(priced, REPLAY_COLUMNS).sort("ts", "request_id", nulls_last=True)
    rows = rows.select(
        "request_id", "api_key", "user", "ts", "cost", *PRICE_COLUMNS, *[c for c in bill_columns(rows) if c != "ts"]
    )
    order = shared_strings(rows["request_id"])
    logged = LoggedTable(order, rows)
    bps, marks = read_breakpoints(seq)
    messages, requests = read_inputs(seq)
    body = BodyTable(logged.position, messages)
    position, logged_input, all_tokens = logged.position, logged.inp, messages.tokens
    for rid, roles, at in requests:
        k = position.get(rid)
        if k is None:
            continue
        counted = tokens.chat_input(all_tokens[at : at + len(roles)])
        scale = logged_input[k] / counted if counted else 0.0
        body.add(rid, k, roles, at, bps.get(rid, NO_BREAKPOINTS), scale, marks.get(rid, 0))
    ratios: dict[str | None, float] = {k: v for k, v in (calibration or {}).items()}
    return Traffic(rows, order, logged, body, thread_map(threads), ratios)


def thread_map(threads: pl.DataFrame) -> dict[str, str]:
    """request_id -> thread_id."""
    return dict(zip(shared_strings(threads["request_id"]), shared_strings(threads["thread_id"]), strict=True))


@dataclass(slots=True)
class Call:
    call_id: str
    base_id: str  # the logged request it stands for (a summariser call stands for the request that triggered it)
    ts: float
    provider: str | None  # None: routed to a target the catalogue names no provider for
    model: str
    key: str
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    batch: bool
    nodes: list[int] | None  # None: not simulated (no body, or no cache rules): its cache stays as logged
    cum: Seq[int]
    sys_end: int
    bps: tuple[tuple[int, float], ...]
    logged_cache: tuple[int, int, int]
    changed: bool


Message = tuple[str, int, int]  # role, content id, counted tokens: a message a lever inserts
NOTHING_CLEARED: frozenset[int] = frozenset()


@gc_paused()
def build(traffic: Traffic, lever: Lever, base: dict[str, Call] | None = None) -> list[Call]:
    """The traffic rebuilt under the lever, in time order. With `base` (the as-logged calls by id), a request
    the lever leaves as it was is that same Call object, so a replay can tell what changed by identity."""
    trim = lever.trim
    if base is not None and trim is None and not lever.split:
        # only routed requests change: the as-logged calls with those replaced (batch flags apply at pricing)
        calls = list(base.values())
        if not lever.route:
            return calls
        # A routed request's call depends on the request, its target and the target's provider only (a batch flag
        # applies when repricing): made once per traffic, and shared by every routing lever and case after that.
        position, order, made = traffic.shape().position, traffic.order, traffic.routed
        if len(calls) != len(order):  # not one as-logged call per request in time order: placed by id
            position = {c.call_id: k for k, c in enumerate(calls)}
        wanted = {rid: (rid, t, lever.target_provider.get(t)) for rid, t in lever.route.items() if rid in position}
        missing = sorted(position[rid] for rid, key in wanted.items() if key not in made)
        if missing:
            only = replace(traffic, order=[calls[k].call_id for k in missing])
            for c in build(only, Lever(lever.name, route=lever.route, target_provider=lever.target_provider)):
                made[wanted[c.call_id]] = c
        for rid, key in wanted.items():
            calls[position[rid]] = made[key]
        return calls
    out: list[Call] = []
    states: dict[str, dict[str, Any]] = {}
    memo = Memo()
    # looked up once: the loop runs once per request for every lever and case
    logged, bodies, threads, routed, split = traffic.logged, traffic.body, traffic.thread, lever.route, lever.split
    order = traffic.order
    # the requests the policy surely leaves whole are the as-logged calls, copied in runs between the others
    todo = _rebuilt_only(traffic, lever, base) if base is not None else None
    as_logged = list(base.values()) if todo is not None and base is not None else []
    prev = 0
    for k in todo if todo is not None else range(len(order)):
        if k > prev:
            out.extend(as_logged[prev:k])
        prev = k + 1
        rid = order[k]
        lg = logged[rid]
        target = routed.get(rid) if routed else None
        provider = lever.target_provider.get(target, lg.provider) if target else lg.provider
        model = target or lg.model
        body = bodies.get(rid)
        batch = lg.batch or rid in lever.batch
        same = base.get(rid) if base is not None and not target else None
        if same is not None and body is not None and split and any(c in split for c in body.cids):
            same = None  # its system prompt is rebuilt
        if same is not None and (trim is None or body is None):
            out.append(same)  # not routed, not trimmed: as logged (a batch flag is applied when repricing)
            continue
        keep: list[int] | None = None
        extra: list[Message] = []
        cleared: AbstractSet[int] = NOTHING_CLEARED
        state: dict[str, Any] = {}
        thread = threads.get(rid, rid)
        if trim is not None and body is not None:
            state = states.setdefault(thread, {"thread": thread}) if trim.stateful else {"thread": thread}
            keep, extra = trim.apply(state, body, body.scale)
            cleared = state.get("cleared", NOTHING_CLEARED)
            if (
                same is not None
                and not extra
                and "call" not in state
                and len(keep) == len(body.roles)
                and not (cleared and not cleared.isdisjoint(keep))
            ):
                out.append(same)  # the policy leaves this request whole
                continue
        # as logged, not simulated (no body): its cache stays as logged unless it moved
        call = Call(rid, rid, lg.ts, provider, model, lg.key, lg.input_tokens, lg.output_tokens,
                    lg.reasoning_tokens, batch, None, [], -1, (), lg.cache, bool(target))  # fmt: skip
        if body is None:
            out.append(call)
            continue
        if keep is None:
            keep = list(range(len(body.roles)))
        scale, out_scale = body.scale, 1.0
        if target and tokenizer_family(lg.provider) != tokenizer_family(provider):
            # another tokenizer: the request re-tokenized (its o200k count times the target's calibration)
            scale = traffic.calibration.get(provider, 1.0)
            counted = tokens.chat_input(body.tokens)
            out_scale = scale * counted / lg.input_tokens if lg.input_tokens else 1.0
        if trim is not None and "call" in state:  # a summariser call before this request
            s_keep, s_extra = state.pop("call")
            chain = _chain(model, body, s_keep, s_extra, cleared, scale,
                           [("user", hash("summarise"), SUMMARY_PROMPT_TOKENS)], lever.split,
                           state.get("head", -1), memo)  # fmt: skip
            summary = round(getattr(trim, "summary_tokens", SUMMARY_TOKENS) * scale)
            out.append(_rebuilt(call, body, chain, f"{rid}#compact{state['count']}", lg.ts - 1e-3, summary, 0))
        chain = _chain(model, body, keep, extra, cleared, scale, (), lever.split, state.get("head", -1), memo)
        call = _rebuilt(call, body, chain, rid, lg.ts, round(lg.output_tokens * out_scale),
                        round(lg.reasoning_tokens * out_scale), lg.cache)  # fmt: skip
        out.append(call)
        for k in range(state.pop("after", 0)):
            # a turn spent after the compaction finding the agent's place again: the compacted context re-sent
            # (read from cache) and an answer as long as this request's
            out.append(
                replace(
                    call,
                    call_id=f"{rid}#after{state['count']}-{k + 1}",
                    ts=lg.ts + 1e-3 * (k + 1),
                    input_tokens=chain.input_tokens,
                    logged_cache=(0, 0, 0),
                    changed=True,
                )
            )
    if todo is not None:
        out.extend(as_logged[prev:])
    return out


def _rebuilt_only(traffic: Traffic, lever: Lever, base: Mapping[str, Call]) -> list[int] | None:
    """The places (in `traffic.order`) of the requests `build` must rebuild under a trimming lever, ascending:
    the routed ones, and those the policy may change (`Trim.whole`): for a policy that keeps state per thread,
    every request of a thread from the first one it may change. None: every request is looked at (no policy
    that says, a split system prompt, or as-logged calls that are not one per request in order)."""
    trim = lever.trim
    if trim is None or lever.split or type(trim).whole is Trim.whole or len(base) != len(traffic.order):
        return None
    shape = traffic.shape()
    whole, sizes, users = trim.whole, shape.sizes, shape.users
    may = [k for k, size in enumerate(sizes) if size is not None and not whole(size, users[k])]
    if trim.stateful:
        first: dict[str, int] = {}
        thread_of = shape.thread_of
        for k in may:
            first.setdefault(thread_of[k], k)
        todo = {k for t, k0 in first.items() for k in shape.by_thread[t] if k >= k0}
    else:
        todo = set(may)
    if lever.route:
        todo.update(shape.position[rid] for rid in lever.route if rid in shape.position)
    return sorted(todo)


def _rebuilt(
    call: Call,
    body: Body,
    chain: Chain,
    call_id: str,
    ts: float,
    output: int,
    reasoning: int,
    logged_cache: tuple[int, int, int] = (0, 0, 0),
) -> Call:
    """`call` (the request as logged, on its routed model) sent as `chain`: a changed call unless it is the request
    itself, on its own model, with the input it logged. An added call (`call_id` not the request's) logged no
    cache."""
    changed = call.changed or call_id != call.call_id or chain.input_tokens != call.input_tokens
    # built field by field (dataclasses.replace looks the fields up again on every call: 2 s at 100k calls)
    return Call(
        call_id,
        call.base_id,
        ts,
        call.provider,
        call.model,
        call.key,
        chain.input_tokens,
        output,
        reasoning,
        call.batch,
        chain.nodes,
        chain.cum,
        chain.sys_end,
        _bps(body, chain.at, len(chain.nodes)),
        logged_cache,
        changed,
    )


class Chain(NamedTuple):
    """A rebuilt request's input: prefix nodes, cumulative tokens at the provider's scale, the index of the last
    system/tools node, the input tokens, and the node each kept message's breakpoint would sit on."""

    nodes: list[int]
    cum: Seq[int]
    sys_end: int
    input_tokens: int
    at: Mapping[int, int]  # empty when the request set no breakpoint


NO_PLACES: Mapping[int, int] = MappingProxyType({})


Item = tuple[int, str, int, int, int, bool]  # message index (-1: inserted), role, content id, tokens, framing, marks


class Memo:
    """Per model and first two messages, the last chain `_chain` built: a request that sends what that request
    sent, or the start of it, hashes only the rest (a conversation's turn, an agent's step, a trimmed history
    that keeps its start). The nodes depend on the messages only; the cumulative tokens (each request's own
    scale) are counted again every time. Keyed by the request's own start, not its thread, so it serves a
    traffic whose threads are not known yet."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: dict[tuple[Any, ...], tuple[list[Item], list[int], int]] = {}


def _chain(
    model: str,
    body: Body,
    keep: list[int],
    extra: Seq[Message],
    cleared: AbstractSet[int],
    scale: float,
    tail: Seq[Message] = (),
    split: Mapping[int, tuple[int, int]] | None = None,
    head: int = -1,
    memo: Memo | None = None,
) -> Chain:
    """The request as sent: the kept messages (a cleared tool result as its placeholder), `extra` before the first
    kept conversation message after index `head` (the task a compaction keeps stays before the summary), then
    `tail`. A split system prompt's breakpoint goes after its stable part.

    `split`: content -> (stable content, stable tokens): a system prompt sent as its stable part (shared by
    all its variants) then the rest, the volatile span moved to its end. `memo`: the chains built so far (see
    Memo)."""
    framing = tokens.TOKENS_PER_MESSAGE
    items: list[Item] = []
    add = items.append
    inserted = False
    roles, cids, toks = body.roles, body.cids, body.tokens
    for i in keep:
        role = roles[i]
        if not inserted and role not in SYSTEM_ROLES and i > head:
            for r, c, t in extra:
                add((-1, r, c, t, framing, False))
            inserted = True
        cid = cids[i]
        if cleared and i in cleared:
            add((i, role, hash(("cleared", cid)), CLEARED_TOKENS, framing, True))
        elif split and cid in split:
            stable, n = split[cid]
            n = min(n, toks[i])
            add((i, role, stable, n, framing, True))  # one message still: its framing once, the volatile rest after
            add((i, role, cid, toks[i] - n, 0, False))
        else:
            add((i, role, cid, toks[i], framing, True))
    if not inserted:
        for r, c, t in extra:
            add((-1, r, c, t, framing, False))
    for r, c, t in tail:
        add((-1, r, c, t, framing, False))

    # No model in the seed: a replay keeps a cache per scope (provider, model, key), so the nodes of two models
    # never meet, and the as-logged calls' chains are why-missed's model-free ones (misses._prepare).
    chain = PrefixChain(0)
    done = 0
    key = (model, *(it[1:3] for it in items[:2]))
    if memo is not None:
        last = memo.last.get(key)
        if last is not None:
            done = common_length((last[0], items))
            if done:  # the shared start's nodes; the system prompt's run ends within it, or where it did
                chain.nodes = last[1][:done]
                chain.h = chain.nodes[-1]
                chain.sys_end = min(last[2], done - 1)
    push = chain.add
    for it in items[done:] if done else items:
        push(it[1], it[2])
    if memo is not None:
        memo.last[key] = (items, chain.nodes, chain.sys_end)
    sums = list(accumulate([(it[3] + it[4]) * scale for it in items]))  # added in the order sent
    cum = array("q", map(int, sums))  # 8 bytes a node: a worker keeps every call's as-logged chain
    acc = sums[-1] if sums else 0.0
    # where each kept message sits: only logged breakpoints are carried by it (`_bps`)
    at = {it[0]: j for j, it in enumerate(items) if it[5] and it[0] >= 0} if body.bps else NO_PLACES
    return Chain(chain.nodes, cum, chain.sys_end, round(acc + tokens.TOKENS_PER_REPLY * scale), at)


def _bps(body: Body, at: Mapping[int, int], n_nodes: int) -> tuple[tuple[int, float], ...]:
    """The breakpoints as logged, carried to the rebuilt request: on a kept message they stay on it; one on the
    request's last message (incremental conversation caching) moves to the new last message."""
    if not body.bps:
        return ()
    last = len(body.roles) - 1
    out = set()
    for i, ttl in body.bps.items():
        t = TTL_S.get(ttl, 300.0)
        if i == last:
            out.add((n_nodes - 1, t))
        elif i in at:
            out.add((at[i], t))
    return tuple(sorted(out))


def common_length(*pairs: tuple[Seq[Any], Seq[Any]]) -> int:
    """How many leading items every pair of sequences shares (a request's messages, as one list or as parallel
    lists), by bisection over slices compared in C: equal prefixes are nested (if the first k are equal, so are
    fewer), so a few comparisons find the length without a Python step per item."""
    hi = min(min(len(a), len(b)) for a, b in pairs)
    if all(a[:hi] == b[:hi] for a, b in pairs):
        return hi
    lo = 0
    while hi - lo > 1:  # the first lo are shared, the first hi are not
        mid = (lo + hi) // 2
        if all(a[:mid] == b[:mid] for a, b in pairs):
            lo = mid
        else:
            hi = mid
    return lo
