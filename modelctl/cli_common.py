"""What every command shares: options, error handling, output. click and the stdlib only.

A command's body imports the job it runs and that job's writer, makes one call and hands
the typed result to the writer, which gives a :class:`modelctl.output.Result`;
:func:`execute` prints it as text or as the JSON envelope, maps
:class:`~modelctl.errors.ModelctlError` to its exit code and keeps tracebacks away from
users unless ``MODELCTL_DEBUG=1``. This is the one place that turns exceptions into exit codes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from modelctl.errors import Diagnostic, ExitCode, ModelctlError
from modelctl.files import CONFINE_ENV, write_atomic
from modelctl.output import Result, dumps, envelope, term

F = TypeVar("F", bound=Callable[..., Any])


def format_option(*choices: str, default: str = "text") -> Callable[[F], F]:
    names = choices or ("text", "json")
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(names),
        default=default,
        show_default=True,
        help="Output format. json prints the versioned envelope described in docs/json.md.",
    )


#: How -o writes, for every command's help (docs/security.md says more).
OUTPUT_HELP = (
    "atomically for a regular file (a symbolic link is followed: its target is replaced, the link stays); "
    "devices and FIFOs such as /dev/stdout or /dev/null are written straight through, never replaced."
)


def output_option(f: F) -> F:
    return click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, writable=True),
        default=None,
        help=f"Write the output to FILE instead of stdout: {OUTPUT_HELP}",
    )(f)


def _confine(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and os.environ.get(CONFINE_ENV, "").strip().lower() in ("", "0", "no", "false", "off"):
        os.environ[CONFINE_ENV] = "1"  # read where profiles are loaded (files.confinement_root)


def confine_option(f: F) -> F:
    """``--confine``: refuse local files outside the profile's repository ($MODELCTL_CONFINE)."""
    return click.option(
        "--confine",
        is_flag=True,
        expose_value=False,
        callback=_confine,
        help="Refuse local files (extends, FROM, ADAPTER, DRAFT, projector) outside the profile's repository, "
        "the nearest folder above it holding .git; for profiles you did not write. Also MODELCTL_CONFINE=1, or "
        "MODELCTL_CONFINE=DIR for another root (docs/security.md).",
    )(f)


def template_option(f: F) -> F:
    """``--template FILE``: a Jinja template instead of the shipped templates/Modelfile.j2."""
    return click.option(
        "--template",
        "template",
        type=click.Path(dir_okay=False),
        default=None,
        metavar="FILE",
        help="Jinja template for the Modelfile, instead of the shipped templates/Modelfile.j2.",
    )(f)


def no_local_files_option(effect: str) -> Callable[[F], F]:
    """``--no-local-files``: skip reading the local files profiles name; EFFECT says what is still done."""
    return click.option(
        "--no-local-files",
        is_flag=True,
        help="Do not read the local files profiles name (FROM, ADAPTER, DRAFT, projector): for repositories "
        "that do not commit weights. " + effect,
    )


def quiet_option(f: F) -> F:
    return click.option("-q", "--quiet", is_flag=True, help="Print no warnings or progress.")(f)


def set_option(help: str | None = None) -> Callable[[F], F]:  # noqa: A002 - click's own keyword
    """``--set KEY=VALUE`` (repeatable): override a profile value after loading."""
    return click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help=help
        or "Override a profile value after loading (repeatable): parameters.temperature=0.2, or the short "
        "form temperature=0.2. Validated like the file.",
    )


HOST_HELP = "Ollama server (default: $OLLAMA_HOST, else http://127.0.0.1:11434); with --hosts, a host's name there."
HOSTS_HELP = (
    "An inventory of hosts (docs/fleet.md): names, URLs, headers read from the environment, per-host "
    "profiles and server facts."
)


def _timeout_option(f: F) -> F:
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0.1),
        default=None,
        help="Deadline in seconds: a short request must be answered in full, a stream or upload must make "
        "progress within it (default: 30 s and 600 s; see docs/server.md).",
    )(f)


def _inventory_option(f: F) -> F:
    return click.option(
        "--hosts", "inventory", type=click.Path(dir_okay=False), default=None, metavar="INVENTORY.yaml", help=HOSTS_HELP
    )(f)


