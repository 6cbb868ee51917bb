"""Where the work runs on this machine: in this process, or on a pool of its processes.

- `Inline`: everything in this process, one unit after the other (small inputs; tests; `--workers 1`). It is the
  one way to say "run here": callers that have no other backend hold an Inline, never None.
- `Local`: a pool of processes on this machine (`--workers N`, default: the cores). Processes are started by a
  fork server, never forked from this one: polars and DuckDB run thread pools that a forked child would inherit
  half-alive (a polars call in it can hang for ever).

Both keep the contract of base.py (results in unit order, the first failure in that order raised here).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from analyzer.backends.base import UnitError, default_workers

T = TypeVar("T")
R = TypeVar("R")

# Imported once by the fork server, not by every worker (analyzer.warm: the tokenizer, loaded once); no_ctrl_c first,
# so a Ctrl-C during the rest prints nothing there.
PRELOAD = ["analyzer.backends.no_ctrl_c", "analyzer.savings.engine", "analyzer.store", "analyzer.warm"]


class Inline:
    """Every unit in this process, in order."""

    name = "inline"
    workers = 1

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        return [fn(x) for x in items]

    def actors(self, cls: type, args: Sequence[tuple[Any, ...]]) -> list[Any]:
        return [cls(*a) for a in args]

    def call(self, actors: Sequence[Any], method: str, args: Sequence[tuple[Any, ...]] | None = None) -> list[Any]:
        return [getattr(a, method)(*(args[i] if args is not None else ())) for i, a in enumerate(actors)]

    def close(self) -> None:
        pass


# The Inline every caller without a backend of its own holds (it has no state, so one serves them all).
INLINE = Inline()


def _context() -> multiprocessing.context.BaseContext:
    if os.environ.get("LLMCOST_MP") == "spawn":
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def _start_fork_server(ctx: multiprocessing.context.BaseContext) -> None:
    """Start the fork server (once) with Ctrl-C blocked in this thread, a mask the new interpreter inherits until
    its preload sets Ctrl-C aside (no_ctrl_c.py, then multiprocessing's own main): a Ctrl-C that came while it
    imported multiprocessing itself, before any of our code, printed its KeyboardInterrupt traceback beside the
    command's one line. Python starts its resource tracker the same way. This process's Ctrl-C waits the few
    milliseconds of the start and is then acted on."""
    if ctx.get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver, resource_tracker

    _short_socket_folder()

    # the fork server starts the resource tracker first, and that start unblocks Ctrl-C when it is done: started
    # here beforehand, it is left alone
    resource_tracker.ensure_running()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        forkserver.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


# A Unix socket's path has at most 107 bytes, and the fork server's is <temp>/pymp-XXXXXXXX/listener-XXXXXXXX.
SOCKET_PATH_MAX = 107
SOCKET_NAME_BYTES = len("/pymp-XXXXXXXX/listener-XXXXXXXX")


def _short_socket_folder() -> None:
    """Under a temporary folder with a long path (TMPDIR in a deep build or CI workspace), the fork server could
    not bind its socket: every pooled run stopped with "AF_UNIX path too long". Then multiprocessing's own folder
    for sockets (made once per process, removed at exit) is made in /tmp instead; the command's other temporary
    files stay where TMPDIR says."""
    import tempfile
    from multiprocessing import util

    if len(tempfile.gettempdir()) + SOCKET_NAME_BYTES <= SOCKET_PATH_MAX or not os.path.isdir("/tmp"):
        return
    saved = tempfile.tempdir
    tempfile.tempdir = "/tmp"
    try:
        util.get_temp_dir()  # made now, in /tmp, and kept for the process (a no-op if it was made before)
    finally:
        tempfile.tempdir = saved


def _quiet_worker() -> None:
    """A worker leaves Ctrl-C to the parent, which stops it: without this every worker printed its own
    KeyboardInterrupt traceback (Ctrl-C reaches the whole process group)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _interrupted() -> bool:
    """Is a Ctrl-C on its way out (close() called from a `finally` while a KeyboardInterrupt propagates)?"""
    x, seen = sys.exc_info()[1], set()
    while x is not None and id(x) not in seen:  # a cleanup error raised while handling one counts too
        if isinstance(x, KeyboardInterrupt):
            return True
        seen.add(id(x))
        x = x.__context__
    return False


def _actor_loop(conn: Any, cls: type, args: tuple[Any, ...]) -> None:
    _quiet_worker()
    try:
        obj = cls(*args)
        conn.send(("ok", None))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(("error", (type(e).__name__, str(e), traceback.format_exc())))
        return
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        method, a = msg
        try:
            conn.send(("ok", getattr(obj, method)(*a)))
        except BaseException as e:  # noqa: BLE001
            conn.send(("error", (type(e).__name__, str(e), traceback.format_exc())))


class _Job:
    """A function and its arguments, run by `Local.once` in the actor loop of a new worker."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn, self.args = fn, args

    def run(self) -> Any:
        return self.fn(*self.args)


class _Proc:
    def __init__(self, ctx: Any, cls: type, args: tuple[Any, ...]) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_actor_loop, args=(child, cls, args), daemon=True)
        self.proc.start()
        child.close()
        self.built = False  # the constructor's answer not yet read

    def result(self) -> Any:
        try:
            while not self.conn.poll(0.5):  # waits in steps, so that a Ctrl-C is acted on at once, not at the end
                if not self.proc.is_alive() and not self.conn.poll(0):
                    break  # recv() below says how it died
            status, value = self.conn.recv()
        except EOFError:
            raise UnitError("WorkerDied", f"worker process exited with code {self.proc.exitcode}", "") from None
        if status == "error":
            raise UnitError(*value)
        return value


class Local:
    """A pool of `workers` processes on this machine."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()
        self._ctx = _context()
        if self.workers > 1:
            # One thread of polars per worker: the workers already fill the cores, and a pool of polars threads
            # in each would spin against the others on many small frames. The fork server (a new interpreter,
            # started here) and every worker inherit it; this process's polars pool is already sized.
            os.environ.setdefault("POLARS_MAX_THREADS", "1")
        # The fork server starts at the first unit sent to a worker, not here: a small run never starts one (its
        # imports and tokenizer load cost ~1 s of a core that this process would rather have).
        self._pool: ProcessPoolExecutor | None = None
        self._procs: list[_Proc] = []
        self.warm = False  # whether this pool started its fork server (`prestart`, `map` or `actors`)

    def prestart(self) -> None:
        """Start the fork server now, when the caller knows it will send work to the pool: its preload (the
        imports and the tokenizer, ~0.6 s of a core) then runs while this process does its own work first, on
        the core it leaves idle, instead of holding the pool's first units back."""
        if self.workers > 1:
            self._start()

    def _start(self) -> None:
        _start_fork_server(self._ctx)
        self.warm = self._ctx.get_start_method() == "forkserver"  # spawned workers load everything again

    def once(self, fn: Callable[..., R], *args: Any) -> R:
        """`fn(*args)` in a new worker, which ends with its answer: for a small job that needs what the fork server
        preloaded (the tokenizer) while this process has not loaded it. A worker left running would count its
        shared pages again in the run's summed peak. Start the fork server first (`warm`)."""
        p = _Proc(self._ctx, _Job, (fn, args))
        self._procs.append(p)  # a Ctrl-C meanwhile stops it with the others (`close`)
        try:
            p.built = True
            p.result()  # the constructor's answer
            p.conn.send(("run", ()))
            return p.result()
        finally:
            with contextlib.suppress(OSError):
                p.conn.send(None)
            p.proc.join(timeout=5)
            if p.proc.is_alive():
                p.proc.kill()
            with contextlib.suppress(ValueError):  # gone already if `close` ran meanwhile
                self._procs.remove(p)

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if self.workers <= 1 or len(items) <= 1:
            return [fn(x) for x in items]
        if self._pool is None:
            self._start()
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=self._ctx, initializer=_quiet_worker)
        # Many items go to the workers a few tasks each (one pickled message per task, not per item): a window of
        # hundreds of small files would otherwise cost a round trip each. A few items (ranges) go one per task.
        chunk = max(1, len(items) // (4 * self.workers))
        return list(self._pool.map(fn, items, chunksize=chunk))

    def actors(self, cls: type, args: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Started, not waited for: they build their state while this process goes on (a failure to build is
        raised by the first `call`). The task pool's processes go first: actors come after the parsing (a later
        `map` starts a new pool), and idle parse workers hold ~200 MB each."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self._start()
        procs = [_Proc(self._ctx, cls, a) for a in args]
        self._procs.extend(procs)
        return procs

    def call(self, actors: Sequence[Any], method: str, args: Sequence[tuple[Any, ...]] | None = None) -> list[Any]:
        for i, p in enumerate(actors):
            # a worker whose constructor failed has exited: its error is read below
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                p.conn.send((method, args[i] if args is not None else ()))
        out: list[Any] = []
        first: UnitError | None = None
        for p in actors:  # collect every answer, so no pipe is left holding one
            try:
                if not p.built:
                    p.built = True
                    p.result()  # the constructor's answer comes first
                out.append(p.result())
            except UnitError as e:
                first = first or e
                out.append(None)
        if first is not None:
            raise first
        return out

    def close(self) -> None:
        if _interrupted():  # Ctrl-C: stop every worker now, not after its unit (22 s on the real traces)
            self._kill()
            return
        for p in self._procs:
            with contextlib.suppress(BrokenPipeError, OSError):
                p.conn.send(None)
        for p in self._procs:
            p.proc.join(timeout=5)
            if p.proc.is_alive():
                p.proc.kill()
        self._procs = []
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def _kill(self) -> None:
        for p in self._procs:
            p.proc.kill()
        for p in self._procs:
            p.proc.join(timeout=1)
        self._procs = []
        if self._pool is not None:
            procs = list((getattr(self._pool, "_processes", None) or {}).values())
            for proc in procs:
                with contextlib.suppress(OSError):
                    proc.kill()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
