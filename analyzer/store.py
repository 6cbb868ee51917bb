"""The DuckDB store: canonical tables, one transaction per file, a content-hash manifest, and rejects.

Ingest is idempotent: a file whose bytes were ingested before (under any name) adds nothing, and a request
id seen before is counted as a duplicate, not stored twice (within one file of a `final_wins` source, such as a
Claude Code transcript, the later record replaces the earlier: it holds the final count). A record without an
id of its own is identified by its content (`record_key`), so a log that grows, is copied, recompressed or
rotated adds only what is new; the manifest holds the hash of the bytes actually read, so a file truncated under
us is read again from its copy.
Message contents are content-addressed: each distinct text is hashed, tokenized and stored once however often
it was re-sent.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from analyzer import progress as tracking
from analyzer import tokens
from analyzer.backends.base import Backend
from analyzer.backends.local import INLINE, Inline
from analyzer.dbguard import check_ours
from analyzer.errors import InputError
from analyzer.inputs import Digest, as_path, check_regular, expand_paths, is_stream, label, sha256_file
from analyzer.migrations import migrate, pending
from analyzer.remote import RemotePath
from analyzer.sources import BY_NAME, Item, Request, Source, open_source, range_items, records_of, sniff_source
from analyzer.sources.base import RecordError, record_key, validate, validate_bucket
from analyzer.sources.exports import PageMark, UsageBucket

BATCH_ROWS = 5_000  # requests per insert: bounds memory
# Rejects listed row by row per file; past it, one row per reason counts the rest (a 15 KB .gz can hold 4 million
# bad lines: the first hundred thousand say what is wrong as well as all of them would).
MAX_REJECT_ROWS = 100_000
BATCH_MESSAGES = 200_000  # message rows per insert: an agent's calls each re-send the whole history
BATCH_TEXT_CHARS = 32 << 20  # distinct message text per insert
CID_MEMO_CHARS = 32 << 20  # text remembered to recognise re-sent contents without hashing them again
# With a backend, an uncompressed JSONL file larger than this is cut into ranges of about this size, parsed
# apart; below PARALLEL_MIN_BYTES of input in all, everything is read in this process (starting workers costs
# ~1 s, more than a few MB take to parse).
RANGE_BYTES = 32 << 20
PARALLEL_MIN_BYTES = 2 << 20
EXCERPT_CHARS = 200

_REQUEST_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("source_id", pa.int32()),
        ("line", pa.int32()),
        ("ts", pa.timestamp("us")),
        ("provider", pa.string()),
        ("model", pa.string()),
        ("api_key", pa.string()),
        ("project", pa.string()),
        ("user", pa.string()),
        ("feature", pa.string()),
        ("tags", pa.list_(pa.string())),
        ("conversation_id", pa.string()),
        ("endpoint", pa.string()),
        ("input_tokens", pa.int64()),
        ("cache_read_tokens", pa.int64()),
        ("cache_write_5m_tokens", pa.int64()),
        ("cache_write_1h_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("reasoning_tokens", pa.int64()),
        ("batch", pa.bool_()),
        ("service_tier", pa.string()),
        ("reported_cost", pa.float64()),
        ("latency_ms", pa.float64()),
        ("status", pa.string()),
        ("n_messages", pa.int32()),
        ("has_tools", pa.bool_()),
        ("encoding", pa.string()),
        ("trace_ms", pa.float64()),
        ("inference_geo", pa.string()),
        ("speed", pa.string()),
        ("fingerprint", pa.string()),
        ("usage_estimated", pa.bool_()),
        ("units", pa.float64()),
        ("unit", pa.string()),
    ]
)
_REQUEST_FIELDS = [f.name for f in _REQUEST_SCHEMA]
_MESSAGE_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("position", pa.int32()),
        ("role", pa.string()),
        ("content_id", pa.string()),
        ("tokens", pa.int32()),
        ("is_output", pa.bool_()),
        ("breakpoint", pa.string()),
    ]
)
_CONTENT_SCHEMA = pa.schema(
    [
        ("content_id", pa.string()),
        ("chars", pa.int32()),
        ("tokens_o200k", pa.int32()),
        ("tokens_cl100k", pa.int32()),
        ("text", pa.string()),
    ]
)


# No extension fetched or loaded behind the user's back (DuckDB would download one to open an SQLite file, an md:
# or s3:// path), and no file or URL reachable from SQL at all: llmcost reads logs in Python, and a crafted
# database's views or defaults must not be able to read local files into a report (dbguard).
_OFFLINE = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "enable_external_access": False,
}
_REMOTE_PREFIXES = ("md:", "motherduck:")


def refuse_remote(path: str) -> None:
    """--db is a local file: a URL or a MotherDuck name would make DuckDB reach the network."""
    if "://" in path or path.lower().startswith(_REMOTE_PREFIXES):
        raise InputError(f"{path}: --db must be a local DuckDB file (llmcost never uses the network)")


def _db_reason(path: str, e: Exception) -> str:
    try:
        with open(path, "rb") as fh:
            if fh.read(16) == b"SQLite format 3\x00":
                return "it is an SQLite database, not a DuckDB one"
    except OSError:
        pass
    return str(e).splitlines()[0]


def content_id(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@dataclass
class FileResult:
    path: str
    format: str | None
    rows: int = 0
    rejected: int = 0
    duplicates: int = 0
    buckets: int = 0  # usage-export buckets (in `usage_buckets`), apart from the request rows
    skipped: str | None = None  # why the file added nothing (already ingested, unrecognised in a folder)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "rows": self.rows,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "buckets": self.buckets,
            "skipped": self.skipped,
        }


@dataclass
class _Planned:
    """A file to ingest: its format, and for a pipe the records already opened (it can be read only once)."""

    path: Path
    source: Source
    items: Iterator[Item] | None
    digest: Digest | None
    sha256: str | None = None  # hashed before reading (when the database may hold it already)
    explicit: bool = True
    order: int = 0  # place among the files named or found
    stat: tuple[int, int, int] | None = None  # size, mtime, inode when cut into ranges


@dataclass
class _FileState:
    """What the merge of one file's batches keeps from batch to batch."""

    source_id: int
    path: Path
    offset: int = 0  # lines of the file's earlier ranges
    repeats: dict[str, int] = field(default_factory=dict)  # content key -> times seen in this file
    final_wins: bool = False  # the source's `final_wins`: a repeated id of this file replaces the earlier row
    own: set[str] = field(default_factory=set)  # (final_wins) request ids first stored by this file
    rejected: int = 0  # records rejected in this file so far (stored as they come, in bulk, per batch)
    # reason -> rejects past MAX_REJECT_ROWS, and where the first of them was
    unlisted: collections.Counter[str] = field(default_factory=collections.Counter)
    first_unlisted: dict[str, str] = field(default_factory=dict)
    buckets: list[tuple[int, str, UsageBucket]] = field(default_factory=list)


