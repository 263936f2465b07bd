"""A TEMPLATE as Ollama reads it: Go's text/template parser, and the values Ollama gives a template.

Ollama parses a Modelfile's TEMPLATE at create (``server/create.go`` ``setTemplate`` ->
``template.Parse`` in ``template/template.go``) with Go's ``text/template``, its own function
map and ``missingkey=zero``; a template Go refuses fails the create with
``template error: template: :LINE: MESSAGE``. :func:`parse` is a port of Go's
``text/template/parse`` (``lex.go`` and ``parse.go`` of Go 1.24, the Go that Ollama 0.9.3
builds with: its ``go.mod`` says ``go 1.24.0``): the same lexer states (trim markers ``{{- ``
and `` -}}`` that need a space, comments, strings, raw strings, character constants, numbers,
keywords written against a dot such as ``{{ range.Messages }}``), the same parser (pipelines,
declarations, if/else if/range/with/else with/break/continue/define/template/block/end,
parenthesised pipelines, field chains), the same checks (undefined functions and variables,
``{{break}}`` outside ``{{range}}``, number and string syntax) and Go's message texts.
:func:`check` adds what Ollama checks after Go's parse.

On top of the tree, :func:`top_level_fields` answers which of Ollama's top-level values a
template reads. Ollama's Template.Execute passes ``System``, ``Prompt``, ``Response``,
``Suffix``, ``Messages``, ``Tools``, ``Think``, ``IsThinkSet``, ``Query``, ``Document`` and
``Instruction``; with ``missingkey=zero`` any other name (``.First``, which old Modelfiles used,
or a misspelt ``.system``) is silently empty. Inside ``range`` and ``with`` the dot is the
element, so only fields read at the top level, or through ``$.``, are checked.

Loaded only when a template is checked (``modelctl --help`` never imports it).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from modelctl.ollama.wire import older_than
from modelctl.profile.params import suggest

__all__ = [
    "GoTemplateError",
    "FieldUse",
    "BUILTINS",
    "OLLAMA_FUNCS",
    "parse",
    "check",
    "functions_used",
    "newer_functions",
    "top_level_fields",
    "template_problems",
]

#: The top-level values Ollama's Template.Execute passes today (ollama/ollama template/template.go).
PROVIDED = (
    "System", "Prompt", "Response", "Suffix", "Messages", "Tools", "Think", "IsThinkSet", "Query", "Document",
    "Instruction",
)  # fmt: skip

#: Names Ollama once provided and no longer does: what became of each.
RETIRED = {
    "First": "Ollama no longer provides .First (it went when the system prompt became part of each request): it is "
    "always empty, so what it guards is never written; use {{ if .System }}",
    "Context": "Ollama no longer passes .Context to templates; it is always empty",
}

#: Go's text/template builtins (text/template/funcs.go, Go 1.24).
BUILTINS = frozenset(
    ("and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf", "println", "urlquery",
     "eq", "ge", "gt", "le", "lt", "ne")
)  # fmt: skip

#: Ollama's template functions (template/template.go ``funcs``) and the first release that has each:
#: v0.9.3 has only ``json``; ``currentDate`` arrived in v0.11.1, ``toTypeScriptType`` in v0.11.3,
#: ``yesterdayDate`` in v0.13.3 (unchanged up to v0.33.0-rc2). An older server refuses a template
#: that calls a newer function (``function "currentDate" not defined``).
OLLAMA_FUNCS = {"json": "0.0.0", "currentDate": "0.11.1", "toTypeScriptType": "0.11.3", "yesterdayDate": "0.13.3"}


class GoTemplateError(ValueError):
    """A template Go's parser refuses. ``message`` is Go's text as Ollama reports it
    (``template: :1: unexpected EOF``), ``detail`` the part after the line; ``offset`` (an index
    into the template), ``line`` and ``column`` (1-based) say where the parser stood."""

    def __init__(self, detail: str, line: int, offset: int, column: int) -> None:
        self.detail = detail
        self.line = line
        self.offset = offset
        self.column = column
        self.message = f"template: :{line}: {detail}"
        super().__init__(self.message)


# --- lexer (text/template/parse/lex.go) ---------------------------------------------------------

# Item types. Keywords sort after KEYWORD, as in Go.
ERROR, BOOL, CHAR, CHAR_CONSTANT, COMMENT, COMPLEX, ASSIGN, DECLARE, EOF, FIELD, IDENTIFIER = range(11)
LEFT_DELIM, LEFT_PAREN, NUMBER, PIPE, RAW_STRING, RIGHT_DELIM, RIGHT_PAREN, SPACE, STRING, TEXT = range(11, 21)
VARIABLE, KEYWORD = 21, 22
BLOCK, BREAK, CONTINUE, DOT, DEFINE, ELSE, END, IF, NIL, RANGE, TEMPLATE, WITH = range(23, 35)

_KEY = {
    ".": DOT, "block": BLOCK, "break": BREAK, "continue": CONTINUE, "define": DEFINE, "else": ELSE, "end": END,
    "if": IF, "range": RANGE, "nil": NIL, "template": TEMPLATE, "with": WITH,
}  # fmt: skip

_SPACE_CHARS = " \t\r\n"
_LEFT, _RIGHT, _LEFT_COMMENT, _RIGHT_COMMENT = "{{", "}}", "/*", "*/"
_TRIM_LEN = 2  # the marker plus the space before or after it


@dataclass(frozen=True)
class Item:
    typ: int
    pos: int
    val: str
    line: int

    def __str__(self) -> str:  # item.String()
        if self.typ == EOF:
            return "EOF"
        if self.typ == ERROR:
            return self.val
        if self.typ > KEYWORD:
            return f"<{self.val}>"
        if len(self.val.encode("utf-8", "surrogatepass")) > 10:  # len() of a Go string: bytes
            return go_quote(self.val[:10]) + "..."  # %.10q: the first ten characters
        return go_quote(self.val)


def _is_space(r: str) -> bool:
    return r in (" ", "\t", "\r", "\n") and r != ""


def _is_alnum(r: str) -> bool:
    # unicode.IsLetter (category L*) or unicode.IsDigit (Nd) or '_'
    return r != "" and (r == "_" or unicodedata.category(r)[0] == "L" or unicodedata.category(r) == "Nd")


def _has_left_trim(s: str, i: int) -> bool:
    return len(s) - i >= 2 and s[i] == "-" and _is_space(s[i + 1])


def _has_right_trim(s: str, i: int) -> bool:
    return len(s) - i >= 2 and _is_space(s[i]) and s[i + 1] == "-"


_State = Callable[["_Lexer"], "_State | None"]


class _Lexer:
    """lex.go's lexer, pulled one item at a time by the parser (Go 1.20+ has no goroutine either)."""

    def __init__(self, text: str) -> None:
        self.input = text
        self.pos = 0
        self.start = 0
        self.at_eof = False
        self.paren_depth = 0
        self.line = 1
        self.start_line = 1
        self.item = Item(EOF, 0, "EOF", 1)
        self.inside_action = False

    # -- helpers
    def next(self) -> str:
        if self.pos >= len(self.input):
            self.at_eof = True
            return ""
        r = self.input[self.pos]
        self.pos += 1
        if r == "\n":
            self.line += 1
        return r

    def peek(self) -> str:
        r = self.next()
        self.backup()
        return r

    def backup(self) -> None:
        if not self.at_eof and self.pos > 0:
            self.pos -= 1
            if self.input[self.pos] == "\n":
                self.line -= 1

    def this_item(self, t: int) -> Item:
        i = Item(t, self.start, self.input[self.start : self.pos], self.start_line)
        self.start = self.pos
        self.start_line = self.line
        return i

    def emit(self, t: int) -> None:
        self.item = self.this_item(t)

    def ignore(self) -> None:
        self.line += self.input.count("\n", self.start, self.pos)
        self.start = self.pos
        self.start_line = self.line

    def accept(self, valid: str) -> bool:
        r = self.next()
        if r != "" and r in valid:
            return True
        self.backup()
        return False

    def accept_run(self, valid: str) -> None:
        while True:
            r = self.next()
            if r == "" or r not in valid:
                break
        self.backup()

    def errorf(self, msg: str) -> None:
        self.item = Item(ERROR, self.start, msg, self.start_line)
        self.start = 0
        self.pos = 0
        self.input = ""

    def next_item(self) -> Item:
        self.item = Item(EOF, self.pos, "EOF", self.start_line)
        state: _State | None = _lex_inside_action if self.inside_action else _lex_text
        while state is not None:
            state = state(self)
        return self.item

    def at_right_delim(self) -> tuple[bool, bool]:
        if _has_right_trim(self.input, self.pos) and self.input.startswith(_RIGHT, self.pos + _TRIM_LEN):
            return True, True
        if self.input.startswith(_RIGHT, self.pos):
            return True, False
        return False, False

    def at_terminator(self) -> bool:
        r = self.peek()
        if _is_space(r):
            return True
        if r in ("", ".", ",", "|", ":", ")", "("):
            return True
        return self.input.startswith(_RIGHT, self.pos)

    def scan_number(self) -> bool:
        self.accept("+-")
        digits = "0123456789_"
        if self.accept("0"):
            if self.accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self.accept("oO"):
                digits = "01234567_"
            elif self.accept("bB"):
                digits = "01_"
        self.accept_run(digits)
        if self.accept("."):
            self.accept_run(digits)
        if len(digits) == 11 and self.accept("eE"):
            self.accept("+-")
            self.accept_run("0123456789_")
        if len(digits) == 23 and self.accept("pP"):
            self.accept("+-")
            self.accept_run("0123456789_")
        self.accept("i")
        if _is_alnum(self.peek()):
            self.next()
            return False
        return True


