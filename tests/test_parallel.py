"""The backends run units and give results back in unit order; a failing unit raises here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import analyzer.backends
from analyzer.backends import backend
from analyzer.backends.base import WORKERS_ENV, UnitError
from analyzer.backends.local import Inline, Local
from tests.conftest import ROOT


def square(x: int) -> int:
    return x * x


def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


class Counter:
    def __init__(self, start: int) -> None:
        if start < 0:
            raise ValueError("negative start")
        self.n = start

    def add(self, k: int) -> int:
        self.n += k
        return self.n

    def boom(self) -> None:
        raise KeyError("nope")


@pytest.fixture(params=["inline", "local"])
def be(request):
    b = Inline() if request.param == "inline" else Local(2)
    yield b
    b.close()


def test_map_keeps_unit_order(be) -> None:
    assert be.map(square, list(range(7))) == [0, 1, 4, 9, 16, 25, 36]


def test_actors_keep_state_and_order(be) -> None:
    actors = be.actors(Counter, [(10,), (20,), (30,)])
    assert be.call(actors, "add", [(1,), (2,), (3,)]) == [11, 22, 33]
    assert be.call(actors, "add", [(1,), (1,), (1,)]) == [12, 23, 34]


def test_a_failing_unit_raises_here(be) -> None:
    with pytest.raises((ValueError, UnitError), match="three"):
        be.map(fail_on_three, [1, 2, 3, 4])
    actors = be.actors(Counter, [(0,)])
    with pytest.raises((KeyError, UnitError), match="nope"):
        be.call(actors, "boom")
    # the actor survives its method's exception
    assert be.call(actors, "add", [(5,)]) == [5]


def test_a_constructor_that_fails_raises_at_the_first_call(be) -> None:
    with pytest.raises((ValueError, UnitError), match="negative start"):
        actors = be.actors(Counter, [(1,), (-1,)])
        be.call(actors, "add", [(1,), (1,)])


def test_a_small_run_starts_no_worker_process(tmp_path) -> None:
    """Under the thresholds (2 MB to parse, 40,000 requests to replay) nothing is started: no fork server."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    script = (
        "import multiprocessing.forkserver as fs, sys\n"
        "from click.testing import CliRunner\n"
        "from analyzer.cli import cli\n"
        f"r = CliRunner().invoke(cli, ['report', {str(root / 'sample_logs')!r}, '--workers', '2', '--json', "
        f"{str(tmp_path / 's.json')!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('forkserver', fs._forkserver._forkserver_pid)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("forkserver None"), out.stdout + out.stderr


def test_starting_actors_lets_the_idle_task_pool_go() -> None:
    be = Local(2)
    try:
        assert be.map(square, [1, 2, 3]) == [1, 4, 9]
        pool_pids = {p.pid for p in be._pool._processes.values()}
        actors = be.actors(Counter, [(1,)])
        assert be.call(actors, "add", [(1,)]) == [2]
        import os

        gone = [pid for pid in pool_pids if not os.path.exists(f"/proc/{pid}")]
        assert set(gone) == pool_pids
        assert be.map(square, [4, 5]) == [16, 25]  # a new pool when asked again
    finally:
        be.close()


def test_one_worker_runs_here_on_inline(monkeypatch) -> None:
    monkeypatch.delenv(WORKERS_ENV, raising=False)
    assert isinstance(backend("local", 1), Inline)
    two = backend("local", 2)
    assert isinstance(two, Local) and two.workers == 2
    two.close()
    monkeypatch.setenv(WORKERS_ENV, "1")
    assert isinstance(backend(), Inline)


def test_no_backend_imports_another() -> None:
    """Each backend imports only the contract (base.py); the factory that picks one is the package's, above them."""
    root = Path(analyzer.backends.__file__).parent
    for name in ("base", "local", "ray"):
        tree = ast.parse((root / f"{name}.py").read_text())
        mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        mods |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        ours = {m for m in mods if m.startswith("analyzer.backends")}
        assert ours == (set() if name == "base" else {"analyzer.backends.base"}), name


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the fork server's signal mask in /proc")
def test_a_ctrl_c_while_the_fork_server_starts_prints_nothing(tmp_path) -> None:
    """A terminal's Ctrl-C reaches the fork server too. One that came while it imported multiprocessing, before
    any of our code (no_ctrl_c.py) ran, printed its KeyboardInterrupt traceback (seen in CI at 1 s into the real
    traces). It now starts with Ctrl-C blocked, as Python starts its resource tracker: Ctrl-Cs sent to it from its
    first moment print nothing, and its mask shows SIGINT blocked."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    script = (
        "import os, signal, time\n"
        "import multiprocessing.forkserver as fs\n"
        "from analyzer.backends.local import Local, _start_fork_server\n"
        "_start_fork_server(Local(2)._ctx)\n"
        "pid = fs._forkserver._forkserver_pid\n"
        "for _ in range(50):\n"
        "    os.kill(pid, signal.SIGINT)\n"
        "    time.sleep(0.01)\n"
        "blocked = [l for l in open(f'/proc/{pid}/status') if l.startswith('SigBlk:')][0].split()[1]\n"
        "print('alive', os.waitpid(pid, os.WNOHANG) == (0, 0), 'blocked', bool(int(blocked, 16) & 2))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "alive True blocked True", out.stdout + out.stderr
    assert "Traceback" not in out.stderr and "KeyboardInterrupt" not in out.stderr, out.stderr


def test_the_pool_starts_under_a_temporary_folder_with_a_long_path(tmp_path) -> None:
    """A TMPDIR deeper than a Unix socket's 107 bytes allow for the fork server's socket stopped every pooled run
    ("AF_UNIX path too long"). The socket's folder is then made in /tmp; the pool works, and the long folder
    still holds the command's other temporary files."""
    import os
    import subprocess
    import sys

    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    code = (
        "import tempfile\n"
        "from analyzer.backends.local import Local\n"
        "from tests.test_parallel import square\n"
        "be = Local(2)\n"
        "try:\n"
        "    print(be.map(square, list(range(6))), tempfile.gettempdir())\n"
        "finally:\n"
        "    be.close()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "TMPDIR": str(deep)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[0,", "1,", "4,", "9,", "16,", "25]", str(deep)]
