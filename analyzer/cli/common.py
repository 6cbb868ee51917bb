"""What every command shares: one-line messages, the option groups, and `session`, the one place that opens the
store, starts the backend, ingests the logs given and closes all of it again however the command ends.

Apart from the commands so that a command module reads as what it does: its options, the computation it calls,
and what it prints.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import orjson

from analyzer import backends, queries, remote
from analyzer import progress as tracking
from analyzer.errors import InputError, RenderError, StrictError
from analyzer.formatting import count
from analyzer.ingest.results import IngestResult
from analyzer.ingest.run import worth_a_pool
from analyzer.inputs import LOG_SUFFIXES, STDIN, expand_paths, text_bytes
from analyzer.prices import Catalogue, load_catalogue
from analyzer.redact import one_line
from analyzer.sources import SOURCES
from analyzer.store import Store, refuse_remote

DATE_FORMATS = ["%Y-%m-%d", "%Y%m%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"]
# Files that look like data (a usage export saved as CSV, a table) but are not read: worth a note when passed over.
DATA_SUFFIXES = (".csv", ".tsv", ".parquet", ".xlsx", ".xls", ".csv.gz", ".tsv.gz")


def say(message: str, err: bool = True) -> None:
    """One line to the terminal: names and keys from logs are escaped, never acted on (see redact.one_line)."""
    click.echo(one_line(message), err=err)


def echo_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def first_line(e: BaseException) -> str:
    """A DuckDB error's cause: on a full disk the first line may be a follow-up, the cause is named further on."""
    text = str(e)
    for cause in ("No space left on device", "File too large", "Permission denied", "Read-only file system"):
        if cause in text and cause not in text.splitlines()[0]:
            return f"{text.splitlines()[0]} ({cause})"
    return text.splitlines()[0] if text else type(e).__name__


