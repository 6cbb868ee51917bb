"""What an ingest reports: one FileResult per file named or found, and their sum. Apart from the reading, as
the commands and the report (which lists this run's files) name them without reading anything."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# read: the file's records went through the store (it may still add no row: duplicates, rejects);
# already ingested: its bytes are in the database from an earlier run (`detail`: the path they were read as);
# copy: another file of this run has the same bytes (`detail`: that file);
# skipped: a file found in a folder that cannot be read or is not a log llmcost knows (`detail`: why).
Status = Literal["read", "already ingested", "copy", "skipped"]


@dataclass
class FileResult:
    path: str
    format: str | None
    rows: int = 0
    rejected: int = 0
    duplicates: int = 0
    buckets: int = 0  # usage-export buckets (in `usage_buckets`), apart from the request rows
    status: Status = "read"
    detail: str | None = None  # the path or the reason the status names
    # the line number of a last line left unread: no line end and not valid JSON yet (a live log's writer half way
    # through it, or a file cut short); read once it is complete, when the grown file is read again
    unended: int | None = None

    @property
    def skipped(self) -> str | None:
        """Why the file added nothing, as printed (already ingested, unrecognised in a folder); None if read."""
        if self.status == "already ingested":
            return f"already ingested (as {self.detail})"
        if self.status == "copy":
            return f"already ingested (same content as {self.detail})"
        if self.status == "skipped":
            return self.detail
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "rows": self.rows,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "buckets": self.buckets,
            "skipped": self.skipped,
            "unended_line": self.unended,
        }


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
