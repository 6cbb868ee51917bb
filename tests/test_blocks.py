"""ccusage's `blocks` view (#25 part 3): spend per 5-hour billing window, burn rate and the active block's
projection, as ccusage's src/_session-blocks.ts defines them. Figures hand-computed."""

import json
from datetime import datetime

import orjson
import polars as pl

from analyzer.blocks import section
from analyzer.cli import cli
from tests.conftest import openai_record, write_jsonl

# claude-sonnet-4's list prices (anthropic.com/pricing): $3/M input, $15/M output
CALL_USD = 1000 * 3e-6 + 200 * 15e-6  # 0.006 a call of 1,000 uncached input and 200 output tokens


def claude_code_log(path, times):
    return write_jsonl(
        path,
        [
            {
                "timestamp": t,
                "sessionId": "s1",
                "type": "assistant",
                "message": {
                    "role": "assistant",
                    "id": f"m{i}",
                    "model": "claude-sonnet-4-20250514",
                    "usage": {
                        "input_tokens": 1000,
                        "output_tokens": 200,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                    },
                },
                "requestId": f"r{i}",
            }
            for i, t in enumerate(times)
        ],
    )


TIMES = [f"2026-01-09T{hm}:00Z" for hm in ("10:20", "10:50", "11:20", "16:40", "17:10")]


