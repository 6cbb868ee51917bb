"""Issue 23, items 11-14: a crafted database, another program's database, the audit's lock file and its output
folder, each as an attacker (or a careless colleague) would set them up."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from analyzer.errors import InputError
from analyzer.store import Store
from tests.conftest import chat_call, write_jsonl
from tests.robustness.conftest import assert_one_line_error, run_cli

DAY = datetime(2025, 11, 20, 9, 0, tzinfo=UTC)


def _logs(folder, days=1, n=3):
    folder.mkdir(exist_ok=True)
    for d in range(days):
        start = DAY + timedelta(days=d)
        usage = {"prompt_tokens": 1000, "completion_tokens": 50}
        write_jsonl(
            folder / f"d{d}.jsonl",
            [
                chat_call(
                    f"c-{d}-{i}",
                    (start + timedelta(minutes=i)).timestamp(),
                    [{"role": "user", "content": "q"}],
                    usage,
                    "gpt-4o",
                )
                for i in range(n)
            ],
        )
    return folder


def _llmcost_db(tmp_path):
    db = tmp_path / "llm.duckdb"
    res = run_cli("ingest", str(_logs(tmp_path / "logs")), "--db", str(db))
    assert res.returncode == 0, res.stderr
    return db


# ---- 11: a crafted llmcost database cannot read local files into the outputs ----------------------------------


def test_a_table_replaced_by_a_view_over_a_local_file_is_refused(tmp_path):
    db = _llmcost_db(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:TOPSECRET\n")
    con = duckdb.connect(str(db))
    con.execute("ALTER TABLE requests RENAME TO requests_old")
    con.execute(
        f"CREATE VIEW requests AS SELECT r.* REPLACE (t.content AS model) FROM requests_old r, read_text('{secret}') t"
    )
    con.close()
    out = tmp_path / "s.json"
    res = run_cli("report", "--db", str(db), "--json", str(out))
    line = assert_one_line_error(res, str(db))
    assert "view" in line
    assert not out.exists() or "TOPSECRET" not in out.read_text()


def test_external_access_is_off_on_every_store(tmp_path):
    s = Store()
    try:
        value = s.con.execute("SELECT current_setting('enable_external_access')").fetchone()[0]
        with pytest.raises(duckdb.Error):
            s.con.execute(f"SELECT * FROM read_text('{__file__}')").fetchall()
    finally:
        s.close()
    assert value is False


def test_a_macro_planted_in_the_database_is_refused(tmp_path):
    db = _llmcost_db(tmp_path)
    con = duckdb.connect(str(db))
    con.execute("CREATE MACRO round_usd(x) AS x * 1000")
    con.close()
    assert_one_line_error(run_cli("report", "--db", str(db), "--json", str(tmp_path / "s.json")), "macro")


# ---- 12: another program's database is never changed; reports open read-only ---------------------------------


def test_another_programs_database_is_refused_and_left_unchanged(tmp_path):
    db = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE orders (id INTEGER, total DOUBLE)")
    con.execute("INSERT INTO orders VALUES (1, 9.5)")
    con.close()
    for args in (["report", "--db", str(db), "--json", "-"], ["ingest", str(_logs(tmp_path / "l")), "--db", str(db)]):
        assert_one_line_error(run_cli(*args), str(db), "not an llmcost database", "orders")
    con = duckdb.connect(str(db), read_only=True)
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    con.close()
    assert tables == {"orders"}


def test_an_empty_duckdb_file_becomes_an_llmcost_database(tmp_path):
    db = tmp_path / "new.duckdb"
    duckdb.connect(str(db)).close()
    res = run_cli("ingest", str(_logs(tmp_path / "l")), "--db", str(db))
    assert res.returncode == 0, res.stderr


def test_a_read_only_database_can_be_reported(tmp_path):
    db = _llmcost_db(tmp_path)
    os.chmod(db, stat.S_IRUSR | stat.S_IRGRP)
    try:
        if os.access(db, os.W_OK):  # root ignores the mode: open it read-only through the store instead
            s = Store(db, read_only=True)
            s.close()
        res = run_cli("report", "--db", str(db), "--json", "-")
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["totals"]["requests"] == 3
    finally:
        os.chmod(db, stat.S_IRUSR | stat.S_IWUSR)


def test_report_does_not_write_to_the_database(tmp_path):
    db = _llmcost_db(tmp_path)
    before = db.read_bytes()
    mtime = db.stat().st_mtime_ns
    res = run_cli("report", "--db", str(db), "--json", str(tmp_path / "s.json"))
    assert res.returncode == 0, res.stderr
    assert db.stat().st_mtime_ns == mtime and db.read_bytes() == before


def test_a_read_only_store_refuses_a_database_needing_migrations_in_one_line(tmp_path):
    db = _llmcost_db(tmp_path)
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM _llmcost_migrations WHERE id = (SELECT max(id) FROM _llmcost_migrations)")
    con.close()
    os.chmod(db, stat.S_IRUSR | stat.S_IRGRP)
    try:
        if os.access(db, os.W_OK):
            with pytest.raises(InputError, match="older llmcost"):
                Store(db, read_only=True, upgrade=False)
        else:
            assert_one_line_error(run_cli("report", "--db", str(db), "--json", "-"), "older llmcost")
    finally:
        os.chmod(db, stat.S_IRUSR | stat.S_IWUSR)


# ---- 13: the audit lock never follows a symlink ---------------------------------------------------------------


def test_the_audit_lock_does_not_follow_a_symlink(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    db = tmp_path / "a.duckdb"
    os.symlink(victim, f"{db}.lock")
    res = run_cli(
        "audit",
        str(_logs(tmp_path / "logs")),
        "--db",
        str(db),
        "--out-dir",
        str(tmp_path / "out"),
        "--day",
        "2025-11-20",
    )
    assert_one_line_error(res, "lock")
    assert victim.read_text() == "precious\n"


def test_a_lock_that_is_not_a_regular_file_is_refused(tmp_path):
    db = tmp_path / "a.duckdb"
    os.mkfifo(f"{db}.lock")
    res = run_cli(
        "audit",
        str(_logs(tmp_path / "logs")),
        "--db",
        str(db),
        "--out-dir",
        str(tmp_path / "out"),
        "--day",
        "2025-11-20",
        timeout=30,
    )
    assert_one_line_error(res, "lock")


# ---- 14: --keep-days counts from the audited day and deletes only what llmcost wrote -------------------------


def test_a_stray_future_file_does_not_delete_tonights_reports(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "llmcost-2099-12-31.md").write_text("not ours\n")
    (out / "audit-2025-11-01.json").write_text("{}")  # a file llmcost did not write, with an llmcost-like name
    res = run_cli(
        "audit",
        str(_logs(tmp_path / "logs", days=2)),
        "--db",
        str(tmp_path / "a.duckdb"),
        "--out-dir",
        str(out),
        "--day",
        "2025-11-21",
        "--keep-days",
        "5",
    )
    assert res.returncode == 0, res.stderr
    names = {p.name for p in out.iterdir()}
    assert {"llmcost-2025-11-21.html", "audit-2025-11-21.json", "llmcost-2099-12-31.md"} <= names
    assert "audit-2025-11-01.json" in names  # older than the window, but not written by llmcost: kept


def test_keep_days_counts_back_from_the_audited_day(tmp_path):
    logs = _logs(tmp_path / "logs", days=4)
    out = tmp_path / "out"

    def run(day, *extra):
        res = run_cli(
            "audit", str(logs), "--db", str(tmp_path / "a.duckdb"), "--out-dir", str(out), "--day", day, *extra
        )
        assert res.returncode == 0, res.stderr
        return {p.name for p in out.iterdir()}

    for d in range(4):
        run((DAY + timedelta(days=d)).date().isoformat())
    # a backfill of 11-21 keeps its own files: the window counts back from the audited day, not the newest file
    names = run("2025-11-21", "--keep-days", "2")
    assert {"audit-2025-11-20.json", "audit-2025-11-21.json", "llmcost-2025-11-21.html"} <= names
    names = run("2025-11-23", "--keep-days", "2")
    assert {"audit-2025-11-22.json", "audit-2025-11-23.json"} <= names
    assert not names & {"audit-2025-11-20.json", "audit-2025-11-21.json", "llmcost-2025-11-21.html"}


@pytest.mark.parametrize(
    "name, body",
    [
        ("audit-2025-02-30.json", '{"day": "2025-02-30"}'),
        (
            "audit-2025-11-19.json",
            '{"day": "2025-11-19", "window_days": 1, "current": {"requests": null, '
            '"cost_usd": null, "cached_share": null}, "change": {"cost_pct": null}}',
        ),
    ],
)
def test_a_bad_file_in_the_audit_folder_is_skipped_with_a_note(tmp_path, name, body):
    out = tmp_path / "out"
    out.mkdir()
    (out / name).write_text(body)
    logs = _logs(tmp_path / "logs")
    for _ in range(2):  # and the next night's audit too
        res = run_cli(
            "audit",
            str(logs),
            "--db",
            str(tmp_path / "a.duckdb"),
            "--out-dir",
            str(out),
            "--day",
            "2025-11-20",
            "--keep-days",
            "30",
        )
        err = res.stderr.decode()
        assert res.returncode == 0, err
        assert "Traceback" not in err
    assert (out / "index.html").exists()
