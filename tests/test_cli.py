"""End to end through the command line, on sample_logs and small fixtures."""

from __future__ import annotations

import json
import re

import pytest

from analyzer.cli import cli
from analyzer.report.schema import SCHEMA_VERSION
from tests.conftest import SAMPLES, openai_record, write_jsonl


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory):
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("report")
    res = CliRunner().invoke(
        cli,
        ["report", str(SAMPLES), "-o", str(out / "r.html"), "--json", str(out / "s.json"), "--md", str(out / "s.md")],
    )
    assert res.exit_code == 0, res.output
    return json.loads((out / "s.json").read_text()), (out / "r.html").read_text(), (out / "s.md").read_text()


def test_json_contract(sample_report):
    data, _, _ = sample_report
    assert data["schema_version"] == SCHEMA_VERSION
    t = data["totals"]
    for key in ("requests", "cost_usd", "input_tokens", "output_tokens", "cache_read_tokens"):
        assert isinstance(t[key], int | float)
    # 45 API calls (8 from Claude Code transcripts, 2 Bedrock Converse, 2 Bedrock invocation-log records, 3 Gemini,
    # 2 Codex, 1 Langfuse, 6 OTel spans, 3 from llm's logs.db) + 60 block-hash trace requests, which only feed
    # prefix reuse; and 15 usage-export buckets
    assert data["ingest"]["rows"] == 120 and data["ingest"]["rejected"] == 0
    assert t["requests"] == 45 and t["unpriced_requests"] == 1 and t["error_requests"] == 2
    assert data["prefix_reuse"]["by_source"]["block_traces"]["requests"] == 60


def test_totals_agree_with_breakdowns(sample_report):
    data, _, _ = sample_report
    t = data["totals"]
    assert sum(m["cost_usd"] or 0 for m in data["by_model"]) == pytest.approx(t["cost_usd"], abs=1e-5)
    assert sum(t["cost_by_token_type_usd"].values()) == pytest.approx(t["cost_usd"], abs=1e-5)
    assert sum(d["cost_usd"] or 0 for d in data["by_day"]) == pytest.approx(t["cost_usd"], abs=1e-5)
    # a day's row for a model with no price is null, never $0
    assert all(d["cost_usd"] is None for d in data["by_day"] if d["model"] == "acme-llm-7b")
    assert sum(m["input_tokens"] for m in data["by_model"]) == t["input_tokens"]


def test_hand_computed_model_costs(sample_report):
    data, _, _ = sample_report
    by = {m["model"]: m for m in data["by_model"]}
    # 2 real pairs (see test_prices) + the constructed 1h write: 14 uncached, 1650 1h-write, 17 out
    sonnet = 0.0088371 + 14 * 3e-6 + 1650 * 6e-6 + 17 * 1.5e-5
    assert by["claude-sonnet-4-5-20250929"]["cost_usd"] == pytest.approx(sonnet, abs=1e-6)
    # deepseek-chat: $0.28 in, $0.028 cache hit, $0.42 out; (142 miss, 19 out) + (14 miss, 128 hit, 19 out)
    deepseek = (142 + 14) * 2.8e-7 + 128 * 2.8e-8 + 38 * 4.2e-7
    assert by["deepseek-chat"]["cost_usd"] == pytest.approx(deepseek, abs=1e-9)
    # the batch sample: gpt-4o-mini at batch prices ($0.075 in, $0.30 out)
    assert by["gpt-4o-mini-2024-07-18"]["batch_requests"] == 2


def test_unpriced_model_is_listed_loudly(sample_report):
    data, html, md = sample_report
    assert data["unpriced"] == [
        {
            "provider": None,
            "model": "acme-llm-7b",
            "requests": 1,
            "input_tokens": 21,
            "output_tokens": 3,
            "reported_cost_usd": None,
        }
    ]
    assert "UNPRICED" in html and "Unpriced models" in html and "Unpriced" in md


