"""Property tests for modelctl.modelfile.grammar.

Oracles written independently of the module:

* ``oracle_parse``: a rune-by-rune transliteration of Ollama's ``ParseFile`` state
  machine (parser/parser.go), with Go's ``TrimSpace`` white-space set and ``IsPrint``
  spelled as Unicode categories, to check the module's line-oriented parser;
* ``oracle_decode``: x/text's UTF-8 decoder (W3C maximal subparts) and Go's
  ``utf8.DecodeRune`` (one U+FFFD per bad byte, after a UTF-8 BOM);
* ``oracle_f32``: exact rational rounding of a decimal to float32, ties to even.
"""

from __future__ import annotations

import math
import struct
import unicodedata
from fractions import Fraction

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from modelctl.errors import ModelfileError
from modelctl.modelfile.grammar import (
    INVALID_COMMAND,
    INVALID_ROLE,
    command_lines,
    decode,
    format_parameter_value,
    go_parse_float32,
    is_go_printable,
    parameter_lines,
    parse,
    parse_modelfile,
    quote_value,
)
from modelctl.profile import params

# --- oracle: Ollama's ParseFile, one rune at a time -----------------------------------------

NIL, NAME, VALUE, PARAM, MSG, COMMENT = range(6)
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u2028\u2029\u202f\u205f\u3000"
)
KEYWORDS = {
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
}
_UCD_AFTER_15 = tuple(int(x) for x in unicodedata.unidata_version.split(".")) > (15, 0, 0)


def go_isprint(ch: str) -> bool:
    """Go's IsPrint by Unicode category.

    Where Python's database and Go's Unicode 15.0.0 may disagree (code points unassigned
    in Python's database, or assigned after 15.0), defer to the module's table, which
    tests/test_modelfile.py checks on its own.
    """
    cat = unicodedata.category(ch)
    if cat == "Cn" or (_UCD_AFTER_15 and cat[0] in "LMNPS"):
        return is_go_printable(ch)
    return ch == " " or cat[0] in "LMNPS"


def go_unquote(s: str) -> tuple[str, bool]:
    if s[:3] == '"""':
        if len(s) >= 6 and s[-3:] == '"""':
            return s[3:-3], True
        return "", False
    if s[:1] == '"':
        if len(s) >= 2 and s[-1] == '"':
            return s[1:-1], True
        return "", False
    return s, True


# Mirrors parseRuneForState in parser/parser.go one-to-one (a branch per Go case) so it can be
# reviewed against it: keep that shape rather than split it.
def step(r: str, cs: int) -> tuple[int, str | None, str | None]:  # noqa: C901
    space, newline = r in " \t", r in "\r\n"
    alpha = ("a" <= r <= "z") or ("A" <= r <= "Z")
    if cs == NIL:
        if r == "#":
            return COMMENT, None, None
        if space or newline:
            return NIL, None, None
        return NAME, r, None
    if cs == NAME:
        if alpha:
            return NAME, r, None
        if space:
            return VALUE, None, None
        return NIL, None, "cmd"
    if cs == VALUE:
        if newline or space:
            return NIL, r, None
        return VALUE, r, None
    if cs == PARAM:
        if alpha or "0" <= r <= "9" or r == "_":
            return PARAM, r, None
        if space:
            return VALUE, None, None
        return NIL, None, "eof"
    if cs == MSG:
        if alpha:
            return MSG, r, None
        if space:
            return VALUE, None, None
        return NIL, None, "eof"
    if newline:
        return NIL, None, None
    return COMMENT, None, None


