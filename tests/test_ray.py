"""`--engine ray`: the Ray backend keeps the backends' contract (unit order, actor state, errors raised here), and
the report model it gives is exactly the local engine's.

Skipped when Ray is not installed (it is an optional extra), except with LLMCOST_REQUIRE_RAY=1 (CI), where a
missing Ray is a failure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analyzer.backends import backend
from analyzer.backends.base import UnitError
from analyzer.errors import InputError
from tests.conftest import ROOT, SAMPLES

if importlib.util.find_spec("ray") is None:
    if os.environ.get("LLMCOST_REQUIRE_RAY") == "1":
        pytest.fail("LLMCOST_REQUIRE_RAY=1 but Ray is not installed (pip install '.[ray]')", pytrace=False)
    pytest.skip("Ray is not installed (the optional extra: pip install 'llmcost[ray]')", allow_module_level=True)

from analyzer.backends.ray import Ray, runtime_env  # noqa: E402 - only once Ray is known to be there


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the whole module (starting one takes seconds); backends made here use it as it is."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env=runtime_env())
    yield ray
    ray.shutdown()


@pytest.fixture
def be(local_ray):
    b = Ray()
    yield b
    b.close()


def square(x: int) -> int:
    return x * x


def scale(k: int, x: int) -> int:
    return k * x


def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


def input_error(x: int) -> int:
    raise InputError(f"file{x}.jsonl: cannot read")


class Counter:
    def __init__(self, start: int) -> None:
        if start < 0:
            raise ValueError(f"negative start {start}")
        self.n = start

    def add(self, k: int) -> int:
        self.n += k
        return self.n

    def boom(self) -> None:
        raise KeyError("nope")

    def where(self) -> int:
        return os.getpid()


def test_map_keeps_unit_order(be) -> None:
    assert be.map(square, list(range(7))) == [0, 1, 4, 9, 16, 25, 36]
    assert be.map(square, []) == []


def test_map_takes_a_partial_holding_shared_input(be) -> None:
    import functools

    assert be.map(functools.partial(scale, 3), [1, 2, 3]) == [3, 6, 9]


def test_actors_keep_state_and_order(be) -> None:
    actors = be.actors(Counter, [(10,), (20,), (30,)])
    assert be.call(actors, "add", [(1,), (2,), (3,)]) == [11, 22, 33]
    assert be.call(actors, "add", [(1,), (1,), (1,)]) == [12, 23, 34]
    pids = be.call(actors, "where")
    assert len(set(pids)) == 3 and os.getpid() not in pids  # each actor is its own process, not this one


class Holds:
    def __init__(self, shared: list[int], own: int) -> None:
        self.total = sum(shared) + own

    def total_plus(self, extra: list[int]) -> int:
        return self.total + sum(extra)


def test_an_object_given_to_every_actor_goes_to_the_object_store_once(be, local_ray) -> None:
    shared = list(range(100_000))
    args = [(shared, 1), (shared, 2), (shared, 3)]
    sent = be._shared(args)
    assert isinstance(sent[0][0], local_ray.ObjectRef) and sent[0][0] is sent[1][0] is sent[2][0]
    assert [a[1] for a in sent] == [1, 2, 3]  # what is not shared goes as it is
    actors = be.actors(Holds, args)
    extra = [1, 2, 3]
    want = sum(shared)
    assert be.call(actors, "total_plus", [(extra,)] * 3) == [want + 7, want + 8, want + 9]


def test_a_failing_unit_raises_its_own_type_here(be) -> None:
    with pytest.raises(ValueError, match="three"):
        be.map(fail_on_three, [1, 2, 3, 4])
    # an llmcost error keeps its type, so the command line's exit code is the local engine's
    with pytest.raises(InputError, match="file1.jsonl: cannot read"):
        be.map(input_error, [1, 2])
    actors = be.actors(Counter, [(0,)])
    with pytest.raises(KeyError, match="nope"):
        be.call(actors, "boom")
    # the actor survives its method's exception
    assert be.call(actors, "add", [(5,)]) == [5]


def test_a_failing_constructor_raises_in_actors(be) -> None:
    with pytest.raises(ValueError, match="negative start -1"):
        be.actors(Counter, [(1,), (-1,)])


def test_ray_failures_become_unit_errors(be) -> None:
    with pytest.raises(UnitError, match="WorkerCrashedError|exited"):
        be.map(os._exit, [3])


def test_close_kills_actors_and_leaves_a_ray_it_did_not_start(local_ray) -> None:
    b = Ray()
    actors = b.actors(Counter, [(1,)])
    b.close()
    assert local_ray.is_initialized()  # the fixture's Ray, not ours to stop
    # ray.kill takes effect asynchronously: a call sent at once may still be answered, so ask until the actor
    # is gone (an actor that is never killed keeps answering and fails this after 30 s)
    deadline = time.monotonic() + 30
    with pytest.raises(local_ray.exceptions.RayActorError):
        while time.monotonic() < deadline:
            local_ray.get(actors[0].run.remote("add", 1), timeout=30)
            time.sleep(0.2)


def test_backend_factory_builds_ray(local_ray) -> None:
    b = backend("ray", workers=2)
    try:
        assert b.name == "ray" and b.workers == 2
        assert b.map(square, [2, 3]) == [4, 9]
    finally:
        b.close()


def test_runtime_env_carries_llmcost_settings_and_the_checkout(monkeypatch) -> None:
    monkeypatch.setenv("LLMCOST_MAX_RECORD_MB", "7")
    monkeypatch.setenv("LLMCOST_HASH_SALT", "secret")
    env = runtime_env()["env_vars"]
    assert env["LLMCOST_MAX_RECORD_MB"] == "7"
    assert "LLMCOST_HASH_SALT" not in env  # a secret no unit needs stays out of the cluster's job table
    if "PYTHONPATH" in env:  # running from a source checkout: the workers import this very one
        assert env["PYTHONPATH"].split(os.pathsep)[0] == str(ROOT)


def test_an_unreachable_cluster_is_one_line_at_once(runner) -> None:
    """Nothing listens on port 1: one line and the usage exit code, not Ray's minutes of retries."""
    from analyzer.cli import cli

    res = runner.invoke(cli, ["report", str(SAMPLES), "--engine", "ray", "--ray-address", "127.0.0.1:1"])
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines() == [
        "llmcost: error: cannot reach the Ray cluster at 127.0.0.1:1: Connection refused"
    ]