def _lex_text(lx: _Lexer) -> _State | None:
    x = lx.input.find(_LEFT, lx.pos)
    if x >= 0:
        if x > lx.pos:
            lx.pos = x
            trim = 0
            if _has_left_trim(lx.input, lx.pos + len(_LEFT)):
                chunk = lx.input[lx.start : lx.pos]
                trim = len(chunk) - len(chunk.rstrip(_SPACE_CHARS))
            lx.pos -= trim
            lx.line += lx.input.count("\n", lx.start, lx.pos)
            i = lx.this_item(TEXT)
            lx.pos += trim
            lx.ignore()
            if i.val:
                lx.item = i
                return None
        return _lex_left_delim
    lx.pos = len(lx.input)
    if lx.pos > lx.start:
        lx.line += lx.input.count("\n", lx.start, lx.pos)
        lx.emit(TEXT)
        return None
    lx.emit(EOF)
    return None


def _lex_left_delim(lx: _Lexer) -> _State | None:
    lx.pos += len(_LEFT)
    after = _TRIM_LEN if _has_left_trim(lx.input, lx.pos) else 0
    if lx.input.startswith(_LEFT_COMMENT, lx.pos + after):
        lx.pos += after
        lx.ignore()
        return _lex_comment
    i = lx.this_item(LEFT_DELIM)
    lx.inside_action = True
    lx.pos += after
    lx.ignore()
    lx.paren_depth = 0
    lx.item = i
    return None


