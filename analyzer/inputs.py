"""Turns what the user named (files, folders, globs, `-` or a pipe) into lines of UTF-8 bytes, whatever the
compression (.gz/.zst, chosen by magic number) and encoding (UTF-8 with or without BOM, UTF-16), and hashes
the bytes it actually read.

Reading is one pass, in bounded pieces: a file that is truncated, grows or is rotated while we read it, a pipe
that can be read only once, a compressed stream that ends early or is corrupt, and a record that never ends
(a decompression bomb) are all read as far as they go, with what went wrong said once, at the place it went
wrong, instead of a traceback or an unbounded allocation.
"""

from __future__ import annotations

import codecs
import glob
import hashlib
import os
import stat
import sys
import zlib
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from analyzer import remote
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
STDIN = "-"
STDIN_LABEL = "<stdin>"

READ_CHUNK = 1 << 20  # raw bytes per read from disk
_OUT_CHUNK = 1 << 20  # most decompressed bytes produced per step (a bomb never lands in memory whole)
_ZSTD_FEED = 1 << 10  # zstd's streaming API has no output bound: feed it little enough that 32,000:1 stays small


def _env_bytes(name: str, default: int) -> int:
    try:
        return max(1024, int(float(os.environ.get(name, "")) * (1 << 20)))
    except ValueError:
        return default


# The longest one record (a JSONL line) may be, in bytes; longer ones are rejected, not read into memory.
# LLMCOST_MAX_RECORD_MB raises it for logs that really hold such records.
MAX_RECORD_BYTES = _env_bytes("LLMCOST_MAX_RECORD_MB", 64 << 20)
# The largest single JSON document (not JSONL) read whole; LLMCOST_MAX_DOCUMENT_MB raises it.
MAX_DOCUMENT_BYTES = _env_bytes("LLMCOST_MAX_DOCUMENT_MB", 1 << 30)


def expand_paths(paths: Iterable[str]) -> list[tuple[Path, bool]]:
    """Every file under the given paths, in a stable order, each with whether the user named it directly.

    A path that matches nothing is an error; a file found by walking a folder may later be skipped when it is
    unreadable or its format is not recognised, a file named directly may not. `-` is standard input; a URL
    (s3://...) is listed in its object storage (remote.py) and its files come as `RemotePath`s.
    """
    out: list[tuple[Path, bool]] = []
    seen: set[Path] = set()
    for raw in paths:
        if raw == STDIN:
            out.append((Path(STDIN), True))
            continue
        if remote.is_url(raw):
            for r, explicit in remote.expand(raw, LOG_SUFFIXES):
                if r not in seen:
                    seen.add(r)  # type: ignore[arg-type]
                    out.append((r, explicit))  # type: ignore[arg-type]
            continue
        if any(c in raw for c in _GLOB_CHARS) and not _exists(raw):
            try:
                matches = [Path(m) for m in sorted(glob.glob(raw, recursive=True))]
            except (OSError, RecursionError) as e:
                raise InputError(f"cannot expand this pattern ({_why(e)})", path=str(raw)) from None
            if not matches:
                raise InputError("no file matches this pattern", path=str(raw))
            candidates = []
            for m in matches:
                if not _exists(str(m)):  # reached through a symlink loop: "too many levels of symbolic links"
                    continue
                candidates.extend([(w, False) for w in _walk(m)] if _is_dir(m) else [(m, True)])
        else:
            p = Path(raw)
            if not _exists(raw):
                raise InputError(f"{_stat_error(raw)}", path=str(raw))
            candidates = [(w, False) for w in _walk(p)] if _is_dir(p) else [(p, True)]
        for c, explicit in candidates:
            try:
                key = c.resolve()
            except (OSError, RuntimeError):  # a symlink loop: keep the name as given
                key = c.absolute()
            if key not in seen:
                seen.add(key)
                out.append((c, explicit))
    return out


def _why(e: BaseException) -> str:
    return (e.strerror if isinstance(e, OSError) and e.strerror else None) or type(e).__name__


def _exists(raw: str) -> bool:
    try:
        os.stat(raw)
        return True
    except OSError:
        return False


