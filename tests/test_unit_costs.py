"""Cost per unit of work (issue 25, part 4): per user, tag, session and agent task, with percentiles and the
success split, on small logs whose figures are computed by hand here.

gpt-4o at $2.50 / $10 per million input / output tokens: a call of P prompt and 100 completion tokens costs
P x 2.5e-6 + 100 x 1e-5 = P x 2.5e-6 + $0.001.
"""

from __future__ import annotations

import gzip
import json
import math

import pytest

from analyzer.prices import load_catalogue
from analyzer.report import build_report
from analyzer.unit_costs import outcomes, percentile
from tests.conftest import ROOT, openai_record, write_jsonl


def call(i: int, prompt: int, model: str = "gpt-4o", **meta) -> dict:
    return openai_record(model=model, prompt=prompt, completion=100, ts=1_764_000_000 + 60 * i, rid=f"r{i}", **meta)


def report_of(store, tmp_path, records):
    store.ingest([str(write_jsonl(tmp_path / "log.jsonl", records))])
    return build_report(store, load_catalogue())


def test_percentiles_interpolate_between_order_statistics():
    v = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert percentile(v, 50) == 3.0  # h = 2
    assert percentile(v, 90) == pytest.approx(4.0 + 0.6 * 6.0)  # h = 3.6
    assert percentile(v, 99) == pytest.approx(4.0 + 0.96 * 6.0)  # h = 3.96
    assert percentile(v, 0) == 1.0 and percentile(v, 100) == 10.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def test_cost_per_user_and_tag(store, tmp_path):
    recs = [
        call(1, 400, user="u1", tags=["a", "b"]),  # 0.001 + 0.001 = 0.002
        call(2, 800, user="u2", tags=["a"]),  # 0.002 + 0.001 = 0.003
        call(3, 1200, user="u3"),  # 0.004
        call(4, 2000, user="u4"),  # 0.006
        call(5, 4000, user="u5"),  # 0.011
        call(6, 4000, user="u5"),  # 0.011: u5 = 0.022
        call(7, 1000, model="acme-llm-7b", user="u6"),  # not in the catalogue: an unpriced user
        call(8, 400),  # no user: in no user's row
    ]
    uc = report_of(store, tmp_path, recs)["unit_costs"]
    users = uc["units"]["user"]
    # priced users' costs, ascending: 0.002, 0.003, 0.004, 0.006, 0.022 (total 0.037)
    assert (users["units"], users["priced_units"], users["unpriced_units"], users["requests"]) == (6, 5, 1, 7)
    assert users["cost_usd"] == pytest.approx(0.037)
    assert users["mean_usd"] == pytest.approx(0.037 / 5)
    assert users["p50_usd"] == pytest.approx(0.004)
    assert users["p90_usd"] == pytest.approx(0.006 + 0.6 * 0.016)
    assert users["p99_usd"] == pytest.approx(0.006 + 0.96 * 0.016)
    assert users["max_usd"] == pytest.approx(0.022)
    assert users["top_tenth_units"] == math.ceil(5 / 10) == 1
    assert users["top_tenth_share"] == pytest.approx(0.022 / 0.037, abs=1e-4)
    top = users["costliest"]
    assert [t["value"] for t in top] == ["u5", "u4", "u3", "u2", "u1"]  # the unpriced one has no cost to rank
    assert top[0]["requests"] == 2 and top[0]["share"] == pytest.approx(0.022 / 0.037, abs=1e-4)
    tags = {t["value"]: t["cost_usd"] for t in uc["units"]["tag"]["costliest"]}
    assert tags == pytest.approx({"a": 0.005, "b": 0.002})
    assert uc["tasks"] is None  # no log here records how a task ended


