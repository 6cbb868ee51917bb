"""Inputs named by URL (s3://, gs://, ...) are listed and streamed through fsspec, and report as the same files on
disk do. fsspec's in-memory and local filesystems stand for object storage: no network.

Skipped when fsspec is not installed (it comes with the optional extra `llmcost[ray]`), except with
LLMCOST_REQUIRE_RAY=1 (CI).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from analyzer import inputs, remote
from analyzer.cli import cli
from analyzer.errors import InputError
from tests.conftest import SAMPLES
from tests.test_report import _normalise

if importlib.util.find_spec("fsspec") is None:
    if os.environ.get("LLMCOST_REQUIRE_RAY") == "1":
        pytest.fail("LLMCOST_REQUIRE_RAY=1 but fsspec is not installed (pip install '.[ray]')", pytrace=False)
    pytest.skip("fsspec is not installed (the optional extra: pip install 'llmcost[ray]')", allow_module_level=True)

import fsspec  # noqa: E402

LOGS = ["openai_chat.jsonl", "anthropic_messages.jsonl", "codex_session.jsonl"]


@pytest.fixture
def bucket():
    """memory://bucket/logs/ holding three sample logs (one in a subfolder), a hidden one and a non-log file."""
    fs = fsspec.filesystem("memory")
    for name in LOGS[:2]:
        fs.pipe(f"/bucket/logs/{name}", (SAMPLES / name).read_bytes())
    fs.pipe(f"/bucket/logs/2025/{LOGS[2]}", (SAMPLES / LOGS[2]).read_bytes())
    fs.pipe("/bucket/logs/.staging/gemini.jsonl", (SAMPLES / "gemini_generate_content.jsonl").read_bytes())
    fs.pipe("/bucket/logs/README.txt", b"not a log\n")
    yield "memory://bucket/logs/"
    fs.rm("/bucket", recursive=True)


def _model(runner, *args: str) -> dict:
    res = runner.invoke(cli, ["report", *args, "--json", "-"])
    assert res.exit_code == 0, res.output
    model = json.loads(res.stdout)
    for key in ("sources", "this_run"):  # the same files under other names
        for f in model["ingest"][key]:
            f["path"] = Path(f["path"]).name
    return _normalise(model)


def test_a_bucket_folder_reports_as_the_same_files_on_disk(bucket, runner, tmp_path) -> None:
    local = tmp_path / "logs"
    (local / "2025").mkdir(parents=True)
    for name in LOGS[:2]:
        shutil.copy(SAMPLES / name, local / name)
    shutil.copy(SAMPLES / LOGS[2], local / "2025" / LOGS[2])
    got = _model(runner, bucket)
    assert sorted(f["path"] for f in got["ingest"]["sources"]) == sorted(LOGS)  # hidden and non-log files passed over
    assert got == _model(runner, str(local))


def test_files_are_named_by_their_url(bucket) -> None:
    found = inputs.expand_paths([bucket])
    assert [(str(p), explicit) for p, explicit in found] == [
        ("memory:///bucket/logs/2025/codex_session.jsonl", False),
        ("memory:///bucket/logs/anthropic_messages.jsonl", False),
        ("memory:///bucket/logs/openai_chat.jsonl", False),
    ]
    assert inputs.expand_paths(["memory://bucket/logs/*.jsonl"]) == [
        (remote.RemotePath("memory:///bucket/logs/anthropic_messages.jsonl"), True),
        (remote.RemotePath("memory:///bucket/logs/openai_chat.jsonl"), True),
    ]
    one = "memory://bucket/logs/openai_chat.jsonl"
    assert inputs.expand_paths([one]) == [(remote.RemotePath(one), True)]
    # sizes come with the listing (for the progress display), not from one request per file
    assert [p.size for p, _ in found] == [(SAMPLES / str(p).rsplit("/", 1)[-1]).stat().st_size for p, _ in found]


def test_a_remote_file_is_streamed_not_read_whole(tmp_path, monkeypatch) -> None:
    """A 5 MB log is read from its storage in bounded pieces: when the first chunk reaches the parser, most of
    the file has not been fetched."""
    from fsspec.implementations.local import LocalFileSystem

    big = tmp_path / "big.jsonl"
    line = (SAMPLES / "openai_chat.jsonl").read_bytes().splitlines()[0] + b"\n"
    big.write_bytes(line * (5 * (1 << 20) // len(line) + 1))
    fetched = [0]  # bytes handed out by the storage, however the reader asks for them

    class Counting:
        def __init__(self, fh) -> None:
            self.fh = fh

        def read(self, n: int = -1) -> bytes:
            data = self.fh.read(n)
            fetched[0] += len(data)
            return data

        def __getattr__(self, name: str):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            self.fh.close()

    real_open = LocalFileSystem._open
    monkeypatch.setattr(LocalFileSystem, "_open", lambda fs, *a, **k: Counting(real_open(fs, *a, **k)))
    stream = inputs.ByteStream(remote.RemotePath(f"file://{big}"))
    chunks = stream.chunks()
    first = next(chunks)
    assert 0 < fetched[0] <= 2 * inputs.READ_CHUNK < big.stat().st_size
    total = len(first) + sum(len(c) for c in chunks)
    assert total == fetched[0] == stream.digest.size == big.stat().st_size


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("memory://bucket/nothing/here.jsonl", "memory://bucket/nothing/here.jsonl: no such file or directory"),
        ("memory://bucket/logs/*.csv", "memory://bucket/logs/*.csv: no file matches this pattern"),
        ("nosuchproto://bucket/x.jsonl", "nosuchproto://bucket/x.jsonl: Protocol not known: nosuchproto"),
    ],
)
def test_a_bad_url_is_one_line_and_exit_1(bucket, runner, url, why) -> None:
    res = runner.invoke(cli, ["report", url])
    assert res.exit_code == 1
    assert res.stderr.strip().splitlines() == [f"llmcost: error: {why}"]


def test_a_protocol_without_its_package_says_which_to_install(runner) -> None:
    if importlib.util.find_spec("s3fs") is not None:
        pytest.skip("s3fs is installed here")
    res = runner.invoke(cli, ["report", "s3://bucket/logs/"])
    assert res.exit_code == 1
    [line] = res.stderr.strip().splitlines()
    assert line.startswith("llmcost: error: s3://bucket/logs/: ") and "s3fs" in line


def test_without_fsspec_a_url_says_how_to_install_it(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "fsspec", None)  # `import fsspec` now raises ImportError
    with pytest.raises(InputError, match=r"reading URLs needs fsspec: pip install 'llmcost\[ray\]'"):
        inputs.expand_paths(["s3://bucket/logs/"])
