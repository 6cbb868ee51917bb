"""Time thread reconstruction and prefix analysis on an ingested database (the report's structure pass).

    python bench/structure.py DB [DB ...]       # e.g. databases of 100k, 200k and 400k calls

Prints, per database, requests, messages and the seconds for each step (median of 3 runs in this process).
"""

from __future__ import annotations

import statistics
import sys
import time

from analyzer import conversations, prefixes
from analyzer.store import Store


def timed(fn, runs=3):
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def measure(db: str) -> None:
    store = Store(db)
    con = store.con
    t_seq, seq = timed(lambda: conversations.load_sequence(con))
    t_thr, threads = timed(lambda: conversations.reconstruct_threads(seq))
    t_rag, retrieved = timed(lambda: conversations.retrieved_blocks(con, seq, threads))
    t_seg, _ = timed(lambda: conversations.segment_tokens(seq, threads, retrieved))
    t_nodes, reqs = timed(lambda: prefixes.message_prefix_requests(seq))
    t_reuse, _ = timed(lambda: prefixes.reuse_summary({"messages": reqs}))
    print(
        f"{db}: {threads.height} requests, {seq.messages.height} messages | load {t_seq:.2f}s, threads {t_thr:.2f}s, "
        f"retrieved blocks {t_rag:.2f}s, segments {t_seg:.2f}s, prefix nodes {t_nodes:.2f}s, "
        f"reuse replays {t_reuse:.2f}s, "
        f"threads+prefixes {t_thr + t_rag + t_seg + t_nodes + t_reuse:.2f}s"
    )
    store.close()


def main() -> None:
    for db in sys.argv[1:]:
        measure(db)


if __name__ == "__main__":
    main()
