"""``modelctl explain PROFILE|MODEL``: the options the runner will really use, each with where it came from."""

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
    set_option,
)
from modelctl.output import Result
from modelctl.profile.params import KV_CACHE_TYPES


@click.command("explain")
@click.argument("ref", metavar="PROFILE|MODEL", shell_complete=complete_profiles)
@click.option(
    "--option",
    "request",
    multiple=True,
    metavar="NAME=VALUE",
    help="An option a client sends with every request (the `options` of /api/generate), e.g. --option "
    "num_ctx=16384; repeatable.",
)
@set_option("Override a profile value (PROFILE only), as a build would, e.g. --set num_ctx=16384.")
@click.option(
    "--context-length",
    type=click.IntRange(min=1, max=1 << 24),
    default=None,
    metavar="N",
    help="Declare the server's OLLAMA_CONTEXT_LENGTH (default: the inventory host's facts).",
)
@click.option(
    "--parallel",
    type=click.IntRange(min=1, max=256),
    default=None,
    help="Declare the server's OLLAMA_NUM_PARALLEL (default: the inventory host's facts).",
)
@click.option(
    "--kv-cache",
    "kv_type",
    type=click.Choice(KV_CACHE_TYPES),
    default=None,
    help="Declare the server's OLLAMA_KV_CACHE_TYPE (default: the inventory host's facts).",
)
@click.option(
    "--flash-attention",
    type=click.Choice(["on", "off"]),
    default=None,
    help="Declare the server's OLLAMA_FLASH_ATTENTION (default: the inventory host's facts; else Ollama decides).",
)
@click.option(
    "--gpu-memory",
    default=None,
    metavar="SIZE",
    help="Declare the server's total VRAM (e.g. 24GiB): from 0.15.5 the default num_ctx follows it (4096 below "
    "23 GiB, 32768 below 47 GiB, 262144 above).",
)
@click.option(
    "--ollama-version",
    default=None,
    metavar="VERSION",
    help="The Ollama version whose rules to follow when no server answers (default: the newest modelctl knows).",
)
@click.option(
    "--no-server", is_flag=True, help="Ask no server (an inventory host's facts still apply): defaults are assumed."
)
@confine_option
@server_options
@format_option("text", "json")
@output_option
@quiet_option
def explain(
    ref: str,
    request: tuple[str, ...],
    overrides: tuple[str, ...],
    context_length: int | None,
    parallel: int | None,
    kv_type: str | None,
    flash_attention: str | None,
    gpu_memory: str | None,
    ollama_version: str | None,
    no_server: bool,
    host: str | None,
    inventory: str | None,
    timeout: float | None,
    fmt: str,
    output: str | None,
    quiet: bool,
) -> None:
    """Which options PROFILE's (or MODEL's) runner will really use, and where each came from.

    Every option of the catalogue with its value and origin: Ollama's built-in default for
    the server's version, the server's own defaults (OLLAMA_CONTEXT_LENGTH or the VRAM tier,
    OLLAMA_NUM_PARALLEL, OLLAMA_KV_CACHE_TYPE, flash attention: declared by the inventory's
    facts or the flags here, else assumed), the base model's stored parameters, the profile
    and the files it extends (file:line:column), --set, and request options (--option).
    Then Ollama's own adjustments (the cap at the trained context, the 2048 floor of vision
    models, the context times the parallel slots, num_predict's bound, draft_num_predict
    without a draft) and what makes the runner reload.

    \b
    Without a server (--no-server, or none answers) the defaults of the newest Ollama
    modelctl knows are used and marked (assumed). See docs/explain.md.

    \b
    Examples:
      modelctl explain creative
      modelctl explain coder --hosts fleet.yaml --host gpu-box
      modelctl explain creative --option num_ctx=32768 --parallel 4
      modelctl explain llama3.2:3b --format json
    """

    def body() -> Result:
        from modelctl.jobs.estimate import EstimateOptions, GpuOptions
        from modelctl.jobs.explain import explain as run_explain
        from modelctl.output.explain import explain_result
        from modelctl.profile.inventory import one_host

        options = EstimateOptions(
            overrides=overrides,
            request=request,
            context_length=context_length,
            parallel=parallel,
            kv_type=kv_type,
            flash_attention=None if flash_attention is None else flash_attention == "on",
            gpu=GpuOptions(gpu_memory) if gpu_memory is not None else None,
            ollama_version=ollama_version,
            no_server=no_server,
        )
        server = one_host(host, inventory, "explain")  # with --no-server: only the inventory host's facts
        return explain_result(run_explain(ref, options, host=server, timeout=timeout))

    execute("explain", fmt, body, output=output, quiet=quiet)
