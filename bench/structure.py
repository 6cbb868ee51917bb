"""Time thread reconstruction and prefix analysis on an ingested database (the report's structure pass).

    python bench/structure.py DB [DB ...]       # e.g. databases of 100k, 200k and 400k calls
    python bench/structure.py --runs 1 DB       # one run each (the figures of a cold report)

Prints, per database, requests, messages and the seconds for each step (median of --runs runs, 3 by default).

A `Sequence` memoises its parsed requests and its prefix chains (threads, prefixes and the savings replays share
them), so every run here starts from a fresh copy of the loaded frames: timing the same object again would time
a cache lookup (the 0 s this script used to report after its first run). Each step's inputs are built outside
its timer, so each figure is that step alone.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from analyzer import conversations, prefixes
from analyzer.conversations import Sequence
from analyzer.store import Store


def fresh(seq: Sequence) -> Sequence:
    """The same frames with empty memo slots: nothing computed by an earlier run is reused."""
    return Sequence(seq.requests, seq.messages)


def timed(step: Callable[[Any], Any], setup: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """Median seconds of `step(setup())` over `runs` runs, setup untimed; and the last result."""
    times, out = [], None
    for _ in range(runs):
        arg = setup()
        t0 = time.perf_counter()
        out = step(arg)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def parsed(seq: Sequence) -> Sequence:
    s = fresh(seq)
    conversations.requests_of(s)
    return s


def measure(db: str, runs: int) -> None:
    store = Store(db, read_only=True)
    con = store.con
    t_seq, seq = timed(lambda _: conversations.load_sequence(con), lambda: None, runs)
    t_parse, _ = timed(conversations.requests_of, lambda: fresh(seq), runs)
    t_thr, threads = timed(conversations.reconstruct_threads, lambda: parsed(seq), runs)
    t_rag, retrieved = timed(lambda s: conversations.retrieved_blocks(con, s, threads), lambda: fresh(seq), runs)
    t_seg, _ = timed(lambda s: conversations.segment_tokens(s, threads, retrieved), lambda: parsed(seq), runs)
    t_nodes, reqs = timed(prefixes.message_prefix_requests, lambda: fresh(seq), runs)
    t_reuse, _ = timed(lambda r: prefixes.reuse_summary({"messages": r}), lambda: reqs, runs)
    print(
        f"{db}: {seq.requests.height} requests, {seq.messages.height} messages (median of {runs}) | "
        f"load {t_seq:.2f}s, parse {t_parse:.2f}s, threads {t_thr:.2f}s, retrieved blocks {t_rag:.2f}s, "
        f"segments {t_seg:.2f}s, prefix nodes {t_nodes:.2f}s, reuse replays {t_reuse:.2f}s, "
        f"threads+prefixes {t_parse + t_thr + t_rag + t_seg + t_nodes + t_reuse:.2f}s"
    )
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dbs", nargs="+", metavar="DB")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    for db in args.dbs:
        measure(db, max(1, args.runs))


if __name__ == "__main__":
    main()
