"""Runs the SQL models in `queries/*.sql` (one model per file, named for what it produces) on DuckDB."""

from __future__ import annotations

from functools import cache
from typing import Any

import duckdb
import polars as pl

from analyzer.resources import resource_dir


@cache
def load(name: str) -> str:
    return (resource_dir("queries") / f"{name}.sql").read_text(encoding="utf-8")


def _bound(sql: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """Only the parameters the SQL names (`$name`), or None when it names none."""
    return {k: v for k, v in params.items() if f"${k}" in sql} or None


def run(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> pl.DataFrame:
    """The model's result as a polars frame; only the parameters the SQL names are bound."""
    sql = load(name)
    return con.sql(sql, params=_bound(sql, params)).pl()


def register(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    """`frame` readable from SQL as `name`, without a copy: as Arrow with polars' own string views, which DuckDB
    scans as they are. Registered as a polars frame, DuckDB converts it to Arrow's older string layout, a copy of
    every string column held for as long as the name is: at a million calls, the priced requests' copy sat in the
    report's parent for the whole run."""
    con.register(name, frame.to_arrow(compat_level=pl.CompatLevel.newest()))


def rows(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> list[dict[str, Any]]:
    return run(con, name, **params).to_dicts()


def values(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> list[tuple[Any, ...]]:
    """The model's rows as tuples of DuckDB's own Python values (dates, timestamps as DuckDB returns them), for
    a caller that reads a few figures rather than a table."""
    sql = load(name)
    return con.execute(sql, _bound(sql, params)).fetchall()