def _lex_comment(lx: _Lexer) -> _State | None:
    lx.pos += len(_LEFT_COMMENT)
    x = lx.input.find(_RIGHT_COMMENT, lx.pos)
    if x < 0:
        lx.errorf("unclosed comment")
        return None
    lx.pos = x + len(_RIGHT_COMMENT)
    delim, trim = lx.at_right_delim()
    if not delim:
        lx.errorf("comment ends before closing delimiter")
        return None
    lx.line += lx.input.count("\n", lx.start, lx.pos)
    lx.this_item(COMMENT)  # comments are not emitted (no ParseComments mode)
    if trim:
        lx.pos += _TRIM_LEN
    lx.pos += len(_RIGHT)
    if trim:
        rest = lx.input[lx.pos :]
        lx.pos += len(rest) - len(rest.lstrip(_SPACE_CHARS))
    lx.ignore()
    return _lex_text


def _lex_right_delim(lx: _Lexer) -> _State | None:
    _, trim = lx.at_right_delim()
    if trim:
        lx.pos += _TRIM_LEN
        lx.ignore()
    lx.pos += len(_RIGHT)
    i = lx.this_item(RIGHT_DELIM)
    if trim:
        rest = lx.input[lx.pos :]
        lx.pos += len(rest) - len(rest.lstrip(_SPACE_CHARS))
        lx.ignore()
    lx.inside_action = False
    lx.item = i
    return None


_SINGLE = {"=": ASSIGN, "|": PIPE}
_STARTS: dict[str, _State] = {}  # filled below: '"', '`', '$', "'"


def _lex_inside_action(lx: _Lexer) -> _State | None:
    delim, _ = lx.at_right_delim()
    if delim:
        if lx.paren_depth == 0:
            return _lex_right_delim
        lx.errorf("unclosed left paren")
        return None
    r = lx.next()
    if r == "":
        lx.errorf("unclosed action")
        return None
    if _is_space(r):
        lx.backup()  # put the space back in case of " -}}"
        return _lex_space
    if r in _SINGLE:
        lx.emit(_SINGLE[r])
        return None
    if r in _STARTS:
        return _STARTS[r]
    return _lex_inside_action_rest(lx, r)


def _lex_inside_action_rest(lx: _Lexer, r: str) -> _State | None:
    if r == ":":
        if lx.next() != "=":
            lx.errorf("expected :=")
            return None
        lx.emit(DECLARE)
        return None
    if r == "." and lx.pos < len(lx.input) and not ("0" <= lx.input[lx.pos] <= "9"):
        return _lex_field
    if r in "+-." or "0" <= r <= "9":
        lx.backup()
        return _lex_number
    if _is_alnum(r):
        lx.backup()
        return _lex_identifier
    if r == "(":
        lx.paren_depth += 1
        lx.emit(LEFT_PAREN)
        return None
    if r == ")":
        lx.paren_depth -= 1
        if lx.paren_depth < 0:
            lx.errorf("unexpected right paren")
            return None
        lx.emit(RIGHT_PAREN)
        return None
    if ord(r) <= 0x7F and " " <= r <= "~":
        lx.emit(CHAR)
        return None
    lx.errorf(f"unrecognized character in action: {_go_U(r)}")
    return None


def _lex_space(lx: _Lexer) -> _State | None:
    spaces = 0
    while _is_space(lx.peek()):
        lx.next()
        spaces += 1
    # A trim-marked closing delimiter starts with a space: leave it to lexRightDelim.
    if _has_right_trim(lx.input, lx.pos - 1) and lx.input.startswith(_RIGHT, lx.pos - 1 + _TRIM_LEN):
        lx.backup()
        if spaces == 1:
            return _lex_right_delim
    lx.emit(SPACE)
    return None


def _lex_identifier(lx: _Lexer) -> _State | None:
    while True:
        r = lx.next()
        if _is_alnum(r):
            continue
        lx.backup()
        word = lx.input[lx.start : lx.pos]
        if not lx.at_terminator():
            lx.errorf(f"bad character {_go_U(r)}")
            return None
        kind = _KEY.get(word, 0)
        if kind > KEYWORD:
            lx.emit(kind)  # break and continue are keywords: Ollama defines no such functions
        elif word[0] == ".":
            lx.emit(FIELD)
        elif word in ("true", "false"):
            lx.emit(BOOL)
        else:
            lx.emit(IDENTIFIER)
        return None


def _lex_field(lx: _Lexer) -> _State | None:
    return _lex_field_or_variable(lx, FIELD)


def _lex_variable(lx: _Lexer) -> _State | None:
    if lx.at_terminator():
        lx.emit(VARIABLE)
        return None
    return _lex_field_or_variable(lx, VARIABLE)


def _lex_field_or_variable(lx: _Lexer, typ: int) -> _State | None:
    if lx.at_terminator():
        lx.emit(VARIABLE if typ == VARIABLE else DOT)
        return None
    while True:
        r = lx.next()
        if not _is_alnum(r):
            lx.backup()
            break
    if not lx.at_terminator():
        lx.errorf(f"bad character {_go_U(r)}")
        return None
    lx.emit(typ)
    return None


def _lex_quoted(lx: _Lexer, quote: str, typ: int, what: str) -> _State | None:
    while True:
        r = lx.next()
        if r == "\\":
            r = lx.next()
            if r not in ("", "\n"):
                continue
        if r in ("", "\n"):
            lx.errorf(f"unterminated {what}")
            return None
        if r == quote:
            break
    lx.emit(typ)
    return None


def _lex_char(lx: _Lexer) -> _State | None:
    return _lex_quoted(lx, "'", CHAR_CONSTANT, "character constant")


def _lex_quote(lx: _Lexer) -> _State | None:
    return _lex_quoted(lx, '"', STRING, "quoted string")


def _lex_raw_quote(lx: _Lexer) -> _State | None:
    while True:
        r = lx.next()
        if r == "":
            lx.errorf("unterminated raw quoted string")
            return None
        if r == "`":
            break
    lx.emit(RAW_STRING)
    return None


