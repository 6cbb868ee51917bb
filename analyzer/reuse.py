"""Prefix reuse: what a cache keyed on prefixes could have served (the `prefix_reuse` block), with no expiry,
per TTL and under a capacity, and how long after its last use each served prefix was reused (the gap
histogram). Over the prefix chains and node rows of prefixes.py, for message logs and block-hash traces alike.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import cast

import polars as pl

from analyzer.prefixes import PrefixRequest, node_frame
from analyzer.providers import TTL_S


def replay(reqs: list[PrefixRequest], ttl: float | None = None, capacity: int | None = None) -> tuple[int, int]:
    """(hit tokens, input tokens) for a cache that serves a request's longest previously cached prefix.

    ttl: an entry expires `ttl` seconds after its last use (every use refreshes it). capacity: the cache holds
    at most this many tokens, evicting the least recently used node first; a request touches its nodes from
    the deepest to the root, so a prefix's root outlives its branches. Neither: unlimited and never expiring.
    """
    hit = total = 0
    if capacity is None:
        last: dict[int, float] = {}
        for r in reqs:
            total += sum(r.sizes)
            for node, size in zip(r.nodes, r.sizes, strict=True):
                t = last.get(node)
                if t is None or (ttl is not None and r.ts - t > ttl):
                    break
                hit += size
            for node in r.nodes:
                last[node] = r.ts
        return hit, total
    cache: OrderedDict[int, int] = OrderedDict()
    used = 0
    for r in reqs:
        total += sum(r.sizes)
        for node, size in zip(r.nodes, r.sizes, strict=True):
            if node not in cache:
                break
            hit += size
        for node, size in zip(reversed(r.nodes), reversed(r.sizes), strict=True):
            if node in cache:
                cache.move_to_end(node)
            else:
                cache[node] = size
                used += size
        while used > capacity and cache:
            _, size = cache.popitem(last=False)
            used -= size
    return hit, total


# time since a prefix was last used, in seconds: the buckets of the reuse-gap histogram
GAP_EDGES = (0, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)


def _gap_label(lo: float, hi: float | None) -> str:
    def t(s: float) -> str:
        return f"{s / 3600:g} h" if s >= 3600 else f"{s / 60:g} min" if s >= 60 else f"{s:g} s"

    return f"over {t(lo)}" if hi is None else f"{t(lo)}-{t(hi)}" if lo else f"up to {t(hi)}"


def _gap_tokens(nodes: pl.DataFrame) -> tuple[list[int], int]:
    """(tokens served per GAP_EDGES bucket, input tokens) for an unlimited, never-expiring cache, from
    `node_frame`: a node is served when it and every node before it in its request were used by an earlier
    request, and the gap is the time since the last of those uses. A deeper node is never used more recently
    than its ancestors, so the tokens in buckets up to a TTL are exactly what that TTL's replay serves: the TTL
    ratios come from here, not from replays of their own."""
    served = [0] * len(GAP_EDGES)
    if nodes.is_empty():
        return served, 0
    # Four columns, one lazy query down to a row per bucket: a copy of the whole frame with the gap beside it,
    # then of its hits, took ~0.5 GB more at a million calls (6.6M rows), where this takes ~0.16 GB, in half
    # the time.
    last = pl.col("ts").shift(1).over("node")  # the node's previous use, in request order
    # the bucket (lo, hi] holding the gap: as bisect_left, the edges below it, less one (a TTL keeps gap <= ttl)
    below = pl.sum_horizontal([(pl.col("gap") > edge).cast(pl.Int8) for edge in GAP_EDGES]).cast(pl.Int64)
    per = (
        nodes.lazy()
        .select("k", "size", gap=pl.col("ts") - last)
        .filter(pl.col("gap").is_not_null().cast(pl.Int8).cum_min().over("k") == 1)  # up to the request's first miss
        .group_by(b=(below - 1).clip(lower_bound=0))
        .agg(pl.col("size").sum())
        .collect()
    )
    for b, n in per.iter_rows():
        served[b] = n
    return served, int(cast(int, nodes["size"].sum()))


def _within(served: list[int], ttl: float) -> int:
    return sum(n for i, n in enumerate(served) if i + 1 < len(GAP_EDGES) and GAP_EDGES[i + 1] <= ttl)


def _gap_rows(served: list[int]) -> list[dict[str, object]]:
    total = sum(served)
    out = []
    for i, lo in enumerate(GAP_EDGES):
        hi = GAP_EDGES[i + 1] if i + 1 < len(GAP_EDGES) else None
        out.append(
            {
                "bucket": _gap_label(lo, hi),
                "from_s": lo,
                "to_s": hi,
                "tokens": served[i],
                "share": round(served[i] / total, 6) if total else None,
            }
        )
    return out


def reuse_summary(
    populations: dict[str, list[PrefixRequest]],
    capacity: int | None = None,
    frames: dict[str, pl.DataFrame] | None = None,
    counts: dict[str, int] | None = None,
) -> dict[str, object]:
    """The `prefix_reuse` block: ideal hit ratios with no expiry, per TTL, and under a capacity.

    Populations (message logs, block-hash traces) are replayed apart: they share no prefix and do not share a
    clock (traces count from their own start). The overall ratios add their hit and input tokens; under a
    capacity each population is given the whole capacity. `frames`: a population's `node_frame`, when the caller
    has it; `counts`: its number of requests, when the caller has its frame but not its list (`message_nodes`:
    only a replay under a capacity needs the list).
    """
    n = {pop: (counts or {}).get(pop, len(reqs)) for pop, reqs in populations.items()}
    names = ["ideal", *(f"ttl_{n}" for n in TTL_S)] + (["capacity"] if capacity is not None else [])
    by_source: dict[str, dict[str, object]] = {}
    sums = dict.fromkeys(names, 0)
    all_served = [0] * len(GAP_EDGES)
    input_tokens = 0
    for pop, reqs in populations.items():
        frame = (frames or {}).get(pop)
        served, total = _gap_tokens(frame if frame is not None else node_frame(reqs))
        all_served = [a + b for a, b in zip(all_served, served, strict=True)]
        input_tokens += total
        hits = {"ideal": sum(served), **{f"ttl_{n}": _within(served, t) for n, t in TTL_S.items()}}
        if capacity is not None:
            hits["capacity"] = replay(reqs, capacity=capacity)[0]
        entry: dict[str, object] = {"requests": n[pop], "input_tokens": total}
        for name in names:
            sums[name] += hits[name]
            entry[f"{name}_hit_ratio"] = round(hits[name] / total, 6) if total else None
        by_source[pop] = entry
    out: dict[str, object] = {
        "requests": sum(n.values()),
        "input_tokens": input_tokens,
        "ideal_hit_tokens": sums["ideal"],
    }
    for name in names:
        out[f"{name}_hit_ratio"] = round(sums[name] / input_tokens, 6) if input_tokens else None
    if capacity is not None:
        out["capacity_tokens"] = capacity
    out["by_source"] = by_source
    out["gaps"] = _gap_rows(all_served)
    return out
