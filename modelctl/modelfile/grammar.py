"""Ollama's Modelfile grammar, exactly; the Modelfile -> request conversion; the quoting rule.

Three layers, all standard library:

* :func:`parse` reads Modelfile text the way Ollama's ``parser.ParseFile`` does (same
  decoding, same state machine, same commands, same error text) and yields
  :class:`Command` objects.
* :func:`to_spec` turns commands into a :class:`ModelSpec`: what ``ollama create``
  would put in its ``/api/create`` request (``Modelfile.CreateRequest`` +
  ``api.FormatParams``), with Go's number parsing reproduced to the bit.
* :func:`quote_value` / :func:`format_parameter_value` write values so that
  :func:`parse` (and Ollama) read back exactly the same text or number, and refuse the
  values no Modelfile can carry.

The parser works line by line with ``str`` methods instead of stepping through Ollama's
state machine one rune at a time (docs/modelfile.md); the tests hold it to Ollama's own
parser cases and to a rune-by-rune oracle of that state machine on random text.
"""

from __future__ import annotations

import codecs
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any

from modelctl.errors import Diagnostic, ModelfileError, UnrepresentableValue
from modelctl.ollama.wire import (
    F32_MAX,
    float32_shortest,
    go_parse_bool,
    go_parse_float32,
    go_parse_int,
    go_semver_valid,
    is_f32_tie,
)
from modelctl.profile import params as _params

__all__ = [
    "Command",
    "ModelSpec",
    "parse",
    "to_spec",
    "parse_modelfile",
    "quote_value",
    "format_parameter_value",
    "parameter_lines",
    "command_lines",
    "decode",
    "is_go_printable",
    "go_print_ranges",
    "INVALID_COMMAND",
    "INVALID_ROLE",
    "MISSING_FROM",
    "UNEXPECTED_EOF",
]

# --- Ollama's error texts (parser/parser.go, api/types.go), verbatim -----------------------

INVALID_COMMAND = (
    'command must be one of "from", "license", "template", "system", "adapter", "draft", '
    '"renderer", "parser", "parameter", "message", or "requires"'
)
INVALID_ROLE = 'message role must be one of "system", "user", or "assistant"'
MISSING_FROM = "no FROM line"
UNEXPECTED_EOF = "unexpected EOF"
INVALID_REQUIRES = "requires must be a valid semver (e.g. 0.14.0)"

_KEYWORDS = frozenset(
    (
        "from",
        "license",
        "template",
        "system",
        "adapter",
        "draft",
        "renderer",
        "parser",
        "parameter",
        "message",
        "requires",
    )
)
_ROLES = frozenset(("system", "user", "assistant"))


