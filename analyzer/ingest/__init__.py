"""Reading log files into the store, apart from the store itself (analyzer/store.py).

Worker side, what a backend runs for one unit (a file, or a byte range of a large JSONL file): `units` (what a
unit is, how a file is cut), `parse` (records into batches), `batches` (the builder of a batch's Arrow tables),
`schemas` and `identity` (content ids, fingerprints). This side never touches the database.
Store side, in this process: `run` (plan the files, send units to the backend, a file whole or not at all),
`merge` (a file's batches into the tables, duplicates and rejects), `prefetch` (results and hashes fetched
ahead), `results` (what a run reports).

Nothing is imported here: a worker imports the parsing alone.
"""
