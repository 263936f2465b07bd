"""``modelctl validate PROFILE...``: check profiles; with --host, against what servers hold too."""

from __future__ import annotations

import click

from modelctl.cli_common import (
    HOSTS_HELP,
    complete_profiles,
    confine_option,
    execute,
    no_local_files_option,
    output_option,
    quiet_option,
    set_option,
)
from modelctl.output import Result


@click.command()
@click.argument("profiles", nargs=-1, metavar="PROFILE...", shell_complete=complete_profiles)
@set_option()
@confine_option
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
@no_local_files_option("Everything else is checked; the files not read are listed.")
@click.option(
    "--host",
    "hosts",
    multiple=True,
    metavar="URL",
    help="Also check what only this Ollama server can say (repeatable; with --hosts, a host's name there): base "
    "model, trained context, end-of-turn stop tokens, parameters and `requires` against its version. Without "
    "--host or --hosts no server is asked.",
)
@click.option(
    "--hosts",
    "inventory",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="INVENTORY.yaml",
    help=HOSTS_HELP + " Checks every host (or those named with --host).",
)
@click.option("--timeout", type=click.FloatRange(min=0.1), default=None, help="Deadline in seconds (docs/server.md).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif", "github"]),
    default="text",
    show_default=True,
    help="Output format: json (docs/json.md), sarif (SARIF 2.1.0 for code scanning), github (workflow "
    "commands: inline pull-request annotations).",
)
@output_option
@quiet_option
def validate(
    profiles: tuple[str, ...],
    overrides: tuple[str, ...],
    strict: bool,
    no_local_files: bool,
    hosts: tuple[str, ...],
    inventory: str | None,
    timeout: float | None,
    fmt: str,
    output: str | None,
    quiet: bool,
) -> None:
    """Check profiles without a server: schema, ranges, extends, and that they render to a
    Modelfile Ollama reads back exactly. PROFILE is a path or a name in ./profiles or
    $MODELCTL_PROFILES. Exit 1 if any profile is invalid.

    With --host (or --hosts), also what only a server can say, as file:line:column
    warnings (errors under --strict); exit 4/5 when a server is unreachable or fails.

    \b
    Examples:
      modelctl validate profiles/*.yaml --strict
      modelctl validate profiles/*.yaml --no-local-files --format github
      modelctl validate profiles/*.yaml --format sarif -o modelctl.sarif
      modelctl validate profiles/*.yaml --host http://staging:11434
    """
    if not profiles and inventory is None:
        raise click.UsageError("give PROFILE(s), or --hosts INVENTORY listing each host's profiles")

    def body() -> Result:
        from modelctl.jobs.validate import ValidateOptions
        from modelctl.output.validate import validation_result

        options = ValidateOptions(overrides=overrides, strict=strict, local_files=not no_local_files)
        if hosts or inventory is not None:
            from modelctl.jobs.lint import validate_hosts

            result = validate_hosts(profiles, options, hosts=hosts, inventory=inventory, timeout=timeout)
        else:
            from modelctl.jobs.validate import validate as run_validate

            result = run_validate(profiles, options)
        return validation_result(result, quiet=quiet, fmt=fmt)

    execute("validate", fmt, body, output=output, quiet=quiet or fmt == "github")
