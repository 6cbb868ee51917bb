"""What a worker does for one unit (a file, or a byte range of a large JSONL file): read and parse its records,
validate and normalise them, hash and tokenize their messages' contents, and hand back compact batches (Arrow
tables and short lists). What needs the whole run (numbering records without ids, dropping duplicates, which
contents are new) is left to the store's side (merge.py), which merges the batches in unit order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from analyzer.errors import InputError
from analyzer.ingest.batches import Batch, Builder
from analyzer.ingest.units import Unit
from analyzer.inputs import Digest, as_path
from analyzer.sources import BY_NAME, UNENDED, Item, Request, Source, open_source, range_items, records_of
from analyzer.sources.base import RecordError, record_key, validate, validate_bucket
from analyzer.sources.exports import PageMark, UsageBucket

EXCERPT_CHARS = 200


@dataclass
class Parsed:
    """A unit's batches; for a range, how many line ends it held; for a whole file, the hash of its bytes."""

    batches: list[Batch]
    end: int | None = None
    lines: int = 0
    sha256: str | None = None
    size: int = 0
    error: InputError | None = None  # the file cannot be read (pickled with its path and reason)


def parse(
    items: Iterable[Item],
    source: Source,
    ctx: dict[str, Any],
    no_text: bool,
    threads: int,
    advance: Callable[[], None] | None = None,
) -> Iterator[Batch]:
    """The records of one unit, parsed and validated, in batches."""
    b = Builder(no_text, threads)
    name = source.name
    for item in items:
        if advance is not None and not item.line & 255:
            advance()
        if item.unit == UNENDED:  # the last line, half written: not read, said on the file (FileResult.unended)
            b.unended = item.line
            continue
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


def parse_unit(u: Unit, threads: int = 1, advance: Callable[[int], None] | None = None) -> Parsed:
    """One unit, parsed where the backend runs it (a worker process, a Ray task, or here: then with `threads`
    tokenizing, and `advance` told the bytes of a whole file read so far, for the progress display)."""
    path = as_path(u.path)
    source = BY_NAME[u.source]
    ctx: dict[str, Any] = {"path": u.path, "per_record": u.per_record}
    try:
        if u.end is None:
            digest = Digest()
            _, items = open_source(path, u.source, digest)
            step = None if advance is None else (lambda: advance(digest.size))
            try:
                batches = list(parse(items, source, ctx, u.no_text, threads, step))
            finally:
                items.close()  # type: ignore[attr-defined]
            return Parsed(batches, None, 0, digest.hexdigest(), digest.size)
        ends: list[int] = []
        batches = list(parse(range_items(path, u.start, u.end, ends), source, ctx, u.no_text, 1))
        return Parsed(batches, u.end, ends[0] if ends else 0)
    except InputError as e:
        return Parsed([], u.end, error=e)


def _excerpt(item: Item) -> str | None:
    if item.raw is not None:
        s = item.raw[: EXCERPT_CHARS * 4].decode("utf-8", "replace")
    elif item.obj is not None:
        s = orjson.dumps(item.obj, default=str)[: EXCERPT_CHARS * 4].decode("utf-8", "replace")
    else:
        return None
    return s[:EXCERPT_CHARS]
