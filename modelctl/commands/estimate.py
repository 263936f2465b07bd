"""``modelctl estimate PROFILE|MODEL|FILE.gguf``: memory at a context length, KV type and slot count."""

from __future__ import annotations

import click

from modelctl.cli_common import (
    complete_profiles,
    confine_option,
    execute,
    output_option,
    quiet_option,
    server_options,
    set_option,
)
from modelctl.output import Result
from modelctl.profile.params import KV_CACHE_TYPES


@click.command()
@click.argument(
    "targets", nargs=-1, required=True, metavar="PROFILE|MODEL|FILE.gguf...", shell_complete=complete_profiles
)
@click.option(
    "--together",
    is_flag=True,
    help="Several profiles loaded at once: which share a runner, which evict each other (same weights, other "
    "load-time options), the smallest change that lets them share, and the memory of all (docs/explain.md).",
)
@click.option(
    "--max-loaded",
    type=click.IntRange(min=0, max=1024),
    default=None,
    metavar="N",
    help="With --together: the server's OLLAMA_MAX_LOADED_MODELS (default: the inventory host's; 0 or unset: 3 "
    "per GPU).",
)
@click.option(
    "--num-ctx",
    type=click.IntRange(min=1),
    default=None,
    help="Context length per slot (default: the profile's num_ctx, else the server model's, else the server's "
    "default: OLLAMA_CONTEXT_LENGTH, else by VRAM from Ollama 0.15.5, else 4096).",
)
@click.option(
    "--kv-cache",
    "kv_type",
    type=click.Choice([*KV_CACHE_TYPES, "f32"]),  # f32: llama.cpp's, modelled here only
    default=None,
    help="KV cache type (Ollama: OLLAMA_KV_CACHE_TYPE; default: the inventory host's, else f16). q8_0/q4_0 need "
    "flash attention; without it: f16.",
)
@click.option(
    "--parallel",
    type=click.IntRange(min=1),
    default=None,
    help="Parallel slots (Ollama: OLLAMA_NUM_PARALLEL; default: the inventory host's, else 1), at most 256; each "
    "slot has its own cache stream.",
)
@click.option(
    "--flash-attention",
    type=click.Choice(["on", "off"]),
    default=None,
    help="Flash attention (Ollama: OLLAMA_FLASH_ATTENTION). Default: what Ollama does for the model and version.",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1, max=1 << 20),
    default=None,
    help="num_batch: Ollama starts llama-server with -b and -ub set to it (default: the profile's, else 512).",
)
@click.option(
    "--ubatch",
    type=click.IntRange(min=1, max=1 << 20),
    default=None,
    help="llama.cpp's micro-batch (default: --batch). Sizes the compute buffer and sliding-window caches.",
)
@click.option(
    "--budget",
    default=None,
    metavar="SIZE",
    help="Find the largest num_ctx whose total fits in SIZE: 12GiB, 12G (= GiB), 12000MiB, "
    "16GB (10^9 bytes), 8e9 (bytes).",
)
@click.option(
    "--gpu-memory",
    default=None,
    metavar="SIZE",
    help="A GPU of SIZE: does it fit, how many layers go there, and the largest num_ctx that keeps them all "
    "there, by the rule of the Ollama version modelled.",
)
@click.option(
    "--gpu-backend",
    type=click.Choice(["cuda", "rocm", "metal"]),
    default="cuda",
    show_default=True,
    help="The GPU's kind (Ollama before 0.30 kept 457 MiB free on CUDA/ROCm, 512 MiB on Metal).",
)
@click.option(
    "--gpu-overhead",
    default="0",
    show_default=True,
    metavar="SIZE",
    help="OLLAMA_GPU_OVERHEAD on the server (kept free by Ollama before 0.30).",
)
@click.option(
    "--ollama-version",
    default=None,
    metavar="VERSION",
    help="The Ollama version whose rules to follow (default: the server's when the facts come from one, "
    "else 0.30 and later).",
)
@click.option(
    "--table",
    "show_table",
    is_flag=True,
    help="Also print totals for 2K, 4K, ... up to the trained context x f16/q8_0/q4_0 (implied by --format html).",
)
@click.option(
    "--overhead",
    default="0",
    show_default=True,
    metavar="SIZE",
    help="An extra allowance added to the total; the compute buffer is modelled, not this (docs/memory.md).",
)
@set_option("Override a profile value (PROFILE only), e.g. --set num_ctx=16384.")
@confine_option
@server_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "html"]),
    default="text",
    show_default=True,
    help="Output format. json prints the versioned envelope (docs/json.md); html draws the table as a chart "
    "(not with --together).",
)
@output_option
@quiet_option
def estimate(
    targets: tuple[str, ...],
    together: bool,
    max_loaded: int | None,
    num_ctx: int | None,
    kv_type: str | None,
    parallel: int | None,
    flash_attention: str | None,
    batch: int | None,
    ubatch: int | None,
    budget: str | None,
    gpu_memory: str | None,
    gpu_backend: str,
    gpu_overhead: str,
    ollama_version: str | None,
    show_table: bool,
    overhead: str,
    overrides: tuple[str, ...],
    host: str | None,
    inventory: str | None,
    timeout: float | None,
    fmt: str,
    output: str | None,
    quiet: bool,
) -> None:
    """Memory a model needs, as llama.cpp allocates it under Ollama: weights + KV cache + compute
    and output buffers, for a GGUF file, a profile (its `from` and num_ctx) or a model on the
    server. Units are binary (GiB = 2^30 bytes).

    \b
    KV cache   per layer: (K width + V width) x cells x bytes per element,
               cells = num_ctx padded to 256, per slot; sliding-window layers
               keep window + n_ubatch (padded); V at the widest layer's width
               when flash attention is off
    compute    the graph buffer for one micro-batch (logits, attention, FFN)
    bytes per element: f16 2, q8_0 34/32, q4_0 18/32, f32 4 (docs/memory.md).

    \b
    With --together, several PROFILEs (or models) loaded on one server: which share one runner
    (same weights, same load-time options), which evict each other (same weights, another
    num_ctx, num_batch, num_gpu, ... or other adapters), the smallest change that lets them
    share, the memory of what stays loaded at once, OLLAMA_MAX_LOADED_MODELS (--max-loaded)
    and, with --gpu-memory, whether they fit on the GPU together."""
    _check_together(
        together,
        len(targets),
        num_ctx=num_ctx,
        budget=budget,
        table=show_table or fmt == "html",
        batch=batch or ubatch,
        max_loaded=max_loaded,
    )

    def body() -> Result:
        from modelctl.jobs.estimate import EstimateOptions, GpuOptions
        from modelctl.profile.inventory import one_host

        options = EstimateOptions(
            overrides=overrides,
            kv_type=kv_type,
            parallel=parallel,
            flash_attention=None if flash_attention is None else flash_attention == "on",
            max_loaded=max_loaded,
            gpu=GpuOptions(gpu_memory, gpu_backend, gpu_overhead) if gpu_memory is not None else None,
            ollama_version=ollama_version,
            num_ctx=num_ctx,
            batch=batch,
            ubatch=ubatch,
            overhead=overhead,
            budget=budget,
            table=show_table or fmt == "html",
        )
        server = one_host(host, inventory, "estimate")
        if together:
            from modelctl.jobs.residency import together as run_together
            from modelctl.output.residency import together_result

            return together_result(run_together(targets, options, host=server, timeout=timeout))
        from modelctl.jobs.estimate import estimate as run_estimate
        from modelctl.output.facts import estimate_result

        return estimate_result(run_estimate(targets[0], options, host=server, timeout=timeout), fmt)

    execute("estimate", fmt, body, output=output, quiet=quiet)


def _check_together(together: bool, n: int, **given: object) -> None:
    """One target without --together; with it, none of the options that set one model's figures."""
    if not together:
        if n > 1:
            raise click.UsageError("estimate takes one PROFILE|MODEL|FILE.gguf; add --together to estimate several")
        if given.get("max_loaded") is not None:
            raise click.UsageError("--max-loaded goes with --together")
        return
    names = {
        "num_ctx": "--num-ctx",
        "budget": "--budget",
        "table": "--table/--format html",
        "batch": "--batch/--ubatch",
    }
    for key, flag in names.items():
        if given.get(key):
            raise click.UsageError(f"{flag} sets one model's figures; with --together each profile keeps its own")
    if n < 2:
        raise click.UsageError("--together needs at least two profiles (or models)")
