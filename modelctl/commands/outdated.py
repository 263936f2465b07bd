"""``modelctl outdated [--lock FILE]``: base models that changed on their registry since the lock."""

from __future__ import annotations

import click

from modelctl.cli_common import execute, format_option, insecure_registry_option
from modelctl.output import Result


@click.command("outdated")
@click.option(
    "--lock",
    "lock",
    type=click.Path(dir_okay=False),
    default="modelctl.lock",
    show_default=True,
    metavar="FILE",
    help="The lock file whose base models are checked (docs/lock.md).",
)
@click.option(
    "--hosts",
    "inventory",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="INVENTORY",
    help="An inventory whose insecure_registries are asked over http too.",
)
@click.option(
    "--timeout", type=click.FloatRange(min=0, min_open=True), default=None, help="Seconds per registry request."
)
@insecure_registry_option
@format_option("text", "json", "github")
def outdated(
    lock: str, inventory: str | None, timeout: float | None, insecure_registries: tuple[str, ...], fmt: str
) -> None:
    """List the base models whose tag points at a new manifest on its registry since the lock.

    Each base the lock records is asked of its registry (registry.ollama.ai for library names);
    exit 3 when any changed, 0 when none, 4 when a registry cannot be reached, 5 when one
    refuses. Run it on a schedule in CI (docs/lock.md).

    \b
    Examples:
      modelctl outdated
      modelctl outdated --lock modelctl.lock --insecure-registry registry.lan:5000 --format github
    """

    def body() -> Result:
        from modelctl.jobs.outdated import outdated as job
        from modelctl.output.outdated import outdated_result

        registries = insecure_registries
        if inventory is not None:
            from modelctl.profile.inventory import load_inventory

            inv = load_inventory(inventory)
            registries = (*registries, *(r for h in inv.hosts for r in h.insecure_registries))
        return outdated_result(job(lock, insecure_registries=registries, timeout=timeout), fmt)

    execute("outdated", fmt, body, quiet=fmt == "github")
