"""Cases 3, 6, 7, 11, 13 of issue 14: damaged compression, unreadable files in a folder, pipes and devices,
bombs and odd encodings. Each is read as far as it goes, or refused in one line; never a traceback or a hang."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys

import pytest
import zstandard

from analyzer.store import Store
from tests.conftest import openai_record
from tests.robustness.conftest import ROOT, assert_one_line_error, chat_no_id, jsonl, mooncake, run_cli

RECORDS = [openai_record(rid=f"r{i}", ts=1_764_000_000 + i) for i in range(300)]


def _rows(store: Store) -> int:
    return store.con.execute("SELECT count(*) FROM requests").fetchall()[0][0]


# ---- 3: truncated and corrupt compressed streams ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gz", "zst"])
def test_a_truncated_compressed_file_keeps_its_records_and_says_it_is_truncated(kind, tmp_path):
    # enough records for several compressed blocks: a block cut in two yields nothing, the ones before it do
    data = jsonl([openai_record(rid=f"t{i}", ts=1_764_000_000 + i) for i in range(3000)])
    packed = gzip.compress(data) if kind == "gz" else zstandard.ZstdCompressor().compress(data)
    f = tmp_path / f"cut.jsonl.{kind}"
    f.write_bytes(packed[: len(packed) * 2 // 3])
    store = Store()
    res = store.ingest([str(f)])
    reasons = [r[0] for r in store.con.execute("SELECT reason FROM rejects").fetchall()]
    assert len(reasons) == 1 and "truncated" in reasons[0], reasons
    assert 0 < res.rows < 3000
    assert res.rows == len(set(r[0] for r in store.con.execute("SELECT request_id FROM requests").fetchall()))


@pytest.mark.parametrize("kind", ["gz", "zst"])
def test_garbage_after_a_compressed_header_is_one_line(kind, tmp_path):
    magic = b"\x1f\x8b\x08\x00" if kind == "gz" else b"\x28\xb5\x2f\xfd"
    f = tmp_path / f"junk.jsonl.{kind}"
    f.write_bytes(magic + os.urandom(2000))
    assert_one_line_error(run_cli("report", str(f)), str(f))


def test_concatenated_gzip_members_and_zstd_frames_are_read_whole(tmp_path):
    a, b = jsonl(RECORDS[:5]), jsonl(RECORDS[5:9])
    (tmp_path / "m.jsonl.gz").write_bytes(gzip.compress(a) + gzip.compress(b))
    z = zstandard.ZstdCompressor()
    (tmp_path / "m.jsonl.zst").write_bytes(z.compress(a) + z.compress(b))
    for name in ("m.jsonl.gz", "m.jsonl.zst"):
        store = Store()
        res = store.ingest([str(tmp_path / name)])
        assert res.rows == 9 and res.rejected == 0


# ---- 6: one bad file in a folder is skipped; files are not all held open ----------------------------------------


def test_a_corrupt_file_in_a_folder_is_skipped_with_a_note(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(jsonl(RECORDS[:3]))
    (folder / "b.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"\xff" * 100)
    (folder / "c.jsonl").write_bytes(jsonl(RECORDS[3:5]))
    res = run_cli("report", str(folder), "--json", str(tmp_path / "s.json"))
    err = res.stderr.decode()
    assert res.returncode == 0 and "Traceback" not in err, err
    assert "skipped" in err and "b.jsonl.gz" in err
    assert '"requests": 5' in (tmp_path / "s.json").read_text()


def test_more_files_than_open_file_limit(tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(100):  # each longer than the records read to sniff its format, so it would stay open
        (folder / f"f{i:04d}.jsonl").write_bytes(jsonl([mooncake(i * 100 + j) for j in range(60)]))
    code = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64));"
        "from analyzer.cli import main; sys.argv = ['llmcost', 'ingest', sys.argv[1], '--db', sys.argv[2]]; main()"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(folder), str(tmp_path / "db.duckdb")],
        capture_output=True,
        timeout=240,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    assert b"6,000 records added" in res.stdout or b"6000 records added" in res.stdout, res.stdout


# ---- 7: pipes, devices, odd paths and outputs -------------------------------------------------------------------


def test_stdin_as_dash_and_dev_stdin(tmp_path):
    data = jsonl(RECORDS[:4])
    for arg in ("-", "/dev/stdin"):
        out = tmp_path / f"s{arg.replace('/', '_')}.json"
        res = run_cli("report", arg, "--json", str(out), input=data)
        assert res.returncode == 0, res.stderr.decode()
        assert '"requests": 4' in out.read_text()


def test_process_substitution(tmp_path):
    if not shutil.which("bash"):
        pytest.skip("bash is needed for <(...)")
    src = tmp_path / "a.jsonl"
    src.write_bytes(jsonl(RECORDS[:3]))
    out = tmp_path / "s.json"
    cmd = f'"{sys.executable}" -m analyzer report <(cat "{src}") --json "{out}"'
    res = subprocess.run(
        ["bash", "-c", cmd], capture_output=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert res.returncode == 0, res.stderr.decode()
    assert '"requests": 3' in out.read_text()


def test_a_fifo_without_writer_and_dev_zero_do_not_hang(tmp_path):
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    res = run_cli("report", str(fifo), timeout=30, isolated=True)
    assert b"Traceback" not in res.stderr and res.returncode in (0, 1), res.stderr.decode()
    assert_one_line_error(run_cli("report", "/dev/zero", timeout=30, isolated=True), "/dev/zero")


def test_a_symlink_loop_under_a_glob(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(jsonl(RECORDS[:2]))
    (folder / "loop").symlink_to(folder)
    out = tmp_path / "s.json"
    res = run_cli("report", str(folder / "**" / "*.jsonl"), "--json", str(out), timeout=60, isolated=True)
    assert res.returncode == 0, res.stderr.decode()
    assert '"requests": 2' in out.read_text()
    res = run_cli("report", str(folder / "**"), "--json", str(out), timeout=60)
    assert res.returncode == 0 and '"requests": 2' in out.read_text(), res.stderr.decode()


def test_output_naming_a_folder_is_one_line(tmp_path):
    log = tmp_path / "a.jsonl"
    log.write_bytes(jsonl(RECORDS[:2]))
    (tmp_path / "out").mkdir()
    assert_one_line_error(run_cli("report", str(log), "-o", str(tmp_path / "out")), "out")


def _as_nobody() -> list[str] | None:
    """A command prefix running as an unprivileged user, or None. Permission tests mean nothing as root."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    return None