@dataclass
class IngestResult:
    files: list[FileResult] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def buckets(self) -> int:
        return sum(f.buckets for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)


class Store:
    """A DuckDB database (a file, or memory) holding the canonical tables."""

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False, upgrade: bool = True) -> None:
        """read_only: what reports use; the file is never changed, except that a database made by an older llmcost
        is migrated first when `upgrade` and the file is writable (it is ours; a read-only one says how)."""
        self.path = str(path) if path else ":memory:"
        refuse_remote(self.path)
        read_only = read_only and self.path != ":memory:"
        self.read_only = read_only
        self.con = self._connect(read_only)
        try:
            check_ours(self.con, self.path)
            if not read_only:
                migrate(self.con)
            elif todo := pending(self.con):
                self.con.close()
                if not upgrade or not os.access(self.path, os.W_OK):
                    raise InputError(
                        f"{self.path}: made by an older llmcost ({len(todo)} schema change(s) behind) and not "
                        f"writable here; run `llmcost ingest --db {self.path}` where it is, once, to upgrade it"
                    )
                self.con = self._connect(False)
                migrate(self.con)
                self.con.close()
                self.con = self._connect(True)
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                self.con.close()
            raise
        # Request ids and token counts of contents this store added or looked up since it opened (or since a
        # rollback): a run's own working set. What the database held before is looked up batch by batch
        # (_stored_ids, _stored_tokens), never loaded whole: a new day on top of a month stays a day's work.
        self._request_ids: dict[str, str | None] | None = None  # id -> fingerprint (for an id not unique)
        self._tok: dict[str, dict[str, int]] | None = None
        self._lookup: bool | None = None  # whether the database may hold ids and contents the sets above lack

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        try:
            return duckdb.connect(self.path, read_only=read_only, config=_OFFLINE)
        except duckdb.Error as e:
            raise InputError(f"{self.path}: cannot open database ({_db_reason(self.path, e)})") from None

    def close(self) -> None:
        self.con.close()

    def write_threads(self, threads: Any) -> None:
        """Thread ids and turns of the conversation rebuild, onto `requests`: written into the table, or, on a
        read-only database, laid over it by a temporary view for this connection (the file never changes)."""
        con = self.con
        shadowed = _one(con, "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = 'requests'")
        con.register("_threads", threads)
        try:
            if not self.read_only or (shadowed and shadowed[0]):
                con.execute(
                    "UPDATE requests SET thread_id = t.thread_id, turn = t.turn FROM _threads t "
                    "WHERE requests.request_id = t.request_id"
                )
                return
            db = _one(con, "SELECT current_database()")[0]  # type: ignore[index]
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

    def ingest(
        self,
        paths: Iterable[str],
        *,
        no_text: bool = False,
        fmt: str | None = None,
        progress: Callable[[str], None] | None = None,
        backend: Backend = INLINE,
    ) -> IngestResult:
        """Read PATHS into the store. On a backend other than Inline (and with more than PARALLEL_MIN_BYTES to read),
        files and byte ranges of large JSONL files are parsed as units on it; this process merges their batches in
        unit order, so the tables are the same as a serial ingest's, row for row."""
        # (key, result): (0, place given) for a file skipped before reading, (1, place in the plan) for one read
        done_files: list[tuple[tuple[int, int], FileResult]] = []
        plan: list[_Planned] = []
        seen: dict[str, str] = {}  # sha256 -> the file of this run that has those bytes
        tracking.stage("check inputs")
        # Hashing a file before reading it only pays when the database may already hold it: into an empty one
        # every file is read, and hashed once while it is read (a copy within the run is found then).
        hashed = bool(_one(self.con, "SELECT EXISTS (SELECT 1 FROM sources)")[0])
        for order, (path, explicit) in enumerate(expand_paths(paths)):
            try:
                planned = self._plan(path, fmt, seen, hashed)
            except InputError as e:
                if explicit or fmt:
                    raise
                # A file found by walking a folder: one unreadable or unrecognised file does not stop the run.
                done_files.append(((0, order), FileResult(label(path), None, skipped=str(e).split(": ", 1)[-1])))
                continue
            if isinstance(planned, FileResult):
                done_files.append(((0, order), planned))
            else:
                plan.append(planned)
                planned.explicit, planned.order = explicit, order
        # Companion files (batch inputs) first, so the outputs they annotate can join them.
        plan.sort(key=lambda p: not p.source.companion)
        ctx: dict[str, Any] = {"per_record": fmt is None}  # a forced format reads every record
        tracking.stage("read logs")
        sizes = [_size_on_disk(p.path) for p in plan]
        tracking.reading(sum(sizes))
        pooled = not isinstance(backend, Inline) and sum(sizes) >= PARALLEL_MIN_BYTES
        units = [self._units(p, no_text, fmt is None) if pooled else None for p in plan]
        remote = _Prefetch(backend, parse_unit, [u for us in units if us for u in us]) if pooled else None
        hashes = _Hashes([p for p, us in zip(plan, units, strict=True) if us and us[0].end is not None])
        done = 0
        try:
            for pos, (p, us, size) in enumerate(zip(plan, units, sizes, strict=True)):
                if progress:
                    progress(f"reading {label(p.path)} as {p.source.name}")
                tracking.file(f"{Path(label(p.path)).name} ({p.source.name})", done)
                got = remote.results(len(us)) if remote is not None and us else None
                try:
                    try:
                        res = self._ingest_file(p, no_text, ctx, seen, got, hashes)
                    except _Changed:  # the file changed while its ranges were read: read it again, whole, here
                        p.items = None
                        res = self._ingest_file(p, no_text, ctx, seen, None, hashes)
                except InputError as e:
                    if p.explicit or fmt:
                        raise
                    res = FileResult(label(p.path), None, skipped=str(e).split(": ", 1)[-1])
                finally:
                    for _ in got or ():  # a file given up half way: its other units' results are not the next file's
                        pass
                dup = res.skipped is not None and res.skipped.startswith("already ingested (same content")
                done_files.append(((0, p.order) if dup else (1, pos), res))
                done += size
        finally:
            if remote is not None:
                remote.close()
            hashes.close()
        # In the order a serial reading lists them: files skipped before reading (in the order given), then the
        # files read. A copy of another file of the run counts as skipped before reading, found now or earlier.
        return IngestResult([r for _, r in sorted(done_files, key=lambda x: x[0])])

    def _plan(self, path: Path, fmt: str | None, seen: dict[str, str], hashed: bool) -> _Planned | FileResult:
        """The file's format, or why it adds nothing. Regular files are closed again after sniffing (a folder
        may hold more files than a process may open); a pipe stays open, as it can be read only once."""
        if is_stream(path):
            digest = Digest()
            source, items = open_source(path, fmt, digest)
            return _Planned(path, source, items, digest)
        if not hashed:
            check_regular(path)
            return _Planned(path, sniff_source(path, fmt), None, None)
        sha, _ = sha256_file(path)
        known = _one(self.con, "SELECT path FROM sources WHERE sha256 = ?", [sha])
        if known:
            return FileResult(str(path), None, skipped=f"already ingested (as {known[0]})")
        if sha in seen:
            return FileResult(str(path), None, skipped=f"already ingested (same content as {seen[sha]})")
        seen[sha] = str(path)
        return _Planned(path, sniff_source(path, fmt), None, None, sha256=sha)

    def _units(self, p: _Planned, no_text: bool, per_record: bool = True) -> list[Unit] | None:
        """How a file is parsed on the backend: one unit, or one per byte range of a large JSONL file. None: in
        this process (a pipe, already open; batch files, whose records join across files through `ctx`)."""
        if p.items is not None or p.source.shares_run or p.source.companion:
            return None
        whole = [Unit(str(p.path), p.source.name, no_text=no_text, per_record=per_record)]
        if p.source.sequential or getattr(p.source, "explode", None) is not None or not _splittable(p.path):
            return whole
        try:
            st = os.stat(p.path)
            ranges = split_ranges(p.path, RANGE_BYTES)
        except OSError:
            return whole  # read whole, where the reading says what is wrong
        if len(ranges) < 2:
            return whole
        p.stat = (st.st_size, st.st_mtime_ns, st.st_ino)
        return [Unit(str(p.path), p.source.name, a, b, no_text, per_record) for a, b in ranges]

    def _ingest_file(
        self,
        p: _Planned,
        no_text: bool,
        ctx: dict[str, Any],
        seen: dict[str, str],
        parsed: Iterator[Parsed] | None = None,
        hashes: _Hashes | None = None,
    ) -> FileResult:
        """One file in one transaction: its units' batches (parsed elsewhere, or here as they are read) merged in
        order, its rejects, buckets and manifest row."""
        path, source = p.path, p.source
        items = None
        read_whole: list[tuple[str | None, int]] = []  # hash and size of the bytes a whole-file unit read
        if parsed is None:
            if p.items is None:  # reopen: the bytes read now are the ones recorded
                p.digest = Digest()
                _, p.items = open_source(path, source.name, p.digest)
            items, digest = p.items, p.digest
            assert digest is not None
            ctx["path"] = str(path)  # sources that carry state from record to record (Codex totals) reset on it

            def advance() -> None:  # now and then: how far into the file reading has got, for the display
                tracking.advance_to(digest.size)

            units: Iterable[tuple[Iterable[Batch], int, int]] = [
                (_parse(items, source, ctx, no_text, 2, advance), 0, 0)
            ]
        else:
            units = _checked(parsed, read_whole)
        res = FileResult(label(path), source.name)
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            source_id = _one(con, "SELECT coalesce(max(source_id), 0) + 1 FROM sources")[0]
            f = _FileState(source_id, path, final_wins=source.final_wins)
            for batches, lines, reached in units:
                for b in batches:
                    self._flush(b, f, res)
                f.offset += lines
                if parsed is not None:
                    tracking.advance_to(reached)
            self._flush_buckets(f.buckets, source_id, res)
            if parsed is None:
                assert p.digest is not None
                sha, size = p.digest.hexdigest(), p.digest.size
            elif read_whole:  # one whole-file unit: hashed as it was read
                sha, size = read_whole[0]
            else:  # ranges: the bytes are the ones hashed here, unless the file changed meanwhile
                assert hashes is not None
                sha, size = hashes.result(p)
                if _stat(path) != p.stat:
                    raise _Changed
            assert sha is not None
            if seen.get(sha, str(path)) != str(path):  # a copy of a file read earlier in this run
                con.execute("ROLLBACK")
                self._request_ids = None
                self._tok = None
                return FileResult(label(path), None, skipped=f"already ingested (same content as {seen[sha]})")
            known = _one(con, "SELECT path FROM sources WHERE sha256 = ?", [sha])
            if known:  # these very bytes were read before (the file changed back, or a pipe repeated a file)
                con.execute("ROLLBACK")
                self._request_ids = None
                self._tok = None
                return FileResult(label(path), None, skipped=f"already ingested (as {known[0]})")
            seen[sha] = str(path)
            res.rejected = f.rejected
            if f.unlisted:
                con.executemany(
                    "INSERT INTO rejects VALUES (?, ?, NULL, ?, ?, NULL, ?)",
                    [[source_id, label(path), f.first_unlisted[why], why, n] for why, n in sorted(f.unlisted.items())],
                )
            con.execute(
                "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    source_id,
                    label(path),
                    sha,
                    size,
                    source.name,
                    res.rows + res.buckets,
                    res.rejected,
                    res.duplicates,
                    datetime.now(UTC).replace(tzinfo=None),
                    no_text,
                ],
            )
            con.execute("COMMIT")
        except BaseException:
            # The failure may have ended the transaction already (a full disk does): the first error is the one
            # to report, not "cannot rollback - no transaction is active".
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            self._request_ids = None  # ids added by the rolled-back batches are gone again
            self._tok = None
            raise
        finally:
            close = getattr(items, "close", None)
            if close:
                close()
        return res

    def _flush_buckets(self, buckets: list[tuple[int, str, UsageBucket]], source_id: int, res: FileResult) -> None:
        """Usage-export buckets into `usage_buckets`; one already held (an overlapping export) is a duplicate."""
        if not buckets:
            return
        # Only the keys of these buckets are looked up: the table may hold years of daily buckets.
        known = {
            r[0]
            for r in self.con.execute(
                "SELECT DISTINCT bucket_key FROM usage_buckets WHERE bucket_key IN (SELECT unnest(?::VARCHAR[]))",
                [sorted({b.key() for _, _, b in buckets})],
            ).fetchall()
        }
        rows = []
        for line, where, b in buckets:
            key = b.key()
            if key in known:
                res.duplicates += 1
                continue
            known.add(key)
            rows.append(
                (source_id, line, where, key, b.export, b.kind, b.provider, _ts(b.start_us), _ts(b.end_us))
                + (b.model, b.project, b.api_key, b.user, b.service_tier, b.batch, b.context_window, b.line_item)
                + (b.requests, b.input_tokens, b.cache_read_tokens, b.cache_write_5m_tokens, b.cache_write_1h_tokens)
                + (b.output_tokens, b.audio_tokens, b.reported_cost)
            )
        if rows:
            self.con.executemany(f"INSERT INTO usage_buckets VALUES ({', '.join(['?'] * len(rows[0]))})", rows)
        res.buckets += len(rows)

    def _known_ids(self) -> dict[str, str | None]:
        if self._request_ids is None:
            # First use: an empty database (a report's in-memory run) needs no look-ups at all. After a rollback
            # the sets start again empty and whatever earlier files committed is looked up.
            self._lookup = self._lookup is not None or bool(
                _one(self.con, "SELECT EXISTS (SELECT 1 FROM requests) OR EXISTS (SELECT 1 FROM contents)")[0]
            )
            self._request_ids = {}
        return self._request_ids

    def _token_cache(self) -> dict[str, dict[str, int]]:
        if self._tok is None:
            self._tok = {e: {} for e in tokens.ENCODINGS}
        return self._tok

    def _stored_ids(self, ids: list[str]) -> dict[str, str | None]:
        """Which of these request ids the database already holds, with the fingerprint stored with each (NULL on
        rows of an older llmcost); a join in DuckDB, not a load into Python."""
        if not self._lookup or not ids:
            return {}
        self.con.register("_batch_ids", pa.table({"request_id": pa.array(ids, pa.string())}))
        try:
            rows = self.con.execute(
                "SELECT request_id, any_value(fingerprint) FROM requests "
                "WHERE request_id IN (SELECT request_id FROM _batch_ids) GROUP BY request_id"
            ).fetchall()
        finally:
            self.con.unregister("_batch_ids")
        return {r[0]: r[1] for r in rows}

    def _stored_from_path(self, ids: list[str], path: str) -> set[str]:
        """Which of these stored request ids an earlier reading of the file at `path` stored."""
        if not ids:
            return set()
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

    def _stored_tokens(self, cids: list[str]) -> list[tuple[str, int | None, int | None]]:
        """(content_id, o200k tokens, cl100k tokens) of those of these contents the database already holds."""
        if not self._lookup or not cids:
            return []
        self.con.register("_batch_cids", pa.table({"content_id": pa.array(cids, pa.string())}))
        try:
            return self.con.execute(
                "SELECT content_id, any_value(tokens_o200k), any_value(tokens_cl100k) FROM contents "
                "WHERE content_id IN (SELECT content_id FROM _batch_cids) GROUP BY content_id"
            ).fetchall()
        finally:
            self.con.unregister("_batch_cids")

    def _store_rejects(self, rejects: list[tuple[int, str, str, str, str | None]], f: _FileState) -> None:
        """A batch's rejects in one insert; past MAX_REJECT_ROWS in a file, counted by reason instead."""
        path, name = f.path, label(f.path)
        room = max(MAX_REJECT_ROWS - f.rejected, 0)
        f.rejected += len(rejects)
        rows: dict[str, list[Any]] = {k: [] for k in ("line", "location", "reason", "excerpt")}
        for i, (line, unit, suffix, why, excerpt) in enumerate(rejects):
            line = line + f.offset if unit == "line" else line
            if i >= room:
                if why not in f.unlisted:
                    f.first_unlisted[why] = Item(line, unit, None, None, None).location(path) + suffix
                f.unlisted[why] += 1
                continue
            rows["line"].append(line)
            rows["location"].append(Item(line, unit, None, None, None).location(path) + suffix)
            rows["reason"].append(why)
            rows["excerpt"].append(excerpt)
        if not rows["line"]:
            return
        table = pa.table(
            {
                "line": pa.array(rows["line"], pa.int64()),
                "location": pa.array(rows["location"], pa.string()),
                "reason": pa.array(rows["reason"], pa.string()),
                "excerpt": pa.array(rows["excerpt"], pa.string()),
            }
        )
        self.con.register("_batch_rejects", table)
        try:
            self.con.execute(
                "INSERT INTO rejects SELECT ?, ?, line, location, reason, excerpt, 1 FROM _batch_rejects",
                [f.source_id, name],
            )
        finally:
            self.con.unregister("_batch_rejects")

    def _flush(self, b: Batch, f: _FileState, res: FileResult) -> None:
        """One parsed batch into the tables: ids of records without one numbered by repeat within the file,
        requests seen before dropped as duplicates (first seen wins; for a `final_wins` source a repeat within
        the same file replaces the row instead), contents new to the store inserted."""
        import pyarrow.compute as pc  # here, not at the top: its import takes ~0.1 s that most commands never use

        path = f.path
        if b.pages:
            self.con.executemany(
                "INSERT INTO usage_pages VALUES (?, ?, ?, ?)",
                [[f.source_id, m.export, m.has_more, m.next_page] for m in b.pages],
            )
        if b.rejects:
            self._store_rejects(b.rejects, f)
        for line, unit, suffix, bucket in b.buckets:
            line = line + f.offset if unit == "line" else line
            f.buckets.append((line, Item(line, unit, None, None, None).location(path) + suffix, bucket))
        n = len(b.keyless)
        if not n:
            return
        rids: list[str] = b.requests.column("request_id").to_pylist()
        repeats = f.repeats
        for i, keyless in enumerate(b.keyless):
            if keyless:  # identified by content: the n-th identical record of the file is a call of its own
                key = rids[i]
                k = repeats[key] = repeats.get(key, 0) + 1
                if k > 1:
                    rids[i] = f"{key}#{k}"
        # An id that is not unique everywhere (a counter, Ollama's chatcmpl-<0..999>) names another call when the
        # record says something else (its fingerprint): that call is stored as "<id>~<fingerprint>", so a second
        # reading of either record, in any order and any later run, finds it again.
        fps: list[str | None] = b.requests.column("fingerprint").to_pylist()
        alt = [None if fp is None else f"{rid}~{fp}" for rid, fp in zip(rids, fps, strict=True)]
        known = self._known_ids()
        tok = self._token_cache()
        stored = self._stored_ids([r for r in (*rids, *alt) if r is not None and r not in known])
        keep = [False] * n
        final = f.final_wins
        here: dict[str, int] = {}  # (final_wins) request id -> its row in this batch
        replaced: list[str] = []  # (final_wins) ids whose row an earlier batch of this file stored
        # (final_wins) ids an earlier reading of this very path stored (the file has grown since): read again now
        earlier = set()
        if final:
            again = [r for r in rids if r not in f.own and (r in known or r in stored)]
            earlier = self._stored_from_path(again, label(f.path))
        moved: list[str] = []
        for i, rid in enumerate(rids):
            if rid in earlier and rid not in f.own:  # this reading holds the final count: the row moves here
                moved.append(rid)
                known[rid] = known[rid] if rid in known else stored[rid]
                keep[i] = True
                f.own.add(rid)
                here[rid] = i
                continue
            seen = known if rid in known else stored if rid in stored else None
            if seen is not None:
                # (final_wins) a repeat within the file is the same call whatever it says: no other id for it
                other = None if final and rid in f.own else alt[i]
                prev = seen[rid]
                if other is None or prev is None or prev == fps[i] or other in known or other in stored:
                    res.duplicates += 1
                    if final and rid in f.own:  # a later record of this file, same id: it holds the final count
                        j = here.get(rid)
                        if j is None:
                            replaced.append(rid)
                        else:
                            keep[j] = False
                        keep[i] = True
                        here[rid] = i
                    continue
                rids[i] = rid = other
            known[rid] = fps[i]
            keep[i] = True
            if final:
                f.own.add(rid)
                here[rid] = i
        kept = sum(keep)
        res.rows += kept - len(replaced)
        if not kept:
            return
        con = self.con
        if replaced or moved:
            con.register("_replaced", pa.table({"request_id": pa.array(replaced + moved, pa.string())}))
            try:
                if moved:  # the earlier readings of this path hold fewer rows now
                    con.execute(
                        "UPDATE sources SET rows = sources.rows - m.n FROM (SELECT source_id, count(*) AS n "
                        "FROM requests WHERE source_id <> ? AND request_id IN (SELECT request_id FROM _replaced) "
                        "GROUP BY source_id) m WHERE sources.source_id = m.source_id",
                        [f.source_id],
                    )
                con.execute(
                    "DELETE FROM requests WHERE (source_id = ? OR source_id IN (SELECT source_id FROM sources "
                    "WHERE path = ?)) AND request_id IN (SELECT request_id FROM _replaced)",
                    [f.source_id, label(f.path)],
                )
                for table in ("messages", "blocks"):
                    con.execute(f"DELETE FROM {table} WHERE request_id IN (SELECT request_id FROM _replaced)")
            finally:
                con.unregister("_replaced")
        rid_arr = pa.array(rids, pa.string())
        req = b.requests.set_column(0, "request_id", rid_arr)
        req = req.set_column(1, "source_id", pa.array([f.source_id] * n, pa.int32()))
        if f.offset:
            req = req.set_column(2, "line", pc.add(req.column("line"), pa.scalar(f.offset, pa.int32())))
        msgs, blocks = b.messages, b.blocks
        if kept < n:
            keep_arr = pa.array(keep)
            req = req.filter(keep_arr)
            msgs = msgs.filter(pc.take(keep_arr, msgs.column("req")))
            if blocks is not None:
                blocks = blocks.filter(pc.take(keep_arr, blocks.column("req")))
        # Contents new to this run may be in the database from an earlier one: they are not inserted again.
        o200k, cl100k = tok["o200k_base"], tok["cl100k_base"]
        cids: list[str] = pc.unique(msgs.column("content_id")).to_pylist()  # in order of first use
        new = [c for c in cids if c not in o200k]
        for cid, n_o200k, n_cl100k in self._stored_tokens(new):
            if n_o200k is not None:
                o200k[cid] = n_o200k
            if n_cl100k is not None:
                cl100k[cid] = n_cl100k
        new = [c for c in new if c not in o200k]
        # cl100k counts are kept for the contents cl100k-encoded requests send
        is_cl = pc.equal(b.requests.column("encoding"), "cl100k_base")
        cl_need: list[str] = []
        if pc.any(is_cl).as_py():
            cl_msgs = msgs.filter(pc.take(is_cl, msgs.column("req")))
            cl_need = [c for c in pc.unique(cl_msgs.column("content_id")).to_pylist() if c not in cl100k]
        if new or cl_need:
            row_of = {c: i for i, c in enumerate(b.contents.column("content_id").to_pylist())}
            counts_o = b.contents.column("tokens_o200k")
            counts_cl = b.contents.column("tokens_cl100k")
            for c in cl_need:
                cl100k[c] = counts_cl[row_of[c]].as_py()
            if new:
                rows = pa.array([row_of[c] for c in new], pa.int64())
                contents = b.contents.take(rows)
                for c, k in zip(new, pc.take(counts_o, rows).to_pylist(), strict=True):
                    o200k[c] = k
                contents = contents.set_column(3, "tokens_cl100k", pa.array([cl100k.get(c) for c in new], pa.int32()))
                con.register("_new_contents", contents)
                con.execute("INSERT INTO contents SELECT * FROM _new_contents")
                con.unregister("_new_contents")
            fresh = set(new)
            old_cl = [c for c in cl_need if c not in fresh]
            if old_cl:
                upd = pa.table({"content_id": old_cl, "n": [cl100k[c] for c in old_cl]})
                con.register("_cl_update", upd)
                con.execute(
                    "UPDATE contents SET tokens_cl100k = u.n FROM _cl_update u WHERE contents.content_id = u.content_id"
                )
                con.unregister("_cl_update")
        msg_table = pa.table(
            [pc.take(rid_arr, msgs.column("req")), *(msgs.column(c) for c in _MESSAGE_SCHEMA.names[1:])],
            schema=_MESSAGE_SCHEMA,
        )
        con.register("_new_requests", req)
        con.register("_new_messages", msg_table)
        con.execute(
            f"INSERT INTO requests ({', '.join(_quoted(_REQUEST_FIELDS))}) "
            f"SELECT {', '.join(_quoted(_REQUEST_FIELDS))} FROM _new_requests"
        )
        con.execute(
            "INSERT INTO messages (request_id, position, role, content_id, tokens, is_output, breakpoint) "
            "SELECT * FROM _new_messages"
        )
        con.unregister("_new_requests")
        con.unregister("_new_messages")
        if blocks is not None and blocks.num_rows:
            table = pa.table(
                [pc.take(rid_arr, blocks.column("req")), blocks.column("position"), blocks.column("block_hash")],
                names=["request_id", "position", "block_hash"],
            )
            con.register("_new_blocks", table)
            con.execute("INSERT INTO blocks SELECT * FROM _new_blocks")
            con.unregister("_new_blocks")


