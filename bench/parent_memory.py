"""Where the report parent's memory is, at the start of chosen stages: a census printed to stderr, then the run goes
on. Linux with glibc only (it reads /proc and calls `mallinfo2`).

    python bench/parent_memory.py --at "prefix reuse" --at "savings replays" -- \
        report /tmp/bench/1M -o r.html --json r.json

At each stage named (the names `LLMCOST_TIMINGS=1` prints), after the heap the last stage freed is given back:
- the resident set, and its largest parts by mapping (`[anon]` holds polars', Arrow's and DuckDB's buffers and
  the interpreter's arenas; `[heap]` is glibc's main arena);
- the interpreter's arenas (`sys._debugmallocstats`): how much they hold and how much of it is objects in use (the
  rest is fragmentation that a pass of many small objects leaves behind);
- glibc's heap (`mallinfo2`): in use, and free but kept;
- DuckDB's buffer-managed memory (`duckdb_memory()`), of the connection found on a thread's stack;
- the polars frames reachable from any thread's stack (the estimates' thread too), largest first, with where
  each was found. `estimated_size()` counts a string column at about half its bytes (1M requests' 31 columns: 197
  MiB estimated, 406 MiB as an Arrow file).
Stop 46 found the registered copy of the priced requests and DuckDB's kept allocations with it (bench/RESULTS.md).
Nothing here asserts anything.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import gc
import importlib
import os
import sys
import threading
from typing import Any

import polars as pl

structure = importlib.import_module("analyzer.report.structure")  # the module, not the function of that name
MIB = 1 << 20


def _rss_by_mapping() -> tuple[int, list[tuple[str, int]]]:
    parts: collections.Counter[str] = collections.Counter()
    name = "[anon]"
    with open("/proc/self/smaps") as f:
        for line in f:
            fields = line.split()
            if fields and not fields[0].endswith(":") and "-" in fields[0]:
                name = os.path.basename(fields[5]) if len(fields) > 5 else "[anon]"
            elif fields and fields[0] == "Rss:":
                parts[name] += int(fields[1])
    return sum(parts.values()) >> 10, [(k, v >> 10) for k, v in parts.most_common(6)]


def _arenas() -> dict[str, int]:
    read, write = os.pipe()
    saved = os.dup(2)
    os.dup2(write, 2)
    try:
        sys._debugmallocstats()
    finally:
        os.dup2(saved, 2)
        os.close(write)
        os.close(saved)
    chunks = []
    while chunk := os.read(read, 1 << 16):
        chunks.append(chunk)
    os.close(read)
    out = {}
    for line in b"".join(chunks).decode(errors="replace").splitlines():
        for key in ("# arenas allocated current", "# bytes in allocated blocks"):
            if line.startswith(key):
                out[key[2:]] = int(line.split("=")[1].replace(",", ""))
    return out


_MALLINFO2 = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in _MALLINFO2]


def _frames() -> list[tuple[float, str, str]]:
    found: dict[int, tuple[Any, str]] = {}

    def visit(v: Any, where: str, depth: int = 0) -> None:
        if isinstance(v, pl.DataFrame | pl.Series):
            found.setdefault(id(v), (v, where))
        elif depth < 2 and isinstance(v, list | tuple) and len(v) < 50:
            for i, x in enumerate(v):
                visit(x, f"{where}[{i}]", depth + 1)
        elif depth < 2 and str(type(v).__module__).startswith("analyzer") and hasattr(v, "__dict__"):
            for k, x in vars(v).items():
                visit(x, f"{where}.{k}", depth + 1)

    for frame in sys._current_frames().values():
        f: Any = frame
        while f is not None:
            for k, v in f.f_locals.items():
                visit(v, f"{f.f_code.co_name}:{k}")
            f = f.f_back
    rows = []
    for v, where in found.values():
        shape = f"{v.height} x {v.width} {v.columns[:4]}" if isinstance(v, pl.DataFrame) else f"{v.len()} {v.name}"
        rows.append((v.estimated_size() / MIB, shape, where))
    return sorted(rows, reverse=True)


def _duckdb() -> list[tuple[str, int]] | str:
    """DuckDB's buffer-managed memory, asked on the store's own connection (the main thread's: it is between two
    stages, so the connection is idle; the estimates' thread queries on a cursor of its own, never asked here)."""
    f: Any = sys._current_frames().get(threading.main_thread().ident or 0)
    while f is not None:
        store = f.f_locals.get("store")
        if type(store).__name__ == "Store":
            try:
                rows = store.con.execute(
                    "SELECT tag, memory_usage_bytes FROM duckdb_memory() WHERE memory_usage_bytes > 0"
                ).fetchall()
            except Exception as e:  # noqa: BLE001 - a census never stops the run
                return f"not asked ({type(e).__name__})"
            return [(tag, n // MIB) for tag, n in rows]
        f = f.f_back
    return "no store found"


def census(stage: str) -> None:
    from analyzer.perf import return_free_heap

    return_free_heap()
    gc.unfreeze()  # the command line freezes what its loops left (perf.freeze_after_pauses)
    rss, parts = _rss_by_mapping()
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    heap = libc.mallinfo2()
    arenas = _arenas()
    say = ["", f"== {stage}: RSS {rss} MiB; by mapping {parts}"]
    say.append(
        f"   interpreter arenas {arenas.get('arenas allocated current', 0)} MiB, objects in them "
        f"{arenas.get('bytes in allocated blocks', 0) // MIB} MiB; glibc heap in use {heap.uordblks // MIB} MiB, "
        f"free but kept {heap.fordblks // MIB} MiB; DuckDB {_duckdb()}"
    )
    frames = _frames()
    say.append(f"   polars frames on the threads' stacks: {len(frames)}, {sum(r[0] for r in frames):.0f} MiB estimated")
    say += [f"   {mib:8.1f} MiB  {shape}  @ {where}" for mib, shape, where in frames[:15]]
    print("\n".join(say), file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--at", action="append", required=True, help="a stage name (repeatable)")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- then llmcost's arguments")
    args = ap.parse_args()
    stages = set(args.at)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    before = structure.next_stage

    def next_stage(name: str) -> None:
        if name in stages:
            census(name)
        before(name)

    structure.next_stage = next_stage
    from analyzer.cli import main as llmcost

    sys.argv = ["llmcost", *command]
    llmcost()


if __name__ == "__main__":  # the pool's workers import this module again: they must not run the command
    main()
