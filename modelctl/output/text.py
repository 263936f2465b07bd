"""Plain text tables for terminals and logs."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any


def terminal_width(default: int = 100, minimum: int = 60) -> int:
    """The terminal's width (``COLUMNS`` first, as ``shutil`` reads it), or ``default``."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size().columns
        except OSError:
            columns = default
    return max(minimum, columns)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, max_width: int | None = None) -> str:
    """A plain, aligned text table. Cells are stringified; long cells are cut with an ellipsis."""
    str_rows = [["" if c is None else str(c) for c in row] for row in rows]
    cols = len(headers)
    widths = [len(h) for h in headers]
    for row in str_rows:
        for i, cell in enumerate(row[:cols]):
            widths[i] = max(widths[i], len(cell.split("\n", 1)[0]))
    if max_width is not None and cols:
        # Shrink the widest columns until the table fits.
        sep = 2 * (cols - 1)
        while sum(widths) + sep > max_width and max(widths) > 8:
            widths[widths.index(max(widths))] -= 1

    def fmt(cells: Sequence[str]) -> str:
        out = []
        for i in range(cols):
            cell = (cells[i] if i < len(cells) else "").split("\n", 1)[0]
            if len(cell) > widths[i]:
                cell = cell[: max(widths[i] - 1, 0)] + "…"
            out.append(cell.ljust(widths[i]))
        return "  ".join(out).rstrip()

    lines = [fmt(list(headers)), fmt(["-" * w for w in widths])]
    lines += [fmt(r) for r in str_rows]
    return "\n".join(lines) + "\n"
