"""``modelctl compare PROFILE...``: the parameter table, or with prompts the run matrix."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from modelctl.cli_common import (
    complete_profiles,
    confine_option,
    execute,
    fleet_options,
    output_option,
    quiet_option,
    set_option,
)
from modelctl.output import Result

if TYPE_CHECKING:
    from modelctl.jobs.compare import CompareOptions

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
@click.argument("refs", nargs=-1, required=True, metavar="PROFILE...", shell_complete=complete_profiles)
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
@click.option(
    "--min-pass-rate",
    type=click.FloatRange(0.0, 1.0),
    default=1.0,
    show_default=True,
    metavar="FRACTION",
    help="Prompts: the share of assertions that must pass; below it the check fails (exit 6).",
)
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
@click.option(
    "--no-truncate",
    is_flag=True,
    help="Prompts: a prompt longer than the context fails its cell (with its length and the context) "
    "instead of being cut by the server (sends truncate: false; Ollama 0.12.6+).",
)
@click.option(
    "--sweep",
    "sweeps",
    multiple=True,
    metavar="NAME=V1,V2",
    help="Prompts, one PROFILE: run every combination of these parameter values (repeatable; "
    "nothing is created on the server) and rank the settings by pass rate, then eval rate.",
)
@click.option(
    "--save-best",
    type=click.Path(dir_okay=False),
    metavar="FILE.yaml",
    help="With --sweep: write the winning setting as a profile that extends PROFILE with only the changed values "
    "(an existing FILE only with --force).",
)
@click.option("--force", is_flag=True, help="With --save-best: replace FILE when it exists.")
@set_option("Override a key or parameter in every profile (repeatable).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="Output format (default: from the -o suffix .html/.md/.json/.xml, else text). junit needs prompts.",
)
@confine_option
@output_option
@quiet_option
@fleet_options
def compare(
    refs: tuple[str, ...],
    prompt_texts: tuple[str, ...],
    prompts_file: str | None,
    seeds_text: str | None,
    repeat: int,
    parallel: int,
    min_pass_rate: float,
    all_params: bool,
    no_server: bool,
    ephemeral: bool,
    no_truncate: bool,
    sweeps: tuple[str, ...],
    save_best: str | None,
    force: bool,
    overrides: tuple[str, ...],
    fmt: str | None,
    output: str | None,
    quiet: bool,
    hosts: tuple[str, ...],
    inventory: str | None,
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
    assertion results per cell; flags for non-deterministic outputs, reloads, answers cut
    at the token limit (length) and prompts the server cut to fit the context
    (prompt_truncated; --no-truncate makes those cell errors); a per-profile summary.
    With --sweep, one PROFILE runs under every combination of the values given, and the
    settings are ranked (pass rate, then eval rate); --save-best writes the winner as a
    profile extending PROFILE. Exit 6 when fewer assertions pass than
    --min-pass-rate asks (all, by default), 4/5 if the server fails (the finished cells
    are still reported). Prompts run on one server; the table runs on several hosts at
    once (--host repeated, or --hosts INVENTORY), one table per host.

    \b
    Examples:
      modelctl compare creative precise
      modelctl compare profiles/*.yaml --format markdown
      modelctl compare creative precise --prompts prompts.yaml --seeds 1,2 -o report.html
      modelctl compare creative precise --prompt "Soup?" --repeat 3 --format junit -o junit.xml
      modelctl compare precise --sweep temperature=0.2,0.7 --sweep top_p=0.5,0.9 --prompts p.yaml --save-best b.yaml
    """
    out_fmt = _infer_format(fmt, output)
    matrix_mode = bool(prompt_texts or prompts_file)
    if out_fmt == "junit" and not matrix_mode:
        raise click.UsageError("--format junit needs prompts (--prompt or --prompts): it reports assertions")
    if matrix_mode and no_server:
        raise click.UsageError("--no-server applies to the parameter table; running prompts needs a server")
    if not matrix_mode and (seeds_text or repeat != 1):
        raise click.UsageError("--seeds and --repeat need prompts (--prompt or --prompts)")
    if matrix_mode and len(hosts) > 1:
        raise click.UsageError("prompts run on one server: give --host once (the table takes several)")
    _check_sweep(refs, sweeps, save_best, matrix_mode)
    if force and not save_best:
        raise click.UsageError("--force replaces the --save-best file: give --save-best FILE.yaml")
    if no_truncate and not matrix_mode:
        raise click.UsageError("--no-truncate needs prompts (--prompt or --prompts)")
    seeds = _parse_seeds(seeds_text)

    def body() -> Result:
        from modelctl.jobs.compare import CompareOptions
        from modelctl.jobs.compare import compare as run_compare
        from modelctl.jobs.matrix import Matrix
        from modelctl.output.compare import NoticesFirst, matrix_result, table_fleet_result, table_result
        from modelctl.output.progress import Progress, should_show
        from modelctl.profile.inventory import one_host

        options = CompareOptions(
            prompts=prompt_texts,
            prompts_file=prompts_file,
            seeds=seeds,
            repeat=repeat,
            parallel=parallel,
            all_params=all_params,
            no_server=no_server,
            ephemeral=ephemeral,
            overrides=overrides,
            min_pass_rate=min_pass_rate,
            no_truncate=no_truncate,
        )
        if sweeps:
            return _sweep(refs[0], sweeps, options, (save_best, force), out_fmt, quiet, hosts, inventory, timeout)
        if not matrix_mode and (len(hosts) > 1 or inventory is not None):
            from modelctl.jobs.fleet import compare_hosts

            fleet = compare_hosts(refs, options, hosts=hosts, inventory=inventory, timeout=timeout)
            return table_fleet_result(fleet, out_fmt)
        progress = Progress(should_show("text" if out_fmt != "json" else "json", quiet))
        sink = NoticesFirst(progress, show=out_fmt != "json" and not quiet)
        try:
            server = one_host(hosts[0] if hosts else None, inventory, "compare --prompt")
            result = run_compare(refs, options, host=server, timeout=timeout, on_event=sink)
        finally:
            progress.close()
        if isinstance(result, Matrix):
            return sink.drop_shown(matrix_result(result, out_fmt))
        return table_result(result, out_fmt)

    execute("compare", out_fmt, body, output=output, quiet=quiet)


