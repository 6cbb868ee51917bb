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


def run(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> pl.DataFrame:
    """The model's result as a polars frame; only the parameters the SQL names are bound."""
    sql = load(name)
    bound = {k: v for k, v in params.items() if f"${k}" in sql}
    return con.sql(sql, params=bound or None).pl()


def rows(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> list[dict[str, Any]]:
    return run(con, name, **params).to_dicts()
