"""``modelctl show MODEL|PROFILE``: the report of a deployed model."""

from __future__ import annotations

import click

from modelctl.cli_common import (
    complete_profiles,
    confine_option,
    execute,
    fleet_options,
    format_option,
    output_option,
    quiet_option,
)
from modelctl.output import Result


@click.command("show")
@click.argument("ref", metavar="MODEL|PROFILE", shell_complete=complete_profiles)
@click.option(
    "--verify", is_flag=True, help="Load the model and fail (exit 6) if the runtime context differs from num_ctx."
)
@click.option(
    "--modelfile",
    is_flag=True,
    help="Print the model's Modelfile as modelctl renders it: FROM names the base model (not a blob path).",
)
@confine_option
@fleet_options
@format_option("text", "json")
@output_option
@quiet_option
def show(
    ref: str,
    verify: bool,
    modelfile: bool,
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
    With --modelfile, the model's Modelfile instead: the model read back as the profile
    `plan` finds in sync with it (as `import --model` does) and rendered, so FROM names
    the base model rather than a path into the server's blob store.

    \b
    Examples:
      modelctl show llama3.2:3b
      modelctl show creative --verify
      modelctl show chef-creative --format json
      modelctl show chef-creative --modelfile
      modelctl show creative --hosts fleet.yaml
    """
    if modelfile and verify:
        raise click.UsageError("--modelfile and --verify do not go together")

    def body() -> Result:
        if modelfile:
            from modelctl.jobs.show import show_modelfile
            from modelctl.output.show import modelfile_result
            from modelctl.profile.inventory import one_host

            server = one_host(hosts[0] if hosts else None, inventory, "show --modelfile")
            return modelfile_result(show_modelfile(ref, host=server, timeout=timeout))
        from modelctl.jobs.fleet import show_hosts
        from modelctl.output.show import show_fleet_result

        return show_fleet_result(show_hosts(ref, hosts=hosts, inventory=inventory, verify=verify, timeout=timeout))

    execute("show", fmt, body, output=output, quiet=quiet)
