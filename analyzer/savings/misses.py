"""Why each cache miss happened, and what it cost (issue 25, part 1).

The as-is replay (engine.py's simulator, central TTL case) says what each request read from cache. The ideal
replay says what it could have read: its longest prefix already sent earlier, with every obstacle a user can
remove lifted. Between the two, the obstacles are lifted one at a time, in this order, each a replay of the
same calls (`_simulate`) whose reads never fall below the previous step's:

1. `provider_rule`: the provider's own hit rule, which no setting changes (DeepSeek V4 serves whole stored
   prefix units only; Anthropic looks back at most 20 blocks): the as-is replay versus a plain longest-prefix
   replay with every other rule kept;
2. `breakpoint`: explicit caches (Anthropic) read and write only at breakpoints: missing, misplaced, or more
   than the provider's maximum of 4 (lifted: every prefix cached, as an automatic cache does);
3. `scope`: a cache is per provider, model and API key (organisation, region): a model switch or another key
   starts cold (lifted: a conversation's earlier prefixes serve it whatever model or key sent them, prefixes
   hashed without the model; across conversations the scopes stay apart, so the figures are the same whether
   the engine replays the traffic whole or in bins);
4. `expired`: the gap since the previous request of its prefix exceeded the provider's TTL (lifted: no expiry);
   each such miss names the longer-TTL option that would have kept it, and its price;
5. `prefix_changed`: against the previous request of its conversation, a message before the new turn changed:
   the system prompt (a volatile date or id), the tool definitions (changed or reordered), or an earlier
   message or tool result edited (lifted: the previous request's input counts as sent unchanged);
6. `min_length`: the prefix is below the provider's minimum cacheable length (lifted: no minimum).

Each step's reads are priced as billed (`traffic.price_as_billed`, cache writes cut where the reads grew), so a
request's causes cost the differences between consecutive steps and add up, request by request, to its as-is
cost minus its ideal cost. A request with several obstacles credits the later one in the order above.
"""

from __future__ import annotations

import heapq
import itertools
from array import array
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import Any

import polars as pl

from analyzer.prefixes import SYSTEM_ROLES
from analyzer.providers import (
    EXTENDED_RETENTION_S,
    MAX_BREAKPOINTS,
    case_ttl,
    min_tokens,
    offers_extended_retention,
    rule_of,
    rules_for,
)
from analyzer.savings.engine import Engine
from analyzer.savings.replayer import Replayer
from analyzer.savings.traffic import Call, price_as_billed, with_bill

CAUSES: dict[str, tuple[str, str]] = {
    "provider_rule": (
        "the provider's hit rule (DeepSeek V4: whole stored prefix units; Anthropic: 20-block lookback)",
        "none: no setting changes it",
    ),
    "breakpoint": (
        "explicit cache: breakpoint missing, misplaced or more than 4",
        "cache_control after the tools and system prompt and on the last message (at most 4)",
    ),
    "scope": (
        "another cache scope: model switch, other API key, organisation or region",
        "keep one model and one key per conversation",
    ),
    "expired": ("the cache expired: gap since the prefix's previous request above the TTL", "a longer TTL"),
    "prefix_changed": (
        "the prefix changed: system prompt, tool definitions or an earlier message",
        "keep the prefix byte-stable: volatile spans (dates, ids) at the end, tools in a fixed order, "
        "earlier messages never edited",
    ),
    "min_length": ("prefix below the provider's minimum cacheable length", "none below the minimum"),
}
ORDER = tuple(CAUSES)


@dataclass(slots=True)
class _Req:
    call: Call
    thread: str
    roles: Seq[str]
    nodes: list[int]  # model-free prefix hashes (the engine's include the model)
    bps: int  # breakpoints set as logged: content blocks with cache_control (Anthropic's maximum counts these)


