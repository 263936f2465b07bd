"""``modelctl inspect FILE.gguf``: model facts from a local GGUF file, no tensor data read."""

from __future__ import annotations

import click

from modelctl.cli_common import execute, format_option, output_option, quiet_option
from modelctl.output import Result


@click.command()
@click.argument("file", metavar="FILE.gguf", type=click.Path(dir_okay=True, path_type=str))
@format_option("text", "json")
@output_option
@quiet_option
def inspect(file: str, fmt: str, output: str | None, quiet: bool) -> None:
    """Model facts from a local GGUF file, without a server and without reading tensor data:
    architecture, parameter count, quantization (file type, tensor types, bits per weight),
    trained context length, embedding length, layers, attention and KV heads, key/value
    lengths, vocabulary, tokenizer, chat template and file size. Sizes are binary (GiB).

    The JSON keys are the ones the build report uses (docs/concepts.md)."""

    def body() -> Result:
        from modelctl.memory.facts import facts_from_gguf
        from modelctl.output.facts import inspect_result

        return inspect_result(facts_from_gguf(file))

    execute("inspect", fmt, body, output=output, quiet=quiet)
