"""The nightly audit: ingest what is new, report on the last complete day(s), compare them with the window before,
and fail (exit 3) when spend rose or the cache share fell past the thresholds given.

Incremental and idempotent: the store's sha256 manifest skips files already read, so re-running the same night
adds nothing and rewrites the same outputs. Locked: one audit per database at a time (an advisory lock on
`<db>.lock`, held for the whole run), so two cron jobs never interleave their ingests.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from analyzer.errors import InputError
from analyzer.prices import Catalogue
from analyzer.render import usd
from analyzer.report import priced_frame
from analyzer.store import IngestResult, Store

SCHEMA_VERSION = 1


@contextmanager
def locked(db: str, wait_s: float = 0.0) -> Iterator[None]:
    """Hold `<db>.lock` exclusively for the block; a second audit of the same database waits up to wait_s, then
    stops with who holds it. The lock goes with the process, so a killed run never leaves it stuck."""
    path = Path(f"{db}.lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise InputError(f"{path}: cannot create the lock file ({e.strerror})") from None
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                    raise InputError(
                        f"{db}: another audit is running ({holder}); --lock-wait SECONDS waits for it"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


@dataclass(frozen=True)
class Windows:
    day: date  # the last day audited
    days: int

    def check(self) -> Windows:
        try:
            self.previous  # noqa: B018  (the earliest date computed)
        except OverflowError:
            raise InputError(f"--day {self.day} with --window {self.days} reaches outside the calendar") from None
        return self

    @property
    def current(self) -> tuple[datetime, datetime]:
        # naive UTC, as the store keeps timestamps and as --since/--until are given
        end = datetime.combine(self.day + timedelta(days=1), datetime.min.time())
        return end - timedelta(days=self.days), end

    @property
    def previous(self) -> tuple[datetime, datetime]:
        start, _ = self.current
        return start - timedelta(days=self.days), start


def default_day(today: date) -> date:
    """The last complete UTC day: a run at 01:10 audits yesterday, whatever the logs hold."""
    return today - timedelta(days=1)


def latest_day(store: Store) -> date | None:
    ((latest,),) = store.con.execute(
        "SELECT max(ts)::DATE FROM requests WHERE trace_ms IS NULL"
    ).fetchall()  # fetchall: DuckDB 2 refuses new work on a connection with a half-read result
    return latest


def _window(store: Store, cat: Catalogue, span: tuple[datetime, datetime]) -> dict[str, Any]:
    f = priced_frame(store, cat, span[0], span[1])
    ok = f.filter(pl.col("priced"))
    input_tokens = int(f["input_tokens"].sum() or 0)
    reads = int(f["cache_read_tokens"].sum() or 0)
    return {
        "start": span[0].isoformat() + "Z",
        "end": span[1].isoformat() + "Z",
        "requests": f.height,
        "priced_requests": ok.height,
        "unpriced_requests": f.height - ok.height,
        "cost_usd": round(float(ok["cost"].sum() or 0.0), 10),
        "input_tokens": input_tokens,
        "cache_read_tokens": reads,
        "cached_share": round(reads / input_tokens, 6) if input_tokens else None,
    }


def compare(
    store: Store,
    cat: Catalogue,
    windows: Windows,
    fail_on_increase: float | None,
    fail_on_cache_drop: float | None,
    ingested: IngestResult,
) -> dict[str, Any]:
    cur = _window(store, cat, windows.current)
    if not cur["requests"]:
        latest = latest_day(store)
        raise InputError(
            f"no traffic logged on {windows.day}"
            + (f" (or the {windows.days} days to it)" if windows.days > 1 else "")
            + f" in {store.path}; the latest is {latest or 'none'}: are that day's logs among the paths given? "
            "(--day DATE audits another day)"
        )
    prev = _window(store, cat, windows.previous)
    cost_pct = None
    if prev["cost_usd"] > 0:
        cost_pct = round((cur["cost_usd"] - prev["cost_usd"]) / prev["cost_usd"] * 100, 2)
    share_pts = None
    if cur["cached_share"] is not None and prev["cached_share"] is not None:
        share_pts = round((cur["cached_share"] - prev["cached_share"]) * 100, 2)
    label = f"{windows.day}" if windows.days == 1 else f"{windows.days} days to {windows.day}"
    crossed = []
    notes = []
    if fail_on_increase is not None:
        if cost_pct is None:
            notes.append("spend: no priced spend in the previous window, so no increase can be measured")
        elif cost_pct > fail_on_increase:
            crossed.append(
                {
                    "check": "spend_increase_pct",
                    "value": cost_pct,
                    "threshold": fail_on_increase,
                    "message": f"spend {cost_pct:+.1f}% ({label}: {usd(cur['cost_usd'])} against "
                    f"{usd(prev['cost_usd'])} the window before) exceeds --fail-on-increase {fail_on_increase:g}",
                }
            )
    if fail_on_cache_drop is not None:
        if share_pts is None:
            notes.append("cache share: a window without input tokens, so no drop can be measured")
        elif -share_pts > fail_on_cache_drop:
            crossed.append(
                {
                    "check": "cached_share_drop_pts",
                    "value": -share_pts,
                    "threshold": fail_on_cache_drop,
                    "message": f"input served from cache fell {-share_pts:.1f} points ({label}: "
                    f"{cur['cached_share']:.1%} against {prev['cached_share']:.1%}) past --fail-on-cache-drop "
                    f"{fail_on_cache_drop:g}",
                }
            )
    if cur["unpriced_requests"]:
        notes.append(f"{cur['unpriced_requests']} requests in the window are on unpriced models: not in the spend")
    return {
        "schema_version": SCHEMA_VERSION,
        "day": windows.day.isoformat(),
        "window_days": windows.days,
        "current": cur,
        "previous": prev,
        "change": {"cost_pct": cost_pct, "cached_share_pts": share_pts},
        "thresholds": {"fail_on_increase_pct": fail_on_increase, "fail_on_cache_drop_pts": fail_on_cache_drop},
        "crossed": crossed,
        "notes": notes,
        "ingest": {
            "files_read": sum(1 for f in ingested.files if not f.skipped),
            "files_skipped": sum(1 for f in ingested.files if f.skipped),
            "rows": ingested.rows,
            "rejected": ingested.rejected,
        },
    }