def _prepare(engine: Engine) -> list[_Req]:
    """The simulated requests in time order, each with its as-logged call's prefix chain: hashed without the model
    (traffic._chain), a conversation's prefixes match across models, as the `scope` step needs."""
    t = engine.traffic
    out = []
    for c in sorted(engine.base.calls, key=attrgetter("ts")):
        body = t.body.get(c.call_id)
        if c.nodes is None or not c.nodes or body is None or rule_of(c.provider, c.model, c.ts) is None:
            continue
        out.append(_Req(c, t.thread.get(c.call_id, c.call_id), body.roles, c.nodes, body.marks))
    return out


def _moot(reqs: list[_Req]) -> set[str]:
    """The obstacles these requests do not have, whose lifting replays exactly as the step before: `breakpoint`
    where no request is under an explicit cache's rule, `scope` where every conversation stays in one cache
    scope (its own store then holds nothing the scope's store does not hold as recently). Two passes of six
    on an agent's log on one model and key."""
    out = set()
    rules = rules_for("central")
    if all(getattr(rules(r.call.provider, r.call.model, r.call.ts)[0], "mode", None) != "explicit" for r in reqs):
        out.add("breakpoint")
    scope_of: dict[str, tuple[str | None, str, str]] = {}
    for r in reqs:
        scope = (r.call.provider, r.call.model, r.call.key)
        if scope_of.setdefault(r.thread, scope) != scope:
            break
    else:
        out.add("scope")
    return out


def _grain(read: int, minimum: int, step: int, keep_min: bool) -> int:
    if read < minimum:
        return 0 if keep_min else read
    return minimum + (read - minimum) // step * step


def _simulate(reqs: list[_Req], lift: set[str], info: dict[str, Any] | None = None) -> dict[str, int]:
    """call_id -> cache-read tokens with the obstacles in `lift` removed (see the module docstring)."""
    live: dict[tuple[str | None, ...], dict[int, tuple[float, float]]] = {}
    last_of_thread: dict[str, _Req] = {}
    out: dict[str, int] = {}
    expiry_lifted = "expired" in lift
    rules = rules_for("central")
    for r in reqs:
        c = r.call
        rule, minimum, ttl = rules(c.provider, c.model, c.ts)
        assert rule is not None
        explicit = rule.mode == "explicit" and "breakpoint" not in lift
        entries = live.setdefault((c.provider, c.model, c.key), {})
        # scope lifted: a conversation's own earlier prefixes serve it whatever model or key sent them (within a
        # conversation only, so the figure is the same whether the traffic is replayed whole or in bins)
        stores = [entries, live.setdefault(("thread", c.provider, r.thread), {})] if "scope" in lift else [entries]
        step = rule.step
        keep_min = "min_length" not in lift
        limit = len(r.nodes) - 1
        if explicit:
            limit = max((i for i, _ in c.bps), default=-1)
        hit, gap = -1, None
        if len(stores) == 1:  # the usual case, without a list per node
            get = entries.get
            for k in range(min(limit, len(r.nodes) - 1), -1, -1):
                e = get(r.nodes[k])
                if e is not None and (expiry_lifted or c.ts - e[0] <= e[1]):
                    hit, gap = k, c.ts - e[0]
                    break
        else:  # the scope's store and the conversation's: the newest live use of the two
            get0, get1 = stores[0].get, stores[1].get
            for k in range(min(limit, len(r.nodes) - 1), -1, -1):
                e0, e1 = get0(r.nodes[k]), get1(r.nodes[k])
                t0 = e0[0] if e0 is not None and (expiry_lifted or c.ts - e0[0] <= e0[1]) else None
                t1 = e1[0] if e1 is not None and (expiry_lifted or c.ts - e1[0] <= e1[1]) else None
                if t0 is not None or t1 is not None:
                    newest = max(t for t in (t0, t1) if t is not None)
                    hit, gap = k, c.ts - newest
                    break
        read = _grain(c.cum[hit], minimum, step, keep_min) if hit >= 0 else 0
        if "prefix_changed" in lift:
            p = last_of_thread.get(r.thread)
            same = (p.call.provider, p.call.model, p.call.key) == (c.provider, c.model, c.key) if p else False
            if p is not None and (same or ("scope" in lift and p.call.provider == c.provider)):
                n = min(len(p.roles), len(r.roles))
                if p.roles[:n] == r.roles[:n]:  # the usual case, compared in one step
                    m = n
                else:
                    m = 0
                    while p.roles[m] == r.roles[m]:
                        m += 1
                cand = _grain(c.cum[m - 1], minimum, step, keep_min) if m > 0 else 0
                if cand > read:
                    read = cand
                    if info is not None:
                        i = next((i for i in range(m) if p.nodes[i] != r.nodes[i]), None)
                        info.setdefault("changed", {})[c.call_id] = r.roles[i] if i is not None else None
        read = min(read, c.input_tokens)
        out[c.call_id] = read
        if info is not None and gap is not None:
            info.setdefault("gap", {})[c.call_id] = gap
        for st in stores:
            if not explicit:  # every node refreshed with the rule's TTL (a C loop: no Python step per message)
                st.update(dict.fromkeys(r.nodes, (c.ts, ttl)))
                continue
            if hit >= 0:  # the hit prefix's stored breakpoints refreshed, each keeping its own TTL
                for k in range(hit + 1):
                    e = st.get(r.nodes[k])
                    if e is not None:
                        st[r.nodes[k]] = (c.ts, e[1])
            for i, t in c.bps:
                if i < len(r.nodes):
                    st[r.nodes[i]] = (c.ts, max(t, st.get(r.nodes[i], (0.0, 0.0))[1]))
        last_of_thread[r.thread] = r
    return out


