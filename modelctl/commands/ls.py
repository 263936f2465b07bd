"""``modelctl ls [PROFILE...]``: profiles beside the server's models."""

from __future__ import annotations

import click

from modelctl.cli_common import (
    complete_profiles,
    confine_option,
    execute,
    format_option,
    output_option,
    quiet_option,
    server_options,
)
from modelctl.output import Result


@click.command("ls")
@click.argument("profiles", nargs=-1, metavar="[PROFILE...]", shell_complete=complete_profiles)
@confine_option
@server_options
@format_option("text", "json")
@output_option
@quiet_option
def ls(
    profiles: tuple[str, ...],
    host: str | None,
    inventory: str | None,
    timeout: float | None,
    fmt: str,
    output: str | None,
    quiet: bool,
) -> None:
    """List profiles beside the models on the server, then the models no profile makes.

    Each profile (those given, else every profile in ./profiles and $MODELCTL_PROFILES)
    with its model's state: up to date, changed (what differs) or not built — the rule
    `plan` and `build` use —, its size and when it was made. A profile that does not
    load is listed as invalid, with the reason on stderr. Abstract profiles make no
    model and are left out.

    \b
    Examples:
      modelctl ls
      modelctl ls profiles/creative.yaml --format json
    """

    def body() -> Result:
        from modelctl.jobs.housekeeping import list_models
        from modelctl.output.housekeeping import list_result
        from modelctl.profile.inventory import one_host

        return list_result(list_models(profiles, host=one_host(host, inventory, "ls"), timeout=timeout))

    execute("ls", fmt, body, output=output, quiet=quiet)
