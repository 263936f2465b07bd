"""The writers: every text, JSON, markdown, HTML and JUnit output modelctl prints or writes.

A command hands a job's typed result to the writer of its module here (``output.build``,
``output.compare``, ...), which returns a :class:`Result`: the JSON ``data``, a text
rendering, the diagnostics and the exit code the command chose. ``cli_common.execute``
prints it. This package's ``__init__`` is standard library only: ``--help`` imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from modelctl.common.jsontypes import JSONObject
from modelctl.errors import Diagnostic, ExitCode

SCHEMA_VERSION = 1


def envelope(
    command: str,
    data: Any,
    *,
    ok: bool = True,
    warnings: Iterable[Diagnostic] = (),
    errors: Iterable[Diagnostic] = (),
) -> JSONObject:
    """The one JSON shape every command prints with ``--format json`` (docs/json.md)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "ok": ok,
        "data": data,
        "warnings": [w.to_dict() for w in warnings],
        "errors": [e.to_dict() for e in errors],
    }


#: The formats a program reads: a run that fails still writes one (``output.failure``).
MACHINE_FORMATS = ("json", "junit", "sarif")


def dumps(obj: Any) -> str:
    import json  # here, not at the top: --help imports this package

    return json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


class Result:
    """What a command prints: data for JSON, a text rendering for humans, diagnostics, exit code.

    Text output is escaped (``modelctl.common.escape``) where it is written, unless ``raw``.
    ``blocks`` (instead of ``text``) is the text as a list of strings and tables
    (:class:`modelctl.output.text.Table`): plain for pipes and files, drawn with rich when
    stdout is a terminal (``cli_common.emit`` decides).
    """

    def __init__(
        self,
        data: Any = None,
        text: str | Callable[[], str] = "",
        exit_code: ExitCode = ExitCode.OK,
        warnings: Iterable[Diagnostic] = (),
        errors: Iterable[Diagnostic] = (),
        blocks: Callable[[], Sequence[Any]] | None = None,
        raw: bool = False,
    ) -> None:
        self.data = data
        self.text = text
        self.exit_code = exit_code
        self.warnings: list[Diagnostic] = list(warnings)
        self.errors: list[Diagnostic] = list(errors)
        self.blocks = blocks
        # The text is the command's product, written byte for byte (a Modelfile, a profile's
        # YAML, a JSON schema); any other text is a report, its control characters escaped.
        self.raw = raw

    @property
    def ok(self) -> bool:
        return self.exit_code == ExitCode.OK

    def render_text(self) -> str:
        if self.blocks is not None:
            return "".join(b if isinstance(b, str) else b.plain() for b in self.blocks())
        return self.text() if callable(self.text) else self.text
