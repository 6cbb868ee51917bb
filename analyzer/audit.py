"""The nightly audit: ingest what is new, report on the last complete day(s), compare them with the window before,
and fail (exit 3) when spend rose or the cache share fell past the thresholds given.

Incremental and idempotent: the store's sha256 manifest skips files already read, so re-running the same night
adds nothing and rewrites the same outputs. Locked: one audit per database at a time (an advisory lock on
`<db>.lock`, held for the whole run), so two cron jobs never interleave their ingests.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import stat
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from analyzer import queries
from analyzer.errors import InputError
from analyzer.formatting import usd
from analyzer.ingest.results import IngestResult
from analyzer.prices import Catalogue, order_free_sum
from analyzer.report import priced_frame
from analyzer.store import Store
from analyzer.usage import window_totals

SCHEMA_VERSION = 1


@contextmanager
def locked(db: str, wait_s: float = 0.0) -> Iterator[None]:
    """Hold `<db>.lock` exclusively for the block; a second audit of the same database waits up to wait_s, then
    stops with who holds it. The lock goes with the process, so a killed run never leaves it stuck."""
    path = Path(f"{db}.lock")
    try:
        # never through a symlink (a root cron job would truncate its target), never a FIFO or device
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise InputError("the lock file is a symbolic link; refusing to follow it", path=str(path)) from None
        raise InputError(f"cannot create the lock file ({e.strerror})", path=str(path)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InputError("the lock file is not a regular file; refusing to use it", path=str(path))
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
                        f"another audit is running ({holder}); --lock-wait SECONDS waits for it", path=db
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
    """The latest day of traffic held, logged or exported."""
    last = queries.rows(store.con, "data_span")[0]["last"]
    return None if last is None else last.date()


LOGS = "request logs"
EXPORTS = "usage exports"


def _window(store: Store, cat: Catalogue, span: tuple[datetime, datetime]) -> dict[str, Any]:
    """A window's figures from whatever source holds it (issue 23, item 18): the request logs when any call in
    it was logged, else the providers' usage exports (an organisation auditing its nightly OpenAI Usage export),
    else nothing (`source` None)."""
    f = priced_frame(store, cat, span[0], span[1])
    ok = f.filter(pl.col("priced"))
    input_tokens = int(f["input_tokens"].sum() or 0)
    reads = int(f["cache_read_tokens"].sum() or 0)
    out = {
        "start": span[0].isoformat() + "Z",
        "end": span[1].isoformat() + "Z",
        "source": LOGS if f.height else None,
        "requests": f.height,
        "priced_requests": ok.height,
        "unpriced_requests": f.height - ok.height,
        "cost_usd": round(float(ok["cost"].sum() or 0.0), 10),
        "input_tokens": input_tokens,
        "cache_read_tokens": reads,
        "cached_share": round(reads / input_tokens, 6) if input_tokens else None,
    }
    if f.height:
        return out
    t = window_totals(store.con, cat, span[0], span[1])
    if t is None:
        return out
    inp, reads = t["input_tokens"], t["cache_read_tokens"]
    out.update(
        source=EXPORTS,
        requests=t["requests"] or 0,
        priced_requests=None,
        unpriced_requests=0,
        unpriced_buckets=t["unpriced_buckets"],
        cost_usd=round(float(t["billed_usd"] or 0.0), 10),
        billed_basis=t["billed_basis"],
        input_tokens=inp,
        cache_read_tokens=reads,
        cached_share=round(reads / inp, 6) if inp else None,
    )
    return out


def compare(
    store: Store,
    cat: Catalogue,
    windows: Windows,
    fail_on_increase: float | None,
    fail_on_cache_drop: float | None,
    ingested: IngestResult,
) -> dict[str, Any]:
    cur = _window(store, cat, windows.current)
    if cur["source"] is None:
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
    if cur.get("unpriced_buckets"):
        notes.append(
            f"{cur['unpriced_buckets']} export bucket(s) in the window are on unpriced models: not in the spend"
        )
    if cur["source"] == EXPORTS:
        notes.append(
            "no request in the window was logged: its figures are the usage exports' ("
            + "; ".join(cur.get("billed_basis") or [])
            + ")"
        )
    if prev["source"] is not None and prev["source"] != cur["source"]:
        notes.append(
            f"this window's figures come from the {cur['source']}, the window before's from the {prev['source']}: "
            "the change compares two sources"
        )
    first = _first_logged(store)
    prev["partial"] = first is not None and first > windows.previous[0]
    if prev["partial"] and first is not None and first < windows.previous[1]:
        notes.append(
            f"the window before is partial: the logs start at {first:%Y-%m-%d %H:%M} UTC, so its spend and the "
            "change against it understate a full window"
        )
    trailing = _trailing(store, cat, windows)
    checks = [
        {
            "check": "spend_increase_pct",
            "against": "the window before",
            "value": cost_pct,
            "threshold": fail_on_increase,
            "crossed": any(c["check"] == "spend_increase_pct" for c in crossed),
        },
        {
            "check": "cached_share_drop_pts",
            "against": "the window before",
            "value": None if share_pts is None else -share_pts,
            "threshold": fail_on_cache_drop,
            "crossed": any(c["check"] == "cached_share_drop_pts" for c in crossed),
        },
    ]
    # every crossed threshold is an alert: the window before's checks as well as the trailing median's
    alerts = [c | {"kind": BEFORE_KINDS[c["check"]]} for c in crossed]
    median = _median_alerts(cur, windows, trailing, fail_on_increase, fail_on_cache_drop, checks)
    crossed += [{k: a[k] for k in ("check", "value", "threshold", "message")} for a in median]
    alerts += median + _new_models(store, cat, windows)
    return {
        "schema_version": SCHEMA_VERSION,
        "day": windows.day.isoformat(),
        "window_days": windows.days,
        "current": cur,
        "previous": prev,
        "change": {"cost_pct": cost_pct, "cached_share_pts": share_pts},
        "thresholds": {"fail_on_increase_pct": fail_on_increase, "fail_on_cache_drop_pts": fail_on_cache_drop},
        "trailing_7_days": trailing,
        "checks": checks,
        "crossed": crossed,
        "alerts": alerts,
        "notes": notes,
        "ingest": {
            "files_read": sum(1 for f in ingested.files if not f.skipped),
            "files_skipped": sum(1 for f in ingested.files if f.skipped),
            "rows": ingested.rows,
            "rejected": ingested.rejected,
        },
    }


TRAILING_DAYS = 7
BEFORE_KINDS = {"spend_increase_pct": "spend_increase", "cached_share_drop_pts": "cached_share_drop"}
LARGE_PREFIX_TOKENS = 1024  # the smallest prefix any provider caches
MOSTLY_UNCACHED = 0.5  # a new prefix is flagged when less than this share of its repeats were read from cache


def _first_logged(store: Store) -> datetime | None:
    first: datetime | None = queries.rows(store.con, "data_span")[0]["first"]
    return first


def _trailing(store: Store, cat: Catalogue, windows: Windows) -> dict[str, Any]:
    """The 7 days before the audited window, day by day: the median daily spend and cached share, over the
    days the logs cover (days before the logs began are not zeros)."""
    start = windows.current[0]
    f = priced_frame(store, cat, start - timedelta(days=TRAILING_DAYS), start)
    days = []
    if f.height:
        daily = (
            f.with_columns(day=pl.col("ts").dt.date())
            .group_by("day")
            .agg(
                cost=order_free_sum(pl.when(pl.col("priced")).then(pl.col("cost")).otherwise(0.0)),
                input_tokens=pl.col("input_tokens").sum(),
                reads=pl.col("cache_read_tokens").sum(),
            )
            .sort("day")
        )
        days = daily.to_dicts()
    # days no request log covers: the usage exports' figures, if any export covers them
    logged = {d["day"] for d in days}
    for n in range(TRAILING_DAYS, 0, -1):
        d0 = start - timedelta(days=n)
        if d0.date() in logged:
            continue
        t = window_totals(store.con, cat, d0, d0 + timedelta(days=1))
        if t is not None:
            days.append(
                {
                    "day": d0.date(),
                    "cost": t["billed_usd"],
                    "input_tokens": t["input_tokens"],
                    "reads": t["cache_read_tokens"],
                }
            )
    spends = [float(d["cost"] or 0.0) for d in days]
    shares = [d["reads"] / d["input_tokens"] for d in days if d["input_tokens"]]
    return {
        "days_with_traffic": len(days),
        "median_daily_cost_usd": round(statistics.median(spends), 10) if spends else None,
        "median_cached_share": round(statistics.median(shares), 6) if shares else None,
    }


def _median_alerts(
    cur: dict[str, Any],
    windows: Windows,
    trailing: dict[str, Any],
    fail_on_increase: float | None,
    fail_on_cache_drop: float | None,
    checks: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The same thresholds against the trailing 7-day median: one busy or quiet day before is not the norm."""
    out = []
    per_day = cur["cost_usd"] / windows.days
    median = trailing["median_daily_cost_usd"]
    pct = round((per_day - median) / median * 100, 2) if median else None
    crossed = fail_on_increase is not None and pct is not None and pct > fail_on_increase
    checks.append(
        {
            "check": "spend_vs_7day_median_pct",
            "against": "the median day of the 7 before",
            "value": pct,
            "threshold": fail_on_increase,
            "crossed": crossed,
        }
    )
    if crossed:
        out.append(
            {
                "check": "spend_vs_7day_median_pct",
                "kind": "spend_above_trailing_median",
                "value": pct,
                "threshold": fail_on_increase,
                "daily_cost_usd": round(per_day, 10),
                "median_daily_cost_usd": median,
                "message": f"spend {pct:+.1f}% against the median day of the 7 before ({usd(per_day)} a day "
                f"against {usd(median)}) exceeds --fail-on-increase {fail_on_increase:g}",
            }
        )
    mshare = trailing["median_cached_share"]
    pts = (
        round((mshare - cur["cached_share"]) * 100, 2)
        if mshare is not None and cur["cached_share"] is not None
        else None
    )
    crossed = fail_on_cache_drop is not None and pts is not None and pts > fail_on_cache_drop
    checks.append(
        {
            "check": "cached_share_vs_7day_median_drop_pts",
            "against": "the median day of the 7 before",
            "value": pts,
            "threshold": fail_on_cache_drop,
            "crossed": crossed,
        }
    )
    if crossed:
        out.append(
            {
                "check": "cached_share_vs_7day_median_drop_pts",
                "kind": "cached_share_below_trailing_median",
                "value": pts,
                "threshold": fail_on_cache_drop,
                "cached_share": cur["cached_share"],
                "median_cached_share": mshare,
                "message": f"input served from cache {cur['cached_share']:.1%} is {pts:.1f} points under the "
                f"median day of the 7 before ({mshare:.1%}), past --fail-on-cache-drop {fail_on_cache_drop:g}",
            }
        )
    return out