def test_html_is_self_contained(sample_report):
    _, html, _ = sample_report
    assert html.startswith("<!doctype html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html


def test_everything_from_logs_is_escaped(runner, tmp_path):
    evil = "<script>alert('x')</script>"
    rec = openai_record(
        model=f"gpt-4o{evil}", rid="e1", user="<img src=x onerror=alert(1)>", tags=[evil], feature="a|b*c_"
    )
    f = write_jsonl(tmp_path / "evil.jsonl", [rec])
    html_path, md_path = tmp_path / "r.html", tmp_path / "s.md"
    res = runner.invoke(cli, ["report", str(f), "-o", str(html_path), "--md", str(md_path)])
    assert res.exit_code == 0, res.output
    html = html_path.read_text()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html
    md = md_path.read_text()
    assert "<script>" not in md


def test_a_control_character_in_a_model_name_does_not_shift_the_table(runner, tmp_path):
    """hr1: an ESC in a model name was removed after the columns were padded, so that row's columns moved one place
    left of the others; the cell is made safe before it is measured."""
    recs = [openai_record(model="gpt-4o\x1b[31mRED", rid="c1"), openai_record(model="gpt-4o", rid="c2")]
    f = write_jsonl(tmp_path / "ctl.jsonl", recs)
    res = runner.invoke(cli, ["report", str(f)])
    assert res.exit_code == 0, res.output
    assert "\x1b" not in res.stdout
    lines = res.stdout.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("MODEL "))
    rows = lines[head : head + 3]
    assert [len(r) for r in rows] == [len(rows[0])] * 3, rows  # every row ends where the header ends
    assert len({r.index("  ") + len(r[r.index("  ") :]) - len(r[r.index("  ") :].lstrip()) for r in rows}) == 1, rows


