"""The ``modelctl`` command group.

Commands live in ``modelctl/commands/<name>.py`` and are imported only when invoked (or
when ``--help`` needs their one-line summary; those modules import click and the
standard library only). Keep it so: ``modelctl --help`` must not import pydantic,
jinja2, httpx or ollama (tests/test_startup.py checks).
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from modelctl import __version__

# name -> "module:attribute"; order is the order of `modelctl --help`.
COMMANDS: dict[str, str] = {
    "validate": "modelctl.commands.validate:validate",
    "render": "modelctl.commands.render:render",
    "import": "modelctl.commands.import_:import_cmd",
    "params": "modelctl.commands.params:params",
    "schema": "modelctl.commands.schema:schema",
    "inspect": "modelctl.commands.inspect:inspect",
    "estimate": "modelctl.commands.estimate:estimate",
    "build": "modelctl.commands.build:build",
    "show": "modelctl.commands.show:show",
    "run": "modelctl.commands.run:run",
    "compare": "modelctl.commands.compare:compare",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        module_name, attr = spec.split(":", 1)
        module = importlib.import_module(module_name)
        cmd: Any = getattr(module, attr)
        return cmd  # type: ignore[no-any-return]


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="modelctl")
def cli() -> None:
    """Keep Ollama parameter profiles in git: validate, render, build, report, compare.

    Exit codes: 0 ok, 1 invalid input or failed check, 2 usage, 3 drift,
    4 server unreachable, 5 server refused. See docs/exit-codes.md.
    """


def main() -> None:
    cli(prog_name="modelctl")
