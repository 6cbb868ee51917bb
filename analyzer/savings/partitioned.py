"""The counterfactual engine over bins of the traffic, each held by a worker wherever the backend runs it.

`partitions.bins` cuts the traffic into bins that share no cache scope, thread or conversation, so every replay is
the sum of the bins' replays. A worker (a process of the local pool, a Ray actor, or this process) holds a few
bins, each as an `Engine` built once from its slice of the priced requests, the message sequence and the
threads; it is then asked for many replays. `PartitionedEngine` answers what the estimators ask an `Engine`
(two-replay comparisons, per-request costs, costs of sets of requests, the backtest, a function per bin) by
asking every worker at once and merging the bins' answers in bin order, so the figures are the same, float for
float, on every backend and with any number of workers.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

import polars as pl
from polars.datatypes import IntegerType

from analyzer import partitions
from analyzer.backends.base import Backend
from analyzer.backends.local import INLINE, Inline, Local
from analyzer.conversations import Sequence
from analyzer.perf import return_free_heap
from analyzer.prices import Catalogue
from analyzer.progress import TIMINGS_ENV
from analyzer.savings.backtest import backtest_summary
from analyzer.savings.engine import Engine, Outcome
from analyzer.savings.levers import Lever
from analyzer.savings.traffic import REPLAY_COLUMNS, ok_rows, prepare, thread_map

KEEP_BUILT = 2  # levers whose rebuilt calls a worker keeps (an estimate compares one lever in up to three cases)


@dataclass
class Bin:
    """One bin's inputs: its priced requests, its part of the message sequence (requests numbered 1..n in time
    order, as `Sequence` expects) and its threads."""

    bin: int
    rows: pl.DataFrame
    seq: Sequence
    threads: pl.DataFrame


@dataclass(frozen=True)
class Built:
    """A lever rebuilt in the workers (`PartitionedEngine.build`), reused by the comparisons that follow."""

    token: int


class Worker:
    """Some bins' engines, built where the worker runs."""

    def __init__(self, bins: list[Bin] | Spilled, cat: Catalogue, calibration: dict[str, float]) -> None:
        """`bins`: the bins themselves, or written to files for this worker to read (`Labelled.spill`)."""
        self.engines: dict[int, Engine] = {}
        # one bin's frames at a time, let go once its engine is built, and the heap they held given back (the
        # next bin's frames reuse it; ~100 MiB less at each worker's peak at a million calls)
        for b in bins.each() if isinstance(bins, Spilled) else _popped(bins):
            self.engines[b.bin] = Engine(prepare(b.rows, b.seq, b.threads, calibration), cat)
            del b
            return_free_heap(collect=False)
        self.built: dict[int, dict[int, Any]] = {}

    def _calls(self, b: int, token: int | None, lever: Lever) -> Any:
        if token is None:
            return None
        kept = self.built.setdefault(token, {})
        if b not in kept:
            kept[b] = self.engines[b].build(lever)
        while len(self.built) > KEEP_BUILT:
            del self.built[next(iter(self.built))]
        return kept[b]

    def release(self, token: int) -> list[tuple[int, None]]:
        """A lever's rebuilt calls (`PartitionedEngine.release`) go, in every bin, and the heap they held with them
        (at a million calls a trimming policy's rebuilt calls are ~450 bytes a request, kept until two more levers
        were built)."""
        kept = self.built.pop(token, None)
        if kept:
            for b in list(kept):
                self.engines[b].release(kept.pop(b))
            return_free_heap(collect=False)
        return []

    def set_threads(self, threads: pl.DataFrame) -> list[tuple[int, None]]:
        """The threads of this worker's requests (request_id, thread_id), for bins built before they were rebuilt
        (`start_replays`): the levers' rebuilds keep state per thread."""
        thread = thread_map(threads)
        for e in self.engines.values():
            e.traffic.thread = thread
        return []

    def drop(self) -> list[tuple[int, tuple[int, float]]]:
        """Let the bins' memory go (the process itself belongs to the backend); this process's CPU seconds. The
        memory goes on a thread, after the answer: the caller waits for this answer before the report goes on,
        and freeing a bin's millions of objects took ~0.4 s at 100k calls. A process the backend then ends stops
        freeing with it."""
        held = [self.engines, self.built]
        self.engines, self.built = {}, {}
        threading.Thread(target=held.clear, name="llmcost-drop", daemon=True).start()
        return [(-1, (os.getpid(), time.process_time()))]

    def compare(self, token: int | None, lever: Lever, case: str) -> list[tuple[int, Outcome]]:
        """Each bin's outcome, without its changed requests' ids: their count and costs are in it (at a million calls
        the ids, sent up and then back down to be priced, were 2.8 s of the parent's pickling alone)."""
        out = [
            (b, replace(e.compare(lever, case, self._calls(b, token, lever)), affected=set()))
            for b, e in self.engines.items()
        ]
        return_free_heap(collect=False)  # what the replays freed (at a million calls, ~400 MiB a worker mid-stage)
        return out

    def costs(self, ids: set[str]) -> list[tuple[int, tuple[float, float]]]:
        return [(b, (e.replayed_cost_of(ids), e.logged_cost_of(ids))) for b, e in self.engines.items()]

    def per_bin(self, method: str, *args: Any) -> list[tuple[int, Any]]:
        """Each bin's `Engine.method(*args)`, with its bin: the questions whose answers merge without more."""
        return [(b, getattr(e, method)(*args)) for b, e in self.engines.items()]