def test_ingest_then_report_from_db(runner, tmp_path):
    db = str(tmp_path / "llm.duckdb")
    res = runner.invoke(cli, ["ingest", str(SAMPLES), "--db", db])
    assert res.exit_code == 0, res.output
    m = re.search(
        r"(\d+) records added to .*: (\d+) API calls, 60 block-hash trace requests, 15 usage buckets", res.output
    )
    assert m and int(m.group(1)) == int(m.group(2)) + 60 + 15, res.output  # the samples' files, every one counted
    again = runner.invoke(cli, ["ingest", str(SAMPLES), "--db", db])
    assert "0 records added" in again.output and "already ingested" in again.output
    out = tmp_path / "s.json"
    res = runner.invoke(cli, ["report", "--db", db, "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["totals"]["requests"] == 45


def test_a_report_without_db_works_in_a_scratch_file_it_removes(runner, tmp_path, monkeypatch):
    """No --db, and logs of SCRATCH_FROM_BYTES or more: the run's database is a file in a folder of its own
    under the temporary directory (see Store's `scratch`), gone when the command ends, and the report is the
    one a --db run gives. Smaller logs run in memory."""
    import tempfile

    from analyzer.cli import common
    from analyzer.store import Store

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    seen: list[str | None] = []
    init = Store.__init__

    def spy(self, *a, **k):
        init(self, *a, **k)
        seen.append(self.scratch)

    monkeypatch.setattr(Store, "__init__", spy)
    assert runner.invoke(cli, ["report", str(SAMPLES)]).exit_code == 0
    assert seen == [None]  # the samples are small: in memory
    size = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    monkeypatch.setattr(common, "SCRATCH_FROM_BYTES", size // 2)  # as if the samples were large logs
    seen.clear()
    out = tmp_path / "s.json"
    res = runner.invoke(cli, ["report", str(SAMPLES), "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert len(seen) == 1 and seen[0] is not None and seen[0].startswith(str(scratch))
    assert list(scratch.iterdir()) == []
    db = str(tmp_path / "llm.duckdb")
    assert runner.invoke(cli, ["ingest", str(SAMPLES), "--db", db]).exit_code == 0
    res = runner.invoke(cli, ["report", "--db", db, "--json", str(tmp_path / "d.json")])
    assert res.exit_code == 0, res.output
    a, b = json.loads(out.read_text()), json.loads((tmp_path / "d.json").read_text())
    for r in (a, b):
        del r["meta"], r["ingest"]
    assert a == b


def test_what_counts_as_large_logs_for_a_scratch_database(tmp_path, monkeypatch):
    from analyzer.cli import common

    plain = tmp_path / "a.jsonl"
    plain.write_bytes(b"x" * 1000)
    packed = tmp_path / "b.jsonl.gz"
    packed.write_bytes(b"x" * 150)
    monkeypatch.setattr(common, "SCRATCH_FROM_BYTES", 1500)
    assert not common._large((str(plain),))
    assert common._large((str(tmp_path),))  # 1000 + 8 x 150: a compressed file counts 8x
    assert not common._large((str(packed),))
    assert common._large(("-",)) and common._large(("s3://bucket/logs/",))  # sizes unknown: large
    assert not common._large((str(tmp_path / "missing"),))  # the ingest says what is wrong


def test_a_full_temporary_folder_names_the_scratch_database_and_what_to_do(runner, tmp_path, monkeypatch):
    """The scratch database cannot be written (a full TMPDIR: DuckDB's own words, as a 2 MB tmpfs gives them):
    one line naming the folder and the two ways out, exit 1, and the folder removed."""
    import tempfile

    import duckdb

    from analyzer.cli import common
    from analyzer.store import Store

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def full(self, *a, **k):
        raise duckdb.IOException(
            f'TransactionContext Error: Failed to commit: Could not write file "{self.scratch}/run.duckdb": '
            "No space left on device"
        )

    monkeypatch.setattr(Store, "ingest", full)
    monkeypatch.setattr(common, "SCRATCH_FROM_BYTES", 0)  # every log is large enough for a scratch file
    res = runner.invoke(cli, ["report", str(SAMPLES), "--json", str(tmp_path / "s.json")])
    assert res.exit_code == 1
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.output
    assert lines[0].startswith("llmcost: error: database: ") and "No space left on device" in lines[0]
    assert (
        f"(the run's scratch database, under {scratch}: set TMPDIR to a folder with room, or give --db FILE)"
        in (lines[0])
    )
    assert list(scratch.iterdir()) == []


def test_since_until_filter(runner, tmp_path):
    recs = [
        openai_record(rid="d1", ts="2025-06-01T10:00:00Z"),
        openai_record(rid="d2", ts="2025-06-02T23:59:00Z"),
        openai_record(rid="d3", ts="2025-06-03T00:00:00Z"),
    ]
    f = write_jsonl(tmp_path / "days.jsonl", recs)
    res = runner.invoke(cli, ["report", str(f), "--since", "2025-06-02", "--until", "2025-06-02", "--json", "-"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["totals"]["requests"] == 1 and data["by_day"][0]["day"] == "2025-06-02"


def test_summary_printed_without_outputs(runner):
    res = runner.invoke(cli, ["report", str(SAMPLES)])
    assert res.exit_code == 0
    assert "Spend" in res.stdout and "acme-llm-7b" in res.stdout and "UNPRICED" in res.stdout


def test_output_folder_missing_is_an_input_error(runner, tmp_path):
    res = runner.invoke(cli, ["report", str(SAMPLES), "-o", str(tmp_path / "no" / "r.html")])
    assert res.exit_code == 1 and "does not exist" in res.stderr


def test_prices_command(runner):
    res = runner.invoke(cli, ["prices", "claude-sonnet-4-5-20250929", "--json"])
    assert res.exit_code == 0
    info = json.loads(res.stdout)
    std = next(r for r in info["usd_per_million_tokens"] if r["mode"] == "standard")
    assert info["key"] == "claude-sonnet-4-5-20250929"
    assert (std["input"], std["cache_read"], std["cache_write_5m"], std["cache_write_1h"], std["output"]) == (
        3.0,
        0.3,
        3.75,
        6.0,
        15.0,
    )
    res = runner.invoke(cli, ["prices", "openai/gpt-4o-2024-08-06"])
    assert res.exit_code == 0 and "gpt-4o-2024-08-06" in res.stdout


def test_prices_unknown_model_exits_1(runner):
    res = runner.invoke(cli, ["prices", "gpt-4o-minii"])
    assert res.exit_code == 1 and "unpriced" in res.stderr and "gpt-4o-mini" in res.stderr


def test_tokens_command(runner, tmp_path):
    f = tmp_path / "prompt.txt"
    f.write_text("hello world")
    res = runner.invoke(cli, ["tokens", str(f), "--model", "gpt-4o", "--json"])
    info = json.loads(res.stdout)
    assert info["tokens"] == 2 and info["exact"] is True
    assert info["input_cost_per_1k_calls_usd"] == pytest.approx(2 * 2.5e-6 * 1000)
    res = runner.invoke(cli, ["tokens", "hello world", "--model", "claude-sonnet-4-5"])
    assert "estimate" in res.stdout


def test_formats_command_lists_every_source_with_a_sample(runner):
    res = runner.invoke(cli, ["formats", "--json"])
    rows = json.loads(res.stdout)
    assert {r["name"] for r in rows} >= {"openai_chat", "anthropic_messages", "openai_batch_output", "litellm_payload"}
    for r in rows:
        assert (SAMPLES.parent / r["example"]).exists()


def test_empty_folder_is_an_input_error_not_a_zero_report(runner, tmp_path):
    res = runner.invoke(cli, ["report", str(tmp_path), "--json", "-"])
    assert res.exit_code == 1
    assert "no log files" in res.stderr and str(tmp_path) in res.stderr
    assert res.stdout == "" and "Traceback" not in res.output


def test_files_a_folder_walk_passes_over_are_named_beside_the_logs_it_reads(runner, tmp_path):
    """hr1: a folder of logs plus a .bin and a .txt loaded the logs and said nothing of the other two; each file is
    now read or named, on one note line (the report is still made)."""
    write_jsonl(tmp_path / "calls.jsonl", [openai_record(rid="a1")])
    (tmp_path / "dump.bin").write_bytes(b"\x00\x01PK\x03\x04")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "requests.txt").write_text(json.dumps(openai_record(rid="a2")) + "\n")
    (tmp_path / ".hidden.txt").write_text("x")
    res = runner.invoke(cli, ["report", str(tmp_path), "--json", "-"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["totals"]["requests"] == 1
    notes = [ln for ln in res.stderr.splitlines() if "passed over" in ln]
    assert len(notes) == 1 and "2 files" in notes[0] and "dump.bin" in notes[0] and "requests.txt" in notes[0]
    assert ".hidden" not in notes[0] and "calls.jsonl" not in notes[0]


def test_an_empty_log_is_named_as_empty_not_as_not_json(runner, tmp_path):
    """hr1: an empty (or blank-lines-only, or empty .gz) log beside real ones was "not JSON or JSONL (no JSON object
    in its first records)", which sends one looking for bad bytes; it is empty, and the report is still made."""
    import gzip

    write_jsonl(tmp_path / "calls.jsonl", [openai_record(rid="e1")])
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "blank.jsonl").write_text("\n\n  \n")
    (tmp_path / "empty.jsonl.gz").write_bytes(gzip.compress(b""))
    (tmp_path / "bytes.jsonl").write_bytes(bytes(range(256)) * 4)
    res = runner.invoke(cli, ["report", str(tmp_path), "--json", "-"])
    assert res.exit_code == 0, res.output
    skipped = {m[1].rsplit("/", 1)[-1]: m[2] for m in re.finditer(r"skipped (\S+): (.*)", res.stderr)}
    assert set(skipped) == {"empty.jsonl", "blank.jsonl", "empty.jsonl.gz", "bytes.jsonl"}, res.stderr
    for name in ("empty.jsonl", "blank.jsonl", "empty.jsonl.gz"):
        assert skipped[name] == "empty (no records)", skipped[name]
    assert "not JSON or JSONL" in skipped["bytes.jsonl"]


def test_folder_of_only_txt_and_csv_names_each_file_and_exits_1(runner, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "bill.csv").write_text("a,b\n1,2\n")
    res = runner.invoke(cli, ["report", str(tmp_path), "-o", str(tmp_path / "r.html")])
    assert res.exit_code == 1
    lines = [ln for ln in res.stderr.splitlines() if "skipped" in ln]
    assert len(lines) == 2 and any("notes.txt" in ln for ln in lines) and any("bill.csv" in ln for ln in lines)
    assert all("not a log file" in ln for ln in lines)
    assert not (tmp_path / "r.html").exists()


def test_every_file_unrecognised_exits_1_with_one_line_each(runner, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    write_jsonl(logs / "a.json", [{"retries": 3}])
    write_jsonl(logs / "b.jsonl", [{"colour": "blue"}])
    for cmd in (["report", str(logs), "--json", "-"], ["ingest", str(logs), "--db", str(tmp_path / "x.db")]):
        res = runner.invoke(cli, cmd)
        assert res.exit_code == 1, cmd
        skipped = [ln for ln in res.stderr.splitlines() if "skipped" in ln]
        assert len(skipped) == 2 and all("unrecognised format" in ln for ln in skipped)
        assert "nothing was read" in res.stderr
        assert '"totals"' not in res.stdout


def test_already_ingested_files_count_as_read(runner, tmp_path):
    f = write_jsonl(tmp_path / "calls.jsonl", [openai_record(rid="k1")])
    db = str(tmp_path / "x.duckdb")
    assert runner.invoke(cli, ["ingest", str(f), "--db", db]).exit_code == 0
    res = runner.invoke(cli, ["report", str(f), "--db", db, "--json", "-"])
    assert res.exit_code == 0 and json.loads(res.stdout)["totals"]["requests"] == 1


@pytest.mark.parametrize(
    ("since", "until"),
    [("2025-06-03", "2025-06-02"), ("2025-06-02T12:00:00", "2025-06-02T11:00:00")],
)
def test_since_after_until_is_a_usage_error(runner, tmp_path, since, until):
    f = write_jsonl(tmp_path / "calls.jsonl", [openai_record(rid="s1")])
    res = runner.invoke(cli, ["report", str(f), "--since", since, "--until", until])
    assert res.exit_code == 2 and "--since" in res.stderr and "Traceback" not in res.output


def test_report_on_a_missing_database_is_an_input_error(runner, tmp_path):
    res = runner.invoke(cli, ["report", "--db", str(tmp_path / "nope.duckdb")])
    assert res.exit_code == 1 and "no such database" in res.stderr
    assert not (tmp_path / "nope.duckdb").exists()


def test_unrecognised_file_in_a_folder_is_noted(runner, tmp_path):
    write_jsonl(tmp_path / "config.json", [{"retries": 3}])
    write_jsonl(tmp_path / "calls.jsonl", [openai_record(rid="n1")])
    res = runner.invoke(cli, ["report", str(tmp_path), "--json", "-"])
    assert res.exit_code == 0
    assert "skipped" in res.stderr and "config.json" in res.stderr
    assert json.loads(res.stdout)["totals"]["requests"] == 1


@pytest.mark.parametrize(
    ("value", "text"),
    [(1234.5, "$1,234.50"), (0.0421, "$0.0421"), (0, "$0.00"), (-2.5, "-$2.50"), (-0.00001, "$0.0000"), (None, "n/a")],
)
def test_money_formatting(value, text):
    from analyzer.formatting import usd

    assert usd(value) == text


def test_tokens_on_a_missing_path_is_an_error_and_text_is_explicit(runner, tmp_path):
    missing = tmp_path / "nonexist.txt"
    res = runner.invoke(cli, ["tokens", str(missing)])
    assert res.exit_code == 1 and "no such file" in res.stderr and "--text" in res.stderr
    res = runner.invoke(cli, ["tokens", "nonexist.txt"])
    assert res.exit_code == 1 and "nonexist.txt" in res.stderr
    res = runner.invoke(cli, ["tokens", "--text", "nonexist.txt", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["chars"] == len("nonexist.txt")


def test_unknown_model_exits_1_in_tokens_as_in_prices(runner):
    res = runner.invoke(cli, ["tokens", "--text", "hello world", "--model", "unknown-model"])
    assert res.exit_code == 1 and "unknown-model" in res.stderr and "unpriced" in res.stderr
    assert "2 tokens" in res.stdout  # the count is still given
    assert runner.invoke(cli, ["prices", "unknown-model"]).exit_code == 1


def test_prices_override_with_an_unknown_field_names_it(runner, tmp_path):
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"gpt-4o": {"input_cost_per_tokens": 1e-6}}))
    res = runner.invoke(cli, ["prices", "gpt-4o", "--prices", str(f)])
    assert res.exit_code == 1
    assert "input_cost_per_tokens" in res.stderr and "input_cost_per_token" in res.stderr.replace(
        "input_cost_per_tokens", ""
    )
    f.write_text(json.dumps({"gpt-4o": {"input_cost_per_token": 1e-6, "supports_vision": True}}))
    assert runner.invoke(cli, ["prices", "gpt-4o", "--prices", str(f)]).exit_code == 0


def test_ingest_help_does_not_call_a_required_db_optional(runner):
    res = runner.invoke(cli, ["ingest", "--help"])
    assert "in memory" not in res.stdout and "[required]" in res.stdout
    assert "in memory" in " ".join(runner.invoke(cli, ["report", "--help"]).stdout.split())
