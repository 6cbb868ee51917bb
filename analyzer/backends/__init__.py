"""Where the work runs: in this process, on this machine's cores, or on a Ray cluster.

- base.py: the `Backend` protocol and its contract (results in unit order; a unit's failure raised here).
- local.py: `Inline` (everything in this process: the one way to say "run here") and `Local` (a pool of
  processes on this machine, `--workers N`).
- ray.py: `Ray` (`pip install 'llmcost[ray]'`, `--engine ray`): tasks and actors on a Ray cluster.

`backend(...)` picks one for a command line. It lives here, above the three, so that no backend imports another:
each imports only base.py.
"""

from __future__ import annotations

from analyzer.backends.base import WORKERS_ENV, Backend, UnitError, default_workers
from analyzer.backends.local import Inline, Local
from analyzer.backends.ray import Ray

__all__ = ["WORKERS_ENV", "Backend", "Inline", "Local", "Ray", "UnitError", "backend", "default_workers"]


def backend(engine: str = "local", workers: int | None = None, address: str | None = None) -> Backend:
    """The backend a command line asked for: 'local' (Inline when one worker) or 'ray' (the optional extra:
    a usage error saying how to install it when missing)."""
    if engine == "ray":
        return Ray(address=address, workers=workers)
    n = workers or default_workers()
    return Inline() if n <= 1 else Local(n)