def looks_like_modelfile(text: str) -> bool:
    """Whether ``text`` reads as a Modelfile: its first instruction (past blank lines and ``#``
    comments) starts with one of Ollama's keywords and a blank (``FROM llama3.2:3b``)."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        word = stripped.split(None, 1)[0].lower()
        return word in _KEYWORDS and len(stripped) > len(word) and stripped[len(word)].isspace()
    return False


# --- data -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """One instruction exactly as Ollama's parser yields it.

    ``name`` is Ollama's internal name (``model`` for FROM, the PARAMETER name as typed);
    ``args`` the value (``"<role>: <content>"`` for MESSAGE). ``line``/``column`` give the
    real 1-based position of the instruction's first character (CRLF counts as one line
    break); ``column`` does not take part in equality.
    """

    name: str
    args: str
    line: int
    column: int = field(default=1, compare=False)


@dataclass
class ModelSpec:
    """What ``ollama create`` would send, before local files are hashed."""

    froms: list[str] = field(default_factory=list)
    parameters: _params.Params = field(default_factory=dict)
    system: str | None = None
    template: str | None = None
    messages: list[dict[str, str]] = field(default_factory=list)
    license: list[str] = field(default_factory=list)
    adapters: list[str] = field(default_factory=list)
    requires: str | None = None
    renderer: str | None = None
    parser: str | None = None
    # Every DRAFT path in order: Ollama checks each (it must exist and must not be a FROM path) and
    # sends the files of all of them together as draft_files (parser/parser.go since v0.30.0).
    drafts: list[str] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list, compare=False)

    @property
    def draft(self) -> str | None:
        """The last DRAFT path (a profile names one draft), or None."""
        return self.drafts[-1] if self.drafts else None


# --- decoding (golang.org/x/text unicode.BOMOverride + bufio.ReadRune) ----------------------


def _one_byte_replace(exc: UnicodeError) -> tuple[str, int]:
    # Go's utf8.DecodeRune: every byte of an invalid sequence becomes one U+FFFD.
    assert isinstance(exc, UnicodeDecodeError)
    return "\ufffd", exc.start + 1


codecs.register_error("modelctl.go-rune", _one_byte_replace)


def _decode_utf16(data: bytes, little: bool) -> str:
    try:
        return data.decode("utf-16-le" if little else "utf-16-be")
    except UnicodeDecodeError:
        pass
    # x/text's utf16Decoder, unit by unit: unpaired surrogates -> U+FFFD; a surrogate
    # followed by a trail surrogate is consumed as a pair (U+FFFD when the first is not a
    # lead); a trailing odd byte -> U+FFFD.
    out: list[str] = []
    n = len(data)
    i = 0

    def unit(k: int) -> int:
        a, b = data[k], data[k + 1]
        return (b << 8 | a) if little else (a << 8 | b)

    while i < n:
        if i + 1 < n:
            r = unit(i)
            size = 2
            if 0xD800 <= r <= 0xDFFF and i + 3 < n:
                r2 = unit(i + 2)
                if 0xDC00 <= r2 <= 0xDFFF:
                    r = 0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00) if r <= 0xDBFF else 0xFFFD
                    size = 4
            if 0xD800 <= r <= 0xDFFF:
                r = 0xFFFD
            out.append(chr(r))
            i += size
        else:
            out.append("\ufffd")
            i += 1
    return "".join(out)


def decode(data: bytes) -> str:
    """Bytes -> text as Ollama reads a Modelfile.

    A UTF-16 LE/BE BOM selects UTF-16; a UTF-8 BOM is skipped and the rest read rune by
    rune (one U+FFFD per invalid byte); otherwise UTF-8 with each maximal invalid
    subsequence replaced by one U+FFFD (x/text's decoder, the same rule as Python's).
    """
    if data[:2] == b"\xff\xfe":
        return _decode_utf16(data[2:], True)
    if data[:2] == b"\xfe\xff":
        return _decode_utf16(data[2:], False)
    if data[:3] == b"\xef\xbb\xbf":
        return data[3:].decode("utf-8", "modelctl.go-rune")
    return data.decode("utf-8", "replace")


# --- printable characters (Go strconv.IsPrint) ----------------------------------------------

# Ollama keeps a character in a value only if Go's strconv.IsPrint accepts it: Unicode
# categories L, M, N, P, S, plus U+0020. Ollama is built with Go 1.26, whose tables are
# Unicode 15.0.0, while Python's own database depends on the Python version (3.11: 14.0,
# 3.13: 15.1, 3.14: 16.0). So modelctl carries Go's set itself: the code points printable
# in Unicode 15.0.0, as ranges (hex distance from the end of the previous range, "+", hex
# length), generated from the Unicode 15.0.0 database (148,998 code points, 711 ranges).
_GO_PRINT_RANGES = (
    "20+5f 22+c 1+2ca 2+6 4+7 1+1 1+14 1+18d 1+26 2+32 2+3 1+37 8+1b 4+6 11+16 1+c0 1+30 2+3b 2+65 "
    "e+3b 2+31 2+f 1+1c 2+1 1+b 5+1f 9+4a 1+a1 1+8 2+2 2+16 1+7 1+1 3+4 2+9 2+2 2+4 8+1 4+2 1+5 2+19 "
    "2+3 1+6 4+2 2+16 1+7 1+2 1+2 1+2 2+1 1+5 4+2 2+3 3+1 7+4 1+1 7+11 a+3 1+9 1+3 1+16 1+7 1+2 1+5 "
    "2+a 1+3 1+3 2+1 f+4 2+c 7+7 1+3 1+8 2+2 2+16 1+7 1+2 1+5 2+9 2+2 2+3 7+3 4+2 1+5 2+12 a+2 1+6 "
    "3+3 1+4 3+2 1+1 1+2 3+2 3+3 3+c 4+5 3+3 1+4 2+1 6+1 e+15 5+d 1+3 1+17 1+10 2+9 1+3 1+4 7+2 1+3 "
    "2+1 2+4 2+a 7+16 1+3 1+17 1+a 1+5 2+9 1+3 1+4 7+2 6+2 1+4 2+a 1+3 c+d 1+3 1+33 1+3 1+6 4+10 2+1a "
    "1+3 1+12 3+18 1+9 1+1 2+7 3+1 4+6 1+1 1+8 6+a 2+3 c+3a 4+1d 25+2 1+1 1+5 1+18 1+1 1+17 2+5 1+1 "
    "1+7 1+a 2+4 20+48 1+24 4+27 1+24 1+f 1+d 25+c6 1+1 5+1 2+179 1+4 2+7 1+1 1+4 2+29 1+4 2+21 1+4 "
    "2+7 1+1 1+4 2+f 1+39 1+4 2+43 2+20 3+1a 6+56 2+6 2+280 1+1c 3+59 7+16 9+18 9+14 c+d 1+3 1+2 c+5e "
    "2+a 6+a 6+e 1+b 6+59 7+2b 5+46 a+1f 1+c 4+c 4+1 3+2a 2+5 b+2c 4+1a 6+b 3+3e 2+41 1+1d 2+b 6+a "
    "6+e 2+1f 31+4d 3+2f 1+74 8+3c 3+f 3+3c 7+2b 2+b 8+2b 5+216 2+6 2+26 2+6 2+8 1+1 1+1 1+1 1+1f "
    "2+35 1+f 1+e 2+6 1+13 2+3 1+9 11+18 8+2f 11+2 2+1b 1+d 3+21 f+21 f+8c 4+297 19+b 15+714 2+20 "
    "1+15d 5+2d 1+1 5+1 2+38 7+2 e+18 9+7 1+7 1+7 1+7 1+7 1+7 1+7 1+7 1+7e 22+1a 1+59 c+d6 1a+c 5+3f "
    "1+56 2+67 5+2b 1+5e 1+54 c+2f 1+726d 3+37 9+15c 14+b8 8+cb 5+2 1+1 1+5 18+3b 3+a 6+38 8+46 8+c "
    "6+74 b+1e 3+4e 1+b 4+21 1+37 9+e 2+a 2+67 18+1c a+6 2+6 2+6 9+7 1+7 1+3c 4+7e 2+a 6+2ba4 c+17 "
    "4+31 2104+16e 2+6a 26+7 c+5 5+1a 1+5 1+1 1+2 1+2 1+7d 10+1bd 2+36 7+1 20+2a 6+33 1+13 1+4 4+5 "
    "1+87 4+be 3+6 2+6 2+6 2+3 3+7 1+7 d+2 2+c 1+1a 1+13 1+2 1+f 2+e 22+7b 5+3 4+2d 3+58 1+d 3+1 "
    "2f+2e 82+1d 3+31 f+1c 4+24 9+1e 5+2b 5+1e 1+25 4+e 2a+9e 2+a 6+24 4+24 4+28 8+34 b+c 1+f 1+7 1+2 "
    "1+b 1+f 1+7 1+2 43+137 9+16 a+8 18+6 1+2a 1+9 45+6 2+1 1+2c 1+2 3+1 2+17 1+48 8+9 30+13 1+2 5+21 "
    "3+1b 5+1 40+38 4+14 2+32 1+2 5+8 1+3 1+1d 2+3 4+a 7+9 7+40 20+27 4+c 9+36 3+1d 2+1b 5+1a 7+4 c+7 "
    "50+49 37+33 d+33 7+2e 8+a 126+1f 1+2a 1+3 2+2 4b+2b 8+2a 16+1a 26+1c 14+17 9+4e 4+24 9+3e 1+5 "
    "d+19 7+a 6+35 1+12 8+27 9+60 1+14 b+12 1+2f 3e+7 1+1 1+4 1+f 1+b 6+3b 5+a 6+4 1+8 2+2 2+16 1+7 "
    "1+2 1+5 1+a 2+2 2+3 2+1 6+1 5+7 2+7 3+5 8b+5c 1+5 1e+48 8+a a6+36 2+26 22+45 b+a 6+d 13+3a 6+a "
    "36+1b 2+f 4+17 b9+3c 64+53 c+8 2+1 2+8 1+2 1+1e 1+2 2+c 9+a 46+8 2+2e 2+b 1b+48 8+53 d+49 7+a "
    "f6+9 1+2d 1+e a+1d 3+20 2+16 1+e 49+7 1+2 1+2c 3+1 1+2 1+9 8+a 6+6 1+2 1+25 1+2 1+6 7+a 136+19 "
    "7+11 1+29 3+1c 56+1 f+32 d+39b 66+6f 1+5 b+c4 a4c+63 d+430 10+16 faa+247 21b9+239 7+1f 1+a 4+51 "
    "1+a 6+1e 2+6 a+46 a+a 1+7 1+15 5+13 2b0+5b 65+4b 4+39 7+11 40+5 b+2 e+17f8 8+4d6 2a+9 22e7+4 1+7 "
    "1+2 1+123 f+1 1d+3 2+1 e+4 8+18c 904+6b 5+d 3+9 7+a 2+4 1260+2e 2+17 9+74 3c+f6 a+27 2+4a 8+70 "
    "15+46 7a+14 c+14 c+57 9+19 87+55 1+47 1+2 2+1 2+2 2+4 1+c 1+1 1+7 1+41 1+4 2+8 1+7 1+1c 1+4 1+5 "
    "1+1 3+7 1+154 2+124 2+2be f+5 1+f 450+1f 6+6 d5+7 1+11 2+7 1+2 1+5 5+3e 21+1 70+2d 3+e 2+a 4+2 "
    "140+1f 11+3a 5+1 1d0+2a 2e6+7 1+4 1+2 1+f 1+c5 2+10 29+4c 4+a 4+2 311+44 4c+3d c2+4 1+1b 1+2 1+1 "
    "2+1 1+a 1+4 1+1 1+1 6+1 4+1 1+1 1+1 1+3 1+2 1+1 2+1 1+1 1+1 1+1 1+1 1+2 1+1 2+4 1+7 1+4 1+4 1+1 "
    "1+a 1+11 5+3 1+5 1+11 34+2 10e+2c 4+64 c+f 2+f 1+f 1+25 a+ae 38+1d d+2c 4+9 7+2 e+6 9a+3d8 4+11 "
    "3+d 3+77 4+5f 6+c 4+1 f+c 4+38 8+a 6+28 8+1e 2+2 4e+154 c+e 2+d 3+9 7+2e 1+7 8+e 4+9 7+9 7+93 "
    "1+37 25+a 406+a6e0 20+103a 6+de 2+1682 e+1d31 c1f+21e 5e2+134b 5+1060 add50+f0 "
)
_GO_PRINT_COUNT = 148998

# Python's printable set is a subset of Go's when Python's database is not newer than
# Unicode 15.0.0 (characters only change from unassigned to assigned): then
# str.isprintable() is a safe fast yes, and only a "no" needs the table.
_UCD = tuple(int(x) for x in unicodedata.unidata_version.split("."))
_PY_SUBSET = _UCD <= (15, 0, 0)


def go_print_ranges() -> list[tuple[int, int]]:
    """The inclusive code point ranges Go's ``strconv.IsPrint`` accepts (Unicode 15.0.0)."""
    out: list[tuple[int, int]] = []
    pos = 0
    for item in _GO_PRINT_RANGES.split():
        gap, _, length = item.partition("+")
        a = pos + int(gap, 16)
        b = a + int(length, 16) - 1
        out.append((a, b))
        pos = b + 1
    return out


