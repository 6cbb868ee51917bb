"""The plan of a run: a file to ingest (`Planned`), and the units a backend parses it as: the whole file, or, for
a large plain JSONL file, byte ranges cut at line feeds, read apart as the whole file would be. Apart as both the
planning (run.py) and the workers (parse.py) name a unit, and the cutting is tested on its own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from analyzer.inputs import Digest
from analyzer.remote import RemotePath
from analyzer.sources import Item, Source


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
class Planned:
    """A file to ingest: its format, and for a pipe the records already opened (it can be read only once)."""

    path: Path
    source: Source
    items: Iterator[Item] | None
    digest: Digest | None
    sha256: str | None = None  # hashed before reading (when the database may hold it already)
    explicit: bool = True
    order: int = 0  # place among the files named or found
    stat: tuple[int, int, int] | None = None  # size, mtime, inode when cut into ranges


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


def splittable(path: Path) -> bool:
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
