"""Case 15 of issue 14: an output is on disk before it replaces the old one (fsync the file, then its
folder), so a crash or power cut leaves the old report or the new one, never an empty file."""

from __future__ import annotations

import os
import stat

import pytest

from analyzer import render
from analyzer.errors import InputError


def test_outputs_are_fsynced_file_then_folder(tmp_path, monkeypatch):
    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    target = tmp_path / "r.json"
    render.write_output("{}\n", str(target))
    assert target.read_text() == "{}\n"
    assert synced == ["file", "dir"]


def test_an_output_naming_a_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        render.write_output("x", str(tmp_path))
    assert list(tmp_path.iterdir()) == []