def _size_on_disk(path: Path) -> int:
    """Bytes of a regular file as stored (compressed or not); 0 for a pipe, whose length nobody knows."""
    try:
        return path.stat().st_size if not is_stream(path) and path.is_file() else 0
    except OSError:
        return 0


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> tuple[Any, ...] | None:
    """The first row, with the result fully consumed (DuckDB refuses new work while one is open)."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def _ts(us: int | None) -> datetime | None:
    return None if us is None else datetime(1970, 1, 1) + timedelta(microseconds=us)


def _quoted(names: list[str]) -> list[str]:
    return [f'"{n}"' for n in names]


def _excerpt(item: Item) -> str | None:
    if item.raw is not None:
        s = item.raw[: EXCERPT_CHARS * 4].decode("utf-8", "replace")
    elif item.obj is not None:
        s = orjson.dumps(item.obj, default=str)[: EXCERPT_CHARS * 4].decode("utf-8", "replace")
    else:
        return None
    return s[:EXCERPT_CHARS]


# ---- parsing units ------------------------------------------------------------------------------------------
#
# What a worker does for one unit (a file, or a byte range of a large JSONL file): read and parse its records,
# validate and normalise them, hash and tokenize their messages' contents, and hand back compact batches (Arrow
# tables and short lists). What needs the whole run (numbering records without ids, dropping duplicates, which
# contents are new) is left to the store, which merges the batches in unit order.


@dataclass
class Unit:
    """A file (end None: any compression or shape) or the bytes [start, end) of an uncompressed JSONL file."""

    path: str
    source: str  # the format's name, detected once for the file
    start: int = 0
    end: int | None = None
    no_text: bool = False
    per_record: bool = True  # records the file's format does not recognise may be another's (not when forced)


@dataclass
class Batch:
    """Up to BATCH_ROWS requests (and BATCH_MESSAGES messages, BATCH_TEXT_CHARS of distinct text) of a unit.

    Line numbers are the unit's own (a range's count from its first line); the store adds the lines before it.
    A record without an id of its own carries its content key as request_id (`keyless`), numbered by the store.
    """

    requests: pa.Table  # _REQUEST_SCHEMA (source_id 0)
    keyless: list[bool]
    messages: pa.Table  # _UNIT_MESSAGE_SCHEMA: `req` is the row of the request in `requests`
    contents: pa.Table  # _CONTENT_SCHEMA: every distinct content the batch's messages use, counted
    blocks: pa.Table | None  # req, position, block_hash
    rejects: list[tuple[int, str, str, str, str | None]]  # line, item unit, location suffix, reason, excerpt
    buckets: list[tuple[int, str, str, UsageBucket]]  # line, item unit, location suffix, bucket
    pages: list[PageMark]


@dataclass
class Parsed:
    """A unit's batches; for a range, how many line ends it held; for a whole file, the hash of its bytes."""

    batches: list[Batch]
    end: int | None = None
    lines: int = 0
    sha256: str | None = None
    size: int = 0
    error: str | None = None  # an InputError's message: the file cannot be read


