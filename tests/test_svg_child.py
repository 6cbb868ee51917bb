"""The chart engine started ahead in a child interpreter (render/svg.py `start`): it draws exactly what this
process would, a failed child falls back to drawing here, and a child given nothing is ended, by `stop` or by
`report` itself however it ends."""

from __future__ import annotations

import pytest

from analyzer.cli import cli
from analyzer.render import svg
from tests.conftest import SAMPLES

pytest.importorskip("vl_convert")

SPECS = [
    {"mark": "bar", "data": {"values": [{"a": "x", "b": 3}, {"a": "y", "b": 5}]},
     "encoding": {"x": {"field": "a", "type": "nominal"}, "y": {"field": "b", "type": "quantitative"}}},
    {"mark": "line", "data": {"values": [{"t": 1, "v": 2}, {"t": 2, "v": 1}]},
     "encoding": {"x": {"field": "t", "type": "quantitative"}, "y": {"field": "v", "type": "quantitative"}}},
]  # fmt: skip


@pytest.fixture(autouse=True)
def _no_child_left():
    yield
    svg.stop()


def test_the_started_child_draws_what_this_process_draws() -> None:
    svg.start()
    child = svg._started
    assert child is not None
    got, note = svg.to_svgs(SPECS)
    assert note is None
    assert got == [svg.to_svg(s) for s in SPECS]
    assert svg._started is None and child.returncode == 0  # used once, and ended


def test_the_child_does_not_import_the_working_folders_modules(tmp_path, monkeypatch) -> None:
    """The child runs with -P: a json.py in the folder the command runs from is not imported instead of the
    standard library's (it would break the child, and the charts would be drawn here after all)."""
    (tmp_path / "json.py").write_text("raise SystemExit(3)\n")
    monkeypatch.chdir(tmp_path)
    svg.start()
    child = svg._started
    assert child is not None
    got, note = svg.to_svgs(SPECS)
    assert note is None and got == [svg.to_svg(s) for s in SPECS]
    assert child.returncode == 0  # drawn by the child, not by the fallback here


def test_a_child_that_died_falls_back_to_drawing_here() -> None:
    svg.start()
    child = svg._started
    assert child is not None
    child.kill()
    child.wait()
    got, note = svg.to_svgs(SPECS)
    assert note is None and got == [svg.to_svg(s) for s in SPECS]


def test_stop_ends_a_child_given_nothing() -> None:
    svg.start()
    child = svg._started
    assert child is not None
    svg.stop()
    assert svg._started is None and child.returncode is not None


@pytest.mark.parametrize("ok", [True, False])
def test_report_leaves_no_child_whether_it_draws_or_fails(runner, tmp_path, ok, monkeypatch) -> None:
    started = []
    real = svg.start

    def spy() -> None:
        real()
        started.append(svg._started)

    monkeypatch.setattr(svg, "start", spy)
    args = ["report", str(SAMPLES if ok else tmp_path / "missing"), "-o", str(tmp_path / "r.html")]
    res = runner.invoke(cli, args)
    assert (res.exit_code == 0) is ok, res.output
    assert started and started[0] is not None
    assert svg._started is None and started[0].poll() is not None
    assert ((tmp_path / "r.html").exists() and "<svg" in (tmp_path / "r.html").read_text()) is ok


def _page(runner, tmp_path, name: str) -> str:
    out = tmp_path / name
    res = runner.invoke(cli, ["report", str(SAMPLES), "-o", str(out), "--json", str(tmp_path / f"{name}.json")])
    assert res.exit_code == 0, res.output
    return out.read_text()


@pytest.mark.parametrize("child", ["draws", "died"])
def test_the_page_is_rendered_while_the_child_draws_and_is_the_page_drawn_here(runner, tmp_path, monkeypatch, child):
    """The started child draws while the page's template is rendered around marks, which its SVGs then replace:
    the page is byte for byte the one drawn in this process (the time it was made aside), with no mark left. A
    child that died falls back to drawing here, the same page."""
    import re

    from analyzer import render

    monkeypatch.setattr(svg, "start", lambda: None)  # no child: drawn here
    here = _page(runner, tmp_path, "here.html")
    monkeypatch.undo()
    pages: list[str] = []
    real = render._page

    def spy(report, wanted, svgs, note, script, digest):  # the page as rendered, marks included
        pages.append(real(report, wanted, svgs, note, script, digest))
        return pages[-1]

    monkeypatch.setattr(render, "_page", spy)
    if child == "died":
        real_start = svg.start

        def start_then_die() -> None:
            real_start()
            assert svg._started is not None
            svg._started.kill()
            svg._started.wait()

        monkeypatch.setattr(svg, "start", start_then_die)
    there = _page(runner, tmp_path, "there.html")
    assert "<!--llmcost-chart-" in pages[0]  # rendered around the marks first
    assert "<!--llmcost-chart-" not in there and there.count("<svg") == here.count("<svg") > 0

    def timeless(page: str) -> str:
        return re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d)?( UTC)?", "T", page)

    assert timeless(there) == timeless(here)
