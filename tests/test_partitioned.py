"""The traffic cut into bins that never interact (partitions.py) and replayed bin by bin (partitioned.py): the
same report as one replay of everything, and exactly the same on every backend and number of workers."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from analyzer import partitions
from analyzer.backends.local import Inline, Local
from analyzer.prices import load_catalogue
from analyzer.report import build_report
from analyzer.savings.partitioned import PartitionedEngine
from analyzer.store import Store

ROOT = Path(__file__).resolve().parent.parent


def _rows(triples):
    return pl.DataFrame(
        {
            "api_key": [t[0] for t in triples],
            "user": [t[1] for t in triples],
            "conversation_id": [t[2] for t in triples],
        },
        schema={"api_key": pl.String, "user": pl.String, "conversation_id": pl.String},
    )


def test_components_join_requests_through_key_user_and_conversation() -> None:
    rows = _rows(
        [
            ("k1", "alice", None),  # 0
            ("k2", "bob", None),  # 1
            ("k3", "alice", None),  # 2: alice links k3 to k1
            ("k4", None, "c9"),  # 3
            ("k5", None, "c9"),  # 4: conversation c9 links k5 to k4
            ("k6", "carol", None),  # 5: alone
            (None, None, None),  # 6: no key: the '' key
            (None, "dave", None),  # 7: the '' key again, so with 6
            ("k2", None, None),  # 8: bob's key
        ]
    )
    comp = partitions.components(rows).to_list()
    assert comp == [0, 1, 0, 3, 3, 5, 6, 6, 1]


def test_bins_pack_components_and_never_split_one() -> None:
    triples = [(f"k{i % 5}", None, None) for i in range(100)] + [("big", None, None)] * 60
    rows = _rows(triples)
    b = partitions.bins(rows, max_bins=3, min_requests=10).to_list()
    assert len(set(b)) == 3
    comp = partitions.components(rows).to_list()
    for c in set(comp):  # a component is in one bin
        assert len({b[i] for i in range(len(b)) if comp[i] == c}) == 1
    assert b[0] == 0  # bins numbered by their first row
    # few requests: one bin, whatever the keys
    assert set(partitions.bins(rows, max_bins=8, min_requests=1000).to_list()) == {0}


@pytest.fixture(scope="module")
def multi_key_log(tmp_path_factory) -> Path:
    """bench/make_log.py's chat traffic (OpenAI and Anthropic, cached system prompts, multi-turn
    conversations), with each user on one of 6 API keys: 6 components."""
    out = tmp_path_factory.mktemp("multikey")
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "make_log.py"), str(out), "--calls", "2500"],
        check=True,
        capture_output=True,
    )
    for f in out.glob("*.jsonl"):
        lines = []
        for line in f.read_text().splitlines():
            rec = json.loads(line)
            rec["metadata"]["api_key"] = f"key-{int(rec['metadata']['user'][2:]) % 6}"
            lines.append(json.dumps(rec))
        f.write_text("\n".join(lines) + "\n")
    return out


def _report(paths: list[Path], backend, monkeypatch, min_requests: int, seen: list[int] | None = None) -> dict:
    from analyzer.savings import partitioned

    monkeypatch.setattr(partitions, "MIN_BIN_REQUESTS", min_requests)
    monkeypatch.setattr(partitioned, "OFFLOAD_MIN", 0)  # this small log replays on the workers, if there are any
    if seen is not None:  # how many bins the engine replayed
        init = PartitionedEngine.__init__

        def spy(self, *a, **k):
            init(self, *a, **k)
            seen.append(self.bins)

        monkeypatch.setattr(PartitionedEngine, "__init__", spy)
    store = Store(None)
    try:
        store.ingest([str(p) for p in paths])
        return build_report(store, load_catalogue(), backend=backend)
    finally:
        store.close()


def _savings(rep: dict) -> dict:
    return {k: rep[k] for k in ("caching", "savings", "combined", "headline", "cache_misses") if k in rep}


def _close(got, want, path="$") -> list[str]:
    if isinstance(want, dict) and isinstance(got, dict):
        if set(got) != set(want):
            return [f"{path}: keys {sorted(set(got) ^ set(want))}"]
        return [d for k in want for d in _close(got[k], want[k], f"{path}.{k}")]
    if isinstance(want, list) and isinstance(got, list):
        if len(got) != len(want):
            return [f"{path}: {len(got)} items, want {len(want)}"]
        return [d for i, (g, w) in enumerate(zip(got, want, strict=True)) for d in _close(g, w, f"{path}[{i}]")]
    if isinstance(want, float) and isinstance(got, float | int):
        return [] if math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9) else [f"{path}: {got} != {want}"]
    return [] if got == want else [f"{path}: {got!r} != {want!r}"]


def test_binned_replays_add_up_to_one_replay_of_everything(multi_key_log, monkeypatch) -> None:
    seen: list[int] = []
    whole = _report([multi_key_log], Inline(), monkeypatch, min_requests=10**9)
    binned = _report([multi_key_log], Inline(), monkeypatch, min_requests=300, seen=seen)
    assert seen == [6]  # six keys, six components, six bins
    assert whole["savings"], "the log must give estimates to compare"
    diffs = _close(_savings(binned), _savings(whole))
    assert diffs == [], "\n".join(diffs)


def test_every_backend_gives_the_same_report_float_for_float(multi_key_log, monkeypatch) -> None:
    inline = _report([multi_key_log], Inline(), monkeypatch, min_requests=300)
    local = Local(2)
    try:
        pooled = _report([multi_key_log], local, monkeypatch, min_requests=300)
    finally:
        local.close()
    inline.pop("generated_at", None), pooled.pop("generated_at", None)
    assert json.dumps(_savings(pooled), sort_keys=True) == json.dumps(_savings(inline), sort_keys=True)


def _backends_used(monkeypatch) -> list[str]:
    """The backend each PartitionedEngine made from now on replays on (Inline: this process), in order."""
    used: list[str] = []
    init = PartitionedEngine.__init__

    def spy(self, *a, **k):
        init(self, *a, **k)
        used.append(type(self.backend).__name__)

    monkeypatch.setattr(PartitionedEngine, "__init__", spy)
    return used


def test_a_small_traffic_replays_here_even_with_workers(multi_key_log, monkeypatch) -> None:
    """Below OFFLOAD_MIN of work (requests, and message rows at MESSAGES_PER_REQUEST to one), starting workers
    costs more than the replays: they run in this process, and above it on the workers."""
    from analyzer.savings import partitioned

    used = _backends_used(monkeypatch)
    store = Store(None)
    local = Local(2)
    try:
        store.ingest([str(multi_key_log)])
        requests = store.con.execute("SELECT count(*) FROM requests").fetchone()[0]
        messages = store.con.execute("SELECT count(*) FROM messages").fetchone()[0]
        work = requests + messages // partitioned.MESSAGES_PER_REQUEST
        assert 0 < work < partitioned.OFFLOAD_MIN
        build_report(store, load_catalogue(), backend=local)
        monkeypatch.setattr(partitioned, "OFFLOAD_MIN", work // 2)
        build_report(store, load_catalogue(), backend=local)
    finally:
        local.close()
        store.close()
    assert used == ["Inline", "Local"]


def test_one_large_bin_replays_on_a_worker_with_the_same_figures(multi_key_log, monkeypatch) -> None:
    """One bin (here: bins of 10**9 requests at least) of more than OFFLOAD_MIN work goes to one worker, so it
    replays beside this process's conversations and prefix tables: the same report as in this process."""
    inline = _report([multi_key_log], Inline(), monkeypatch, min_requests=10**9)
    local = Local(2)
    used = _backends_used(monkeypatch)
    try:
        offloaded = _report([multi_key_log], local, monkeypatch, min_requests=10**9)
    finally:
        local.close()
    assert used == ["Local"]
    assert json.dumps(_savings(offloaded), sort_keys=True) == json.dumps(_savings(inline), sort_keys=True)


