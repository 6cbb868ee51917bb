"""The README's scheduling recipes (cron, systemd timer, GitHub Actions, Kubernetes CronJob) are syntactically
valid, and every `llmcost audit` command in them parses with llmcost's own options."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import click
import pytest

from analyzer.cli import cli

README = Path(__file__).resolve().parent.parent / "README.md"


def recipes() -> dict[str, str]:
    """`<!-- recipe: NAME -->` followed by a fenced block, by NAME."""
    text = README.read_text(encoding="utf-8")
    return {m.group(1): m.group(2) for m in re.finditer(r"<!-- recipe: (\S+) -->\n```\w*\n(.*?)```", text, re.S)}


def test_every_recipe_is_there():
    assert set(recipes()) == {
        "crontab",
        "llmcost-audit.service",
        "llmcost-audit.timer",
        "github-actions",
        "kubernetes",
    }


def _parses_as_audit(argv: list[str]) -> None:
    """Parse (never run) an `llmcost audit ...` command line with the CLI's own option parser."""
    i = argv.index("audit")
    ctx = cli.make_context("llmcost", argv[i : i + 1], resilient_parsing=True)
    cmd = cli.get_command(ctx, "audit")
    try:
        sub = cmd.make_context("audit", argv[i + 1 :], parent=ctx)
    except click.UsageError as e:
        pytest.fail(f"README recipe: {shlex.join(argv)}: {e}")
    assert sub.params["db"] and sub.params["out_dir"]


def test_crontab_line_has_five_valid_schedule_fields_and_an_audit_command():
    (line,) = [x for x in recipes()["crontab"].splitlines() if x.strip() and not x.startswith("#")]
    fields = line.split(None, 5)
    limits = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
    for value, (lo, hi) in zip(fields[:5], limits, strict=True):
        for part in value.split(","):
            base, _, step = part.partition("/")
            assert not step or step.isdigit(), line
            if base != "*":
                lo_v, _, hi_v = base.partition("-")
                for v in (lo_v, hi_v or lo_v):
                    assert v.isdigit() and lo <= int(v) <= hi, f"crontab field {value!r} out of {lo}-{hi}"
    _parses_as_audit(shlex.split(fields[5]))


def _yaml(text: str):
    yaml = pytest.importorskip("yaml", reason="PyYAML not installed: the structural checks below still run")
    return yaml.safe_load(text)


def _audit_argv_in(text: str) -> list[list[str]]:
    found = [shlex.split(m.group(0).split("#")[0]) for m in re.finditer(r"llmcost audit [^\n\"]*", text)]
    assert found, "no llmcost audit command in the recipe"
    return found


def test_github_actions_schedule():
    text = recipes()["github-actions"]
    for argv in _audit_argv_in(text):
        _parses_as_audit(argv)
    assert re.search(r'^  schedule:\n    - cron: "10 1 \* \* \*"$', text, re.M)
    try:
        doc = _yaml(text)
    except pytest.skip.Exception:
        return
    on = doc.get("on", doc.get(True))  # PyYAML reads a bare `on` as the boolean True
    assert on["schedule"][0]["cron"] == "10 1 * * *"
    steps = doc["jobs"]["audit"]["steps"]
    assert any("llmcost audit" in s.get("run", "") for s in steps)


def test_kubernetes_cronjob():
    text = recipes()["kubernetes"]
    assert re.search(r'^  schedule: "10 1 \* \* \*"$', text, re.M) and "kind: CronJob" in text
    try:
        doc = _yaml(text)
    except pytest.skip.Exception:
        (cmd,) = re.findall(r"command: (\[.*?\])", text, re.S)
        import json

        argv = json.loads(cmd)
    else:
        assert doc["apiVersion"] == "batch/v1" and doc["kind"] == "CronJob"
        (container,) = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        argv = container["command"]
    assert argv[:2] == ["llmcost", "audit"]
    _parses_as_audit(argv)


def _ini_sections(text: str) -> dict[str, dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    current = None
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if m := re.fullmatch(r"\[(\w+)\]", line):
            current = sections.setdefault(m.group(1), {})
            continue
        key, sep, value = line.partition("=")
        assert current is not None and sep and key.strip() == key and key, f"not a unit-file line: {line!r}"
        current[key] = value
    return sections


def test_systemd_units(tmp_path):
    service, timer = recipes()["llmcost-audit.service"], recipes()["llmcost-audit.timer"]
    s, t = _ini_sections(service), _ini_sections(timer)
    assert s["Service"]["Type"] == "oneshot" and t["Install"]["WantedBy"] == "timers.target"
    argv = shlex.split(s["Service"]["ExecStart"])
    assert argv[0].endswith("/llmcost")
    _parses_as_audit(argv)
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return  # the structural checks above are what can run here
    cal = subprocess.run([analyze, "calendar", t["Timer"]["OnCalendar"]], capture_output=True, text=True)
    assert cal.returncode == 0, cal.stderr
    # verify needs the unit's binary to exist: point ExecStart at one that does, keep every other line
    (tmp_path / "llmcost-audit.service").write_text(service.replace(argv[0], shutil.which("true") or "/bin/true"))
    (tmp_path / "llmcost-audit.timer").write_text(timer)
    res = subprocess.run(
        [analyze, "verify", str(tmp_path / "llmcost-audit.timer"), str(tmp_path / "llmcost-audit.service")],
        capture_output=True,
        text=True,
    )
    problems = [x for x in res.stderr.splitlines() if "llmcost-audit" in x]
    assert not problems, res.stderr
