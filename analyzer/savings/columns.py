"""Each request's logged figures and input messages held as columns, made into objects when asked.

A replay worker keeps every request of its bins for the whole savings stage (issue 26): an object per request,
its numbers objects of their own, and two arrays of its own for its messages were ~1.7 KB of Python objects a
request with the rest of the engine (bench/engine_memory.py). `LoggedTable` and `BodyTable` hold the same
figures as columns by the request's place and make its `Logged` or `Body` when asked; `read_inputs` and
`read_breakpoints` read a bin's messages into them (traffic.prepare).
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterator, Mapping
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

import polars as pl

from analyzer.conversations import Sequence
from analyzer.savings.levers import Body


@dataclass(slots=True)
class Logged:
    provider: str
    model: str
    key: str
    user: str | None
    ts: float
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    batch: bool
    cache: tuple[int, int, int]  # cache reads, 5-minute writes, 1-hour writes as reported


NO_BREAKPOINTS: Mapping[int, str] = MappingProxyType({})  # the body of a request that set none (most): one, shared


class LoggedTable(Mapping[str, Logged]):
    """request_id -> its `Logged`, held as columns by its place in time order and made when asked. A worker keeps
    every request of its bins for the whole savings stage, and an object per request with its numbers objects of
    their own (~290 bytes) is what these columns replace: ~90 bytes a request, the names and cache tuples shared.
    With the roles shared (`read_inputs`) and no empty dict per body, 1,737 -> 1,460 bytes a request in
    bench/engine_memory.py. `position` (each request's place) is the one map `Shape` and `BodyTable` read."""

    __slots__ = ("batch", "cache", "inp", "key", "model", "order", "out", "position", "provider", "reasoning",
                 "ts", "user")  # fmt: skip

    def __init__(self, order: list[str], rows: pl.DataFrame) -> None:
        self.order = order
        self.position = {rid: k for k, rid in enumerate(order)}
        shared: dict[Any, Any] = {}  # one object per distinct name or cache tuple, not one per request
        one = shared.setdefault
        self.provider = [one(v or "", v or "") for v in rows["provider"].to_list()]
        self.model = [one(v, v) for v in rows["model"].to_list()]
        self.key = [one(v or "", v or "") for v in rows["api_key"].to_list()]
        self.user = [one(v, v) for v in rows["user"].to_list()]
        self.ts = array("d", [t.timestamp() if t is not None else 0.0 for t in rows["ts"].to_list()])
        self.inp, self.out, self.reasoning = (_machine(rows[c]) for c in PER_CALL_TOKENS)
        self.batch = [bool(v) for v in rows["batch"].to_list()]  # (True and False are shared objects)
        cache = zip(*(rows[c].to_list() for c in CACHE_TOKENS), strict=True)
        self.cache = [one(c, c) for c in cache]  # requests that report the same (no cache, often) share one

    def __getitem__(self, rid: str) -> Logged:
        k = self.position[rid]
        return Logged(self.provider[k], self.model[k], self.key[k], self.user[k], self.ts[k], self.inp[k],
                      self.out[k], self.reasoning[k], self.batch[k], self.cache[k])  # fmt: skip

    def __contains__(self, rid: object) -> bool:
        return rid in self.position

    def __iter__(self) -> Iterator[str]:
        return iter(self.position)

    def __len__(self) -> int:
        return len(self.position)


class BodyTable(Mapping[str, Body]):
    """request_id -> its `Body`, made when asked from the bin's messages end to end (`Messages`) and a few columns
    by the request's place (`LoggedTable.position`), in the order added. A worker keeps every body of its bins for
    the whole savings stage: a `Body` per request with two arrays of its own took ~260 bytes a request more
    (bench/engine_memory.py, the 100k log's largest bin: 1,460 -> 1,203 bytes a request). Made again on every ask,
    a body's remembered indices (`Body.task`) are found again: what a policy asks once per request."""

    __slots__ = ("at", "bps", "ids", "marks", "messages", "position", "roles", "scale")

    def __init__(self, position: Mapping[str, int], messages: Messages) -> None:
        n = len(position)
        self.position, self.messages = position, messages
        self.ids: list[str] = []
        self.at = array("q", [-1]) * n  # where the request's messages start; -1: no body
        self.roles: list[tuple[str, ...] | None] = [None] * n
        self.bps: list[Mapping[int, str]] = [NO_BREAKPOINTS] * n
        self.scale = array("d", bytes(8 * n))
        self.marks = array("q", bytes(8 * n))

    def add(
        self, rid: str, k: int, roles: tuple[str, ...], at: int, bps: Mapping[int, str], scale: float, marks: int
    ) -> None:
        if self.at[k] < 0:
            self.ids.append(rid)
        self.at[k], self.roles[k], self.bps[k], self.scale[k], self.marks[k] = at, roles, bps, scale, marks

    def __getitem__(self, rid: str) -> Body:
        k = self.position[rid]
        at = self.at[k]
        roles = self.roles[k]
        if at < 0 or roles is None:
            raise KeyError(rid)
        end = at + len(roles)
        m = self.messages
        return Body(roles, m.cids[at:end], m.tokens[at:end], self.bps[k], self.scale[k], self.marks[k])

    def scale_of(self, rid: str) -> float | None:
        k = self.position.get(rid)
        return None if k is None or self.at[k] < 0 else self.scale[k]

    def __contains__(self, rid: object) -> bool:
        k = self.position.get(rid)  # type: ignore[call-overload]
        return k is not None and self.at[k] >= 0

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)


