"""Output helpers: the JSON envelope, atomic file writes and plain text tables.

Standard library only, so every command (and ``--help``) can import it cheaply.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from modelctl.errors import Diagnostic, ExitCode

SCHEMA_VERSION = 1


def envelope(
    command: str,
    data: Any,
    *,
    ok: bool = True,
    warnings: Iterable[Diagnostic] = (),
    errors: Iterable[Diagnostic] = (),
) -> dict[str, Any]:
    """The one JSON shape every command prints with ``--format json`` (docs/json.md)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "ok": ok,
        "data": data,
        "warnings": [w.to_dict() for w in warnings],
        "errors": [e.to_dict() for e in errors],
    }


def dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


class Result:
    """What a command produced: data for JSON, a text rendering for humans, and its verdict."""

    def __init__(
        self,
        data: Any = None,
        text: str | Callable[[], str] = "",
        ok: bool = True,
        exit_code: ExitCode = ExitCode.OK,
        warnings: list[Diagnostic] | None = None,
        errors: list[Diagnostic] | None = None,
    ) -> None:
        self.data = data
        self.text = text
        self.ok = ok
        self.exit_code = exit_code
        self.warnings: list[Diagnostic] = list(warnings or [])
        self.errors: list[Diagnostic] = list(errors or [])

    def render_text(self) -> str:
        return self.text() if callable(self.text) else self.text


def write_atomic(path: str | os.PathLike[str], text: str | bytes) -> None:
    """Write to a temporary file beside ``path`` and rename it into place.

    A reader never sees half a file, and a failure leaves the old file (or none) in place.
    """
    import tempfile
    from pathlib import Path

    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    data = text.encode("utf-8") if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if target.exists():
            try:
                os.chmod(tmp, target.stat().st_mode & 0o7777)
            except OSError:
                pass
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, max_width: int | None = None) -> str:
    """A plain, aligned text table. Cells are stringified; long cells are cut with an ellipsis."""
    str_rows = [["" if c is None else str(c) for c in row] for row in rows]
    cols = len(headers)
    widths = [len(h) for h in headers]
    for row in str_rows:
        for i, cell in enumerate(row[:cols]):
            first = cell.split("\n", 1)[0]
            widths[i] = max(widths[i], len(first))
    if max_width is not None and cols:
        # Shrink the widest columns until the table fits.
        sep = 2 * (cols - 1)
        while sum(widths) + sep > max_width and max(widths) > 8:
            j = widths.index(max(widths))
            widths[j] -= 1

    def fmt(cells: Sequence[str]) -> str:
        out = []
        for i in range(cols):
            cell = cells[i] if i < len(cells) else ""
            cell = cell.split("\n", 1)[0]
            if len(cell) > widths[i]:
                cell = cell[: max(widths[i] - 1, 0)] + "…"
            out.append(cell.ljust(widths[i]))
        return "  ".join(out).rstrip()

    lines = [fmt(list(headers)), fmt(["-" * w for w in widths])]
    lines += [fmt(r) for r in str_rows]
    return "\n".join(lines) + "\n"


def human_bytes(n: float | int | None) -> str:
    """Binary units, as memory is counted (GiB, not GB)."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    return f"{value:.2f} TiB"  # pragma: no cover
