"""The generated reference pages match the code, and the README's quick start stays true."""

from __future__ import annotations

from pathlib import Path

import click
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


VENV = "python3 -m venv .venv && . .venv/bin/activate && "


def test_readme_quick_start_is_two_commands_matching_ci() -> None:
    """Each command works on a system Python that refuses `pip install` outside a virtual
    environment; CI runs the second one exactly as written."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert VENV + "pip install . && modelctl build profiles/creative.yaml" in readme
    test_command = VENV + "pip install '.[test]' && pytest"
    assert test_command in readme
    assert test_command + "\n" in ci.splitlines(keepends=True)


def test_readme_says_which_commands_have_no_json() -> None:
    """The README's claim about --format json holds for every command it does not name."""
    from modelctl.cli import COMMANDS, cli

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    claim = readme[readme.index("Every command but `schema`") :][:200]
    ctx = click.Context(cli, info_name="modelctl")
    for name in COMMANDS:
        cmd = cli.get_command(ctx, name)
        assert cmd is not None
        formats = [p for p in cmd.params if p.name == "fmt"]
        has_json = bool(formats) and "json" in getattr(formats[0].type, "choices", ())
        assert has_json or f"`{name}`" in claim, name


def test_readme_links_resolve() -> None:
    import re

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\((docs/[^)#]+)\)", readme):
        assert (REPO / target).is_file(), target
