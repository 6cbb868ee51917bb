"""Issue 21 (savings engine side): every estimate shape renders, verdicts come from the whole range, no rank
without evidence, replays priced call by call as the bill is, and ranges that cover their assumptions."""

from __future__ import annotations

import json

from analyzer.cli import cli
from tests.conftest import openai_record, write_jsonl

T0 = 1_764_000_000  # 2025-11-24 16:00 UTC, a Monday


def report_json(runner, path, *extra):
    res = runner.invoke(cli, ["report", str(path), "--json", "-", *extra])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


# ---- item 12: every estimate shape renders ---------------------------------------------------------------------


def test_a_lever_without_a_backtest_renders_in_every_output(runner, tmp_path):
    """A routing rules file that sends gpt-4o-mini to the dearer gpt-4o: no request is cheaper on its target, so
    nothing is replayed and the estimate has no backtest. The HTML, Markdown and terminal outputs used to crash
    on it (`UndefinedError: 'band_usd'`, a traceback, exit 1)."""
    recs = [openai_record("gpt-4o-mini", prompt=200, completion=20, ts=T0 + i, rid=f"r{i}") for i in range(5)]
    log = write_jsonl(tmp_path / "a.jsonl", recs)
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nmodel = "gpt-4o-mini"\nroute_to = "gpt-4o"\n')
    out = tmp_path / "out"
    out.mkdir()
    args = ["report", str(log), "--routing-rules", str(rules), "-o", str(out / "r.html"), "--md", str(out / "r.md")]
    res = runner.invoke(cli, [*args, "--json", str(out / "r.json")])
    assert res.exit_code == 0, res.output
    r = json.loads((out / "r.json").read_text())
    (routing,) = [e for e in r["savings"] if e["lever"] == "routing"]
    assert routing["verdict"] == "costs more" and routing["backtest"]["band_usd"] is None
    assert "routing" in (out / "r.html").read_text() and (out / "r.md").read_text()
    res = runner.invoke(cli, ["savings", str(log), "--routing-rules", str(rules)])
    assert res.exit_code == 0 and "routing" in res.output


def test_a_rendering_error_is_one_line_never_a_traceback_nor_exit_1(runner, tmp_path, monkeypatch):
    """Whatever breaks inside a renderer, the other outputs are written, the failure is one line naming the
    output, and the exit code is 5 (1 means an input error, or in the audit no traffic)."""
    from analyzer import render

    def broken(report):
        raise KeyError("band_usd")

    monkeypatch.setitem(render.RENDERERS, "html", broken)
    log = write_jsonl(tmp_path / "a.jsonl", [openai_record(ts=T0, rid="r0")])
    res = runner.invoke(cli, ["report", str(log), "-o", str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json")])
    assert res.exit_code == 5, res.output
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit)
    (line,) = [x for x in res.stderr.splitlines() if x.startswith("llmcost: error")]
    assert "html" in line and "band_usd" in line
    assert json.loads((tmp_path / "r.json").read_text())["totals"]["requests"] == 1


def test_the_audit_renders_a_one_day_window_and_a_broken_renderer_is_exit_5(runner, tmp_path, monkeypatch):
    """The nightly audit of one day (a window with no backtest for some levers) writes every file; when a renderer
    breaks anyway, the other files and the audit JSON are written and the exit is 5 with one line."""
    from analyzer import render
    from tests.conftest import chat_call

    logs = tmp_path / "logs"
    logs.mkdir()
    usage = {"prompt_tokens": 2000, "completion_tokens": 100}
    recs = [
        chat_call(f"c{i}", T0 + 60 * i, [{"role": "user", "content": f"question {i}"}], usage, "gpt-4o")
        for i in range(4)
    ]
    write_jsonl(logs / "d.jsonl", recs)
    args = ["audit", str(logs), "--db", str(tmp_path / "a.duckdb"), "--out-dir", str(tmp_path / "out")]
    res = runner.invoke(cli, [*args, "--day", "2025-11-24"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "llmcost-2025-11-24.html").exists()

    def broken(report):
        raise KeyError("band_usd")

    monkeypatch.setitem(render.RENDERERS, "html", broken)
    res = runner.invoke(cli, [*args, "--day", "2025-11-24", "--out-dir", str(tmp_path / "out2")])
    assert res.exit_code == 5, res.output
    assert "Traceback" not in res.output
    (line,) = [x for x in res.stderr.splitlines() if x.startswith("llmcost: error")]
    assert "html output could not be rendered" in line
    assert json.loads((tmp_path / "out2" / "audit-2025-11-24.json").read_text())["current"]["requests"] == 4
    assert (tmp_path / "out2" / "llmcost-2025-11-24.md").exists()
