"""Cases found by trying llmcost as a new user would (helper hr1): each was a wrong or confusing figure."""

from __future__ import annotations

from analyzer.cli import cli
from tests.conftest import chat_call, write_jsonl


def test_a_table_cut_to_the_top_rows_does_not_call_them_all(runner, tmp_path):
    """The report keeps the 20 costliest threads; with 25 threads the fold said "All 20 threads (10 more)" under a
    line counting 25: it is the top 20 of 25."""
    usage = {"prompt_tokens": 100, "completion_tokens": 10}
    recs = [
        chat_call(f"t{i}", 1_764_000_000 + i, [{"role": "user", "content": f"question number {i}"}], usage)
        for i in range(25)
    ]
    f = write_jsonl(tmp_path / "calls.jsonl", recs)
    html = tmp_path / "r.html"
    res = runner.invoke(cli, ["report", str(f), "-o", str(html)])
    assert res.exit_code == 0, res.output
    text = html.read_text()
    assert "25 threads" in text
    assert "All 20 threads" not in text
    assert "The top 20 of 25 threads (10 more)" in text
