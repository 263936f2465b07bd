"""``modelctl run PROFILE|MODEL [PROMPT]``: one generation, streamed, with ``--verbose`` stats."""

from __future__ import annotations

import sys

import click

from modelctl.cli_common import execute, format_option, quiet_option, server_options, set_option
from modelctl.errors import Diagnostic, InvalidInput
from modelctl.output import Result


@click.command("run")
@click.argument("ref", metavar="PROFILE|MODEL")
@click.argument("prompt", required=False)
@click.option(
    "--ephemeral",
    is_flag=True,
    help="Do not use a built model: send the profile's system, template, messages and "
    "parameters with the request to its base model (not for a local-file base).",
)
@set_option("Override a profile key or parameter for this run (repeatable), e.g. --set temperature=0.2.")
@click.option("--seed", type=int, default=None, help="Random seed for this run (overrides the profile's).")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="After the answer, print to stderr what `ollama run --verbose` prints, plus time to "
    "first token and done_reason.",
)
@server_options
@format_option("text", "json")
@quiet_option
def run(
    ref: str,
    prompt: str | None,
    ephemeral: bool,
    overrides: tuple[str, ...],
    seed: int | None,
    verbose: bool,
    host: str | None,
    timeout: float | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Generate an answer to PROMPT with PROFILE's model (or a plain MODEL) and stream it.

    PROMPT comes from the argument, else from stdin. The model built from the profile
    (`modelctl build`) is used; --ephemeral runs without a build. Requests go to
    /api/chat when the profile has messages, else /api/generate. Ctrl-C stops the
    stream (exit 130). --format json prints the whole response with its metrics.

    \b
    Examples:
      modelctl run creative "Give me a dessert idea"
      echo "Convert 350F to C" | modelctl run precise --verbose
      modelctl run creative --ephemeral --set temperature=0.2 --seed 1 "Soup?"
      modelctl run llama3.2:3b "Hello" --format json
    """
    if prompt is None:
        if sys.stdin is None or sys.stdin.isatty():
            raise click.UsageError("give a PROMPT argument or pipe the prompt on stdin")
        prompt = sys.stdin.read()
    text = prompt

    def body() -> Result:
        from modelctl.run import RunResult, build_request, resolve_target, verbose_lines
        from modelctl.run import execute as run_once
        from modelctl.server import OllamaClient

        if not text.strip():
            raise InvalidInput("the prompt is empty", field="PROMPT")
        with OllamaClient(host, timeout=timeout) as client:
            target = resolve_target(ref, client, overrides=overrides, seed=seed, ephemeral=ephemeral)
            req = build_request(target, text)
            if fmt == "text" and not quiet:
                for w in target.warnings:
                    click.echo(f"warning: {w.format()}", err=True)
            streaming = fmt == "text"
            out = sys.stdout
            wrote = [False]

            def on_token(piece: str) -> None:
                out.write(piece)
                out.flush()
                wrote[0] = True

            res = RunResult(target.endpoint, target.model)
            try:
                run_once(client, req, on_token=on_token if streaming else None, result=res)
            except KeyboardInterrupt:
                if streaming and wrote[0]:
                    out.write("\n")
                    out.flush()
                raise
        warnings: list[Diagnostic] = [] if streaming else list(target.warnings)
        if res.done_reason == "length":
            warnings.append(
                Diagnostic(
                    "truncated",
                    "the answer stopped at the token limit (done_reason=length; see num_predict/num_ctx)",
                )
            )
        if streaming:
            if res.text and not res.text.endswith("\n"):
                out.write("\n")
                out.flush()
            if verbose:
                click.echo("", err=True)
                for line in verbose_lines(res):
                    click.echo(line, err=True)
            return Result(data=None, text="", warnings=warnings)
        data = {
            "target": target.to_dict(),
            "request": req,
            **res.to_dict(),
        }
        return Result(data=data, text="", warnings=warnings)

    execute("run", fmt, body, quiet=quiet)