def _undated(model: str) -> str:
    """`gpt-4.1-2025-04-14` and `claude-sonnet-4-5-20250929` without their snapshot date: one model."""
    return re.sub(r"-(\d{8}|\d{4}-\d{2}-\d{2})$", "", model.lower())


def _new_models(store: Store, cat: Catalogue, windows: Windows) -> list[dict[str, Any]]:
    """Models logged in the window and never before it: each a `new_model` alert, or `new_unpriced_model`
    when the catalogue has no price for it (its spend is missing from every total). A model and its dated
    alias (`claude-sonnet-4-5` and `claude-sonnet-4-5-20250929`) price as one catalogue key: one alert, and
    none when the key was logged before under another name."""
    start, end = windows.current
    before = [(r["model"], r["provider"]) for r in queries.rows(store.con, "models_before", start=start)]
    seen_keys = {k for k in (cat.resolve(m, p).key for m, p in before) if k}
    seen_names = {_undated(m) for m, _ in before}
    grouped: dict[str, dict[str, Any]] = {}
    for r in queries.rows(store.con, "new_models", start=start, end=end):
        model, provider, n = r["model"], r["provider"], r["requests"]
        key = cat.resolve(model, provider).key
        if (key and key in seen_keys) or _undated(model) in seen_names:
            continue  # a new spelling of a model already logged
        g = grouped.setdefault(_undated(model), {"names": [], "provider": provider, "key": key, "n": 0})
        g["names"].append(model)
        g["n"] += int(n)
    out = []
    for g in grouped.values():
        model, key, n = g["names"][0], g["key"], g["n"]
        also = f", also logged as {', '.join(g['names'][1:])}" if len(g["names"]) > 1 else ""
        out.append(
            {
                "kind": "new_model" if key else "new_unpriced_model",
                "model": model,
                "provider": g["provider"],
                "priced_as": key,
                "requests": n,
                "aliases": g["names"][1:],
                "message": f"{'new model' if key else 'new UNPRICED model (not in any cost)'}: {model} "
                f"({n:,} request{'s' if n != 1 else ''}{also})",
            }
        )
    return out


