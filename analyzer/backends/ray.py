"""The Ray backend (`--engine ray`): the units of base.py as Ray tasks and actors, on a local Ray or a cluster.

Same contract as the other backends (see base.py): `map` gives results in item order, `call` in actor order,
and the first failure in that order is raised here, as its own type where Ray hands it back (an `InputError` in
a parse task is still an `InputError`, so the command line's exit codes do not change with the engine).

Where Ray runs:
- no address: a Ray started here, on this machine, with `workers` CPUs (default: the cores), shut down by
  `close()`. Ray started by someone else in this process (a test fixture) is used as it is and left running.
- "auto", "host:6379" or "ray://head:10001": an existing cluster (`ray start --head`, KubeRay); its nodes must
  have the same llmcost installed (docs/ray.md).

Ray is an optional extra (`pip install 'llmcost[ray]'`); without it `--engine ray` is a one-line usage error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import sysconfig
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from analyzer import perf
from analyzer.backends.base import UnitError, default_workers
from analyzer.errors import UsageError

T = TypeVar("T")
R = TypeVar("R")

_SCALARS = (str, bytes, int, float, bool, type(None))

INSTALL_HINT = "--engine ray needs Ray, an optional extra: pip install 'llmcost[ray]'"
# Ray's usage statistics would be sent over the network from a Ray started here: llmcost reaches no network but
# the cluster and storage the user names. Set before Ray reads it, unless the user set it.
_RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}


def _import_ray() -> Any:
    for k, v in _RAY_ENV.items():
        os.environ.setdefault(k, v)
    try:
        import ray
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return ray


def _loopback_only(ray: Any) -> None:
    """A Ray started for one run listens on loopback only. Ray binds its servers (GCS, raylet, workers, object
    manager) to the node's IP, and turns a node IP of 127.0.0.1 into the machine's external address unless it
    runs as a single-machine Ray (its mode on macOS and Windows): that mode, asked for here, keeps every one of
    them on 127.0.0.1, so nothing another machine can reach is opened (Ray's servers have no authentication by
    default). The dashboard is off and usage statistics are not sent (`_RAY_ENV`)."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # read by the processes Ray starts
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    if constants is not None and hasattr(constants, "ENABLE_RAY_CLUSTER"):
        constants.ENABLE_RAY_CLUSTER = False  # read at ray.init in this process, which imported it already


