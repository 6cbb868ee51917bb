"""The conformance corpus: real files written by other programs, each with an independent hand count.

Layout (docs/formats.md tells the story per format)::

    tests/conformance/<format>/<case>/
        <the real file(s), bytes unchanged>
        PROVENANCE.md   where the file comes from: repository, commit, path or program and version, licence
        count.py        a standalone hand count (stdlib only, imports nothing from analyzer) printing JSON
        expected.json   exactly what count.py prints

For each case, llmcost reads the case's data files (detecting their format, as a user's run would) and its summary
must equal the hand count, key by key: ``kind`` "requests" compares with ``totals``, "usage_export" with
``usage_export.totals``, "block_trace" (block-hash traces: no model, no cost, kept out of the spend) with
``prefix_reuse.by_source.block_traces``. ``calls`` is llmcost's ``requests``; ``cache_write_tokens`` is the
5-minute and 1-hour writes together where a section keeps them apart; costs must agree to a millionth of a dollar
(the counts use the providers' list prices, llmcost its price history: a difference is a question for
docs/formats.md, not rounding).
``tests/conformance/XFAIL`` lists cases known to disagree (``<format>/<case>  <reason>``); they are strict xfails,
so a fixed reader makes the run fail until its line is removed.

One more test reads every case's files at once, as a new user would point llmcost at a folder of them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer.cli import cli

HERE = Path(__file__).resolve().parent
NOT_DATA = {"PROVENANCE.md", "count.py", "expected.json"}
COST_TOLERANCE_USD = 1e-6
META_KEYS = {"kind", "notes", "args", "format"}


def _cases() -> list[Path]:
    return sorted(p.parent for p in HERE.glob("*/*/expected.json") if not p.parent.parent.name.startswith("_"))


def _xfails() -> dict[str, str]:
    listed = HERE / "XFAIL"
    out: dict[str, str] = {}
    if listed.exists():
        for line in listed.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                case, _, reason = line.partition(" ")
                out[case] = reason.strip() or "listed in XFAIL"
    return out


def _case_id(case: Path) -> str:
    return f"{case.parent.name}/{case.name}"


def _data_files(case: Path) -> list[Path]:
    return sorted(p for p in case.rglob("*") if p.is_file() and p.name not in NOT_DATA and "__pycache__" not in p.parts)


def _params():
    xfails = _xfails()
    out = []
    for case in _cases():
        cid = _case_id(case)
        marks = [pytest.mark.xfail(reason=xfails[cid], strict=True)] if cid in xfails else []
        out.append(pytest.param(case, id=cid, marks=marks))
    return out


def _report(runner, folder: Path, out: Path, args: list[str] = ()) -> dict:
    summary = out / "summary.json"
    result = runner.invoke(cli, ["report", str(folder), "--json", str(summary), "--workers", "1", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return json.loads(summary.read_text())


def _section(summary: dict, kind: str) -> dict:
    if kind == "requests":
        return summary["totals"]
    if kind == "usage_export":
        return summary["usage_export"]["totals"]
    if kind == "block_trace":
        return summary["prefix_reuse"]["by_source"]["block_traces"]
    raise AssertionError(f"unknown kind {kind!r} in expected.json")


def _ours(section: dict, key: str):
    if key == "calls":
        return section.get("requests")
    if key == "cache_write_tokens" and "cache_write_tokens" not in section:
        return (section.get("cache_write_5m_tokens") or 0) + (section.get("cache_write_1h_tokens") or 0)
    return section.get(key)


def test_corpus_is_not_empty():
    assert _cases(), "no conformance case found"


@pytest.mark.parametrize("case", _params())
def test_case_equals_its_hand_count(case: Path, runner, tmp_path):
    expected = json.loads((case / "expected.json").read_text())
    assert (case / "PROVENANCE.md").exists(), "every case says where its files come from"
    data = tmp_path / "data"
    data.mkdir()
    files = _data_files(case)
    assert files, "a case needs at least one real file"
    for f in files:
        dest = data / f.relative_to(case)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, dest)
    summary = _report(runner, data, tmp_path, list(expected.get("args", [])))
    section = _section(summary, expected["kind"])
    diffs = []
    for key, want in expected.items():
        if key in META_KEYS:
            continue
        got = _ours(section, key)
        if key.endswith("_usd"):
            ok = got is not None and want is not None and abs(got - want) <= COST_TOLERANCE_USD
            ok = ok or (got is None and want is None)
        else:
            ok = got == want
        if not ok:
            diffs.append(f"{key}: hand count {want!r}, llmcost {got!r}")
    assert not diffs, "; ".join(diffs)


@pytest.mark.parametrize("case", [pytest.param(c, id=_case_id(c)) for c in _cases()])
def test_hand_count_reproduces_expected(case: Path):
    """expected.json is what count.py prints, not a number typed in."""
    source = (case / "count.py").read_text()
    assert "analyzer" not in source.replace("analyzer-free", ""), "the hand count shares no code with llmcost"
    printed = subprocess.run(
        [sys.executable, "count.py"], cwd=case, capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert json.loads(printed) == json.loads((case / "expected.json").read_text())


def test_all_files_at_once_one_report(runner, tmp_path):
    """A new user points llmcost at a folder of every conformance file: one report, no traceback, and every file
    either read or named with its reason."""
    data = tmp_path / "all"
    data.mkdir()
    names = []
    for case in _cases():
        for f in _data_files(case):
            dest = data / f"{case.parent.name}__{case.name}__{f.name}"
            shutil.copyfile(f, dest)
            names.append(dest.name)
    if not names:
        pytest.skip("empty corpus")
    summary = tmp_path / "summary.json"
    result = runner.invoke(cli, ["report", str(data), "--json", str(summary), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    read = {Path(s["path"]).name for s in json.loads(summary.read_text())["ingest"]["sources"]}
    unaccounted = [n for n in names if n not in read and n not in result.output]
    assert not unaccounted, f"files neither read nor named: {unaccounted}"