def scopes_of(logged: Mapping[str, Logged], ids: Seq[str]) -> tuple[list[str], list[str], list[str]]:
    """Each request's provider, model and key ("" for each when it was not logged), read from a `LoggedTable`'s
    columns without making a `Logged` for each."""
    if isinstance(logged, LoggedTable):
        at = [logged.position.get(rid) for rid in ids]
        p, m, k = ([col[j] if j is not None else "" for j in at] for col in (logged.provider, logged.model, logged.key))
        return p, m, k
    each = [logged.get(rid) for rid in ids]
    return (
        [x.provider if x is not None else "" for x in each],
        [x.model if x is not None else "" for x in each],
        [x.key if x is not None else "" for x in each],
    )


PER_CALL_TOKENS = ("input_tokens", "output_tokens", "reasoning_tokens")
CACHE_TOKENS = ("cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens")


def shared_strings(values: pl.Series) -> list[Any]:
    """A column of strings as Python strings, one object per distinct value however often and wherever it is
    read (interned): a worker keys several maps by request id, and a thread id repeats for each of its requests
    (~80 bytes a copy, half a million requests a worker at a million calls)."""
    intern = sys.intern
    return [v if v is None else intern(v) for v in values.to_list()]


class Messages(NamedTuple):
    """A bin's input messages end to end, in request order: content ids and counted tokens (arrays of machine
    integers, a list where one is missing). A request's are `at`.. `at + len(roles)` (`BodyTable`)."""

    cids: Seq[int]
    tokens: Seq[int]


def read_inputs(seq: Sequence) -> tuple[Messages, list[tuple[str, tuple[str, ...], int]]]:
    """Every input message's content id and counted tokens (`Messages`), and each request with input messages, in
    req order: its id, its messages' roles and where its messages start. The roles are one tuple per distinct
    sequence of roles, shared by every request that sends it (the turns of a conversation or an agent's steps
    repeat a few patterns: ~110 bytes a request as a list of its own). Made from the message columns at once, a
    Python step per request, not per message."""
    m = (
        seq.messages.lazy()
        .filter(~pl.col("is_output"))
        .select("req", "role", "cid", pl.col("tokens").fill_null(0))
        .collect()
    )
    if m.is_empty():
        return Messages(array("q"), array("q")), []
    if not m["req"].is_sorted():
        m = m.sort("req", maintain_order=True)  # a request's messages stay in the order given
    names = [None, *m["role"].drop_nulls().unique().sort().to_list()]
    roles = tuple(map(names.__getitem__, m["role"].rank("dense").fill_null(0).to_list()))
    patterns: dict[tuple[str, ...], tuple[str, ...]] = {}
    shared = patterns.setdefault
    ids = shared_strings(seq.requests["request_id"])
    out = []
    lo = 0
    runs = m.group_by("req", maintain_order=True).len()
    for req, n in zip(runs["req"].to_list(), runs["len"].to_list(), strict=True):
        hi = lo + n
        these = roles[lo:hi]
        out.append((ids[req - 1], shared(these, these), lo))
        lo = hi
    return Messages(_machine(m["cid"]), _machine(m["tokens"])), out


def _machine(values: pl.Series, chunk: int = 1 << 20) -> Seq[int]:
    """A column of integers as an array of 64-bit integers (a list where one is missing), converted `chunk`
    values at a time: never a Python integer for each value of the column at once."""
    if values.null_count():
        return values.to_list()
    out = array("q")
    for lo in range(0, values.len(), chunk):
        out.extend(values.slice(lo, chunk).to_list())
    return out


def read_breakpoints(seq: Sequence) -> tuple[dict[str, dict[int, str]], dict[str, int]]:
    """request_id -> input message index -> the TTL of the cache breakpoint the request set there; and
    request_id -> how many content blocks carry one (a message's `breakpoints`, one where a row stored before
    migration 11 has none)."""
    m = seq.messages
    if "breakpoint" not in m.columns or m.is_empty():
        return {}, {}
    marked = m.filter(pl.col("breakpoint").is_not_null() & ~pl.col("is_output"))
    if marked.is_empty():
        return {}, {}
    n = pl.col("breakpoints").fill_null(1) if "breakpoints" in m.columns else pl.lit(1)
    # position counts input messages before outputs, so it is the index into the request's input list
    ids = seq.requests["request_id"].to_list()
    out: dict[str, dict[int, str]] = {}
    marks: dict[str, int] = {}
    for req, pos, ttl, k in marked.select("req", "position", "breakpoint", n.alias("n")).iter_rows():
        rid = ids[req - 1]
        out.setdefault(rid, {})[pos] = ttl
        marks[rid] = marks.get(rid, 0) + k
    return out, marks