def _check_sweep(refs: tuple[str, ...], sweeps: tuple[str, ...], save_best: str | None, matrix_mode: bool) -> None:
    if save_best and not sweeps:
        raise click.UsageError("--save-best needs --sweep: it saves the winning setting")
    if sweeps and len(refs) != 1:
        raise click.UsageError("--sweep runs the settings of one PROFILE (give one)")
    if sweeps and not matrix_mode:
        raise click.UsageError("--sweep needs prompts (--prompt or --prompts) to run the settings on")


def _sweep(
    ref: str,
    sweeps: tuple[str, ...],
    options: CompareOptions,
    save: tuple[str | None, bool],
    out_fmt: str,
    quiet: bool,
    hosts: tuple[str, ...],
    inventory: str | None,
    timeout: float | None,
) -> Result:
    """``--sweep``: the settings' run matrix, ranked (the sweep job, its writer, its exit code);
    ``save``: --save-best's file and --force."""
    from modelctl.jobs.sweep import sweep
    from modelctl.output.progress import Progress, should_show
    from modelctl.output.sweep import sweep_result
    from modelctl.profile.inventory import one_host

    progress = Progress(should_show("text" if out_fmt != "json" else "json", quiet))
    try:
        server = one_host(hosts[0] if hosts else None, inventory, "compare --sweep")
        result = sweep(
            ref, sweeps, options, save_best=save[0], replace=save[1], host=server, timeout=timeout, on_event=progress
        )
    finally:
        progress.close()
    return sweep_result(result, out_fmt)
