"""``modelctl validate PROFILE...``: check profiles without a server."""

from __future__ import annotations

import click

from modelctl.cli_common import confine_option, execute, format_option, output_option, quiet_option, set_option
from modelctl.errors import ExitCode
from modelctl.output import Result


@click.command()
@click.argument("profiles", nargs=-1, required=True, metavar="PROFILE...")
@set_option()
@confine_option
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
@format_option("text", "json")
@output_option
@quiet_option
def validate(
    profiles: tuple[str, ...], overrides: tuple[str, ...], strict: bool, fmt: str, output: str | None, quiet: bool
) -> None:
    """Check profiles without a server: schema, ranges, extends, and that they render to a
    Modelfile Ollama reads back exactly. PROFILE is a path or a name in ./profiles or
    $MODELCTL_PROFILES. Exit 1 if any profile is invalid."""

    def body() -> Result:
        from modelctl.output.validate import validation_result
        from modelctl.validate import validate as run_validate

        result = run_validate(profiles, overrides, strict=strict)
        return validation_result(result, ExitCode.OK if result.ok else ExitCode.INVALID, quiet=quiet)

    execute("validate", fmt, body, output=output, quiet=quiet)
