"""Imported first by the fork server of the worker pool (local.PRELOAD): from then on it ignores Ctrl-C, as it
does anyway once its preloading is done (multiprocessing.forkserver.main). A Ctrl-C reaches the whole process
group; without this, one that came while the fork server imported the rest printed its KeyboardInterrupt
traceback beside the parent's one line. The parent stops the run (cli: "llmcost: interrupted", exit 130)."""

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)
