"""Which shared prefixes make the top list must not depend on the process: Python's string hashing is seeded
per process, and ties at the cut-off were broken by node ids built with it (the report changed run to run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import chat_call, write_jsonl

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import json, sys
from analyzer.store import Store
from analyzer import conversations, prefixes
import polars as pl
s = Store(None); s.ingest([sys.argv[1]])
seq = conversations.load_sequence(s.con)
reqs = prefixes.message_prefix_requests(seq)
attrs = pl.DataFrame({"request_id": seq.requests["request_id"]}).with_columns(
    scope=pl.lit("u"), thread_id=pl.col("request_id"), input_cost_per_token=pl.lit(None, pl.Float64),
    cache_read_tokens=pl.lit(0), scale=pl.lit(1.0))
top = prefixes.top_prefixes(reqs, attrs, limit=3)
print(json.dumps([(t["example_request_id"], t["messages"]) for t in top] + [[n for r in reqs for n in r.nodes][:4]]))
"""


def test_top_prefixes_and_node_ids_are_the_same_in_every_process(tmp_path: Path) -> None:
    calls = []
    for k in range(8):  # eight system prompts of the same length, each sent twice: eight tied prefixes
        system = f"You are assistant {k:02d}. " + "Follow the policy carefully. " * 40
        for j in range(2):
            msgs = [{"role": "system", "content": system}, {"role": "user", "content": f"question {k} {j}"}]
            calls.append(
                chat_call(
                    f"r{k}{j}", 1_764_000_000 + 10 * (2 * k + j), msgs, {"prompt_tokens": 300, "completion_tokens": 5}
                )
            )
    log = write_jsonl(tmp_path / "tied.jsonl", calls)
    outs = []
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        out = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(log)], env=env, cwd=ROOT, capture_output=True, text=True, check=True
        )
        outs.append(json.loads(out.stdout))
    assert len(outs[0]) == 4 and outs[0][:3]
    assert outs[0] == outs[1] == outs[2]
