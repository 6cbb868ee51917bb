"""An ingest killed (SIGKILL: no handler runs) at any point leaves a database that the next run completes:
nothing counted twice, nothing lost. Files are committed one transaction each; the rest is the record keys."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import duckdb

from tests.robustness.conftest import ROOT, chat_no_id, jsonl


def test_sigkill_during_ingest_then_rerun_counts_every_record_once(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    for f in range(4):
        (folder / f"f{f}.jsonl").write_bytes(jsonl([chat_no_id(f * 10_000 + i) for i in range(1500)]))
    db = tmp_path / "db.duckdb"
    cmd = [sys.executable, "-m", "analyzer", "ingest", str(folder), "--db", str(db)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for delay in (2.0, 3.5, 5.0):  # from before the first commit to between files, on a loaded machine
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    res = subprocess.run(cmd, env=env, capture_output=True, timeout=240)
    assert res.returncode == 0, res.stderr.decode()
    con = duckdb.connect(str(db), read_only=True)
    try:
        total, distinct = con.execute("SELECT count(*), count(DISTINCT request_id) FROM requests").fetchall()[0]
        manifest = con.execute("SELECT count(*), sum(rows) FROM sources").fetchall()[0]
    finally:
        con.close()
    assert total == distinct == 6000
    assert manifest == (4, 6000)
