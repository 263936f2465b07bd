"""The generated reference pages match the code, and the README's quick start stays true."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelctl import _docgen

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("page", sorted(_docgen.PAGES))
def test_generated_page_is_in_sync(page: str) -> None:
    committed = (REPO / "docs" / page).read_text(encoding="utf-8")
    assert committed == _docgen.PAGES[page](), f"docs/{page} is stale: run python -m modelctl._docgen"


def test_every_command_is_documented() -> None:
    from modelctl.cli import COMMANDS

    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    for name in COMMANDS:
        assert f"## modelctl {name}\n" in text


def test_readme_quick_start_is_two_commands_matching_ci() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install . && modelctl build profiles/creative.yaml" in readme
    assert "pip install '.[test]' && pytest" in readme
    assert "pip install '.[test]' && pytest" in ci


def test_readme_links_resolve() -> None:
    import re

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\((docs/[^)#]+)\)", readme):
        assert (REPO / target).is_file(), target