def test_blocks_view_of_an_agent_log(runner, tmp_path):
    log = claude_code_log(tmp_path / "s.jsonl", TIMES)
    res = runner.invoke(cli, ["report", str(log), "--view", "blocks", "--json", str(tmp_path / "v.json")])
    assert res.exit_code == 0, res.output
    v = json.loads((tmp_path / "v.json").read_text())
    assert v["view"] == "blocks" and v["as_of"] == "2026-01-09T17:10:00Z" and v["count"] == 2
    first, gap, last = v["rows"]
    # 10:20 floors to 10:00; 11:20 is within 5 h of both the start and the previous call
    assert (first["start"], first["end"], first["calls"], first["active"]) == (
        "2026-01-09T10:00:00Z",
        "2026-01-09T15:00:00Z",
        3,
        False,
    )
    assert abs(first["cost_usd"] - 3 * CALL_USD) < 1e-12
    # 3,600 tokens and $0.018 over the 60 minutes from 10:20 to 11:20
    assert first["burn_rate"]["tokens_per_minute"] == 60.0
    assert abs(first["burn_rate"]["usd_per_hour"] - 3 * CALL_USD) < 1e-12
    assert first["projection"] is None
    # 16:40 is 5 h 20 min after 11:20: a gap from 11:20 + 5 h to 16:40, and a new block from 16:00
    assert gap == {"start": "2026-01-09T16:20:00Z", "end": "2026-01-09T16:40:00Z", "gap": True, "calls": 0} | {
        "cost_usd": 0.0
    }
    assert (last["start"], last["end"], last["active"]) == ("2026-01-09T16:00:00Z", "2026-01-09T21:00:00Z", True)
    # 2,400 tokens and $0.012 over 30 minutes: 80 tokens/min, $0.024/h; 230 minutes left to 21:00
    assert last["burn_rate"]["tokens_per_minute"] == 80.0
    assert abs(last["burn_rate"]["usd_per_hour"] - 2 * CALL_USD * 2) < 1e-12
    p = last["projection"]
    assert p["remaining_minutes"] == 230 and p["tokens"] == 2400 + 80 * 230
    assert abs(p["cost_usd"] - (2 * CALL_USD + 2 * CALL_USD / 30 * 230)) < 1e-9
    # the terminal view, and the report JSON of an agent log carries the same blocks
    res = runner.invoke(cli, ["report", str(log), "--view", "blocks"])
    assert res.exit_code == 0 and "ACTIVE" in res.output and "gap, no calls" in res.output
    assert "projected to the block's end (230 min left): $0.1040, 20,800 tokens" in res.output
    res = runner.invoke(cli, ["report", str(log), "--json", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["blocks"]["rows"] == v["rows"]


def test_report_json_has_blocks_only_for_agent_logs_but_the_view_works_for_all(runner, tmp_path):
    log = write_jsonl(tmp_path / "o.jsonl", [openai_record(ts=1_764_000_000), openai_record(ts=1_764_000_600)])
    res = runner.invoke(cli, ["report", str(log), "--json", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    assert "blocks" not in orjson.loads((tmp_path / "r.json").read_bytes())
    res = runner.invoke(cli, ["report", str(log), "--view", "blocks", "--json", "-"])
    assert res.exit_code == 0, res.output
    v = orjson.loads(res.output)
    assert v["count"] == 1 and v["rows"][0]["calls"] == 2 and v["rows"][0]["active"]
    assert v["calls_of"] == "all calls"


def test_a_mixed_store_blocks_only_the_agent_calls(runner, tmp_path):
    claude_code_log(tmp_path / "s.jsonl", TIMES[:2])
    write_jsonl(tmp_path / "o.jsonl", [openai_record(ts=1_767_960_000)])  # 2026-01-09 12:00 UTC, API traffic
    res = runner.invoke(cli, ["report", str(tmp_path), "--json", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    b = orjson.loads((tmp_path / "r.json").read_bytes())["blocks"]
    assert b["calls_of"] == "agent logs" and [r["calls"] for r in b["rows"]] == [2]
    assert b["as_of"] == "2026-01-09T10:50:00Z" and abs(b["rows"][0]["cost_usd"] - 2 * CALL_USD) < 1e-12


def frame(rows):
    """Priced requests: (ts, cost, input incl. cache, cache read, cache write 5m, output)."""
    return pl.DataFrame(
        [
            {
                "ts": datetime.fromisoformat(t),
                "cost": c,
                "model": "m",
                "input_tokens": i,
                "cache_read_tokens": cr,
                "cache_write_5m_tokens": cw,
                "cache_write_1h_tokens": 0,
                "output_tokens": o,
            }
            for t, c, i, cr, cw, o in rows
        ]
    )


def test_a_block_closes_five_hours_after_its_floored_start_without_a_gap():
    sec = section(
        frame(
            [
                ("2026-03-02 10:59:30", 0.5, 100, 0, 0, 10),
                ("2026-03-02 14:50:00", None, 100, 0, 0, 10),  # unpriced: 0 dollars, as ccusage's costUSD ?? 0
                ("2026-03-02 15:10:00", 1.0, 1100, 600, 300, 10),  # 5 h 10 min after 10:00: a new block
            ]
        )
    )
    assert [r["start"] for r in sec["rows"]] == ["2026-03-02T10:00:00Z", "2026-03-02T15:00:00Z"]
    assert not any(r["gap"] for r in sec["rows"])  # 20 minutes since the previous call
    a, b = sec["rows"]
    assert a["cost_usd"] == 0.5 and a["calls"] == 2 and not a["active"]
    # 220 tokens over the 230.5 minutes from 10:59:30 to 14:50
    assert a["burn_rate"]["tokens_per_minute"] == round(220 / 230.5, 4)
    # one call: no span, no burn rate, no projection (ccusage returns null); cache tokens are not in its
    # tokens (1,100 input of which 600 read and 300 written: 200 uncached)
    assert b["active"] and b["burn_rate"] is None and b["projection"] is None
    assert (b["input_tokens"], b["cache_read_tokens"], b["cache_write_tokens"]) == (200, 600, 300)


def test_no_dated_calls_no_blocks():
    undated = frame([("2026-03-02 10:00:00", 0.5, 100, 0, 0, 10)]).with_columns(ts=pl.lit(None, pl.Datetime))
    assert section(undated) == {"hours": 5, "as_of": None, "count": 0, "rows": []}
    assert section(pl.DataFrame())["rows"] == []