@dataclass
class Labelled:
    """The requests the engine replays (priced and successful), their part of the message sequence and their
    threads, each row labelled with its bin (`partitions.bins`): what `cut` turns into `Bin`s, here or in the
    worker that replays them. With one bin, the inputs themselves, unlabelled (no copy)."""

    rows: pl.DataFrame
    requests: pl.DataFrame  # in req order
    messages: pl.DataFrame
    threads: pl.DataFrame
    n: int  # bins, numbered 0..n-1
    whole: Sequence | None = None  # with one bin, the caller's own sequence (its memoised lists with it)

    FILES = ("rows", "requests", "messages", "threads")

    def sizes(self) -> list[int]:
        """Each bin's requests, by bin number."""
        if self.n == 1:
            return [self.rows.height]
        counts = dict(self.rows.group_by("bin").len().iter_rows())
        return [counts.get(b, 0) for b in range(self.n)]

    def cut(self, bins: list[int]) -> list[Bin]:
        """These bins' inputs, each bin's requests renumbered 1..n in time order (as `Sequence` expects)."""
        if self.n == 1:
            seq = self.whole if self.whole is not None else Sequence(self.requests, self.messages)
            return [Bin(0, self.rows, seq, self.threads)] if bins else []
        out: list[Bin] = []
        for b in bins:
            r = self.requests.filter(pl.col("bin") == b)
            renumber = r.select("req", new=pl.int_range(1, r.height + 1, dtype=cast(IntegerType, r["req"].dtype)))
            m = (
                self.messages.filter(pl.col("bin") == b)
                .join(renumber, on="req", how="inner", maintain_order="left")
                .with_columns(req=pl.col("new"))
                .drop("new", "bin")
            )
            out.append(
                Bin(
                    b,
                    self.rows.filter(pl.col("bin") == b).drop("bin"),
                    Sequence(r.with_columns(req=renumber["new"]).drop("bin"), m),
                    self.threads.filter(pl.col("bin") == b).drop("bin"),
                )
            )
        return out

    def spill(self, bins: list[int], folder: str) -> Spilled:
        """These bins' rows written to Arrow files in `folder` (one file per frame and bin, that bin's rows only),
        for a worker on this machine to read and cut one bin at a time (`Spilled.each`): it gets its bins without
        this process building or pickling a copy of each, and holds one bin's frames at a time."""
        for b in bins:
            keep = pl.col("bin") == b
            for name in self.FILES:
                frame: pl.DataFrame = getattr(self, name)
                (frame if self.n == 1 else frame.filter(keep)).write_ipc(os.path.join(folder, f"{name}-{b}.arrow"))
        return Spilled(folder, bins, self.n)


def _popped(bins: list[Bin]) -> Iterator[Bin]:
    """The bins, each taken off the list as it is given (so that its frames go once the caller lets it go)."""
    while bins:
        yield bins.pop(0)


