"""The dependency floors: .ci/floors.txt pins each runtime dependency at the floor pyproject.toml declares, and CI
runs tests against those pins (.ci/run). A floor raised in one file and not the other would test versions no user
is held to."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import ROOT


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_runtime_floor_is_pinned_for_ci_at_that_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    floors = {}
    for req in project["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9][0-9.]*)", req.replace(" ", ""))
        assert match, f"{req}: a runtime dependency is declared as name>=floor"
        floors[_name(match[1])] = match[2]
    pins = {}
    for line in (ROOT / ".ci" / "floors.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[_name(name)] = version

    def padded(v: str) -> tuple[int, ...]:
        parts = tuple(int(p) for p in v.split("."))
        return parts + (0,) * (3 - len(parts))

    assert pins.keys() == floors.keys()
    assert {k: padded(v) for k, v in pins.items()} == {k: padded(v) for k, v in floors.items()}
