from __future__ import annotations

import click

from modelctl.cli_common import execute, format_option
from modelctl.output import Result


@click.command()
@click.argument("name", required=False)
@click.option("--removed", is_flag=True, help="List the parameters Ollama removed, with the version.")
@format_option("text", "json")
def params(name: str | None, removed: bool, fmt: str) -> None:
    """The Ollama parameter reference: type, default, range, load-time or per request.

    Load-time parameters (num_ctx, num_batch, num_gpu, ...) reload the model when they
    change; the others apply per request."""

    def body() -> Result:
        from modelctl.output.params import catalogue_result, parameter_result, removed_result
        from modelctl.profile.params import lookup

        if name:
            return parameter_result(lookup(name))
        return removed_result() if removed else catalogue_result()

    execute("params", fmt, body)