@pytest.mark.parametrize("copies", ["two lanes", "one lane"])
def test_one_bin_on_two_workers_replays_its_levers_side_by_side_with_the_same_figures(
    multi_key_log, monkeypatch, copies
) -> None:
    """One bin (one agent's log: one key, one cache scope) and two workers: the second worker holds a copy of the
    bin, and the estimators' independent levers replay on both at once (two lanes). Both lanes answer replays,
    and the report is the inline run's; above LANE_MAX_REQUESTS the bin is not copied (one lane)."""
    from analyzer.savings import partitioned

    inline = _report([multi_key_log], Inline(), monkeypatch, min_requests=10**9)
    if copies == "one lane":
        monkeypatch.setattr(partitioned, "LANE_MAX_REQUESTS", 1_000)
    lanes: list[int] = []
    init = PartitionedEngine.__init__

    def spy_init(self, *a, **k):
        init(self, *a, **k)
        lanes.append(len(self.lanes))

    asked: dict[int, int] = {}  # actor -> replay questions it answered (comparisons, the misses' passes...)
    call = Local.call

    def spy_call(self, actors, method, args=None):
        if method not in ("set_threads", "drop"):
            for a in actors:
                asked[id(a)] = asked.get(id(a), 0) + 1
        return call(self, actors, method, args)

    monkeypatch.setattr(PartitionedEngine, "__init__", spy_init)
    monkeypatch.setattr(Local, "call", spy_call)
    local = Local(2)
    try:
        pooled = _report([multi_key_log], local, monkeypatch, min_requests=10**9)
    finally:
        local.close()
    assert json.dumps(_savings(pooled), sort_keys=True) == json.dumps(_savings(inline), sort_keys=True)
    if copies == "two lanes":
        assert lanes == [2]
        # each lane answered replays. How many each answers depends on timing: the lane that takes the misses
        # (the longest job, first) may answer only a couple of comparisons after them (seen: 21 and 2)
        assert len(asked) == 2 and min(asked.values()) >= 2
    else:
        assert lanes == [1] and len(asked) == 1


