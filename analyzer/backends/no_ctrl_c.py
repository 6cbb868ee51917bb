"""Imported first by the fork server of the worker pool (local.PRELOAD): from then on it ignores Ctrl-C, as it
does anyway once its preloading is done (multiprocessing.forkserver.main). A Ctrl-C reaches the whole process
group; without this, one that came while the fork server imported the rest printed its KeyboardInterrupt
traceback beside the parent's one line. The parent stops the run (cli: "llmcost: interrupted", exit 130).

The processes the fork server starts inherit `quiet_cut_start` as their exception hook: a Ctrl-C that ends the
parent while it writes a new worker's start message (the replays' workers are started on a thread) leaves that
worker a cut message, and its unpickling error printed a traceback beside the parent's one line. Any other error
is printed as before."""

import pickle
import signal
import sys
from types import TracebackType

signal.signal(signal.SIGINT, signal.SIG_IGN)

CUT_START = (EOFError, pickle.UnpicklingError)  # a start message cut short: its sender is gone


def quiet_cut_start(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, CUT_START):
        return  # the parent ended mid-message and has said why; this process only exits
    sys.__excepthook__(kind, value, tb)


sys.excepthook = quiet_cut_start
