from __future__ import annotations

from pathlib import Path

import click

from modelctl.cli_common import OUTPUT_HELP, ExistingPath, execute, format_option, quiet_option, server_options
from modelctl.output import Result


@click.command("import")
@click.argument("modelfile", required=False, type=click.Path(dir_okay=True, path_type=Path))
@click.option(
    "--model",
    "model",
    default=None,
    metavar="NAME",
    help="Import a model deployed on the server instead of a Modelfile: `plan` then reports it in sync.",
)
@click.option(
    "--files",
    "files",
    multiple=True,
    type=ExistingPath(file_okay=False),
    metavar="DIR",
    help="With --model: folders holding the model's adapter or draft files (found by digest; repeatable).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the profile YAML to FILE; relative paths become relative to it. Written " + OUTPUT_HELP,
)
@click.option("--name", default=None, help="The `name` to put in the profile (default: the file's stem, or --model).")
@server_options
@format_option("text", "json")
@quiet_option
def import_cmd(
    modelfile: Path | None,
    model: str | None,
    files: tuple[str, ...],
    output: Path | None,
    name: str | None,
    host: str | None,
    inventory: str | None,
    timeout: float | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Turn a Modelfile, or a model on the server (--model), into a profile (YAML).

    A Modelfile is read exactly as `ollama create` reads it (Ollama's own error message, with
    its line, for one Ollama would reject); its comments are kept. Paths keep the form they
    were written in. An `ollama show --modelfile` export builds on the model its `# FROM`
    comment names. With --model NAME the profile holds what NAME adds to its base model.

    \b
    Examples:
      modelctl import Modelfile -o profiles/mine.yaml
      modelctl import --model chef-creative -o profiles/creative.yaml
      modelctl import --model vision-chef --files ./models -o profiles/vision.yaml
    """
    if (modelfile is None) == (model is None):
        raise click.UsageError("give a MODELFILE or --model NAME (one of them)")
    if files and model is None:
        raise click.UsageError("--files goes with --model")

    def body() -> Result:
        from modelctl.output.profiles import import_result

        if model is not None:
            from modelctl.jobs.model_import import ImportOptions, import_model
            from modelctl.profile.inventory import one_host

            server = one_host(host, inventory, "import --model")
            options = ImportOptions(name=name, output=output, files=files)
            imported = import_model(model, options, host=server, timeout=timeout)
        else:
            from modelctl.modelfile.importer import import_modelfile

            assert modelfile is not None
            imported = import_modelfile(modelfile, output=output, name=name)
        return import_result(imported, str(output) if output else None)

    execute("import", fmt, body, output=str(output) if output else None, quiet=quiet, artifact=True)