def _nobody_run(prefix: list[str], *args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "analyzer", *args],
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HOME": "/tmp"},
        cwd=cwd,
    )


def test_unreadable_folder_and_read_only_output_as_an_unprivileged_user(tmp_path):
    prefix = _as_nobody()
    if prefix is None:
        pytest.skip("running as root without setpriv: permissions cannot be tested")
    tmp_path.chmod(0o755)
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "a.jsonl").write_bytes(jsonl(RECORDS[:2]))
    locked.chmod(0o700)  # owned by root: nobody cannot enter it
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    log = tmp_path / "ok.jsonl"
    log.write_bytes(jsonl(RECORDS[:2]))
    log.chmod(0o644)
    try:
        res = _nobody_run(prefix, "report", str(locked / "a.jsonl"))
        if b"ModuleNotFoundError" in res.stderr or b"Permission denied: '/" in res.stderr[:200]:
            pytest.skip("the unprivileged user cannot run this interpreter")
        assert_one_line_error(res, "a.jsonl")
        res = _nobody_run(prefix, "report", str(log), "-o", str(ro / "r.html"))
        assert_one_line_error(res, "ro")
    finally:
        locked.chmod(0o755)
        ro.chmod(0o755)


def test_a_full_disk_names_its_cause(tmp_path):
    """RLIMIT_FSIZE stands in for a full disk without mounting anything: writes past it fail with EFBIG."""
    log = tmp_path / "a.jsonl"
    log.write_bytes(jsonl([chat_no_id(i) for i in range(3000)]))
    code = (
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN);"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000));"
        "from analyzer.cli import main; sys.argv = ['llmcost', 'ingest', sys.argv[1], '--db', sys.argv[2]]; main()"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(log), str(tmp_path / "db.duckdb")],
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    err = res.stderr.decode()
    assert res.returncode == 1 and "Traceback" not in err, err
    assert "File too large" in err and "cannot rollback" not in err, err