@pytest.mark.parametrize(("workers", "min_requests"), [(1, 300), (2, 300), (1, 10**9)])
def test_the_parent_lets_its_per_message_lists_go_before_waiting_for_the_replays(
    multi_key_log, monkeypatch, workers, min_requests
) -> None:
    """While the workers replay, this process makes its prefix tables and waits without the message sequence (its
    per-message lists were never kept whole, and the sequence itself is let go). Replayed here, the replays hold
    the sequence, but no per-message lists: the threads parse theirs a slice at a time, and the replays read the
    message columns."""
    import importlib
    import weakref

    from analyzer import conversations

    structure_mod = importlib.import_module("analyzer.report.structure")
    from analyzer.savings import run

    seqs: list = []  # the run's sequence, by weak reference: whether this process still holds it
    load = conversations.load_sequence

    def keep(*a, **k):
        seq = load(*a, **k)
        seqs.append(weakref.ref(seq))
        return seq

    held: list[tuple[int, int] | None] = []
    result = run.Pending.result

    def spy(self):
        seq = seqs[0]()
        held.append(None if seq is None else (len(seq._parsed), len(seq._chains)))
        del seq
        return result(self)

    at_tables: list[bool] = []  # whether the sequence is alive as the prefix tables are made
    tables = structure_mod._prefix_tables

    def spy_tables(*a, **k):
        at_tables.append(seqs[0]() is not None)
        return tables(*a, **k)

    monkeypatch.setattr(structure_mod.conversations, "load_sequence", keep)
    monkeypatch.setattr(run.Pending, "result", spy)
    monkeypatch.setattr(structure_mod, "_prefix_tables", spy_tables)
    backend = Local(2) if workers == 2 else Inline()
    try:
        _report([multi_key_log], backend, monkeypatch, min_requests=min_requests)
    finally:
        backend.close()
    assert len(held) == 2  # start_replays' labelling (asked for when the threads are ready), then the replays
    assert held[0] is not None
    if workers == 2:  # replayed on the workers: the sequence itself is gone from the prefix tables on
        assert at_tables == [False] and held[-1] is None
        return
    assert at_tables == [True]
    assert held[-1] is not None  # replayed here: the replays hold the sequence until they run
    assert held[-1] == (0, 0)  # six bins (each a sequence of its own) or one (the sequence itself)


@pytest.mark.parametrize("disk", ["writable", "full"])
def test_workers_on_this_machine_read_their_bins_from_files_not_from_a_pickled_copy(
    multi_key_log, monkeypatch, disk
) -> None:
    """The parent writes each worker's bins to Arrow files and hands it only their folder (it builds and pickles
    no copy of each bin); the worker removes them once read, and the figures are the inline run's. With no room
    to write, the bins go by pipe as before, with the same figures."""
    import pickle
    import tempfile

    from analyzer.savings import partitioned

    inline = _report([multi_key_log], Inline(), monkeypatch, min_requests=300)
    handed: list[int] = []
    kinds: list[str] = []
    folders: list[str | None] = []
    actors = Local.actors

    def spy_actors(self, cls, args):
        handed.extend(len(pickle.dumps(a[0])) for a in args)  # the bins, as the worker receives them
        kinds.extend(type(a[0]).__name__ for a in args)
        return actors(self, cls, args)

    init = PartitionedEngine.__init__

    def spy_init(self, *a, **k):
        init(self, *a, **k)
        folders.append(self._folder)

    real_mkdtemp = tempfile.mkdtemp

    def no_room(*a, **k):  # only the bins' folder: multiprocessing makes its own (the fork server's socket)
        if k.get("prefix") == "llmcost-bins-":
            raise OSError(28, "No space left on device")
        return real_mkdtemp(*a, **k)

    monkeypatch.setattr(Local, "actors", spy_actors)
    monkeypatch.setattr(PartitionedEngine, "__init__", spy_init)
    if disk == "full":
        monkeypatch.setattr(partitioned.tempfile, "mkdtemp", no_room)
    local = Local(2)
    try:
        pooled = _report([multi_key_log], local, monkeypatch, min_requests=300)
    finally:
        local.close()
    assert json.dumps(_savings(pooled), sort_keys=True) == json.dumps(_savings(inline), sort_keys=True)
    assert len(kinds) == 2
    if disk == "full":
        assert kinds == ["list", "list"] and folders == [None]
        assert min(handed) > 100_000  # the bins' frames themselves
    else:
        assert kinds == ["Spilled", "Spilled"]
        assert max(handed) < 1_000  # a folder and bin numbers
        assert folders[0] is not None and folders[0].startswith(tempfile.gettempdir())
        assert not Path(folders[0]).exists()  # removed: the workers read and removed their files


