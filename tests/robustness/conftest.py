"""Helpers for the robustness suite: records of every format, and the CLI run as a user runs it (a subprocess,
so that a traceback, a hang or a stray escape sequence is seen exactly as a terminal would see it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_logs"


def run_cli(
    *args: str,
    input: bytes | None = None,
    timeout: float = 60,
    env: dict[str, str] | None = None,
    isolated: bool = False,
    **kw,
) -> subprocess.CompletedProcess:
    """`llmcost ARGS` as a user runs it. In a fresh interpreter (this worktree's code) when the test needs a
    real process: standard input, environment, a possible hang (the timeout), or `isolated`. Otherwise in this
    process through click's runner, which is seconds faster; an exception that escapes becomes a "Traceback"
    in stderr, just as a user would see it."""
    if isolated or input is not None or env or kw:
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "analyzer", *args],
            input=input,
            capture_output=True,
            timeout=timeout,
            env=full_env,
            cwd=kw.pop("cwd", None),
            **kw,
        )
    from click.testing import CliRunner

    from analyzer.cli import cli

    res = CliRunner().invoke(cli, list(args), prog_name="llmcost")
    stderr = res.stderr_bytes or b""
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        tb = "".join(traceback.format_exception(res.exception))
        stderr += f"Traceback (most recent call last):\n{tb}".encode()
    return subprocess.CompletedProcess(list(args), res.exit_code, res.stdout_bytes, stderr)


def assert_one_line_error(res: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 1, no traceback, and one `llmcost: error:` line that names the cause."""
    err = res.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err, err
    assert res.returncode == 1, (res.returncode, err)
    errors = [ln for ln in err.splitlines() if ln.startswith("llmcost: error:")]
    assert len(errors) == 1, err
    for n in needles:
        assert n in errors[0], errors[0]
    return errors[0]


def mooncake(i: int, ts: float | None = None) -> dict[str, Any]:
    """A block-hash trace record: no id of its own, so its identity is its content."""
    return {
        "timestamp": ts if ts is not None else i * 1000,
        "input_length": 600,
        "output_length": 10 + i,
        "hash_ids": [i, i + 1],
    }


def chat_no_id(i: int, ts: int = 1_764_000_000) -> dict[str, Any]:
    """An OpenAI chat log line without any id (many proxies log none)."""
    return {
        "timestamp": ts + i,
        "request": {"model": "gpt-4o", "messages": [{"role": "user", "content": f"question {i}"}]},
        "response": {
            "object": "chat.completion",
            "model": "gpt-4o",
            "choices": [{"message": {"role": "assistant", "content": "ok"}}],
            "usage": {"prompt_tokens": 100 + i, "completion_tokens": 20},
        },
    }


def jsonl(records: list[Any]) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records)


def first_record(name: str) -> dict[str, Any]:
    """The first record of a sample (a JSONL line, or the JSON document's first element)."""
    text = (SAMPLES / name).read_text()
    try:
        doc = json.loads(text)
        return doc[0] if isinstance(doc, list) else doc
    except json.JSONDecodeError:
        return json.loads(text.splitlines()[0])


@pytest.fixture
def rows_of():
    def rows(db: Path) -> int:
        import duckdb

        con = duckdb.connect(str(db), read_only=True)
        try:
            return con.execute("SELECT count(*) FROM requests").fetchall()[0][0]
        finally:
            con.close()

    return rows
