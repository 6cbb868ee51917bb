"""The `llmcost` command line: parses options, calls the pipeline, maps errors to exit codes in one place.

Exit codes: 0 ok (rejected records are reported, not fatal); 1 input error; 2 usage error (click);
3 an audit threshold was crossed; 4 `--strict` and some records were rejected; 5 an output could not be rendered
(the others were written; a bug to report, never a traceback).

Here: the group, the error-to-exit-code mapping and `main`. Each command is in the module named for it:
`report_cmd`, `audit_cmd`, `data_cmds` (ingest, savings, why-missed: they read logs), `lookup_cmds` (prices,
tokens, project, formats: they answer from the catalogue); `common` holds what they share, `session()` first
(the store, the backend and the ingest, opened and closed in one place). What the small commands compute is in
analyzer/commands/, the text they print in analyzer/terminal.py.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
from typing import Any

import click
import duckdb

from analyzer import __version__
from analyzer.cli.audit_cmd import audit
from analyzer.cli.common import first_line, say
from analyzer.cli.data_cmds import ingest, savings, why_missed
from analyzer.cli.lookup_cmds import formats, prices, project, tokens_cmd
from analyzer.cli.report_cmd import report
from analyzer.errors import LlmcostError
from analyzer.perf import freeze_after_pauses, give_freed_memory_back
from analyzer.store import SCRATCH_PREFIX


class LlmcostGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # Ctrl-C: one line and the shell's code for it, not "Aborted!" and exit 1
            _interrupted(ctx)
        except LlmcostError as e:
            if _after_interrupt(e):
                _interrupted(ctx)
            say(f"llmcost: error: {e}")
            ctx.exit(e.exit_code)
        except duckdb.Error as e:
            if _after_interrupt(e):  # Ctrl-C inside a database call: the cleanup's follow-up error is not news
                _interrupted(ctx)
            say(f"llmcost: error: database: {first_line(e)}{_scratch_hint(e)}")
            ctx.exit(1)
        except BrokenPipeError:  # `llmcost ... | head`: the reader has gone, which is no error
            _quiet_stdout()
            ctx.exit(0)
        except OSError as e:  # a full disk, a read-only folder: the cause in one line, not a traceback
            if _after_interrupt(e):
                _interrupted(ctx)
            where = f"{e.filename}: " if e.filename else ""
            say(f"llmcost: error: {where}{e.strerror or e}")
            ctx.exit(1)
        except Exception as e:
            # Ctrl-C inside a database call: DuckDB turns it into an error of its own ("Query interrupted", or a
            # registered frame's stream that "failed: KeyboardInterrupt"), not a KeyboardInterrupt
            if _after_interrupt(e):
                _interrupted(ctx)
            raise


def _scratch_hint(e: BaseException) -> str:
    """A failure to write a run's scratch database (Store's `scratch`: a full temporary folder) says where it
    was and what to do, not only DuckDB's words."""
    if SCRATCH_PREFIX not in str(e):
        return ""
    return (
        f" (the run's scratch database, under {tempfile.gettempdir()}: set TMPDIR to a folder with room, "
        "or give --db FILE)"
    )


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush does not report the broken pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


SIGINT_SEEN = threading.Event()  # set by `_on_sigint`: a Ctrl-C reached this process


def _on_sigint(signum: int, frame: Any) -> None:
    """Python's own Ctrl-C handler (a KeyboardInterrupt), remembering that it ran: DuckDB may catch the
    KeyboardInterrupt and raise an error of its own instead, which must still read as an interruption."""
    SIGINT_SEEN.set()
    signal.default_int_handler(signum, frame)


def _after_interrupt(e: BaseException) -> bool:
    """Was this error raised while a Ctrl-C was being handled (cleanup that failed because of it)?"""
    if SIGINT_SEEN.is_set():
        return True
    seen: set[int] = set()
    x: BaseException | None = e
    while x is not None and id(x) not in seen:
        if isinstance(x, KeyboardInterrupt):
            return True
        seen.add(id(x))
        x = x.__context__ or x.__cause__
    return False


TERMINATED = threading.Event()  # set by `_on_sigterm`


def _on_sigterm(signum: int, frame: Any) -> None:
    """`kill`, a CI job's timeout, a service being stopped: the run ends as on a Ctrl-C (its workers stopped, its
    scratch database and bins' folders removed), where the default action ended it at once and left those
    folders in the temporary folder (gigabytes for a large log), and says so with the shell's code for it."""
    TERMINATED.set()
    _on_sigint(signum, frame)


def _interrupted(ctx: click.Context) -> None:
    if TERMINATED.is_set():
        say("llmcost: terminated")
        ctx.exit(143)
    say("llmcost: interrupted")
    ctx.exit(130)


@click.group(cls=LlmcostGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="llmcost")
def cli() -> None:
    """What your LLM API traffic really costs, from the logs you already have. Offline.

    \b
    Examples:
      llmcost report logs/ -o report.html --json summary.json
      llmcost ingest logs/*.jsonl.gz --db llm.duckdb && llmcost report --db llm.duckdb
      llmcost prices claude-sonnet-4-5-20250929
    """


for command in (report, audit, ingest, prices, tokens_cmd, savings, why_missed, project, formats):
    cli.add_command(command)


def main() -> None:
    give_freed_memory_back()
    freeze_after_pauses()
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when Ctrl-C is ignored (nohup, &)
        signal.signal(signal.SIGINT, _on_sigint)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
    cli(prog_name="llmcost")
