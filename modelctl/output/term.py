"""Whether a stream is a terminal that deserves colour and live progress, and a rich console for it.

rich draws tables, progress bars and coloured diagnostics on terminals only: it is imported
on first use here, never for ``--help``, ``--format json`` or output that goes to a pipe or a
file, so scripts and CI logs stay plain (and start-up stays fast). ``NO_COLOR`` (any value)
turns colour off; ``TERM=dumb`` turns live redrawing off.
"""

from __future__ import annotations

import os
import sys
from typing import IO, TYPE_CHECKING

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