def test_cost_per_successful_task(store, tmp_path):
    recs = [
        call(1, 400, conversation_id="t1", tags=["exit_status:Submitted"]),  # 0.002
        call(2, 400, conversation_id="t1", tags=["exit_status:Submitted"]),  # 0.002: t1 = 0.004
        call(3, 2000, conversation_id="t2", tags=["exit_status:Submitted"]),  # t2 = 0.006
        call(4, 4000, conversation_id="t3", tags=["exit_status:LimitsExceeded", "x"]),  # t3 = 0.011
        call(5, 400, conversation_id="chat"),  # a conversation, not an agent task
    ]
    rep = report_of(store, tmp_path, recs)
    uc = rep["unit_costs"]
    tasks = uc["units"]["task"]
    assert tasks["units"] == 3 and tasks["cost_usd"] == pytest.approx(0.021)
    assert {t["value"]: t["exit_status"] for t in tasks["costliest"]} == {
        "t3": "LimitsExceeded",
        "t2": "Submitted",
        "t1": "Submitted",
    }
    sessions = uc["units"]["session"]
    assert sessions["units"] == 4 and sessions["cost_usd"] == pytest.approx(0.023)
    # the exit status is an outcome, not a label: only "x" is a tag
    assert [t["value"] for t in uc["units"]["tag"]["costliest"]] == ["x"]
    out = uc["tasks"]
    assert (out["tasks_with_status"], out["successful_tasks"]) == (3, 2)
    assert out["success_rate"] == pytest.approx(2 / 3, abs=1e-4)
    # all the tasks' spend (the failed run's included) over the successful tasks
    assert out["cost_per_successful_task_usd"] == pytest.approx(0.021 / 2)
    assert out["mean_successful_task_usd"] == pytest.approx(0.010 / 2)
    split = {s["exit_status"]: s for s in out["by_exit_status"]}
    assert split["Submitted"]["success"] and split["Submitted"]["units"] == 2
    assert split["Submitted"]["cost_usd"] == pytest.approx(0.010)
    assert not split["LimitsExceeded"]["success"] and split["LimitsExceeded"]["cost_usd"] == pytest.approx(0.011)
    assert any("successful agent task" in a for a in rep["assumptions"])


def test_outcomes_of_tasks_without_a_status():
    rows = [{"value": "a", "requests": 1, "cost_usd": 1.0, "unpriced_requests": 0, "exit_status": None}]
    assert outcomes(rows) is None


def test_a_mini_swe_agent_run_is_a_task_with_its_exit_status(store):
    """The real trajectory records info.exit_status; the reader keeps it, and the run is one task."""
    path = ROOT / "tests" / "fixtures" / "mini_swe_agent.traj.json.gz"
    run = json.loads(gzip.decompress(path.read_bytes()))
    store.ingest([str(path)])
    rep = build_report(store, load_catalogue())
    (task,) = rep["unit_costs"]["units"]["task"]["costliest"]
    assert task["value"] == run["instance_id"] and task["exit_status"] == run["info"]["exit_status"] == "Submitted"
    assert task["requests"] == 31 and task["cost_usd"] == pytest.approx(rep["totals"]["cost_usd"], abs=1e-6)
    assert rep["unit_costs"]["tasks"]["successful_tasks"] == 1


TASKS = [
    call(1, 400, conversation_id="t1", tags=["exit_status:Submitted"]),  # t1 = 0.002
    call(2, 2000, conversation_id="t2", tags=["exit_status:Submitted"]),  # t2 = 0.006
    call(3, 4000, conversation_id="t3\nllmcost: error: forged", tags=["exit_status:Limits\nExceeded"]),  # 0.011
]


def test_views_print_and_write_the_unit_costs(runner, tmp_path):
    from analyzer.cli import cli

    log = str(write_jsonl(tmp_path / "log.jsonl", TASKS))
    res = runner.invoke(cli, ["report", log, "--view", "units"])
    assert res.exit_code == 0, res.output
    assert "Cost per unit of work" in res.output
    task_row = next(ln for ln in res.output.splitlines() if ln.startswith("task "))
    # 3 tasks: 0.002, 0.006, 0.011; total $0.019, mean 0.006333, p50 0.006
    assert task_row.split()[1:4] == ["3", "$0.0190", "$0.0063"]
    assert "2 successful tasks of 3" in res.output and "$0.0095 per successful task" in res.output  # 0.019 / 2
    res = runner.invoke(cli, ["report", log, "--view", "tasks"])
    assert res.exit_code == 0, res.output
    assert not any(ln.startswith("llmcost: error") for ln in res.output.splitlines())  # log text stays escaped
    assert "t3\\nllmcost: error: forged" in res.output
    out = tmp_path / "tasks.json"
    res = runner.invoke(cli, ["report", log, "--view", "tasks", "--json", str(out)])
    assert res.exit_code == 0, res.output
    v = json.loads(out.read_text())
    assert v["view"] == "tasks" and v["unit"] == "task" and [r["cost_usd"] for r in v["rows"]] == [0.011, 0.006, 0.002]
    assert v["distribution"]["p50_usd"] == pytest.approx(0.006) and v["tasks"]["successful_tasks"] == 2