def test_the_workers_build_their_bins_before_the_threads_and_get_them_after(multi_key_log, monkeypatch) -> None:
    """start_replays sends the bins out before the threads are rebuilt (the engine is made without them), and
    start_estimates gives each worker its bins' threads: every lane's worker of a group the same part, the
    parts adding up to the threads of the requests replayed. The report is the inline run's."""
    inline = _report([multi_key_log], Inline(), monkeypatch, min_requests=300)
    made: list[bool] = []
    init = PartitionedEngine.__init__

    def spy_init(self, priced, seq, threads, *a, **k):
        made.append(threads is None)
        init(self, priced, seq, threads, *a, **k)

    given: list[int] = []
    call = Local.call

    def spy_call(self, actors, method, args=None):
        if method == "set_threads":
            given.extend(a[0].height for a in args)
        return call(self, actors, method, args)

    monkeypatch.setattr(PartitionedEngine, "__init__", spy_init)
    monkeypatch.setattr(Local, "call", spy_call)
    local = Local(2)
    try:
        pooled = _report([multi_key_log], local, monkeypatch, min_requests=300)
    finally:
        local.close()
    assert made == [True]
    assert len(given) == 2 and min(given) > 0 and sum(given) == pooled["totals"]["requests"]
    assert json.dumps(_savings(pooled), sort_keys=True) == json.dumps(_savings(inline), sort_keys=True)


def test_a_run_that_fails_while_the_workers_build_leaves_no_bins_behind(multi_key_log, monkeypatch, tmp_path):
    """The bins went out before the threads were rebuilt; the rebuild fails: the error is the run's, and the bins'
    files are removed (the backend ends the workers)."""
    import tempfile

    from analyzer import conversations

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def broken(seq, *a, **k):
        raise RuntimeError("threads failed")

    monkeypatch.setattr(conversations, "reconstruct_threads", broken)
    local = Local(2)
    try:
        with pytest.raises(RuntimeError, match="threads failed"):
            _report([multi_key_log], local, monkeypatch, min_requests=300)
    finally:
        local.close()
    assert not list(tmp_path.glob("llmcost-bins-*"))


STOPPED_WHILE_REPLAYING = """
import sys, tempfile, time
tempfile.tempdir = sys.argv[1]
from analyzer import prefixes
from analyzer.savings import partitioned, run
partitioned.OFFLOAD_MIN = 0  # the bins go to the workers, through files
real = run._estimate_all


def slow(*a, **k):  # the replays' thread is still busy when the run stops
    time.sleep(60)
    return real(*a, **k)


def ctrl_c(seq):  # Ctrl-C in this process's own stages, after the estimates started
    raise KeyboardInterrupt


run._estimate_all = slow
prefixes.message_nodes = ctrl_c  # the prefix reuse stage, in this process
from analyzer.cli import main
sys.argv = ["llmcost", "report", sys.argv[2], "--json", sys.argv[3], "--workers", "2"]
main()
"""


