from __future__ import annotations

import click

from modelctl.cli_common import execute, output_option
from modelctl.output import Result, dumps


@click.command()
@output_option
def schema(output: str | None) -> None:
    """Print the JSON Schema of the profile format, for editors' YAML language servers.

    Point yaml-language-server at it: `# yaml-language-server: $schema=profile.schema.json`."""

    def body() -> Result:
        from modelctl.profile import json_schema

        s = json_schema()
        return Result(data=s, text=dumps(s))

    execute("schema", "text", body, output=output)
