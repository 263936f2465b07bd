"""``modelctl push PROFILE|MODEL... --to REGISTRY/NAMESPACE``: put built models on a registry."""

from __future__ import annotations

import click

from modelctl.cli_common import (
    complete_profiles,
    execute,
    format_option,
    insecure_registry_option,
    quiet_option,
    server_options,
)
from modelctl.output import Result


@click.command("push")
@click.argument("refs", nargs=-1, required=True, metavar="PROFILE|MODEL...", shell_complete=complete_profiles)
@click.option(
    "--to", "to", required=True, metavar="REGISTRY/NAMESPACE", help="Where to push (e.g. registry.lan:5000/team)."
)
@click.option("--tag", default=None, metavar="TAG", help="The tag to push as (default: the model's own, else latest).")
@click.option(
    "--lock",
    "lock",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="Record each pushed name and its registry digest in the lock file (docs/lock.md).",
)
@insecure_registry_option
@server_options
@format_option("text", "json")
@quiet_option
def push(
    refs: tuple[str, ...],
    to: str,
    tag: str | None,
    lock: str | None,
    insecure_registries: tuple[str, ...],
    host: str | None,
    inventory: str | None,
    timeout: float | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Copy each model to REGISTRY/NAMESPACE/NAME:TAG on the server and push it there.

    Prints each pushed reference and the registry's manifest digest (what a server that
    pulls it reports). The registry name stays on the server. A registry served over plain
    http needs --insecure-registry (docs/fleet.md).

    \b
    Examples:
      modelctl push profiles/chef.yaml --to registry.lan:5000/team --insecure-registry registry.lan:5000
      modelctl push chef-creative --to registry.example.com/team --tag v3 --lock modelctl.lock
    """

    def body() -> Result:
        from modelctl.jobs.push import PushOptions, push_models
        from modelctl.output.progress import Progress, should_show
        from modelctl.output.push import push_result
        from modelctl.profile.inventory import one_host

        options = PushOptions(tag=tag, insecure_registries=insecure_registries, lock=lock)
        progress = Progress(should_show(fmt, quiet))
        try:
            result = push_models(
                refs, to, options, host=one_host(host, inventory, "push"), timeout=timeout, on_event=progress
            )
        finally:
            progress.close()
        return push_result(result)

    execute("push", fmt, body, quiet=quiet)
