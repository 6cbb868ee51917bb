"""The counterfactual engine: every lever is the logged traffic rebuilt with one change, replayed through one
cache simulator and repriced.

A saving is replay(traffic as it was) - replay(traffic with the lever), both under the same simulator, TTL
case and prices: never the log minus a replay. The simulator's own bias then cancels, and a lever that breaks
the cache (a sliding window changes the prefix of every turn) shows the breakage. The log is the simulator's
test: `backtest` compares the as-is replay with the cache reads and the cost the providers reported, and its
error is the band inside which a figure is "nothing to gain".

A lever is a `Lever`: which requests move to which model (routing), how each conversation's history is cut
(trimming: sliding windows, compaction, clearing old tool results), which requests go through a Batch API,
and where explicit caches put their breakpoints or how long automatic caches are retained (caching). The
combined estimate is one `Lever` with several of these set: the levers are replayed together, never summed.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import polars as pl

from analyzer import tokens
from analyzer.conversations import Sequence, requests_of
from analyzer.perf import gc_paused
from analyzer.prices import PRICE_COLUMNS, TOKEN_COLUMNS, Catalogue, price_requests
from analyzer.providers import (
    CASES,
    LOOKBACK_BLOCKS,
    RULES,
    TTL_S,
    case_ttl,
    min_tokens,
    offers_extended_retention,
    rule_of,
    tokenizer_family,
)
from analyzer.savings import Estimate, usd_text

# ---- the traffic, prepared once ----------------------------------------------------------------------------

SYSTEM_ROLES = ("system", "tools", "developer")
CONVERSATION_ROLES = ("user", "assistant", "tool")


@dataclass(slots=True)
class Body:
    roles: list[str]
    cids: list[int]
    tokens: list[int]  # counted (o200k) tokens per input message
    bps: dict[int, str]  # message index -> breakpoint TTL as logged ("5m", "1h", "auto")
    scale: float  # provider-reported input tokens per counted token (with per-message overhead)


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


@dataclass
class Traffic:
    """What every replay of one period shares."""

    rows: pl.DataFrame  # the priced, successful requests: request_id, cost and the PRICE_COLUMNS
    order: list[str]  # request ids in time order
    logged: dict[str, Logged]
    body: dict[str, Body]
    thread: dict[str, str]
    calibration: dict[str, float]

    def cost_logged(self, ids: set[str] | None = None) -> float:
        rows = self.rows if ids is None else self.rows.filter(pl.col("request_id").is_in(list(ids)))
        return float(rows["cost"].sum())


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


def price_as_billed(frame: pl.DataFrame, cat: Catalogue) -> pl.DataFrame:
    """The bill's pricing of a frame of calls (PRICE_COLUMNS plus any BILL_COLUMNS), with `cost_today`: the same
    calls at today's prices (the shipped snapshot), the forward-looking figure."""
    cols = [*PRICE_COLUMNS, *bill_columns(frame)]
    today = price_requests(frame.select(*cols), cat, dated=False)["cost"]
    return price_requests(frame.select(*cols), cat).with_columns(cost_today=today)


def prepare(
    priced: pl.DataFrame, seq: Sequence, threads: pl.DataFrame, calibration: dict[str, float] | None = None
) -> Traffic:
    rows = priced.filter(pl.col("priced") & (pl.col("status") == "ok")).sort("ts", "request_id", nulls_last=True)
    rows = rows.select(
        "request_id", "api_key", "user", "ts", "cost", *PRICE_COLUMNS, *[c for c in bill_columns(rows) if c != "ts"]
    )
    logged: dict[str, Logged] = {}
    for r in rows.iter_rows(named=True):
        ts = r["ts"].timestamp() if r["ts"] is not None else 0.0
        logged[r["request_id"]] = Logged(
            r["provider"] or "",
            r["model"],
            r["api_key"] or "",
            r["user"],
            ts,
            r["input_tokens"],
            r["output_tokens"],
            r["reasoning_tokens"],
            bool(r["batch"]),
            (r["cache_read_tokens"], r["cache_write_5m_tokens"], r["cache_write_1h_tokens"]),
        )
    bps = _breakpoints(seq)
    body: dict[str, Body] = {}
    for q in requests_of(seq):
        lg = logged.get(q.request_id)
        if lg is None or not q.roles:
            continue
        counted = tokens.chat_input(q.tokens)
        body[q.request_id] = Body(
            q.roles, q.cids, q.tokens, bps.get(q.request_id, {}), lg.input_tokens / counted if counted else 0.0
        )
    thread = dict(zip(threads["request_id"].to_list(), threads["thread_id"].to_list(), strict=True))
    return Traffic(rows, rows["request_id"].to_list(), logged, body, thread, dict(calibration or {}))


def _breakpoints(seq: Sequence) -> dict[str, dict[int, str]]:
    """request_id -> input message index -> the TTL of the cache breakpoint the request set there."""
    m = seq.messages
    if "breakpoint" not in m.columns or m.is_empty():
        return {}
    marked = m.filter(pl.col("breakpoint").is_not_null() & ~pl.col("is_output"))
    if marked.is_empty():
        return {}
    # position counts input messages before outputs, so it is the index into the request's input list
    ids = seq.requests["request_id"].to_list()
    out: dict[str, dict[int, str]] = {}
    for req, pos, ttl in marked.select("req", "position", "breakpoint").iter_rows():
        out.setdefault(ids[req - 1], {})[pos] = ttl
    return out


# ---- levers --------------------------------------------------------------------------------------------------


class Trim:
    """A trimming policy: what each request of a conversation keeps, replayed turn by turn in time order."""

    name: str
    stateful = False

    def apply(self, state: dict[str, Any], body: Body, scale: float) -> tuple[list[int], list[tuple[str, int, int]]]:
        """(indices of the input messages kept, messages inserted after the system prompt: role, cid, counted
        tokens). May record in `state` (one dict per thread) and ask for a summariser call via state["call"]."""
        raise NotImplementedError


def _conversation(roles: list[str]) -> list[int]:
    return [i for i, r in enumerate(roles) if r in CONVERSATION_ROLES]


