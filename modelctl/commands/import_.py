from __future__ import annotations

from pathlib import Path

import click

from modelctl.cli_common import OUTPUT_HELP, execute, format_option, quiet_option
from modelctl.output import Result


@click.command("import")
@click.argument("modelfile", type=click.Path(dir_okay=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the profile YAML to FILE; local paths become relative to it. Written " + OUTPUT_HELP,
)
@click.option("--name", default=None, help="The `name` to put in the profile (default: the file's stem).")
@format_option("text", "json")
@quiet_option
def import_cmd(modelfile: Path, output: Path | None, name: str | None, fmt: str, quiet: bool) -> None:
    """Turn a Modelfile into a profile (YAML) that renders back to an equivalent Modelfile.

    The Modelfile is read exactly as `ollama create` reads it; Ollama's own error message
    (with its line) is shown for a Modelfile Ollama would reject."""

    def body() -> Result:
        from modelctl.importer import import_modelfile
        from modelctl.output.profiles import import_result

        imported = import_modelfile(modelfile, output=output, name=name)
        return import_result(imported, str(output) if output else None)

    execute("import", fmt, body, output=str(output) if output else None, quiet=quiet)