_UNIT_MESSAGE_SCHEMA = pa.schema([("req", pa.int32())] + list(_MESSAGE_SCHEMA)[1:])
_BLOCK_SCHEMA = pa.schema([("req", pa.int32()), ("position", pa.int32()), ("block_hash", pa.int64())])


class _Builder:
    """Requests into column lists, and each distinct content hashed and tokenized once (see _Memo). Contents
    are recognised by their text first (a dict lookup: re-sent messages are the bulk), and hashed with blake2b
    only when new."""

    def __init__(self, no_text: bool, threads: int) -> None:
        self.no_text, self.threads = no_text, threads
        self.memo = _MEMO
        self._reset()

    def _reset(self) -> None:
        self.cols: dict[str, list[Any]] = {f: [] for f in _REQUEST_FIELDS}
        self.keyless: list[bool] = []
        self.m_req: list[int] = []
        self.m_pos: list[int] = []
        self.m_role: list[str] = []
        self.m_cid: list[str] = []
        self.m_out: list[bool] = []
        self.m_cl: list[bool] = []
        self.m_bp: list[str | None] = []
        self.b_req: list[int] = []
        self.b_pos: list[int] = []
        self.b_hash: list[int] = []
        self.texts: dict[str, str] = {}  # content_id -> text, the batch's distinct contents in order of first use
        self.cl: dict[str, None] = {}  # contents cl100k-encoded requests send
        self.chars = 0
        self.rejects: list[tuple[int, str, str, str, str | None]] = []
        self.buckets: list[tuple[int, str, str, UsageBucket]] = []
        self.pages: list[PageMark] = []

    def full(self) -> bool:
        return (
            len(self.keyless) >= BATCH_ROWS
            or len(self.m_req) >= BATCH_MESSAGES
            or self.chars >= BATCH_TEXT_CHARS
            or len(self.rejects) >= BATCH_ROWS
        )

    def add(self, line: int, r: Request, keyless: bool) -> None:
        i = len(self.keyless)
        enc = tokens.encoding_for(r.model)
        cl = enc == "cl100k_base"
        memo, texts = self.memo, self.texts
        cid_of = memo.cid_of
        bps = r.breakpoints
        n_in = 0
        # only an id that may repeat for another call needs the record's fingerprint (item 1)
        fp = None if keyless or unique_id(r.request_id or "") else _fingerprint(r)
        for pos, (role, text, is_output) in enumerate(r.messages):
            cid = cid_of.get(text)
            if cid is None:
                cid = cid_of[text] = content_id(text)
                memo.chars += len(text)
            if cid not in texts:
                texts[cid] = text
                self.chars += len(text)
            if cl:
                self.cl[cid] = None
            self.m_req.append(i)
            self.m_pos.append(pos)
            self.m_role.append(role)
            self.m_cid.append(cid)
            self.m_out.append(is_output)
            self.m_cl.append(cl)
            self.m_bp.append(bps.get(pos) if bps else None)
            n_in += not is_output
            if fp is not None:
                fp.update(f"\x00{role}\x00{is_output:d}{cid}".encode("utf-8", "surrogatepass"))
        if r.blocks:
            self.b_req.extend([i] * len(r.blocks))
            self.b_pos.extend(range(len(r.blocks)))
            self.b_hash.extend(r.blocks)
        self.keyless.append(keyless)
        for f, v in (
            ("request_id", r.request_id),
            ("source_id", 0),
            ("line", line),
            ("ts", r.ts_us),
            ("provider", r.provider),
            ("model", r.model),
            ("api_key", r.api_key),
            ("project", r.project),
            ("user", r.user),
            ("feature", r.feature),
            ("tags", r.tags),
            ("conversation_id", r.conversation_id),
            ("endpoint", r.endpoint),
            ("input_tokens", r.input_tokens),
            ("cache_read_tokens", r.cache_read_tokens),
            ("cache_write_5m_tokens", r.cache_write_5m_tokens),
            ("cache_write_1h_tokens", r.cache_write_1h_tokens),
            ("output_tokens", r.output_tokens),
            ("reasoning_tokens", r.reasoning_tokens),
            ("batch", r.batch),
            ("service_tier", r.service_tier),
            ("reported_cost", r.reported_cost),
            ("latency_ms", r.latency_ms),
            ("status", r.status),
            ("n_messages", n_in),
            ("has_tools", r.has_tools),
            ("encoding", enc),
            ("trace_ms", r.trace_ms),
            ("inference_geo", r.inference_geo),
            ("speed", r.speed),
            ("fingerprint", None if fp is None else fp.hexdigest()),
            ("usage_estimated", r.usage_estimated),
            ("units", r.units),
            ("unit", r.unit),
        ):
            self.cols[f].append(v)

    def take(self) -> Batch:
        o200k, cl100k = self.memo.counts["o200k_base"], self.memo.counts["cl100k_base"]
        texts = self.texts
        # Tokenize each new distinct content once, for every encoding it is needed in.
        for name, wanted, known in (("o200k_base", texts, o200k), ("cl100k_base", self.cl, cl100k)):
            todo = [c for c in wanted if c not in known]
            for cid, n in zip(todo, tokens.count_many([texts[c] for c in todo], name, self.threads), strict=True):
                known[cid] = n
        ids = list(texts)
        contents = pa.table(
            {
                "content_id": ids,
                "chars": [len(t) for t in texts.values()],
                "tokens_o200k": [o200k[c] for c in ids],
                "tokens_cl100k": [cl100k.get(c) for c in ids],
                "text": [None] * len(ids) if self.no_text else list(texts.values()),
            },
            schema=_CONTENT_SCHEMA,
        )
        messages = pa.table(
            [
                pa.array(self.m_req, pa.int32()),
                pa.array(self.m_pos, pa.int32()),
                pa.array(self.m_role, pa.string()),
                pa.array(self.m_cid, pa.string()),
                pa.array(
                    [(cl100k if cl else o200k)[c] for c, cl in zip(self.m_cid, self.m_cl, strict=True)], pa.int32()
                ),
                pa.array(self.m_out, pa.bool_()),
                pa.array(self.m_bp, pa.string()),
            ],
            schema=_UNIT_MESSAGE_SCHEMA,
        )
        blocks = pa.table([self.b_req, self.b_pos, self.b_hash], schema=_BLOCK_SCHEMA) if self.b_req else None
        batch = Batch(
            pa.table(self.cols, schema=_REQUEST_SCHEMA),
            self.keyless,
            messages,
            contents,
            blocks,
            self.rejects,
            self.buckets,
            self.pages,
        )
        self._reset()
        if self.memo.chars > CID_MEMO_CHARS:
            self.memo.clear()
        return batch