# Mirrors ParseFile's state machine in parser/parser.go one-to-one (a branch per Go case) so it
# can be reviewed against it: keep that shape rather than split it.
def oracle_parse(text: str) -> list[tuple[str, str]] | str:  # noqa: C901
    cmds: list[tuple[str, str]] = []
    name, role, curr, line = "", "", NIL, 1
    b: list[str] = []
    for r in text:
        if r in "\r\n":
            line += 1
        nxt, out, err = step(r, curr)
        if err == "eof":
            return "unexpected EOF: " + "".join(b)
        if err == "cmd":
            return f"(line {line}): {INVALID_COMMAND}"
        if nxt != curr:
            s = "".join(b)
            if curr == NAME:
                if s.lower() not in KEYWORDS:
                    return f"(line {line}): {INVALID_COMMAND}"
                low = s.lower()
                if low == "from":
                    name = "model"
                elif low == "parameter":
                    nxt = PARAM
                else:
                    if low == "message":
                        nxt = MSG
                    name = low
            elif curr == PARAM:
                name = s
            elif curr == MSG:
                if s not in ("system", "user", "assistant"):
                    return f"(line {line}): {INVALID_ROLE}"
                role = s
            elif curr == VALUE:
                v, ok = go_unquote(s.strip(GO_SPACE))
                if not ok or r in " \t":
                    b.append(r)
                    continue
                if role:
                    v, role = role + ": " + v, ""
                cmds.append((name, v))
            b = []
            curr = nxt
        if out is not None and go_isprint(out):
            b.append(out)
    if curr == VALUE:
        v, ok = go_unquote("".join(b).strip(GO_SPACE))
        if not ok:
            return "unexpected EOF"
        if role:
            v = role + ": " + v
        cmds.append((name, v))
    elif curr not in (NIL, COMMENT):
        return "unexpected EOF"
    if not any(n == "model" for n, _ in cmds):
        return "no FROM line"
    return cmds


def module_parse(text: str | bytes) -> list[tuple[str, str]] | str:
    try:
        return [(c.name, c.args) for c in parse(text)]
    except ModelfileError as e:
        return e.message


TOKENS = [
    "FROM",
    "from",
    "SYSTEM",
    "system",
    "TEMPLATE",
    "PARAMETER",
    "parameter",
    "MESSAGE",
    "LICENSE",
    "ADAPTER",
    "REQUIRES",
    "DRAFT",
    "RENDERER",
    "PARSER",
    "user",
    "assistant",
    "tool",
    "User",
    "top_k",
    "stop",
    "num_ctx",
    " ",
    " ",
    "  ",
    "\t",
    "\n",
    "\n",
    "\r",
    "\r\n",
    '"',
    '"',
    '"""',
    '""',
    "#",
    "x",
    "7",
    "_",
    "-",
    ".",
    ":",
    "\u00a0",
    "\u200d",
    "\x00",
    "\ufeff",
    "é",
    "你",
    "👋",
    "\\n",
    "\x7f",
    "\u2028",
    "Ä",
]
modelfile_text = st.one_of(
    st.lists(st.sampled_from(TOKENS), max_size=40).map("".join),
    st.lists(st.sampled_from(TOKENS), max_size=30).map(lambda xs: "FROM base\n" + "".join(xs)),
    st.text(max_size=60),
)


@given(modelfile_text)
@example('FROM b\nSYSTEM """Quote: """\nnext line"""')
@example('FROM b\nSYSTEM """"""""\n"""\n')
@example('FROM b\nSYSTEM "\n\t"\r\n""x\n"')
@example("\u00a0FROM x")
@example('FROM x\nSYSTEM ""\u00a0"')
def test_parser_matches_ollama_state_machine(text: str) -> None:
    # Ollama reads bytes: a leading BOM never reaches its state machine (a str is taken
    # as the decoded file, so a leading U+FEFF is dropped the same way).
    assert module_parse(text) == oracle_parse(text.removeprefix("\ufeff"))


# --- totality -------------------------------------------------------------------------------


@given(st.one_of(modelfile_text, st.text()))
def test_parse_is_total_on_text(text: str) -> None:
    try:
        parse_modelfile(text, filename="Modelfile")
    except ModelfileError as e:
        assert e.message and e.file == "Modelfile"


