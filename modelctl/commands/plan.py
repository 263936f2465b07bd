"""``modelctl plan PROFILE...``: drift between profiles and what the server runs."""

from __future__ import annotations

import click

from modelctl.cli_common import (
    complete_profiles,
    confine_option,
    execute,
    fleet_options,
    format_option,
    no_local_files_option,
    output_option,
    quiet_option,
    set_option,
    template_option,
)
from modelctl.output import Result


@click.command("plan")
@click.argument("profiles", nargs=-1, metavar="PROFILE...", shell_complete=complete_profiles)
@click.option(
    "--lock",
    "lock",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="Also report upstream drift against this lock file (written by `build --lock`).",
)
@click.option("--strict", is_flag=True, help="With --lock: a server version that differs from the lock's is drift too.")
@no_local_files_option("Everything else is compared; their weights are not.")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=64),
    default=8,
    show_default=True,
    help="Requests sent to each server at once.",
)
@set_option("Override a profile value (repeatable), e.g. --set temperature=0.2.")
@template_option
@confine_option
@fleet_options
@format_option("text", "json")
@output_option
@quiet_option
def plan(
    profiles: tuple[str, ...],
    lock: str | None,
    strict: bool,
    no_local_files: bool,
    concurrency: int,
    overrides: tuple[str, ...],
    template: str | None,
    hosts: tuple[str, ...],
    inventory: str | None,
    timeout: float | None,
    fmt: str,
    output: str | None,
    quiet: bool,
) -> None:
    """Show how the models on the server differ from PROFILE(s); exit 3 on drift.

    Each profile is compared, field by field, with the model of its name: base model
    (a local file by digest), parameters (floats at the 32-bit precision Ollama keeps),
    system, template (when the profile sets one), messages, license, adapters, draft,
    requires, renderer, parser. `+` the model will get it, `-` it will lose it, `~` it
    changes (found → wanted). Parameters the base model passes on are listed as
    inherited, never as drift; a model that does not exist will be created. This is the
    rule `build` uses to leave a model alone: `build --only-changed` builds exactly what
    `plan` reports. Abstract profiles are skipped.

    Several hosts (--host repeated, or --hosts INVENTORY) are planned at once, each asked
    once per model, with a host x profile table. Exit 0 when nothing differs, 3 on drift,
    4/5 when a server is unreachable or fails (4 over 5 over 3 across hosts).

    \b
    Examples:
      modelctl plan profiles/*.yaml
      modelctl plan creative --format json
      modelctl plan profiles/*.yaml --lock modelctl.lock
      modelctl plan --hosts fleet.yaml
    """
    if not profiles and inventory is None:
        raise click.UsageError("give PROFILE(s), or --hosts INVENTORY listing each host's profiles")

    def body() -> Result:
        from modelctl.jobs.fleet import plan_hosts
        from modelctl.jobs.plan import PlanOptions
        from modelctl.output.plan import plan_fleet_result

        options = PlanOptions(
            overrides=overrides,
            template=template,
            lock=lock,
            strict=strict,
            concurrency=concurrency,
            local_files=not no_local_files,
        )
        fleet = plan_hosts(profiles, options, hosts=hosts, inventory=inventory, timeout=timeout)
        return plan_fleet_result(fleet)

    execute("plan", fmt, body, output=output, quiet=quiet)