def _fingerprint(r: Request) -> Any:
    """The start of a hash of what a record says about its call (time, model, who, usage; the message contents
    are added by the caller): a repeated request id with another fingerprint is another call (item 1)."""
    head = (
        r.ts_us,
        r.trace_ms,
        r.model,
        r.provider,
        r.conversation_id,
        r.endpoint,
        r.input_tokens,
        r.cache_read_tokens,
        r.cache_write_5m_tokens,
        r.cache_write_1h_tokens,
        r.output_tokens,
        r.reasoning_tokens,
        r.batch,
        r.status,
        r.blocks,
    )
    return hashlib.blake2b(orjson.dumps(head, default=str), digest_size=8)


_UNIQUE_RUN = re.compile(r"[A-Za-z0-9]{8,}")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")


def unique_id(rid: str) -> bool:
    """Whether a request id looks made to be unique everywhere: a provider's or gateway's random id (OpenAI's
    chatcmpl-<29 random characters>, Anthropic's msg_01..., a UUID) holds a run of 8+ letters and digits mixed,
    and 20+ of them in all. Counters (`7`, `req-000123`) and Ollama's `chatcmpl-<0..999>` do not: for those the
    record's fingerprint is part of the identity."""
    if len(rid) < 20 or len(_NOT_ALNUM.sub("", rid)) < 20:
        return False
    return any(any(c.isdigit() for c in m) and any(c.isalpha() for c in m) for m in _UNIQUE_RUN.findall(rid))


