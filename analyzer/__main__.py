"""`python -m analyzer`, and the `llmcost` command (pyproject's [project.scripts])."""

import os
import sys

# polars' allocator (jemalloc, linked into polars under the prefix _rjem_) in the command's own process: freed pages
# go back to the system within 100 ms, by a thread of jemalloc's own. polars sets 500 ms, then keeps them another
# second as "muzzy" pages (given back lazily, still counted in the resident set). The report's parent frees and
# allocates large frames stage after stage, and held the pages of the step before while the next allocated its own
# (the prefix reuse stage at a million calls, the report's peak: +853 -> +691 MiB over its start, in the same time).
# Only here: the parse workers, which allocate and free small frames fast, ran 2.6x slower with a short decay and
# no muzzy pages (bench/RESULTS.md, stop 46). polars appends a setting it finds to its own.
ALLOCATOR_ENV = "_RJEM_MALLOC_CONF"
PARENT_ALLOCATOR = "background_thread:true,dirty_decay_ms:100,muzzy_decay_ms:0"


def tune_allocator() -> bool:
    """Load polars with PARENT_ALLOCATOR, unless the user set the allocator's settings or polars is loaded already;
    the variable (polars' settings with ours after them) is removed again, so that the processes this one starts
    (the fork server and its workers) load polars with its own. Whether it was set."""
    if ALLOCATOR_ENV in os.environ or "polars" in sys.modules:
        return False
    os.environ[ALLOCATOR_ENV] = PARENT_ALLOCATOR
    try:
        import polars  # noqa: F401 - jemalloc reads its settings as polars loads
    finally:
        del os.environ[ALLOCATOR_ENV]
    return True


def run() -> None:
    """The command. A Ctrl-C while its modules are still being imported (the first second or so) ends the run
    as one at any later moment does: one line and exit 130, not a traceback."""
    try:
        tune_allocator()
        from analyzer.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("llmcost: interrupted\n")
        raise SystemExit(130) from None
    main()


# guarded: worker processes (backends/local.py) import the main module again, and must not run the command twice
if __name__ == "__main__":
    run()