def _check_db(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        if value.strip().lower() == ":memory:":
            # DuckDB's name for a database that vanishes with the process: "adds N records" and keeps none
            raise click.BadParameter(":memory: keeps nothing after the run; leave out --db for an in-memory run")
        try:
            refuse_remote(value)
        except InputError as e:  # the reason alone: click's message names the option and its value already
            raise click.BadParameter(e.reason) from None
    return value


def db_option(required: bool = False) -> Callable[[Any], Any]:
    return click.option(
        "--db",
        "db",
        type=click.Path(dir_okay=False),
        required=required,
        callback=_check_db,
        help="DuckDB file to keep the data in." + ("" if required else " (default: in memory, gone after the run)"),
    )


def prices_option(fn: Any) -> Any:
    return click.option("--prices", "prices_file", type=click.Path(dir_okay=False), help="Price file to overlay.")(fn)


def routing_rules_option(fn: Any) -> Any:
    return click.option(
        "--routing-rules",
        "routing_rules",
        type=click.Path(dir_okay=False),
        help="A TOML file of [[rule]] tables (match -> route_to) instead of the built-in classifier.",
    )(fn)


@dataclass(frozen=True)
class Intake:
    """How a command reads its logs and where the work runs: the options every reading command shares."""

    no_text: bool = False
    strict: bool = False
    fmt: str | None = None
    workers: int | None = None
    engine: str = "local"
    ray_address: str | None = None


_INTAKE_OPTIONS = [
    # how the logs are read
    click.option("--no-text", is_flag=True, help="Keep hashes and token counts but no prompt text."),
    click.option("--strict", is_flag=True, help="Exit 4 when any record was rejected."),
    click.option(
        "--format",
        "fmt",
        type=click.Choice([s.name for s in SOURCES]),
        help="Force the input format instead of detecting it.",
    ),
    # where the work runs (analyzer/backends/): this machine's cores (default) or Ray (optional extra; docs/ray.md)
    click.option(
        "--workers",
        type=click.IntRange(min=1),
        metavar="N",
        help=f"Processes that parse logs and replay the savings (default: the cores, or "
        f"${backends.WORKERS_ENV}); 1: all in this one. With --engine ray: how many at once (default: the "
        "cluster's CPUs).",
    ),
    click.option(
        "--engine",
        type=click.Choice(["local", "ray"]),
        default="local",
        show_default=True,
        help="Run on this machine's cores, or on a Ray cluster (pip install 'llmcost[ray]'; see docs/ray.md).",
    ),
    click.option(
        "--ray-address",
        metavar="ADDR",
        help="With --engine ray: an existing cluster ('auto', 'HOST:6379', 'ray://HEAD:10001'); "
        "default: RAY_ADDRESS, else a Ray started on this machine for the run.",
    ),
]


def intake_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The six options of `Intake`, last in the command's help; the command receives them as `intake`."""

    @functools.wraps(fn)
    def command(**kwargs: Any) -> Any:
        names = ("no_text", "strict", "fmt", "workers", "engine", "ray_address")
        return fn(intake=Intake(**{n: kwargs.pop(n) for n in names}), **kwargs)

    for opt in reversed(_INTAKE_OPTIONS):
        command = opt(command)
    return command


def _backend(intake: Intake) -> backends.Backend:
    """The command's one backend. The command closes it once the work is done (before rendering, so the
    workers' memory goes first); closing it again when the command ends, however it ends, is a safety net
    (Ray's actors killed, a Ray started for this run shut down). Called once the progress display has begun:
    one that cannot be made ends the display too, which the next command in this process (a test's) would
    otherwise find still open."""
    try:
        if intake.ray_address and intake.engine != "ray":
            raise click.UsageError("--ray-address needs --engine ray")
        if intake.engine == "ray":
            tracking.stage("start Ray")
        be = backends.backend(intake.engine, intake.workers, intake.ray_address)
    except BaseException:
        tracking.finish()
        raise
    click.get_current_context().call_on_close(be.close)
    return be


@dataclass
class Session:
    """What a command works with: the store, the backend, what this run ingested, and the catalogue when the
    session loaded it."""

    store: Store
    backend: backends.Backend
    result: IngestResult
    cat: Catalogue | None = None

    def computed(self, rendering: bool = False) -> None:
        """The work is done: the workers go (their memory before anything is rendered), and the progress
        display too, unless `rendering` stages follow (the command's end closes it then)."""
        self.backend.close()
        if not rendering:
            tracking.finish()

    def warn_rejects(self, strict: bool, where: str) -> None:
        """Rejected records are a warning naming the first and where all are listed; with --strict, exit 4."""
        rejected = self.result.rejected
        if not rejected:
            return
        first = queries.rows(self.store.con, "first_reject", paths=[f.path for f in self.result.files])
        hint = f"; first: {first[0]['location']}: {first[0]['reason']}" if first else ""
        say(f"llmcost: warning: {count(rejected, 'record')} rejected{hint}; all are listed in {where}")
        if strict:
            raise StrictError(f"--strict: {count(rejected, 'record')} rejected")


@contextmanager
def session(
    paths: tuple[str, ...],
    db: str | None,
    intake: Intake,
    *,
    display: bool,
    read_only: bool = False,
    prices_file: str | None = None,
    load_prices: bool = False,
) -> Iterator[Session]:
    """Begin the progress display, (with `load_prices`, load the catalogue), start the backend, open the store,
    ingest PATHS; when the block ends, however it ends, the backend, the display and the store are closed, in
    that order. `read_only`: a command that only reports never changes the database."""
    tracking.begin(display=display)
    cat = None
    if load_prices:
        tracking.stage("load prices")
        cat = load_catalogue(prices_file)
    backend = _backend(intake)
    sizes = (_local_sizes(paths) or []) if paths else []  # listed once, for the two choices below
    if sizes and isinstance(backend, backends.Local) and backend.workers > 1 and worth_a_pool(sizes):
        # the ingest will read these logs on the pool (its own rule, applied again once it has checked them): its
        # workers' start overlaps the checks and plan
        backend.prestart()
    # with no --db and large logs, the database is a file removed after the run (Store's `scratch`)
    store = Store(db, read_only=read_only, scratch=not db and _large(paths, sizes))
    try:
        try:
            result = ingest_paths(store, paths, intake, backend) if paths else IngestResult()
            yield Session(store, backend, result, cat)
        finally:
            backend.close()
    finally:
        tracking.finish()
        store.close()


SCRATCH_FROM_BYTES = 256 * 2**20  # logs this large (inputs.text_bytes) run on a scratch database file


def _large(paths: tuple[str, ...], sizes: list[tuple[Path, int]] | None = None) -> bool:
    """Whether the logs are large enough for a scratch database file rather than memory: the file keeps DuckDB's
    tables compressed and evictable (at 100k calls, 1.6 GB of logs, the report's peak is ~150 MiB lower, in the
    same time) but costs each file's commit a write to disk (+0.5 s, 3%, on the 99 small files of the real
    agent traces, where memory gains 70 MiB). Standard input and object storage, of unknown size, count as
    large. `sizes`: `_local_sizes(paths)`, when the caller has it."""
    if any(raw == STDIN or remote.is_url(raw) for raw in paths):
        return True
    if sizes is None:
        sizes = _local_sizes(paths)
    return sum(text_bytes(path, size) for path, size in sizes or ()) >= SCRATCH_FROM_BYTES


def _local_sizes(paths: tuple[str, ...]) -> list[tuple[Path, int]] | None:
    """Each local file the paths name, with its bytes on disk (0 for a pipe), or None when they cannot be listed
    (the ingest says what is wrong with them). Files in object storage are left out: a size is a request away."""
    try:
        files = expand_paths(paths)
    except (InputError, OSError):
        return None
    out = []
    for path, _ in files:
        if isinstance(path, remote.RemotePath):
            continue
        with contextlib.suppress(OSError):
            out.append((path, path.stat().st_size if path.is_file() else 0))
    return out


def need_input(paths: tuple[str, ...], db: str | None) -> None:
    """Logs to read, or an existing database to report on."""
    if not paths and not db:
        raise click.UsageError("give log files or folders to read, or --db with an ingested database")
    if not paths and db and not Path(db).exists():
        raise InputError(f"no such database (create it with `llmcost ingest PATH --db {db}`)", path=db)


def ingest_paths(store: Store, paths: tuple[str, ...], intake: Intake, backend: backends.Backend) -> IngestResult:
    """Ingest PATHS; when not one file of them could be read, exit 1 naming each file skipped and why (a
    report of $0.00 over nothing would look like a real, cheap month to whoever receives it)."""
    # On a terminal the progress display (analyzer/progress.py) names the file being read.
    result = store.ingest(
        paths,
        no_text=intake.no_text,
        fmt=intake.fmt,
        backend=backend,
    )
    ignored = _ignored_files(paths)
    for f in result.files:
        if f.status == "skipped":
            say(f"llmcost: note: skipped {f.path}: {f.skipped}")
        if f.unended is not None:  # not rejected (a live log's writer may be half way through it), but said
            say(
                f"llmcost: note: {f.path}:{f.unended}: last line not read: no line end and not valid JSON yet "
                "(a log still being written; it is read once complete)"
            )
    read = [f for f in result.files if f.status != "skipped"]
    suffixes = ", ".join(LOG_SUFFIXES[:4])
    if read and ignored:  # every file found is read or named: the walk's passed-over files on one line
        say(
            f"llmcost: note: passed over {count(len(ignored), 'file')} not named like a log "
            f"({suffixes}, ...; name a file to read it): {_some(ignored, 5)}"
        )
    if not read:
        for path in ignored:
            say(f"llmcost: skipped {path}: not a log file (read: {suffixes}, ...)")
        if not result.files and not ignored:
            raise InputError(f"no log files ({suffixes}, ...) under {', '.join(paths)}")
        found = len(result.files) + len(ignored)
        raise InputError(f"nothing was read: none of the {count(found, 'file')} found is a recognised log")
    ignored = [p for p in ignored if p.name.lower().endswith(DATA_SUFFIXES)]  # not README.md, PROVENANCE.md
    if ignored:  # data files the walk passed over beside the logs it read: said once, not silently
        say(
            f"llmcost: note: skipped {count(len(ignored), 'file')} that {'is' if len(ignored) == 1 else 'are'} "
            f"not a log by name (read: {suffixes}, ...): {_some(ignored, 3)}"
        )
    return result


def _some(files: list[Path], most: int) -> str:
    return ", ".join(map(str, files[:most])) + (f" and {len(files) - most} more" if len(files) > most else "")


def _ignored_files(paths: tuple[str, ...]) -> list[Path]:
    """Files inside the named folders that a folder walk passes over (their suffix is not a log's). Symlinked
    folders are not followed, as in the walk itself (a link to a parent would loop)."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if raw != "-" and p.is_dir():
            for root, _dirs, files in os.walk(p, followlinks=False):
                out.extend(
                    Path(root) / f
                    for f in files
                    if not f.startswith(".") and not f.lower().endswith(LOG_SUFFIXES) and (Path(root) / f).is_file()
                )
    return sorted(out)


def rejects_where(db: str | None) -> str:
    """Where a report run's rejected records are listed."""
    return "the report's Ingest section" + (f" and table `rejects` of {db}" if db else "")


def render_one(kind: str, fn: Callable[[Any], str], rep: Any, failures: list[str]) -> str | None:
    """One output rendered, or None with its failure recorded as one line: a rendering error is a bug in the
    report's shape, never a traceback; the other outputs are still written (exit 5 at the end)."""
    try:
        return fn(rep)
    except Exception as e:  # noqa: BLE001 - any renderer failure is reported, the run goes on
        failures.append(f"the {kind} output could not be rendered ({type(e).__name__}: {first_line(e)})")
        return None


def render_failed(failures: list[str]) -> RenderError:
    return RenderError("; ".join(failures) + " (the other outputs were written; please report this)")


def say_wrote(target: str) -> None:
    """Where each output went and how big it is, so a run with only -o FILE is not silent."""
    if target == "-":
        return
    path = Path(target)
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file()) if path.is_dir() else path.stat().st_size
    click.echo(f"wrote {target} ({max(1, round(size / 1024)):,} KB)", err=True)
