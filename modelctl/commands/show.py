"""``modelctl show MODEL|PROFILE``: the report of a deployed model."""

from __future__ import annotations

import click

from modelctl.cli_common import confine_option, execute, fleet_options, format_option, output_option, quiet_option
from modelctl.output import Result


@click.command("show")
@click.argument("ref", metavar="MODEL|PROFILE")
@click.option(
    "--verify", is_flag=True, help="Load the model and fail (exit 6) if the runtime context differs from num_ctx."
)
@confine_option
@fleet_options
@format_option("text", "json")
@output_option
@quiet_option
def show(
    ref: str,
    verify: bool,
    hosts: tuple[str, ...],
    inventory: str | None,
    timeout: float | None,
    fmt: str,
    output: str | None,
    quiet: bool,
) -> None:
    """Report what the server made of MODEL (or of PROFILE's model).

    Architecture, parameter count, quantization, context length (trained, configured,
    and with --verify the one the runner really uses), embedding length, layers,
    attention heads, capabilities and the stored parameters. A PROFILE (a path, or a
    name found in ./profiles) also gets warnings where the server differs from it. With
    several hosts (--host repeated, or --hosts INVENTORY) each host's report, with the
    memory at its own settings (the inventory's facts: default context, KV cache, GPU).

    \b
    Examples:
      modelctl show llama3.2:3b
      modelctl show creative --verify
      modelctl show chef-creative --format json
      modelctl show creative --hosts fleet.yaml
    """

    def body() -> Result:
        from modelctl.fleet import show_hosts
        from modelctl.output.show import show_fleet_result

        return show_fleet_result(show_hosts(ref, hosts=hosts, inventory=inventory, verify=verify, timeout=timeout))

    execute("show", fmt, body, output=output, quiet=quiet)