class LastTurns(Trim):
    """Sliding window: the last n turns (a turn starts at a user message). Changes the prefix every turn."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.name = f"last {n} turns"

    def apply(self, state: dict[str, Any], body: Body, scale: float) -> tuple[list[int], list[tuple[str, int, int]]]:
        users = [i for i, r in enumerate(body.roles) if r == "user"]
        start = users[-self.n] if len(users) > self.n else 0
        return [i for i, r in enumerate(body.roles) if r not in CONVERSATION_ROLES or i >= start], []


class Budget(Trim):
    """Sliding window: the most recent history within a token budget. Changes the prefix every turn."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.name = f"history budget {limit // 1000}k tokens"

    def apply(self, state: dict[str, Any], body: Body, scale: float) -> tuple[list[int], list[tuple[str, int, int]]]:
        conv = _conversation(body.roles)
        kept, start = 0, 0
        for j, i in enumerate(reversed(conv)):
            t = (body.tokens[i] + tokens.TOKENS_PER_MESSAGE) * scale
            if j > 0 and kept + t > self.limit:  # the newest message is always kept
                start = conv[len(conv) - j]
                break
            kept += t
        return [i for i, r in enumerate(body.roles) if r not in CONVERSATION_ROLES or i >= start], []


SUMMARY_TOKENS = 2000  # a compaction summary (Claude Code's run to a few thousand tokens)
SUMMARY_TOKENS_RANGE = (1000, 8000)  # what the range covers: summaries from 1k to 8k tokens
EXTRA_TURNS_LOW = 2  # the low case: turns the agent spends after each compaction finding its place again
SUMMARY_PROMPT_TOKENS = 300  # the instruction appended to the history for the summariser call


def _task(roles: list[str]) -> int:
    """The index of the task: the first user message (-1 when there is none)."""
    return next((i for i, r in enumerate(roles) if r == "user"), -1)


def _repaired_cut(roles: list[str], n: int) -> int:
    """Where the history kept after a summary starts: the newest message, moved back to the assistant message
    whose tool calls the newest tool results answer, so the request can be sent (a tool result without the
    assistant call that asked for it is rejected by the APIs)."""
    cut = n - 1
    j = cut
    while j > 0 and roles[j] == "tool":
        j -= 1
    if j < cut and roles[j] == "assistant":
        cut = j
    return cut


class Compact(Trim):
    """Compaction at a threshold: when the context reaches `at` tokens, one summariser call (the same model,
    reading the whole history, mostly from cache) replaces the history with a summary; later turns append to
    the new prefix until it reaches the threshold again. Claude Code's auto-compact works this way.

    What a real compaction sends: the system prompt and tools, the task (the first user message, kept), the
    summary (`summary_tokens`), then the newest messages, repaired so that tool results keep the assistant call
    that asked for them. `extra_turns`: calls the agent spends after each compaction finding its place again
    (each re-sends the compacted context and writes an answer as long as the request's own)."""

    stateful = True

    def __init__(self, at: int, summary_tokens: int = SUMMARY_TOKENS, extra_turns: int = 0) -> None:
        self.at = at
        self.summary_tokens = summary_tokens
        self.extra_turns = extra_turns
        self.name = f"compact at {at // 1000}k tokens"

    @staticmethod
    def _keep(body: Body, cut: int) -> list[int]:
        task = _task(body.roles)
        return [i for i, r in enumerate(body.roles) if r not in CONVERSATION_ROLES or i >= cut or i == task]

    def apply(self, state: dict[str, Any], body: Body, scale: float) -> tuple[list[int], list[tuple[str, int, int]]]:
        cut = state.get("cut", 0)
        n = len(body.roles)
        summary = state.get("summary")
        if cut >= n:  # a branch shorter than the compacted history: sent as logged
            cut, summary = 0, None
        head = state["head"] = _task(body.roles)  # the summary goes after the task
        keep = self._keep(body, cut)
        extra = [("user", summary, self.summary_tokens)] if summary is not None else []
        size = sum(body.tokens[i] + tokens.TOKENS_PER_MESSAGE for i in keep) * scale
        size += sum(t + tokens.TOKENS_PER_MESSAGE for _, _, t in extra) * scale
        new_cut = _repaired_cut(body.roles, n)
        if size >= self.at and new_cut > max(cut, head + 1):
            # the summariser reads what would have been sent, plus its instruction, and writes the summary
            state["call"] = (keep, extra)
            state["count"] = state.get("count", 0) + 1
            state["cut"] = cut = new_cut
            state["summary"] = summary = hash(("summary", state["thread"], state["count"]))
            state["after"] = self.extra_turns
            keep = self._keep(body, cut)
            extra = [("user", summary, self.summary_tokens)]
        return keep, extra


CLEARED_TOKENS = 12  # the placeholder left where a tool result was cleared


class ClearToolResults(Trim):
    """Clearing old tool results (Anthropic's context editing): when the context reaches `at` tokens, every
    tool result but the last `keep` is replaced by a short placeholder; the cleared prefix then stays stable
    (and cacheable) until the context reaches the threshold again."""

    stateful = True

    def __init__(self, at: int, keep: int) -> None:
        self.at, self.keep = at, keep
        self.name = f"clear tool results (keep last {keep}) at {at // 1000}k tokens"

    def apply(self, state: dict[str, Any], body: Body, scale: float) -> tuple[list[int], list[tuple[str, int, int]]]:
        cleared: set[int] = state.setdefault("cleared", set())
        tools = [i for i, r in enumerate(body.roles) if r == "tool"]
        size = sum(
            (CLEARED_TOKENS if i in cleared else body.tokens[i]) + tokens.TOKENS_PER_MESSAGE
            for i in range(len(body.roles))
        )
        if size * scale >= self.at and len(tools) > self.keep:
            cleared.update(tools[: -self.keep])
        return list(range(len(body.roles))), []


@dataclass
class Lever:
    """One counterfactual: the changes applied to the logged traffic (any combination)."""

    name: str
    route: Mapping[str, str] = field(default_factory=dict)  # request_id -> target model
    target_provider: Mapping[str, str] = field(default_factory=dict)  # target model -> provider
    trim: Trim | None = None
    batch: frozenset[str] = frozenset()
    placement: float | None = None  # explicit caches: breakpoints after system+tools and at the end, this TTL
    retention: float | None = None  # automatic caches that offer it: retained this long
    extra_usd: float = 0.0  # costs outside the calls (a routing classifier)
    # volatile system prompts sent stable part first: content -> (stable content, stable tokens)
    split: Mapping[int, tuple[int, int]] = field(default_factory=dict)


AS_LOGGED = Lever("as logged")


@dataclass(slots=True)
class Call:
    call_id: str
    base_id: str  # the logged request it stands for (a summariser call stands for the request that triggered it)
    ts: float
    provider: str
    model: str
    key: str
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    batch: bool
    nodes: list[int] | None  # None: not simulated (no body, or no cache rules): its cache stays as logged
    cum: list[int]
    sys_end: int
    bps: tuple[tuple[int, float], ...]
    logged_cache: tuple[int, int, int]
    changed: bool


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
        where = {c.call_id: k for k, c in enumerate(calls)}
        only = replace(traffic, order=[rid for rid in traffic.order if rid in lever.route])
        for c in build(only, Lever(lever.name, route=lever.route, target_provider=lever.target_provider)):
            if c.call_id in lever.route and c.call_id in where:
                calls[where[c.call_id]] = c
        return calls
    out: list[Call] = []
    states: dict[str, dict[str, Any]] = {}
    for rid in traffic.order:
        lg = traffic.logged[rid]
        target = lever.route.get(rid)
        provider = lever.target_provider.get(target, lg.provider) if target else lg.provider
        model = target or lg.model
        body = traffic.body.get(rid)
        batch = lg.batch or rid in lever.batch
        same = base.get(rid) if base is not None and not target else None
        if same is not None and body is not None and lever.split and any(c in lever.split for c in body.cids):
            same = None  # its system prompt is rebuilt
        if same is not None and (trim is None or body is None):
            out.append(same)  # not routed, not trimmed: as logged (a batch flag is applied when repricing)
            continue
        if body is None:
            out.append(
                Call(
                    rid,
                    rid,
                    lg.ts,
                    provider,
                    model,
                    lg.key,
                    lg.input_tokens,
                    lg.output_tokens,
                    lg.reasoning_tokens,
                    batch,
                    None,
                    [],
                    -1,
                    (),
                    lg.cache,
                    bool(target),
                )  # fmt: skip
            )
            continue
        scale, out_scale = body.scale, 1.0
        if target and tokenizer_family(lg.provider) != tokenizer_family(provider):
            # another tokenizer: the request re-tokenized (its o200k count times the target's calibration)
            scale = traffic.calibration.get(provider, 1.0)
            counted = tokens.chat_input(body.tokens)
            out_scale = scale * counted / lg.input_tokens if lg.input_tokens else 1.0
        keep: list[int] = list(range(len(body.roles)))
        extra: list[tuple[str, int, int]] = []
        cleared: set[int] = set()
        if trim is not None:
            thread = traffic.thread.get(rid, rid)
            state = states.setdefault(thread, {"thread": thread}) if trim.stateful else {"thread": thread}
            keep, extra = trim.apply(state, body, body.scale)
            cleared = state.get("cleared", set())
            if (
                same is not None
                and not extra
                and "call" not in state
                and len(keep) == len(body.roles)
                and not any(i in cleared for i in keep)
            ):
                out.append(same)  # the policy leaves this request whole
                continue
            if "call" in state:  # a summariser call before this request
                s_keep, s_extra = state.pop("call")
                nodes, cum, sys_end, n_in, at = _chain(
                    model,
                    body,
                    s_keep,
                    s_extra,
                    cleared,
                    scale,
                    [("user", hash("summarise"), SUMMARY_PROMPT_TOKENS)],
                    lever.split,
                    state.get("head", -1),
                )
                out.append(
                    Call(
                        f"{rid}#compact{state['count']}",
                        rid,
                        lg.ts - 1e-3,
                        provider,
                        model,
                        lg.key,
                        n_in,
                        round(getattr(trim, "summary_tokens", SUMMARY_TOKENS) * scale),
                        0,
                        batch,
                        nodes,
                        cum,
                        sys_end,
                        _bps(body, at, len(nodes)),
                        (0, 0, 0),
                        True,
                    )  # fmt: skip
                )
        head = state.get("head", -1) if trim is not None else -1
        nodes, cum, sys_end, n_in, at = _chain(model, body, keep, extra, cleared, scale, (), lever.split, head)
        changed = bool(target) or n_in != lg.input_tokens
        call = Call(
            rid,
            rid,
            lg.ts,
            provider,
            model,
            lg.key,
            n_in if changed else lg.input_tokens,
            round(lg.output_tokens * out_scale),
            round(lg.reasoning_tokens * out_scale),
            batch,
            nodes,
            cum,
            sys_end,
            _bps(body, at, len(nodes)),
            lg.cache,
            changed,
        )  # fmt: skip
        out.append(call)
        for k in range(state.pop("after", 0) if trim is not None else 0):
            # a turn spent after the compaction finding the agent's place again: the compacted context re-sent
            # (read from cache) and an answer as long as this request's
            out.append(
                replace(
                    call,
                    call_id=f"{rid}#after{state['count']}-{k + 1}",
                    ts=lg.ts + 1e-3 * (k + 1),
                    input_tokens=n_in,
                    logged_cache=(0, 0, 0),
                    changed=True,
                )
            )
    return out


def _chain(
    model: str,
    body: Body,
    keep: list[int],
    extra: list[tuple[str, int, int]],
    cleared: set[int],
    scale: float,
    tail: list[tuple[str, int, int]] = (),  # type: ignore[assignment]
    split: Mapping[int, tuple[int, int]] | None = None,
    head: int = -1,
) -> tuple[list[int], list[int], int, int, dict[int, int]]:
    """Prefix nodes (a hash over the model and every (role, content) so far), cumulative tokens at the provider's
    scale, the index of the last system/tools node, the input tokens, and where each kept message's breakpoint
    would sit (its node; a split system prompt's breakpoint goes after its stable part).

    `split`: content -> (stable content, stable tokens): a system prompt sent as its stable part (shared by
    all its variants) then the rest, the volatile span moved to its end. `extra` goes before the first kept
    conversation message after index `head` (the task a compaction keeps stays before the summary)."""
    h = hash(("model", model))
    nodes: list[int] = []
    cum: list[int] = []
    at: dict[int, int] = {}
    acc = 0.0
    sys_end = -1
    inserted = False

    def add(role: str, cid: int, toks: int, framing: int = tokens.TOKENS_PER_MESSAGE) -> None:
        nonlocal h, acc, sys_end
        h = hash((h, role, cid))
        acc += (toks + framing) * scale
        if role in SYSTEM_ROLES and sys_end == len(nodes) - 1:
            sys_end = len(nodes)
        nodes.append(h)
        cum.append(int(acc))

    for i in keep:
        role = body.roles[i]
        if not inserted and role not in SYSTEM_ROLES and i > head:
            for e in extra:
                add(*e)
            inserted = True
        cid = body.cids[i]
        if i in cleared:
            add(role, hash(("cleared", cid)), CLEARED_TOKENS)
        elif split and cid in split:
            stable, n = split[cid]
            n = min(n, body.tokens[i])
            add(role, stable, n)  # one message still: its framing once, the volatile rest after the shared part
            at[i] = len(nodes) - 1
            add(role, cid, body.tokens[i] - n, 0)
            continue
        else:
            add(role, cid, body.tokens[i])
        at[i] = len(nodes) - 1
    if not inserted:
        for e in extra:
            add(*e)
    for e in tail:
        add(*e)
    return nodes, cum, sys_end, round(acc + tokens.TOKENS_PER_REPLY * scale), at


def _bps(body: Body, at: dict[int, int], n_nodes: int) -> tuple[tuple[int, float], ...]:
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


# ---- the simulator -------------------------------------------------------------------------------------------


@gc_paused()
def simulate(
    calls: list[Call], case: str, lever: Lever, writes_billed: frozenset[str] = frozenset()
) -> dict[str, tuple[int, int, int]]:
    """call_id -> (cache reads, 5-minute writes, 1-hour writes), replayed in time order per scope (provider,
    model, key); every use refreshes an entry's TTL.

    Automatic caches hold every prefix for the case's retention. Explicit caches (Anthropic) hold only what
    breakpoints wrote, each for its own TTL: the breakpoints each request set as logged, or with
    `lever.placement` one after the system prompt and tools and one at the end of the input. A call with no
    cache rules keeps its logged cache when unchanged; changed, it is assumed to lose it. DeepSeek V4 hits only
    whole prefix units (`DEEPSEEK_V4`); an automatic cache of a model in `writes_billed` (OpenAI models that
    bill cache writes) writes what it newly caches as 5-minute writes."""
    live: dict[tuple[str, str, str], dict[int, tuple[float, float]]] = {}
    seen: dict[tuple[str, str, str], dict[int, tuple[float, int]]] = {}  # V4: node -> (last use, requests)
    input_ends: dict[tuple[str, str, str], dict[int, tuple[float, int]]] = {}  # V4: input-end node -> (use, 1)
    out: dict[str, tuple[int, int, int]] = {}
    for c in sorted(calls, key=lambda c: c.ts):
        rule = rule_of(c.provider, c.model, c.ts)
        if c.nodes is None or rule is None or not c.nodes:
            out[c.call_id] = c.logged_cache if not c.changed else (0, 0, 0)
            continue
        scope = (c.provider, c.model, c.key)
        entries = live.get(scope)
        if entries is None:
            entries = live[scope] = {}
        minimum = min_tokens(rule, c.model)
        if rule.mode == "prefix_units":
            ttl = case_ttl(rule, case)
            common = seen.setdefault(scope, {})
            ends = input_ends.setdefault(scope, {})
            hit = -1
            for k, node in enumerate(c.nodes):
                e = entries.get(node)  # a stored unit: an earlier input end, output end or common prefix
                end = ends.get(c.nodes[k - 1]) if k > 0 else None  # node k ends that earlier call's output
                n = common.get(node)
                if (
                    (e is not None and c.ts - e[0] <= e[1])
                    or (end is not None and c.ts - end[0] <= ttl)
                    or (n is not None and n[1] >= 2 and c.ts - n[0] <= ttl)
                ):
                    hit = k
            read = c.cum[hit] if hit >= 0 and c.cum[hit] >= minimum else 0
            for node in c.nodes:
                n = common.get(node)
                common[node] = (c.ts, (n[1] if n is not None and c.ts - n[0] <= ttl else 0) + 1)
            if hit >= 0:  # the unit hit, refreshed
                entries[c.nodes[hit]] = (c.ts, ttl)
            entries[c.nodes[-1]] = (c.ts, ttl)  # the end of the user input
            ends[c.nodes[-1]] = (c.ts, 1)
            out[c.call_id] = (read, 0, 0)
            continue
        if rule.mode == "automatic":
            ttl = case_ttl(rule, case)
            if lever.retention and offers_extended_retention(c.provider, c.model):
                ttl = lever.retention
            hit = -1
            for k, node in enumerate(c.nodes):
                e = entries.get(node)
                if e is not None and c.ts - e[0] <= e[1]:
                    hit = k
            read = c.cum[hit] if hit >= 0 else 0
            # below the minimum nothing is cached; above it, hits come in the provider's steps
            read = 0 if c.cum[-1] < minimum or read < minimum else minimum + (read - minimum) // rule.step * rule.step
            for node in c.nodes:
                entries[node] = (c.ts, ttl)
            written = c.cum[-1] - read if c.model in writes_billed and c.cum[-1] >= minimum else 0
            out[c.call_id] = (read, written, 0)
            continue
        if lever.placement is not None:
            bps = tuple(sorted({(b, lever.placement) for b in (c.sys_end, len(c.nodes) - 1) if b >= 0}))
        else:
            bps = c.bps
        if not bps:
            out[c.call_id] = (0, 0, 0)
            continue
        hit = -1
        for k, node in enumerate(c.nodes):
            e = entries.get(node)
            if e is not None and c.ts - e[0] <= e[1] and any(0 <= b - k <= LOOKBACK_BLOCKS for b, _ in bps):
                hit = k
        read = c.cum[hit] if hit >= 0 else 0
        if hit >= 0:
            entries[c.nodes[hit]] = (c.ts, entries[c.nodes[hit]][1])
        w1_end = w_end = read
        for b, ttl in bps:
            if c.cum[b] < minimum:
                continue
            old = entries.get(c.nodes[b])
            entries[c.nodes[b]] = (c.ts, max(ttl, old[1]) if old and c.ts - old[0] <= old[1] else ttl)
            w_end = max(w_end, c.cum[b])
            if ttl >= 3600:
                w1_end = max(w1_end, c.cum[b])
        w1 = max(w1_end - read, 0)
        out[c.call_id] = (read, max(w_end - read, 0) - w1, w1)
    return out


# ---- replays and estimates -----------------------------------------------------------------------------------


@dataclass
class Replay:
    """One replay's priced calls: call_id, base_id, changed and the priced columns (cost included)."""

    frame: pl.DataFrame
    extra_usd: float = 0.0
    sim: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    redone: set[str] = field(default_factory=set)  # base ids whose rows this replay computed itself

    @property
    def cost(self) -> float:
        return float(self.frame["cost"].sum()) + self.extra_usd

    @property
    def cost_today(self) -> float:
        return float(self.frame["cost_today"].sum()) + self.extra_usd

    def cost_of(self, ids: set[str]) -> float:
        return float(self.frame.filter(pl.col("base_id").is_in(list(ids)))["cost"].sum())

    def by_base(self) -> dict[str, float]:
        g = self.frame.group_by("base_id").agg(pl.col("cost").sum())
        return dict(zip(g["base_id"].to_list(), g["cost"].to_list(), strict=True))


@dataclass
class Base:
    """The as-logged replay's calls, scopes and per-case results: what a lever's replay reuses for every scope it
    cannot change."""

    calls: list[Call]
    index: dict[str, Call]
    scopes: set[tuple[str, str, str]]
    replays: dict[str, Replay] = field(default_factory=dict)


def _scope(c: Call) -> tuple[str, str, str]:
    return (c.provider, c.model, c.key)


def writes_billed(calls: list[Call], cat: Catalogue) -> frozenset[str]:
    """The logged model names of OpenAI (and Azure OpenAI) calls whose catalogue entry prices cache writes: their
    automatic cache bills what it writes (gpt-5.6, gpt-6...), where older models cache for free."""
    out = set()
    for provider, model in {(c.provider, c.model) for c in calls if c.provider in ("openai", "azure")}:
        key = cat.resolve(model, provider).key
        if key is not None and (cat.entry(key).get("cache_creation_input_token_cost") or 0) > 0:
            out.add(model)
    return frozenset(out)


def replay(
    traffic: Traffic,
    lever: Lever,
    case: str,
    cat: Catalogue,
    calls: list[Call] | None = None,
    base: Base | None = None,
) -> Replay:
    """The calls under the lever, simulated and priced. With `base`, only the cache scopes the lever can change
    are simulated again (a scope with a new, moved or changed call; every explicit scope under a placement;
    every scope offering extended retention under a retention lever) and only their calls, plus newly batched
    ones, are repriced: the rest is the as-logged replay's, call for call, so both replays share it exactly."""
    calls = calls if calls is not None else build(traffic, lever, base.index if base else None)
    billed_writes = writes_billed(calls, cat)
    if base is None or case not in base.replays:
        sim = simulate(calls, case, lever, billed_writes)
        redo = calls
        kept = None
    else:
        touched: set[tuple[str, str, str]] = set()
        for c in calls:
            if c is not base.index.get(c.call_id):
                touched.add(_scope(c))
                orig = base.index.get(c.base_id)
                if orig is not None:
                    touched.add(_scope(orig))
        if lever.placement is not None:
            touched |= {sc for sc in base.scopes if sc[0] in RULES and RULES[sc[0]].mode == "explicit"}
        if lever.retention is not None:
            touched |= {sc for sc in base.scopes if offers_extended_retention(sc[0], sc[1])}
        in_scope = [c for c in calls if _scope(c) in touched]
        sim = simulate(in_scope, case, lever, billed_writes)
        batched = lever.batch
        redo = [c for c in calls if c.call_id in sim or (c.base_id in batched and not c.batch)]
        prior = base.replays[case].sim
        for c in redo:
            if c.call_id not in sim:
                sim[c.call_id] = prior[c.call_id]
        redo_ids = [c.call_id for c in redo]
        kept = base.replays[case].frame.filter(~pl.col("call_id").is_in(redo_ids))
    n = len(redo)
    cols: dict[str, list[Any]] = {k: [None] * n for k in ("call_id", "base_id", "model", "provider")}
    ints = {k: [0] * n for k in PRICE_INTS}
    batch = [False] * n
    changed = [False] * n
    for j, c in enumerate(redo):
        read, w5, w1 = sim[c.call_id]
        read = min(read, c.input_tokens)
        w5 = min(w5, c.input_tokens - read)
        w1 = min(w1, c.input_tokens - read - w5)
        cols["call_id"][j] = c.call_id
        cols["base_id"][j] = c.base_id
        cols["model"][j] = c.model
        cols["provider"][j] = c.provider or None
        values = (c.input_tokens, read, w5, w1, c.output_tokens, min(c.reasoning_tokens, c.output_tokens))
        for k, v in zip(PRICE_INTS, values, strict=True):
            ints[k][j] = v
        batch[j] = c.batch or c.base_id in lever.batch
        changed[j] = c.changed
    frame = pl.DataFrame(
        {**cols, **ints, "batch": batch, "changed": changed},
        schema={
            "call_id": pl.String,
            "base_id": pl.String,
            "model": pl.String,
            "provider": pl.String,
            **{k: pl.Int64 for k in PRICE_INTS},
            "batch": pl.Boolean,
            "changed": pl.Boolean,
        },
    )
    # service tier, status, the call's time, region and speed: each call priced with its logged request's values
    # (a summariser call at the time of the request that triggered it), exactly as the bill priced that request
    other = [c for c in (*PRICE_COLUMNS, *bill_columns(traffic.rows)) if c not in frame.columns]
    frame = frame.join(traffic.rows.select(pl.col("request_id").alias("base_id"), *other), on="base_id", how="left")
    priced = price_as_billed(frame, cat).with_columns(
        call_id=frame["call_id"], base_id=frame["base_id"], changed=frame["changed"]
    )
    if kept is not None:
        priced = pl.concat([kept, priced.select(kept.columns)], how="vertical")
    return Replay(priced, lever.extra_usd, sim, {c.base_id for c in redo})


PRICE_INTS = TOKEN_COLUMNS  # the order `replay` fills them in


@dataclass
class Outcome:
    """A lever's two-replay result in one TTL case."""

    baseline: float
    counterfactual: float
    affected: set[str]
    input_before: int = 0  # input tokens of the changed requests, as replayed and with the lever
    input_after: int = 0
    reads_before: int = 0  # cache-read tokens of the whole traffic, as replayed and with the lever
    reads_after: int = 0
    extra_calls: int = 0  # calls the lever adds (compaction summaries) and what they cost
    extra_calls_usd: float = 0.0
    by_scope: dict[str, float] = field(default_factory=dict)  # saving by provider/model of the logged requests
    # the same two replays at today's prices (the shipped snapshot): the forward-looking figure
    baseline_today: float = 0.0
    counterfactual_today: float = 0.0
    # the evidence behind the figure: cache tokens (reads and writes) the providers reported in the cache scopes
    # of the changed requests; cache tokens each replay simulated on them; in those cache scopes, the calls of
    # the lever's replay that read a cached prefix whose content the log shows (counted tokens, not the reported
    # input they were scaled to) at or above the provider's minimum cacheable length
    logged_cache_tokens: int = 0
    simulated_cache_before: int = 0
    simulated_cache_after: int = 0
    evidenced_reads: int = 0

    def __add__(self, other: Outcome) -> Outcome:
        """Two parts of the traffic replayed apart, added: every field, so that a new one cannot be left out of a
        merge (sets are united, per-scope savings added key by key)."""
        merged: dict[str, Any] = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, set):
                merged[f.name] = a | b
            elif isinstance(a, dict):
                merged[f.name] = {k: a.get(k, 0.0) + b.get(k, 0.0) for k in {**a, **b}}
            else:
                merged[f.name] = a + b
        return Outcome(**merged)

    @property
    def band_known(self) -> bool:
        """Whether the backtest has something to compare: cache activity reported in the changed requests' cache
        scopes or simulated in their as-is replay, or none in either replay (then both are exact arithmetic).
        Unknown where only the lever's replay caches: the simulator is untested there."""
        return bool(self.logged_cache_tokens or self.simulated_cache_before or not self.simulated_cache_after)

    @property
    def saving(self) -> float:
        return self.baseline - self.counterfactual

    @property
    def saving_today(self) -> float:
        return self.baseline_today - self.counterfactual_today