def _stat_error(raw: str) -> str:
    try:
        os.stat(raw)
    except OSError as e:
        if e.errno == 2:
            return "no such file or directory"
        return f"cannot read ({e.strerror or e})"
    return "cannot read"


def _is_dir(p: Path) -> bool:
    try:
        return p.is_dir()
    except OSError:
        return False


def _walk(folder: Path) -> list[Path]:
    """Log files under a folder. Symlinked folders are not followed (a link to a parent would loop); an
    unreadable subfolder is passed over here and its files are simply not found."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.lower().endswith(LOG_SUFFIXES) and not name.startswith("."):
                p = Path(root) / name
                try:
                    if p.is_file():
                        found.append(p)
                except OSError:
                    continue
    return sorted(found)


def as_path(name: str) -> Path:
    """A path back from its name (a work unit carries names, not objects): a URL stays a URL."""
    return remote.RemotePath(name) if remote.is_url(name) else Path(name)  # type: ignore[return-value]


def label(path: Path) -> str:
    """How a path is named in messages: standard input has no name of its own."""
    return STDIN_LABEL if str(path) == STDIN else str(path)


@dataclass
class Digest:
    """The sha256 and size of the bytes actually read, so that a file truncated or grown while we read it is
    recorded as what we saw, not as what it holds before or after."""

    _h: hashlib._Hash | None = field(default_factory=hashlib.sha256)  # None: the bytes are counted, not hashed
    size: int = 0

    def update(self, data: bytes) -> None:
        if self._h is not None:
            self._h.update(data)
        self.size += len(data)

    def hexdigest(self) -> str:
        if self._h is None:
            raise ValueError("this Digest counts bytes only")
        return self._h.hexdigest()


COMPRESSED_SUFFIXES = (".gz", ".zst")
INFLATE = 8  # a compressed log counts as this many times its size on disk (JSON logs compress about that much)


def text_bytes(path: Path, size: int) -> int:
    """About how many bytes of text a file of `size` bytes on disk holds: a compressed file counts INFLATE x."""
    return size * INFLATE if path.name.lower().endswith(COMPRESSED_SUFFIXES) else size


def is_stream(path: Path) -> bool:
    """True for standard input and pipes (`<(...)`, /dev/stdin, a FIFO): readable once, so read once."""
    if str(path) == STDIN:
        return True
    if isinstance(path, remote.RemotePath):
        return False
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode) or stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def _open_raw(path: Path) -> BinaryIO:
    if isinstance(path, remote.RemotePath):
        return path.open()
    if str(path) == STDIN:
        if sys.stdin is None or sys.stdin.isatty():
            raise InputError("-: standard input is a terminal; pipe a log into it")
        return os.fdopen(os.dup(sys.stdin.fileno()), "rb")
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise InputError("is a folder", path=str(path))
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            # /dev/zero, /dev/urandom, a terminal: endless or interactive, never a log
            raise InputError("is a device, not a file or a pipe", path=str(path))
        if stat.S_ISFIFO(mode):
            # Opening a FIFO blocks until a writer comes; non-blocking open returns at once, and reading a FIFO
            # with no writer is an immediate end of file instead of a hang.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb")
        return open(path, "rb")  # noqa: SIM115 - closed by the caller
    except OSError as e:
        raise InputError(f"cannot read ({e.strerror or e})", path=str(path)) from None


class ByteStream:
    """The decompressed, UTF-8 bytes of one file, read once in bounded chunks.

    `damage` says, after the chunks ran out, why they ran out early (a truncated or corrupt compressed
    stream, an unreadable disk); None when the file was read to its end.
    """

    def __init__(self, path: Path, digest: Digest | None = None) -> None:
        self.path = path
        # no digest asked for (sniffing a file's format): nothing reads a hash, so none is made (~0.2 ms a file)
        self.digest = digest if digest is not None else Digest(None)
        self.damage: str | None = None
        self.compression: str | None = None

    def _raw(self, fh: BinaryIO) -> Iterator[bytes]:
        while True:
            try:
                data = fh.read(READ_CHUNK)
            except OSError as e:
                self.damage = f"read error ({e.strerror or e}); the rest of the file was not read"
                return
            if not data:
                return
            self.digest.update(data)
            yield data

    def chunks(self) -> Generator[bytes, None, None]:
        with _open_raw(self.path) as fh:
            raw = self._raw(fh)
            first = next(raw, b"")
            if first[:2] == b"\x1f\x8b":
                self.compression = "gzip"
                decoded = self._gunzip(_chain(first, raw))
            elif first[:4] == b"\x28\xb5\x2f\xfd":
                self.compression = "zstd"
                decoded = self._unzstd(_chain(first, raw))
            else:
                decoded = _chain(first, raw)
            yield from _to_utf8(decoded)

    def _gunzip(self, raw: Iterator[bytes]) -> Iterator[bytes]:
        d = zlib.decompressobj(wbits=31)
        fresh = True  # nothing fed to this member's decompressor yet: ending here is not a truncation
        for data in raw:
            while data:
                try:
                    out = d.decompress(data, _OUT_CHUNK)
                except zlib.error as e:
                    self.damage = f"the gzip stream is corrupt ({e}); the rest of the file was not read"
                    return
                fresh = False
                if out:
                    yield out
                if d.eof:  # a concatenated member may follow (gzip files may hold several)
                    data = d.unused_data
                    d = zlib.decompressobj(wbits=31)
                    fresh = True
                    if data[:2] != b"\x1f\x8b":
                        data = b""  # trailing padding after the last member, ignored as gzip(1) does
                else:
                    data = d.unconsumed_tail
        if not d.eof and not fresh:
            self.damage = "the gzip stream is truncated (the file is incomplete or still being written)"

    def _unzstd(self, raw: Iterator[bytes]) -> Iterator[bytes]:
        import zstandard

        d = zstandard.ZstdDecompressor().decompressobj()
        fresh = True
        for data in raw:
            for i in range(0, len(data), _ZSTD_FEED):
                piece = data[i : i + _ZSTD_FEED]
                while piece:
                    try:
                        out = d.decompress(piece)
                    except zstandard.ZstdError as e:
                        self.damage = f"the zstd stream is corrupt ({e}); the rest of the file was not read"
                        return
                    fresh = False
                    if out:
                        yield out
                    if d.eof:  # another frame follows
                        piece = d.unused_data
                        d = zstandard.ZstdDecompressor().decompressobj()
                        fresh = True
                    else:
                        piece = b""
        if not d.eof and not fresh:
            self.damage = "the zstd stream is truncated (the file is incomplete or still being written)"


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


_BOMS = (
    (codecs.BOM_UTF8, None),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _to_utf8(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """UTF-8 as it is (a BOM dropped); UTF-16 (with a BOM, or recognised by its NUL bytes) transcoded."""
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= 4:
            break
    encoding = None
    for bom, enc in _BOMS:
        if head.startswith(bom):
            head = head[len(bom) :]
            encoding = enc
            break
    else:
        if len(head) >= 4 and head[1] == 0 and head[3] == 0 and head[0] and head[2]:
            encoding = "utf-16-le"
        elif len(head) >= 4 and head[0] == 0 and head[2] == 0 and head[1] and head[3]:
            encoding = "utf-16-be"
    if encoding is None:
        if head:
            yield head
        yield from chunks
        return
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    yield decoder.decode(head).encode("utf-8", "surrogatepass")
    for chunk in chunks:
        yield decoder.decode(chunk).encode("utf-8", "surrogatepass")
    yield decoder.decode(b"", final=True).encode("utf-8", "surrogatepass")


@dataclass(slots=True)
class Line:
    """One line of a file: its bytes (stripped), or why there are none."""

    number: int
    data: bytes | None
    error: str | None = None
    unended: bool = False  # the last line, with no line end after it: a live log's writer may be half way through


def split_lines(
    chunks: Iterable[bytes], stream: ByteStream | RangeStream | None = None, ends: list[int] | None = None
) -> Iterator[Line]:
    """Non-blank lines, numbered from 1, ended by LF, CRLF or a lone CR. A line longer than MAX_RECORD_BYTES is
    rejected without being kept in memory; a stream that ends early ends with one line saying so. `ends`, when
    given, receives the number of line ends read (a byte range's lines are numbered on from the ranges before)."""
    limit = MAX_RECORD_BYTES
    buf = bytearray()  # the start of a line that continues into the next chunk
    n = 1
    skipping = False  # inside an overlong line: drop bytes until its end
    pending_cr = False
    for chunk in chunks:
        if pending_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        pending_cr = chunk[-1:] == b"\r"
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        parts = chunk.split(b"\n")
        last = len(parts) - 1
        for i, part in enumerate(parts):
            if i == last:  # no line end yet: keep it for the next chunk
                if not skipping:
                    buf += part
                    if len(buf) > limit:
                        buf.clear()
                        skipping = True
                break
            if skipping:
                yield Line(n, None, _overlong())
                skipping = False
            else:
                if buf:  # the line began in an earlier chunk
                    buf += part
                    part = bytes(buf)
                    buf.clear()
                if len(part) > limit:
                    yield Line(n, None, _overlong())
                elif line := part.strip():
                    yield Line(n, line)
            n += 1
    damage = stream.damage if stream is not None else None
    if skipping:
        yield Line(n, None, _overlong())
        buf.clear()
        n += 1 if damage else 0
    tail = bytes(buf).strip()
    if ends is not None:
        ends.append(n - 1)
    if damage:
        cut = "; its last record is cut short" if tail else ""
        yield Line(n, None, damage + cut)
    elif tail:
        yield Line(n, tail, unended=True)


class RangeStream:
    """The bytes [start, end) of a regular, uncompressed UTF-8 file, read in bounded chunks: one unit of a large
    JSONL file cut at line ends (ingest.units.split_ranges), parsed apart from the others."""

    def __init__(self, path: Path, start: int, end: int) -> None:
        self.path, self.start, self.end = path, start, end
        self.damage: str | None = None

    def chunks(self) -> Generator[bytes, None, None]:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - closed below, also when the reader stops early
        except OSError as e:
            raise InputError(f"cannot read ({e.strerror or e})", path=str(self.path)) from None
        with fh:
            fh.seek(self.start)
            left = self.end - self.start
            while left > 0:
                try:
                    data = fh.read(min(READ_CHUNK, left))
                except OSError as e:
                    self.damage = f"read error ({e.strerror or e}); the rest of the file was not read"
                    return
                if not data:  # the file shrank since it was cut: the check after reading says it changed
                    return
                left -= len(data)
                yield data


def _overlong() -> str:
    return f"record longer than {MAX_RECORD_BYTES >> 20} MiB, not read (LLMCOST_MAX_RECORD_MB raises the limit)"


def starts_with(path: Path, magic: bytes) -> bool:
    """Whether a regular file begins with these bytes (never true of a pipe, which must not be read twice)."""
    if isinstance(path, remote.RemotePath):
        return False  # only a local SQLite file is read as one (sqlite3 opens files, not streams)
    try:
        if str(path) == STDIN or not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as fh:
            return fh.read(len(magic)) == magic
    except OSError:
        return False


def hash_into(path: Path, digest: Digest) -> None:
    """Feed a file's bytes to a digest, for a format read by a library rather than by ByteStream."""
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(READ_CHUNK):
                digest.update(chunk)
    except OSError as e:
        raise InputError(f"cannot read ({e.strerror or e})", path=str(path)) from None


def check_regular(path: Path) -> None:
    """Only regular files are read by name (a pipe is read as a stream): a device such as /dev/zero would never
    end."""
    if isinstance(path, remote.RemotePath):
        return  # a listed object: a file
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise InputError("is a device or special file, not a log file or a pipe", path=str(path))
    except OSError as e:
        raise InputError(f"cannot read ({e.strerror or e})", path=str(path)) from None


def sha256_file(path: Path) -> tuple[str, int]:
    """Content hash of the bytes on disk (so a renamed copy is recognised) and the size. Only regular files:
    a device such as /dev/zero would never end."""
    h = hashlib.sha256()
    size = 0
    if isinstance(path, remote.RemotePath):
        with path.open() as fh:
            while chunk := fh.read(READ_CHUNK):
                h.update(chunk)
                size += len(chunk)
        return h.hexdigest(), size
    check_regular(path)
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
    except OSError as e:
        raise InputError(f"cannot read ({e.strerror or e})", path=str(path)) from None
    return h.hexdigest(), size