class _Memo:
    """Contents this process has hashed and tokenized, by text, kept from unit to unit (a worker parses many;
    the files of an agent's runs re-send the same prompts): each is hashed and counted once per process until
    CID_MEMO_CHARS of text are remembered, then the memo starts again."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.cid_of: dict[str, str] = {}
        self.counts: dict[str, dict[str, int]] = {e: {} for e in tokens.ENCODINGS}
        self.chars = 0


_MEMO = _Memo()


def _parse(
    items: Iterable[Item],
    source: Source,
    ctx: dict[str, Any],
    no_text: bool,
    threads: int,
    advance: Callable[[], None] | None = None,
) -> Iterator[Batch]:
    """The records of one unit, parsed and validated, in batches."""
    b = _Builder(no_text, threads)
    name = source.name
    for item in items:
        if advance is not None and not item.line & 255:
            advance()
        reason = item.error
        found: list[Any] = []
        if reason is None:
            if not isinstance(item.obj, dict):
                reason = f"not a JSON object (a {type(item.obj).__name__})"
            else:
                try:
                    found = list(records_of(source, item.obj, ctx))
                except RecursionError:
                    reason = "nested too deep to read"
                except Exception as e:  # noqa: BLE001 - a record the parser did not foresee
                    # One odd record must not stop the file nor lose its good records.
                    reason = f"unexpected content ({type(e).__name__})"
        if reason is not None:
            found = [RecordError(reason)]
        n_req = 0
        for rec in found:  # a companion record (joined elsewhere) yields nothing
            suffix = f".{rec.where}" if getattr(rec, "where", "") else ""
            try:
                if isinstance(rec, Request):
                    validate(rec)
                elif isinstance(rec, UsageBucket):
                    validate_bucket(rec)
            except RecordError as e:
                rec = e
            if isinstance(rec, RecordError):
                excerpt = None if no_text else _excerpt(item)
                why = getattr(rec, "bare", str(rec)) if no_text else str(rec)
                b.rejects.append((item.line, item.unit, suffix, why, excerpt))
            elif isinstance(rec, UsageBucket):
                b.buckets.append((item.line, item.unit, suffix, rec))
            elif isinstance(rec, PageMark):
                b.pages.append(rec)
            else:
                keyless = rec.request_id is None
                if keyless:
                    key = record_key(name, item.obj, rec.conversation_id)
                    rec.request_id = key + (f"/{n_req}" if n_req else "")
                n_req += 1
                b.add(item.line, rec, keyless)
        if b.full():
            yield b.take()
    yield b.take()


def parse_unit(u: Unit) -> Parsed:
    """One unit, parsed where the backend runs it (a worker process, a Ray task, or here)."""
    path = as_path(u.path)
    source = BY_NAME[u.source]
    ctx: dict[str, Any] = {"path": u.path, "per_record": u.per_record}
    try:
        if u.end is None:
            digest = Digest()
            _, items = open_source(path, u.source, digest)
            try:
                batches = list(_parse(items, source, ctx, u.no_text, 1))
            finally:
                items.close()  # type: ignore[attr-defined]
            return Parsed(batches, None, 0, digest.hexdigest(), digest.size)
        ends: list[int] = []
        batches = list(_parse(range_items(path, u.start, u.end, ends), source, ctx, u.no_text, 1))
        return Parsed(batches, u.end, ends[0] if ends else 0)
    except InputError as e:
        return Parsed([], u.end, error=str(e))


def _checked(parsed: Iterator[Parsed], whole: list[tuple[str | None, int]]) -> Iterator[tuple[list[Batch], int, int]]:
    """(batches, line ends, bytes of the file reached) of each unit of a file, in order; `whole` receives the
    hash and size of a whole-file unit. A unit that could not read its file raises the reading's InputError."""
    for u in parsed:
        if u.error is not None:
            raise InputError(u.error)
        if u.end is None:
            whole.append((u.sha256, u.size))
        yield u.batches, u.lines, u.size if u.end is None else u.end