class Engine:
    """Replays of one period, the as-logged replay of each TTL case computed once and shared by every lever."""

    def __init__(self, traffic: Traffic, cat: Catalogue) -> None:
        self.traffic = traffic
        self.cat = cat
        calls = build(traffic, AS_LOGGED)
        self.base = Base(calls, {c.call_id: c for c in calls}, {_scope(c) for c in calls})
        self._by_base: dict[str, dict[str, float]] = {}

    def baseline(self, case: str = "central") -> Replay:
        if case not in self.base.replays:
            self.base.replays[case] = replay(self.traffic, AS_LOGGED, case, self.cat, self.base.calls)
        return self.base.replays[case]

    def build(self, lever: Lever) -> list[Call]:
        return build(self.traffic, lever, self.base.index)

    def replay(self, lever: Lever, case: str = "central", calls: list[Call] | None = None) -> Replay:
        self.baseline(case)
        return replay(self.traffic, lever, case, self.cat, calls if calls is not None else self.build(lever), self.base)

    def compare(self, lever: Lever, case: str = "central", calls: list[Call] | None = None) -> Outcome:
        """Two replays, one simulator: the traffic as logged and with the lever, in the same TTL case."""
        base = self.baseline(case)
        alt = self.replay(lever, case, calls)
        if case not in self._by_base:
            self._by_base[case] = base.by_base()
        b = self._by_base[case]
        redone = (
            alt.frame.filter(pl.col("base_id").is_in(list(alt.redone))).group_by("base_id").agg(pl.col("cost").sum())
        )
        affected = {
            k
            for k, v in zip(redone["base_id"].to_list(), redone["cost"].to_list(), strict=True)
            if abs(v - b.get(k, 0.0)) > 1e-12
        }
        ids = list(affected)
        added = alt.frame.filter(pl.col("call_id") != pl.col("base_id"))
        by_scope: dict[str, float] = {}
        if affected:
            scopes = self.traffic.rows.select(
                base_id="request_id", scope=pl.concat_str(pl.col("provider").fill_null("?"), pl.lit("/"), "model")
            )
            per = (
                pl.concat(
                    [
                        base.frame.filter(pl.col("base_id").is_in(ids)).select("base_id", "cost"),
                        alt.frame.filter(pl.col("base_id").is_in(ids)).select("base_id", cost=-pl.col("cost")),
                    ]
                )
                .join(scopes, on="base_id")
                .group_by("scope")
                .agg(pl.col("cost").sum())
            )
            by_scope = dict(zip(per["scope"].to_list(), per["cost"].to_list(), strict=True))
        return Outcome(
            base.cost,
            alt.cost,
            affected,
            int(base.frame.filter(pl.col("base_id").is_in(ids))["input_tokens"].sum()),
            int(alt.frame.filter(pl.col("base_id").is_in(ids))["input_tokens"].sum()),
            int(base.frame["cache_read_tokens"].sum()),
            int(alt.frame["cache_read_tokens"].sum()),
            added.height,
            float(added["cost"].sum()),
            by_scope,
            base.cost_today,
            alt.cost_today,
            *self._evidence(affected, base, alt),
        )

    def _evidence(self, affected: set[str], base: Replay, alt: Replay) -> tuple[int, int, int, int]:
        if not affected:
            return 0, 0, 0, 0
        ids = list(affected)
        lg = self.traffic.logged
        logged_scopes = {(lg[rid].provider, lg[rid].model, lg[rid].key) for rid in affected if rid in lg}
        logged = sum(sum(x.cache) for x in lg.values() if (x.provider, x.model, x.key) in logged_scopes)
        cache_cols = ["cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens"]
        simulated = []
        for r in (base, alt):
            f = r.frame.filter(pl.col("base_id").is_in(ids))
            simulated.append(int(sum(int(f[c].sum()) for c in cache_cols)))
        # the lever's cache scopes: every call there that reads a prefix the log shows is evidence for its figure
        key = {rid: lg[rid].key for rid in lg}
        changed = alt.frame.filter(pl.col("base_id").is_in(ids)).select("base_id", "provider", "model")
        scopes = {(p, m, key.get(rid, "")) for rid, p, m in changed.iter_rows()}
        reads = alt.frame.filter(pl.col("cache_read_tokens") > 0).select(
            "base_id", "provider", "model", "cache_read_tokens"
        )
        evidenced = 0
        for rid, provider, model, read in reads.iter_rows():
            if (provider, model, key.get(rid, "")) not in scopes:
                continue
            body, rule = self.traffic.body.get(rid), RULES.get(provider or "")
            if (
                body is not None
                and rule is not None
                and body.scale > 0
                and read / body.scale >= min_tokens(rule, model)
            ):
                evidenced += 1
        return logged, simulated[0], simulated[1], evidenced

    def outcomes(self, lever: Lever, cases: tuple[str, ...] = CASES) -> dict[str, Outcome]:
        calls = self.build(lever)
        return {case: self.compare(lever, case, calls) for case in cases}

    # What the estimators ask besides two-replay comparisons; the partitioned engine (partitioned.py) answers
    # the same questions by merging each bin's answer.

    @property
    def requests(self) -> int:
        """The priced, successful requests replayed."""
        return self.traffic.rows.height

    def backtest(self) -> dict[str, Any]:
        return backtest_summary(*self.backtest_rows())

    def backtest_rows(self) -> tuple[pl.DataFrame, set[str]]:
        return backtest_rows(self.traffic, self.baseline("central"))

    def logged_cost_of(self, ids: set[str]) -> float:
        return self.traffic.cost_logged(ids) if ids else 0.0

    def replayed_cost_of(self, ids: set[str]) -> float:
        return self.baseline("central").cost_of(ids) if ids else 0.0

    def band(self, affected: set[str]) -> float:
        """The backtest's error in dollars on the requests a lever changes: |as-is replay - as logged|. A saving
        smaller than this is inside what the simulator gets wrong about the same requests."""
        if not affected:
            return 0.0
        return abs(self.replayed_cost_of(affected) - self.logged_cost_of(affected))

    def by_base(self, lever: Lever | None = None, case: str = "central") -> dict[str, float]:
        """Each logged request's replayed cost (its added calls included), as logged or under `lever`."""
        return (self.baseline(case) if lever is None else self.replay(lever, case)).by_base()

    def each(self, fn: Any, *args: Any) -> list[Any]:
        """[fn(engine, *args)] for each bin's engine, in bin order (here: this one). `fn` must be a module-level
        function: the partitioned engine runs it where the bins are."""
        return [fn(self, *args)]

    def simulated(self) -> pl.DataFrame:
        """request_id, provider, model of the requests the cache simulator replays (a body, a provider with
        cache rules), in time order."""
        ids = [rid for rid in self.traffic.body if self.traffic.logged[rid].provider in RULES]
        lg = self.traffic.logged
        return pl.DataFrame(
            {
                "request_id": ids,
                "provider": [lg[r].provider for r in ids],
                "model": [lg[r].model for r in ids],
            },
            schema={"request_id": pl.String, "provider": pl.String, "model": pl.String},
        )

    def split_variants(self, split: Mapping[int, Any]) -> int:
        """How many simulated requests send a variant of a volatile system prompt."""
        t = self.traffic
        return sum(
            1 for rid, b in t.body.items() if t.logged[rid].provider in RULES and any(c in split for c in b.cids)
        )


