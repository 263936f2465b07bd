from __future__ import annotations

import os
from pathlib import Path

import click

from modelctl.cli_common import (
    OUTPUT_HELP,
    ExistingPath,
    complete_profiles,
    confine_option,
    execute,
    format_option,
    no_local_files_option,
    quiet_option,
    set_option,
    template_option,
)
from modelctl.output import Result


@click.command()
@click.argument("profile", metavar="PROFILE", required=False, shell_complete=complete_profiles)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the Modelfile to FILE; local paths become relative to FILE's folder. Written " + OUTPUT_HELP,
)
@click.option(
    "--check",
    "check",
    type=ExistingPath(),
    default=None,
    metavar="MODELFILE|DIR",
    help="Compare a committed Modelfile with what PROFILE renders (exit 3 and a unified diff when they "
    "differ); a DIR pairs each Modelfile under it with the profile its generated header names.",
)
@template_option
@no_local_files_option("Everything else is checked; the files' presence is not.")
@set_option()
@confine_option
@format_option("text", "json")
@quiet_option
def render(
    profile: str | None,
    output: str | None,
    check: str | None,
    template: str | None,
    no_local_files: bool,
    overrides: tuple[str, ...],
    fmt: str,
    quiet: bool,
) -> None:
    """Render PROFILE to a Modelfile, exactly as `ollama create -f` will read it.

    The result is parsed back with Ollama's grammar and must equal the profile; values Ollama
    cannot carry (e.g. non-breaking spaces, a line ending in three quotes) are refused (exit 1).
    On stdout local paths are absolute, so the Modelfile works from any folder.

    With --check, nothing is written: a committed Modelfile is compared with the rendering
    (local paths relative to its folder); exit 0 when equal, 3 with a unified diff when not.

    \b
    Examples:
      modelctl render creative -o Modelfile
      modelctl render creative --check Modelfile
      modelctl render --check modelfiles/
    """
    is_dir = check is not None and os.path.isdir(check)  # False for a name too long to be a file
    if check is not None and output is not None:
        raise click.UsageError("--check compares and writes nothing: drop -o")
    if profile is None and not is_dir:
        raise click.UsageError("give a PROFILE (or --check DIR, which finds each Modelfile's profile)")
    if profile is not None and is_dir:
        raise click.UsageError("--check DIR finds each Modelfile's profile itself: drop PROFILE, or name one Modelfile")

    def body() -> Result:
        from modelctl.common.files import writes_through
        from modelctl.jobs.profiles import render_profile
        from modelctl.modelfile.render import RenderCheck, check_directory, check_modelfile
        from modelctl.output.profiles import check_result, render_result

        if check is not None:
            if is_dir:
                result = check_directory(check, overrides, template=template, local_files=not no_local_files)
            else:
                assert profile is not None
                one = check_modelfile(profile, check, overrides, template=template, local_files=not no_local_files)
                result = RenderCheck([one])
            return check_result(result)
        assert profile is not None
        # Paths relative to the file's folder; absolute for stdout and devices (-o /dev/stdout).
        target_dir = Path(output).resolve().parent if output and not writes_through(output) else None
        rendered = render_profile(
            profile, overrides, template=template, target_dir=target_dir, local_files=not no_local_files
        )
        return render_result(rendered, profile, output)

    execute("render", fmt, body, output=output, quiet=quiet, artifact=True)