def split_ranges(path: Path, target: int) -> list[tuple[int, int]]:
    """[start, end) byte ranges of about `target` bytes covering the file, each ending just after a line feed
    (so no line is cut, whatever its CR/LF ending); one range when the file has no line feed to cut at."""
    size = os.stat(path).st_size
    out: list[tuple[int, int]] = []
    start = 0
    with open(path, "rb") as fh:
        while size - start > target + target // 2:
            fh.seek(start + target)
            pos = start + target
            cut = -1
            while cut < 0:
                chunk = fh.read(1 << 16)
                if not chunk:
                    break
                i = chunk.find(b"\n")
                if i >= 0:
                    cut = pos + i + 1
                pos += len(chunk)
            if cut < 0 or cut >= size:
                break
            out.append((start, cut))
            start = cut
    out.append((start, size))
    return out


def _splittable(path: Path) -> bool:
    """Whether a file is plain UTF-8 JSONL (no compression, no BOM, no UTF-16, not one JSON document), so that
    its byte ranges cut at line feeds can be read apart, as the whole file would be. A file in object storage is
    one unit (objects there are many, and each is fetched whole where it is parsed)."""
    if isinstance(path, RemotePath):
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return False
    if head[:2] == b"\x1f\x8b" or head[:4] == b"\x28\xb5\x2f\xfd" or head[:3] == b"\xef\xbb\xbf":
        return False
    if b"\x00" in head[:4] or head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return False
    start = head.lstrip()
    if start[:1] != b"{":
        return False
    first = start.split(b"\n", 1)[0].split(b"\r", 1)[0]
    if len(first) == len(start) and len(head) == 1 << 16:
        return False  # a first line longer than the head: not worth the risk of a document
    try:
        return isinstance(orjson.loads(first), dict)
    except orjson.JSONDecodeError:
        return False