def _lex_number(lx: _Lexer) -> _State | None:
    if not lx.scan_number():
        lx.errorf(f"bad number syntax: {go_quote(lx.input[lx.start : lx.pos])}")
        return None
    if lx.peek() in ("+", "-"):
        # complex: 1+2i, no spaces, must end in 'i'
        if not lx.scan_number() or lx.input[lx.pos - 1] != "i":
            lx.errorf(f"bad number syntax: {go_quote(lx.input[lx.start : lx.pos])}")
            return None
        lx.emit(COMPLEX)
        return None
    lx.emit(NUMBER)
    return None


_STARTS.update({'"': _lex_quote, "`": _lex_raw_quote, "$": _lex_variable, "'": _lex_char})


# --- Go's formatting and literal syntax (fmt %q / %#U, strconv) ---------------------------------


def _go_printable(r: str) -> bool:
    return r == " " or unicodedata.category(r)[0] in "LMNPS"


def go_quote(s: str) -> str:
    """fmt's %q of a string (strconv.Quote)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif _go_printable(ch):
            out.append(ch)
        elif ch in _QUOTE_ESC:
            out.append(_QUOTE_ESC[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


_QUOTE_ESC = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _go_U(r: str) -> str:
    """fmt's %#U: U+0041 'A' (the character only when printable)."""
    if r == "":
        return "U+FFFFFFFFFFFFFFFF"  # eof (-1) as Go prints it
    head = f"U+{ord(r):04X}"
    return f"{head} '{r}'" if _go_printable(r) else head


_SIMPLE = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}


def _unquote_char(s: str, i: int, quote: str) -> int:
    """strconv.UnquoteChar from s[i]; the index after the character. ValueError: invalid syntax."""
    c = s[i]
    if c == quote and quote in "'\"":
        raise ValueError
    if c != "\\":
        return i + 1
    if i + 1 >= len(s):
        raise ValueError
    c = s[i + 1]
    if c in _SIMPLE:
        return i + 2
    if c in "'\"":
        if c != quote:
            raise ValueError
        return i + 2
    if c in "xuU":
        n = {"x": 2, "u": 4, "U": 8}[c]
        digits = s[i + 2 : i + 2 + n]
        if len(digits) != n or not all(d in "0123456789abcdefABCDEF" for d in digits):
            raise ValueError
        v = int(digits, 16)
        if c != "x" and (v > 0x10FFFF or 0xD800 <= v <= 0xDFFF):
            raise ValueError
        return i + 2 + n
    if c in "01234567":
        digits = s[i + 1 : i + 4]
        if len(digits) != 3 or not all(d in "01234567" for d in digits) or int(digits, 8) > 255:
            raise ValueError
        return i + 4
    raise ValueError


def _unquote(s: str) -> str:
    """strconv.Unquote for a string or raw string token; ValueError: invalid syntax."""
    if s[0] == "`":
        if len(s) < 2 or s[-1] != "`" or "`" in s[1:-1]:
            raise ValueError
        return s[1:-1].replace("\r", "")
    if len(s) < 2 or s[-1] != '"' or "\n" in s:
        raise ValueError
    body = s[1:-1]
    i = 0
    while i < len(body):
        i = _unquote_char(body, i, '"')
    return body  # the value itself is never needed, only whether Go accepts it


_DEC_FLOAT = re.compile(r"[+-]?(?:[0-9_]+\.?[0-9_]*|\.[0-9_]+)(?:[eE][+-]?[0-9_]+)?")
_HEX_FLOAT = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+)[pP][+-]?[0-9_]+")
_INT = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)")


def _underscores_ok(s: str) -> bool:
    """strconv.underscoreOK: '_' only between digits (a base prefix counts as a digit)."""
    body = s[1:] if s[:1] in ("+", "-") else s
    prefixed = len(body) >= 2 and body[0] == "0" and body[1] in "xXoObB"
    hexd = prefixed and body[1] in "xX"
    saw = "0" if prefixed else "^"
    for ch in body[2:] if prefixed else body:
        if "0" <= ch <= "9" or (hexd and ch in "abcdefABCDEF"):
            saw = "0"
        elif ch == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


def _parse_int(text: str, unsigned: bool) -> int | None:
    """strconv.ParseUint/ParseInt(text, 0, 64)."""
    if (unsigned and text[:1] in ("+", "-")) or not _INT.fullmatch(text) or not _underscores_ok(text):
        return None
    body = text.lstrip("+-").replace("_", "")
    if body[:2].lower() in ("0x", "0o", "0b"):
        if len(body) == 2:
            return None
        v = int(body[2:], {"x": 16, "o": 8, "b": 2}[body[1].lower()])
    elif len(body) > 1 and body[0] == "0":
        v = int(body[1:], 8)
    elif len(body.lstrip("0")) > 20:
        return None
    else:
        v = int(body)
    if text.startswith("-"):
        v = -v
    lo, hi = (0, 2**64 - 1) if unsigned else (-(2**63), 2**63 - 1)
    return v if lo <= v <= hi else None


def _parse_float(text: str) -> bool:
    """Whether strconv.ParseFloat(text, 64) succeeds (well formed, not beyond the float64 range)."""
    if not _underscores_ok(text):
        return False
    plain = text.replace("_", "")
    if _HEX_FLOAT.fullmatch(text):
        mant, _, exp = plain.lstrip("+-")[2:].lower().partition("p")
        if not mant.strip("."):
            return False
        try:
            return abs(float.fromhex(f"0x{mant}p{exp}")) != float("inf")
        except OverflowError:
            return False
    if not _DEC_FLOAT.fullmatch(text) or not any("0" <= c <= "9" for c in text):
        return False
    return abs(float(plain)) != float("inf")