def test_a_full_output_folder_is_one_line(tmp_path):
    log = tmp_path / "a.jsonl"
    log.write_bytes(jsonl(RECORDS[:50]))
    code = (
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN);"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000));"
        "from analyzer.cli import main; sys.argv = ['llmcost', 'report', sys.argv[1], '-o', sys.argv[2]]; main()"
    )
    out = tmp_path / "r.html"
    res = subprocess.run(
        [sys.executable, "-c", code, str(log), str(out)],
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    err = res.stderr.decode()
    assert res.returncode == 1 and "Traceback" not in err and "File too large" in err, err
    assert not out.exists() and not list(tmp_path.glob(".r.html.*"))  # no half-written report left behind


# ---- 11: one record cannot take all the memory --------------------------------------------------------------------


def test_a_gzip_bomb_is_rejected_in_bounded_memory(tmp_path):
    bomb = tmp_path / "bomb.jsonl.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as fh:
        fh.write(jsonl([mooncake(0), mooncake(1)]))  # no text to tokenize: the memory measured is the reading
        zeros = b"0" * (1 << 20)
        for _ in range(384):  # 384 MiB of one line: reading it whole would need more than the bound below
            fh.write(zeros)
        fh.write(b"\n")
        fh.write(jsonl([mooncake(2), mooncake(3)]))
    # The peak is read from /proc (VmHWM, this program's own): ru_maxrss would carry over the peak of the
    # forking test process, which has run reports by then.
    code = (
        "import sys;"
        "from analyzer.cli import main; sys.argv = ['llmcost', 'ingest', sys.argv[1], '--db', sys.argv[2]];"
        "\ntry:\n    main()\nfinally:\n"
        "    hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0].split()[1]\n"
        "    print('maxrss', hwm, file=sys.stderr)"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(bomb), str(tmp_path / "db.duckdb")],
        capture_output=True,
        timeout=240,
        env={**os.environ, "PYTHONPATH": str(ROOT), "LLMCOST_MAX_RECORD_MB": "16"},
    )
    err = res.stderr.decode()
    assert res.returncode == 0, err
    assert b"4 records added" in res.stdout and "longer than 16 MiB" in err, res.stdout
    maxrss_kib = int(err.rsplit("maxrss", 1)[1].split()[0])
    assert maxrss_kib < 350 * 1024, maxrss_kib  # about 200 MB of interpreter and libraries


# ---- 13: BOM, CR-only line ends, UTF-16 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encode",
    [
        lambda b: b"\xef\xbb\xbf" + b,
        lambda b: b.replace(b"\n", b"\r"),
        lambda b: b.replace(b"\n", b"\r\n"),
        lambda b: b.decode().encode("utf-16"),
        lambda b: b.decode().encode("utf-16-le"),
        lambda b: b.decode().encode("utf-16-be"),
        lambda b: gzip.compress(b"\xef\xbb\xbf" + b.replace(b"\n", b"\r")),
    ],
    ids=["bom", "cr", "crlf", "utf16-bom", "utf16le", "utf16be", "gz-bom-cr"],
)
def test_odd_encodings_and_line_ends_are_read(encode, tmp_path):
    f = tmp_path / "odd.jsonl"
    f.write_bytes(encode(jsonl(RECORDS[:3])))
    store = Store()
    res = store.ingest([str(f)])
    assert (res.rows, res.rejected) == (3, 0)
    lines = [r[0] for r in store.con.execute("SELECT line FROM requests ORDER BY line").fetchall()]
    assert lines == [1, 2, 3]


def test_a_one_record_json_document_with_a_bom(tmp_path):
    import json

    f = tmp_path / "one.json"
    f.write_bytes(b"\xef\xbb\xbf" + json.dumps(RECORDS[0], indent=2).encode())
    store = Store()
    assert store.ingest([str(f)]).rows == 1
