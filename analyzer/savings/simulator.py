"""The cache simulator: which prefix of each call a provider's cache would have served, replayed in time order
per cache scope under each provider's rules (analyzer/providers.py). The engine (engine.py) runs it on the
traffic as logged and under each lever, and prices what it finds."""

from __future__ import annotations

from operator import attrgetter

from analyzer.perf import gc_paused
from analyzer.providers import LOOKBACK_BLOCKS, offers_extended_retention, rules_for
from analyzer.savings.levers import Lever
from analyzer.savings.traffic import Call

Scope = tuple[str | None, str, str]  # a cache's scope: provider, model, API key


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
    live: dict[Scope, dict[int, tuple[float, float]]] = {}
    seen: dict[Scope, dict[int, tuple[float, int]]] = {}  # V4: node -> (last use, requests)
    input_ends: dict[Scope, dict[int, tuple[float, int]]] = {}  # V4: input-end node -> (use, 1)
    out: dict[str, tuple[int, int, int]] = {}
    rules = rules_for(case)
    for c in sorted(calls, key=attrgetter("ts")):
        rule, minimum, ttl = rules(c.provider, c.model, c.ts)
        if c.nodes is None or rule is None or not c.nodes:
            out[c.call_id] = c.logged_cache if not c.changed else (0, 0, 0)
            continue
        scope = (c.provider, c.model, c.key)
        entries = live.get(scope)
        if entries is None:
            entries = live[scope] = {}
        if rule.mode == "prefix_units":
            common = seen.setdefault(scope, {})
            ends = input_ends.setdefault(scope, {})
            hit = -1
            for k in range(len(c.nodes) - 1, -1, -1):  # the deepest unit that hits
                node = c.nodes[k]
                e = entries.get(node)  # a stored unit: an earlier input end, output end or common prefix
                end = ends.get(c.nodes[k - 1]) if k > 0 else None  # node k ends that earlier call's output
                n = common.get(node)
                if (
                    (e is not None and c.ts - e[0] <= e[1])
                    or (end is not None and c.ts - end[0] <= ttl)
                    or (n is not None and n[1] >= 2 and c.ts - n[0] <= ttl)
                ):
                    hit = k
                    break
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
            if lever.retention and offers_extended_retention(c.provider, c.model):
                ttl = lever.retention
            hit = -1
            for k in range(len(c.nodes) - 1, -1, -1):  # the deepest cached prefix still alive
                e = entries.get(c.nodes[k])
                if e is not None and c.ts - e[0] <= e[1]:
                    hit = k
                    break
            read = c.cum[hit] if hit >= 0 else 0
            # below the minimum nothing is cached; above it, hits come in the provider's steps
            read = 0 if c.cum[-1] < minimum or read < minimum else minimum + (read - minimum) // rule.step * rule.step
            entries.update(dict.fromkeys(c.nodes, (c.ts, ttl)))  # every prefix cached (or refreshed) from now
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
        for k in range(len(c.nodes) - 1, -1, -1):  # the deepest cached prefix a breakpoint looks back to
            e = entries.get(c.nodes[k])
            if e is not None and c.ts - e[0] <= e[1] and any(0 <= b - k <= LOOKBACK_BLOCKS for b, _ in bps):
                hit = k
                break
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