def _check_number(text: str, typ: int) -> str | None:
    """parse.newNumber: None when Go accepts the literal, else its error text."""
    if typ == CHAR_CONSTANT:
        try:
            end = _unquote_char(text, 1, text[0])
        except (ValueError, IndexError):
            return "invalid syntax"
        if text[end:] != "'":
            return f"malformed character constant: {text}"
        return None
    if typ == COMPLEX:
        # the lexer made it number, sign, number, 'i': split at the sign not inside an exponent
        cut = max((i for i, c in enumerate(text) if c in "+-" and (i == 0 or text[i - 1] not in "eEpP")), default=0)
        if cut == 0 or not _parse_float(text[:cut]) or not _parse_float(text[cut:-1]):
            return "syntax error scanning complex number"  # fmt.Sscan (errComplex)
        return None
    if text.endswith("i") and _parse_float(text[:-1]):
        return None
    if _parse_int(text, True) is not None or _parse_int(text, False) is not None:
        return None
    if _parse_float(text):
        if not any(c in text for c in ".eEpP"):
            return f"integer overflow: {go_quote(text)}"
        return None
    return f"illegal number syntax: {go_quote(text)}"


# --- parse tree (the nodes Ollama and modelctl look at) -----------------------------------------


@dataclass
class Node:
    pos: int


@dataclass
class TextNode(Node):
    text: str


@dataclass
class FieldNode(Node):
    ident: list[str]


@dataclass
class VariableNode(Node):
    ident: list[str]


@dataclass
class IdentifierNode(Node):
    name: str


@dataclass
class LiteralNode(Node):
    kind: str  # "dot", "nil", "bool", "number", "string"
    text: str


@dataclass
class CommandNode(Node):
    args: list[Node] = field(default_factory=list)


@dataclass
class PipeNode(Node):
    line: int
    decl: list[VariableNode] = field(default_factory=list)
    cmds: list[CommandNode] = field(default_factory=list)


@dataclass
class ChainNode(Node):
    node: Node
    fields: list[str] = field(default_factory=list)


@dataclass
class ActionNode(Node):
    pipe: PipeNode


@dataclass
class ListNode(Node):
    nodes: list[Node] = field(default_factory=list)


@dataclass
class BranchNode(Node):
    kind: str  # "if", "range", "with"
    pipe: PipeNode
    list: ListNode
    else_list: ListNode | None


@dataclass
class TemplateNode(Node):
    line: int
    name: str
    pipe: PipeNode | None


@dataclass
class ControlNode(Node):
    kind: str  # "break", "continue", "end", "else"


# --- parser (text/template/parse/parse.go) -------------------------------------------------------

_MAX_STACK_DEPTH = 10000  # parse.go maxStackDepth
_MAX_PIPELINE_CMDS = 100000  # parse.go maxPipelineCmds


class _Stop(Exception):
    """Go's errorf panic: carries the finished error out of any depth."""

    def __init__(self, error: GoTemplateError) -> None:
        self.error = error