@cache
def _not_print(extra: str) -> re.Pattern[str]:
    """A regex matching one character that is neither Go-printable nor in ``extra``."""
    cls = "".join(f"\\U{a:08x}-\\U{b:08x}" if a != b else f"\\U{a:08x}" for a, b in go_print_ranges())
    return re.compile(f"[^{extra}{cls}]")


def is_go_printable(ch: str) -> bool:
    """Go's ``strconv.IsPrint`` (Unicode 15.0.0) for one character."""
    if (_PY_SUBSET or ch.isascii()) and ch.isprintable():
        return True
    return _not_print("").match(ch) is None


def _clean(seg: str) -> bool:
    """True when ``seg`` (no CR/LF) holds only Go-printable characters and tabs."""
    if (_PY_SUBSET or seg.isascii()) and (seg.isprintable() or ("\t" in seg and seg.replace("\t", " ").isprintable())):
        return True
    return _not_print("\\t").search(seg) is None


#: TAB, LF and CR as spaces: a multi-line value whose other characters are all printable needs no
#: table (building the regex of Go's printable ranges costs milliseconds, once per process).
_BREAKS_AS_SPACE = str.maketrans("\t\n\r", "   ")


def _filter(seg: str) -> str:
    return _not_print("\\t").sub("", seg)


