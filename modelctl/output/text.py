"""Text tables: plain and aligned for pipes, files and logs; drawn by rich on a terminal."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from modelctl import terminal_columns
from modelctl.common import escape


def terminal_width(default: int = 100, minimum: int = 60) -> int:
    """The terminal's width (``COLUMNS`` first, as ``shutil`` reads it), or ``default``."""
    return max(minimum, terminal_columns(default))


def _cut(cell: str, width: int) -> str:
    """``cell`` in ``width`` characters with one ellipsis at most: a value already shortened
    (``You are a chef. Propose…  (107 characters)``) is shortened further where it was cut,
    so what follows (its size, its origin) stays whole when there is room for it."""
    if len(cell) <= width:
        return cell
    first = cell.find("…")
    if first >= 0:
        tail = cell[first + 1 :]
        room = width - len(tail) - 1
        if room >= 4:
            return cell[: min(room, first)] + "…" + tail
        return cell[: min(first, max(width - 1, 0))] + "…"
    return cell[: max(width - 1, 0)] + "…"


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
            cell = _cut((cells[i] if i < len(cells) else "").split("\n", 1)[0], widths[i])
            out.append(cell.ljust(widths[i]))
        return "  ".join(out).rstrip()

    lines = [fmt(list(headers)), fmt(["-" * w for w in widths])]
    lines += [fmt(r) for r in str_rows]
    return "\n".join(lines) + "\n"


class Table:
    """A table as a writer hands it over: :meth:`plain` for pipes and files (``max_width`` cuts
    cells; None keeps them whole), :meth:`renderable` for rich on a terminal (cells wrap)."""

    def __init__(
        self,
        headers: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        max_width: int | None = None,
        bold_rows: Collection[int] = (),
        wrap: Collection[int] = (),
    ) -> None:
        self.headers = list(headers)
        self.rows = [["" if c is None else str(c) for c in row] for row in rows]
        self.max_width = max_width
        self.bold_rows = set(bold_rows)
        self.wrap = set(wrap)  # columns that wrap on a terminal; the others keep their width

    def plain(self) -> str:
        return table(self.headers, self.rows, max_width=self.max_width)

    def widths(self, width: int) -> list[int]:
        """Column widths for a terminal ``width`` wide: the plain layout when it fits; else the
        widest columns narrowed first, down to their longest word (up to 24 characters) so
        that cells wrap between words, and below that only when nothing else fits."""
        cells = [[h, *(r[i] for r in self.rows if i < len(r))] for i, h in enumerate(self.headers)]
        out = [max(len(c) for c in col) for col in cells]
        words = [min(max((len(w) for c in col for w in c.split()), default=1), 24) for col in cells]
        room = width - 2 * (len(out) - 1)
        for floor in (words, [3] * len(out)):
            while sum(out) > room:
                wider = [i for i, w in enumerate(out) if w > floor[i]]
                if not wider:
                    break
                out[max(wider, key=lambda i: out[i])] -= 1
        return out

    def renderable(self, width: int) -> Any:
        """A rich table for a terminal ``width`` columns wide (see :meth:`widths`)."""
        from rich import box
        from rich.table import Table as RichTable
        from rich.text import Text

        t = RichTable(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True, header_style="bold")
        for h, w in zip(self.headers, self.widths(width), strict=True):
            t.add_column(h, overflow="fold", width=w)
        for n, row in enumerate(self.rows):  # cells are text, never rich markup, and escaped
            t.add_row(*(Text(escape.text(c)) for c in row), style="bold" if n in self.bold_rows else None)
        return t
