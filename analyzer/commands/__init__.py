"""What the small commands compute, apart from their command lines (analyzer/cli/) and their text
(analyzer/terminal.py): a price lookup, a token count, a projection from options or a database. Each returns a
plain dict, the same one `--json` prints, so a test or a script calls it without a terminal."""