def _stopped_run_leaves_no_bins(
    tmp_path: Path, script: str, code: int = 130, line: str = "llmcost: interrupted"
) -> None:
    """`script` (argv: a scratch TMPDIR, a log, the JSON path) stops a 2-worker report with a Ctrl-C (or what
    `code` and `line` say): one line, that exit code, no traceback, and no bins' folder or scratch database
    left in the scratch folder."""
    log = tmp_path / "log"
    subprocess.run([sys.executable, str(ROOT / "bench" / "make_log.py"), str(log), "--calls", "2500"], check=True)
    import shutil
    import tempfile

    # a short folder: the fork server's socket is made in it, and a socket's path has at most 107 bytes
    scratch = Path(tempfile.mkdtemp(prefix="llmcost-test-", dir="/tmp" if Path("/tmp").is_dir() else None))
    try:
        p = subprocess.run(
            [sys.executable, "-c", script, str(scratch), str(log), str(tmp_path / "r.json")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (p.returncode, p.stderr.splitlines()[-1:]) == (code, [line]), p.stderr
        assert "Traceback" not in p.stderr
        assert list(scratch.glob("llmcost-bins-*")) == list(scratch.glob("llmcost-run-*")) == []
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_a_run_stopped_while_the_replays_run_leaves_no_bins_behind(tmp_path):
    """Ctrl-C in this process's stages while the replays' thread (a daemon) still waits on the workers: the
    process ended without that thread's cleanup, and the bins' folder was left behind (seen under load in the
    Ctrl-C test of test_first_screen, on the one-key traces: one bin, copied to two lanes). It is removed when the
    process exits."""
    _stopped_run_leaves_no_bins(tmp_path, STOPPED_WHILE_REPLAYING)


TERMINATED_WHILE_REPLAYING = """
import os, signal, sys, tempfile
tempfile.tempdir = sys.argv[1]
from analyzer import prefixes
from analyzer.savings import partitioned
partitioned.OFFLOAD_MIN = 0  # the bins go to the workers, through files


def term(seq):  # `kill`: SIGTERM in this process's own stages, while the workers replay
    os.kill(os.getpid(), signal.SIGTERM)
    raise AssertionError("SIGTERM did not stop the run")


prefixes.message_nodes = term
from analyzer.cli import main
sys.argv = ["llmcost", "report", sys.argv[2], "--json", sys.argv[3], "--workers", "2"]
main()
"""


def test_a_run_ended_by_sigterm_stops_as_on_ctrl_c_and_leaves_no_folders(tmp_path):
    """SIGTERM (`kill`, a CI timeout) ended the process at once, leaving its scratch database and bins' folders
    in the temporary folder; it now ends the run as a Ctrl-C does, with one line and the shell's code 143."""
    _stopped_run_leaves_no_bins(tmp_path, TERMINATED_WHILE_REPLAYING, 143, "llmcost: terminated")


CLOSED_BY_THE_REPLAYS_THREAD_AT_EXIT = """
import shutil, sys, tempfile, threading, time
tempfile.tempdir = sys.argv[1]
from analyzer import prefixes
from analyzer.savings import partitioned
partitioned.OFFLOAD_MIN = 0  # the bins go to the workers, through files
stopping = threading.Event()
real_rmtree = shutil.rmtree


def gone(self, threads):  # the workers end with the Ctrl-C: the replays' thread fails and closes the engine
    stopping.wait(60)
    raise RuntimeError("workers gone")


def slow_rmtree(*a, **k):  # the replays' thread is stopped half way through its removal when the process ends
    if threading.current_thread() is not threading.main_thread():
        time.sleep(60)
    return real_rmtree(*a, **k)


def ctrl_c(seq):
    stopping.set()
    raise KeyboardInterrupt


partitioned.PartitionedEngine.set_threads = gone
shutil.rmtree = slow_rmtree
prefixes.message_nodes = ctrl_c  # the prefix reuse stage, in this process
from analyzer.cli import main
sys.argv = ["llmcost", "report", sys.argv[2], "--json", sys.argv[3], "--workers", "2"]
main()
"""


def test_bins_removed_by_the_replays_thread_as_the_process_ends_are_removed(tmp_path):
    """The replays' thread (a daemon) closes the engine when its workers end with a Ctrl-C, and removes the bins'
    folder as the process exits: a daemon thread is stopped where it stands once the interpreter finishes, and
    its removal was the only one left (CI, stop 39: `llmcost-bins-*` left behind). The exit removes it too."""
    _stopped_run_leaves_no_bins(tmp_path, CLOSED_BY_THE_REPLAYS_THREAD_AT_EXIT)


def test_a_worker_answers_drop_before_freeing_its_bins():
    """The parent waits for every worker's `drop` before the report goes on: the bins' objects are freed on a
    thread after the answer (freeing them took ~0.4 s at 100k calls), and they are freed."""
    import os
    import threading
    import time
    import weakref

    from analyzer.savings.partitioned import Worker

    freed = threading.Event()

    class Slow:
        def __del__(self):
            time.sleep(0.5)
            freed.set()

    w = Worker.__new__(Worker)
    slow = Slow()
    w.engines, w.built = {0: slow}, {1: {0: [Slow()]}}  # type: ignore[dict-item]
    gone = weakref.ref(slow)
    del slow
    t0 = time.perf_counter()
    (bin_, (pid, cpu)), *more = w.drop()
    assert time.perf_counter() - t0 < 0.45 and not more and bin_ == -1 and pid == os.getpid() and cpu > 0
    assert w.engines == {} and w.built == {}
    assert freed.wait(5)
    for t in threading.enumerate():
        if t.name == "llmcost-drop":
            t.join(5)
    assert gone() is None


def _labelled(log, monkeypatch):
    """The log's traffic labelled in at least 3 bins, and the catalogue."""
    from analyzer import conversations
    from analyzer.report import priced_frame
    from analyzer.savings import partitioned

    monkeypatch.setattr(partitions, "MIN_BIN_REQUESTS", 300)
    store = Store(None)
    store.ingest([str(log)])
    cat = load_catalogue()
    seq = conversations.load_sequence(store.con)
    lab = partitioned.label(priced_frame(store, cat, None, None), seq, conversations.reconstruct_threads(seq))
    store.close()
    assert lab.n >= 3
    return lab, cat


def test_a_worker_reads_and_holds_one_bin_at_a_time(multi_key_log, monkeypatch, tmp_path) -> None:
    """The bins spilled for a worker are read one at a time, each file removed once read, each bin cut exactly as
    in the labelling process; a worker lets each bin's frames go once its engine is built, whether the bins came
    through files or by pipe (Ray)."""
    import weakref

    from analyzer.savings import partitioned

    lab, cat = _labelled(multi_key_log, monkeypatch)
    bins = list(range(lab.n))[::-1]  # in any order
    folder = tmp_path / "spilled"
    folder.mkdir()
    each = lab.spill(bins, str(folder)).each()
    for k, (got, want) in enumerate(zip(each, lab.cut(bins), strict=True)):
        left = sorted(p.name for p in folder.iterdir())
        assert left == sorted(f"{name}-{b}.arrow" for b in bins[k + 1 :] for name in partitioned.Labelled.FILES)
        assert got.bin == want.bin == bins[k]
        assert got.rows.equals(want.rows) and got.threads.equals(want.threads)
        assert got.seq.requests.equals(want.seq.requests) and got.seq.messages.equals(want.seq.messages)
    assert not folder.exists()

    held: list[int] = []  # as each bin's file is read and as each engine is built: earlier bins still alive
    refs: list[weakref.ref] = []
    prepare, read_ipc = partitioned.prepare, pl.read_ipc

    def spy(rows, s, threads, calibration):
        held.append(sum(r() is not None for r in refs))
        refs.append(weakref.ref(s))
        return prepare(rows, s, threads, calibration)

    def spy_read(*a, **k):
        held.append(sum(r() is not None for r in refs))
        return read_ipc(*a, **k)

    monkeypatch.setattr(partitioned, "prepare", spy)
    monkeypatch.setattr(pl, "read_ipc", spy_read)
    (tmp_path / "again").mkdir()
    for payload, steps in ((lab.spill(bins, str(tmp_path / "again")), 5), (lab.cut(bins), 1)):
        held.clear()
        refs.clear()
        worker = partitioned.Worker(payload, cat, {})
        assert sorted(worker.engines) == sorted(bins) and held == [0] * len(bins) * steps


def test_the_parent_returns_its_free_heap_before_it_waits_for_the_workers(multi_key_log, monkeypatch) -> None:
    """Once its own stages are done, a parent whose replays run on workers gives its free heap back before waiting
    (it idles beside them at their peak); one that replays itself does not; without glibc nothing is done."""
    import ctypes
    import importlib
    import platform

    from analyzer import perf

    structure = importlib.import_module("analyzer.report.structure")  # the package's `structure` is its function
    calls: list[bool] = []
    monkeypatch.setattr(structure, "return_free_heap", lambda: calls.append(True))
    _report([multi_key_log], Inline(), monkeypatch, min_requests=300)
    assert calls == []
    local = Local(2)
    try:
        _report([multi_key_log], local, monkeypatch, min_requests=300)
    finally:
        local.close()
    assert calls == [True]
    assert perf.return_free_heap() is (platform.libc_ver()[0] == "glibc")

    def no_libc(*a, **k):
        raise OSError("no such library")

    perf._malloc_trim.cache_clear()
    monkeypatch.setattr(ctypes, "CDLL", no_libc)
    try:
        assert perf.return_free_heap() is False
    finally:
        perf._malloc_trim.cache_clear()


def test_each_report_stage_starts_with_the_heap_given_back(multi_key_log, monkeypatch) -> None:
    """Every stage of a report starts after a trim of the C heap (what the last stage freed goes back to the
    system before the next one allocates), without a collection: a collection walks every live object."""
    import gc

    from analyzer import perf, progress

    events: list[str] = []
    monkeypatch.setattr(perf, "_malloc_trim", lambda: lambda pad: events.append("trim") or 1)
    monkeypatch.setattr(progress, "stage", events.append)
    collect = gc.collect
    monkeypatch.setattr(gc, "collect", lambda *a: events.append("collect") or collect(*a))
    _report([multi_key_log], Inline(), monkeypatch, min_requests=300)
    del events[: events.index("price requests") - 1]  # (the ingest's stages are not the report's)
    stages = [k for k, e in enumerate(events) if e not in ("trim", "collect")]
    assert [events[k] for k in stages][:3] == ["price requests", "spend tables", "load messages"]
    assert "prefix tables" in events and "savings replays" in events
    assert all(events[k - 1] == "trim" for k in stages), events
    assert "collect" not in events


def test_a_worker_gives_its_heap_back_after_each_bin_and_each_comparison(multi_key_log, monkeypatch) -> None:
    """A worker trims its heap once each bin's engine is built (the bin's frames just went) and after each
    comparison it answers (the lever's replays just went), so that the next one reuses the pages."""
    from analyzer.savings import partitioned
    from analyzer.savings.levers import Lever

    lab, cat = _labelled(multi_key_log, monkeypatch)
    events: list[str] = []
    engine = partitioned.Engine
    monkeypatch.setattr(partitioned, "Engine", lambda *a: events.append("engine") or engine(*a))
    monkeypatch.setattr(partitioned, "return_free_heap", lambda collect=True: events.append(f"trim {collect}"))
    worker = partitioned.Worker(lab.cut(list(range(lab.n))), cat, {})
    assert events == ["engine", "trim False"] * lab.n
    events.clear()
    answers = worker.compare(None, Lever("batch everything"), "central")
    assert len(answers) == lab.n and events == ["trim False"]


def test_a_levers_rebuilt_calls_go_once_its_estimate_is_made(multi_key_log, monkeypatch) -> None:
    """An estimate builds its lever once and compares it in each TTL case it needs: once made, every worker lets
    those calls go (`release`), in every bin, and each bin's engine the outcomes it kept for twin cases, not only
    when KEEP_BUILT later levers push them out. The figures are those of workers that keep them."""
    from analyzer.savings import partitioned
    from analyzer.savings.levers import LastTurns, Lever
    from analyzer.savings.replayer import outcomes
    from analyzer.savings.trimming import estimate_policy

    store, cat, priced, seq, threads = _six_bins(multi_key_log, monkeypatch)
    engine = PartitionedEngine(priced, seq, threads, cat, {}, Inline())
    store.close()
    (worker,) = engine.workers
    assert engine.bins == 6 and len(worker.engines) == 6
    asked: list[str] = []
    compare = partitioned.Worker.compare
    monkeypatch.setattr(partitioned.Worker, "compare", lambda w, *a: asked.append(a[2]) or compare(w, *a))

    def gone() -> bool:
        return worker.built == {} and all(e._compared == ([], None, {}) for e in worker.engines.values())

    lever = Lever("last 2 turns", trim=LastTurns(2))
    every = outcomes(engine, lever)  # each case, the same calls
    assert asked == ["central", "low", "high"] and gone()
    asked.clear()
    estimate = estimate_policy(engine, LastTurns(2))  # inside the band here: the central case alone
    assert estimate is not None and estimate.requests > 0 and asked == ["central"] and gone()
    # workers that keep every lever's calls give the same figures
    monkeypatch.setattr(partitioned.Worker, "release", lambda w, token: [])
    assert outcomes(engine, lever) == every and not gone()
    assert estimate_policy(engine, LastTurns(2)).as_dict() == estimate.as_dict()  # type: ignore[union-attr]
    assert len(worker.built) == 2  # KEEP_BUILT


def test_a_worker_answers_a_comparison_with_the_changed_requests_count_and_costs_not_their_ids(
    multi_key_log, monkeypatch
) -> None:
    """The ids of a lever's changed requests stay in the worker: each bin's outcome carries their count, their cost
    as replayed and as logged, and the band, equal to what its engine gives for the ids it keeps; added up, what
    the parent shows."""
    from dataclasses import replace

    from analyzer.savings import partitioned
    from analyzer.savings.levers import LastTurns, Lever

    lab, cat = _labelled(multi_key_log, monkeypatch)
    worker = partitioned.Worker(lab.cut(list(range(lab.n))), cat, {})
    lever = Lever("last 2 turns", trim=LastTurns(2))
    for case in ("central", "low"):  # the band is the as-is replay's in the central case, whatever the case
        total = partitioned.Outcome(0.0, 0.0, set())
        for b, got in worker.compare(None, lever, case):
            own = worker.engines[b].compare(lever, case)
            assert got.affected == set() and own.affected_count == len(own.affected)
            assert got == replace(own, affected=set())
            assert got.affected_replayed == worker.engines[b].replayed_cost_of(own.affected)
            assert got.affected_logged == worker.engines[b].logged_cost_of(own.affected)
            assert got.band == worker.engines[b].band(own.affected)
            total += got
        assert total.affected_count > 0 and total.band > 0  # something changed, and the replay is not exact on it
    below = replace(total, affected_replayed=total.affected_logged - 0.5)
    assert below.band == pytest.approx(0.5)  # a replay below the bill is as far off as one above it


def _six_bins(log, monkeypatch):
    """The multi-key log in a store, cut into its 6 bins (300 requests make one): the store (the caller closes
    it), the catalogue, the priced period, its message sequence and its threads."""
    from analyzer import conversations
    from analyzer.report import priced_frame

    monkeypatch.setattr(partitions, "MIN_BIN_REQUESTS", 300)
    store = Store(None)
    store.ingest([str(log)])
    cat = load_catalogue()
    priced = priced_frame(store, cat, None, None)
    seq = conversations.load_sequence(store.con)
    return store, cat, priced, seq, conversations.reconstruct_threads(seq)


def test_the_cheaper_routing_targets_found_in_the_bins_are_those_the_whole_costs_give(multi_key_log, monkeypatch):
    """cheaper_targets asks each bin for its routed requests that cost less routed (`cheaper_in`), not for every
    request's two costs: the same targets as comparing the merged costs of the whole traffic, request by request."""
    from analyzer.savings.levers import Lever
    from analyzer.savings.routing import cheaper_targets, plan_routing

    store, cat, priced, seq, threads = _six_bins(multi_key_log, monkeypatch)
    plan = plan_routing(store.con, priced, threads, cat)
    engine = PartitionedEngine(priced, seq, threads, cat, {}, Inline())
    store.close()
    assert plan is not None and engine.bins == 6
    everything = Lever("route every eligible request", route=plan.targets, target_provider=plan.target_provider)
    base, alt = engine.by_base(), engine.by_base(everything)
    want = {rid: t for rid, t in plan.targets.items() if rid in alt and alt[rid] < base.get(rid, 0.0)}
    keep, dearer = cheaper_targets(engine, plan)
    assert keep == want and list(keep) == list(want)
    assert keep and dearer == len(plan.targets) - len(want)


def test_the_workers_put_arrow_on_the_system_allocator() -> None:
    """A pool's workers allocate Arrow's buffers (the bins they read) from the system allocator, whose free pages
    `return_free_heap` gives back; Arrow's default pool keeps them."""
    local = Local(2)
    try:
        assert local.once(_arrow_pool) == "system"
    finally:
        local.close()


def _arrow_pool() -> str:
    import pyarrow as pa

    return pa.default_memory_pool().backend_name


def test_the_misses_summed_in_the_bins_are_those_of_every_row(multi_key_log, monkeypatch):
    """Each bin sends its causes' counts, tokens and costs and its own costliest misses, not a row per miss: the
    block is the one every row gives (counted, grouped, sorted and cut in the parent, as it was made)."""
    from analyzer.savings.misses import CAUSES, bin_misses, cache_misses

    store, cat, priced, seq, threads = _six_bins(multi_key_log, monkeypatch)
    engine = PartitionedEngine(priced, seq, threads, cat, {}, Inline())
    store.close()
    assert engine.bins == 6
    parts = [p["top"] for p in engine.each(bin_misses, 10**9)]  # every miss of each bin as a row
    every = [row for part in parts for row in part]
    top = 7
    block = cache_misses(engine, top)
    assert block["misses"] == len(every) > top
    want_causes = []
    for cause in CAUSES:
        mine = [x for x in every if x["cause"] == cause]
        if not mine:
            continue
        details: dict[str, float] = {}
        for x in mine:
            g = f"option: {x['option']}" if cause == "expired" else x["detail"]
            details[g] = details.get(g, 0.0) + x["cost_usd"]
        want_causes.append(
            (
                cause,
                len({x["request_id"] for x in mine}),
                sum(x["tokens"] for x in mine),
                pytest.approx(sum(x["cost_usd"] for x in mine), rel=1e-12),
                {k: pytest.approx(v, rel=1e-12) for k, v in details.items()},
            )
        )
    got_causes = [
        (c["cause"], c["requests"], c["tokens"], c["cost_usd"], {d["detail"]: d["cost_usd"] for d in c["details"]})
        for c in block["causes"]
    ]
    assert sorted(got_causes, key=lambda c: c[0]) == sorted(want_causes, key=lambda c: c[0])
    assert len(got_causes) >= 2 and any(len(c[4]) >= 2 for c in got_causes)
    every.sort(key=lambda x: (-x["cost_usd"], x["ts"], x["request_id"], x["cause"]))
    assert block["top"] == every[:top]
    # the costliest come from more than one bin, so the bins' own cuts are what is merged
    from_bins = {i for row in block["top"] for i, part in enumerate(parts) if row in part}
    assert len(from_bins) >= 2


def test_the_routing_plan_waits_for_the_reports_own_stages_with_one_lane(multi_key_log, monkeypatch):
    """With one lane (a large traffic, whose routing job comes after every other), the routing plan is made once the
    report's parent has finished its own stages (`plan_after`): its frames came beside the prefix chains' walk, the
    parent's peak at a million calls. With several lanes it is made at once: routing may start within a second."""
    import threading

    from analyzer.savings import run as run_mod

    store, cat, priced, seq, threads = _six_bins(multi_key_log, monkeypatch)
    real = run_mod.plan_routing
    planned: list[bool] = []
    done = threading.Event()

    def plan(*args):
        planned.append(done.is_set())
        return real(*args)

    monkeypatch.setattr(run_mod, "plan_routing", plan)
    try:
        for lanes in (1, 2):
            if lanes == 2:
                monkeypatch.setattr(PartitionedEngine, "parallel", property(lambda self: 2))
            done = threading.Event()
            planned.clear()
            # Inline: the estimates are computed by result(), here on a thread of the test's
            pending = run_mod.start_estimates(store.con, priced, seq, threads, cat, {}, plan_after=done)
            out: dict[str, object] = {}
            waiting = threading.Thread(target=lambda p=pending, o=out: o.update(result=p.result()), daemon=True)
            waiting.start()
            if lanes == 1:
                waiting.join(timeout=1.5)
                assert planned == [] and waiting.is_alive()
                done.set()
            waiting.join(timeout=300)
            assert not waiting.is_alive() and planned == [lanes == 1]
            assert out["result"]["savings"]  # type: ignore[index]
    finally:
        store.close()
