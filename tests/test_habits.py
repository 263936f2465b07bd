"""Habits of the code base that a reader relies on: declared markers are used, and `ruff format` formats
all but the tables."""

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


def test_fmt_skip_only_on_tables() -> None:
    """`# fmt: skip` keeps a table whose rows read across; everything else is left to `ruff format`.
    At most 15 in modelctl/ (tests may keep theirs)."""
    files = sorted((ROOT / "modelctl").rglob("*.py"))
    assert len(files) > 10  # the scan reads the package
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in files
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "# fmt: skip" in line
    ]
    assert len(found) <= 15, f"{len(found)} `# fmt: skip` in modelctl/: {found}"
