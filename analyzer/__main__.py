"""`python -m analyzer`, and the `llmcost` command (pyproject's [project.scripts])."""

import sys


def run() -> None:
    """The command. A Ctrl-C while its modules are still being imported (the first second or so) ends the run
    as one at any later moment does: one line and exit 130, not a traceback."""
    try:
        from analyzer.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("llmcost: interrupted\n")
        raise SystemExit(130) from None
    main()


# guarded: worker processes (backends/local.py) import the main module again, and must not run the command twice
if __name__ == "__main__":
    run()
