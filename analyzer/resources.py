"""Where the SQL files and report templates are: inside the installed package (the wheel maps the repo's
`queries/` and `reports/` into `analyzer/`), or beside the package in a source checkout."""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path


def resource_dir(name: str) -> Traversable:
    packaged = resources.files("analyzer") / name
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / name
