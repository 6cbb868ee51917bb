"""Bad records are quarantined with file, line and reason; good ones all load; exit codes as documented."""

from __future__ import annotations

import json

import pytest

from analyzer.cli import cli
from tests.conftest import openai_record, write_jsonl

BAD = [
    ("{this is not json", "not valid JSON"),
    ("[1, 2, 3]", "not a JSON object"),
    (
        json.dumps(
            {
                "timestamp": 1,
                "request": {"messages": []},
                "response": {"object": "chat.completion", "usage": {"prompt_tokens": 1}},
            }
        ),
        "no model",
    ),
    (json.dumps(openai_record(prompt=-5)), "prompt_tokens is negative"),
    (json.dumps(openai_record(completion="lots")), "completion_tokens is not a whole number"),
    (json.dumps(openai_record(ts="the day before yesterday")), "unparseable timestamp"),
    (json.dumps(openai_record(prompt=10, cached=50)), "exceed input tokens"),
]


@pytest.fixture
def mixed(tmp_path):
    lines = []
    for i in range(3):
        lines.append(openai_record(rid=f"good-{i}"))
        lines.append(BAD[i][0])
    lines.extend(b for b, _ in BAD[3:])
    lines.append(openai_record(rid="good-last"))
    return write_jsonl(tmp_path / "mixed.jsonl", lines)


def test_every_bad_record_is_quarantined_with_its_line_and_reason(store, mixed):
    result = store.ingest([str(mixed)])
    assert result.rows == 4 and result.rejected == len(BAD)
    rejects = store.con.execute("SELECT line, location, reason FROM rejects ORDER BY line").fetchall()
    assert [r[0] for r in rejects] == [2, 4, 6, 7, 8, 9, 10]
    for (line, location, reason), (_, expected) in zip(rejects, BAD, strict=True):
        assert location == f"{mixed}:{line}"
        assert expected in reason


def test_cli_warns_in_one_line_and_exits_0(runner, mixed, tmp_path):
    out = tmp_path / "s.json"
    res = runner.invoke(cli, ["report", str(mixed), "--json", str(out)])
    assert res.exit_code == 0, res.output
    warnings = [ln for ln in res.stderr.splitlines() if "warning" in ln]
    assert len(warnings) == 1
    assert "7 records rejected" in warnings[0] and f"{mixed}:2" in warnings[0]
    data = json.loads(out.read_text())
    assert data["ingest"]["rejected"] == 7 and data["totals"]["requests"] == 4
    assert data["ingest"]["rejects_by_reason"][0]["records"] == 1


def test_strict_exits_4_but_still_writes_outputs(runner, mixed, tmp_path):
    out = tmp_path / "s.json"
    res = runner.invoke(cli, ["report", str(mixed), "--json", str(out), "--strict"])
    assert res.exit_code == 4
    assert out.exists()
    assert "--strict" in res.stderr and "Traceback" not in res.output


def test_strict_with_clean_input_exits_0(runner, tmp_path):
    f = write_jsonl(tmp_path / "ok.jsonl", [openai_record(rid="x")])
    assert runner.invoke(cli, ["report", str(f), "--strict"]).exit_code == 0


def test_missing_path_exits_1_with_one_line(runner, tmp_path):
    res = runner.invoke(cli, ["report", str(tmp_path / "missing.jsonl")])
    assert res.exit_code == 1
    assert res.stderr.strip().count("\n") == 0 and "no such file" in res.stderr
    assert "Traceback" not in res.output


def test_unknown_format_exits_1(runner, tmp_path):
    f = write_jsonl(tmp_path / "weird.jsonl", [{"foo": 1}, {"bar": 2}])
    res = runner.invoke(cli, ["report", str(f)])
    assert res.exit_code == 1 and "unrecognised format" in res.stderr


def test_binary_garbage_exits_1(runner, tmp_path):
    f = tmp_path / "x.jsonl"
    f.write_bytes(b"\x00\x01\x02garbage")
    res = runner.invoke(cli, ["report", str(f)])
    assert res.exit_code == 1 and "not JSON" in res.stderr


def test_truncated_gzip_keeps_what_it_holds_and_says_it_is_truncated(runner, tmp_path):
    """A .gz cut short (still being written, or a crash) loads the records before the cut; the cut itself is
    one reject saying the stream is truncated, so --strict still fails the run (issue 14, case 3)."""
    import gzip

    data = gzip.compress(b"\n".join(json.dumps(openai_record(rid=f"z{i}")).encode() for i in range(200)))
    f = tmp_path / "cut.jsonl.gz"
    f.write_bytes(data[: len(data) // 2])
    res = runner.invoke(cli, ["report", str(f), "--strict"])
    assert res.exit_code == 4 and "truncated" in res.stderr and "Traceback" not in res.output


def test_usage_error_exits_2(runner):
    assert runner.invoke(cli, ["report"]).exit_code == 2
    assert runner.invoke(cli, ["report", "x", "--since", "not-a-date"]).exit_code == 2


def test_no_text_keeps_prompt_text_out_of_rejects(store, tmp_path):
    f = write_jsonl(tmp_path / "s.jsonl", ['{"secret prompt": "hunter2", broken'])
    store.ingest([str(f)], no_text=True, fmt="openai_chat")
    assert store.con.execute("SELECT excerpt FROM rejects").fetchall() == [(None,)]
