"""The ``modelctl`` command group.

Commands live in ``modelctl/commands/<name>.py`` and are imported only when invoked: the
command table below holds each command's one-line summary, so ``modelctl --help`` lists
them without importing any. Keep it so: ``--help`` imports click, the standard library and
this module only (tests/test_startup.py pins the set).
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from modelctl import __version__, terminal_columns

# name -> ("module:attribute", one-line summary); the order is the order of `modelctl --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("modelctl.commands.validate:validate", "Check profiles without a server: schema, ranges, round trip."),
    "render": (
        "modelctl.commands.render:render",
        "Render PROFILE to a Modelfile, exactly as `ollama create -f` reads it.",
    ),
    "import": ("modelctl.commands.import_:import_cmd", "Turn a Modelfile into a profile (YAML)."),
    "params": ("modelctl.commands.params:params", "The Ollama parameter reference: type, default, range, level."),
    "schema": ("modelctl.commands.schema:schema", "Print the JSON Schema of the profile format, for editors."),
    "inspect": ("modelctl.commands.inspect:inspect", "Model facts from a local GGUF file, without a server."),
    "estimate": ("modelctl.commands.estimate:estimate", "Memory a model needs: weights + KV cache + overhead."),
    "explain": (
        "modelctl.commands.explain:explain",
        "The options PROFILE's runner will really use, each with where it came from.",
    ),
    "build": ("modelctl.commands.build:build", "Build PROFILE(s) on the Ollama server and report what it made."),
    "plan": ("modelctl.commands.plan:plan", "Show how deployed models differ from PROFILE(s); exit 3 on drift."),
    "show": ("modelctl.commands.show:show", "Report what the server made of MODEL (or of PROFILE's model)."),
    "run": ("modelctl.commands.run:run", "Generate an answer to PROMPT with PROFILE's model and stream it."),
    "compare": ("modelctl.commands.compare:compare", "Compare PROFILEs side by side; with prompts, the run matrix."),
    "probe": ("modelctl.commands.probe:probe", "Measure the largest prompt the runner takes without cutting it."),
    "ls": ("modelctl.commands.ls:ls", "List profiles beside the server's models: up to date, changed, not built."),
    "ps": ("modelctl.commands.ps:ps", "List the loaded models, with the profile each came from."),
    "rm": ("modelctl.commands.rm:rm", "Remove models from the server, by name or by profile."),
    "push": ("modelctl.commands.push:push", "Copy built models to REGISTRY/NAMESPACE and push them there."),
    "outdated": (
        "modelctl.commands.outdated:outdated",
        "List base models that changed on their registry since the lock; exit 3 if any.",
    ),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr = entry[0].split(":", 1)
        cmd: Any = getattr(importlib.import_module(module_name), attr)
        cmd.short_help = cmd.short_help or entry[1]
        return cmd  # type: ignore[no-any-return]

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """click's resolution, with a did-you-mean for a misspelt command (``biuld`` -> ``build``)."""
        name = click.utils.make_str(args[0]) if args else ""
        if args and name not in COMMANDS and not ctx.resilient_parsing and not name.startswith("-"):
            from modelctl.profile.params import suggest  # only on this error path: --help stays light

            hint = suggest(name, COMMANDS, cutoff=0.6)
            if hint is not None:
                ctx.fail(f"No such command {name!r}. (Did you mean {hint!r}?)")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the table: listing the commands imports none of them."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_, summary) in COMMANDS.items()])


def help_width(max_width: int = 100) -> int:
    """The width click's help formatter would choose (``shutil.get_terminal_size`` with an 80
    column fallback, capped at ``max_width``, minus 2, at least 50), read without importing
    ``shutil`` and the compression modules it loads: ``--help`` stays light."""
    return max(min(terminal_columns(80), max_width) - 2, 50)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", prog_name="modelctl")
def cli() -> None:
    """Keep Ollama parameter profiles in git: validate, render, build, report, compare.

    Exit codes: 0 ok, 1 invalid input, 2 usage, 3 drift (plan, render --check, outdated), 4 server
    unreachable, 5 server refused, 6 a check on the model failed (--verify, compare
    assertions). See docs/exit-codes.md.
    """


def main() -> None:
    cli(prog_name="modelctl", terminal_width=help_width())