def backtest(traffic: Traffic, base: Replay) -> dict[str, Any]:
    return backtest_summary(*backtest_rows(traffic, base))


def backtest_rows(traffic: Traffic, base: Replay) -> tuple[pl.DataFrame, set[str]]:
    """The requests the simulator replays (bodies on a provider with cache rules), each with its reported and
    simulated cache reads and costs, and the first request of each cache scope (the cold start)."""
    sim = base.frame.filter(pl.col("call_id") == pl.col("base_id")).select(
        "base_id", sim_read="cache_read_tokens", sim_cost="cost"
    )
    simulated_ids = {
        rid for rid in traffic.body if RULES.get(traffic.logged[rid].provider) is not None
    }  # replayed by the simulator
    rows = (
        traffic.rows.filter(pl.col("request_id").is_in(list(simulated_ids)))
        .select("request_id", "provider", "model", "input_tokens", "cache_read_tokens", "cost")
        .join(sim, left_on="request_id", right_on="base_id")
    )
    first_of_scope: dict[tuple[str, str, str], str] = {}
    for rid in traffic.order:
        if rid in simulated_ids:
            lg = traffic.logged[rid]
            first_of_scope.setdefault((lg.provider, lg.model, lg.key), rid)
    return rows, set(first_of_scope.values())


