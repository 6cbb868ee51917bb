"""The floor: DuckDB's own JSON reader scanning the same files, counting calls and summing reported tokens.

    python bench/scan.py FILE...

No tokenizing, no messages, no Python per record: how fast the bytes can be read and the usage fields found.
JSONL logs (bench/make_log.py) are read with `read_json` and only their usage columns declared; mini-swe-agent
trajectories (`*.traj.json[.gz]`) as whole documents whose assistant messages carry the usage.
"""

from __future__ import annotations

import sys

import duckdb

USAGE = "STRUCT(prompt_tokens BIGINT, input_tokens BIGINT, completion_tokens BIGINT, output_tokens BIGINT)"


def main() -> None:
    files = sys.argv[1:]
    logs = [f for f in files if ".traj.json" not in f]
    trajs = [f for f in files if ".traj.json" in f]
    con = duckdb.connect()
    calls = inp = out = 0
    if logs:
        n, i, o = con.execute(
            f"""SELECT count(*), sum(coalesce(response.usage.prompt_tokens, response.usage.input_tokens)),
                       sum(coalesce(response.usage.completion_tokens, response.usage.output_tokens))
                FROM read_json(?, format = 'newline_delimited', columns = {{'response': 'STRUCT(usage {USAGE})'}},
                               maximum_object_size = 536870912)""",
            [logs],
        ).fetchone()
        calls, inp, out = calls + n, inp + (i or 0), out + (o or 0)
    if trajs:
        n, i, o = con.execute(
            """SELECT count(*), sum((m->'$.extra.response.usage.prompt_tokens')::BIGINT),
                      sum((m->'$.extra.response.usage.completion_tokens')::BIGINT)
               FROM (SELECT unnest(messages) AS m
                     FROM read_json(?, format = 'auto', columns = {'messages': 'JSON[]'},
                                    maximum_object_size = 536870912))
               WHERE m->>'role' = 'assistant'""",
            [trajs],
        ).fetchone()
        calls, inp, out = calls + n, inp + (i or 0), out + (o or 0)
    print(f"{calls} calls, {inp} reported input tokens, {out} output tokens")


if __name__ == "__main__":
    main()
