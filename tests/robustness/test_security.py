"""Cases 8, 9, 10 of issue 14: no network, no terminal control from log content or file names, no secret
copied from a bad value into a reason, and identifiers that can be hidden in reports that leave the team."""

from __future__ import annotations

import re
import sqlite3

import duckdb
import pytest

from analyzer.errors import InputError
from analyzer.store import Store
from tests.conftest import openai_record
from tests.robustness.conftest import assert_one_line_error, jsonl, run_cli

SECRET = "sk-proj-Zx9Qw3Er5Ty7Ui1Op2As4Df6Gh8Jk0Lz"


# ---- 8: DuckDB never reaches the network ----------------------------------------------------------------------


def test_store_turns_extension_autoinstall_and_autoload_off():
    s = Store()
    try:
        settings = dict(
            s.con.execute(
                "SELECT name, value FROM duckdb_settings() "
                "WHERE name IN ('autoinstall_known_extensions', 'autoload_known_extensions')"
            ).fetchall()
        )
    finally:
        s.close()
    assert settings == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}


def test_an_sqlite_file_as_db_is_one_line_and_downloads_nothing(tmp_path):
    db = tmp_path / "llm.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    home = tmp_path / "home"
    home.mkdir()
    res = run_cli("report", "--db", str(db), env={"HOME": str(home)}, timeout=60)
    assert_one_line_error(res, str(db))
    assert not (home / ".duckdb").exists()  # no extension was fetched or installed


@pytest.mark.parametrize("db", ["md:analytics", "motherduck:x", "https://example.com/x.duckdb", "s3://bucket/x.duckdb"])
def test_remote_databases_are_refused(db, tmp_path):
    """A usage error (exit 2, click's convention for a bad option value), before anything is opened."""
    res = run_cli("report", "--db", db)
    err = res.stderr.decode()
    assert res.returncode == 2 and "local DuckDB file" in err and "Traceback" not in err, err
    from analyzer.store import Store as S

    with pytest.raises(InputError, match="local DuckDB file"):  # and the store refuses it whoever calls it
        S(db)


# ---- 9: what reaches the terminal cannot drive it ---------------------------------------------------------------


def test_file_names_and_keys_cannot_drive_the_terminal_or_forge_lines(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "title\x1b]0;pwned\x07.jsonl").write_bytes(jsonl([{"\x1b[2Jclear": 1, "\x9b31m": 2}]))
    (folder / "x\nllmcost: error: forged.jsonl").write_bytes(jsonl([{"a": 1}]))
    (folder / "ok.jsonl").write_bytes(jsonl([openai_record(rid="r1")]))
    db = tmp_path / "db.duckdb"
    res = run_cli("ingest", str(folder), "--db", str(db), isolated=True)  # a real terminal's bytes
    for stream in (res.stdout, res.stderr):
        text = stream.decode("utf-8", "replace")
        assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text, text
        assert not any(ln.startswith("llmcost: error: forged") for ln in text.splitlines()), text
    assert res.returncode == 0, res.stderr.decode()


def test_an_error_naming_a_hostile_path_is_one_line(tmp_path):
    bad = tmp_path / "x\nllmcost: note: forged\x1b[2J.jsonl"
    bad.write_bytes(jsonl([{"a": 1}]))
    res = run_cli("report", str(bad), isolated=True)
    line = assert_one_line_error(res, "unrecognised format")
    assert "\x1b" not in res.stderr.decode()
    assert "forged" in line  # the name is shown, escaped, on the error's own line


# ---- 10: reasons are redacted; --no-text keeps values out of the database; --hash-ids -------------------------


def test_a_secret_in_a_bad_value_is_not_repeated(tmp_path):
    rec = openai_record(rid="r1", ts=f"Bearer {SECRET}")
    log = tmp_path / "a.jsonl"
    log.write_bytes(jsonl([openai_record(rid="r0"), rec]))
    out = tmp_path / "out"
    res = run_cli(
        "report",
        str(log),
        "-o",
        str(tmp_path / "r.html"),
        "--json",
        str(tmp_path / "r.json"),
        "--md",
        str(tmp_path / "r.md"),
        "--csv-dir",
        str(out),
    )
    assert res.returncode == 0, res.stderr.decode()
    assert b"unparseable timestamp" in res.stderr
    texts = [
        res.stderr.decode(),
        *(p.read_text() for p in tmp_path.glob("r.*")),
        *(p.read_text() for p in out.iterdir()),
    ]
    for t in texts:
        assert SECRET[:12] not in t


def test_no_text_keeps_bad_values_out_of_the_database(tmp_path):
    rec = openai_record(rid="r1", ts="alice@example.com said hello")
    log = tmp_path / "a.jsonl"
    log.write_bytes(jsonl([openai_record(rid="r0"), rec]))
    db = tmp_path / "db.duckdb"
    res = run_cli("ingest", str(log), "--db", str(db), "--no-text")
    assert res.returncode == 0, res.stderr.decode()
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT reason, coalesce(excerpt, '') FROM rejects").fetchall()
    con.close()
    assert rows and all("said hello" not in r and "example" not in r and "said hello" not in e for r, e in rows)
    assert rows[0][0].startswith("unparseable timestamp")


def test_hash_ids_hides_users_keys_and_projects_stably(tmp_path):
    log = tmp_path / "a.jsonl"
    log.write_bytes(
        jsonl(
            [
                openai_record(rid="r0", user="alice@corp.example", api_key="key-prod-alpha", project="secret-proj"),
                openai_record(rid="r1", user="bob@corp.example", api_key="key-prod-alpha", project="secret-proj"),
            ]
        )
    )
    outs = []
    for n in (1, 2):
        j = tmp_path / f"s{n}.json"
        h = tmp_path / f"r{n}.html"
        res = run_cli("report", str(log), "--hash-ids", "--json", str(j), "-o", str(h))
        assert res.returncode == 0, res.stderr.decode()
        text = j.read_text() + h.read_text()
        for ident in ("alice@corp.example", "bob@corp.example", "key-prod-alpha", "secret-proj"):
            assert ident not in text
        outs.append(set(re.findall(r"\b(?:user|key|project)-[0-9a-f]{10}\b", j.read_text())))
    assert len(outs[0]) >= 3 and outs[0] == outs[1]  # the same identifier hashes the same way every run
    plain = tmp_path / "plain.json"
    run_cli("report", str(log), "--json", str(plain))
    assert "alice@corp.example" in plain.read_text()  # without the flag, names are shown as logged
