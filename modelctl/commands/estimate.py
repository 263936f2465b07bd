"""``modelctl estimate PROFILE|MODEL|FILE.gguf``: memory at a context length, KV type and slot count."""

from __future__ import annotations

import click

from modelctl.cli_common import (
    confine_option,
    execute,
    format_option,
    output_option,
    quiet_option,
    server_options,
    set_option,
)
from modelctl.errors import ExitCode
from modelctl.output import Result
from modelctl.params import DEFAULT_NUM_CTX


@click.command()
@click.argument("target", metavar="PROFILE|MODEL|FILE.gguf")
@click.option(
    "--num-ctx",
    type=click.IntRange(min=1),
    default=None,
    help=f"Context length per slot (default: the profile's num_ctx, else the server model's, else {DEFAULT_NUM_CTX}).",
)
@click.option(
    "--kv-cache",
    "kv_type",
    type=click.Choice(["f16", "q8_0", "q4_0", "f32"]),
    default="f16",
    show_default=True,
    help="KV cache type (Ollama: OLLAMA_KV_CACHE_TYPE).",
)
@click.option(
    "--parallel",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Parallel slots (Ollama: OLLAMA_NUM_PARALLEL); the cache holds num_ctx x parallel tokens.",
)
@click.option(
    "--budget",
    default=None,
    metavar="SIZE",
    help="Find the largest num_ctx whose total fits in SIZE: 12GiB, 12G (= GiB), 12000MiB, "
    "16GB (10^9 bytes), 8e9 (bytes).",
)
@click.option(
    "--table",
    "show_table",
    is_flag=True,
    help="Also print totals for 2K, 4K, ... up to the trained context x f16/q8_0/q4_0.",
)
@click.option(
    "--overhead",
    default="512MiB",
    show_default=True,
    metavar="SIZE",
    help="The fixed runtime allowance added to weights and cache (docs/memory.md).",
)
@set_option("Override a profile value (PROFILE only), e.g. --set num_ctx=16384.")
@confine_option
@server_options
@format_option("text", "json")
@output_option
@quiet_option
def estimate(
    target: str,
    num_ctx: int | None,
    kv_type: str,
    parallel: int,
    budget: str | None,
    show_table: bool,
    overhead: str,
    overrides: tuple[str, ...],
    host: str | None,
    timeout: float | None,
    fmt: str,
    output: str | None,
    quiet: bool,
) -> None:
    """Memory a model needs: weights + KV cache + a fixed overhead, for a GGUF file, a profile
    (its `from` and num_ctx) or a model on the server. Units are binary (GiB = 2^30 bytes).

    \b
    KV cache = parallel x num_ctx x sum over attention layers of
               KV heads x (key_length + value_length) x bytes per element
    bytes per element: f16 2, q8_0 34/32, q4_0 18/32, f32 4 (docs/memory.md)."""

    def body() -> Result:
        from modelctl.estimate import estimate as run_estimate
        from modelctl.output.facts import estimate_result

        report = run_estimate(
            target, num_ctx=num_ctx, kv_type=kv_type, parallel=parallel, overhead=overhead, budget=budget,
            table=show_table, overrides=overrides, host=host, timeout=timeout,
        )  # fmt: skip
        return estimate_result(report, ExitCode.OK if report.fits else ExitCode.INVALID)

    execute("estimate", fmt, body, output=output, quiet=quiet)