@given(
    st.one_of(
        st.binary(max_size=80),
        st.tuples(st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"]), st.binary(max_size=60)).map(
            lambda t: t[0] + t[1]
        ),
        modelfile_text.map(lambda s: s.encode("utf-16-le", "surrogatepass")).map(lambda b: b"\xff\xfe" + b),
    )
)
def test_parse_is_total_on_bytes(data: bytes) -> None:
    try:
        parse_modelfile(data)
    except ModelfileError as e:
        assert e.message


PARAM_VALUES = st.sampled_from(
    [
        "1",
        "-1",
        "0.5",
        "1e-3",
        "nan",
        "inf",
        "4096.0",
        "true",
        "T",
        "x",
        "",
        "0x1p-2",
        "9223372036854775808",
        "1_0",
        "+.5e+1",
        "1e99999999999",
        "0x1p99999999999",
        "0." + "0" * 400 + "1",
        "9" * 5000,
        "0" * 5000 + "1",
        "0x" + "f" * 5000 + "p0",
        "1e" + "0" * 5000 + "1",
    ]
)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(sorted(params.BY_NAME) + ["mirostat", "numa", "message", "requires", "model"]), PARAM_VALUES
        ),
        max_size=6,
    )
)
def test_to_spec_is_total(items: list[tuple[str, str]]) -> None:
    text = "FROM x\n" + "".join(f"PARAMETER {n} {quote_value(v, field='v')}\n" for n, v in items)
    try:
        parse_modelfile(text)
    except ModelfileError as e:
        assert e.message and e.line is not None


# --- decoding -------------------------------------------------------------------------------


def _accept(first: int) -> tuple[int, int, int] | None:
    """(size, lo, hi) for a UTF-8 lead byte, None if it cannot start a sequence."""
    if 0xC2 <= first <= 0xDF:
        return 2, 0x80, 0xBF
    if first == 0xE0:
        return 3, 0xA0, 0xBF
    if first == 0xED:
        return 3, 0x80, 0x9F
    if 0xE1 <= first <= 0xEF:
        return 3, 0x80, 0xBF
    if first == 0xF0:
        return 4, 0x90, 0xBF
    if 0xF1 <= first <= 0xF3:
        return 4, 0x80, 0xBF
    if first == 0xF4:
        return 4, 0x80, 0x8F
    return None


def oracle_utf8(data: bytes, per_byte: bool) -> str:
    out: list[str] = []
    i, n = 0, len(data)
    while i < n:
        c = data[i]
        if c < 0x80:
            out.append(chr(c))
            i += 1
            continue
        acc = _accept(c)
        if acc is None:
            out.append("\ufffd")
            i += 1
            continue
        size, lo, hi = acc
        bad = 0  # length of the maximal ill-formed subpart, 0 when valid
        if i + 1 >= n or not lo <= data[i + 1] <= hi:
            bad = 1
        elif size > 2 and (i + 2 >= n or not 0x80 <= data[i + 2] <= 0xBF):
            bad = 2
        elif size > 3 and (i + 3 >= n or not 0x80 <= data[i + 3] <= 0xBF):
            bad = 3
        if bad:
            out.append("\ufffd")
            i += 1 if per_byte else bad
            continue
        out.append(data[i : i + size].decode("utf-8"))
        i += size
    return "".join(out)