# --- positions ------------------------------------------------------------------------------


def _breaks(t: str, a: int, b: int) -> int:
    """Line breaks in t[a:b]; CRLF counts once (a and b never split a CRLF pair)."""
    return t.count("\n", a, b) + t.count("\r", a, b) - t.count("\r\n", a, b)


def _real_pos(t: str, j: int) -> tuple[int, int]:
    if j > 0 and j < len(t) and t[j] == "\n" and t[j - 1] == "\r":
        j -= 1  # the LF of a CRLF belongs with its CR
    j = min(j, len(t))
    line = 1 + t.count("\n", 0, j) + t.count("\r", 0, j) - t.count("\r\n", 0, j)
    start = max(t.rfind("\n", 0, j), t.rfind("\r", 0, j)) + 1
    return line, j - start + 1


def _ollama_line(t: str, j: int) -> int:
    # Ollama bumps its counter on every CR and every LF read so far, the current rune included.
    return 1 + t.count("\n", 0, j + 1) + t.count("\r", 0, j + 1)


# --- the parser -----------------------------------------------------------------------------

_SKIP = re.compile(r"[ \t\r\n]*")
_NEWLINE = re.compile(r"[\r\n]")
_ALPHA = re.compile(r"[A-Za-z]*")
_PNAME = re.compile(r"[A-Za-z0-9_]*")


class _Fail(Exception):
    def __init__(self, message: str, pos: int) -> None:
        self.message = message
        self.pos = pos


def _read_value(t: str, i: int, n: int) -> tuple[str, int]:
    """Read a value starting right after its separator; return it and the next index.

    Equivalent to Ollama's stateValue: at each CR or LF the text so far (non-printables
    dropped, spaces/tabs/line breaks kept) is trimmed and the instruction ends there if
    it is "complete" (bare; or ``\"\"\"...\"\"\"`` of >= 6 chars; or ``"..."`` of >= 2 chars).
    Only the first line decides the quote kind; after it, the value can only complete on
    a line whose right-trimmed text ends with the closing delimiter.
    """
    m = _NEWLINE.search(t, i)
    j = m.start() if m else n
    seg = t[i:j]
    if not _clean(seg):
        seg = _filter(seg)
    f = seg.strip(" \t")
    if not f.startswith('"'):
        return f, j + 1
    if f.startswith('"""'):
        delim = '"""'
        if len(f) >= 6 and f.endswith(delim):
            return f[3:-3], j + 1
    else:
        delim = '"'
        if len(f) >= 2 and f.endswith(delim):
            return f[1:-1], j + 1
    opening = i + (len(t[i:j]) - len(t[i:j].lstrip(" \t")))
    if j >= n:
        raise _Fail(UNEXPECTED_EOF, opening)
    parts = [seg.lstrip(" \t"), t[j]]
    k = j + 1
    while True:
        m = _NEWLINE.search(t, k)
        j = m.start() if m else n
        seg = t[k:j]
        if not _clean(seg):
            seg = _filter(seg)
        r = seg.rstrip(" \t")
        if r.endswith(delim):
            parts.append(r)
            s = "".join(parts)
            d = len(delim)
            return s[d:-d], j + 1
        if j >= n:
            raise _Fail(UNEXPECTED_EOF, opening)
        parts.append(seg)
        parts.append(t[j])
        k = j + 1


