"""``modelctl build PROFILE...``: render, check, upload blobs, pull the base, create, report."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from modelctl.cli_common import (
    complete_profiles,
    confine_option,
    execute,
    fleet_options,
    format_option,
    insecure_registry_option,
    output_option,
    quiet_option,
    set_option,
    template_option,
)
from modelctl.output import Result

if TYPE_CHECKING:
    from modelctl.output.progress import Progress


@click.command("build")
@click.argument("profiles", nargs=-1, metavar="PROFILE...", shell_complete=complete_profiles)
@click.option("--dry-run", is_flag=True, help="Print the exact /api/create request and blob plan; send nothing.")
@click.option("--force", is_flag=True, help="Re-create the model even when the deployed one is up to date.")
@click.option(
    "--no-pull",
    is_flag=True,
    help="Fail (exit 5) instead of pulling a base model the server lacks: `build profiles/*.yaml --no-pull` never "
    "downloads gigabytes by surprise.",
)
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
    "--prune",
    is_flag=True,
    help="With --lock: also remove from the host(s) the models the lock says modelctl built from a profile file "
    "that no longer exists or no longer makes that name, and drop their entries (docs/lock.md). A model changed "
    "since the lock is kept unless --force; with --dry-run, list them only.",
)
@click.option(
    "--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True, help="Build this many profiles at once."
)
@click.option(
    "--verify", is_flag=True, help="Load the model and fail (exit 6) if the runtime context differs from num_ctx."
)
@click.option(
    "--report",
    "full_report",
    is_flag=True,
    help="Print every model's full report (the default for one profile; several get one line each).",
)
@click.option(
    "--via-registry",
    is_flag=True,
    help="With --hosts FILE naming a `registry:`: build each profile once (on the first host that needs it), "
    "push it there, and have every other host that needs it pull it: one upload, one digest everywhere "
    "(docs/fleet.md).",
)
@insecure_registry_option
@set_option("Override a profile value (repeatable), e.g. --set temperature=0.2.")
@template_option
@confine_option
@fleet_options
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
    prune: bool,
    jobs: int,
    verify: bool,
    full_report: bool,
    via_registry: bool,
    insecure_registries: tuple[str, ...],
    overrides: tuple[str, ...],
    template: str | None,
    hosts: tuple[str, ...],
    inventory: str | None,
    timeout: float | None,
    fmt: str,
    output: str | None,
    quiet: bool,
) -> None:
    """Build PROFILE(s) on the Ollama server(s) and report what each made.

    Renders each profile to a Modelfile, turns it into an /api/create request as
    Ollama's CLI does (local files hashed and uploaded only when the server lacks
    them), pulls a missing base model, creates the model and prints the report. A
    model that already matches its profile is reported "up to date" and left alone
    (the rule `modelctl plan` shows); abstract profiles are skipped. Several profiles
    get one line each as they finish and a summary line; several hosts (--host
    repeated, or --hosts) are built at once, with a host x profile table.

    \b
    Examples:
      modelctl build profiles/creative.yaml
      modelctl build profiles/*.yaml --no-pull --jobs 2
      modelctl build creative --dry-run
      modelctl build profiles/*.yaml --only-changed --lock modelctl.lock
      modelctl build profiles/*.yaml --hosts fleet.yaml
      modelctl build profiles/*.yaml --hosts fleet.yaml --via-registry
      modelctl build creative --verify --format json -o report.json
      modelctl build lab.yaml --insecure-registry registry.lan:5000
      modelctl build profiles/*.yaml --lock modelctl.lock --prune
    """
    if prune and lock is None:
        raise click.UsageError("--prune needs --lock FILE: only models the lock says modelctl built are removed")
    if not profiles and inventory is None and not prune:
        raise click.UsageError("give PROFILE(s), or --hosts INVENTORY listing each host's profiles")

    def built() -> Result:
        from modelctl.jobs.build import BuildOptions
        from modelctl.jobs.fleet import build_hosts
        from modelctl.output.build import build_fleet_result
        from modelctl.output.progress import Progress, should_show
        from modelctl.output.summary import LinePrinter, fan_out

        progress = Progress(should_show(fmt, quiet))
        lines = LinePrinter(fmt == "text" and not output and not quiet and not dry_run, _echo(progress))
        report = True if fmt == "json" or full_report else None
        try:
            options = BuildOptions(
                dry_run=dry_run,
                force=force,
                no_pull=no_pull,
                verify=verify,
                only_changed=only_changed,
                reports=report,
                jobs=jobs,
                overrides=overrides,
                template=template,
                lock=lock,
                insecure_registries=insecure_registries,
                via_registry=via_registry,
            )
            fleet = build_hosts(
                profiles, options, hosts=hosts, inventory=inventory, timeout=timeout, on_event=fan_out(progress, lines)
            )
        finally:
            progress.close()
        return build_fleet_result(fleet, printed=lines.printed, report=full_report, quiet=quiet)

    def body() -> Result:
        if not prune:
            return built()
        from modelctl.jobs.fleet_prune import prune_hosts
        from modelctl.output.prune import with_prune

        first = built() if profiles or inventory is not None else None
        assert lock is not None
        pruned = prune_hosts(lock, hosts=hosts, inventory=inventory, dry_run=dry_run, force=force, timeout=timeout)
        return with_prune(first, pruned, dry_run=dry_run)

    execute("build", fmt, body, output=output, quiet=quiet)


def _echo(progress: Progress) -> Callable[[str], None]:
    """Per-profile lines go to stdout; on a terminal, above the progress bars drawn on stderr."""
    from modelctl.common.escape import text as escaped

    def echo(text: str) -> None:
        text = escaped(text)  # model names, server words: no control character reaches the terminal
        if progress.live and sys.stdout.isatty():
            progress.echo(text)
        else:
            click.echo(text)

    return echo
