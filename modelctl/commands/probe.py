"""``modelctl probe PROFILE|MODEL``: the largest prompt the runner takes without cutting it."""

from __future__ import annotations

import click

from modelctl.cli_common import (
    complete_profiles,
    confine_option,
    execute,
    format_option,
    quiet_option,
    server_options,
    set_option,
)
from modelctl.output import Result


@click.command("probe")
@click.argument("ref", metavar="PROFILE|MODEL", shell_complete=complete_profiles)
@click.option(
    "--max-context",
    type=click.IntRange(min=1),
    metavar="TOKENS",
    help="Search no further than this many tokens (a long prompt takes minutes on a CPU host); "
    "the answer is then 'at least TOKENS'.",
)
@click.option(
    "--min-context",
    type=click.IntRange(min=1),
    metavar="TOKENS",
    help="A check for CI: exit 6 when the runner takes fewer tokens than this.",
)
@click.option(
    "--ephemeral",
    is_flag=True,
    help="Do not use a built model: load the profile's base model with the profile's parameters.",
)
@set_option("Override a profile parameter for the probe (repeatable), e.g. --set num_ctx=8192.")
@confine_option
@server_options
@format_option("text", "json")
@quiet_option
def probe(
    ref: str,
    max_context: int | None,
    min_context: int | None,
    ephemeral: bool,
    overrides: tuple[str, ...],
    host: str | None,
    inventory: str | None,
    timeout: float | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Measure the largest prompt PROFILE's model (or MODEL) takes without cutting it.

    Loads the model as the profile would, then sends raw prompts of a filler text with
    truncate: false (Ollama 0.12.6+), so that a prompt longer than the runner's context is
    refused instead of cut, and searches for the longest one it takes, in tokens (the
    server's prompt_eval_count): usually five requests, about twenty at most for 128K.
    Reports it beside the trained, configured and running context. The figure is for the
    whole rendered prompt: template, system prompt and history count against it.

    \b
    Examples:
      modelctl probe long-context
      modelctl probe long-context --max-context 32768
      modelctl probe llama3.2:3b --set num_ctx=8192 --min-context 8000 --format json
    """
    if min_context is not None and max_context is not None and min_context > max_context:
        raise click.UsageError("--min-context is above --max-context: the search would stop before it")

    def body() -> Result:
        from modelctl.jobs.probe import ProbeOptions
        from modelctl.jobs.probe import probe as run_probe
        from modelctl.output.probe import probe_result
        from modelctl.output.progress import Progress, should_show
        from modelctl.profile.inventory import one_host

        options = ProbeOptions(
            max_context=max_context, min_context=min_context, ephemeral=ephemeral, overrides=overrides
        )
        progress = Progress(should_show(fmt, quiet))
        try:
            server = one_host(host, inventory, "probe")
            report = run_probe(ref, options, host=server, timeout=timeout, on_event=progress)
        finally:
            progress.close()
        return probe_result(report)

    execute("probe", fmt, body, quiet=quiet)