# ---- the report model: --engine ray gives exactly the local engine's ------------------------------------------


@pytest.fixture(scope="module")
def log_20k(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("log20k")
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "make_log.py"), str(out), "--calls", "20000"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out


def _report_model(*args: str) -> dict:
    from click.testing import CliRunner

    from analyzer.cli import cli
    from tests.test_report import _normalise

    res = CliRunner().invoke(cli, ["report", *args, "--json", "-"])
    assert res.exit_code == 0, res.output
    return _normalise(json.loads(res.stdout))


def _same_model(inputs: list[str], monkeypatch, bin_requests: int) -> list[tuple[str, int]]:
    """The local engine's report model and Ray's are equal; returns what ran on Ray (the function of each `map`
    and the class of each set of actors, with how many units), to show that the work did run there. Bins of
    `bin_requests` requests (partitions.py makes none below 20,000), so that a small log is cut into several,
    held by two workers."""
    from analyzer import partitions
    from analyzer.savings import partitioned

    monkeypatch.setattr(partitions, "MIN_BIN_REQUESTS", bin_requests)
    monkeypatch.setattr(partitioned, "OFFLOAD_MIN", 0)  # a small log's replays go to the workers too
    ran: list[tuple[str, int]] = []
    real_map, real_actors = Ray.map, Ray.actors

    def spy_map(self, fn, items):
        ran.append((getattr(fn, "__name__", repr(fn)), len(items)))
        return real_map(self, fn, items)

    def spy_actors(self, cls, args):
        ran.append((cls.__name__, len(args)))
        return real_actors(self, cls, args)

    monkeypatch.setattr(Ray, "map", spy_map)
    monkeypatch.setattr(Ray, "actors", spy_actors)
    local = _report_model(*inputs, "--engine", "local")
    on_ray = _report_model(*inputs, "--engine", "ray")
    assert local["totals"]["requests"] > 0
    assert on_ray == local  # exactly: every float summed in the same order
    return ran


def test_ray_report_is_the_local_one_on_the_samples(local_ray, monkeypatch) -> None:
    ran = _same_model([str(SAMPLES)], monkeypatch, 10)
    assert ("Worker", 2) in ran  # the replays ran on two Ray actors


def test_ray_report_is_the_local_one_on_a_20k_call_log(local_ray, log_20k, monkeypatch) -> None:
    ran = _same_model([str(log_20k)], monkeypatch, 2_500)
    # the two files (330 MB) parsed in ~32 MB ranges as Ray tasks, and the replays on Ray actors
    assert sum(n for name, n in ran if name == "parse_unit") >= 8
    assert any(name == "Worker" for name, _ in ran), ran


def test_ray_reads_object_storage_urls(local_ray, tmp_path, monkeypatch) -> None:
    """Files named by URL (file:// stands for s3:// here: every Ray worker can read it) are parsed by Ray tasks,
    which open them where they run, and report as the same files on disk."""
    pytest.importorskip("fsspec")
    from analyzer.ingest import run

    # parse even these few KB on the workers (a file in object storage goes to them whatever its size: no
    # POOL_FILE_BYTES here)
    monkeypatch.setattr(run, "PARALLEL_MIN_BYTES", 0)
    names = ["openai_chat.jsonl", "anthropic_messages.jsonl"]
    for name in names:
        (tmp_path / name).write_bytes((SAMPLES / name).read_bytes())
    ran: list[list[str]] = []
    real_map = Ray.map

    def spy_map(self, fn, items):
        ran.append([u.path for u in items])
        return real_map(self, fn, items)

    monkeypatch.setattr(Ray, "map", spy_map)
    url = _report_model(f"file://{tmp_path}/", "--engine", "ray")
    assert sorted(p for unit in ran for p in unit) == sorted(f"file://{tmp_path / n}" for n in names)
    disk = _report_model(str(tmp_path), "--engine", "local")
    for model in (url, disk):
        for f in model["ingest"]["sources"] + model["ingest"]["this_run"]:
            f["path"] = Path(f["path"]).name
    assert url == disk