class _Parser:
    def __init__(self, text: str, lex: _Lexer, funcs: frozenset[str], trees: dict[str, ListNode]) -> None:
        self.text = text
        self.lex = lex
        self.funcs = funcs
        self.trees = trees
        self.token: list[Item] = [Item(EOF, 0, "", 1)] * 3
        self.peek_count = 0
        self.vars = ["$"]
        self.action_line = 0
        self.range_depth = 0
        self.stack_depth = 0
        self.root: ListNode | None = None

    def sub(self) -> _Parser:
        """A parser for a {{define}} or {{block}} body sharing the lexer (newT.startParse)."""
        p = _Parser(self.text, self.lex, self.funcs, self.trees)
        return p

    # -- tokens
    def next(self) -> Item:
        if self.peek_count > 0:
            self.peek_count -= 1
        else:
            self.token[0] = self.lex.next_item()
        return self.token[self.peek_count]

    def backup(self) -> None:
        self.peek_count += 1

    def backup2(self, t1: Item) -> None:
        self.token[1] = t1
        self.peek_count = 2

    def backup3(self, t2: Item, t1: Item) -> None:
        self.token[1] = t1
        self.token[2] = t2
        self.peek_count = 3

    def peek(self) -> Item:
        if self.peek_count > 0:
            return self.token[self.peek_count - 1]
        self.peek_count = 1
        self.token[0] = self.lex.next_item()
        return self.token[0]

    def next_non_space(self) -> Item:
        while True:
            token = self.next()
            if token.typ != SPACE:
                return token

    def peek_non_space(self) -> Item:
        token = self.next_non_space()
        self.backup()
        return token

    # -- errors
    def errorf(self, detail: str) -> _Stop:
        tok = self.token[0]
        pos = min(tok.pos, len(self.text))
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return _Stop(GoTemplateError(detail, tok.line, pos, column))

    def expect(self, expected: int, context: str) -> Item:
        token = self.next_non_space()
        if token.typ != expected:
            raise self.unexpected(token, context)
        return token

    def unexpected(self, token: Item, context: str) -> _Stop:
        if token.typ == ERROR:
            extra = ""
            if self.action_line != 0 and self.action_line != token.line:
                extra = f" in action started at :{self.action_line}"
                if token.val.endswith(" action"):
                    extra = extra[len(" in action") :]
            return self.errorf(f"{token}{extra}")
        return self.errorf(f"unexpected {token} in {context}")

    # -- grammar
    def parse(self) -> None:
        self.root = ListNode(self.peek().pos)
        while self.peek().typ != EOF:
            if self.peek().typ == LEFT_DELIM:
                delim = self.next()
                if self.next_non_space().typ == DEFINE:
                    self.sub().parse_definition()
                    continue
                self.backup2(delim)
            n = self.text_or_action()
            if isinstance(n, ControlNode) and n.kind in ("end", "else"):
                raise self.errorf(f"unexpected {{{{{n.kind}}}}}")
            self.root.nodes.append(n)

    def add(self, name: str, root: ListNode) -> None:
        old = self.trees.get(name)
        if old is None or _is_empty(old):
            self.trees[name] = root
            return
        if not _is_empty(root):
            raise self.errorf(f"template: multiple definition of template {go_quote(name)}")

    def parse_definition(self) -> None:
        context = "define clause"
        token = self.next_non_space()
        if token.typ not in (STRING, RAW_STRING):
            raise self.unexpected(token, context)
        name = self.unquote(token)
        self.expect(RIGHT_DELIM, context)
        root, end = self.item_list()
        if not (isinstance(end, ControlNode) and end.kind == "end"):
            raise self.errorf(f"unexpected {_node_str(end)} in {context}")
        self.add(name, root)

    def item_list(self) -> tuple[ListNode, Node]:
        lst = ListNode(self.peek_non_space().pos)
        while self.peek_non_space().typ != EOF:
            n = self.text_or_action()
            if isinstance(n, ControlNode) and n.kind in ("end", "else"):
                return lst, n
            lst.nodes.append(n)
        raise self.errorf("unexpected EOF")

    def text_or_action(self) -> Node:
        token = self.next_non_space()
        if token.typ == TEXT:
            return TextNode(token.pos, token.val)
        if token.typ == LEFT_DELIM:
            self.action_line = token.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        raise self.unexpected(token, "input")

    def action(self) -> Node:
        token = self.next_non_space()
        handler = _CONTROLS.get(token.typ)
        if handler is not None:
            return handler(self, token)
        self.backup()
        token = self.peek()
        return ActionNode(token.pos, self.pipeline("command", RIGHT_DELIM))

    def break_control(self, token: Item) -> Node:
        return self.loop_control(token, "break")

    def continue_control(self, token: Item) -> Node:
        return self.loop_control(token, "continue")

    def loop_control(self, token: Item, word: str) -> Node:
        t = self.next_non_space()
        if t.typ != RIGHT_DELIM:
            raise self.unexpected(t, f"{{{{{word}}}}}")
        if self.range_depth == 0:
            raise self.errorf(f"{{{{{word}}}}} outside {{{{range}}}}")
        return ControlNode(token.pos, word)

    def pipeline(self, context: str, end: int) -> PipeNode:
        token = self.peek_non_space()
        pipe = PipeNode(token.pos, token.line)
        self.declarations(pipe, context)
        while True:
            token = self.next_non_space()
            if token.typ == end:
                self.check_pipeline(pipe, context)
                return pipe
            if token.typ in _OPERAND_START:
                self.backup()
                pipe.cmds.append(self.command())
                if len(pipe.cmds) > _MAX_PIPELINE_CMDS:
                    raise self.errorf("pipeline too long")
            else:
                raise self.unexpected(token, context)

    def declarations(self, pipe: PipeNode, context: str) -> None:
        while True:  # the `goto decls` of parse.go
            v = self.peek_non_space()
            if v.typ != VARIABLE:
                return
            self.next()
            # Since space is a token, "$x foo" needs three tokens of look-ahead.
            after = self.peek()
            nxt = self.peek_non_space()
            if nxt.typ in (ASSIGN, DECLARE):
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, v.val.split(".")))
                self.vars.append(v.val)
                return
            if nxt.typ == CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, v.val.split(".")))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (VARIABLE, RIGHT_DELIM, RIGHT_PAREN):
                        continue  # a second variable in a range pipeline
                    raise self.errorf("range can only initialize variables")
                raise self.errorf(f"too many declarations in {context}")
            if after.typ == SPACE:
                self.backup3(v, after)
            else:
                self.backup2(v)
            return

    def check_pipeline(self, pipe: PipeNode, context: str) -> None:
        if not pipe.cmds:
            raise self.errorf(f"missing value for {context}")
        for i, c in enumerate(pipe.cmds[1:]):
            first = c.args[0]
            if isinstance(first, LiteralNode):
                raise self.errorf(f"non executable command in pipeline stage {i + 2}")

    def parse_control(self, context: str) -> tuple[PipeNode, ListNode, ListNode | None]:
        n_vars = len(self.vars)
        try:
            pipe = self.pipeline(context, RIGHT_DELIM)
            if context == "range":
                self.range_depth += 1
            lst, nxt = self.item_list()
            if context == "range":
                self.range_depth -= 1
            else_list: ListNode | None = None
            if isinstance(nxt, ControlNode) and nxt.kind == "else":
                # "else if" and "else with" read as {{else}}{{if ...}}...{{end}}{{end}}
                if context == "if" and self.peek().typ == IF:
                    self.next()
                    else_list = ListNode(nxt.pos, [self.if_control(nxt)])
                elif context == "with" and self.peek().typ == WITH:
                    self.next()
                    else_list = ListNode(nxt.pos, [self.with_control(nxt)])
                else:
                    else_list, nxt = self.item_list()
                    if not (isinstance(nxt, ControlNode) and nxt.kind == "end"):
                        raise self.errorf(f"expected end; found {_node_str(nxt)}")
            return pipe, lst, else_list
        finally:
            del self.vars[n_vars:]

    def if_control(self, token: object) -> Node:
        pipe, lst, else_list = self.parse_control("if")
        return BranchNode(pipe.pos, "if", pipe, lst, else_list)

    def range_control(self, token: object) -> Node:
        pipe, lst, else_list = self.parse_control("range")
        return BranchNode(pipe.pos, "range", pipe, lst, else_list)

    def with_control(self, token: object) -> Node:
        pipe, lst, else_list = self.parse_control("with")
        return BranchNode(pipe.pos, "with", pipe, lst, else_list)

    def end_control(self, token: Item) -> Node:
        return ControlNode(self.expect(RIGHT_DELIM, "end").pos, "end")

    def else_control(self, token: Item) -> Node:
        peek = self.peek_non_space()
        if peek.typ in (IF, WITH):
            return ControlNode(peek.pos, "else")
        return ControlNode(self.expect(RIGHT_DELIM, "else").pos, "else")

    def block_control(self, token: Item) -> Node:
        context = "block clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe = self.pipeline(context, RIGHT_DELIM)
        block = self.sub()
        root, end = block.item_list()
        if not (isinstance(end, ControlNode) and end.kind == "end"):
            raise self.errorf(f"unexpected {_node_str(end)} in {context}")
        block.add(name, root)
        return TemplateNode(token.pos, token.line, name, pipe)

    def template_control(self, token: Item) -> Node:
        context = "template clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe: PipeNode | None = None
        if self.next_non_space().typ != RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, RIGHT_DELIM)
        return TemplateNode(token.pos, token.line, name, pipe)

    def template_name(self, token: Item, context: str) -> str:
        if token.typ in (STRING, RAW_STRING):
            return self.unquote(token)
        raise self.unexpected(token, context)

    def unquote(self, token: Item) -> str:
        try:
            return _unquote(token.val)
        except (ValueError, IndexError):
            raise self.errorf("invalid syntax") from None

    def command(self) -> CommandNode:
        cmd = CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()  # skip leading spaces
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self.next()
            if token.typ == SPACE:
                continue
            if token.typ in (RIGHT_DELIM, RIGHT_PAREN):
                self.backup()
            elif token.typ != PIPE:
                raise self.unexpected(token, "operand")
            break
        if not cmd.args:
            raise self.errorf("empty command")
        return cmd

    def operand(self) -> Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ == FIELD:
            chain = ChainNode(self.peek().pos, node)
            while self.peek().typ == FIELD:
                chain.fields.append(self.next().val[1:])
            if isinstance(node, FieldNode):
                return FieldNode(node.pos, node.ident + chain.fields)
            if isinstance(node, VariableNode):
                return VariableNode(node.pos, node.ident + chain.fields)
            if isinstance(node, LiteralNode):
                raise self.errorf(f"unexpected . after term {go_quote(_node_str(node))}")
            return chain
        return node

    def term(self) -> Node | None:
        token = self.next_non_space()
        typ = token.typ
        if typ == IDENTIFIER:
            if token.val not in self.funcs:
                raise self.errorf(f"function {go_quote(token.val)} not defined")
            return IdentifierNode(token.pos, token.val)
        if typ in _LITERALS:
            if typ in (CHAR_CONSTANT, COMPLEX, NUMBER) and (err := _check_number(token.val, typ)) is not None:
                raise self.errorf(err)
            if typ in (STRING, RAW_STRING):
                self.unquote(token)
            return LiteralNode(token.pos, _LITERALS[typ], token.val)
        if typ == VARIABLE:
            return self.use_var(token)
        if typ == FIELD:
            return FieldNode(token.pos, token.val[1:].split("."))
        if typ == LEFT_PAREN:
            if self.stack_depth >= _MAX_STACK_DEPTH:
                raise self.errorf("max expression depth exceeded")
            self.stack_depth += 1
            try:
                return self.pipeline("parenthesized pipeline", RIGHT_PAREN)
            finally:
                self.stack_depth -= 1
        self.backup()
        return None

    def use_var(self, token: Item) -> Node:
        ident = token.val.split(".")
        if ident[0] not in self.vars:
            raise self.errorf(f"undefined variable {go_quote(ident[0])}")
        return VariableNode(token.pos, ident)


