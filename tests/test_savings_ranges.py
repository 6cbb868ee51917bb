"""Issue 21 (savings engine side): every estimate shape renders, verdicts come from the whole range, no rank
without evidence, replays priced call by call as the bill is, and ranges that cover their assumptions."""

from __future__ import annotations

import json

import pytest

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


# ---- item 10: "saves" only when the low case clears the band ----------------------------------------------------


def simple_chats(n, model="gpt-4o", prompt=10, completion=3):
    recs = []
    for i in range(n):
        r = openai_record(model, prompt=prompt, completion=completion, ts=T0 + 60 * i, rid=f"r{i}")
        r["request"]["messages"] = [{"role": "user", "content": f"what is the status of order {i}"}]
        recs.append(r)
    return recs


def test_a_lever_whose_low_case_loses_money_is_withheld_not_ranked(runner, tmp_path):
    """40 simple gpt-4o chats (10 input, 3 output tokens each, no cache): routing one to gpt-4o-mini saves
    10 x ($2.50 - $0.15)/M + 3 x ($10 - $0.60)/M; classifying all 40 costs C. The central case routes 20 of them
    (70% by the stable hash), the low case 12 (50%): central 20 s - C > 0, low 12 s - C < 0. The routing
    estimate used to be ranked with that negative low case."""
    from analyzer.savings.routing import _selected

    r = report_json(runner, write_jsonl(tmp_path / "a.jsonl", simple_chats(40)))
    (e,) = [e for e in r["savings"] if e["lever"] == "routing"]
    s = 10 * (2.5 - 0.15) / 1e6 + 3 * (10 - 0.6) / 1e6
    c = e["detail"]["classifier_usd"]
    k = {case: sum(_selected(f"r{i}", share) for i in range(40)) for case, share in (("low", 0.5), ("central", 0.7))}
    assert (k["low"], k["central"]) == (12, 20)
    assert e["saving_usd"] == pytest.approx(k["central"] * s - c) and e["saving_usd"] > 0
    assert e["detail"]["saving_by_case_usd"]["low"] == pytest.approx(k["low"] * s - c)
    assert e["backtest"]["band_usd"] == 0.0  # no cache anywhere: the replay is exact arithmetic
    assert e["saving_low_usd"] < 0
    assert e["verdict"] == "withheld" and "low case" in e["withheld"]
    assert not r["headline"]["levers"] and not r["headline"]["other_levers"]
    (w,) = r["headline"]["withheld"]
    assert w["lever"] == "routing" and "low case" in w["text"]
    assert r["combined"]["components"] == []
    md = __import__("analyzer.render", fromlist=["render_markdown"]).render_markdown(r)
    assert "withheld" in md.lower()


def test_a_lever_whose_low_case_clears_the_band_saves(runner, tmp_path):
    """The same chats with 40 input tokens each: the low case (12 routed) now pays for the classifier."""
    r = report_json(runner, write_jsonl(tmp_path / "a.jsonl", simple_chats(40, prompt=40)))
    (e,) = [e for e in r["savings"] if e["lever"] == "routing"]
    s = 40 * (2.5 - 0.15) / 1e6 + 3 * (10 - 0.6) / 1e6
    assert e["detail"]["saving_by_case_usd"]["low"] == pytest.approx(12 * s - e["detail"]["classifier_usd"])
    assert e["saving_low_usd"] > 0 and e["verdict"] == "saves" and e["withheld"] is None
    assert [lv["lever"] for lv in r["headline"]["levers"]] == ["routing"]