def new_uncached_prefixes(store: Store, report: dict[str, Any], windows: Windows) -> list[dict[str, Any]]:
    """Shared prefixes of the window's report that are large enough to cache, were mostly sent uncached, and
    were never sent before the window: a new prompt that caching does not serve yet."""
    start = windows.current[0]
    out = []
    for p in report.get("top_prefixes") or []:
        if p["tokens"] < LARGE_PREFIX_TOKENS or (p.get("logged_cached_share") or 0.0) >= MOSTLY_UNCACHED:
            continue
        (seen,) = queries.rows(
            store.con,
            "prefix_sent_before",
            request_id=p["example_request_id"],
            messages=p["messages"],
            start=start,
        )
        if seen["requests"]:
            continue
        out.append(
            {
                "kind": "new_large_uncached_prefix",
                "prefix": p["prefix"],
                "tokens": p["tokens"],
                "requests": p["requests"],
                "logged_cached_share": p.get("logged_cached_share"),
                "uncached_reuse_tokens": p.get("uncached_reuse_tokens"),
                "spend_usd": p.get("spend_usd"),
                "message": f"new {p['tokens']:,}-token prefix {p['prefix']} sent {p['requests']:,} times, "
                f"{(p.get('logged_cached_share') or 0.0):.0%} of it from cache",
            }
        )
    return out