_LITERALS = {
    DOT: "dot", NIL: "nil", BOOL: "bool", CHAR_CONSTANT: "number", COMPLEX: "number", NUMBER: "number",
    STRING: "string", RAW_STRING: "string",
}  # fmt: skip
_OPERAND_START = frozenset(
    (BOOL, CHAR_CONSTANT, COMPLEX, DOT, FIELD, IDENTIFIER, NUMBER, NIL, RAW_STRING, STRING, VARIABLE, LEFT_PAREN)
)
_CONTROLS: dict[int, Callable[[_Parser, Item], Node]] = {
    BLOCK: _Parser.block_control, BREAK: _Parser.break_control, CONTINUE: _Parser.continue_control,
    ELSE: _Parser.else_control, END: _Parser.end_control, IF: _Parser.if_control, RANGE: _Parser.range_control,
    TEMPLATE: _Parser.template_control, WITH: _Parser.with_control,
}  # fmt: skip


def _node_str(n: Node) -> str:
    """The String() of the nodes an error message can name."""
    if isinstance(n, ControlNode):
        return f"{{{{{n.kind}}}}}"
    if isinstance(n, LiteralNode):
        return {"dot": ".", "nil": "nil"}.get(n.kind, n.text)
    return type(n).__name__


_GO_SPACE = (  # unicode.IsSpace
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def _is_empty(n: Node | None) -> bool:
    """parse.IsEmptyTree: nothing but space (and comments)."""
    if n is None:
        return True
    if isinstance(n, ListNode):
        return all(_is_empty(c) for c in n.nodes)
    if isinstance(n, TextNode):
        return n.text.strip(_GO_SPACE) == ""
    return False


# --- the entry points ----------------------------------------------------------------------------


def _all_funcs(funcs: frozenset[str] | None) -> frozenset[str]:
    return BUILTINS | (funcs if funcs is not None else frozenset(OLLAMA_FUNCS))


def parse(template: str, funcs: frozenset[str] | None = None) -> dict[str, ListNode]:
    """Go's ``template.New("").Funcs(ollama).Parse(template)``: the trees by name ("" is the
    template itself), or :class:`GoTemplateError` with Go's message. ``funcs``: the non-builtin
    function names (default: every function Ollama defines, :data:`OLLAMA_FUNCS`)."""
    trees: dict[str, ListNode] = {}
    p = _Parser(template, _Lexer(template), _all_funcs(funcs), trees)
    try:
        p.parse()
        assert p.root is not None
        p.add("", p.root)
    except _Stop as stop:
        raise stop.error from None
    except RecursionError:
        # Go nests parentheses up to 10000 deep; Python's stack ends sooner.
        raise GoTemplateError("expression nested too deeply for modelctl to check", p.token[0].line, 0, 1) from None
    return trees


def _walk(n: Node | None) -> Iterator[Node]:
    """Every node under ``n`` in source order (pipes, commands and arguments included)."""
    if n is None:
        return
    yield n
    children: list[Node | None]
    if isinstance(n, ListNode):
        children = list(n.nodes)
    elif isinstance(n, ActionNode):
        children = [n.pipe]
    elif isinstance(n, BranchNode):
        children = [n.pipe, n.list, n.else_list]
    elif isinstance(n, TemplateNode):
        children = [n.pipe]
    elif isinstance(n, PipeNode):
        children = [*n.decl, *n.cmds]
    elif isinstance(n, CommandNode):
        children = list(n.args)
    elif isinstance(n, ChainNode):
        children = [n.node]
    else:
        children = []
    for c in children:
        yield from _walk(c)


def _position(template: str, offset: int) -> tuple[int, int]:
    line = template.count("\n", 0, offset) + 1
    return line, offset - (template.rfind("\n", 0, offset) + 1) + 1


def check(template: str, funcs: frozenset[str] | None = None) -> dict[str, ListNode]:
    """What Ollama's ``template.Parse`` accepts: Go's parse, then its walk over the trees
    (``Template.Vars`` -> ``Identifiers``). A ``{{ template "name" }}`` without a value has no
    pipeline: Ollama 0.12.4 and later refuse it (``undefined template specified``); 0.9.3
    dereferences the missing pipeline and the whole server crashes (seen on the real 0.9.3)."""
    trees = parse(template, funcs)
    for root in trees.values():
        for n in _walk(root):
            if isinstance(n, TemplateNode) and n.pipe is None:
                line, column = _position(template, n.pos)
                raise GoTemplateError(
                    f"{{{{ template {go_quote(n.name)} }}}} without a value: Ollama refuses it (undefined template "
                    f'specified; Ollama 0.9.3 crashes on it): pass one, e.g. {{{{ template "{n.name}" . }}}}',
                    line,
                    n.pos,
                    column,
                )
    return trees


def functions_used(trees: dict[str, ListNode]) -> list[str]:
    """The names of the functions a parsed template calls, in order, each once."""
    seen: dict[str, None] = {}
    for root in trees.values():
        for n in _walk(root):
            if isinstance(n, IdentifierNode):
                seen.setdefault(n.name, None)
    return list(seen)


def newer_functions(template: str, version: str | None) -> list[tuple[str, str]]:
    """(name, first release) of each Ollama function the template calls that Ollama ``version``
    does not have yet (``None``: any version, so every function newer than the oldest)."""
    try:
        used = functions_used(parse(template))
    except GoTemplateError:
        return []
    out = []
    for name in used:
        since = OLLAMA_FUNCS.get(name)
        if since is not None and since != "0.0.0" and (version is None or older_than(version, since)):
            out.append((name, since))
    return out


@dataclass(frozen=True)
class FieldUse:
    """A top-level field a template reads: the name, the template line (1-based) and column."""

    name: str
    line: int
    column: int


def _fields(n: Node | None, dot_is_top: bool, out: list[tuple[str, int]]) -> None:
    """Top-level field reads under ``n``: ``.X`` while the dot is the top value, ``$.X`` always."""
    if n is None:
        return
    if isinstance(n, FieldNode):
        if dot_is_top:
            out.append((n.ident[0], n.pos))
    elif isinstance(n, VariableNode):
        if n.ident[0] == "$" and len(n.ident) > 1:
            out.append((n.ident[1], n.pos))
    elif isinstance(n, BranchNode):
        _fields(n.pipe, dot_is_top, out)
        _fields(n.list, dot_is_top and n.kind == "if", out)  # range and with rebind the dot
        _fields(n.else_list, dot_is_top, out)
    elif isinstance(n, ChainNode):
        _fields(n.node, dot_is_top, out)
    else:
        for c in _children(n):
            _fields(c, dot_is_top, out)


def _children(n: Node) -> list[Node | None]:
    if isinstance(n, ListNode):
        return list(n.nodes)
    if isinstance(n, (ActionNode, TemplateNode)):
        return [n.pipe]
    if isinstance(n, PipeNode):
        return list(n.cmds)
    if isinstance(n, CommandNode):
        return list(n.args)
    return []


def top_level_fields(template: str) -> list[FieldUse]:
    """Every field the template reads from the top-level values, in order.

    Read from Go's parse tree, so ``{{ range.Messages }}``, ``{{ if.First }}`` and ``"}}"`` in a
    string are read as Go reads them; bodies of ``define`` and ``block`` run with whatever dot they
    are given, so only their ``$.`` reads count. A template Go refuses has no fields."""
    try:
        trees = parse(template)
    except GoTemplateError:
        return []
    found: list[tuple[str, int]] = []
    for name, root in trees.items():
        _fields(root, name == "", found)
    found.sort(key=lambda f: f[1])
    return [FieldUse(name, *_position(template, pos)) for name, pos in found]


def template_problems(template: str) -> list[tuple[FieldUse, str]]:
    """Fields a template reads that Ollama does not provide, each with what to say about it."""
    problems: list[tuple[FieldUse, str]] = []
    seen: set[str] = set()
    for use in top_level_fields(template):
        if use.name in PROVIDED or use.name in seen:
            continue
        seen.add(use.name)
        if use.name in RETIRED:
            problems.append((use, RETIRED[use.name]))
            continue
        close = next((p for p in PROVIDED if p.lower() == use.name.lower()), None) or suggest(use.name, PROVIDED)
        hint = f" (did you mean .{close}?)" if close else ""
        problems.append((use, f"Ollama gives a TEMPLATE no .{use.name}: it is always empty{hint}"))
    return problems
