"""Progress on long work, and how long each stage took.

The pipeline says where it is with `stage("threads")` and, while reading logs, `reading(total)` /
`advance_to(done)`; every call is a no-op until the command line turns tracking on with `begin(...)` (so the
library, the tests and the benchmarks pay nothing for it). Two consumers:

- a live display on a terminal (rich), shown only once a run has taken more than `DELAY` seconds: bytes read of
  the total while ingesting, then each stage by name with its elapsed time. It is transient (cleared when the run
  ends), so what the command prints afterwards is the same with or without a terminal. The command line shows it
  only when stderr is a TTY and nothing machine-readable goes to stdout (`--json -`): never in pipes or cron mail.
- `LLMCOST_TIMINGS=1`: one line per stage on stderr when the run ends, `llmcost: timing: STAGE SECONDS s`, for
  the benchmarks (bench/bench.py reads them) and for anyone asking where the time goes; then, on Linux, the
  parent's resident memory as each stage started and its peak until then (`llmcost: memory: STAGE N MiB at
  start, peak so far M MiB`), and its peak (`llmcost: memory: parent peak N MiB`), to see which stage makes
  it grow.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
import time
from typing import Any, TextIO

from analyzer.redact import terminal_safe

DELAY = 2.0  # seconds before the display appears: a quick run should not flash one
DELAY_ENV = "LLMCOST_PROGRESS_DELAY"  # tests (and the impatient) set 0
TIMINGS_ENV = "LLMCOST_TIMINGS"


class Tracker:
    """Stages in the order they started, with their start times; optionally a rich display of them."""

    def __init__(
        self,
        *,
        display: bool,
        timings: bool,
        stream: TextIO | None = None,
        delay: float = DELAY,
        force_terminal: bool | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.timings = timings
        self.stages: list[tuple[str, float]] = []  # (name, start), each ending where the next starts
        # with timings: this process's resident MiB as each stage started, and its peak until then
        self.rss: list[tuple[float | None, float | None]] = []
        self.t0 = time.perf_counter()
        self._lock = threading.Lock()
        self._closed = False
        self._progress: Any = None
        self._task: Any = None  # the current stage's task in the display
        self._total: int | None = None  # bytes to read in the current stage, when it is a reading stage
        self._offset = 0  # bytes of the files read before the current one
        self._timer: threading.Timer | None = None
        self._saved_stderr: TextIO | None = None
        if display:
            # rich is imported only here: ~0.1 s that a pipe or cron run never pays.
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            # the width of the terminal the display is drawn on (stderr), not rich's 80-column fallback when
            # stdout is a pipe or a file
            console = Console(
                file=self.stream, force_terminal=force_terminal, highlight=False, width=_columns(self.stream)
            )
            self._progress = Progress(
                TextColumn("{task.description}", markup=False),
                BarColumn(bar_width=30),
                TextColumn("{task.fields[detail]}", markup=False),
                TimeElapsedColumn(),
                console=console,
                transient=True,
                # stdout is never touched (it may carry a report); stderr notes go above the display through
                # _Above, which click accepts as a text stream (rich's own proxy makes click bypass it).
                redirect_stdout=False,
                redirect_stderr=False,
            )
            if sys.stderr is self.stream:
                self._saved_stderr = sys.stderr
                sys.stderr = _Above(console, self.stream)
            if delay <= 0:
                self._show()
            else:
                self._timer = threading.Timer(delay, self._show)
                self._timer.daemon = True
                self._timer.start()

    def _show(self) -> None:
        with self._lock:
            if not self._closed and self._progress is not None:
                self._progress.start()

    def stage(self, name: str) -> None:
        now = time.perf_counter()
        with self._lock:
            if self._closed:
                return
            self.stages.append((name, now))
            if self.timings:
                self.rss.append((_rss_mib(), _peak_mib()))
            if self._progress is not None:
                self._end_task()
                self._task = self._progress.add_task(terminal_safe(name), total=None, detail="")
            self._total = None

    def reading(self, total: int) -> None:
        """The current stage reads `total` bytes (of files on disk, compressed or not)."""
        with self._lock:
            self._total, self._offset = total, 0
            if self._progress is not None and self._task is not None:
                self._progress.update(self._task, total=max(total, 1), completed=0, detail=_bytes(0, total))

    def file(self, label: str, offset: int) -> None:
        """A new file starts, `offset` bytes into the total."""
        with self._lock:
            self._offset = offset
            if self._progress is not None and self._task is not None and self._total is not None:
                name = self.stages[-1][0] if self.stages else ""
                self._progress.update(
                    self._task,
                    description=terminal_safe(f"{name}: {label}"),
                    completed=offset,
                    detail=_bytes(offset, self._total),
                )

    def advance_to(self, in_file: int) -> None:
        """`in_file` bytes of the current file have been read."""
        with self._lock:
            if self._progress is not None and self._task is not None and self._total is not None:
                done = min(self._offset + in_file, self._total)
                self._progress.update(self._task, completed=done, detail=_bytes(done, self._total))

    def _end_task(self) -> None:
        if self._task is not None:
            done = max(self._total or 1, 1)  # a finished stage shows a full bar
            self._progress.update(self._task, total=done, completed=done)
            self._progress.stop_task(self._task)
            self._task = None

    def close(self) -> list[tuple[str, float]]:
        """Stop the display (it clears itself); print the timings if asked; the stages with their seconds."""
        end = time.perf_counter()
        with self._lock:
            if self._closed:
                return []
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            if self._progress is not None:
                self._progress.stop()
            if self._saved_stderr is not None:
                sys.stderr.flush()
                sys.stderr = self._saved_stderr
        ends = [s for _, s in self.stages[1:]] + [end] if self.stages else []  # a run ended before its first stage
        out = [(name, e - s) for (name, s), e in zip(self.stages, ends, strict=True)]
        if self.timings:
            for name, secs in out:
                self.stream.write(f"llmcost: timing: {name} {secs:.3f} s\n")
            self.stream.write(f"llmcost: timing: total {end - self.t0:.3f} s\n")
            # where the parent's memory grows: its resident set as each stage started, its peak until then (the
            # stage that set the peak is the one before the start where it rises), and its peak
            for (name, _), (mib, peak_then) in zip(self.stages, self.rss, strict=True):
                if mib is not None:
                    then = f", peak so far {peak_then:.0f} MiB" if peak_then is not None else ""
                    self.stream.write(f"llmcost: memory: {name} {mib:.0f} MiB at start{then}\n")
            if (peak := _peak_mib()) is not None:
                self.stream.write(f"llmcost: memory: parent peak {peak:.0f} MiB\n")
            self.stream.flush()
        return out


class _Above(io.TextIOBase):
    """sys.stderr while the display is up: whole lines are printed above the display instead of through it."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, console: Any, real: TextIO) -> None:
        self._console = console
        self._real = real
        self._pending = ""

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        for line in lines:
            self._console.print(line, markup=False, highlight=False, emoji=False, soft_wrap=True)
        return len(text)

    def flush(self) -> None:
        if self._pending:
            line, self._pending = self._pending, ""
            self._console.print(line, markup=False, highlight=False, emoji=False, soft_wrap=True)

    def isatty(self) -> bool:
        return self._real.isatty()

    def fileno(self) -> int:
        return self._real.fileno()