def _text_of(text: str | bytes | bytearray | memoryview) -> str:
    if isinstance(text, str):
        return text[1:] if text.startswith("\ufeff") else text
    if isinstance(text, (bytes, bytearray, memoryview)):
        return decode(bytes(text))
    raise TypeError(f"Modelfile text must be str or bytes, not {type(text).__name__}")


def parse(text: str | bytes, *, filename: str | None = None) -> list[Command]:
    """Parse Modelfile text (str, or bytes decoded like Ollama) into commands.

    Raises :class:`ModelfileError` with Ollama's exact message (``(line N): ...`` keeps
    Ollama's own line count, which counts CR and LF separately) and the real
    file/line/column. A ``str`` starting with U+FEFF is read as if the BOM were stripped.
    """
    t = _text_of(text)
    try:
        return _parse(t)
    except _Fail as e:
        line, col = _real_pos(t, e.pos) if e.pos >= 0 else (None, None)
        raise ModelfileError(e.message, file=filename, line=line, column=col) from None


def _parser_error(msg: str, t: str, j: int) -> _Fail:
    return _Fail(f"(line {_ollama_line(t, j)}): {msg}", j)


def _skip_comment(t: str, i: int) -> int:
    """Index of the line break ending the comment at ``i``, or -1 when the comment runs to the end."""
    m = _NEWLINE.search(t, i)
    return -1 if m is None else m.start()


def _read_keyword(t: str, i: int, n: int) -> tuple[str, int]:
    """Read the instruction keyword at ``i``; return its lower-case name and the index after its separator."""
    start = i
    c = t[i]
    # The first rune starts the keyword whatever it is; it is kept only if printable.
    kw = c if is_go_printable(c) else ""
    m = _ALPHA.match(t, i + 1)
    assert m is not None
    kw += m.group()
    i = m.end()
    if i >= n:
        raise _Fail(UNEXPECTED_EOF, start)
    c = t[i]
    if c != " " and c != "\t":
        raise _parser_error(INVALID_COMMAND, t, i)
    name = kw.lower()
    if name not in _KEYWORDS:
        raise _parser_error(INVALID_COMMAND, t, i)
    return name, i + 1


def _read_second_word(t: str, name: str, i: int, n: int, start: int) -> tuple[str, str, int]:
    """The word after PARAMETER (its name) or MESSAGE (its role): (command name, role, index after it)."""
    pat = _PNAME if name == "parameter" else _ALPHA
    m = pat.match(t, i)
    assert m is not None
    word = m.group()
    i = m.end()
    if i >= n:
        raise _Fail(UNEXPECTED_EOF, start)
    c = t[i]
    if c != " " and c != "\t":
        raise _Fail(f"{UNEXPECTED_EOF}: {word}", i)
    if name == "parameter":
        return word, "", i + 1
    if word not in _ROLES:
        raise _parser_error(INVALID_ROLE, t, i)
    return "message", word, i + 1


def _require_from(cmds: list[Command]) -> None:
    """Ollama refuses a Modelfile without a FROM line (checked once the whole text is read)."""
    for cmd in cmds:
        if cmd.name == "model":
            return
    raise _Fail(MISSING_FROM, -1)


def _parse(t: str) -> list[Command]:
    n = len(t)
    i = 0
    cmds: list[Command] = []
    lc_pos, lc_line, line_start = 0, 1, 0
    has_cr = "\r" in t
    while True:
        i = _SKIP.match(t, i).end()  # type: ignore[union-attr]
        if i >= n:
            break
        if t[i] == "#":
            i = _skip_comment(t, i)
            if i < 0:
                break
            continue
        start = i
        name, i = _read_keyword(t, i, n)
        role = ""
        if name == "parameter" or name == "message":
            cname, role, i = _read_second_word(t, name, i, n, start)
        else:
            cname = "model" if name == "from" else name
        value, i = _read_value(t, i, n)
        if role:
            value = role + ": " + value
        # Positions are tracked incrementally (each search is bounded by the previous
        # instruction start) so that long files stay linear.
        if has_cr:
            lc_line += _breaks(t, lc_pos, start)
            brk = max(t.rfind("\n", lc_pos, start), t.rfind("\r", lc_pos, start))
        else:
            lc_line += t.count("\n", lc_pos, start)
            brk = t.rfind("\n", lc_pos, start)
        if brk >= 0:
            line_start = brk + 1
        lc_pos = start
        cmds.append(Command(cname, value, lc_line, start - line_start + 1))
    _require_from(cmds)
    return cmds


