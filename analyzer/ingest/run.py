"""One ingest run, on the store's side: plan the files named or found (their format, or why they add nothing),
cut the large ones into units and send them to the backend, then merge each file's units' batches in order
(merge.py), a file whole or not at all (a transaction of its own, or one shared by a group of files read whole:
GROUP_FILES), so the tables are the same as a serial ingest's, row for row. Apart from the
store (store.py), which holds the tables and answers what it already holds.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

from analyzer import progress as tracking
from analyzer.backends.base import Backend
from analyzer.backends.local import INLINE, Inline
from analyzer.errors import InputError
from analyzer.ingest.batches import Batch
from analyzer.ingest.merge import FileMerge, Tables
from analyzer.ingest.parse import Parsed, parse, parse_unit
from analyzer.ingest.prefetch import Hashes, Prefetch
from analyzer.ingest.results import FileResult, IngestResult
from analyzer.ingest.units import Planned, Unit, split_ranges, splittable
from analyzer.inputs import Digest, check_regular, expand_paths, is_stream, label, sha256_file, text_bytes
from analyzer.perf import shed_file_blocks
from analyzer.remote import RemotePath
from analyzer.sources import open_source, sniff_source

# With a backend, an uncompressed JSONL file larger than this is cut into ranges of about this size, parsed
# apart; below PARALLEL_MIN_BYTES of input in all, everything is read in this process (starting workers costs
# ~1 s, more than a few MB take to parse).
RANGE_BYTES = 32 << 20
PARALLEL_MIN_BYTES = 2 << 20
# A local file holding less text than this (inputs.text_bytes) is parsed here even when there is a pool: sent to
# a worker, it costs this process about as much as parsing it (its result unpickled, its merge waiting on the
# pool's threads), ~0.5 ms a file. On 2,000 Claude Code session files of 8 KB, the pool made reading them take
# 2.6 s instead of 1.3 s; the real agent traces' files (200-800 KB of text) still gain from it. A file in
# object storage goes to the pool whatever its size: there its fetch, not its parsing, is the cost.
POOL_FILE_BYTES = 64 << 10


class Options(TypedDict, total=False):
    """How a run reads (the keywords of `ingest`, which Store.ingest passes on as they are)."""

    no_text: bool  # store no message text (counts and hashes only), nor excerpts of rejects
    fmt: str | None  # the format of every file, instead of detecting it
    progress: Callable[[str], None] | None  # told the name of each file as it is read
    backend: Backend  # where units are parsed (Inline: in this process)


def ingest(
    store: Tables,
    paths: Iterable[str],
    *,
    no_text: bool = False,
    fmt: str | None = None,
    progress: Callable[[str], None] | None = None,
    backend: Backend = INLINE,
) -> IngestResult:
    """Read PATHS into the store (see Options). On a backend other than Inline (and with more than
    PARALLEL_MIN_BYTES to read in files of POOL_FILE_BYTES or more), those files and byte ranges of large JSONL
    files are parsed as units on it, the smaller files here; this process merges every file's batches in order,
    so the tables are the same as a serial ingest's, row for row."""
    # (key, result): (0, place given) for a file skipped before reading, (1, place in the plan) for one read
    done_files: list[tuple[tuple[int, int], FileResult]] = []
    plan: list[Planned] = []
    seen: dict[str, str] = {}  # sha256 -> the file of this run that has those bytes
    tracking.stage("check inputs")
    # Hashing a file before reading it only pays when the database may already hold it: into an empty one
    # every file is read, and hashed once while it is read (a copy within the run is found then).
    hashed = store.holds_sources()
    for order, (path, explicit) in enumerate(expand_paths(paths)):
        try:
            planned = _plan(store, path, fmt, seen, hashed)
        except InputError as e:
            if explicit or fmt:
                raise
            # A file found by walking a folder: one unreadable or unrecognised file does not stop the run.
            done_files.append(((0, order), _unreadable(path, e)))
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
    big = [goes_to_pool(p.path, size) for p, size in zip(plan, sizes, strict=True)]
    pooled = not isinstance(backend, Inline) and worth_a_pool(
        [(p.path, size) for p, size in zip(plan, sizes, strict=True)]
    )
    units = [_units(p, no_text, fmt is None) if pooled and b else None for p, b in zip(plan, big, strict=True)]
    remote = Prefetch(backend, parse_unit, [u for us in units if us for u in us]) if pooled else None
    hashes = Hashes([p for p, us in zip(plan, units, strict=True) if us and us[0].end is not None])
    done = 0
    try:
        for pos, (p, us, size) in enumerate(zip(plan, units, sizes, strict=True)):
            if progress:
                progress(f"reading {label(p.path)} as {p.source.name}")
            tracking.file(f"{Path(label(p.path)).name} ({p.source.name})", done)
            got = remote.results(len(us)) if remote is not None and us else None
            whole = got is not None and us is not None and len(us) == 1 and us[0].end is None
            if us is None and size <= WHOLE_HERE_BYTES and _whole_unit(p):  # a small file, read whole here first:
                unit = Unit(str(p.path), p.source.name, no_text=no_text, per_record=fmt is None)  # it joins a group
                got, whole = iter([parse_unit(unit, 2, tracking.advance_to)]), True
            try:
                try:
                    res = _ingest_file(store, p, no_text, ctx, seen, got, hashes, whole)
                except _Changed:  # the file changed while its ranges were read: read it again, whole, here
                    p.items = None
                    res = _ingest_file(store, p, no_text, ctx, seen, None, hashes)
            except InputError as e:
                if p.explicit or fmt:
                    raise
                res = _unreadable(p.path, e)
            finally:
                for _ in got or ():  # a file given up half way: its other units' results are not the next file's
                    pass
            done_files.append(((0, p.order) if res.status == "copy" else (1, pos), res))
            done += size
        store.commit()  # the last group
    except BaseException:
        # Between files (a file given explicitly that cannot be read, Ctrl-C): the group's files are whole, and
        # stay, as a file committed on its own would. (A failure inside a merge rolled its group back already.)
        try:
            store.commit()
        except BaseException:  # noqa: BLE001 - the first error is the one to report
            store.rollback()
        raise
    finally:
        if remote is not None:
            remote.close()
        hashes.close()
    # The ids and token counts met are this run's working set (~50 MiB at 100k calls): a report would hold them
    # through every later stage. A next ingest into the same store looks up what this one committed.
    store.forget()
    # In the order a serial reading lists them: files skipped before reading (in the order given), then the
    # files read. A copy of another file of the run counts as skipped before reading, found now or earlier.
    return IngestResult([r for _, r in sorted(done_files, key=lambda x: x[0])])


