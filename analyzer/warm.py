"""Imported once by the fork server of the worker pool (backends.local.PRELOAD): every worker forked from it then
starts with the o200k tokenizer loaded, instead of each loading it again (0.4-0.6 s of CPU per worker), and ends
its collector pauses as the command line does (perf.freeze_after_pauses). The command's own process never
imports this module: it loads the tokenizer only if it counts tokens itself."""

from analyzer import perf, tokens

tokens.encoding(tokens.DEFAULT_ENCODING)
perf.freeze_after_pauses()  # a worker runs for one command (perf.freeze_after_pauses)
