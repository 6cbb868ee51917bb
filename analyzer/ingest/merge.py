"""The merge of one file's parsed batches into the tables, in unit order, inside a transaction (the file's, or
its group's: run.py), the rows inserted with the transaction's others (Store.insert_later): ids of
records without one numbered by repeat within the file, requests seen before dropped as duplicates, contents new
to the store inserted once, rejects listed (up to MAX_REJECT_ROWS per file, counted by reason past it) and
usage-export buckets kept apart. Apart from the run (run.py), which decides what is read and when; this is how
a batch becomes rows.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from analyzer.ingest.batches import Batch
from analyzer.ingest.results import FileResult
from analyzer.ingest.schemas import MESSAGE_SCHEMA, REQUEST_FIELDS
from analyzer.inputs import label
from analyzer.sources import Item
from analyzer.sources.exports import UsageBucket

# Rejects listed row by row per file; past it, one row per reason counts the rest (a 15 KB .gz can hold 4 million
# bad lines: the first hundred thousand say what is wrong as well as all of them would).
MAX_REJECT_ROWS = 100_000


class Tables(Protocol):
    """What the ingest asks of the store (store.Store): its connection, and what it already holds, looked up
    batch by batch. A protocol, so that ingest/ never imports the store that uses it."""

    con: duckdb.DuckDBPyConnection

    def known_ids(self) -> dict[str, str | None]: ...
    def token_cache(self) -> dict[str, dict[str, int]]: ...
    def stored_ids(self, ids: list[str]) -> dict[str, str | None]: ...
    def stored_from_path(self, ids: list[str], path: str) -> set[str]: ...
    def stored_tokens(self, cids: list[str]) -> list[tuple[str, int | None, int | None]]: ...
    def forget(self) -> None: ...
    def next_source_id(self) -> int: ...
    def holds_sources(self) -> bool: ...
    def ingested_as(self, sha: str) -> str | None: ...
    def begin(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def insert_later(self, table: str, rows: pa.Table, columns: tuple[str, ...] | None = None) -> None: ...
    def write_pending(self) -> None: ...
    def add_source(self, row: tuple[Any, ...]) -> None: ...

    @property
    def pending_rows(self) -> int: ...
    @property
    def pending_files(self) -> int: ...


@dataclass
class FileMerge:
    """The merge of one file's batches into the tables, and what it keeps from batch to batch."""

    store: Tables
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

    def store_rejects(self, rejects: list[tuple[int, str, str, str, str | None]]) -> None:
        """A batch's rejects in one insert; past MAX_REJECT_ROWS in a file, counted by reason instead."""
        path, name = self.path, label(self.path)
        room = max(MAX_REJECT_ROWS - self.rejected, 0)
        self.rejected += len(rejects)
        rows: dict[str, list[Any]] = {k: [] for k in ("line", "location", "reason", "excerpt")}
        for i, (line, unit, suffix, why, excerpt) in enumerate(rejects):
            line = line + self.offset if unit == "line" else line
            if i >= room:
                if why not in self.unlisted:
                    self.first_unlisted[why] = Item(line, unit, None, None, None).location(path) + suffix
                self.unlisted[why] += 1
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
        self.store.con.register("_batch_rejects", table)
        try:
            self.store.con.execute(
                "INSERT INTO rejects SELECT ?, ?, line, location, reason, excerpt, 1 FROM _batch_rejects",
                [self.source_id, name],
            )
        finally:
            self.store.con.unregister("_batch_rejects")

    def count_unlisted(self) -> None:
        """The rejects past MAX_REJECT_ROWS: one row per reason, with their number and where the first was."""
        if self.unlisted:
            self.store.con.executemany(
                "INSERT INTO rejects VALUES (?, ?, NULL, ?, ?, NULL, ?)",
                [
                    [self.source_id, label(self.path), self.first_unlisted[why], why, n]
                    for why, n in sorted(self.unlisted.items())
                ],
            )

    def flush_buckets(self, res: FileResult) -> None:
        """Usage-export buckets into `usage_buckets`; one already held (an overlapping export) is a duplicate."""
        buckets, source_id = self.buckets, self.source_id
        if not buckets:
            return
        # Only the keys of these buckets are looked up: the table may hold years of daily buckets.
        known = {
            r[0]
            for r in self.store.con.execute(
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
            self.store.con.executemany(f"INSERT INTO usage_buckets VALUES ({', '.join(['?'] * len(rows[0]))})", rows)
        res.buckets += len(rows)

    def flush(self, b: Batch, res: FileResult) -> None:
        """One parsed batch into the tables: ids of records without one numbered by repeat within the file,
        requests seen before dropped as duplicates (first seen wins; for a `final_wins` source a repeat within
        the same file replaces the row instead), contents new to the store inserted."""
        if b.pages:
            self.store.con.executemany(
                "INSERT INTO usage_pages VALUES (?, ?, ?, ?)",
                [[self.source_id, m.export, m.has_more, m.next_page] for m in b.pages],
            )
        if b.rejects:
            self.store_rejects(b.rejects)
        if b.unended is not None:
            res.unended = b.unended + self.offset
        for line, unit, suffix, bucket in b.buckets:
            line = line + self.offset if unit == "line" else line
            self.buckets.append((line, Item(line, unit, None, None, None).location(self.path) + suffix, bucket))
        if not b.keyless:
            return
        rids, keep, replaced, moved = self._identify(b, res)
        kept = sum(keep)
        res.rows += kept - len(replaced)
        if not kept:
            return
        if replaced or moved:
            self._drop_earlier(replaced, moved)
        self._insert(b, rids, keep, kept)

    def _identify(self, b: Batch, res: FileResult) -> tuple[list[str], list[bool], list[str], list[str]]:
        """Each request's id in the tables and whether its row is kept (a duplicate is counted in `res`), with the
        (final_wins) ids whose stored row this batch replaces: of an earlier batch of this file, and of an
        earlier reading of this very path (moved here)."""
        store = self.store
        n = len(b.keyless)
        rids: list[str] = b.requests.column("request_id").to_pylist()
        repeats = self.repeats
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
        known = store.known_ids()
        stored = store.stored_ids([r for r in (*rids, *alt) if r is not None and r not in known])
        keep = [False] * n
        final = self.final_wins
        here: dict[str, int] = {}  # (final_wins) request id -> its row in this batch
        replaced: list[str] = []  # (final_wins) ids whose row an earlier batch of this file stored
        # (final_wins) ids an earlier reading of this very path stored (the file has grown since): read again now
        earlier = set()
        if final:
            again = [r for r in rids if r not in self.own and (r in known or r in stored)]
            earlier = store.stored_from_path(again, label(self.path))
        moved: list[str] = []
        for i, rid in enumerate(rids):
            if rid in earlier and rid not in self.own:  # this reading holds the final count: the row moves here
                moved.append(rid)
                known[rid] = known[rid] if rid in known else stored[rid]
                keep[i] = True
                self.own.add(rid)
                here[rid] = i
                continue
            seen = known if rid in known else stored if rid in stored else None
            if seen is not None:
                # (final_wins) a repeat within the file is the same call whatever it says: no other id for it
                other = None if final and rid in self.own else alt[i]
                prev = seen[rid]
                if other is None or prev is None or prev == fps[i] or other in known or other in stored:
                    res.duplicates += 1
                    if final and rid in self.own:  # a later record of this file, same id: it holds the final count
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
                self.own.add(rid)
                here[rid] = i
        return rids, keep, replaced, moved

    def _drop_earlier(self, replaced: list[str], moved: list[str]) -> None:
        """(final_wins) The rows this batch's records replace; those an earlier reading of the path stored leave
        its count in the manifest."""
        self.store.write_pending()  # the rows replaced may be among those not yet inserted
        con = self.store.con
        con.register("_replaced", pa.table({"request_id": pa.array(replaced + moved, pa.string())}))
        try:
            if moved:  # the earlier readings of this path hold fewer rows now
                con.execute(
                    "UPDATE sources SET rows = sources.rows - m.n FROM (SELECT source_id, count(*) AS n "
                    "FROM requests WHERE source_id <> ? AND request_id IN (SELECT request_id FROM _replaced) "
                    "GROUP BY source_id) m WHERE sources.source_id = m.source_id",
                    [self.source_id],
                )
            con.execute(
                "DELETE FROM requests WHERE (source_id = ? OR source_id IN (SELECT source_id FROM sources "
                "WHERE path = ?)) AND request_id IN (SELECT request_id FROM _replaced)",
                [self.source_id, label(self.path)],
            )
            for table in ("messages", "blocks"):
                con.execute(f"DELETE FROM {table} WHERE request_id IN (SELECT request_id FROM _replaced)")
        finally:
            con.unregister("_replaced")

    def _insert(self, b: Batch, rids: list[str], keep: list[bool], kept: int) -> None:
        """The kept requests, their messages and blocks, under their ids, with the contents new to the store."""
        import pyarrow.compute as pc  # here, not at the top: its import takes ~0.1 s that most commands never use

        store, n = self.store, len(rids)
        rid_arr = pa.array(rids, pa.string())
        req = b.requests.set_column(0, "request_id", rid_arr)
        req = req.set_column(1, "source_id", pa.array([self.source_id] * n, pa.int32()))
        if self.offset:
            req = req.set_column(2, "line", pc.add(req.column("line"), pa.scalar(self.offset, pa.int32())))
        msgs, blocks = b.messages, b.blocks
        if kept < n:
            keep_arr = pa.array(keep)
            req = req.filter(keep_arr)
            msgs = msgs.filter(pc.take(keep_arr, msgs.column("req")))
            if blocks is not None:
                blocks = blocks.filter(pc.take(keep_arr, blocks.column("req")))
        self._insert_contents(b, msgs)
        msg_table = pa.table(
            [pc.take(rid_arr, msgs.column("req")), *(msgs.column(c) for c in MESSAGE_SCHEMA.names[1:])],
            schema=MESSAGE_SCHEMA,
        )
        # inserted with the other files' rows of the transaction (Store.insert_later), in the order they come
        store.insert_later("requests", req.select(REQUEST_FIELDS), tuple(REQUEST_FIELDS))
        store.insert_later("messages", msg_table, tuple(MESSAGE_SCHEMA.names))
        if blocks is not None and blocks.num_rows:
            table = pa.table(
                [pc.take(rid_arr, blocks.column("req")), blocks.column("position"), blocks.column("block_hash")],
                names=["request_id", "position", "block_hash"],
            )
            store.insert_later("blocks", table)

    def _insert_contents(self, b: Batch, msgs: pa.Table) -> None:
        """The contents the kept messages use that the store lacks, and the cl100k counts it lacks for contents
        cl100k-encoded requests send."""
        import pyarrow.compute as pc

        store = self.store
        con, tok = store.con, store.token_cache()
        # Contents new to this run may be in the database from an earlier one: they are not inserted again.
        o200k, cl100k = tok["o200k_base"], tok["cl100k_base"]
        cids: list[str] = pc.unique(msgs.column("content_id")).to_pylist()  # in order of first use
        new = [c for c in cids if c not in o200k]
        for cid, n_o200k, n_cl100k in store.stored_tokens(new):
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
                store.insert_later("contents", contents)
            fresh = set(new)
            old_cl = [c for c in cl_need if c not in fresh]
            if old_cl:
                store.write_pending()
                upd = pa.table({"content_id": old_cl, "n": [cl100k[c] for c in old_cl]})
                con.register("_cl_update", upd)
                con.execute(
                    "UPDATE contents SET tokens_cl100k = u.n FROM _cl_update u WHERE contents.content_id = u.content_id"
                )
                con.unregister("_cl_update")


def _ts(us: int | None) -> datetime | None:
    return None if us is None else datetime(1970, 1, 1) + timedelta(microseconds=us)