def goes_to_pool(path: Path, size: int) -> bool:
    """Whether a file of `size` bytes on disk is parsed on the pool, when the run has one: it holds enough text
    (POOL_FILE_BYTES), or it is in object storage."""
    return isinstance(path, RemotePath) or text_bytes(path, size) >= POOL_FILE_BYTES


def worth_a_pool(files: Iterable[tuple[Path, int]]) -> bool:
    """Whether these files (path, bytes on disk) are read on a pool: those that go to it add up to
    PARALLEL_MIN_BYTES."""
    return sum(size for path, size in files if goes_to_pool(path, size)) >= PARALLEL_MIN_BYTES


def _plan(store: Tables, path: Path, fmt: str | None, seen: dict[str, str], hashed: bool) -> Planned | FileResult:
    """The file's format, or why it adds nothing. Regular files are closed again after sniffing (a folder
    may hold more files than a process may open); a pipe stays open, as it can be read only once."""
    if is_stream(path):
        digest = Digest()
        source, items = open_source(path, fmt, digest)
        return Planned(path, source, items, digest)
    if not hashed:
        check_regular(path)
        return Planned(path, sniff_source(path, fmt), None, None)
    sha, _ = sha256_file(path)
    known = store.ingested_as(sha)
    if known is not None:
        return FileResult(str(path), None, status="already ingested", detail=known)
    if sha in seen:
        return FileResult(str(path), None, status="copy", detail=seen[sha])
    seen[sha] = str(path)
    return Planned(path, sniff_source(path, fmt), None, None, sha256=sha)


def _whole_unit(p: Planned) -> bool:
    """Whether the file can be parsed as a unit of its own: not a pipe (already open), nor a batch file (whose
    records join across files through the run's `ctx`)."""
    return p.items is None and not p.source.shares_run and not p.source.companion


def _units(p: Planned, no_text: bool, per_record: bool = True) -> list[Unit] | None:
    """How a file is parsed on the backend: one unit, or one per byte range of a large JSONL file. None: in
    this process (a pipe, already open; batch files, whose records join across files through `ctx`)."""
    if not _whole_unit(p):
        return None
    whole = [Unit(str(p.path), p.source.name, no_text=no_text, per_record=per_record)]
    if p.source.sequential or getattr(p.source, "explode", None) is not None or not splittable(p.path):
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


# A group: files merged in one transaction, whose rows go in with one insert per table at its commit, instead of a
# few DuckDB statements per file (~10 ms a file: a folder of 2,000 small session files took 21 s to read). Only a
# file read whole on the backend, or a small file parsed whole here before its merge, joins one: its
# reading's error, a copy and bytes already ingested are all known before any of its rows is written, so nothing
# but the database failing (or Ctrl-C) ends its merge half way, and then the group is rolled back with it. Any
# other file has a transaction of its own, as it may be rolled back on its own (a copy found once read, a gzip
# broken half way); a group open before it is committed first.
GROUP_FILES = 500
GROUP_ROWS = 250_000  # rows held for the group's inserts (Arrow tables already built by the merge)
# Rows held at most (requests, messages, contents, blocks) before they are inserted within the open transaction: a
# large file is a transaction of its own, and its rows were held until its end (the 12 GB file of the 1M-call log:
# the parent grew to 3.4 GB by the end of "read logs"). DuckDB writes large appends to a database file as it goes.
FLUSH_ROWS = 250_000
WHOLE_HERE_BYTES = 2 << 20  # parsed here, a file up to this size on disk is parsed whole before its merge


