from __future__ import annotations

from pathlib import Path

import click

from modelctl.cli_common import OUTPUT_HELP, confine_option, execute, format_option, quiet_option, set_option
from modelctl.output import Result


@click.command()
@click.argument("profile", metavar="PROFILE")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the Modelfile to FILE; local paths become relative to FILE's folder. Written " + OUTPUT_HELP,
)
@click.option(
    "--template",
    "template",
    type=click.Path(dir_okay=False),
    default=None,
    help="A Jinja template to use instead of the shipped templates/Modelfile.j2.",
)
@set_option()
@confine_option
@format_option("text", "json")
@quiet_option
def render(
    profile: str, output: str | None, template: str | None, overrides: tuple[str, ...], fmt: str, quiet: bool
) -> None:
    """Render PROFILE to a Modelfile, exactly as `ollama create -f` will read it.

    The result is parsed back with Ollama's grammar and must equal the profile; values Ollama
    cannot carry (e.g. non-breaking spaces, a line ending in three quotes) are refused (exit 1).
    On stdout local paths are absolute, so the Modelfile works from any folder."""

    def body() -> Result:
        from modelctl.files import writes_through
        from modelctl.output.profiles import render_result
        from modelctl.render import render_profile

        # Paths relative to the file's folder; absolute for stdout and devices (-o /dev/stdout).
        target_dir = Path(output).resolve().parent if output and not writes_through(output) else None
        rendered = render_profile(profile, overrides, template=template, target_dir=target_dir)
        return render_result(rendered, profile, output)

    execute("render", fmt, body, output=output, quiet=quiet)
