"""``modelctl compare PROFILE...``: the parameter table, or with prompts the run matrix."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from modelctl.cli_common import execute, output_option, quiet_option, server_options, set_option
from modelctl.errors import InvalidInput
from modelctl.output import Result

FORMATS = ("text", "markdown", "json", "junit", "html")
_SUFFIX_FORMAT = {
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".json": "json",
    ".xml": "junit",
    ".txt": "text",
}

PARALLEL_HELP = (
    "Cells to run at once. 1 by default because Ollama serves a bounded "
    "number of requests per model (OLLAMA_NUM_PARALLEL; the rest queue, which inflates "
    "TTFT) and reloads a model whenever runner options such as num_ctx differ between "
    "requests, so concurrent profiles sharing a base evict each other and distort timings."
)


def _infer_format(fmt: str | None, output: str | None) -> str:
    if fmt:
        return fmt
    if output:
        for suffix, name in _SUFFIX_FORMAT.items():
            if output.lower().endswith(suffix):
                return name
    return "text"


def _parse_seeds(text: str | None) -> list[int | None]:
    if not text:
        return [None]
    seeds: list[int | None] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            seeds.append(int(part))
        except ValueError:
            raise click.BadParameter(
                f"{part!r} is not an integer (use e.g. --seeds 1,2,3)", param_hint="--seeds"
            ) from None
    if not seeds:
        raise click.BadParameter("give at least one seed, e.g. --seeds 1,2,3", param_hint="--seeds")
    return seeds


@click.command("compare")
@click.argument("refs", nargs=-1, required=True, metavar="PROFILE...")
@click.option(
    "--prompt", "prompt_texts", multiple=True, metavar="TEXT", help="Run the matrix with this prompt (repeatable)."
)
@click.option(
    "--prompts",
    "prompts_file",
    type=click.Path(dir_okay=False),
    metavar="FILE.yaml",
    help="A YAML list of {prompt, name?, system?, expect?}; expect holds contains, not_contains, "
    "regex, max_tokens, json: true (see docs/compare.md).",
)
@click.option("--seeds", "seeds_text", metavar="1,2,3", help="Run every prompt once per seed.")
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Run every (profile, prompt, seed) N times; with a fixed seed this checks determinism.",
)
@click.option("--parallel", type=click.IntRange(min=1), default=1, show_default=True, help=PARALLEL_HELP)
@click.option("--all", "all_params", is_flag=True, help="Table: list every catalogue parameter, not only the set ones.")
@click.option(
    "--no-server",
    is_flag=True,
    help="Table: do not ask a server what it built (quantization, context, embedding length).",
)
@click.option(
    "--ephemeral",
    is_flag=True,
    help="Run without builds, sending each profile's settings to its base model (the table "
    "then reports the base models).",
)
@set_option("Override a key or parameter in every profile (repeatable).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="Output format (default: from the -o suffix .html/.md/.json/.xml, else text). junit needs prompts.",
)
@output_option
@quiet_option
@server_options
def compare(
    refs: tuple[str, ...],
    prompt_texts: tuple[str, ...],
    prompts_file: str | None,
    seeds_text: str | None,
    repeat: int,
    parallel: int,
    all_params: bool,
    no_server: bool,
    ephemeral: bool,
    overrides: tuple[str, ...],
    fmt: str | None,
    output: str | None,
    quiet: bool,
    host: str | None,
    timeout: float | None,
) -> None:
    """Compare PROFILEs side by side.

    Without prompts: the parameter table. Rows are the base model, every parameter any
    profile sets (num_ctx always; --all for the catalogue), system, template, messages
    and adapters, each value tagged with where it comes from (the profile, a file it
    extends, --set, the base model, or Ollama's default for the server's version);
    differing rows are marked. With a reachable server and built models it adds what the
    server made: quantization, context length (trained/configured), embedding length and
    parameter size.

    With --prompt/--prompts: the run matrix (profiles x prompts x seeds x repeats), with
    output, eval count, tokens/s, time to first token, load duration, done_reason and
    assertion results per cell; flags for non-deterministic outputs, reloads and
    truncation; a per-profile summary. Exit 1 if an assertion fails, 4/5 if the server
    fails (the finished cells are still reported).

    \b
    Examples:
      modelctl compare creative precise
      modelctl compare profiles/*.yaml --format markdown
      modelctl compare creative precise --prompts prompts.yaml --seeds 1,2 -o report.html
      modelctl compare creative precise --prompt "Soup?" --repeat 3 --format junit -o junit.xml
    """
    out_fmt = _infer_format(fmt, output)
    matrix_mode = bool(prompt_texts or prompts_file)
    if out_fmt == "junit" and not matrix_mode:
        raise click.UsageError("--format junit needs prompts (--prompt or --prompts): it reports assertions")
    if matrix_mode and no_server:
        raise click.UsageError("--no-server applies to the parameter table; running prompts needs a server")
    if not matrix_mode and (seeds_text or repeat != 1):
        raise click.UsageError("--seeds and --repeat need prompts (--prompt or --prompts)")
    seeds = _parse_seeds(seeds_text)
    envelope_fmt = "json" if out_fmt == "json" else "text"

    def body() -> Result:
        if matrix_mode:
            return _matrix(
                refs,
                prompt_texts,
                prompts_file,
                seeds,
                repeat,
                parallel,
                ephemeral,
                overrides,
                out_fmt,
                quiet,
                host,
                timeout,
            )
        color = out_fmt == "text" and not output and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        return _table(refs, all_params, no_server, ephemeral, overrides, out_fmt, host, timeout, color)

    execute("compare", envelope_fmt, body, output=output, quiet=quiet)


def _resolve_all(resolve: Any, refs: tuple[str, ...]) -> list[Any]:
    """``resolve(ref, index)`` for every ref; every failure is reported at once (first one's exit code)."""
    from modelctl.errors import Diagnostic, ModelctlError

    out: list[Any] = []
    problems: list[Diagnostic] = []
    first: ModelctlError | None = None
    for i, ref in enumerate(refs):
        try:
            out.append(resolve(ref, i))
        except ModelctlError as exc:
            first = first or exc
            problems += exc.diagnostics()
    if first is not None:
        first.extra = problems
        raise first
    return out


def _load_targets(refs: tuple[str, ...], overrides: tuple[str, ...], ephemeral: bool) -> list:  # type: ignore[type-arg]
    """Load every profile first and report every invalid one at once (exit 1)."""
    from modelctl.run import resolve_target

    targets = _resolve_all(
        lambda ref, _i: resolve_target(ref, None, overrides=overrides, ephemeral=ephemeral, check_built=False),
        refs,
    )
    labels = [t.label for t in targets]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise InvalidInput(
            f"two columns would have the same name: {', '.join(dupes)} (each profile needs its own name)"
        )
    return targets


def _server_info(client: object, no_server: bool) -> dict:  # type: ignore[type-arg]
    from modelctl.errors import ModelctlError

    info: dict[str, Any] = {
        "host": getattr(client, "display_host", None),
        "reachable": False,
        "version": None,
        "reason": None,
    }
    if no_server:
        info["reason"] = "--no-server"
        return info
    try:
        info["version"] = client.version()  # type: ignore[attr-defined]
        info["reachable"] = True
    except ModelctlError as exc:
        info["reason"] = exc.message
    return info


def _table(
    refs: tuple[str, ...],
    all_params: bool,
    no_server: bool,
    ephemeral: bool,
    overrides: tuple[str, ...],
    fmt: str,
    host: str | None,
    timeout: float | None,
    color: bool = False,
) -> Result:
    from modelctl import reports
    from modelctl.compare import build_table
    from modelctl.errors import Diagnostic, ModelctlError
    from modelctl.server import ModelNotFound, OllamaClient

    targets = _load_targets(refs, overrides, ephemeral)
    warnings: list[Diagnostic] = [w for t in targets for w in t.warnings]
    with OllamaClient(host, timeout=timeout) as client:
        server = _server_info(client, no_server)
        shows: list[dict[str, Any] | None] = []
        for t in targets:
            if not server["reachable"]:
                shows.append(None)
                continue
            try:
                shows.append(client.show(t.model))
            except ModelNotFound:
                shows.append(None)
            except ModelctlError as exc:
                warnings.append(Diagnostic("server", f"{t.label}: {exc.message}"))
                shows.append(None)
        ps = None
        if server["reachable"]:
            try:
                ps = client.ps()
            except ModelctlError:
                ps = None
    table = build_table(targets, all_params=all_params, server=server, shows=shows, ps=ps)
    renderers = {
        "text": lambda: reports.table_text(table, color=color),
        "markdown": lambda: reports.table_markdown(table),
        "html": lambda: reports.table_html(table),
        "json": lambda: "",
    }
    return Result(data=table.to_dict(), text=renderers[fmt], warnings=warnings)


def _matrix(
    refs: tuple[str, ...],
    prompt_texts: tuple[str, ...],
    prompts_file: str | None,
    seeds: list[int | None],
    repeat: int,
    parallel: int,
    ephemeral: bool,
    overrides: tuple[str, ...],
    fmt: str,
    quiet: bool,
    host: str | None,
    timeout: float | None,
) -> Result:
    from modelctl import reports
    from modelctl.compare import build_table, run_matrix
    from modelctl.errors import Diagnostic, ModelctlError
    from modelctl.prompts import inline_prompts, load_prompts
    from modelctl.run import resolve_target
    from modelctl.server import OllamaClient

    cases = inline_prompts(prompt_texts)
    if prompts_file:
        cases += load_prompts(prompts_file)
        for i, c in enumerate(cases, 1):
            c.index = i
    loaded_targets = _load_targets(refs, overrides, ephemeral)
    warnings: list[Diagnostic] = [w for t in loaded_targets for w in t.warnings]
    with OllamaClient(host, timeout=timeout) as client:
        version = client.version()  # unreachable -> exit 4 before anything runs
        server = {"host": client.display_host, "reachable": True, "version": version, "reason": None}
        targets = _resolve_all(
            lambda ref, i: resolve_target(
                ref, client, overrides=overrides, ephemeral=ephemeral, loaded=loaded_targets[i].loaded
            ),
            refs,
        )
        bar = None
        if fmt != "json" and not quiet and sys.stderr.isatty():
            bar = reports.ProgressBar(len(targets) * len(cases) * len(seeds) * repeat)
        try:
            matrix = run_matrix(
                client,
                targets,
                cases,
                seeds=seeds,
                repeat=repeat,
                parallel=parallel,
                server=server,
                progress=bar.update if bar else None,
            )
        finally:
            if bar is not None:
                bar.close()
        ps = None
        if matrix.aborted is None:
            try:
                ps = client.ps()  # the models are loaded now: the context they really run with
            except ModelctlError:
                ps = None
    matrix.table = build_table(targets, server=server, shows=[t.show for t in targets], ps=ps)
    code = matrix.exit_code()
    renderers = {
        "text": lambda: reports.matrix_text(matrix),
        "markdown": lambda: reports.matrix_markdown(matrix),
        "html": lambda: reports.matrix_html(matrix),
        "junit": lambda: reports.matrix_junit(matrix),
        "json": lambda: "",
    }
    return Result(
        data=matrix.to_dict(),
        text=renderers[fmt],
        ok=int(code) == 0,
        exit_code=code,
        warnings=warnings + matrix.warnings,
        errors=matrix.errors(),
    )
