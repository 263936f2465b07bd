"""``modelctl build PROFILE...``: render, check, upload blobs, pull the base, create, report."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from modelctl.cli_common import (
    confine_option,
    execute,
    format_option,
    output_option,
    quiet_option,
    server_options,
    set_option,
)
from modelctl.errors import ExitCode
from modelctl.output import Result

if TYPE_CHECKING:
    from modelctl.build import BuildResult


@click.command("build")
@click.argument("profiles", nargs=-1, required=True, metavar="PROFILE...")
@click.option("--dry-run", is_flag=True, help="Print the exact /api/create request and blob plan; send nothing.")
@click.option("--force", is_flag=True, help="Re-create the model even when the deployed one is up to date.")
@click.option("--no-pull", is_flag=True, help="Fail instead of pulling a base model the server lacks.")
@click.option(
    "--only-changed",
    is_flag=True,
    help="Build only what `plan` reports as drift; models in sync get no pull, upload or report.",
)
@click.option(
    "--lock",
    "lock",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="Write (or refresh) the lock file: per host and model, base digest, server version, "
    "parameters, digests, context (docs/lock.md).",
)
@click.option(
    "--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True, help="Build this many profiles at once."
)
@click.option(
    "--verify", is_flag=True, help="Load the model and fail (exit 1) if the runtime context differs from num_ctx."
)
@set_option("Override a profile value (repeatable), e.g. --set temperature=0.2.")
@click.option(
    "--template",
    "template",
    default=None,
    metavar="FILE",
    help="Jinja template for the Modelfile (default: the built-in one).",
)
@confine_option
@server_options
@format_option("text", "json")
@output_option
@quiet_option
def build(
    profiles: tuple[str, ...],
    dry_run: bool,
    force: bool,
    no_pull: bool,
    only_changed: bool,
    lock: str | None,
    jobs: int,
    verify: bool,
    overrides: tuple[str, ...],
    template: str | None,
    host: str | None,
    timeout: float | None,
    fmt: str,
    output: str | None,
    quiet: bool,
) -> None:
    """Build PROFILE(s) on the Ollama server and report what it made.

    Renders each profile to a Modelfile, turns it into an /api/create request as
    Ollama's CLI does (local files hashed and uploaded only when the server lacks
    them), pulls a missing base model, creates the model and prints the report. A
    model that already matches its profile is reported "up to date" and left alone
    (the rule `modelctl plan` shows); abstract profiles are skipped.

    \b
    Examples:
      modelctl build profiles/creative.yaml
      modelctl build creative precise --jobs 2
      modelctl build creative --dry-run
      modelctl build profiles/*.yaml --only-changed --lock modelctl.lock
      modelctl build creative --verify --format json -o report.json
    """

    def body() -> Result:
        from modelctl.build import build as run_build
        from modelctl.output.build import build_result
        from modelctl.output.progress import Progress, should_show

        progress = Progress(should_show(fmt, quiet))
        try:
            result = run_build(
                profiles, dry_run=dry_run, force=force, no_pull=no_pull, only_changed=only_changed, jobs=jobs,
                verify=verify, overrides=overrides, template=template, host=host, timeout=timeout, lock=lock,
                on_event=progress,
            )  # fmt: skip
        finally:
            progress.close()
        return build_result(result, exit_code(result))

    execute("build", fmt, body, output=output, quiet=quiet)


def exit_code(result: BuildResult) -> ExitCode:
    """The first failed build's code; else 1 when a --verify check failed; else 0."""
    if result.failures:
        return result.failures[0].error.exit_code
    return ExitCode.INVALID if result.verify_failures else ExitCode.OK