class _Changed(Exception):
    """A file cut into ranges changed while they were read."""


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


class _Hashes:
    """The sha256 of the files cut into ranges, computed on a thread of this process while the workers parse
    them (hashlib releases the GIL): their bytes are read once more, but not on the way of the parsing."""

    def __init__(self, plan: list[_Planned]) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._jobs: dict[int, Future[tuple[str, int]]] = {}
        todo = [p for p in plan if p.sha256 is None]
        if todo:
            self._pool = ThreadPoolExecutor(max_workers=1)
            self._jobs = {id(p): self._pool.submit(sha256_file, p.path) for p in todo}

    def result(self, p: _Planned) -> tuple[str, int]:
        if p.sha256 is not None and p.stat is not None:
            return p.sha256, p.stat[0]
        return self._jobs[id(p)].result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


class _Prefetch:
    """The backend's results for a list of units, in unit order. Units go to the backend a window at a time,
    two windows in flight (so the workers do not wait for a window's slowest unit, nor for this process merging
    the one before): at most about three windows of results are held at once."""

    def __init__(self, backend: Backend, fn: Callable[[Unit], Parsed], units: list[Unit]) -> None:
        window = max(2, 2 * max(1, getattr(backend, "workers", 1)))
        self._backend, self._fn = backend, fn
        self._chunks = [units[i : i + window] for i in range(0, len(units), window)]
        self._next = 0
        self._pool = ThreadPoolExecutor(max_workers=2)
        self._running: collections.deque[Future[list[Parsed]]] = collections.deque()
        self._buf: collections.deque[Parsed] = collections.deque()
        self._fill()

    def _fill(self) -> None:
        while len(self._running) < 2 and self._next < len(self._chunks):
            self._running.append(self._pool.submit(self._backend.map, self._fn, self._chunks[self._next]))
            self._next += 1

    def results(self, n: int) -> Iterator[Parsed]:
        """The next n units' results, one at a time (a file cut into many ranges is never held whole)."""
        for _ in range(n):
            if not self._buf:
                first = self._running.popleft()
                self._fill()
                self._buf.extend(first.result())
            yield self._buf.popleft()

    def close(self) -> None:
        self._next = len(self._chunks)
        for f in self._running:
            f.cancel()
        self._pool.shutdown(wait=True)
