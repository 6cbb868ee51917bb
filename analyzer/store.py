"""The DuckDB store: canonical tables, one transaction per file, a content-hash manifest, and rejects.

Ingest is idempotent: a file whose bytes were ingested before (under any name) adds nothing, and a request
id seen before is counted as a duplicate, not stored twice. A record without an id of its own is identified by
its content (`record_key`), so a log that grows, is copied, recompressed or rotated adds only what is new; the
manifest holds the hash of the bytes actually read, so a file truncated under us is read again from its copy.
Message contents are content-addressed: each distinct text is hashed, tokenized and stored once however often
it was re-sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from analyzer import progress as tracking
from analyzer import tokens
from analyzer.errors import InputError
from analyzer.inputs import Digest, expand_paths, is_stream, label, sha256_file
from analyzer.migrations import migrate
from analyzer.sources import Item, Request, Source, open_source, sniff_source
from analyzer.sources.base import RecordError, record_key, validate, validate_bucket
from analyzer.sources.exports import PageMark, UsageBucket

BATCH_ROWS = 5_000  # requests per insert: bounds memory (each holds its messages' text)
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


_OFFLINE = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
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
    explicit: bool = True


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

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False) -> None:
        self.path = str(path) if path else ":memory:"
        refuse_remote(self.path)
        try:
            # Never fetch or load an extension behind the user's back: DuckDB would otherwise download one
            # over the network to open an SQLite file, an md: or s3:// path, or to run some functions.
            self.con = duckdb.connect(self.path, read_only=read_only, config=_OFFLINE)
        except duckdb.Error as e:
            raise InputError(f"{self.path}: cannot open database ({_db_reason(self.path, e)})") from None
        if not read_only:
            migrate(self.con)
        # Request ids and token counts of contents this store added or looked up since it opened (or since a
        # rollback): a run's own working set. What the database held before is looked up batch by batch
        # (_stored_ids, _stored_tokens), never loaded whole: a new day on top of a month stays a day's work.
        self._request_ids: set[str] | None = None
        self._tok: dict[str, dict[str, int]] | None = None
        self._lookup: bool | None = None  # whether the database may hold ids and contents the sets above lack

    def close(self) -> None:
        self.con.close()

    def hide_ids(self) -> None:
        """For the rest of this connection, read users, API keys, projects, conversations and tags as stable
        hashes (`--hash-ids`, for reports that leave the team). The stored data is untouched: a temporary copy
        of `requests` shadows it. A hash of a guessable name can be guessed back; LLMCOST_HASH_SALT, kept
        secret, prevents that while keeping the hashes stable between runs that share it."""
        salt = os.environ.get("LLMCOST_HASH_SALT", "")
        db = _one(self.con, "SELECT current_database()")[0].replace('"', '""')

        def h(expr: str, prefix: str) -> str:
            return f"'{prefix}-' || left(md5(? || {expr}), 10)"

        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE requests AS SELECT * REPLACE (
                {h('"user"', "user")} AS "user",
                {h("api_key", "key")} AS api_key,
                {h("project", "project")} AS project,
                {h("conversation_id", "conv")} AS conversation_id,
                list_transform(tags, lambda t: {h("t", "tag")}) AS tags)
            FROM "{db}".main.requests""",
            [salt] * 5,
        )

    # ---- ingest ---------------------------------------------------------------------------------------------

    def ingest(
        self,
        paths: Iterable[str],
        *,
        no_text: bool = False,
        fmt: str | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> IngestResult:
        result = IngestResult()
        plan: list[_Planned] = []
        seen: dict[str, str] = {}  # sha256 -> the file of this run that has those bytes
        tracking.stage("check inputs")
        for path, explicit in expand_paths(paths):
            try:
                planned = self._plan(path, fmt, seen)
            except InputError as e:
                if explicit or fmt:
                    raise
                # A file found by walking a folder: one unreadable or unrecognised file does not stop the run.
                result.files.append(FileResult(label(path), None, skipped=str(e).split(": ", 1)[-1]))
                continue
            if isinstance(planned, FileResult):
                result.files.append(planned)
            else:
                plan.append(planned)
                planned.explicit = explicit
        # Companion files (batch inputs) first, so the outputs they annotate can join them.
        plan.sort(key=lambda p: not p.source.companion)
        ctx: dict[str, Any] = {}
        tracking.stage("read logs")
        sizes = [_size_on_disk(p.path) for p in plan]
        tracking.reading(sum(sizes))
        done = 0
        for p, size in zip(plan, sizes, strict=True):
            if progress:
                progress(f"reading {label(p.path)} as {p.source.name}")
            tracking.file(f"{Path(label(p.path)).name} ({p.source.name})", done)
            try:
                result.files.append(self._ingest_file(p, no_text, ctx))
            except InputError as e:
                if p.explicit or fmt:
                    raise
                result.files.append(FileResult(label(p.path), None, skipped=str(e).split(": ", 1)[-1]))
            done += size
        return result

    def _plan(self, path: Path, fmt: str | None, seen: dict[str, str]) -> _Planned | FileResult:
        """The file's format, or why it adds nothing. Regular files are closed again after sniffing (a folder
        may hold more files than a process may open); a pipe stays open, as it can be read only once."""
        if is_stream(path):
            digest = Digest()
            source, items = open_source(path, fmt, digest)
            return _Planned(path, source, items, digest)
        sha, _ = sha256_file(path)
        known = _one(self.con, "SELECT path FROM sources WHERE sha256 = ?", [sha])
        if known:
            return FileResult(str(path), None, skipped=f"already ingested (as {known[0]})")
        if sha in seen:
            return FileResult(str(path), None, skipped=f"already ingested (same content as {seen[sha]})")
        seen[sha] = str(path)
        return _Planned(path, sniff_source(path, fmt), None, None)

    def _ingest_file(self, p: _Planned, no_text: bool, ctx: dict[str, Any]) -> FileResult:
        path, source = p.path, p.source
        if p.items is None:  # reopen: the bytes read now are the ones recorded
            p.digest = Digest()
            _, p.items = open_source(path, source.name, p.digest)
        items, digest = p.items, p.digest
        assert digest is not None
        res = FileResult(label(path), source.name)
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            source_id = _one(con, "SELECT coalesce(max(source_id), 0) + 1 FROM sources")[0]
            rejects: list[tuple[Any, ...]] = []
            batch: list[tuple[int, Request]] = []
            repeats: dict[str, int] = {}  # content key -> times seen in this file
            buckets: list[tuple[int, str, UsageBucket]] = []
            ctx["path"] = str(path)  # sources that carry state from record to record (Codex totals) reset on it
            for item in items:
                if not item.line & 255:  # now and then: how far into the file reading has got, for the display
                    tracking.advance_to(digest.size)
                reason = item.error
                found: list[Any] = []
                if reason is None:
                    if not isinstance(item.obj, dict):
                        reason = f"not a JSON object (a {type(item.obj).__name__})"
                    else:
                        try:
                            found = list(source.records(item.obj, ctx))
                        except Exception as e:  # noqa: BLE001 - a record the parser did not foresee
                            # One odd record must not stop the file nor lose its good records.
                            reason = f"unexpected content ({type(e).__name__})"
                if reason is not None:
                    found = [RecordError(reason)]
                n_req = 0
                for rec in found:  # a companion record (joined elsewhere) yields nothing
                    where = item.location(path) + (f".{rec.where}" if getattr(rec, "where", "") else "")
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
                        rejects.append((source_id, label(path), item.line, where, why, excerpt))
                    elif isinstance(rec, UsageBucket):
                        buckets.append((item.line, where, rec))
                    elif isinstance(rec, PageMark):
                        con.execute(
                            "INSERT INTO usage_pages VALUES (?, ?, ?, ?)",
                            [source_id, rec.export, rec.has_more, rec.next_page],
                        )
                    else:
                        if rec.request_id is None:
                            key = record_key(source.name, item.obj, rec.conversation_id)
                            key += f"/{n_req}" if n_req else ""
                            n = repeats[key] = repeats.get(key, 0) + 1
                            rec.request_id = key if n == 1 else f"{key}#{n}"
                        n_req += 1
                        batch.append((item.line, rec))
                if len(batch) >= BATCH_ROWS:
                    self._flush(batch, source_id, no_text, res)
                    batch = []
            self._flush(batch, source_id, no_text, res)
            self._flush_buckets(buckets, source_id, res)
            sha = digest.hexdigest()
            known = _one(con, "SELECT path FROM sources WHERE sha256 = ?", [sha])
            if known:  # these very bytes were read before (the file changed back, or a pipe repeated a file)
                con.execute("ROLLBACK")
                self._request_ids = None
                self._tok = None
                return FileResult(label(path), None, skipped=f"already ingested (as {known[0]})")
            res.rejected = len(rejects)
            if rejects:
                con.executemany("INSERT INTO rejects VALUES (?, ?, ?, ?, ?, ?)", rejects)
            con.execute(
                "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    source_id,
                    label(path),
                    sha,
                    digest.size,
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

    def _known_ids(self) -> set[str]:
        if self._request_ids is None:
            # First use: an empty database (a report's in-memory run) needs no look-ups at all. After a rollback
            # the sets start again empty and whatever earlier files committed is looked up.
            self._lookup = self._lookup is not None or bool(
                _one(self.con, "SELECT EXISTS (SELECT 1 FROM requests) OR EXISTS (SELECT 1 FROM contents)")[0]
            )
            self._request_ids = set()
        return self._request_ids

    def _token_cache(self) -> dict[str, dict[str, int]]:
        if self._tok is None:
            self._tok = {e: {} for e in tokens.ENCODINGS}
        return self._tok

    def _stored_ids(self, ids: list[str]) -> set[str]:
        """Which of these request ids the database already holds (a join in DuckDB, not a load into Python)."""
        if not self._lookup or not ids:
            return set()
        self.con.register("_batch_ids", pa.table({"request_id": pa.array(ids, pa.string())}))
        try:
            rows = self.con.execute(
                "SELECT DISTINCT request_id FROM requests WHERE request_id IN (SELECT request_id FROM _batch_ids)"
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

    def _flush(self, batch: list[tuple[int, Request]], source_id: int, no_text: bool, res: FileResult) -> None:
        if not batch:
            return
        known = self._known_ids()
        tok = self._token_cache()
        stored = self._stored_ids([r.request_id for _, r in batch if r.request_id not in known])
        cols: dict[str, list[Any]] = {f: [] for f in _REQUEST_FIELDS}
        m_req: list[str] = []
        m_pos: list[int] = []
        m_role: list[str] = []
        m_cid: list[str] = []
        m_out: list[bool] = []
        m_enc: list[str] = []
        m_bp: list[str | None] = []
        b_req: list[str] = []
        b_pos: list[int] = []
        b_hash: list[int] = []
        new_texts: dict[str, str] = {}  # content_id -> text, not yet tokenized anywhere
        cl_texts: dict[str, str] = {}  # content_id -> text, needing a cl100k count
        o200k, cl100k = tok["o200k_base"], tok["cl100k_base"]
        for line, r in batch:
            rid = r.request_id
            assert rid is not None  # set by _ingest_file from the record's content when the log has none
            if rid in known or rid in stored:
                res.duplicates += 1
                continue
            known.add(rid)
            enc = tokens.encoding_for(r.model)
            n_in = 0
            for pos, (role, text, is_output) in enumerate(r.messages):
                cid = content_id(text)
                if cid not in o200k and cid not in new_texts:
                    new_texts[cid] = text
                if enc == "cl100k_base" and cid not in cl100k:
                    cl_texts[cid] = text
                m_req.append(rid)
                m_pos.append(pos)
                m_role.append(role)
                m_cid.append(cid)
                m_out.append(is_output)
                m_enc.append(enc)
                m_bp.append(r.breakpoints.get(pos))
                n_in += not is_output
            if r.blocks:
                b_req.extend([rid] * len(r.blocks))
                b_pos.extend(range(len(r.blocks)))
                b_hash.extend(r.blocks)
            for f, v in (
                ("request_id", rid),
                ("source_id", source_id),
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
            ):
                cols[f].append(v)
        res.rows += len(cols["request_id"])
        # Contents new to this run may be in the database from an earlier one: their counts are read, not redone.
        for cid, n_o200k, n_cl100k in self._stored_tokens(list(new_texts)):
            if n_o200k is not None:
                o200k[cid] = n_o200k
                del new_texts[cid]
            if n_cl100k is not None:
                cl100k[cid] = n_cl100k
                cl_texts.pop(cid, None)
        # Tokenize each new distinct content once, for every encoding it is needed in.
        new_ids = list(new_texts)
        for cid, n in zip(new_ids, tokens.count_many([new_texts[c] for c in new_ids], "o200k_base"), strict=True):
            o200k[cid] = n
        cl_ids = list(cl_texts)
        for cid, n in zip(cl_ids, tokens.count_many([cl_texts[c] for c in cl_ids], "cl100k_base"), strict=True):
            cl100k[cid] = n
        con = self.con
        if new_ids:
            contents = pa.table(
                {
                    "content_id": new_ids,
                    "chars": [len(new_texts[c]) for c in new_ids],
                    "tokens_o200k": [o200k[c] for c in new_ids],
                    "tokens_cl100k": [cl100k.get(c) for c in new_ids],
                    "text": [None if no_text else new_texts[c] for c in new_ids],
                },
                schema=_CONTENT_SCHEMA,
            )
            con.register("_new_contents", contents)
            con.execute("INSERT INTO contents SELECT * FROM _new_contents")
            con.unregister("_new_contents")
        old_cl = [c for c in cl_ids if c not in new_texts]
        if old_cl:
            upd = pa.table({"content_id": old_cl, "n": [cl100k[c] for c in old_cl]})
            con.register("_cl_update", upd)
            con.execute(
                "UPDATE contents SET tokens_cl100k = u.n FROM _cl_update u WHERE contents.content_id = u.content_id"
            )
            con.unregister("_cl_update")
        req_table = pa.table(cols, schema=_REQUEST_SCHEMA)
        msg_table = pa.table(
            {
                "request_id": m_req,
                "position": m_pos,
                "role": m_role,
                "content_id": m_cid,
                "tokens": [tok[e][c] for e, c in zip(m_enc, m_cid, strict=True)],
                "is_output": m_out,
                "breakpoint": m_bp,
            },
            schema=_MESSAGE_SCHEMA,
        )
        con.register("_new_requests", req_table)
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
        if b_req:
            blocks = pa.table(
                {
                    "request_id": b_req,
                    "position": pa.array(b_pos, pa.int32()),
                    "block_hash": pa.array(b_hash, pa.int64()),
                }
            )
            con.register("_new_blocks", blocks)
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