def _bytes(done: int, total: int) -> str:
    unit, div = ("GB", 1e9) if total >= 1e9 else ("MB", 1e6) if total >= 1e6 else ("KB", 1e3)
    return f"{done / div:,.1f} of {total / div:,.1f} {unit}"


_current: Tracker | None = None


def _rss_mib() -> float | None:
    """This process's resident set now, in MiB (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def _peak_mib() -> float | None:
    """This process's peak resident set, in MiB (ru_maxrss: KiB on Linux)."""
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if sys.platform == "linux" else None
    except ImportError:
        return None


def begin(*, display: bool, timings: bool | None = None, **kwargs: Any) -> Tracker:
    """Start tracking this run (ending any earlier one). `timings` defaults to LLMCOST_TIMINGS=1."""
    global _current
    finish()
    if timings is None:
        timings = os.environ.get(TIMINGS_ENV, "") not in ("", "0")
    if "delay" not in kwargs and os.environ.get(DELAY_ENV):
        with contextlib.suppress(ValueError):  # a malformed value keeps the default
            kwargs["delay"] = float(os.environ[DELAY_ENV])
    _current = Tracker(display=display, timings=timings, **kwargs)
    return _current


def finish() -> list[tuple[str, float]]:
    """End tracking: the display is cleared and the timings printed. Safe to call twice."""
    global _current
    tracker, _current = _current, None
    return tracker.close() if tracker is not None else []


def on_terminal(*targets: str | None) -> bool:
    """Whether to show the display: stderr is a terminal and no output goes to stdout (`-`), where a program
    (or a pager) reads it."""
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and "-" not in targets


def stage(name: str) -> None:
    if _current is not None:
        _current.stage(name)


def reading(total: int) -> None:
    if _current is not None:
        _current.reading(total)


def file(label: str, offset: int) -> None:
    if _current is not None:
        _current.file(label, offset)


def advance_to(in_file: int | None) -> None:
    if _current is not None and in_file is not None:
        _current.advance_to(in_file)


def active() -> bool:
    return _current is not None


def _columns(stream: TextIO) -> int | None:
    """Columns of the terminal `stream` is on; None (rich decides) when it is not one."""
    try:
        return os.get_terminal_size(stream.fileno()).columns or None
    except (AttributeError, OSError, ValueError):
        cols = os.environ.get("COLUMNS", "")
        return int(cols) if cols.isdigit() and int(cols) > 0 else None
