"""Turns what the user named (files, folders, globs; .gz/.zst transparently) into readable byte streams."""

from __future__ import annotations

import glob
import gzip
import hashlib
import io
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from analyzer.errors import InputError

# Suffixes looked at when walking a folder; files named explicitly are always tried.
LOG_SUFFIXES = (
    ".jsonl",
    ".ndjson",
    ".json",
    ".log",
    ".jsonl.gz",
    ".json.gz",
    ".ndjson.gz",
    ".log.gz",
    ".jsonl.zst",
    ".json.zst",
    ".ndjson.zst",
    ".log.zst",
    ".db",  # llm's logs.db (SQLite); other databases are skipped as unrecognised
)
_GLOB_CHARS = set("*?[")
# The file on disk under each stream opened last for a path: its position is how far reading has got, in bytes
# of the file as stored (compressed or not), for the progress display. Weak, so it never keeps a file open.
_ON_DISK: weakref.WeakValueDictionary[Path, BinaryIO] = weakref.WeakValueDictionary()


def expand_paths(paths: Iterable[str]) -> list[tuple[Path, bool]]:
    """Every file under the given paths, in a stable order, each with whether the user named it directly.

    A path that matches nothing is an error; a file found by walking a folder may later be skipped when its
    format is not recognised, a file named directly may not.
    """
    out: list[tuple[Path, bool]] = []
    seen: set[Path] = set()
    for raw in paths:
        if any(c in raw for c in _GLOB_CHARS) and not Path(raw).exists():
            matches = [Path(m) for m in sorted(glob.glob(raw, recursive=True))]
            if not matches:
                raise InputError(f"{raw}: no file matches this pattern")
            candidates = []
            for m in matches:
                candidates.extend([(w, False) for w in _walk(m)] if m.is_dir() else [(m, True)])
        else:
            p = Path(raw)
            if not p.exists():
                raise InputError(f"{raw}: no such file or directory")
            candidates = [(w, False) for w in _walk(p)] if p.is_dir() else [(p, True)]
        for c, explicit in candidates:
            key = c.resolve()
            if key not in seen:
                seen.add(key)
                out.append((c, explicit))
    return out


def _walk(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.name.lower().endswith(LOG_SUFFIXES) and not p.name.startswith(".")
    )


def open_bytes(path: Path) -> BinaryIO:
    """The file's decompressed bytes, chosen by its magic number rather than its name."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - handed to the caller
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    _ON_DISK[path] = fh
    magic = fh.read(4)
    fh.seek(0)
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=fh)  # type: ignore[return-value]
    if magic == b"\x28\xb5\x2f\xfd":
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(fh, closefd=True)
        return io.BufferedReader(reader, buffer_size=1 << 20)  # type: ignore[arg-type]
    return fh


def bytes_consumed(path: Path) -> int | None:
    """How many bytes of `path` as stored the open stream on it has read (None when none is open)."""
    fh = _ON_DISK.get(path)
    if fh is None:
        return None
    try:
        return fh.tell()
    except (OSError, ValueError):
        return None


def read_head(path: Path, size: int = 1 << 16) -> bytes:
    """The first `size` decompressed bytes, for format sniffing."""
    with open_bytes(path) as fh:
        try:
            return fh.read(size)
        except (OSError, EOFError) as e:
            raise InputError(f"{path}: cannot decompress ({e})") from None


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line bytes without the newline), skipping blank lines."""
    with open_bytes(path) as fh:
        try:
            for n, line in enumerate(fh, 1):
                line = line.strip()
                if line:
                    yield n, line
        except (OSError, EOFError) as e:
            raise InputError(f"{path}: cannot decompress ({e})") from None


def read_all(path: Path) -> bytes:
    with open_bytes(path) as fh:
        try:
            return fh.read()
        except (OSError, EOFError) as e:
            raise InputError(f"{path}: cannot decompress ({e})") from None


def sha256_file(path: Path) -> tuple[str, int]:
    """Content hash of the bytes on disk (so a renamed copy is recognised) and the size."""
    h = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    return h.hexdigest(), size
