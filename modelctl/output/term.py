"""Whether a stream is a terminal that deserves colour and live progress, and a rich console for it.

rich draws tables, progress bars and coloured diagnostics on terminals only: it is imported
on first use here, never for ``--help``, ``--format json`` or output that goes to a pipe or a
file, so scripts and CI logs stay plain (and start-up stays fast). ``NO_COLOR`` (any value)
turns colour off; ``TERM=dumb`` turns live redrawing off.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

from modelctl.common import escape
from modelctl.output.text import Table

if TYPE_CHECKING:
    from rich.console import Console


def is_terminal(stream: IO[str] | None = None) -> bool:
    """``stream`` (stdout by default) is an interactive terminal."""
    target = stream if stream is not None else sys.stdout
    try:
        return bool(target.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def wants_color(stream: IO[str] | None = None) -> bool:
    """Colour on ``stream``: a terminal, ``NO_COLOR`` unset, ``TERM`` not ``dumb``."""
    return is_terminal(stream) and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def console(stream: IO[str] | None = None) -> Console:
    """A rich console writing to ``stream``, coloured only when :func:`wants_color` says so."""
    from rich.console import Console

    target = stream if stream is not None else sys.stdout
    return Console(file=target, no_color=not wants_color(target), highlight=False, soft_wrap=False)


_KIND_STYLE = {"error": "bold red", "warning": "yellow"}


def print_diagnostic(kind: str, text: str, stream: IO[str] | None = None) -> None:
    """``kind: text`` on ``stream`` (stderr by default), the kind coloured when the stream is a
    terminal that wants colour; plain text otherwise, and rich is not imported for it."""
    target = stream if stream is not None else sys.stderr
    text = escape.line(text)  # one diagnostic, one line: no control character reaches the terminal
    if wants_color(target):
        from rich.text import Text

        console(target).print(Text.assemble((kind, _KIND_STYLE.get(kind, "")), f": {text}"), soft_wrap=True)
        return
    target.write(f"{kind}: {text}\n")
    target.flush()


def draw(blocks: Sequence[Any], stream: IO[str] | None = None) -> None:
    """Text and tables (:class:`modelctl.output.text.Table`) on a terminal: tables drawn by rich."""
    from rich.text import Text

    con = console(stream)
    for block in blocks:
        if isinstance(block, Table):
            con.print(block.renderable(con.width))
        elif block:
            con.print(Text(escape.text(block.removesuffix("\n"))), soft_wrap=True)
