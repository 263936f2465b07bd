"""``modelctl run PROFILE|MODEL [PROMPT]``: one generation, streamed, with ``--verbose`` stats."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from modelctl.cli_common import (
    complete_profiles,
    confine_option,
    execute,
    format_option,
    quiet_option,
    server_options,
    set_option,
)
from modelctl.output import Result

if TYPE_CHECKING:
    from modelctl.jobs.run import RunOptions


@click.command("run")
@click.argument("ref", metavar="PROFILE|MODEL", shell_complete=complete_profiles)
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
    "--no-truncate",
    is_flag=True,
    help="A prompt longer than the context is an error (exit 5, with the prompt's length and the "
    "context) instead of being cut by the server without a word (sends truncate: false; Ollama 0.12.6+).",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="After the answer, print to stderr what `ollama run --verbose` prints, plus time to "
    "first token and done_reason.",
)
@confine_option
@server_options
@format_option("text", "json")
@quiet_option
def run(
    ref: str,
    prompt: str | None,
    ephemeral: bool,
    overrides: tuple[str, ...],
    seed: int | None,
    no_truncate: bool,
    verbose: bool,
    host: str | None,
    inventory: str | None,
    timeout: float | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Generate an answer to PROMPT with PROFILE's model (or a plain MODEL) and stream it.

    PROMPT comes from the argument, else from stdin. The model built from the profile
    (`modelctl build`) is used; --ephemeral runs without a build. Requests go to
    /api/chat when the profile has messages, else /api/generate. Ctrl-C stops the
    stream (exit 130). --format json prints the whole response with its metrics.

    Without PROMPT on a terminal, a chat opens, as `ollama run` does: the conversation
    is kept; /set parameter NAME VALUE, /show parameters, /set system, /clear; /save
    FILE.yaml writes the chat's settings as a profile that extends PROFILE with only
    what changed. Ctrl-C stops an answer, Ctrl-D (or /bye) ends the chat.

    \b
    Examples:
      modelctl run creative "Give me a dessert idea"
      echo "Convert 350F to C" | modelctl run precise --verbose
      modelctl run creative --ephemeral --set temperature=0.2 --seed 1 "Soup?"
      modelctl run llama3.2:3b "Hello" --format json
    """
    from modelctl.jobs.run import RunOptions  # the job's module, loaded only when the command runs

    options = RunOptions(ephemeral=ephemeral, overrides=overrides, seed=seed, truncate=not no_truncate)
    if prompt is None and sys.stdin is not None and sys.stdin.isatty():
        if fmt == "json":
            raise click.UsageError("a chat prints no JSON: give a PROMPT (or pipe it on stdin) for --format json")
        _chat(ref, verbose, options, host=host, timeout=timeout)
        return
    if prompt is None:
        if sys.stdin is None:
            raise click.UsageError("give a PROMPT argument or pipe the prompt on stdin")
        prompt = sys.stdin.read()
    text = prompt

    def body() -> Result:
        from modelctl.jobs.run import run as run_prompt
        from modelctl.output.run import AnswerPrinter, run_result
        from modelctl.profile.inventory import one_host

        server = one_host(host, inventory, "run")

        printer = AnswerPrinter(stream=fmt == "text", quiet=quiet)
        try:
            report = run_prompt(ref, text, options, host=server, timeout=timeout, on_event=printer)
        finally:
            printer.end_line()
        return run_result(report, streamed=fmt == "text", verbose=verbose)

    execute("run", fmt, body, quiet=quiet)


def _chat(ref: str, verbose: bool, options: RunOptions, *, host: str | None, timeout: float | None) -> None:
    """``run`` on a terminal without a prompt: the chat (its loop is output/chat.py)."""

    def body() -> Result:
        from modelctl.jobs.chat import open_chat
        from modelctl.output.chat import chat_loop

        with open_chat(ref, options, host=host, timeout=timeout) as session:
            return Result(exit_code=chat_loop(session, verbose=verbose))

    execute("run", "text", body)
