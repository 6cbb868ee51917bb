"""Issue 23, third round of hostile input: values at their types' edges, secrets without a known shape, records
that cost more than linear time or memory, nesting deep enough to end a run, and reject floods."""

from __future__ import annotations

import pytest

from tests.robustness.conftest import SAMPLES, run_cli

PROJECT = ["project", "--requests", "1000", "--input-tokens", "2000", "--output-tokens", "300", "--model", "gpt-4o"]


def _usage_error(res, option: str) -> None:
    err = res.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err, err
    assert res.returncode == 2, (res.returncode, err)
    assert option in err, err


# item 10: option values at their types' edges are usage errors (exit 2), never tracebacks


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
@pytest.mark.parametrize("option", ["--until", "--since"])
def test_dates_at_the_edge_of_the_calendar(option, day, tmp_path):
    res = run_cli("report", str(SAMPLES), option, day, "-o", str(tmp_path / "r.html"))
    _usage_error(res, option)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--input-tokens", "1e19"),
        ("--input-tokens", "1e308"),
        ("--requests", "1e308"),
        ("--requests", "nan"),
        ("--output-tokens", "inf"),
        ("--cached-prefix", "1e300"),
        ("--growth", "inf"),
        ("--growth", "1e308"),
        ("--growth", "-2"),
        ("--route-share", "nan"),
        ("--cache-hit-rate", "nan"),
    ],
)
def test_project_numbers_at_the_edge(option, value):
    args = list(PROJECT)
    if option in args:
        args[args.index(option) + 1] = value
    else:
        args += [option, value]
    res = run_cli(*args)
    _usage_error(res, option)


def test_project_at_the_largest_accepted_values_runs():
    res = run_cli(
        "project", "--requests", "1e12", "--input-tokens", "1e8", "--output-tokens", "1e8", "--model", "gpt-4o",
        "--growth", "1000",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr.decode()
    assert b"Traceback" not in res.stderr


@pytest.mark.parametrize("name", [":memory:", ":MEMORY:"])
def test_db_in_memory_is_refused(name):
    res = run_cli("ingest", str(SAMPLES), "--db", name)
    _usage_error(res, "--db")
