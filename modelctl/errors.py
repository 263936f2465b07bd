"""One error hierarchy and the exit-code table (docs/exit-codes.md mirrors it; a test keeps them equal).

Every error the user can cause is a :class:`ModelctlError` carrying its exit code and,
where known, the place it comes from (file, line, column, dotted field). The CLI prints
it as one line on stderr, or as an entry of the JSON envelope's ``errors``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from modelctl.common.jsontypes import JSONObject

T = TypeVar("T")
R = TypeVar("R")


class ExitCode(enum.IntEnum):
    OK = 0
    INVALID = 1  # invalid input (profile, Modelfile, template, inventory, prompts file)
    USAGE = 2  # command-line usage (click)
    DRIFT = 3  # drift found by `plan` or `render --check`
    UNREACHABLE = 4  # Ollama server unreachable or timed out
    SERVER = 5  # Ollama server refused or failed the request
    CHECK = 6  # a check on the model failed (a compare assertion, a --verify mismatch)
    INTERRUPTED = 130  # Ctrl-C


EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.INVALID: "invalid input: a profile, Modelfile, template, inventory or prompts file (also a profile "
    "that does not survive its own round trip)",
    ExitCode.USAGE: "command-line usage error (unknown option, missing argument)",
    ExitCode.DRIFT: "drift: what is deployed differs from the profile (`plan`; with `--lock`, also a locked model "
    "no profile makes any more), or a committed Modelfile from what its profile renders (`render --check`), or a "
    "base model changed on its registry since the lock (`outdated`)",
    ExitCode.UNREACHABLE: "the Ollama server is unreachable or timed out",
    ExitCode.SERVER: "the Ollama server refused or failed the request (also: it holds what modelctl cannot write, "
    "e.g. a template `show --modelfile` cannot put in a Modelfile)",
    ExitCode.CHECK: "a check on the model failed: `compare` assertions below `--min-pass-rate`, a `--verify` mismatch "
    "of the runtime context, `probe` below `--min-context` (or unable to check it: a server that never refuses an "
    "over-long prompt)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}

#: One exit code for a run over several hosts or profiles: the first of these that occurred. Broken
#: input and usage come first (they stop a run before any server is asked), then a server that
#: cannot be reached, one that failed, a failed check on a model, drift, success (design.md §6).
PRECEDENCE: tuple[ExitCode, ...] = (
    ExitCode.INTERRUPTED,
    ExitCode.USAGE,
    ExitCode.INVALID,
    ExitCode.UNREACHABLE,
    ExitCode.SERVER,
    ExitCode.CHECK,
    ExitCode.DRIFT,
    ExitCode.OK,
)


def overall_exit_code(codes: Iterable[ExitCode | int]) -> ExitCode:
    """The one exit code of a run whose hosts or profiles ended with ``codes`` (see PRECEDENCE)."""
    seen = {ExitCode(int(c)) for c in codes}
    return next((c for c in PRECEDENCE if c in seen), ExitCode.OK)


class JobResult:
    """What every job returns says its exit code one way: :meth:`exit_code`, the codes of what
    happened in it (:meth:`outcome_codes`: a failed build's error, drift, a failed check...) by
    the one rule above (:func:`overall_exit_code`). A result says only what happened; this is
    the only place that turns it into a code. The CLI prints ``exit_code()``; a library caller
    reads the same. A result nothing can fail in keeps the default: no codes, exit 0.

    A plain class (no fields, no slots of its own): the results are dataclasses that add it.
    """

    __slots__ = ()

    def outcome_codes(self) -> Iterable[ExitCode]:
        """The codes of what happened in this result (each part's; OK parts may be left out)."""
        return ()

    def exit_code(self) -> ExitCode:
        """The result's exit code: its outcome codes by errors.PRECEDENCE (none: 0)."""
        return overall_exit_code(self.outcome_codes())


#: The most of a file name echoed back when it is longer than any file name can be.
SHOWN_NAME_CHARS = 80
_NAME_MAX = 255  # bytes in one path component on every common file system (ext4, APFS, NTFS)


def too_long_name(name: str) -> bool:
    """Whether a path has a component longer than a file name may be (it cannot name a file)."""
    return any(len(part.encode("utf-8", "surrogateescape")) > _NAME_MAX for part in name.replace("\\", "/").split("/"))


def shown_name(name: str | None) -> str | None:
    """A file name as echoed in a message: whole, unless it cannot be one (:func:`too_long_name`);
    then cut to SHOWN_NAME_CHARS characters, its length said."""
    if name is None or not too_long_name(name):
        return name
    return f"{name[: SHOWN_NAME_CHARS - 30]}... ({len(name):,} characters)"


class Diagnostic:
    """A warning or error with its place. ``code`` is a short stable identifier.

    A plain class rather than a dataclass: `dataclasses` pulls in `inspect`, and this module
    is imported by `modelctl --help`.
    """

    __slots__ = ("code", "message", "file", "line", "column", "field")

    def __init__(
        self,
        code: str,
        message: str,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.field = field

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Diagnostic) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(tuple(self.to_dict().values()))

    def __repr__(self) -> str:
        return f"Diagnostic({self.format()!r}, code={self.code!r})"

    def location(self) -> str:
        parts = [p for p in (shown_name(self.file), self.line, self.column) if p is not None]
        return ":".join(str(p) for p in parts)

    def format(self) -> str:
        """One line: ``file:line:col: field: message``."""
        head = self.location()
        body = f"{self.field}: {self.message}" if self.field else self.message
        return f"{head}: {body}" if head else body

    def to_dict(self) -> JSONObject:
        return {
            "code": self.code,
            "message": self.message,
            "file": shown_name(self.file),
            "line": self.line,
            "column": self.column,
            "field": self.field,
        }


class ModelctlError(Exception):
    """Base of every error modelctl reports to a user."""

    exit_code: ExitCode = ExitCode.INVALID
    code: str = "invalid"

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
        code: str | None = None,
        diagnostics: list[Diagnostic] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        if code is not None:
            self.code = code
        # Several problems found at once (e.g. validation); the first is the headline.
        self.extra: list[Diagnostic] = diagnostics or []

    def diagnostic(self) -> Diagnostic:
        return Diagnostic(self.code, self.message, self.file, self.line, self.column, self.field)

    def diagnostics(self) -> list[Diagnostic]:
        return self.extra or [self.diagnostic()]

    def __str__(self) -> str:
        return self.diagnostic().format()


class InvalidInput(ModelctlError):
    """A profile, Modelfile, template, prompts file or option value that cannot be used."""


class ProfileError(InvalidInput):
    code = "profile"


class ModelfileError(InvalidInput):
    code = "modelfile"


class UnrepresentableValue(ModelfileError):
    """A value no Modelfile can carry; ``value_line``/``value_column`` point inside the value,
    ``char`` is the character Ollama's parser would drop (None for a line ending in three quotes)."""

    code = "unrepresentable"

    def __init__(self, message: str, *, field: str, value_line: int, value_column: int, char: str | None) -> None:
        super().__init__(message, field=field)
        self.value_line = value_line
        self.value_column = value_column
        self.char = char


class TemplateError(InvalidInput):
    code = "template"


class GGUFError(InvalidInput):
    code = "gguf"


class CheckFailed(InvalidInput):
    """A profile failed a check of its own (the round trip through Ollama's grammar): exit 1."""

    code = "check_failed"


class ModelCheckFailed(ModelctlError):
    """A check on a model failed (``--verify``, compare assertions below ``--min-pass-rate``): exit 6."""

    exit_code = ExitCode.CHECK
    code = "model_check_failed"


class UsageProblem(ModelctlError):
    """Options that do not fit together, found after click parsed them (e.g. a second --host for a
    command that talks to one server): exit 2, like click's own usage errors."""

    exit_code = ExitCode.USAGE
    code = "usage"


class DriftFound(ModelctlError):
    exit_code = ExitCode.DRIFT
    code = "drift"


class ServerUnreachable(ModelctlError):
    exit_code = ExitCode.UNREACHABLE
    code = "unreachable"


class ServerError(ModelctlError):
    exit_code = ExitCode.SERVER
    code = "server"

    def __init__(self, message: str, *, status: int | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.status = status


class ErrorGroup(ModelctlError):
    """Several failures reported at once (every invalid profile, every failed build).

    The exit code is the group's by :data:`PRECEDENCE`; the first error gives the code; every
    error's diagnostics are listed.
    """

    def __init__(self, errors: list[ModelctlError], diagnostics: list[Diagnostic] | None = None) -> None:
        if not errors:
            raise ValueError("an ErrorGroup needs at least one error")
        diags = diagnostics if diagnostics is not None else [d for e in errors for d in e.diagnostics()]
        super().__init__(diags[0].message if diags else errors[0].message, code=errors[0].code, diagnostics=diags)
        self.errors = list(errors)
        self.exit_code = overall_exit_code(e.exit_code for e in errors)


def combine(errors: list[ModelctlError]) -> ModelctlError:
    """One error to raise for ``errors``: the error itself when there is one, else a group."""
    return errors[0] if len(errors) == 1 else ErrorGroup(errors)


def gather(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``fn(item)`` for every item, in order. When some raise a ModelctlError, all of them are
    raised together once every item ran: a run whose input is broken reports every problem at once."""
    results: list[R] = []
    errors: list[ModelctlError] = []
    for item in items:
        try:
            results.append(fn(item))
        except ModelctlError as exc:
            errors.append(exc)
    if errors:
        raise combine(errors)
    return results