def oracle_decode(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        little = data[:2] == b"\xff\xfe"
        body = data[2:]
        out: list[str] = []
        i = 0
        while i < len(body):
            if i + 1 >= len(body):
                out.append("\ufffd")
                break
            u = int.from_bytes(body[i : i + 2], "little" if little else "big")
            if 0xD800 <= u <= 0xDFFF and i + 3 < len(body):
                u2 = int.from_bytes(body[i + 2 : i + 4], "little" if little else "big")
                if 0xDC00 <= u2 <= 0xDFFF:
                    pair = chr(0x10000 + ((u - 0xD800) << 10) + (u2 - 0xDC00)) if u < 0xDC00 else "\ufffd"
                    out.append(pair)
                    i += 4
                    continue
            out.append("\ufffd" if 0xD800 <= u <= 0xDFFF else chr(u))
            i += 2
        return "".join(out)
    if data[:3] == b"\xef\xbb\xbf":
        return oracle_utf8(data[3:], per_byte=True)
    return oracle_utf8(data, per_byte=False)


utf8ish = st.lists(
    st.one_of(
        st.binary(min_size=1, max_size=3),
        st.sampled_from(
            [
                b"\xe2\x82",
                b"\xf0\x9f\x98",
                b"\xed\xa0\x80",
                b"\xc0\x80",
                b"\xf4\x90\x80\x80",
                b"\xe0\x80",
                b"\xef\xbb\xbf",
                "é你👋".encode(),
            ]
        ),
    ),
    max_size=12,
).map(b"".join)


@given(
    st.one_of(
        utf8ish,
        utf8ish.map(lambda b: b"\xef\xbb\xbf" + b),
        st.binary(max_size=16).map(lambda b: b"\xff\xfe" + b),
        st.binary(max_size=16).map(lambda b: b"\xfe\xff" + b),
        st.lists(st.sampled_from([b"\x00\xd8", b"\x00\xdc", b"A\x00", b"=\xd8", b"\x00\xde"]), max_size=6).map(
            lambda xs: b"\xff\xfe" + b"".join(xs)
        ),
    )
)
def test_decode_matches_go(data: bytes) -> None:
    assert decode(data) == oracle_decode(data)


# --- quoting round trip ---------------------------------------------------------------------

NASTY = st.lists(
    st.one_of(
        st.sampled_from(
            [
                '"',
                '"',
                '"""',
                " ",
                "\t",
                "\r",
                "\n",
                "\r\n",
                "#",
                "\u00a0",
                "\u200d",
                "\x00",
                "\x85",
                "\ufeff",
                "\u2028",
                "é",
                "👋",
                "x",
                "\\",
            ]
        ),
        st.characters(),
    ),
    max_size=30,
).map("".join)


def roundtrip_targets(q: str) -> list[tuple[str, str, str]]:
    """(Modelfile text, expected command name, prefix of args) for each place a value goes."""
    return [
        (f"FROM base\nSYSTEM {q}\n", "system", ""),
        (f"FROM base\nTEMPLATE {q}", "template", ""),
        (f"FROM base\nMESSAGE user {q}\nLICENSE x\n", "message", "user: "),
        (f"FROM base\nMESSAGE assistant {q}\r\n", "message", "assistant: "),
        (f"FROM base\nPARAMETER stop {q}\n", "stop", ""),
    ]


@given(NASTY)
@example("")
@example('a\nb"""')
@example('"')
@example('""\n"')
@example("\r")
@example(' "x" ')
@example('x\n"""')
def test_quote_roundtrip(value: str) -> None:
    try:
        q = quote_value(value, field="system")
    except ModelfileError as e:
        assert e.field == "system"
        # a refusal is only allowed for values no Modelfile can carry
        lines = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        unprintable = any(ch not in "\t\r\n" and not go_isprint(ch) for ch in value)
        early_end = any(line.rstrip(" \t").endswith('"""') for line in lines[:-1])
        assert unprintable or early_end
        return
    assert "\n" not in q[3:-3] or q.startswith('"""')
    for text, name, prefix in roundtrip_targets(q):
        got = parse(text)
        assert (got[1].name, got[1].args) == (name, prefix + value)
        assert oracle_parse(text)[1] == (name, prefix + value)  # type: ignore[index]
    spec = parse_modelfile(f"FROM base\nMESSAGE user {q}\nPARAMETER stop {q}\n")
    assert spec.messages == [{"role": "user", "content": value}]
    assert spec.parameters == {"stop": [value]}


# --- typed parameter values -----------------------------------------------------------------

F32_MAX = struct.unpack("<f", b"\xff\xff\x7f\x7f")[0]


def f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


def f32_neighbours(c: float) -> list[float]:
    bits = struct.unpack("<I", struct.pack("<f", c))[0]
    out = [c]
    for b in (bits - 1, bits + 1):
        if 0 <= b < 0x7F800000 or 0x80000000 <= b < 0xFF800000:
            out.append(struct.unpack("<f", struct.pack("<I", b))[0])
    return out


def oracle_f32(q: Fraction) -> float | None:
    """Nearest float32 to q, ties to even; None beyond Go's ErrRange threshold."""
    threshold = Fraction(2**128 - 2**103)
    if abs(q) >= threshold:
        return None
    x = float(q)
    c = f32(x) if abs(x) <= F32_MAX else math.copysign(F32_MAX, x)
    best = min(
        f32_neighbours(c), key=lambda y: (abs(Fraction(y) - q), struct.unpack("<I", struct.pack("<f", y))[0] & 1)
    )
    return best


decimal_strings = st.builds(
    lambda sign, ip, fp, ex: f"{sign}{ip}.{fp}e{ex}",
    st.sampled_from(["", "-", "+"]),
    st.text(alphabet="0123456789", min_size=1, max_size=12),
    st.text(alphabet="0123456789", max_size=30),
    st.integers(-60, 45),
)


@given(st.one_of(decimal_strings, st.floats(allow_nan=False, allow_infinity=False).map(repr)))
@example("1.000000059604644775390625")
@example("3.4028235677973366e38")
@example("3.40282356779733661637539395458142568447e38")
@example("7.006492321624085354618647916449580656401309709382578858785341419448955413429303e-46")
def test_float32_parsing_is_exact(s: str) -> None:
    mant, _, ex = s.lower().partition("e")
    q = Fraction(mant) * Fraction(10) ** int(ex or 0)
    expected = oracle_f32(q)
    got = go_parse_float32(s)
    if expected is None:
        assert got is None
    else:
        assert got == expected
        if expected == 0:
            assert math.copysign(1, got) == (-1 if s.startswith("-") else 1)  # type: ignore[arg-type]


def spec_value(name: str, value: object) -> object:
    text = "FROM x\n" + "\n".join(parameter_lines(name, value)) + "\n"
    return parse_modelfile(text).parameters[name]


@given(
    st.sampled_from([p.name for p in params.CATALOGUE if p.type == "int"]),
    st.integers(params.INT64_MIN, params.INT64_MAX),
)
def test_int_roundtrip(name: str, value: int) -> None:
    assert spec_value(name, value) == value


@given(
    st.sampled_from([p.name for p in params.CATALOGUE if p.type == "float"]),
    st.one_of(
        st.floats(allow_nan=False, allow_infinity=False, width=32),
        st.floats(allow_nan=False, allow_infinity=False, min_value=-3.5e38, max_value=3.5e38),
        st.integers(-(10**40), 10**40),
    ),
)
@example("temperature", 1.0000000596046448)
@example("temperature", 2.0**-150 * 3)
def test_float_roundtrip(name: str, value: float) -> None:
    try:
        text = format_parameter_value(name, value)
    except ModelfileError:
        assert abs(value) > F32_MAX
        return
    # Python reads the text back to the same number
    assert (int(text) if isinstance(value, int) else float(text)) == value
    got = spec_value(name, value)
    assert isinstance(got, float)
    assert f32(got) == oracle_f32(Fraction(value))  # the float32 Ollama gets is value's float32
    assert got == float(repr(got))


@given(st.booleans())
def test_bool_roundtrip(value: bool) -> None:
    assert spec_value("use_mmap", value) is value


@given(st.lists(NASTY, min_size=1, max_size=3))
def test_stop_list_roundtrip(values: list[str]) -> None:
    try:
        lines = parameter_lines("stop", values)
    except ModelfileError:
        return
    assert parse_modelfile("FROM x\n" + "\n".join(lines)).parameters["stop"] == values


# --- whole spec round trip ------------------------------------------------------------------

text_value = st.lists(
    st.one_of(
        st.characters(whitelist_categories=("L", "M", "N", "P", "S")),
        st.sampled_from([" ", "\t", "\n", "\r", '"', '"""']),
    ),
    max_size=20,
).map("".join)


@settings(max_examples=100)
@given(
    st.lists(text_value.filter(bool), min_size=1, max_size=2),
    st.dictionaries(
        st.sampled_from(["num_ctx", "top_k", "temperature", "top_p", "use_mmap", "stop"]), st.none(), max_size=6
    ),
    st.one_of(st.none(), text_value),
    st.one_of(st.none(), text_value),
    st.lists(st.tuples(st.sampled_from(["system", "user", "assistant"]), text_value), max_size=3),
    st.lists(text_value, max_size=2),
    st.data(),
)
def test_command_lines_roundtrip(
    froms: list[str],
    keys: dict[str, None],
    system: str | None,
    template: str | None,
    msgs: list[tuple[str, str]],
    lic: list[str],
    data: st.DataObject,
) -> None:
    values = {
        "num_ctx": st.integers(1, 2**20),
        "top_k": st.integers(0, 100),
        "temperature": st.floats(0, 2, width=32),
        "top_p": st.floats(0, 1, width=32),
        "use_mmap": st.booleans(),
        "stop": st.lists(text_value, min_size=1, max_size=3),
    }
    parameters = {k: data.draw(values[k]) for k in keys}
    messages = [{"role": r, "content": c} for r, c in msgs]
    try:
        lines = command_lines(
            froms=froms, parameters=parameters, system=system, template=template, messages=messages, license=lic
        )
    except ModelfileError:
        assume(False)
        return
    spec = parse_modelfile("\n".join(lines) + "\n")
    assert spec.froms == froms
    # floats come back as the shortest decimal of their float32: compare at float32 precision
    assert {k: f32(v) if isinstance(v, float) else v for k, v in spec.parameters.items()} == parameters
    assert (spec.system, spec.template) == (system, template)
    assert spec.messages == messages
    assert spec.license == lic


# --- number parsers: totality and shortest float32 text ---------------------------------------

NUMBERISH = st.text(alphabet="0123456789+-._eEpPxXabcdfinINFtyAn \u0661", max_size=24)


@given(NUMBERISH)
def test_number_parsers_are_total(s: str) -> None:
    from modelctl.ollama.wire import go_parse_bool, go_parse_int, go_semver_valid

    go_parse_int(s)
    go_parse_bool(s)
    go_semver_valid("v" + s)
    got = go_parse_float32(s)
    assert got is None or isinstance(got, float)


def significant_digits(x: float) -> int:
    mant = repr(abs(x)).split("e")[0]
    return len(mant.replace(".", "").strip("0")) or 1


@given(st.integers(0, 0x7F7FFFFF), st.booleans())
@example(0x6E800000, False)  # 2**92: a power of two that needs 8 digits
def test_float32_shortest_roundtrips_and_is_shortest(bits: int, negative: bool) -> None:
    from modelctl.ollama.wire import float32_shortest

    y = struct.unpack("<f", struct.pack("<I", bits | (0x80000000 if negative else 0)))[0]
    short = float32_shortest(y)
    assert go_parse_float32(repr(short)) == y
    n = significant_digits(short)
    if y != 0 and n > 1:
        # no decimal with fewer significant digits reads back as y
        e = math.floor(math.log10(abs(short)))
        scale = Fraction(10) ** (e - (n - 2))
        base = math.floor(Fraction(abs(y)) / scale)
        for cand in (base - 1, base, base + 1, base + 2):
            if cand > 0:
                q = cand * scale
                assert oracle_f32(q) != abs(y) or significant_digits(float(q)) >= n