def test_html_and_markdown_have_the_unit_costs_table(runner, tmp_path):
    from analyzer.cli import cli

    log = str(write_jsonl(tmp_path / "log.jsonl", TASKS))
    html, md = tmp_path / "r.html", tmp_path / "r.md"
    res = runner.invoke(cli, ["report", log, "-o", str(html), "--md", str(md)])
    assert res.exit_code == 0, res.output
    page = html.read_text()
    assert 'id="unit-costs"' in page and 'id="cost-per-success"' in page
    assert "<script" not in page.split('id="unit-costs"')[1].split("</section>")[0]
    assert "| task | 3 | $0.0190 |" in md.read_text()


def test_hash_ids_keeps_the_exit_status_readable(store, tmp_path):
    """--hash-ids hashes tags and conversations, but how a run ended is no one's identity: the success split
    survives it."""
    store.ingest([str(write_jsonl(tmp_path / "log.jsonl", TASKS))])
    store.hide_ids()
    uc = build_report(store, load_catalogue())["unit_costs"]
    assert all(r["value"].startswith("conv-") for r in uc["units"]["task"]["costliest"])
    assert uc["tasks"]["successful_tasks"] == 2
    assert {s["exit_status"] for s in uc["tasks"]["by_exit_status"]} == {"Submitted", "Limits\nExceeded"}


TRACES = ROOT.parent / "shared" / "traces" / "mini_swe_agent_deepseek_test"


@pytest.mark.skipif(not TRACES.is_dir(), reason="needs ../shared/traces")
def test_real_agent_runs_cost_per_task_matches_the_agents_own_costs(store):
    """99 real mini-swe-agent runs on DeepSeek: one task per run with its exit status, and the per-task
    percentiles agree with the same percentiles of what the agent itself logged per run (extra.cost summed over
    its calls, read here with the stdlib): our list-price figures and DeepSeek's own within 1%."""
    runs = []
    for f in sorted(TRACES.glob("*.traj.json.gz")):
        d = json.loads(gzip.decompress(f.read_bytes()))
        calls = [m for m in d["messages"] if m.get("role") == "assistant"]
        runs.append((d["info"]["exit_status"], len(calls), sum(m["extra"]["cost"] for m in calls)))
    store.ingest([str(TRACES)])
    rep = build_report(store, load_catalogue())
    tasks = rep["unit_costs"]["units"]["task"]
    assert tasks["units"] == len(runs) == 99 and tasks["requests"] == sum(n for _, n, _ in runs)
    assert tasks["cost_usd"] == pytest.approx(rep["totals"]["cost_usd"], abs=1e-5)
    own = sorted(c for _, _, c in runs)
    for q in (50, 90, 99):
        assert tasks[f"p{q}_usd"] == pytest.approx(percentile(own, q), rel=0.01)
    out = rep["unit_costs"]["tasks"]
    ok = sum(1 for s, _, _ in runs if s == "Submitted")
    assert out["successful_tasks"] == ok and out["tasks_with_status"] == len(runs)
    assert out["cost_per_successful_task_usd"] == pytest.approx(sum(own) / ok, rel=0.01)


def test_csv_dir_writes_the_unit_costs(runner, tmp_path):
    import csv

    from analyzer.cli import cli

    log = str(write_jsonl(tmp_path / "log.jsonl", TASKS))
    res = runner.invoke(cli, ["report", log, "--csv-dir", str(tmp_path / "csv")])
    assert res.exit_code == 0, res.output
    units = {r["unit"]: r for r in csv.DictReader((tmp_path / "csv" / "unit_costs.csv").open())}
    assert units["task"]["units"] == "3" and float(units["task"]["cost_usd"]) == pytest.approx(0.019)
    assert float(units["task"]["p90_usd"]) == pytest.approx(0.006 + 0.8 * 0.005)  # h = 0.9 x 2 = 1.8
    tail = [r for r in csv.DictReader((tmp_path / "csv" / "costliest_units.csv").open()) if r["unit"] == "task"]
    assert [r["exit_status"] for r in tail] == ["Limits\nExceeded", "Submitted", "Submitted"]
