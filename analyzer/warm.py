"""Imported once by the fork server of the worker pool (backends.local.PRELOAD): every worker forked from it then
starts with the o200k tokenizer loaded, instead of each loading it again (0.4-0.6 s of CPU per worker), ends its
collector pauses as the command line does (perf.freeze_after_pauses), and, like it, allocates Arrow's buffers
from the system allocator, whose free pages a worker gives back after each bin and each comparison
(perf.give_freed_memory_back, perf.return_free_heap). The command's own process never
imports this module: it loads the tokenizer only if it counts tokens itself."""

from analyzer import perf, tokens

tokens.encoding(tokens.DEFAULT_ENCODING)
perf.give_freed_memory_back()
perf.freeze_after_pauses()  # a worker runs for one command (perf.freeze_after_pauses)