def _ingest_file(
    store: Tables,
    p: Planned,
    no_text: bool,
    ctx: dict[str, Any],
    seen: dict[str, str],
    parsed: Iterator[Parsed] | None = None,
    hashes: Hashes | None = None,
    whole: bool = False,
) -> FileResult:
    """One file: its units' batches (parsed elsewhere, or here as they are read) merged in order, its rejects,
    buckets and manifest row, in a transaction of its own or, when `whole` (one unit, the whole file, parsed
    before its merge), in the group's (see GROUP_FILES)."""
    path, source = p.path, p.source
    items = None
    read_whole: list[tuple[str | None, int]] = []  # hash and size of the bytes a whole-file unit read
    if whole:  # checked before any row is written: the file either goes in whole or adds nothing
        assert parsed is not None
        unit = next(parsed)
        if unit.error is not None:
            raise unit.error
        assert unit.sha256 is not None and unit.end is None
        if (skip := _known(store, seen, unit.sha256, path)) is not None:
            return skip
        read_whole.append((unit.sha256, unit.size))
        units: Iterable[tuple[Iterable[Batch], int, int]] = [(unit.batches, unit.lines, unit.size)]
    elif parsed is None:
        if p.items is None:  # reopen: the bytes read now are the ones recorded
            p.digest = Digest()
            _, p.items = open_source(path, source.name, p.digest)
        items, digest = p.items, p.digest
        assert digest is not None
        ctx["path"] = str(path)  # sources that carry state from record to record (Codex totals) reset on it

        def advance() -> None:  # now and then: how far into the file reading has got, for the display
            tracking.advance_to(digest.size)

        units = [(parse(items, source, ctx, no_text, 2, advance), 0, 0)]
    else:
        units = _checked(parsed, read_whole)
    res = FileResult(label(path), source.name)
    if not whole:
        store.commit()  # the group before this file: its own transaction may be rolled back
    store.begin()
    try:
        source_id = store.next_source_id()
        f = FileMerge(store, source_id, path, final_wins=source.final_wins)
        for batches, lines, reached in units:
            for b in batches:
                f.flush(b, res)
                if store.pending_rows >= FLUSH_ROWS:  # inside the transaction still: a rollback undoes them
                    store.write_pending()
                    shed_file_blocks(store.con)  # the blocks just written, kept by DuckDB (nothing else queries)
            f.offset += lines
            if parsed is not None:
                tracking.advance_to(reached)
        f.flush_buckets(res)
        sha: str | None
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
        if not whole and (skip := _known(store, seen, sha, path)) is not None:
            store.rollback()
            return skip
        seen[sha] = str(path)
        res.rejected = f.rejected
        f.count_unlisted()
        store.add_source(
            (
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
            )
        )
        if not whole or store.pending_rows >= GROUP_ROWS or store.pending_files >= GROUP_FILES:
            store.commit()
    except BaseException:
        store.rollback()  # with a group's, every file of the group: the run stops (see GROUP_FILES)
        raise
    finally:
        close = getattr(items, "close", None)
        if close:
            close()
    return res


def _known(store: Tables, seen: dict[str, str], sha: str, path: Path) -> FileResult | None:
    """Why a file with these bytes adds nothing: a copy of a file read earlier in this run, or bytes ingested
    before (the file changed back, or a pipe repeated a file); None if it adds its rows."""
    if seen.get(sha, str(path)) != str(path):
        return FileResult(label(path), None, status="copy", detail=seen[sha])
    known = store.ingested_as(sha)
    if known is not None:
        return FileResult(label(path), None, status="already ingested", detail=known)
    return None


def _unreadable(path: Path, e: InputError) -> FileResult:
    """A file found by walking a folder that cannot be read: skipped, with the reason of the error."""
    return FileResult(label(path), None, status="skipped", detail=e.reason)


def _checked(parsed: Iterator[Parsed], whole: list[tuple[str | None, int]]) -> Iterator[tuple[list[Batch], int, int]]:
    """(batches, line ends, bytes of the file reached) of each unit of a file, in order; `whole` receives the
    hash and size of a whole-file unit. A unit that could not read its file raises the reading's InputError."""
    for u in parsed:
        if u.error is not None:
            raise u.error
        if u.end is None:
            whole.append((u.sha256, u.size))
        yield u.batches, u.lines, u.size if u.end is None else u.end


class _Changed(Exception):
    """A file cut into ranges changed while they were read."""


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def _size_on_disk(path: Path) -> int:
    """Bytes of a regular file as stored (compressed or not); 0 for a pipe, whose length nobody knows."""
    try:
        return path.stat().st_size if not is_stream(path) and path.is_file() else 0
    except OSError:
        return 0
