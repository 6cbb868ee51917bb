"""What a database given as --db must be before llmcost reads or changes it (issue 23, items 11 and 12).

A DuckDB file is code as much as data: its "tables" may be views over `read_text('/etc/passwd')`, its macros may
shadow what a query means. A file restored from a CI cache or found in a shared folder is opened with external
access off (no file, URL or extension reachable from SQL; see store._OFFLINE) and must look like what llmcost
writes: its own tables as tables, no views, no macros. Another program's database is never migrated: llmcost adds
its tables only to a new, empty file or to a database it made.
"""

from __future__ import annotations

import duckdb

from analyzer.errors import InputError

MIGRATIONS_TABLE = "_llmcost_migrations"


def _names(con: duckdb.DuckDBPyConnection, sql: str) -> list[str]:
    return sorted({str(r[0]) for r in con.execute(sql).fetchall()})


def check_ours(con: duckdb.DuckDBPyConnection, path: str) -> None:
    """Raise InputError (one line) unless the open database is empty or one llmcost made, with nothing in it that
    could run code or reach files when llmcost queries it."""
    here = "database_name = current_database() AND NOT temporary"
    views = _names(con, f"SELECT view_name FROM duckdb_views() WHERE NOT internal AND {here}")
    macros = _names(
        con,
        "SELECT function_name FROM duckdb_functions() WHERE NOT internal AND database_name = current_database() "
        "AND function_type IN ('macro', 'table_macro')",
    )
    tables = _names(con, f"SELECT table_name FROM duckdb_tables() WHERE {here}")
    if MIGRATIONS_TABLE not in tables and (tables or views or macros):
        theirs = ", ".join((tables + views + macros)[:5]) + (", ..." if len(tables + views + macros) > 5 else "")
        raise InputError(
            f"not an llmcost database (it holds {theirs}); llmcost adds its tables only to a new or empty "
            "file: give another --db",
            path=str(path),
        )
    if views:
        raise InputError(
            f"refused: it holds views ({', '.join(views[:5])}), which llmcost never writes; a view can read "
            "local files into a report",
            path=str(path),
        )
    if macros:
        raise InputError(
            f"refused: it holds macros ({', '.join(macros[:5])}), which llmcost never writes", path=str(path)
        )