# --- commands -> spec -----------------------------------------------------------------------


def _cmd_error(msg: str, cmd: Command, filename: str | None, field_: str | None) -> ModelfileError:
    return ModelfileError(msg, file=filename, line=cmd.line, column=cmd.column, field=field_)


def _warn(
    spec: ModelSpec, code: str, msg: str, cmd: Command | None, filename: str | None, field_: str | None = None
) -> None:
    spec.warnings.append(
        Diagnostic(code, msg, filename, cmd.line if cmd else None, cmd.column if cmd else None, field_)
    )


def _convert(cmd: Command, filename: str | None) -> _params.ParamValue:
    """api.FormatParams for one PARAMETER; raises with Ollama's text."""
    name, v = cmd.name, cmd.args
    p = _params.BY_NAME.get(name)
    if p is None:
        raise _cmd_error(f"unknown parameter '{name}'", cmd, filename, name)
    if p.type == "int":
        iv = go_parse_int(v)
        if iv is None:
            raise _cmd_error(f"invalid int value [{v}]", cmd, filename, name)
        return iv
    if p.type == "float":
        fv = go_parse_float32(v)
        if fv is None:
            raise _cmd_error(f"invalid float value [{v}]", cmd, filename, name)
        return float32_shortest(fv)  # NaN/Inf: refused by to_spec only if no later line replaces it
    if p.type == "bool":
        bv = go_parse_bool(v)
        if bv is None:
            raise _cmd_error(f"invalid bool value [{v}]", cmd, filename, name)
        return bv
    return [v]  # stop: []string, the raw text


def _set_parameter(spec: ModelSpec, cmd: Command, filename: str | None) -> None:
    """A PARAMETER line: convert its value; a list-valued parameter (stop) accumulates."""
    value = _convert(cmd, filename)
    old = spec.parameters.get(cmd.name)
    if isinstance(old, list) and isinstance(value, list):  # stop (the catalogue's one list)
        spec.parameters[cmd.name] = [*old, *value]
    else:
        spec.parameters[cmd.name] = value


def _refuse_non_finite(spec: ModelSpec, last: dict[str, Command], filename: str | None) -> None:
    """A NaN/Inf float still set once every line is read: Ollama parses it, then cannot encode the
    request. One that a later line for the same parameter replaced never reaches the request."""
    for name, value in spec.parameters.items():
        if isinstance(value, float) and not math.isfinite(value):
            cmd = last["parameter " + name]
            g = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
            raise _cmd_error(
                f"unsupported float value [{cmd.args}]: Ollama parses it but cannot send it "
                f"(json: unsupported value: {g})",
                cmd,
                filename,
                name,
            )


def _on_model(spec: ModelSpec, cmd: Command, filename: str | None, last: dict[str, Command]) -> None:
    spec.froms.append(cmd.args)


def _on_draft(spec: ModelSpec, cmd: Command, filename: str | None, last: dict[str, Command]) -> None:
    # Unlike ADAPTER (the last wins), every DRAFT counts: Ollama merges their files.
    spec.drafts.append(cmd.args)


def _on_adapter(spec: ModelSpec, cmd: Command, filename: str | None, last: dict[str, Command]) -> None:
    spec.adapters.append(cmd.args)
    if len(spec.adapters) == 2:
        _warn(
            spec, "several_adapters", "several ADAPTER lines: Ollama uses only the last one", cmd, filename, "adapters"
        )


def _on_template(spec: ModelSpec, cmd: Command, filename: str | None, last: dict[str, Command]) -> None:
    spec.template = cmd.args
    last["template"] = cmd


def _on_system(spec: ModelSpec, cmd: Command, filename: str | None, last: dict[str, Command]) -> None:
    spec.system = cmd.args
    last["system"] = cmd


def _on_license(spec: ModelSpec, cmd: Command, filename: str | None, last: dict[str, Command]) -> None:
    spec.license.append(cmd.args)


def _on_renderer(spec: ModelSpec, cmd: Command, filename: str | None, last: dict[str, Command]) -> None:
    spec.renderer = cmd.args


def _on_parser(spec: ModelSpec, cmd: Command, filename: str | None, last: dict[str, Command]) -> None:
    spec.parser = cmd.args


def _on_requires(spec: ModelSpec, cmd: Command, filename: str | None, last: dict[str, Command]) -> None:
    a = cmd.args
    req = a if a.startswith("v") else "v" + a
    if not go_semver_valid(req):
        raise _cmd_error(INVALID_REQUIRES, cmd, filename, "requires")
    spec.requires = req[1:]


def _on_message(spec: ModelSpec, cmd: Command, filename: str | None, last: dict[str, Command]) -> None:
    role, _, content = cmd.args.partition(": ")
    spec.messages.append({"role": role, "content": content})
    if role not in _ROLES:
        _warn(
            spec,
            "message_role",
            f"message role '{role}' (set through PARAMETER message) is sent unchecked",
            cmd,
            filename,
            "messages",
        )


