"""Charts drawn offline: Vega-Lite specs to static SVG with vl-convert, in a child process when V8 could not
start in this one.

Apart from the chart specs (`analyzer.charts`, plain data built from the report model) because drawing is the
one step that runs the Vega engine, with its memory needs and its optional native package.
"""

from __future__ import annotations

import contextlib
import json
import resource
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any


def to_svg(spec: dict[str, Any]) -> str:
    import vl_convert

    return vl_convert.vegalite_to_svg(spec)


# Run by a child interpreter (stdlib and vl_convert only): raise the address-space limit as far as the hard
# limit allows, start the engine on a tiny chart, then draw what it is given. A V8 that cannot reserve its memory
# kills only this child.
_CHILD = """
import json, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
try:
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
except (ValueError, OSError):
    pass
import vl_convert
vl_convert.vegalite_to_svg(
    {"mark": "point", "data": {"values": [{"x": 1}]}, "encoding": {"x": {"field": "x", "type": "quantitative"}}}
)
json.dump([vl_convert.vegalite_to_svg(s) for s in json.load(sys.stdin)], sys.stdout)
"""
# -P: the working folder is not put first on the child's path (a json.py there would be imported instead)
_CHILD_COMMAND = [sys.executable, "-P", "-c", _CHILD]
_started: subprocess.Popen[str] | None = None


def start() -> None:
    """Start the chart engine now, in a child interpreter, for the next `to_svgs`: V8 and the Vega bundle take
    ~0.3 s to start and hold the GIL meanwhile, so started here (in this process) they would stop the run, and
    started when the charts are drawn they would be waited for at its end. The child waits for its charts on its
    standard input; `stop` (or this process ending, which closes that input) ends it if none come."""
    global _started
    if _started is None:
        try:
            _started = subprocess.Popen(
                _CHILD_COMMAND,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        except OSError:
            _started = None  # drawn the usual way, later


def stop() -> None:
    """End a started child that was given no charts (the run failed, or drew none)."""
    global _started
    child, _started = _started, None
    if child is not None:
        _end(child)


def _end(child: subprocess.Popen[str]) -> None:
    with contextlib.suppress(OSError):
        child.kill()
    child.wait()
    for f in (child.stdin, child.stdout):
        with contextlib.suppress(OSError):
            f.close()  # type: ignore[union-attr]


def draw_started(specs: list[dict[str, Any]]) -> Callable[[], list[str] | None] | None:
    """The specs sent to the started child, which draws them while the caller goes on (the page's template):
    a function that waits for their SVGs (None when the child could not draw them). None when no child was
    started."""
    global _started
    child, _started = _started, None
    if child is None:
        return None
    got: list[list[str] | None] = []
    drawing = threading.Thread(target=lambda: got.append(_drawn(child, specs)), name="llmcost-charts", daemon=True)
    drawing.start()

    def wait() -> list[str] | None:
        drawing.join()
        return got[0] if got else None

    return wait


def _drawn(child: subprocess.Popen[str], specs: list[dict[str, Any]]) -> list[str] | None:
    try:
        out, _ = child.communicate(json.dumps(specs), timeout=300)
        if child.returncode == 0:
            svgs = json.loads(out)
            if isinstance(svgs, list) and len(svgs) == len(specs):
                return svgs
    except (OSError, subprocess.SubprocessError, ValueError):
        _end(child)
    return None


def to_svgs(specs: list[dict[str, Any]]) -> tuple[list[str] | None, str | None]:
    """The SVG of each spec, or None and the reason they could not be drawn.

    The Vega engine runs on V8, which reserves a large address space when it starts and aborts the whole process
    (SIGTRAP, exit 133, nothing written) under any address-space limit (`ulimit -v`, even 32 GB), as cron and
    batch set-ups often set. Without a limit the charts are drawn here; with one, in a child process, so that if
    V8 cannot start the report is still written, without its charts, and says why."""
    if not specs:
        return [], None
    drawing = draw_started(specs)
    if drawing is not None and (svgs := drawing()) is not None:
        return svgs, None
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return [to_svg(s) for s in specs], None
    try:
        done = subprocess.run(_CHILD_COMMAND, input=json.dumps(specs), capture_output=True, text=True, timeout=300)
        if done.returncode == 0:
            return json.loads(done.stdout), None
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    limit = f"{soft // 2**20:,} MiB" if soft > 0 else "set"
    return None, (
        f"charts left out: the chart engine (V8) cannot start under this process's address-space limit "
        f"(ulimit -v: {limit}); the tables hold every figure. Run without the limit for the charts."
    )