def backtest_summary(rows: pl.DataFrame, warm: set[str]) -> dict[str, Any]:
    """The as-is replay against what the providers reported, for the requests the simulator replays (bodies on a
    provider with cache rules): cache reads in total, per provider and per model, per-call error (cache reads as
    a share of the call's input: median and p95 of the absolute error), calls where the provider reported no
    cache read but the simulator predicts one (and the reverse), and the cost error. `warm`: each scope's first
    request (the comparison is also given without them)."""
    if rows.is_empty():
        return {"requests": 0, "providers": [], "by_provider": [], "by_model": []}

    def compare(frame: pl.DataFrame) -> dict[str, Any]:
        rep = int(frame["cache_read_tokens"].sum())
        simr = int(frame["sim_read"].sum())
        logged = float(frame["cost"].sum())
        replayed = float(frame["sim_cost"].sum())
        errs = [
            abs(s - r) / n * 100
            for s, r, n in zip(frame["sim_read"], frame["cache_read_tokens"], frame["input_tokens"], strict=True)
            if n
        ]
        errs.sort()
        return {
            "requests": frame.height,
            "reported_cache_read_tokens": rep,
            "simulated_cache_read_tokens": simr,
            "error_pct": round((simr - rep) / rep * 100, 2) if rep else None,
            # what the providers reported against the simulation: -100% when they reported no cache read at all
            # where the simulator predicts some (a contradiction, never "no data")
            "reported_vs_simulated_pct": round((rep - simr) / simr * 100, 2) if simr else None,
            # the simulator predicts hits where the provider reported none: a contradiction, not "no data"
            "reported_zero_simulated_hits": int(((frame["cache_read_tokens"] == 0) & (frame["sim_read"] > 0)).sum()),
            "reported_hits_simulated_zero": int(((frame["cache_read_tokens"] > 0) & (frame["sim_read"] == 0)).sum()),
            "per_call_error_points_median": round(statistics.median(errs), 2) if errs else None,
            "per_call_error_points_p95": round(errs[min(len(errs) - 1, int(0.95 * len(errs)))], 2) if errs else None,
            "cost_logged_usd": round(logged, 10),
            "cost_replayed_usd": round(replayed, 10),
            "cost_error_pct": round((replayed - logged) / logged * 100, 2) if logged else None,
        }

    whole = compare(rows)
    out: dict[str, Any] = {
        "providers": sorted(rows["provider"].unique().to_list()),
        **whole,
        "after_first_request_of_each_scope": compare(rows.filter(~pl.col("request_id").is_in(list(warm)))),
        "by_provider": [
            {
                "provider": p,
                **compare(rows.filter(pl.col("provider") == p)),
                "after_first_request_of_each_scope": compare(
                    rows.filter((pl.col("provider") == p) & ~pl.col("request_id").is_in(list(warm)))
                ),
            }
            for p in sorted(rows["provider"].unique().to_list())
        ],
        "by_model": [
            {"provider": p, "model": m, **compare(rows.filter((pl.col("provider") == p) & (pl.col("model") == m)))}
            for p, m in sorted(rows.select("provider", "model").unique().iter_rows())
        ],
        "note": "The as-is replay (each provider's real policy: automatic caching, or the breakpoints each request "
        "set, each with its own TTL) against what the providers reported. The simulator starts with an empty "
        "cache, so the comparison is also given without each scope's first request. Per-call error: simulated "
        "minus reported cache reads, as points of the call's input.",
    }
    return out


