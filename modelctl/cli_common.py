"""What every command shares: options, error handling, output. click and the stdlib only.

A command's body imports the job it runs and that job's writer, makes one call and hands
the typed result to the writer, which gives a :class:`modelctl.output.Result`;
:func:`execute` prints it as text or as the JSON envelope, maps
:class:`~modelctl.errors.ModelctlError` to its exit code and keeps tracebacks away from
users unless ``MODELCTL_DEBUG=1``. This is the one place that turns exceptions into exit codes.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from modelctl.common import escape
from modelctl.common.files import CONFINE_ENV, check_output, confined, forget_inputs, write_atomic
from modelctl.errors import EXIT_CODE_MEANINGS, Diagnostic, ExitCode, ModelctlError, shown_name, too_long_name
from modelctl.ollama.registry import parse_registry
from modelctl.output import MACHINE_FORMATS, Result, dumps, envelope, term

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


class ExistingPath(click.Path):
    """``click.Path(exists=True)``, except that a name longer than a file name may be passes through
    unchecked: the command then says so plainly (exit 1, the name cut: errors.shown_name), instead
    of a usage error echoing it whole."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(exists=True, **kwargs)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and too_long_name(value):
            return value
        return super().convert(value, param, ctx)


def _confine(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not confined():
        os.environ[CONFINE_ENV] = "1"  # read where profiles are loaded (files.confinement_root)


def confine_option(f: F) -> F:
    """``--confine``: refuse local files outside the profile's repository ($MODELCTL_CONFINE)."""
    return click.option(
        "--confine",
        is_flag=True,
        expose_value=False,
        callback=_confine,
        help="Refuse local files (extends, FROM, ADAPTER, DRAFT, projector) outside the profile's repository, "
        "the nearest folder above it holding .git; for profiles you did not write. An inventory (--hosts) then reads "
        "only the environment variables MODELCTL_ALLOW_ENV names. Also MODELCTL_CONFINE=1, or MODELCTL_CONFINE=DIR "
        "for another root (docs/security.md).",
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


def _registries(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        try:
            parse_registry(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return tuple(v.strip() for v in values)


def insecure_registry_option(f: F) -> F:
    """``--insecure-registry HOST[:PORT]`` (repeatable): registries served over plain http
    (``insecure_registries: tuple[str, ...]``; the matching rule is modelctl.ollama.registry's)."""
    return click.option(
        "--insecure-registry",
        "insecure_registries",
        multiple=True,
        metavar="HOST",
        callback=_registries,
        help="A registry served over plain http, HOST or HOST:PORT (repeatable): base models on it are pulled "
        "with Ollama's `insecure: true`. Without a port: every port of that host (docs/build.md).",
    )(f)


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

    from modelctl.profile.profile import profile_names  # at completion time only: --help stays light

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
    """Print a result; data to stdout (or ``output``), diagnostics to stderr: its errors in every
    format, and, when it failed without one and its output went to a file or a program, what its exit code means.

    ``artifact``: ``output`` is the file the command makes (render's Modelfile, import's profile),
    so it gets the text whatever the format, and the JSON envelope goes to stdout."""
    if output:
        check_output(output)
    drawn = False
    if fmt == "json":
        text = dumps(envelope(command, result.data, ok=result.ok, warnings=result.warnings, errors=result.errors))
        if artifact and output:  # the file gets the artifact (never an envelope); the envelope, stdout
            if result.ok:
                write_atomic(output, result.render_text())
            output = None
    else:
        drawn = result.blocks is not None and not output and term.is_terminal(sys.stdout)
        text = "" if drawn else result.render_text()
        if not result.raw:  # a report: no control character reaches a terminal or a CI log
            text = escape.text(text)
        if not quiet:
            for w in result.warnings:
                _print_diag("warning", w)
    for e in result.errors:
        _print_diag("error", e)
    if not result.ok and not result.errors and (output or fmt in MACHINE_FORMATS):
        term.print_diagnostic("error", EXIT_CODE_MEANINGS[result.exit_code])
    if drawn and result.blocks is not None:
        term.draw(result.blocks())
    elif output:
        write_atomic(output, text)
    elif text:
        click.echo(text, nl=not text.endswith("\n"))


def _failed(command: str, fmt: str, diags: list[Diagnostic], code: ExitCode, output: str | None) -> NoReturn:
    """The one rule for a run that failed after its options were read (any exit but usage, 2): its
    errors on stderr, one line each, and in a format a program reads (json, junit, sarif) the document
    that says so, written where the result would have gone (``-o FILE`` or stdout), so that a CI step
    that uploads the report ``when: always`` finds one (docs/ci.md)."""
    for d in diags:
        _print_diag("error", d)
    from modelctl.output.failure import failure_document  # a failed run only: --help stays light

    doc = failure_document(command, fmt, diags) if code != ExitCode.USAGE else None
    if doc is not None:
        try:
            if output:
                check_output(output)  # a failed run's report never replaces an input either
                write_atomic(output, doc)
            else:
                click.echo(doc, nl=False)
        except ModelctlError as exc:
            for d in exc.diagnostics():
                _print_diag("error", d)
        except OSError as exc:
            click.echo(f"error: {shown_name(output) or 'stdout'}: {exc.strerror or exc}", err=True)
    _print_traceback()
    sys.exit(int(code))


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
    forget_inputs()
    try:
        result = body()
    except ModelctlError as exc:
        _failed(command, fmt, exc.diagnostics(), exc.exit_code, None if artifact else output)
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
        _internal_error(command, fmt, exc, None if artifact else output)
    try:
        emit(command, fmt, result, output=output, quiet=quiet, artifact=artifact)
    except ModelctlError as exc:
        for d in exc.diagnostics():
            _print_diag("error", d)
        sys.exit(int(exc.exit_code))
    except OSError as exc:
        click.echo(escape.line(f"error: {shown_name(output) or 'stdout'}: {exc.strerror or exc}"), err=True)
        sys.exit(int(ExitCode.INVALID))
    sys.exit(int(result.exit_code))


def _internal_error(command: str, fmt: str, exc: Exception, output: str | None) -> NoReturn:
    """A bug in modelctl: say so in one line, the traceback only on request; exit 1. But an
    argument longer than a file name may be (wherever the command first touched it) is a plain
    error naming it, cut (errors.shown_name)."""
    if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
        diag = Diagnostic("name_too_long", "the name is longer than a file name may be", str(exc.filename or "?"))
        _failed(command, fmt, [diag], ExitCode.INVALID, output)
    msg = f"internal error: {type(exc).__name__}: {exc} (set MODELCTL_DEBUG=1 for the traceback)"
    _failed(command, fmt, [Diagnostic("internal", msg)], ExitCode.INVALID, output)
