from __future__ import annotations

import click

from modelctl.cli_common import execute, output_option
from modelctl.output import Result


@click.command()
@output_option
def schema(output: str | None) -> None:
    """Print the JSON Schema of the profile format, for editors' YAML language servers.

    Point yaml-language-server at it: `# yaml-language-server: $schema=profile.schema.json`."""

    def body() -> Result:
        from modelctl.output.profiles import schema_result
        from modelctl.profile.profile import json_schema

        return schema_result(json_schema())

    execute("schema", "text", body, output=output)