def verdict(saving: float, band: float, low: float | None = None) -> str:
    """'saves', 'nothing to gain' (inside the backtest's error band), 'costs more', or 'withheld': the central
    case clears the band but the low case (`low`: the smallest saving over the lever's cases, before the band)
    does not, so the saving is not established across the lever's own range."""
    if saving > band and saving > 0:
        return "withheld" if low is not None and not (low > band and low > 0) else "saves"
    if saving < -band and saving < 0:
        return "costs more"
    return "nothing to gain"


MIN_EVIDENCED_READS = 5  # requests that must read a cached prefix the log shows before a caching lever is ranked


def error_band(engine: Any, outcome: Outcome) -> float | None:
    """The backtest's error in dollars on the requests the lever changes, or None when the backtest has nothing
    to compare there (see `Outcome.band_known`): unknown, never $0."""
    return engine.band(outcome.affected) if outcome.band_known else None


def no_evidence_reason(outcome: Outcome) -> str | None:
    """Why a caching lever's figure rests on too little to rank, or None: fewer than MIN_EVIDENCED_READS requests
    of its cache scopes would read a cached prefix whose content the log shows at or above the provider's
    minimum cacheable length
    (a reported input far larger than the messages logged is content the log does not show: a system prompt or
    tools that may differ from request to request)."""
    if outcome.evidenced_reads >= MIN_EVIDENCED_READS:
        return None
    return (
        f"no evidence: {outcome.evidenced_reads} request(s) would read a cached prefix whose logged content reaches "
        f"the provider's minimum cacheable length (at least {MIN_EVIDENCED_READS} needed)"
    )