@dataclass(frozen=True)
class Spilled:
    """Some bins written by `Labelled.spill`: a folder, read once by the worker that replays them."""

    folder: str
    bins: list[int]
    n: int

    def each(self) -> Iterator[Bin]:
        """The bins one at a time, each cut exactly as `Labelled.cut` cuts it in the process that labelled them;
        each file is removed once read (they are this worker's alone), and the folder after the last."""

        def read(name: str, b: int) -> pl.DataFrame:
            path = os.path.join(self.folder, f"{name}-{b}.arrow")
            frame = pl.read_ipc(path)
            os.remove(path)  # a mapped file stays readable until its frame goes
            return frame

        for b in self.bins:
            rows, requests, messages, threads = (read(name, b) for name in Labelled.FILES)
            labelled = Labelled(rows, requests, messages, threads, self.n)
            del rows, requests, messages, threads
            cut = labelled.cut([b])
            del labelled  # nothing of the bin's is left here while the caller holds it
            yield cut.pop()
        with contextlib.suppress(OSError):
            os.rmdir(self.folder)


NO_THREADS = pl.DataFrame(schema={"request_id": pl.String, "thread_id": pl.String})


def label(priced: pl.DataFrame, seq: Sequence, threads: pl.DataFrame | None = None) -> Labelled:
    """The inputs of the replays labelled with their bins (partitions.bins over the requests the engine
    replays: priced and successful). Without `threads` (not rebuilt yet), the bins have none, and
    `PartitionedEngine.set_threads` gives them theirs later."""
    if threads is None:
        threads = NO_THREADS
    cols = [c for c in ("api_key", "user", "conversation_id") if c in priced.columns]
    rows = ok_rows(priced, (*REPLAY_COLUMNS, *cols))
    labels = partitions.bins(rows.select(*cols))
    n = cast(int, labels.max()) + 1 if rows.height else 1
    if n == 1:
        return Labelled(rows, seq.requests, seq.messages, threads, 1, seq)
    rows = rows.with_columns(labels.alias("bin"))
    which = rows.select("request_id", "bin")
    reqs = seq.requests.join(which, on="request_id", how="inner").sort("req")
    msgs = seq.messages.join(reqs.select("req", "bin"), on="req", how="inner")
    return Labelled(rows, reqs, msgs, threads.join(which, on="request_id", how="inner"), n)


# The replays go to workers only for a traffic with this much work, in requests, counting MESSAGES_PER_REQUEST
# message rows as one more (a message row costs ~3.5 us a lever, a request without one ~50 us). Below it,
# starting the workers (a fork server and actors: ~0.5 s when the ingest did not start them) and shipping the
# bins cost more than replaying here: 2,000 Claude Code session files (10,000 requests, no message rows) took
# 0.91 s to replay on two workers against 0.52 s here; the real agent traces (7,924 requests, 726,837 message
# rows: ~56,000) replay in 2.3 s on two lanes against 4.5 s here.
OFFLOAD_MIN = 20_000
MESSAGES_PER_REQUEST = 15


LANE_MAX_REQUESTS = 20_000  # requests: a traffic this small is copied to every lane (see `lanes_for`)
MAX_LANES = 4


