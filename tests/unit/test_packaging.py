"""Packaging: every Python package in the tree ships in the wheel."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = ("monitor", "probes", "alerting", "cfapi", "cfsim", "ops")


def test_every_package_is_listed_in_pyproject() -> None:
    """A package missing from pyproject's explicit list would be left out of the wheel."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(pyproject["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in TOP_LEVEL
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found == listed


def test_every_package_is_typed() -> None:
    """Each top-level package ships py.typed so users' type checkers read our annotations."""
    missing = [top for top in TOP_LEVEL if not (ROOT / top / "py.typed").is_file()]
    assert missing == []