def _one_host(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> str | None:
    if len(value) > 1:
        raise click.UsageError(f"{ctx.info_name} talks to one server: give --host once", ctx=ctx)
    return value[0] if value else None


def server_options(f: F) -> F:
    """``--host URL|NAME`` (once), ``--hosts INVENTORY``, ``--timeout``: a command that talks to one server.

    ``--host`` is declared repeatable so that a second one is refused (exit 2) instead of
    silently replacing the first; the command receives ``host: str | None``."""
    f = _timeout_option(f)
    f = _inventory_option(f)
    return click.option("--host", multiple=True, callback=_one_host, metavar="URL", help=HOST_HELP)(f)


def fleet_options(f: F) -> F:
    """``--host`` (repeatable), ``--hosts INVENTORY``, ``--timeout``: a command that runs on several
    servers at once (``hosts: tuple[str, ...]``)."""
    f = _timeout_option(f)
    f = _inventory_option(f)
    return click.option(
        "--host",
        "hosts",
        multiple=True,
        metavar="URL",
        help=HOST_HELP + " Repeat it to run on several servers at once.",
    )(f)


def complete_profiles(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion for a PROFILE argument: the profile names found in ./profiles and
    $MODELCTL_PROFILES, and the shell's own file completion when none matches."""
    from click.shell_completion import CompletionItem

    from modelctl.profile import profile_names  # at completion time only: --help stays light

    names = [CompletionItem(n) for n in profile_names() if n.startswith(incomplete)]
    return [CompletionItem(incomplete, type="file"), *names]


def debug_enabled() -> bool:
    return os.environ.get("MODELCTL_DEBUG", "") not in ("", "0")


def _print_traceback() -> None:
    if debug_enabled():
        import traceback

        traceback.print_exc()


def _print_diag(kind: str, d: Diagnostic) -> None:
    """``error: file:line:col: field: message`` on stderr, the kind coloured on a terminal."""
    term.print_diagnostic(kind, d.format())


def emit(
    command: str, fmt: str, result: Result, *, output: str | None = None, quiet: bool = False, artifact: bool = False
) -> None:
    """Print a result; data to stdout (or ``output``), diagnostics to stderr.

    ``artifact``: ``output`` is the file the command makes (render's Modelfile, import's profile),
    so it gets the text whatever the format, and the JSON envelope goes to stdout."""
    drawn = False
    if fmt == "json":
        text = dumps(envelope(command, result.data, ok=result.ok, warnings=result.warnings, errors=result.errors))
        if artifact and output and result.ok:
            write_atomic(output, result.render_text())
            output = None
    else:
        drawn = result.blocks is not None and not output and term.is_terminal(sys.stdout)
        text = "" if drawn else result.render_text()
        if not quiet:
            for w in result.warnings:
                _print_diag("warning", w)
        for e in result.errors:
            _print_diag("error", e)
    if drawn and result.blocks is not None:
        term.draw(result.blocks())
    elif output:
        write_atomic(output, text)
    elif text:
        click.echo(text, nl=not text.endswith("\n"))


def execute(
    command: str,
    fmt: str,
    body: Callable[[], Result],
    *,
    output: str | None = None,
    quiet: bool = False,
    artifact: bool = False,
) -> None:
    """Run a command body and exit with the documented code. Never lets a traceback out.
    ``artifact``: see :func:`emit`."""
    try:
        result = body()
    except ModelctlError as exc:
        diags = exc.diagnostics()
        if fmt == "json":
            click.echo(dumps(envelope(command, None, ok=False, errors=diags)), nl=False)
        else:
            for d in diags:
                _print_diag("error", d)
        _print_traceback()
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    except click.exceptions.Exit:
        raise
    except (click.ClickException, click.Abort):
        raise
    except BrokenPipeError:
        # stdout closed early (e.g. piped to `head`): not an error of ours.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        sys.exit(int(ExitCode.OK))
    except Exception as exc:  # a bug in modelctl: say so in one line, traceback only on request
        _print_traceback()
        msg = f"internal error: {type(exc).__name__}: {exc} (set MODELCTL_DEBUG=1 for the traceback)"
        if fmt == "json":
            click.echo(dumps(envelope(command, None, ok=False, errors=[Diagnostic("internal", msg)])), nl=False)
        else:
            click.echo(f"error: {msg}", err=True)
        sys.exit(int(ExitCode.INVALID))
    try:
        emit(command, fmt, result, output=output, quiet=quiet, artifact=artifact)
    except ModelctlError as exc:
        for d in exc.diagnostics():
            _print_diag("error", d)
        sys.exit(int(exc.exit_code))
    except OSError as exc:
        click.echo(f"error: {output or 'stdout'}: {exc.strerror or exc}", err=True)
        sys.exit(int(ExitCode.INVALID))
    sys.exit(int(result.exit_code))