def low_case_reason(low: float, band: float) -> str:
    """Why a lever whose central case clears the band is withheld: its low case."""
    if low < 0:
        return f"its low case loses money ({usd_text(low)})"
    return f"its low case ({usd_text(low)}) does not clear the error band ({usd_text(band)})"


def lever_estimate(
    engine: Engine,
    lever: Lever,
    *,
    lever_kind: str,
    policy: str,
    scope: str,
    assumptions: list[str],
    evidence: list[str] | None = None,
    detail: dict[str, Any] | None = None,
    cases: dict[str, Lever] | None = None,
) -> Estimate:
    """A lever's Estimate: the central two-replay saving, its range over the TTL cases (or the `cases` given,
    each a variant of the lever, e.g. the share routed) widened by the backtest's error band, and its verdict."""
    if cases is None:
        # the retention cases (short/long TTL) only for a lever that saves beyond the band: a lever that costs
        # more or sits inside the band is not ranked, and its range is the band
        calls = engine.build(lever)
        outcomes = {"central": engine.compare(lever, "central", calls)}
        band = error_band(engine, outcomes["central"])
        if verdict(outcomes["central"].saving, band or 0.0) == "saves":
            outcomes.update({case: engine.compare(lever, case, calls) for case in CASES if case != "central"})
    else:
        outcomes = {case: engine.compare(v, "central") for case, v in cases.items()}
    central = outcomes["central"]
    band = error_band(engine, central)
    b = band or 0.0  # an unknown band widens nothing: the range is the lever's own cases, labelled so
    savings = [o.saving for o in outcomes.values()]
    base_logged = engine.logged_cost_of(central.affected)
    base_replayed = engine.replayed_cost_of(central.affected)
    v = verdict(central.saving, b, min(savings))
    withheld = low_case_reason(min(savings), b) if v == "withheld" else None
    if v in ("saves", "withheld") and lever_kind == "caching":
        withheld = withheld or no_evidence_reason(central)
        v = "withheld" if withheld else v
    levers = cases if cases is not None else {case: lever for case in CASES}
    band_text = (
        f"error band {usd_text(band)}"
        if band is not None
        else "error band unknown: no cache activity in their cache scopes as logged, nor on them in the as-is "
        "replay, to test the simulator against"
    )
    ev = [
        f"Two replays under one simulator: {usd_text(central.baseline)} as logged, {usd_text(central.counterfactual)} "
        f"with the lever ({len(central.affected):,} requests changed). Backtest on those requests: replayed "
        f"{usd_text(base_replayed)} against {usd_text(base_logged)} billed ({band_text})."
    ] + list(evidence or [])
    if v == "nothing to gain":
        ev.append("The saving is inside the simulator's error band: nothing to gain within its accuracy.")
    elif v == "costs more":
        ev.append("The lever costs more than the traffic as it was: listed, never counted as a saving.")
    if withheld:
        ev.append(f"Not ranked as a saving: {withheld}.")
    today = central.saving_today
    if abs(today - central.saving) > 1e-9:
        ev.append(
            f"At the prices billed (each call at its time's prices) the lever saves {usd_text(central.saving)}; at "
            f"today's prices the same replays give {usd_text(today)}"
            + (": the prices changed since, and the lever would now cost more." if today < 0 < central.saving else ".")
        )
    est = Estimate(
        lever=lever_kind,
        policy=policy,
        scope=scope,
        requests=len(central.affected),
        baseline_usd=central.baseline,
        counterfactual_usd=central.counterfactual,
        saving_usd=central.saving,
        saving_low_usd=min(savings) - b,
        saving_high_usd=max(savings) + b,
        assumptions=assumptions,
        evidence=ev,
        detail={
            **(detail or {}),
            "input_tokens_before": central.input_before,
            "input_tokens_after": central.input_after,
            "cache_read_tokens_before": central.reads_before,
            "cache_read_tokens_after": central.reads_after,
            "saving_by_scope_usd": {k: round(v, 10) for k, v in sorted(central.by_scope.items())},
            "saving_by_case_usd": {k: round(o.saving, 10) for k, o in outcomes.items()},
            **(
                {"added_calls": central.extra_calls, "added_calls_usd": round(central.extra_calls_usd, 10)}
                if central.extra_calls
                else {}
            ),
        },
        method="two-replay",
        policies=[lever.name],
        backtest={
            "requests": len(central.affected),
            "cost_logged_usd": round(base_logged, 10),
            "cost_replayed_usd": round(base_replayed, 10),
            "band_usd": round(band, 10) if band is not None else None,
            "band_known": band is not None,
            "error_pct": round((base_replayed - base_logged) / base_logged * 100, 2) if base_logged else None,
            "evidenced_reads": central.evidenced_reads,
        },
        verdict=v,
        withheld=withheld,
        prices=PRICES_AS_BILLED,
        saving_today_usd=central.saving_today,
        levers=levers,
    )
    return est


def compose(levers: list[Lever], name: str) -> Lever:
    """Several levers as one counterfactual (routing, trimming, caching and batching replayed together)."""
    out = Lever(name)
    route: dict[str, str] = {}
    targets: dict[str, str] = {}
    batch: set[str] = set()
    for lv in levers:
        route.update(lv.route)
        targets.update(lv.target_provider)
        batch |= lv.batch
        out.trim = out.trim or lv.trim
        out.placement = out.placement if out.placement is not None else lv.placement
        out.retention = out.retention if out.retention is not None else lv.retention
        out.extra_usd += lv.extra_usd
        out.split = {**out.split, **lv.split}
    out.route, out.target_provider, out.batch = route, targets, frozenset(batch)
    return out
