"""The backtest's per-call error figures (savings/backtest.py) against the per-call Python they replaced."""

from __future__ import annotations

import random
import statistics

import polars as pl
import pytest

from analyzer.savings.backtest import backtest_summary


def _errors_by_hand(rows: list[dict]) -> tuple[float | None, float | None]:
    """Median and p95 of |simulated - reported| cache reads in points of the call's input, one call at a time."""
    errs = sorted(
        abs(r["sim_read"] - r["cache_read_tokens"]) / r["input_tokens"] * 100 for r in rows if r["input_tokens"]
    )
    if not errs:
        return None, None
    return round(statistics.median(errs), 2), round(errs[min(len(errs) - 1, int(0.95 * len(errs)))], 2)


def _rows(n: int, seed: int) -> list[dict]:
    rnd = random.Random(seed)
    out = []
    for k in range(n):
        inp = rnd.choice([0, 1, 3, 7, 100, 1024, 3000, 123457])
        out.append(
            {
                "request_id": f"r{k}",
                "provider": rnd.choice(["openai", "anthropic"]),
                "model": rnd.choice(["a", "b"]),
                "input_tokens": inp,
                "cache_read_tokens": rnd.randint(0, inp),
                "cost": rnd.random() / 100,
                "sim_read": rnd.randint(0, inp),
                "sim_cost": rnd.random() / 100,
            }
        )
    return out


@pytest.mark.parametrize(("n", "seed"), [(1, 0), (2, 1), (3, 2), (10, 3), (11, 4), (500, 5), (501, 6), (4, 7)])
def test_the_per_call_error_figures_equal_the_per_call_python(n, seed):
    rows = _rows(n, seed)
    got = backtest_summary(pl.DataFrame(rows), warm={"r0"})
    parts = [
        (got, rows),
        (got["after_first_request_of_each_scope"], [r for r in rows if r["request_id"] != "r0"]),
        *((p, [r for r in rows if r["provider"] == p["provider"]]) for p in got["by_provider"]),
        *(
            (m, [r for r in rows if (r["provider"], r["model"]) == (m["provider"], m["model"])])
            for m in got["by_model"]
        ),
    ]
    for summary, mine in parts:
        assert (summary["per_call_error_points_median"], summary["per_call_error_points_p95"]) == _errors_by_hand(mine)
    assert any(r["input_tokens"] == 0 for r in rows) or n < 20  # calls without input are left out, as by hand