_CommandHandler = Callable[[ModelSpec, Command, str | None, dict[str, Command]], None]

# Ollama's internal command names (FROM is "model") -> what each does to the request.
_COMMAND_HANDLERS: dict[str, _CommandHandler] = {
    "model": _on_model,
    "draft": _on_draft,
    "adapter": _on_adapter,
    "template": _on_template,
    "system": _on_system,
    "license": _on_license,
    "renderer": _on_renderer,
    "parser": _on_parser,
    "requires": _on_requires,
    "message": _on_message,
}


def _warn_empty_prompts(spec: ModelSpec, last: dict[str, Command], filename: str | None) -> None:
    for key in ("system", "template"):
        if getattr(spec, key) == "":
            _warn(
                spec,
                f"empty_{key}",
                f"empty {key.upper()} is not sent: Ollama keeps the base model's {key}",
                last.get(key),
                filename,
                key,
            )


def to_spec(commands: Iterable[Command], *, filename: str | None = None) -> ModelSpec:
    """Ollama's ``CreateRequest`` semantics over parsed commands (no file access).

    Raises :class:`ModelfileError` at the first command Ollama would reject, with its
    text: ``unknown parameter 'x'``, ``invalid int value [v]``, ``invalid float value
    [v]``, ``invalid bool value [v]``, the REQUIRES message; a NaN/Inf float that is still
    the parameter's value after the last line is refused too (Ollama accepts it here and then
    fails to encode the request).
    """
    spec = ModelSpec()
    last: dict[str, Command] = {}
    by_name = _params.BY_NAME
    handlers = _COMMAND_HANDLERS
    for cmd in commands:
        n = cmd.name
        if n in by_name:  # the common case first; no catalogue name is a command name
            _set_parameter(spec, cmd, filename)
            last["parameter " + n] = cmd
            continue
        handler = handlers.get(n)
        if handler is not None:
            handler(spec, cmd, filename, last)
        elif n in _params.CLI_DEPRECATED:
            _warn(spec, "deprecated_parameter", f"parameter {n} is deprecated", cmd, filename, n)
        else:
            _set_parameter(spec, cmd, filename)
    _refuse_non_finite(spec, last, filename)
    _warn_empty_prompts(spec, last, filename)
    return spec


def parse_modelfile(text: str | bytes, *, filename: str | None = None) -> ModelSpec:
    """:func:`parse` then :func:`to_spec`."""
    return to_spec(parse(text, filename=filename), filename=filename)


# --- writing values -------------------------------------------------------------------------

_CATEGORY_NAMES = {
    "Cc": "control character",
    "Cf": "format character",
    "Cs": "surrogate",
    "Co": "private-use character",
    "Cn": "unassigned code point",
    "Zs": "space separator",
    "Zl": "line separator",
    "Zp": "paragraph separator",
}


def _char_text(ch: str) -> str:
    name = unicodedata.name(ch, None)
    if name is None:
        name = _CATEGORY_NAMES.get(unicodedata.category(ch), "character")
    return f"U+{ord(ch):04X} {name}"


def _value_refusal(msg: str, field_: str, vline: int, vcol: int, ch: str | None) -> UnrepresentableValue:
    return UnrepresentableValue(msg, field=field_, value_line=vline, value_column=vcol, char=ch)


def quote_value(value: str, *, field: str) -> str:
    """Write ``value`` so that Ollama's parser reads back exactly ``value``.

    Bare when non-empty, single-line, without leading/trailing space or tab and not
    starting with ``"``; otherwise ``\"\"\"value\"\"\"``. Refuses (ModelfileError naming
    ``field``, the line and column inside the value and the character) what no Modelfile
    can carry: non-printable characters other than TAB/CR/LF, and a line that ends with
    ``\"\"\"`` (after trailing spaces/tabs) and is followed by a line break.
    """
    if not isinstance(value, str):
        raise TypeError(f"quote_value needs a str, not {type(value).__name__}")
    bad = None
    if not (
        (_PY_SUBSET or value.isascii()) and (value.isprintable() or value.translate(_BREAKS_AS_SPACE).isprintable())
    ):
        bad = _not_print("\\t\\r\\n").search(value)
    if bad is not None:
        idx = bad.start()
        ch = value[idx]
        vline, vcol = _real_pos(value, idx)
        raise _value_refusal(
            f"{_char_text(ch)} at line {vline}, column {vcol} of the value cannot be written in a "
            "Modelfile: Ollama's parser silently drops characters that are not printable "
            "(Go's strconv.IsPrint, Unicode 15.0.0)",
            field,
            vline,
            vcol,
            ch,
        )
    has_break = "\n" in value or "\r" in value
    if value and not has_break and value[0] not in ' \t"' and value[-1] not in " \t":
        return value
    if has_break:
        pos = 0
        for m in _NEWLINE.finditer(value):
            seg = value[pos : m.start()].rstrip(" \t")
            if seg.endswith('"""'):
                vline, vcol = _real_pos(value, pos + len(seg) - 3)
                raise _value_refusal(
                    f'line {vline} of the value ends with """ (column {vcol}) and more lines follow: '
                    "Ollama's parser would end the value there, so it cannot be written in a Modelfile",
                    field,
                    vline,
                    vcol,
                    None,
                )
            pos = m.end()
    return '"""' + value + '"""'


