"""The one rule for text that reaches a terminal or a CI log: control characters are escaped.

Profile keys and values, file names, inventory keys, lock files, committed Modelfiles and every
string a server sends can hold control characters. Written as they are, ``ESC ] 52`` sets the
clipboard, ``ESC ] 0`` the window title, ``ESC [`` moves the cursor or hides text, a CR
overwrites what a line said, and a line break followed by ``::error file=...::`` is read by CI
as an annotation. So every text modelctl prints goes through :func:`line` (a diagnostic: one
line, so line breaks are escaped too) or :func:`text` (a report: its own line breaks and tabs
kept); the writers (``modelctl.output``) apply them where text is written.

Escaped: C0 controls but the kept ones, DEL, C1 controls (U+009B is a one-byte CSI), the
Unicode line and paragraph separators, and the bidirectional embeddings, overrides and
isolates (text that displays in another order than it reads). Each becomes its escape
(``\\x1b``, ``\\r``, ``\\u009b``, ``\\u2028``), so nothing is lost and the line stays one line.

Standard library only: the command line imports it for every error message.
"""

from __future__ import annotations

import re

_OTHERS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_IN_TEXT = re.compile(f"[{_OTHERS}]")  # tabs and line feeds kept
_IN_LINE = re.compile(f"[\t\n{_OTHERS}]")


def _escaped(m: re.Match[str]) -> str:
    c = m.group()
    # C0 as Python writes it (\x1b, \r, \n, \t); the others as \u00XX, also a JSON escape, so
    # text that is JSON (SARIF) stays valid JSON once escaped.
    return c.encode("unicode_escape").decode("ascii") if c < " " else f"\\u{ord(c):04x}"


def line(value: str) -> str:
    """``value`` as one line: every control character escaped, line breaks and tabs included."""
    return value if value.isprintable() else _IN_LINE.sub(_escaped, value)


def text(value: str) -> str:
    """``value`` with its line feeds and tabs, every other control character escaped (CR too)."""
    return _IN_TEXT.sub(_escaped, value)