DATED = re.compile(r"^(?:llmcost|audit)-(\d{4}-\d{2}-\d{2})(?:-w\d+)?\.(?:html|json|md)$")


WRITTEN = ".llmcost-written"  # the dated files the audit wrote into DIR, one name per line: all it may delete


def remember_written(folder: Path, names: list[str]) -> None:
    """Add names to DIR/.llmcost-written (kept sorted and unique)."""
    path = folder / WRITTEN
    known = set(_written(folder))
    if set(names) <= known:
        return
    path.write_text("".join(f"{n}\n" for n in sorted(known | set(names))), encoding="utf-8")


def _written(folder: Path) -> list[str]:
    try:
        return [n for n in (folder / WRITTEN).read_text(encoding="utf-8").splitlines() if DATED.match(n)]
    except (OSError, UnicodeDecodeError):
        return []


def _day_of(name: str) -> date | None:
    """The day in a dated report's name; None for another name or an impossible date (llmcost-2025-02-30.md)."""
    dated = DATED.match(name)
    try:
        return date.fromisoformat(dated.group(1)) if dated else None
    except ValueError:
        return None


def prune_reports(folder: Path, keep_days: int, day: date) -> list[str]:
    """Delete the dated reports (llmcost-DAY.*, audit-DAY.json) that this audit wrote (DIR/.llmcost-written) for
    days `keep_days` or more before the audited day; audit-latest.json, index.html, files llmcost did not write
    (a stray llmcost-2099-12-31.md included) and the database are never touched."""
    cutoff = day - timedelta(days=keep_days)
    gone, kept = [], []
    for name in _written(folder):
        d = _day_of(name)
        if d is None:
            continue
        if d <= cutoff:
            (folder / name).unlink(missing_ok=True)
            gone.append(name)
        else:
            kept.append(name)
    if gone:
        (folder / WRITTEN).write_text("".join(f"{n}\n" for n in sorted(kept)), encoding="utf-8")
    return sorted(gone)


def history(folder: Path, notes: list[str] | None = None) -> list[dict[str, Any]]:
    """Every audit-DAY.json of the folder, oldest first, with the files of that day that still exist: what
    DIR/index.html lists. A file that is not an audit outcome (an impossible date, null figures, not JSON) is
    skipped with a note, never fatal: one bad file must not break every later night."""
    rows = []
    for p in sorted(folder.glob("audit-*.json")):
        if not DATED.match(p.name):
            continue
        try:
            o = orjson.loads(p.read_bytes())
            cur = o["current"]
            row = {
                "day": date.fromisoformat(o["day"]).isoformat(),
                "window_days": int(o.get("window_days", 1)),
                "requests": int(cur["requests"]),
                "cost_usd": float(cur["cost_usd"]),
                "cached_share": None if cur["cached_share"] is None else float(cur["cached_share"]),
                "cost_pct": None if o["change"]["cost_pct"] is None else float(o["change"]["cost_pct"]),
                "crossed": len(o.get("crossed") or []),
                "alerts": [str(a["message"]) for a in o.get("alerts") or []],
                "partial_previous": bool((o.get("previous") or {}).get("partial")),
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            if notes is not None:
                notes.append(f"{p.name} skipped: not an audit file llmcost can read")
            continue
        stem = p.name[len("audit-") : -len(".json")]
        row["links"] = {
            kind: name
            for kind, name in (
                ("report", f"llmcost-{stem}.html"),
                ("json", f"llmcost-{stem}.json"),
                ("markdown", f"llmcost-{stem}.md"),
                ("audit", p.name),
            )
            if (folder / name).exists()
        }
        rows.append(row)
    rows.sort(key=lambda r: (r["day"], r["window_days"]))
    return rows