def _price(frame: pl.DataFrame, levels: list[dict[str, int]], cat: Any) -> list[list[float]]:
    """Each level's calls priced as billed with its reads: what a call reads more than as-is, it no longer writes
    (its 5-minute writes first, then its 1-hour ones); the rest of its input stays as it was. The levels are
    priced in one pricing of their frames stacked: pricing goes row by row, so the costs are those of one pricing
    per level, without its fixed cost each time (~50 polars queries: a third of the time on a 32,762-request bin)."""
    ids = frame["call_id"].to_list()
    more = pl.col("_read") - pl.col("cache_read_tokens")
    w5 = pl.max_horizontal(pl.col("cache_write_5m_tokens") - more, pl.lit(0))
    w1 = pl.max_horizontal(
        pl.col("cache_write_1h_tokens") - pl.max_horizontal(more - pl.col("cache_write_5m_tokens"), 0), 0
    )
    n = max(frame.height, 1)
    per = max(1, STACK_ROWS // n)  # levels a pricing takes: a large bin's levels are not all copied at once
    out: list[list[float]] = []
    for lo in range(0, len(levels), per):
        part = levels[lo : lo + per]
        stacked = pl.concat(
            [frame.with_columns(_read=pl.Series([reads[c] for c in ids], dtype=pl.Int64)) for reads in part]
        )
        f = stacked.with_columns(cache_write_5m_tokens=w5, cache_write_1h_tokens=w1)
        f = f.with_columns(cache_read_tokens=pl.col("_read")).drop("_read")
        cost = price_as_billed(f, cat)["cost"].to_list()
        out.extend(cost[k * n : (k + 1) * n] for k in range(len(part)))
    return out


STACK_ROWS = 200_000  # rows of stacked levels priced at once (~7 ms of fixed cost a pricing, ~0.6 us a row)


def _option(provider: str | None, model: str, gap: float | None, cat: Any) -> tuple[str, str]:
    """The longer-TTL option that would have kept a prefix idle for `gap` seconds, and its price."""
    if provider == "anthropic":
        if gap is not None and gap <= 3600:
            price = ""
            try:
                key = cat.resolve(model, provider).key
                e = cat.entry(key) if key else {}
                w1, w5 = e.get("cache_creation_input_token_cost_above_1hr"), e.get("cache_creation_input_token_cost")
                if w1 and w5:
                    price = f"writes ${w1 * 1e6:.2f}/MTok instead of ${w5 * 1e6:.2f}/MTok"
            except Exception:  # noqa: BLE001 - a model the catalogue lacks: the option without its price
                price = ""
            return "1-hour cache TTL (cache_control ttl 1h)", price or "1-hour writes at 2x the input price"
        return "none: Anthropic's longest TTL is 1 hour", ""
    if offers_extended_retention(provider, model):
        if gap is not None and gap <= EXTENDED_RETENTION_S:
            return "prompt_cache_retention 24h", "no extra price"
        return "none: the longest retention is 24 hours", ""
    if provider == "google":
        return "an explicit context cache with a longer TTL", "storage billed per token-hour"
    return "none offered by the provider", ""


# The steps after `breakpoint` lift it and `scope` (the lifts accumulate): no request is under an explicit cache's
# rule then, every node a request sends is stored (or refreshed) whatever it read, in the same stores. Their stores
# therefore evolve the same way, and the steps differ only in what each request reads: one pass computes them all.
SHARED = ORDER[ORDER.index("scope") :]


def _simulate_shared(reqs: list[_Req], lifts: list[set[str]], info: dict[str, Any]) -> list[dict[str, int]]:
    """[`_simulate(reqs, lift)` for each lift], in one pass: each lift holds `breakpoint` and `scope` and any of
    `expired`, `prefix_changed` and `min_length`. `info` gets what `_simulate` records with expiry lifted: each
    request's gap since its prefix's newest use, and (when a lift also has `prefix_changed`) the role that changed."""
    assert all({"breakpoint", "scope"} <= lift <= {"breakpoint", "scope", *SHARED} for lift in lifts)
    live: dict[tuple[str | None, ...], dict[int, tuple[float, float]]] = {}
    last_of_thread: dict[str, _Req] = {}
    outs: list[dict[str, int]] = [{} for _ in lifts]
    views = [
        ("expired" in lift, "prefix_changed" in lift, "min_length" not in lift, out)
        for lift, out in zip(lifts, outs, strict=True)
    ]
    gaps: dict[str, float] | None = info.setdefault("gap", {}) if any(v[0] for v in views) else None
    rules = rules_for("central")
    for r in reqs:
        c = r.call
        rule, minimum, ttl = rules(c.provider, c.model, c.ts)
        assert rule is not None
        scope_store = live.setdefault((c.provider, c.model, c.key), {})
        thread_store = live.setdefault(("thread", c.provider, r.thread), {})
        get0, get1 = scope_store.get, thread_store.get
        # the deepest node either store holds (`any_hit`, with the gap since its newest use there) and the deepest
        # one it holds alive (`hit`): `_simulate`'s two-store search with and without expiry
        hit = any_hit = -1
        any_gap = None
        for k in range(len(r.nodes) - 1, -1, -1):
            e0, e1 = get0(r.nodes[k]), get1(r.nodes[k])
            if e0 is None and e1 is None:
                continue
            if any_hit < 0:
                any_hit, any_gap = k, c.ts - max(e[0] for e in (e0, e1) if e is not None)
            t0 = e0[0] if e0 is not None and c.ts - e0[0] <= e0[1] else None
            t1 = e1[0] if e1 is not None and c.ts - e1[0] <= e1[1] else None
            if t0 is not None or t1 is not None:
                hit = k
                break
        m = -1  # the prefix-changed match: the messages this request shares, in order, with its thread's previous
        p = last_of_thread.get(r.thread)
        if p is not None and p.call.provider == c.provider:  # scope lifted: any model or key of the same provider
            n = min(len(p.roles), len(r.roles))
            if p.roles[:n] == r.roles[:n]:
                m = n
            else:
                m = 0
                while p.roles[m] == r.roles[m]:
                    m += 1
        step = rule.step
        for expiry_lifted, prefix_changed, keep_min, out in views:
            h = any_hit if expiry_lifted else hit
            read = _grain(c.cum[h], minimum, step, keep_min) if h >= 0 else 0
            if prefix_changed and m >= 0:
                cand = _grain(c.cum[m - 1], minimum, step, keep_min) if m > 0 else 0
                if cand > read:
                    read = cand
                    if keep_min:  # the `prefix_changed` step's own (`min_length` still kept): `_simulate`'s record
                        i = next((i for i in range(m) if p.nodes[i] != r.nodes[i]), None)  # type: ignore[union-attr]
                        info.setdefault("changed", {})[c.call_id] = r.roles[i] if i is not None else None
            out[c.call_id] = min(read, c.input_tokens)
        if gaps is not None and any_gap is not None:
            gaps[c.call_id] = any_gap
        every = (c.ts, ttl)
        scope_store.update(dict.fromkeys(r.nodes, every))  # every node refreshed with the rule's TTL
        thread_store.update(dict.fromkeys(r.nodes, every))
        last_of_thread[r.thread] = r
    return outs


def bin_misses(engine: Engine, top: int = 0) -> dict[str, Any]:
    """One engine's (one bin's) misses, summed where the bin is: the as-is and ideal costs of its simulated
    requests, each cause's summary (`_Cause`), how many misses, and its `top` costliest as rows. Module level: the
    partitioned engine runs it where the bins are. Every miss used to come back as a row (61,101 dicts at 100k
    calls), to be counted, grouped and sorted in the parent."""
    reqs = _prepare(engine)
    base = engine.baseline("central")
    if not reqs:
        return {"causes": {}, "misses": 0, "top": [], "as_is": 0.0, "ideal": 0.0}
    ids = [r.call.call_id for r in reqs]
    frame = with_bill(base.frame.filter(pl.col("call_id").is_in(ids)), engine.traffic.rows)  # priced again below
    as_is_reads = dict(zip(frame["call_id"].to_list(), frame["cache_read_tokens"].to_list(), strict=True))
    levels = [as_is_reads]
    info: dict[str, Any] = {}
    lifted: set[str] = set()
    moot = _moot(reqs)
    steps: list[tuple[str, set[str]]] = []
    for cause in ORDER:
        if cause != "provider_rule":
            lifted.add(cause)
        steps.append((cause, set(lifted)))
    shared = [lift for cause, lift in steps if cause in SHARED and cause not in moot]
    sims = iter(_simulate_shared(reqs, shared, info) if shared else [])
    for cause, lift in steps:
        if cause in moot:  # the same replay as the step before, so the same reads
            levels.append(levels[-1])
            continue
        sim = next(sims) if cause in SHARED else _simulate(reqs, lift)
        below = levels[-1]
        levels.append({k: max(below[k], sim.get(k, 0)) for k in below})
    same = [k > 0 and lv is levels[k - 1] for k, lv in enumerate(levels)]
    priced = iter(_price(frame, [lv for lv, s in zip(levels, same, strict=True) if not s], engine.cat))
    costs: list[list[float]] = []
    for s in same:
        costs.append(costs[-1] if s else next(priced))
    by_req = {r.call.call_id: r for r in reqs}
    prev: dict[str, _Req] = {}
    last: dict[str, _Req] = {}
    for r in reqs:
        if r.thread in last:
            prev[r.call.call_id] = last[r.thread]
        last[r.thread] = r
    causes: dict[str, _Cause] = {}
    found: list[tuple[Any, ...]] = []  # each miss: its sort key, then what its row shows
    options: dict[tuple[Any, ...], tuple[str, str]] = {}
    call_ids = frame["call_id"].to_list()
    reads = [pl.Series([lv[c] for c in call_ids], dtype=pl.Int64) for lv in levels]
    usds = [pl.Series(cs, dtype=pl.Float64) for cs in costs]
    for k, cause in enumerate(ORDER):
        if levels[k + 1] is levels[k]:  # a moot step: the same reads and costs, no miss
            continue
        # the calls this step moved, found by column (a Python step per call and cause was a quarter of bin_misses):
        # read more, or cost other than within rounding
        moved = ((reads[k + 1] - reads[k]) > 0) | ~((usds[k] - usds[k + 1]).abs() < 1e-15)
        for j in moved.arg_true().to_list():
            cid = call_ids[j]
            r = by_req[cid]
            c = r.call
            toks = levels[k + 1][cid] - levels[k][cid]
            usd = costs[k][j] - costs[k + 1][j]
            detail = _detail(cause, r, info, prev.get(cid))
            extra: tuple[Any, ...] = ()
            if cause == "expired":
                gap = info.get("gap", {}).get(cid)
                rule = rule_of(c.provider, c.model, c.ts)
                at = (c.provider, c.model, _option_bracket(gap))
                option = options.get(at)
                if option is None:
                    option = options[at] = _option(c.provider, c.model, gap, engine.cat)
                extra = (gap, case_ttl(rule, "central") if rule else None, *option)
                group = f"option: {option[0]}"
            else:
                group = detail
            part = causes.get(cause)
            if part is None:
                part = causes[cause] = _Cause()
            part.add(group, toks, usd)
            found.append((_costliest_first(usd, c.ts, cid, cause), r.thread, c.provider, c.model, detail, toks, extra))
    return {
        "causes": causes,
        "misses": len(found),
        "top": [_row(m) for m in heapq.nsmallest(top, found, key=itemgetter(0))],
        "as_is": float(sum(costs[0])),
        "ideal": float(sum(costs[-1])),
    }


@dataclass(slots=True)
class _Cause:
    """One bin's misses of one cause: their count (a request has at most one miss of a cause), tokens, and
    costs in row order, all of them and by group (its detail, or for `expired` the option that would have kept
    it): the parent adds the bins' costs one after another in bin order, exactly the sums of every row."""

    requests: int = 0
    tokens: int = 0
    costs: array[float] = field(default_factory=lambda: array("d"))
    groups: dict[str, array[float]] = field(default_factory=dict)

    def add(self, group: str, tokens: int, usd: float) -> None:
        self.requests += 1
        self.tokens += tokens
        self.costs.append(usd)
        kept = self.groups.get(group)
        if kept is None:
            kept = self.groups[group] = array("d")
        kept.append(usd)


def _costliest_first(usd: float, ts: float, request_id: str, cause: str) -> tuple[float, float, str, str]:
    """The order the block lists misses in, in the bins and in the parent alike: costliest first, then by time,
    request and cause (a request has one miss of a cause, so no two misses tie)."""
    return (-usd, ts, request_id, cause)


def _row(m: tuple[Any, ...]) -> dict[str, Any]:
    """A miss as the block lists it (`bin_misses`'s tuple)."""
    (minus_usd, ts, cid, cause), thread, provider, model, detail, toks, extra = m
    usd = -minus_usd
    row: dict[str, Any] = {
        "request_id": cid,
        "conversation": thread,
        "ts": ts,
        "provider": provider,
        "model": model,
        "cause": cause,
        "detail": detail,
        "tokens": toks,
        "cost_usd": usd,
    }
    if extra:
        row["gap_s"], row["ttl_s"], row["option"], row["option_price"] = extra
    return row


def _option_bracket(gap: float | None) -> tuple[bool, ...] | None:
    """What of a gap `_option` reads: none, or which of its thresholds it is within."""
    return None if gap is None else (gap <= 3600, gap <= EXTENDED_RETENTION_S)


def _detail(cause: str, r: _Req, info: dict[str, Any], p: _Req | None) -> str:
    if cause == "breakpoint":
        if r.bps == 0:
            return "no breakpoint"
        if r.bps > MAX_BREAKPOINTS:
            return f"{r.bps} breakpoints (more than {MAX_BREAKPOINTS})"
        return "breakpoint misplaced"
    if cause == "prefix_changed":
        role = info.get("changed", {}).get(r.call.call_id)
        if role == "tools":
            return "tool definitions changed or reordered"
        if role in SYSTEM_ROLES:
            return "system prompt changed (a volatile span: date, id)"
        return "an earlier message or tool result edited"
    if cause == "scope":
        if p is not None and p.call.model != r.call.model:
            return f"model switch ({p.call.model} -> {r.call.model})"
        if p is not None and p.call.key != r.call.key:
            return "another API key, organisation or region"
        return "model switch or another API key, organisation or region"
    if cause == "min_length":
        rule = rule_of(r.call.provider, r.call.model, r.call.ts)
        return f"below {min_tokens(rule, r.call.model)} tokens" if rule else ""
    if cause == "expired":
        gap = info.get("gap", {}).get(r.call.call_id)
        return f"idle {gap:.0f} s" if gap is not None else "expired"
    if cause == "provider_rule":
        return "not a whole stored prefix unit" if r.call.provider == "deepseek" else "beyond the lookback"
    return ""


TOP = 50  # misses listed in the block, costliest first


def cache_misses(engine: Replayer, top: int = TOP) -> dict[str, Any]:
    """The `cache_misses` block: as-is and ideal replay costs of the simulated requests, each cause's requests,
    tokens and cost (they add up to as-is minus ideal), and the costliest misses. Each bin sends its causes'
    summaries and its own `top` costliest; the costliest overall are among those."""
    parts = engine.each(bin_misses, top)
    as_is = sum(p["as_is"] for p in parts)
    ideal = sum(p["ideal"] for p in parts)
    causes: list[dict[str, Any]] = []
    for cause, (label, fix) in CAUSES.items():
        mine: list[_Cause] = [p["causes"][cause] for p in parts if cause in p["causes"]]
        if not mine:
            continue
        details: dict[str, float] = {}
        for part in mine:  # each group's costs added in row order, bin after bin, as the rows came
            for g, usd in part.groups.items():
                total = details.get(g, 0.0)
                for v in usd:
                    total += v
                details[g] = total
        causes.append(
            {
                "cause": cause,
                "label": label,
                "fix": fix,
                "requests": sum(part.requests for part in mine),
                "tokens": sum(part.tokens for part in mine),
                "cost_usd": sum(itertools.chain.from_iterable(part.costs for part in mine)),
                "details": [
                    {"detail": k, "cost_usd": v} for k, v in sorted(details.items(), key=lambda kv: (-kv[1], kv[0]))
                ],
            }
        )
    causes.sort(key=lambda x: -x["cost_usd"])
    rows = [row for p in parts for row in p["top"]]
    rows.sort(key=lambda x: _costliest_first(x["cost_usd"], x["ts"], x["request_id"], x["cause"]))
    return {
        "method": "the as-is replay (central TTL case) against an ideal replay with each obstacle lifted in turn, "
        "each step priced as billed: " + ", ".join(ORDER),
        "as_is_usd": as_is,
        "ideal_usd": ideal,
        "missed_usd": as_is - ideal,
        "causes": causes,
        "misses": sum(p["misses"] for p in parts),
        "top": rows[:top],
    }


def render_why_missed(block: dict[str, Any] | None, top: int = 20) -> str:
    """`llmcost why-missed`: the causes with their cost and fix, then the costliest misses."""
    from analyzer.formatting import table as _table
    from analyzer.formatting import terminal as _terminal
    from analyzer.formatting import usd_fine as usd  # a miss often costs a fraction of a cent

    if not block or not block.get("causes"):
        return _terminal(["No cache miss the ideal replay could have served (or no request the simulator replays)."])
    lines = [
        f"Cache misses cost {usd(block['missed_usd'])}: as-is replay {usd(block['as_is_usd'], block['missed_usd'])}, "
        f"ideal {usd(block['ideal_usd'], block['missed_usd'])}.",
        "",
    ]
    rows: list[tuple[str, ...]] = [("Cause", "Requests", "Tokens", "Cost", "Fix")]
    for c in block["causes"]:
        rows.append((c["cause"], f"{c['requests']:,}", f"{c['tokens']:,}", usd(c["cost_usd"]), c["fix"]))
    lines += _table(rows, left=(0, 4), cap=90)
    lines += ["", f"Costliest misses (of {block['misses']:,}):"]
    rows = [("Cost", "Request", "Conversation", "Model", "Cause", "Detail")]
    for x in block["top"][:top]:
        detail = x["detail"]
        if x["cause"] == "expired":
            detail += f" (TTL {x['ttl_s']:.0f} s); option: {x['option']}" + (
                f", {x['option_price']}" if x.get("option_price") else ""
            )
        rows.append((usd(x["cost_usd"]), x["request_id"], x["conversation"], x["model"], x["cause"], detail))
    lines += _table(rows, left=(1, 2, 3, 4, 5), cap=100)
    return _terminal(lines)
