"""`--engine` and `--ray-address` on the command line, with or without Ray installed."""

from __future__ import annotations

import sys

from analyzer.cli import cli
from tests.conftest import SAMPLES


def test_without_ray_the_engine_says_how_to_install_it(runner, monkeypatch) -> None:
    """A Python where `import ray` fails: one line naming the extra, the usage exit code, no traceback."""
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    res = runner.invoke(cli, ["report", str(SAMPLES / "openai_chat.jsonl"), "--engine", "ray"])
    assert res.exit_code == 2, res.output
    assert res.stderr.strip().splitlines() == [
        "llmcost: error: --engine ray needs Ray, an optional extra: pip install 'llmcost[ray]'"
    ]


def test_a_ray_address_needs_the_ray_engine(runner) -> None:
    res = runner.invoke(cli, ["report", str(SAMPLES / "openai_chat.jsonl"), "--ray-address", "auto"])
    assert res.exit_code == 2
    assert "--ray-address needs --engine ray" in res.stderr


def test_the_local_engine_is_the_default(runner) -> None:
    res = runner.invoke(cli, ["report", "--help"])
    assert "--engine [local|ray]" in res.output and "[default: local]" in res.output
