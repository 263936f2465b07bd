"""``modelctl rm NAME|PROFILE...``: remove models from the server."""

from __future__ import annotations

import click

from modelctl.cli_common import complete_profiles, confine_option, execute, format_option, quiet_option, server_options
from modelctl.output import Result


@click.command("rm")
@click.argument("refs", nargs=-1, required=True, metavar="NAME|PROFILE...", shell_complete=complete_profiles)
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@confine_option
@server_options
@format_option("text", "json")
@quiet_option
def rm(
    refs: tuple[str, ...],
    dry_run: bool,
    host: str | None,
    inventory: str | None,
    timeout: float | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Remove models from the server: by name, or the model a PROFILE makes.

    Every name is looked up first: when the server does not have one (with a
    did-you-mean), nothing is removed and the exit code is 5. Says what it removed.

    \b
    Examples:
      modelctl rm chef-creative
      modelctl rm profiles/*.yaml --dry-run
    """

    def body() -> Result:
        from modelctl.jobs.housekeeping import remove_models
        from modelctl.output.housekeeping import remove_result
        from modelctl.profile.inventory import one_host

        return remove_result(
            remove_models(refs, dry_run=dry_run, host=one_host(host, inventory, "rm"), timeout=timeout)
        )

    execute("rm", fmt, body, quiet=quiet)
