"""Inputs named by URL (`s3://bucket/logs/`, `gs://...`, `az://...`, any fsspec protocol): listed and streamed
through fsspec, an optional import (`pip install 'llmcost[ray]'`, plus the protocol's own package: s3fs, gcsfs,
adlfs).

llmcost reaches no network on its own; a URL the user names is the one place it does, and only to read that.
A `RemotePath` stands where the rest of the pipeline has a `pathlib.Path`: it prints as its URL (so messages,
the manifest and rejects name it as the user did), is picklable (a Ray parse task opens it on whichever node it
runs, with that node's credentials), and is read in bounded pieces like a local file, never downloaded whole.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from analyzer.errors import InputError

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# fsspec protocols that name this machine's own files or no file at all: a plain path does those, and "file://"
# URLs are still read through fsspec (tests use them to stand for object storage that every process can see).
_NOT_INPUTS = ("data", "reference", "cached", "blockcache", "filecache", "simplecache")


def is_url(raw: str) -> bool:
    return bool(_URL.match(raw))


def _fsspec() -> Any:
    try:
        import fsspec
    except ImportError:
        raise InputError("reading URLs needs fsspec: pip install 'llmcost[ray]'") from None
    return fsspec


def _filesystem(url: str) -> tuple[Any, str]:
    """The filesystem a URL names and the path within it; a protocol without its package is one line saying
    which to install."""
    protocol = url.split("://", 1)[0].lower()
    if protocol in _NOT_INPUTS:
        raise InputError(f"{protocol}:// is not a place logs are read from", path=str(url))
    try:
        return _fsspec().core.url_to_fs(url)
    except ImportError as e:  # fsspec's own words name the package: "Install s3fs to access S3"
        raise InputError(f"{_first_line(e)}", path=str(url)) from None
    except (ValueError, OSError) as e:
        raise InputError(f"{_first_line(e)}", path=str(url)) from None


@dataclass(frozen=True)
class _Stat:
    st_size: int


@dataclass(frozen=True)
class RemotePath:
    """One file in object storage, by URL; `size` as listed (saves asking the storage once per file)."""

    url: str
    size: int | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return self.url

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    def resolve(self) -> RemotePath:
        return self

    def absolute(self) -> RemotePath:
        return self

    def is_file(self) -> bool:
        return True

    def is_dir(self) -> bool:
        return False

    def stat(self) -> _Stat:
        """The size as stored (for the progress display); raises OSError as Path.stat does."""
        if self.size is not None:
            return _Stat(self.size)
        fs, path = _filesystem(self.url)
        return _Stat(int(fs.size(path) or 0))

    def open(self) -> BinaryIO:
        """The file's bytes as a stream: read in pieces as asked (fsspec's buffered file), never all at once."""
        fs, path = _filesystem(self.url)
        try:
            return fs.open(path, "rb")
        except FileNotFoundError:
            raise InputError("no such file", path=str(self.url)) from None
        except (OSError, ValueError) as e:
            raise InputError(f"cannot read ({_first_line(e)})", path=str(self.url)) from None


def expand(url: str, suffixes: tuple[str, ...]) -> list[tuple[RemotePath, bool]]:
    """The files a URL names, as `inputs.expand_paths` does for local paths: a file (named directly), a folder
    (every log file under it, by suffix, hidden ones passed over), or a glob; in a stable order."""
    fs, path = _filesystem(url)
    protocol = url.split("://", 1)[0]
    try:
        if any(c in path for c in "*?["):
            found = fs.glob(path, detail=True)
            if not found:
                raise InputError("no file matches this pattern", path=str(url))
            out: list[tuple[RemotePath, bool]] = []
            for p, info in sorted(found.items()):
                if info.get("type") == "directory":
                    out.extend(_walk(fs, protocol, p, suffixes))
                else:
                    check_local(fs, p, url)
                    out.append((_remote(fs, protocol, p, info), True))
            return out
        if fs.isdir(path):
            return _walk(fs, protocol, path, suffixes)
        if not fs.exists(path):
            raise InputError("no such file or directory", path=str(url))
        check_local(fs, path, url)
    except InputError:
        raise
    except (OSError, ValueError) as e:
        raise InputError(f"cannot list ({_first_line(e)})", path=str(url)) from None
    return [(RemotePath(url), True)]


def _is_local(fs: Any) -> bool:
    protocols = fs.protocol if isinstance(fs.protocol, tuple | list) else (fs.protocol,)
    return any(p in ("file", "local") for p in protocols)


def check_local(fs: Any, path: str, url: str) -> None:
    """A file:// URL names this machine's files: the checks a local path has apply (issue 23, item 17). A device
    (/dev/zero never ends) or a FIFO (a URL is read as a file, and a FIFO nobody writes to waits for ever) is
    refused in one line; a pipe is read by naming it without file://."""
    if not _is_local(fs):
        return
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise InputError(f"cannot read ({e.strerror or e})", path=str(url)) from None
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        raise InputError("is a pipe; name it without file:// to read it once, as a stream", path=str(url))
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        raise InputError("is a device or special file, not a log file", path=str(url))


def _walk(fs: Any, protocol: str, folder: str, suffixes: tuple[str, ...]) -> list[tuple[RemotePath, bool]]:
    found = []
    root = folder.rstrip("/")
    for p, info in sorted(fs.find(folder, detail=True).items()):
        rel = p[len(root) :].lstrip("/") if p.startswith(root) else p.rsplit("/", 1)[-1]
        if any(part.startswith(".") for part in rel.split("/")):
            continue  # hidden files and folders, as in a local folder walk
        if info.get("type") != "file" and _is_local(fs) and not _regular(p):
            continue  # a device or pipe under a folder: passed over, as in a local folder walk
        if p.lower().endswith(suffixes):
            found.append((_remote(fs, protocol, p, info), False))
    return found


def _regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _remote(fs: Any, protocol: str, path: str, info: dict[str, Any]) -> RemotePath:
    """A listed path back as a URL (listings give paths without their protocol), with its listed size."""
    unstrip = getattr(fs, "unstrip_protocol", None)
    url = unstrip(path) if unstrip else f"{protocol}://{path.lstrip('/')}"
    size = info.get("size")
    return RemotePath(url, int(size) if isinstance(size, int | float) else None)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
