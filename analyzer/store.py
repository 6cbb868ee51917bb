"""The DuckDB store: canonical tables, each file in whole or not at all, a content-hash manifest, and rejects.

Ingest is idempotent: a file whose bytes were ingested before (under any name) adds nothing, and a request
id seen before is counted as a duplicate, not stored twice (within one file of a `final_wins` source, such as a
Claude Code transcript, the later record replaces the earlier: it holds the final count). A record without an
id of its own is identified by its content (`record_key`), so a log that grows, is copied, recompressed or
rotated adds only what is new; the manifest holds the hash of the bytes actually read, so a file truncated under
us is read again from its copy.
Message contents are content-addressed: each distinct text is hashed, tokenized and stored once however often
it was re-sent.
The reading itself (parsing on the workers, the merge of their batches, the files' transactions) is in
analyzer/ingest/; this module is the database: opened, migrated, shadowed, and asked what it holds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Unpack

import duckdb
import polars as pl
import pyarrow as pa

from analyzer import queries, tokens
from analyzer.dbguard import check_ours
from analyzer.errors import InputError
from analyzer.ingest import run
from analyzer.ingest.results import IngestResult
from analyzer.ingest.schemas import SOURCE_SCHEMA
from analyzer.migrations import migrate, pending

# No extension fetched or loaded behind the user's back (DuckDB would download one to open an SQLite file, an md:
# or s3:// path), and no file or URL reachable from SQL at all: llmcost reads logs in Python, and a crafted
# database's views or defaults must not be able to read local files into a report (dbguard).
# And DuckDB's allocator gives back what a query freed on its own threads, within seconds: without them it keeps it
# until a later query in the same thread reuses it. At a million calls the period's requests (a 0.4 GB frame) left
# the process at 988 MiB, and 692 MiB three seconds later with these threads (bench/RESULTS.md, stop 46).
_OFFLINE: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "enable_external_access": False,
    "allocator_background_threads": True,
}
_REMOTE_PREFIXES = ("md:", "motherduck:")
SCRATCH_PREFIX = "llmcost-run-"  # the folder of a run's scratch database (Store's `scratch`)


def refuse_remote(path: str) -> None:
    """--db is a local file: a URL or a MotherDuck name would make DuckDB reach the network."""
    if "://" in path or path.lower().startswith(_REMOTE_PREFIXES):
        raise InputError("--db must be a local DuckDB file (llmcost never uses the network)", path=str(path))


def _db_reason(path: str, e: Exception) -> str:
    try:
        with open(path, "rb") as fh:
            if fh.read(16) == b"SQLite format 3\x00":
                return "it is an SQLite database, not a DuckDB one"
    except OSError:
        pass
    return str(e).splitlines()[0]


class Store:
    """A DuckDB database (a file, or memory) holding the canonical tables."""

    def __init__(
        self, path: str | Path | None = None, *, read_only: bool = False, upgrade: bool = True, scratch: bool = False
    ) -> None:
        """read_only: what reports use; the file is never changed, except that a database made by an older llmcost
        is migrated first when `upgrade` and the file is writable (it is ours; a read-only one says how).
        scratch: with no path, the run's database is a file in a new temporary folder, removed on close, rather
        than memory (kept in memory when no such folder can be made). Nothing is kept either way, but DuckDB
        compresses what it checkpoints to a file and can evict those blocks, where an in-memory table stays
        whole and uncompressed in this process: at 100k calls a report's peak is ~160 MiB lower, in the same
        time, and the gap grows with the log."""
        self.path = str(path) if path else ":memory:"
        refuse_remote(self.path)
        read_only = read_only and self.path != ":memory:"
        self.read_only = read_only
        self.scratch: str | None = None  # the temporary folder holding a scratch run's database
        if scratch and not path:
            with contextlib.suppress(OSError):
                self.scratch = tempfile.mkdtemp(prefix=SCRATCH_PREFIX)
        try:
            self.con = self._connect(read_only)
        except BaseException:
            self._remove_scratch()
            raise
        try:
            check_ours(self.con, self.path)
            if not read_only:
                migrate(self.con)
            elif todo := pending(self.con):
                self.con.close()
                if not upgrade or not os.access(self.path, os.W_OK):
                    raise InputError(
                        f"made by an older llmcost ({len(todo)} schema change(s) behind) and not "
                        f"writable here; run `llmcost ingest --db {self.path}` where it is, once, to upgrade it",
                        path=str(self.path),
                    )
                self.con = self._connect(False)
                migrate(self.con)
                self.con.close()
                self.con = self._connect(True)
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                self.con.close()
            self._remove_scratch()
            raise
        # Request ids and token counts of contents this store added or looked up since it opened (or since a
        # rollback): a run's own working set. What the database held before is looked up batch by batch
        # (stored_ids, stored_tokens), never loaded whole: a new day on top of a month stays a day's work.
        self._request_ids: dict[str, str | None] | None = None  # id -> fingerprint (for an id not unique)
        self._tok: dict[str, dict[str, int]] | None = None
        self._lookup: bool | None = None  # whether the database may hold ids and contents the sets above lack
        # The manifest as this run sees it (sha256 -> path, and the next source id), looked up once, not per file.
        self._shas: dict[str, str] | None = None
        self._next_source: int | None = None
        # Rows merged but not yet inserted (`insert_later`), per (table, columns), and whether a transaction is open.
        self._pending: dict[tuple[str, tuple[str, ...] | None], list[pa.Table]] = {}
        self._pending_sources: list[tuple[Any, ...]] = []  # manifest rows, in SOURCE_SCHEMA's order
        self.pending_rows = 0
        self._open = False

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        target = os.path.join(self.scratch, "run.duckdb") if self.scratch else self.path
        try:
            return duckdb.connect(target, read_only=read_only, config=_OFFLINE)
        except duckdb.Error as e:
            raise InputError(f"cannot open database ({_db_reason(target, e)})", path=target) from None

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            self._remove_scratch()

    def _remove_scratch(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def write_threads(self, threads: pl.DataFrame) -> None:
        """Thread ids and turns of the conversation rebuild, onto `requests`: written into the table, or, on a
        read-only database, laid over it by a temporary view for this connection (the file never changes)."""
        con = self.con
        shadowed = _first(con, "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = 'requests'")[0]
        queries.register(con, "_threads", threads)
        try:
            if not self.read_only or shadowed:
                con.execute(
                    "UPDATE requests SET thread_id = t.thread_id, turn = t.turn FROM _threads t "
                    "WHERE requests.request_id = t.request_id"
                )
                return
            db = _first(con, "SELECT current_database()")[0]
            con.execute("CREATE OR REPLACE TEMP TABLE _thread_of AS SELECT request_id, thread_id, turn FROM _threads")
            con.execute(
                "CREATE OR REPLACE TEMP VIEW requests AS SELECT r.* REPLACE (coalesce(t.thread_id, r.thread_id) "
                f'AS thread_id, coalesce(t.turn, r.turn) AS turn) FROM "{db}".main.requests r '
                "LEFT JOIN _thread_of t ON r.request_id = t.request_id"
            )
        finally:
            con.unregister("_threads")

    def hide_ids(self) -> None:
        """For the rest of this connection, read users, API keys, projects, conversations and tags as stable
        hashes (`--hash-ids`, for reports that leave the team). The stored data is untouched: a temporary copy
        of `requests` shadows it. A hash of a guessable name can be guessed back; LLMCOST_HASH_SALT, kept
        secret, prevents that while keeping the hashes stable between runs that share it. An agent run's
        `exit_status:` tag (how it ended, not who ran it) stays readable for the cost per successful task."""
        salt = os.environ.get("LLMCOST_HASH_SALT", "")

        def h(expr: str, prefix: str) -> str:
            return f"'{prefix}-' || left(md5(? || {expr}), 10)"

        self._shadow(
            "requests",
            f"""SELECT * REPLACE (
                {h('"user"', "user")} AS "user",
                {h("api_key", "key")} AS api_key,
                {h("project", "project")} AS project,
                {h("conversation_id", "conv")} AS conversation_id,
                list_transform(tags, lambda t: CASE WHEN starts_with(t, 'exit_status:') THEN t
                    ELSE {h("t", "tag")} END) AS tags)
            FROM requests""",
            [salt] * 5,
        )

    def keep_only(
        self,
        models: list[str] | None = None,
        keys: tuple[str, ...] = (),
        users: tuple[str, ...] = (),
        tags: tuple[str, ...] = (),
        projects: tuple[str, ...] = (),
    ) -> None:
        """For the rest of this connection, read only the requests (and usage-export buckets) of these models
        (as logged), API keys, users, tags and projects (`report --model/--key/--user/--tag/--project`): every
        figure of the report then covers them alone. The stored data is untouched: temporary copies shadow it.
        An export's buckets carry no tags: with a tag filter none is kept (the bill of a tag is not known)."""
        conds: list[str] = []
        params: list[Any] = []
        for col, want in (("model", models), ("api_key", keys), ('"user"', users), ("project", projects)):
            if want is not None and (want or col == "model"):
                conds.append(f"{col} IN (SELECT unnest(?::VARCHAR[]))")
                params.append(list(want))
        bucket_conds = list(conds)
        if tags:
            conds.append("len(list_intersect(coalesce(tags, []), ?::VARCHAR[])) > 0")
            params.append(list(tags))
            bucket_conds.append("false")
        if not conds:
            return
        self._shadow("requests", "SELECT * FROM requests WHERE " + " AND ".join(conds), params)
        self._shadow(
            "usage_buckets",
            "SELECT * FROM usage_buckets WHERE " + " AND ".join(bucket_conds),
            params[: len(bucket_conds) - bool(tags)],
        )

    def _shadow(self, table: str, select: str, params: list[Any]) -> None:
        """A temporary `table` holding `select` over what `table` reads as now (the stored table, or an earlier
        temporary copy or view of it): filters and hashing stack."""
        con = self.con
        con.execute(f"CREATE OR REPLACE TEMP TABLE _shadow_{table} AS {select}", params)
        for kind, catalog in (("VIEW", "duckdb_views()"), ("TABLE", "duckdb_tables()")):
            found = con.execute(
                f"SELECT count(*) FROM {catalog} WHERE temporary AND {kind.lower()}_name = ?", [table]
            ).fetchall()[0][0]
            if found:
                con.execute(f"DROP {kind} temp.main.{table}")
        con.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM _shadow_{table}")
        con.execute(f"DROP TABLE _shadow_{table}")

    # ---- ingest ---------------------------------------------------------------------------------------------

    def ingest(self, paths: Iterable[str], **options: Unpack[run.Options]) -> IngestResult:
        """Read PATHS into the store (analyzer/ingest/run.py). With a `backend`, files and byte ranges of large
        JSONL files are parsed on it; the tables are the same as a serial ingest's, row for row."""
        return run.ingest(self, paths, **options)

    # ---- what the ingest asks of the store ---------------------------------------------------------------------

    def known_ids(self) -> dict[str, str | None]:
        """The request ids this run has stored or met so far (id -> fingerprint), filled by the merge."""
        if self._request_ids is None:
            self.write_pending()
            # First use: an empty database (a report's in-memory run) needs no look-ups at all. After a rollback
            # the sets start again empty and whatever earlier files committed is looked up.
            self._lookup = self._lookup is not None or bool(
                _first(self.con, "SELECT EXISTS (SELECT 1 FROM requests) OR EXISTS (SELECT 1 FROM contents)")[0]
            )
            self._request_ids = {}
        return self._request_ids

    def token_cache(self) -> dict[str, dict[str, int]]:
        """Token counts by encoding of the contents this run has stored or looked up, filled by the merge."""
        if self._tok is None:
            self._tok = {e: {} for e in tokens.ENCODINGS}
        return self._tok

    def stored_ids(self, ids: list[str]) -> dict[str, str | None]:
        """Which of these request ids the database already holds, with the fingerprint stored with each (NULL on
        rows of an older llmcost); a join in DuckDB, not a load into Python."""
        if not self._lookup or not ids:
            return {}
        self.write_pending()
        self.con.register("_batch_ids", pa.table({"request_id": pa.array(ids, pa.string())}))
        try:
            rows = self.con.execute(
                "SELECT request_id, any_value(fingerprint) FROM requests "
                "WHERE request_id IN (SELECT request_id FROM _batch_ids) GROUP BY request_id"
            ).fetchall()
        finally:
            self.con.unregister("_batch_ids")
        return {r[0]: r[1] for r in rows}

    def stored_from_path(self, ids: list[str], path: str) -> set[str]:
        """Which of these stored request ids an earlier reading of the file at `path` stored."""
        if not ids:
            return set()
        self.write_pending()
        self.con.register("_batch_ids", pa.table({"request_id": pa.array(ids, pa.string())}))
        try:
            rows = self.con.execute(
                "SELECT DISTINCT request_id FROM requests WHERE request_id IN (SELECT request_id FROM _batch_ids) "
                "AND source_id IN (SELECT source_id FROM sources WHERE path = ?)",
                [path],
            ).fetchall()
        finally:
            self.con.unregister("_batch_ids")
        return {r[0] for r in rows}

    def stored_tokens(self, cids: list[str]) -> list[tuple[str, int | None, int | None]]:
        """(content_id, o200k tokens, cl100k tokens) of those of these contents the database already holds."""
        if not self._lookup or not cids:
            return []
        self.write_pending()
        self.con.register("_batch_cids", pa.table({"content_id": pa.array(cids, pa.string())}))
        try:
            return self.con.execute(
                "SELECT content_id, any_value(tokens_o200k), any_value(tokens_cl100k) FROM contents "
                "WHERE content_id IN (SELECT content_id FROM _batch_cids) GROUP BY content_id"
            ).fetchall()
        finally:
            self.con.unregister("_batch_cids")

    def forget(self) -> None:
        """After a rollback (the ids and token counts added since are gone again) or an ingest's end (they were
        its working set): look up what is committed."""
        self._request_ids = None
        self._tok = None
        self._shas = None
        self._next_source = None

    # ---- the ingest's transactions, and its rows inserted in bulk ---------------------------------------------

    def begin(self) -> None:
        """Open a transaction, unless one is open (a group of files shares one: analyzer/ingest/run.py)."""
        if not self._open:
            self.con.execute("BEGIN TRANSACTION")
            self._open = True

    def commit(self) -> None:
        """The pending rows inserted, and the open transaction (if any) committed."""
        if self._open:
            self.write_pending()
            self.con.execute("COMMIT")
            self._open = False

    def rollback(self) -> None:
        """The open transaction rolled back with its pending rows; what this run met since is looked up again."""
        self._pending.clear()
        self._pending_sources = []
        self.pending_rows = 0
        if self._open:
            self._open = False
            # The failure may have ended the transaction already (a full disk does): the first error is the one
            # to report, not "cannot rollback - no transaction is active".
            with contextlib.suppress(duckdb.Error):
                self.con.execute("ROLLBACK")
        self.forget()

    def insert_later(self, table: str, rows: pa.Table, columns: tuple[str, ...] | None = None) -> None:
        """Rows for `table` (into `columns`, or all of them in order), inserted with every other pending row of
        that table at the next `write_pending`: a DuckDB statement costs ~1-3 ms however few rows it inserts, and
        a folder of small session files gives a few rows each."""
        self._pending.setdefault((table, columns), []).append(rows)
        self.pending_rows += rows.num_rows

    def write_pending(self) -> None:
        """The pending rows into their tables, in the order they came (before anything reads those tables)."""
        if self._pending_sources:
            values = zip(*self._pending_sources, strict=True)
            rows = pa.table([pa.array(c, f.type) for c, f in zip(values, SOURCE_SCHEMA, strict=True)], SOURCE_SCHEMA)
            self._pending.setdefault(("sources", None), []).append(rows)
            self._pending_sources = []
        if not self._pending:
            return
        pending, self._pending, self.pending_rows = self._pending, {}, 0
        for (table, columns), parts in pending.items():
            into = f"{table} ({_column_list(columns)})" if columns else table
            try:  # one insert; a column all null in one file is null-typed there, and takes the others' type
                batches = [pa.concat_tables(parts, promote_options="default").combine_chunks()]
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # types that do not unify: each file's rows apart
                batches = parts
            for rows in batches:
                self.con.register("_pending_rows", rows)
                try:
                    self.con.execute(f"INSERT INTO {into} SELECT * FROM _pending_rows")
                finally:
                    self.con.unregister("_pending_rows")

    @property
    def pending_files(self) -> int:
        """Files whose rows are pending (one manifest row each)."""
        return len(self._pending_sources)

    def add_source(self, row: tuple[Any, ...]) -> None:
        """A file's row in the `sources` manifest, inserted with the file's rows (`insert_later`)."""
        self._pending_sources.append(row)  # made one table at `write_pending` (a table per row costs ~0.3 ms)
        self.pending_rows += 1
        self._next_source = int(row[0]) + 1
        if self._shas is not None:
            self._shas[row[2]] = row[1]

    def holds_sources(self) -> bool:
        """Whether any file was ingested into this database before."""
        self.write_pending()
        return bool(_first(self.con, "SELECT EXISTS (SELECT 1 FROM sources)")[0])

    def next_source_id(self) -> int:
        """The id of the next file's row in the `sources` manifest."""
        if self._next_source is None:
            self.write_pending()
            self._next_source = int(_first(self.con, "SELECT coalesce(max(source_id), 0) + 1 FROM sources")[0])
        return self._next_source

    def ingested_as(self, sha: str) -> str | None:
        """The path the bytes of this sha256 were ingested as, if they were (the manifest read once a run)."""
        if self._shas is None:
            self.write_pending()
            self._shas = {str(h): str(p) for h, p in self.con.execute("SELECT sha256, path FROM sources").fetchall()}
        return self._shas.get(sha)


def _column_list(columns: tuple[str, ...]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def _first(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    """The row of a query that always returns one (an aggregate), with the result fully consumed (DuckDB refuses
    new work while one is open)."""
    return con.execute(sql).fetchall()[0]
