"""Where a replay worker's memory goes: one bin's engine built as a worker builds it, with tracemalloc's census of
the Python objects it keeps once its as-logged replays are made, and the size of each replay frame.

    python -m analyzer ingest LOGS --db DB.duckdb
    python bench/engine_memory.py DB.duckdb [--bin N] [--top 15]

Without --bin, the largest bin (the one a worker holding it peaks with). Nothing here asserts anything.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc

from analyzer import conversations
from analyzer.perf import return_free_heap
from analyzer.prices import load_catalogue
from analyzer.report import priced_frame
from analyzer.savings import partitioned
from analyzer.savings.engine import Engine
from analyzer.savings.traffic import prepare
from analyzer.store import Store

MIB = 1 << 20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db")
    ap.add_argument("--bin", type=int, default=None)
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()
    store = Store(args.db)
    cat = load_catalogue()
    priced = priced_frame(store, cat, None, None)
    seq = conversations.load_sequence(store.con)
    labelled = partitioned.label(priced, seq, conversations.reconstruct_threads(seq))
    store.close()
    sizes = labelled.sizes()
    which = args.bin if args.bin is not None else max(range(labelled.n), key=lambda i: sizes[i])
    print(f"bins {labelled.n}: {sizes}; bin {which}")
    b = labelled.cut([which])[0]
    del labelled, priced, seq
    gc.collect()
    return_free_heap()
    tracemalloc.start()
    t = time.perf_counter()
    traffic = prepare(b.rows, b.seq, b.threads, {})
    del b
    gc.collect()
    prepared = tracemalloc.get_traced_memory()[0]
    print(f"prepare: {time.perf_counter() - t:.1f} s, {prepared / MIB:.0f} MiB traced")
    t = time.perf_counter()
    engine = Engine(traffic, cat)
    for case in ("central", "low", "high"):
        engine.baseline(case)
    gc.collect()
    built = tracemalloc.get_traced_memory()[0]
    print(f"engine and its as-logged replays: {time.perf_counter() - t:.1f} s, {built / MIB:.0f} MiB traced")
    frames: dict[int, list[str]] = {}
    for case, r in engine.base.replays.items():  # a case replayed as another (its twin) shares that one's frame
        frames.setdefault(id(r), []).append(case)
    for cases in frames.values():
        frame = engine.base.replays[cases[0]].frame
        print(f"  replay frame of {', '.join(cases)}: {frame.shape}, {frame.estimated_size() / MIB:.0f} MiB")
    per = built / max(engine.requests, 1)
    print(f"{engine.requests} requests: {per:.0f} bytes of Python objects a request")
    for stat in tracemalloc.take_snapshot().statistics("lineno")[: args.top]:
        print(f"  {stat.size / MIB:7.1f} MiB {stat.count:>9} objects  {stat.traceback}")


if __name__ == "__main__":
    main()
