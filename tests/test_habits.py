"""Habits of the code base that a reader relies on: declared markers are used."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_declared_marker_marks_a_test() -> None:
    """A marker declared in pyproject.toml and put on no test selects nothing: `-m NAME` would mislead."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")  # tomllib is 3.11+; the list is plain
    block = re.search(r"^markers = \[(.*?)^\]", pyproject, re.S | re.M)
    assert block is not None
    names = re.findall(r'^\s*"(\w+):', block.group(1), re.M)
    assert names  # the parse found the list
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").glob("*.py"))
    unused = [n for n in names if not re.search(rf"(mark\.{n}\b|pytestmark\s*=.*\b{n}\b)", sources)]
    assert not unused, f"declared in pyproject.toml, used by no test: {unused}"