def _float_text(name: str, x: float) -> str:
    if not math.isfinite(x):
        raise ModelfileError(f"{x!r} cannot be sent to Ollama (JSON has no NaN or Inf)", field=f"parameters.{name}")
    r = repr(x)
    ax = abs(x)
    if ax != 0.0 and is_f32_tie(ax):
        # repr(x) could sit on either side of the tie and round to the other float32;
        # the exact decimal expansion of x rounds (ties to even) as Python's float32 does.
        r = format(Decimal(x), "e") if ax < 1e-4 or ax >= 1e16 else format(Decimal(x), "f")
    if go_parse_float32(r) is None:
        raise ModelfileError(
            f"{r} is out of the float32 range Ollama accepts (|x| <= {F32_MAX!r})", field=f"parameters.{name}"
        )
    return r


def format_parameter_value(name: str, value: Any) -> str:
    """The text after ``PARAMETER <name> `` for one typed value.

    ints in decimal; floats as ``repr`` (which Go's ParseFloat(.., 32) reads back to the
    same float32, and Python to the same float); bools ``true``/``false``; a stop string
    through :func:`quote_value`. Use :func:`parameter_lines` for a list of stop strings.
    """
    p = _params.BY_NAME.get(name)
    fld = f"parameters.{name}"
    if p is None:
        raise ModelfileError(f"unknown parameter '{name}'", field=fld)
    if p.type == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ModelfileError(f"expected an integer, got {value!r}", field=fld)
        if not _params.INT64_MIN <= value <= _params.INT64_MAX:
            raise ModelfileError(f"{value} is outside the 64-bit integer range", field=fld)
        return str(int(value))
    if p.type == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ModelfileError(f"expected a number, got {value!r}", field=fld)
        if isinstance(value, int):
            text = str(value)
            if go_parse_float32(text) is None:
                raise ModelfileError(f"{value} is out of the float32 range Ollama accepts", field=fld)
            return text
        return _float_text(name, float(value))
    if p.type == "bool":
        if not isinstance(value, bool):
            raise ModelfileError(f"expected true or false, got {value!r}", field=fld)
        return "true" if value else "false"
    if not isinstance(value, str):
        raise ModelfileError(
            f"expected one stop string, got {type(value).__name__} (use parameter_lines for a list)",
            field=fld,
        )
    return quote_value(value, field=fld)


def parameter_lines(name: str, value: Any) -> list[str]:
    """``PARAMETER`` lines for one parameter; a stop list gives one line per string."""
    if name == "stop" and isinstance(value, (list, tuple)):
        return [f"PARAMETER stop {format_parameter_value('stop', s)}" for s in value]
    return [f"PARAMETER {name} {format_parameter_value(name, value)}"]


def command_lines(
    *,
    froms: Iterable[str] = (),
    adapters: Iterable[str] = (),
    draft: str | None = None,
    parameters: Mapping[str, _params.ParamValue] | None = None,
    template: str | None = None,
    system: str | None = None,
    messages: Iterable[Mapping[str, str]] = (),
    license: Iterable[str] = (),
    requires: str | None = None,
    renderer: str | None = None,
    parser: str | None = None,
) -> list[str]:
    """Modelfile lines for the given fields, in a fixed order, parameters in catalogue order.

    Every value goes through :func:`quote_value` (so unrepresentable values are refused);
    ``parse`` of the joined lines gives these values back.
    """
    out = [f"FROM {quote_value(f, field='from')}" for f in froms]
    out += [f"ADAPTER {quote_value(a, field='adapters')}" for a in adapters]
    if draft is not None:
        out.append(f"DRAFT {quote_value(draft, field='draft')}")
    params = dict(parameters or {})
    order = _params.ORDER
    for name in sorted(params, key=lambda k: (order.get(k, len(order)), k)):
        out += parameter_lines(name, params[name])
    if template is not None:
        out.append(f"TEMPLATE {quote_value(template, field='template')}")
    if system is not None:
        out.append(f"SYSTEM {quote_value(system, field='system')}")
    for i, msg in enumerate(messages):
        role = msg["role"]
        if role not in _ROLES:
            raise ModelfileError(
                f"message role must be system, user or assistant, not {role!r}", field=f"messages[{i}].role"
            )
        out.append(f"MESSAGE {role} {quote_value(msg['content'], field=f'messages[{i}].content')}")
    out += [f"LICENSE {quote_value(text, field='license')}" for text in license]
    if requires is not None:
        out.append(f"REQUIRES {quote_value(requires, field='requires')}")
    if renderer is not None:
        out.append(f"RENDERER {quote_value(renderer, field='renderer')}")
    if parser is not None:
        out.append(f"PARSER {quote_value(parser, field='parser')}")
    return out
