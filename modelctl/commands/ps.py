"""``modelctl ps``: the loaded models, with the profile each came from."""

from __future__ import annotations

import click

from modelctl.cli_common import execute, format_option, output_option, quiet_option, server_options
from modelctl.output import Result


@click.command("ps")
@server_options
@format_option("text", "json")
@output_option
@quiet_option
def ps(
    host: str | None, inventory: str | None, timeout: float | None, fmt: str, output: str | None, quiet: bool
) -> None:
    """List the models the server has loaded, and the profile each came from.

    The columns of `ollama ps` — size in memory, CPU/GPU split, the context length the
    runner really uses, until when it stays loaded — and the profiles (in ./profiles and
    $MODELCTL_PROFILES) whose model it is.

    \b
    Examples:
      modelctl ps
      modelctl ps --format json
    """

    def body() -> Result:
        from modelctl.jobs.housekeeping import loaded_models
        from modelctl.output.housekeeping import loaded_result
        from modelctl.profile.inventory import one_host

        return loaded_result(loaded_models(host=one_host(host, inventory, "ps"), timeout=timeout))

    execute("ps", fmt, body, output=output, quiet=quiet)
