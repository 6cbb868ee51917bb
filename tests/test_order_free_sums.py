"""Money sums that do not depend on the order of the rows. DuckDB and polars add partial sums in the order their
threads finish them, and at a million calls two runs of the same report differed in the last digits of a few
figures. Here the order is changed on purpose: every permutation of a few costs whose float sum depends on the
order must give one figure, the correctly rounded sum (`math.fsum`, which shares nothing with our code)."""

from __future__ import annotations

import itertools
import math
from datetime import datetime

import duckdb
import polars as pl

from analyzer import queries
from analyzer.prices import order_free_sum

# (0.1 + 0.2) + 0.3 != 0.1 + (0.2 + 0.3) in floats; the small ones vanish or not depending on when they are added
COSTS = [0.1, 0.2, 0.3, 1e-9, 12.34, 7e-7]


def _priced(costs: list[float]) -> pl.DataFrame:
    """A priced_requests table with the columns totals.sql and spend_by_model.sql read: one model, every call priced."""
    n = len(costs)
    zero = [0] * n
    return pl.DataFrame(
        {
            "provider": ["openai"] * n,
            "model": ["gpt-4o"] * n,
            "model_key": ["gpt-4o"] * n,
            "ts": [datetime(2026, 12, 1, 12, k) for k in range(n)],
            "status": ["ok"] * n,
            "priced": [True] * n,
            "usage_estimated": [False] * n,
            "batch": [False] * n,
            "input_tokens": zero,
            "cache_read_tokens": zero,
            "cache_write_5m_tokens": zero,
            "cache_write_1h_tokens": zero,
            "output_tokens": zero,
            "reasoning_tokens": zero,
            "cost": costs,
            "cost_input": costs,
            "cost_cache_read": [0.0] * n,
            "cost_cache_write_5m": [0.0] * n,
            "cost_cache_write_1h": [0.0] * n,
            "cost_output": costs,
            "cost_reasoning": [0.0] * n,
            "reported_cost": costs,
        }
    )


def test_the_sql_money_sums_are_the_same_in_any_row_order() -> None:
    exact = math.fsum(COSTS)
    seen: set[tuple[float, ...]] = set()
    con = duckdb.connect()
    con.execute("SET threads = 1")  # one thread adds the rows in the order they are given
    for order in itertools.permutations(COSTS):
        con.register("priced_requests", _priced(list(order)))
        t = queries.rows(con, "totals")[0]
        m = queries.rows(con, "spend_by_model")[0]
        seen.add((t["cost_usd"], t["cost_input"], t["reported_cost_usd"], m["cost_usd"], m["cost_output"]))
        con.unregister("priced_requests")
    assert seen == {(exact,) * 5}


def test_the_naive_float_sum_does_depend_on_the_order() -> None:
    """What the two tests guard against: without the compensated or ordered sum, the order changes the figure."""
    assert len({sum(order) for order in itertools.permutations(COSTS)}) > 1
    con = duckdb.connect()
    con.execute("SET threads = 1")
    sums = set()
    for order in itertools.permutations(COSTS):
        con.register("t", pl.DataFrame({"x": list(order)}))
        sums.add(con.execute("SELECT sum(x) FROM t").fetchall()[0][0])
        con.unregister("t")
    assert len(sums) > 1


def test_a_group_by_money_sum_is_the_same_in_any_row_order() -> None:
    seen = set()
    for order in itertools.permutations(COSTS):
        frame = pl.DataFrame({"g": ["a"] * len(COSTS) + ["b"], "x": [*order, 1.0]})
        got = frame.group_by("g").agg(order_free_sum(pl.col("x"))).sort("g")["x"].to_list()
        seen.add(tuple(got))
    assert len(seen) == 1
    (a, b) = seen.pop()
    assert b == 1.0 and math.isclose(a, math.fsum(COSTS), rel_tol=0, abs_tol=1e-15)


def test_no_query_sums_money_with_the_plain_sum() -> None:
    """Every money sum in queries/ is `fsum`: the behaviour above, for the queries the test does not run."""
    import re
    from pathlib import Path

    plain = re.compile(r"\bsum\(\s*(?:\w+\.)?(?:\w*cost\w*|\w*_usd)\b", re.IGNORECASE)
    found = [
        f"{path.name}:{n}: {line.strip()}"
        for path in sorted((Path(__file__).parent.parent / "queries").glob("*.sql"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if plain.search(line.split("--")[0])
    ]
    assert found == []


def test_no_polars_money_sum_is_left_to_thread_order() -> None:
    """Every polars sum of a cost or _usd column goes through `order_free_sum`, but for the engine's sums per
    request (`group_by("base_id")`: a request's own rows, one or a few, where the order hardly matters and a
    sort per group would cost each comparison)."""
    import re
    from pathlib import Path

    plain = re.compile(r'pl\.col\("[^"]*(?:cost|usd)[^"]*"\)\.sum\(\)')
    found = []
    for path in sorted((Path(__file__).parent.parent / "analyzer").rglob("*.py")):
        lines = path.read_text().splitlines()
        for n, line in enumerate(lines, 1):
            if plain.search(line) and not any('group_by("base_id")' in ln for ln in lines[max(0, n - 4) : n]):
                found.append(f"{path.name}:{n}: {line.strip()}")
    assert found == []