def lanes_for(requests: int, n_workers: int, backend: Backend) -> int:
    """How many copies of the bins to replay at once: with fewer bins than workers (one agent's log is one bin:
    one API key, one cache scope), the idle workers each hold a copy, so that independent levers replay side by
    side (`PartitionedEngine.lane`). Only for a traffic of at most LANE_MAX_REQUESTS requests: each copy costs
    its memory again, and a larger traffic has the cores busy with its own stages (or bins) anyway."""
    if isinstance(backend, Inline) or requests > LANE_MAX_REQUESTS:
        return 1
    return max(1, min(MAX_LANES, backend.workers // n_workers))


def has_workers(backend: Backend) -> bool:
    """Whether the backend has processes other than this one (Inline has one worker, this process)."""
    return backend.workers >= 2


def elsewhere(labelled: Labelled, backend: Backend) -> bool:
    """Whether the bins are replayed on other processes: the backend has some, and the traffic is large enough
    (OFFLOAD_MIN) to gain from replaying there (its bins side by side, or beside this process's own stages)."""
    if not has_workers(backend) or not labelled.rows.height:
        return False
    return labelled.rows.height + labelled.messages.height // MESSAGES_PER_REQUEST >= OFFLOAD_MIN


class PartitionedEngine:
    """What the estimators ask an `Engine`, answered by workers holding the bins (see the module docstring)."""

    def __init__(
        self,
        priced: pl.DataFrame,
        seq: Sequence,
        threads: pl.DataFrame | None,
        cat: Catalogue,
        calibration: dict[str, float] | None = None,
        backend: Backend = INLINE,
        labelled: list[Labelled] | None = None,
    ) -> None:
        """`labelled`: [label(priced, seq, threads)], when the caller has it already (handed over: the list is
        emptied once the workers have their bins, so the frames can go)."""
        self.backend = backend
        lab = label(priced, seq, threads) if not labelled else labelled.pop()
        self.bins = lab.n
        if not elsewhere(lab, self.backend):
            self.backend = INLINE  # no process to start or data to copy
        sizes = lab.sizes()
        n_workers = max(1, min(self.backend.workers, lab.n))
        groups: list[list[int]] = [[] for _ in range(n_workers)]
        load = [0] * n_workers
        for b in sorted(range(lab.n), key=lambda b: (-sizes[b], b)):  # largest first, to the lightest worker
            w = min(range(n_workers), key=lambda j: (load[j], j))
            groups[w].append(b)
            load[w] += sizes[b]
        self.requests = sum(sizes)  # the priced, successful requests, as Engine counts
        self._groups = groups  # each worker's bins, in the order of every lane's workers
        self._which = lab.rows.select("request_id", "bin") if lab.n > 1 else None  # for set_threads
        n_lanes = lanes_for(self.requests, n_workers, self.backend)
        # Workers on this machine read their bins from files this process writes, one group at a time; elsewhere
        # (Ray) or here, they get the cut frames.
        self._folder: str | None = None
        self._forget: weakref.finalize | None = None
        payloads: list[list[Bin] | Spilled] = []
        if isinstance(self.backend, Local):
            try:
                self._folder = tempfile.mkdtemp(prefix="llmcost-bins-")
                # removed when the process exits if no one did before: a Ctrl-C in this process's own stages
                # ends it while the replays' thread (a daemon) still waits on the workers, and never cleans up
                self._forget = weakref.finalize(self, shutil.rmtree, self._folder, ignore_errors=True)
                for lane in range(n_lanes):
                    for i, g in enumerate(groups):
                        os.mkdir(folder := os.path.join(self._folder, f"{lane}-{i}"))
                        payloads.append(lab.spill(sorted(g), folder))
            except OSError:  # no room or no right to write there: the frames go by pipe, as to Ray
                self._remove_folder()
                payloads = []
        if not payloads:
            payloads = [lab.cut(sorted(g)) for _ in range(n_lanes) for g in groups]
        del lab
        # the workers build their engines while the caller goes on (Local and Ray start actors without waiting)
        actors = self.backend.actors(Worker, [(p, cat, dict(calibration or {})) for p in payloads])
        payloads.clear()
        # each lane: one worker per group, every lane holding all the bins (see `lane`)
        self.lanes: list[list[Any]] = [actors[k : k + n_workers] for k in range(0, len(actors), n_workers)]
        self.workers = self.lanes[0]
        self._free: queue.SimpleQueue[list[Any]] = queue.SimpleQueue()
        for lane_workers in self.lanes:
            self._free.put(lane_workers)
        self._pinned = threading.local()
        self._tokens = itertools.count(1)

    def set_threads(self, threads: pl.DataFrame) -> None:
        """Give workers started before the threads were rebuilt (`start_replays`) their requests' threads: every
        lane's worker of a group the same part. Waits for the workers to have built their bins."""
        t = threads.select("request_id", "thread_id")
        parts = [
            t
            if self._which is None
            else t.join(self._which.filter(pl.col("bin").is_in(g)).select("request_id"), on="request_id", how="inner")
            for g in self._groups
        ]
        self._which = None  # asked once (start_estimates): every request's id and bin, let go for the rest of the run
        every = [w for lane_workers in self.lanes for w in lane_workers]
        self.backend.call(every, "set_threads", [(p,) for _ in self.lanes for p in parts])

    def abandon(self) -> None:
        """The run stopped before any question was asked: the bins' files go (the backend ends the workers)."""
        self.workers, self.lanes = [], []
        self._remove_folder()

    @property
    def parallel(self) -> int:
        """How many lanes can answer at once (`lane`)."""
        return len(self.lanes)

    @contextlib.contextmanager
    def lane(self) -> Iterator[None]:
        """The calling thread's questions go to one lane (a set of workers holding every bin) until the block
        ends: a free one, waited for when every lane is busy. Lanes hold the same bins and answer every question
        alike, float for float; pinning one lever's questions to one lane lets its workers reuse the rebuilt
        traffic (`Worker._calls`). Nested, the thread keeps the lane it holds."""
        if getattr(self._pinned, "lane", None) is not None:
            yield
            return
        held = self._free.get()
        self._pinned.lane = held
        try:
            yield
        finally:
            self._pinned.lane = None
            self._free.put(held)

    def _ask(self, method: str, *args: Any) -> list[Any]:
        """Every worker's answers (of the lane this thread holds, or any free one), one per bin, in bin order."""
        with self.lane():
            workers = self._pinned.lane
            answers = self.backend.call(workers, method, [args] * len(workers))
        return [v for _, v in sorted((pair for per in answers for pair in per), key=lambda p: p[0])]

    def close(self) -> None:
        try:
            if self.workers:
                cpu = [c for lane in self.lanes for per in self.backend.call(lane, "drop") for _, c in per]
                if os.environ.get(TIMINGS_ENV, "") not in ("", "0") and not isinstance(self.backend, Inline):
                    print(
                        f"llmcost: timing: savings workers {len(cpu)}, lanes {len(self.lanes)}, bins {self.bins}, "
                        "CPU s " + " ".join(f"{c:.2f}" for _, c in cpu),
                        file=sys.stderr,
                    )
        finally:
            self.workers = []
            self.lanes = []
            self._remove_folder()

    def _remove_folder(self) -> None:
        """The bins' files: the workers removed what they read; this removes anything one that failed left.
        The exit's removal is called off only once this one has finished: called from the replays' thread (a
        daemon) as the process ends, this one can be stopped half way, and the exit's is then the one left."""
        folder, self._folder = self._folder, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        if self._forget is not None:
            self._forget.detach()

    def build(self, lever: Lever) -> Built:
        return Built(next(self._tokens))

    def compare(self, lever: Lever, case: str = "central", calls: Built | None = None) -> Outcome:
        # a lever's own cost (a routing classifier) is the whole traffic's: added once here, not once per bin
        parts: list[Outcome] = self._ask(
            "compare", calls.token if calls is not None else None, replace(lever, extra_usd=0.0), case
        )
        out = sum(parts, Outcome(0.0, 0.0, set()))
        out.counterfactual += lever.extra_usd
        out.counterfactual_today += lever.extra_usd
        return out

    def release(self, calls: Built) -> None:
        """The workers that rebuilt the lever (this thread's lane's, or a free lane's: another lane's keep it until
        KEEP_BUILT later levers push it out) let its calls go."""
        self._ask("release", calls.token)

    def by_base(self, lever: Lever | None = None, case: str = "central") -> dict[str, float]:
        out: dict[str, float] = {}
        for d in self._ask("per_bin", "by_base", lever, case):
            out.update(d)
        return out

    def _costs(self, ids: set[str]) -> tuple[float, float]:
        replayed = logged = 0.0
        for r, lg in self._ask("costs", ids):
            replayed += r
            logged += lg
        return replayed, logged

    def band(self, affected: set[str]) -> float:
        if not affected:
            return 0.0
        replayed, logged = self._costs(affected)
        return abs(replayed - logged)

    def backtest(self) -> dict[str, Any]:
        parts = self._ask("per_bin", "backtest_rows")
        rows = pl.concat([r for r, _ in parts], how="vertical") if len(parts) > 1 else parts[0][0]
        return backtest_summary(rows, set().union(*(w for _, w in parts)))

    def simulated(self) -> pl.DataFrame:
        parts = self._ask("per_bin", "simulated")
        return pl.concat(parts, how="vertical") if len(parts) > 1 else parts[0]

    def split_variants(self, split: Mapping[int, Any]) -> int:
        return sum(self._ask("per_bin", "split_variants", split))

    def each(self, fn: Any, *args: Any) -> list[Any]:
        return [x for per in self._ask("per_bin", "each", fn, *args) for x in per]
