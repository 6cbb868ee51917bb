"""The traffic cut into parts that never interact, so each part can be replayed on its own, anywhere.

Two requests interact in a replay when they share a cache scope (provider, model, API key: the engine's
`_scope`, and routing only moves a request to another model under the same key), a thread scope (user, else API
key: threads are rebuilt within it, and trimming keeps per-thread state) or a conversation id (a logged
conversation is one thread). A **component** is a connected set of requests under those three relations: the
union of the requests linked through a shared key, thread scope or conversation id. Replaying each component on
its own and adding the results gives what one replay of everything gives, request for request.

Components are packed into at most `MAX_BINS` **bins** (largest first, each into the lightest bin), the unit a
worker holds. The packing depends only on the data, never on how many workers there are, and results are
merged in bin order: the report is the same, float for float, with 1 worker, 2 or a Ray cluster.

Limits: a product that sends everything through one API key (and logs no user) is one component, so one bin:
its replays run on one core and its memory is one process's. The engine cannot split it without changing the
answer: every request on that key can read any other's cached prefix.
"""

from __future__ import annotations

import polars as pl

MAX_BINS = 8
MIN_BIN_REQUESTS = 20_000  # below this a bin is not worth a process's start-up and per-replay overhead


def components(rows: pl.DataFrame) -> pl.Series:
    """For each row (api_key, user, conversation_id), the component it belongs to: the smallest row index of
    its component (a stable label)."""
    n = rows.height
    none = pl.Series([None] * n, dtype=pl.String)
    key = rows["api_key"].fill_null("") if "api_key" in rows.columns else none.fill_null("")
    user = rows["user"] if "user" in rows.columns else none
    scope = user.fill_null(key)  # the thread scope: user, else API key, else ''
    conv = rows["conversation_id"] if "conversation_id" in rows.columns else none
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    triples = pl.DataFrame({"k": key, "s": scope, "c": conv}).unique(maintain_order=True)
    for k, s, c in triples.iter_rows():
        union("k\0" + k, "s\0" + s)
        if c is not None:
            union("k\0" + k, "c\0" + c)
    roots = [find("k\0" + k) for k in key.to_list()]
    first: dict[str, int] = {}
    for i, r in enumerate(roots):
        first.setdefault(r, i)
    return pl.Series("component", [first[r] for r in roots], dtype=pl.Int64)


def bins(rows: pl.DataFrame, max_bins: int | None = None, min_requests: int | None = None) -> pl.Series:
    """For each row, its bin (0..B-1): components packed largest first into the lightest bin, B =
    min(max_bins, rows // min_requests) (at least 1). Bins are numbered by their first row."""
    if rows.is_empty():
        return pl.Series("bin", [], dtype=pl.Int64)
    max_bins = MAX_BINS if max_bins is None else max_bins
    min_requests = MIN_BIN_REQUESTS if min_requests is None else min_requests
    n_bins = max(1, min(max_bins, rows.height // min_requests))
    if n_bins == 1:
        return pl.Series("bin", [0] * rows.height, dtype=pl.Int64)
    comp = components(rows)
    sizes = (
        pl.DataFrame({"component": comp})
        .group_by("component")
        .len()
        .sort(["len", "component"], descending=[True, False])
    )
    load = [0] * n_bins
    where: dict[int, int] = {}
    for c, size in sizes.iter_rows():
        b = min(range(n_bins), key=lambda j: (load[j], j))
        where[c] = b
        load[b] += size
    raw = [where[c] for c in comp.to_list()]
    # number the bins by their first row, so the merge order follows the data
    order: dict[int, int] = {}
    for b in raw:
        order.setdefault(b, len(order))
    return pl.Series("bin", [order[b] for b in raw], dtype=pl.Int64)