def runtime_env() -> dict[str, Any]:
    """What Ray's workers need to run llmcost's units as this process would: the `LLMCOST_*` settings (record
    limits, ...) and, when llmcost runs from a source checkout rather than an installed package,
    that checkout on PYTHONPATH (a local Ray's workers would otherwise import whatever llmcost the interpreter
    has installed, or none). On a cluster the nodes' own installed llmcost is used (docs/ray.md)."""
    # Not the hash salt: a secret, which Ray would keep in the cluster's job table, and which no unit uses (ids
    # are hashed in this process's DuckDB).
    env = {k: v for k, v in os.environ.items() if k.startswith("LLMCOST_") and k != "LLMCOST_HASH_SALT"}
    import analyzer

    root = Path(analyzer.__file__).resolve().parent.parent
    installed = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
    if root not in installed:
        paths = [str(root)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return {"env_vars": env}


def _apply(fn: Callable[[T], R], item: T) -> R:
    """One `map` unit: `fn` comes from the object store, put there once for all units (a partial holding a
    large shared input is then sent to each node once, not once per item)."""
    return fn(item)


class _Holder:
    """One actor: holds `cls(*args)` and runs its methods. A constructor's exception is kept and raised by
    `ready()`, so it comes back as its own type (Ray turns a failed constructor into an "actor died" error
    that has lost it)."""

    def __init__(self, cls: type, *args: Any) -> None:
        perf.freeze_after_pauses()  # an actor's process lives as long as the actor, for one command
        perf.give_freed_memory_back()  # its bins' Arrow buffers on the allocator that perf.return_free_heap trims
        self.obj: Any = None
        self.failed: BaseException | None = None
        try:
            self.obj = cls(*args)
        except Exception as e:  # noqa: BLE001 - raised again by ready(), where the caller waits
            self.failed = e

    def ready(self) -> None:
        if self.failed is not None:
            raise self.failed

    def run(self, method: str, *args: Any) -> Any:
        return getattr(self.obj, method)(*args)


class Ray:
    """Tasks and actors on Ray; `workers` is the CPUs it may use (those of the cluster when one is given)."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        ray = self._ray = _import_ray()
        address = address or os.environ.get("RAY_ADDRESS") or None  # Ray's own convention (KubeRay jobs set it)
        self._started = False
        if address is not None:
            _check_reachable(address)
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "runtime_env": runtime_env(),
                "logging_level": logging.ERROR,  # no "Started a local Ray instance" and such on stderr
                "log_to_driver": False,  # workers' own output stays in Ray's log files, not on the user's terminal
            }
            if address is None:
                kwargs |= {"num_cpus": workers or default_workers(), "include_dashboard": False}
                _loopback_only(ray)
            try:
                ray.init(address=address, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as e:
                what = f"connect to the Ray cluster at {address}" if address else "start a local Ray"
                raise UsageError(f"cannot {what}: {_first_line(e)}") from None
            self._started = True
        self._remote_apply = ray.remote(_apply)
        # Actors hold no CPU while they run (Ray's default), so any number of them can be made without waiting
        # for one another; SPREAD places them across the nodes instead of piling them onto the first one.
        self._remote_holder = ray.remote(_Holder).options(scheduling_strategy="SPREAD")
        # How many units are worth running at once (the replays make one actor per worker): as asked, else the
        # cluster's CPUs.
        self.workers = max(1, workers or int(ray.cluster_resources().get("CPU", 0)) or default_workers())
        self._actors: list[Any] = []

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if not items:
            return []
        fn_ref = self._ray.put(fn)
        return self._gather([self._remote_apply.remote(fn_ref, x) for x in items])

    def actors(self, cls: type, args: Sequence[tuple[Any, ...]]) -> list[Any]:
        made = [self._remote_holder.remote(cls, *a) for a in self._shared(args)]
        self._actors.extend(made)
        # Wait for every constructor, so that one that fails raises here, as on the other backends.
        self._gather([a.ready.remote() for a in made])
        return made

    def call(self, actors: Sequence[Any], method: str, args: Sequence[tuple[Any, ...]] | None = None) -> list[Any]:
        # a call's arguments are small (a lever, a token): sent as they are, which Ray inlines in the request
        return self._gather(
            [a.run.remote(method, *(args[i] if args is not None else ())) for i, a in enumerate(actors)]
        )

    def _shared(self, args: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """The argument tuples with every object given to more than one actor (the price catalogue) put in the
        object store once and passed by reference, instead of serialised again for each actor. Ray hands
        a unit the object itself for a reference given as a whole argument."""
        seen = Counter(id(x) for a in args for x in a if not isinstance(x, _SCALARS))
        refs: dict[int, Any] = {}
        out = []
        for a in args:
            row = []
            for x in a:
                if not isinstance(x, _SCALARS) and seen[id(x)] > 1:
                    if id(x) not in refs:
                        refs[id(x)] = self._ray.put(x)
                    x = refs[id(x)]
                row.append(x)
            out.append(tuple(row))
        return out

    def _gather(self, refs: list[Any]) -> list[Any]:
        """Every result, in order; the first failure in that order raised once all are in (none is left
        unread: Ray prints an "unhandled error" for each failed result nobody asked for)."""
        out: list[Any] = []
        first: BaseException | None = None
        for ref in refs:
            try:
                out.append(self._ray.get(ref))
            except self._ray.exceptions.RayError as e:
                first = first or _original(e)
                out.append(None)
        if first is not None:
            raise first
        return out

    def close(self) -> None:
        ray = self._ray
        for a in self._actors:
            with contextlib.suppress(Exception):  # an actor already gone, or a cluster already lost
                ray.kill(a)
        self._actors = []
        if self._started and ray.is_initialized():
            ray.shutdown()
        self._started = False


def _check_reachable(address: str) -> None:
    """Fail in one line, at once, when nothing answers at a cluster's address: Ray itself would retry for
    minutes, printing a warning every few seconds. ("auto" finds a cluster started on this machine, or says
    there is none.)"""
    if address == "auto":
        return
    hostport = address.removeprefix("ray://").rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        host, port = hostport, "10001" if address.startswith("ray://") else "6379"
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=10):
            pass
    except OSError as e:
        raise UsageError(f"cannot reach the Ray cluster at {address}: {e.strerror or e}") from None


def _original(e: BaseException) -> BaseException:
    """The unit's own exception where Ray sends it back (same type and message, with the worker's traceback as a
    note); for Ray's own failures (a worker or node lost, an exception that could not be sent back), a UnitError
    naming the failure and its last line."""
    ray = sys.modules["ray"]
    cause = getattr(e, "cause", None)
    if isinstance(e, ray.exceptions.RayTaskError) and isinstance(cause, BaseException):
        if not isinstance(cause, ray.exceptions.RayError):
            cause.add_note(f"raised in a Ray worker:\n{e}")
            return cause
        return _original(cause)
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return UnitError(type(e).__name__, lines[-1] if lines else type(e).__name__, str(e))


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
