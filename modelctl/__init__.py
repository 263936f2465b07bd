"""modelctl: Ollama parameter profiles kept in git.

The package is importable without click; the CLI lives in :mod:`modelctl.cli`.
Heavy dependencies (pydantic, jinja2, httpx, ollama) are imported by the modules
that need them, never here, so that ``modelctl --help`` starts fast.
"""

import os

__version__ = "0.1.0"


def terminal_columns(fallback: int) -> int:
    """The terminal's width as ``shutil.get_terminal_size`` reads it (``COLUMNS`` first, then the
    terminal), or ``fallback``; without importing ``shutil`` (``--help`` and the writers share it)."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size().columns
        except (OSError, ValueError):
            columns = fallback
    return columns
