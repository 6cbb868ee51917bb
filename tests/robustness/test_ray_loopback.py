"""Issue 23, item 15: a Ray started for a run listens on loopback only (Ray's servers have no authentication by
default), with no dashboard. Skipped where Ray is not installed, except with LLMCOST_REQUIRE_RAY=1 (CI)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

if importlib.util.find_spec("ray") is None:
    if os.environ.get("LLMCOST_REQUIRE_RAY") == "1":
        pytest.fail("LLMCOST_REQUIRE_RAY=1 but Ray is not installed (pip install '.[ray]')", pytrace=False)
    pytest.skip("Ray is not installed (the optional extra: pip install 'llmcost[ray]')", allow_module_level=True)


_LISTENERS = r"""
import json, os, re, shutil, subprocess, sys, time
from analyzer.backends.ray import Ray

b = Ray(None, 1)
b.map(abs, [-1, -2])
mine = {str(os.getpid())}
for _ in range(3):  # the processes Ray started (and theirs), by parent
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1]
            except OSError:
                continue
            if ppid in mine:
                mine.add(d)
out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
found = []
for line in out.splitlines():
    pids = set(re.findall(r"pid=(\d+)", line))
    if pids & mine:
        found.append([line.split()[3], re.findall(r'\(\("([^"]+)"', line)[0]])
b.close()
print(json.dumps(found))
"""


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs `ss` (iproute2) to list listening sockets")
def test_a_local_ray_listens_on_loopback_only(tmp_path):
    """Issue 23, item 15: a Ray started for a run opens nothing another machine can reach (Ray's servers have no
    authentication by default), with no dashboard."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", _LISTENERS], capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    names = {name for _, name in found}
    assert "gcs_server" in names and "raylet" in names, found
    loopback = ("127.0.0.1:", "[::ffff:127.0.0.1]:", "[::1]:", "localhost:")
    assert all(addr.startswith(loopback) for addr, _ in found), found
    assert not any("dashboard" in name for name in names), found
