"""Ollama's wire formats, reproduced exactly: one home for each rule.

* Go's ``strconv`` as Ollama applies it to Modelfile values: ``ParseInt``, ``ParseBool``,
  ``ParseFloat(v, 32)`` (exact to the bit), and ``x/mod/semver.IsValid``.
* float32: Ollama keeps float options as float32, so :func:`f32` rounds, :func:`as_sent`
  gives the number the server receives (the shortest decimal Go's JSON encoder writes for a
  float32) and :func:`same_value` compares stored values at that precision.
* Go's ``strconv.Quote`` undone (:func:`go_unquote`) and the ``parameters`` text of
  ``/api/show`` (:func:`parse_parameters`).
* Model names as Ollama matches them: case-insensitive, ``:latest`` implied.
* Blob digests (``sha256:`` + 64 lowercase hex) and the blob lines of a generated Modelfile.
* Version numbers (``0.12.3``, ``v0.5``) and Go's RFC 3339 timestamps.

Standard library and the parameter catalogue only; no I/O. Text that does not follow a
format raises :class:`MalformedAnswer` (a ValueError); server.py turns it into exit 5.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, overload

from modelctl.common.units import f32
from modelctl.profile.params import BY_NAME, INT64_MAX, INT64_MIN, ORDER, suggest

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.ollama.shapes import PsEntry, PsResponse, ShowResponse, TagsEntry, TagsResponse
    from modelctl.profile.params import Params, ParamScalar, ParamValue


class MalformedAnswer(ValueError):
    """Text from the server that does not follow the format Ollama writes."""


# --- Go number and version parsing (strconv, x/mod/semver) ----------------------------------

_GO_INT = re.compile(r"[+-]?[0-9]+")
_GO_DEC = re.compile(r"[+-]?([0-9_]*\.?[0-9_]*)(?:[eE]([+-]?[0-9][0-9_]*))?")
_GO_HEX = re.compile(r"[+-]?0[xX]([0-9a-fA-F_]*\.?[0-9a-fA-F_]*)[pP]([+-]?[0-9][0-9_]*)")
_HAS_DIGIT = re.compile(r"[0-9]")
_HAS_HEXDIGIT = re.compile(r"[0-9a-fA-F]")
_F32 = struct.Struct("<f")
F32_MAX = _F32.unpack(b"\xff\xff\x7f\x7f")[0]


def go_parse_int(s: str) -> int | None:
    """``strconv.ParseInt(s, 10, 64)``; None where Go returns an error."""
    if _GO_INT.fullmatch(s) is None:
        return None
    digits = s.lstrip("+-").lstrip("0")
    if len(digits) > 19:
        return None
    v = int(digits or "0")  # never int(s): Python refuses > 4300-digit strings, zeros included
    if s.startswith("-"):
        v = -v
    return v if INT64_MIN <= v <= INT64_MAX else None


def go_parse_bool(s: str) -> bool | None:
    """``strconv.ParseBool``."""
    if s in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if s in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def _underscore_ok(s: str) -> bool:
    # strconv.underscoreOK: '_' only between digits (a base prefix counts as a digit).
    saw = "^"
    if s[:1] in ("+", "-"):
        s = s[1:]
    hexd = False
    i = 0
    if len(s) >= 2 and s[0] == "0" and s[1] in "bBoOxX":
        i = 2
        saw = "0"
        hexd = s[1] in "xX"
    for ch in s[i:]:
        if "0" <= ch <= "9" or (hexd and ch in "abcdefABCDEF"):
            saw = "0"
            continue
        if ch == "_":
            if saw != "0":
                return False
            saw = "_"
            continue
        if saw == "_":
            return False
        saw = "!"
    return saw != "_"


def _f32_from_ratio(num: int, den: int) -> float | None:
    """Round num/den (> 0) to the nearest float32, ties to even; None on overflow."""
    e = num.bit_length() - den.bit_length()
    if (num << max(0, -e)) < (den << max(0, e)):
        e -= 1  # now 2**e <= num/den < 2**(e+1)
    shift = max(e, -126) - 23  # the float32 ulp at that magnitude
    if shift >= 0:
        q, r = divmod(num, den << shift)
        half = den << shift
    else:
        q, r = divmod(num << -shift, den)
        half = den
    if 2 * r > half or (2 * r == half and q & 1):
        q += 1
    if q.bit_length() + shift > 128:
        return None
    v = math.ldexp(q, shift)
    return None if v > F32_MAX else v


def is_f32_tie(ax: float) -> bool:
    """True when the (positive, finite) float64 ``ax`` lies exactly halfway between floats32."""
    if ax < 2.0**-126:
        k = ax * 2.0**150
    else:
        m, e = math.frexp(ax)
        k = m * 2.0**25
    return k.is_integer() and int(k) & 1 == 1


def _f32_round(x: float) -> float | None:
    """float64 -> nearest float32 (None on overflow). Not for ties (see is_f32_tie)."""
    try:
        return float(_F32.unpack(_F32.pack(x))[0])
    except OverflowError:
        return None


_MAX_DIGITS = 800  # plenty to decide float32 rounding exactly; the rest becomes a sticky digit


def _exact_decimal_f32(mant: str, exp: int, neg: bool) -> float | None:
    intpart, _, frac = mant.partition(".")
    digits = (intpart + frac).lstrip("0")
    e10 = exp - len(frac)
    if not digits:
        return -0.0 if neg else 0.0
    if len(digits) > _MAX_DIGITS:
        tail = digits[_MAX_DIGITS:]
        e10 += len(tail)
        digits = digits[:_MAX_DIGITS]
        if tail.strip("0"):
            digits += "1"
            e10 -= 1
    mag = e10 + len(digits) - 1
    if mag > 39:
        return None
    if mag < -47:
        return -0.0 if neg else 0.0
    m = int(digits)
    v = _f32_from_ratio(m * 10**e10, 1) if e10 >= 0 else _f32_from_ratio(m, 10**-e10)
    if v is None:
        return None
    return -v if neg else v


def _exp_value(s: str | None) -> int:
    if not s:
        return 0
    s = s.replace("_", "")
    sign = -1 if s.startswith("-") else 1
    d = s.lstrip("+-").lstrip("0") or "0"
    if len(d) > 7:
        return sign * 10**7  # far beyond any float; keeps the arithmetic small
    return sign * int(d)


def go_parse_float32(s: str) -> float | None:
    """``strconv.ParseFloat(s, 32)`` -> the float32 value as a Python float.

    None where Go returns an error (bad syntax, or out of float32 range: ErrRange).
    Accepts Go's forms: sign, ``.5``, ``5.``, exponents, ``_`` between digits, hex
    floats with a mandatory ``p`` exponent, and case-insensitive ``nan``, ``inf``,
    ``infinity`` (signed, except nan). Underflow rounds to zero without error.
    """
    if len(s) <= 48:  # profiles repeat the same few numbers: remember short texts
        return _go_parse_float32_cached(s)
    return _go_parse_float32(s)


@lru_cache(maxsize=4096)
def _go_parse_float32_cached(s: str) -> float | None:
    return _go_parse_float32(s)


def _go_parse_float32(s: str) -> float | None:
    """The work behind :func:`go_parse_float32`."""
    low = s.lower()
    if low == "nan":
        return math.nan
    if low.lstrip("+-") in ("inf", "infinity") and len(low) - len(low.lstrip("+-")) <= 1:
        return -math.inf if low.startswith("-") else math.inf
    neg = s.startswith("-")
    mh = _GO_HEX.fullmatch(s)
    if mh is not None:
        mant = mh.group(1)
        if _HAS_HEXDIGIT.search(mant) is None or ("_" in s and not _underscore_ok(s)):
            return None
        mant = mant.replace("_", "")
        intpart, _, frac = mant.partition(".")
        digits = (intpart + frac).lstrip("0")
        if not digits:
            return -0.0 if neg else 0.0
        m = int(digits, 16)
        p = _exp_value(mh.group(2)) - 4 * len(frac)
        top = p + m.bit_length() - 1
        if top > 128:
            return None
        if top < -151:
            return -0.0 if neg else 0.0
        v = _f32_from_ratio(m << p, 1) if p >= 0 else _f32_from_ratio(m, 1 << -p)
        if v is None:
            return None
        return -v if neg else v
    md = _GO_DEC.fullmatch(s)
    if md is None or _HAS_DIGIT.search(md.group(1)) is None:
        return None
    if "_" in s:
        if not _underscore_ok(s):
            return None
        s = s.replace("_", "")
    x = float(s)  # correctly rounded float64 (inf/0 on over/underflow)
    ax = abs(x)
    if ax == math.inf:
        return None
    if ax == 0.0:
        return x
    if is_f32_tie(ax):
        # Double rounding could differ from Go's direct rounding: decide exactly.
        mant = s.lstrip("+-").split("e")[0].split("E")[0]
        return _exact_decimal_f32(mant, _exp_value(md.group(2)), neg)
    return _f32_round(x)


def float32_shortest(y: float) -> float:
    """The Python float of the shortest decimal that reads back as float32 ``y``.

    That decimal is what Go's JSON encoder writes for a float32, so it is the number
    Ollama's server receives for a PARAMETER float.
    """
    if y == 0.0 or not math.isfinite(y) or abs(y) > F32_MAX:
        return y
    return math.copysign(_shortest_positive(abs(y)), y)


@lru_cache(maxsize=4096)
def _shortest_positive(ay: float) -> float:
    m32 = _F32.pack(ay)
    power_of_two = (int.from_bytes(m32, "little") & 0x7FFFFF) == 0
    for p in range(1, 10):
        s = f"{ay:.{p - 1}e}"
        if _go_parse_float32(s) == ay:
            return float(s)
        if power_of_two:
            # The rounding interval is wider above a power of two: the next p-digit
            # decimal up may fit although the nearest does not.
            mant, _, ex = s.partition("e")
            up = f"{int(mant.replace('.', '')) + 1}e{int(ex) - (p - 1)}"
            if _go_parse_float32(up) == ay:
                return float(up)
    return ay


_SEMVER = re.compile(
    r"v(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*)"
    r"(?:-(?:[0-9A-Za-z-]+)(?:\.[0-9A-Za-z-]+)*)?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?)?"
)
_BAD_NUM = re.compile(r"0[0-9]+")


def go_semver_valid(v: str) -> bool:
    """``golang.org/x/mod/semver.IsValid`` (``v`` prefix required)."""
    if _SEMVER.fullmatch(v) is None:
        return False
    # Numeric pre-release identifiers must not have leading zeros.
    core, plus, _build = v.partition("+")
    _, dash, pre = core.partition("-")
    if dash:
        for ident in pre.split("."):
            if _BAD_NUM.fullmatch(ident):
                return False
    return True


# --- float32 as the server keeps it ----------------------------------------------------------


@lru_cache(maxsize=4096)
def _f32_sent(value: float) -> float:
    return float32_shortest(f32(value))


@overload
def as_sent(value: ParamScalar) -> ParamScalar: ...


@overload
def as_sent(value: ParamValue) -> ParamValue: ...


def as_sent(value: ParamValue) -> ParamValue:
    """A parameter value as the server receives it from Ollama's CLI: a float goes through
    float32 (``ParseFloat(v, 32)``), and Go's JSON encoder writes that float32's shortest decimal."""
    if isinstance(value, float):
        return _f32_sent(value)
    return value


def same_value(name: str, a: object, b: object) -> bool:
    """Equal as stored: floats at float32 precision, ints exactly, stop lists as sets."""
    if a is None or b is None:
        return a is b
    param = BY_NAME.get(name)
    if isinstance(a, list) or isinstance(b, list):
        la = a if isinstance(a, list) else [a]
        lb = b if isinstance(b, list) else [b]
        return sorted(map(str, la)) == sorted(map(str, lb))
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b) and isinstance(a, bool) == isinstance(b, bool)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if param is not None and param.type == "int":
            return int(a) == int(b) and float(a).is_integer() and float(b).is_integer()
        fa, fb = f32(float(a)), f32(float(b))
        return fa == fb or (math.isnan(fa) and math.isnan(fb))
    return bool(a == b)


# --- /api/show "parameters": Go syntax, random order ----------------------------------------

_SIMPLE_ESCAPES = {
    "a": 0x07, "b": 0x08, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B,
    "\\": 0x5C, '"': 0x22, "'": 0x27,
}  # fmt: skip


def go_unquote(text: str) -> str:
    """Undo Go's ``strconv.Quote`` (what ``%#v`` writes for a string).

    ``\\xNN`` and octal escapes are bytes (as in Go), ``\\uNNNN``/``\\UNNNNNNNN`` code points;
    the result is decoded as UTF-8 with invalid sequences replaced, as Go would print them.
    Raises :class:`MalformedAnswer` for text that is not a complete double-quoted Go string.
    """
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise MalformedAnswer(f"not a Go double-quoted string: {text[:80]!r}")
    body = text[1:-1]
    out = bytearray()
    i = 0
    n = len(body)
    while i < n:
        ch = body[i]
        if ch != "\\":
            out += ch.encode("utf-8", "surrogatepass")
            i += 1
            continue
        i = _unescape(body, i, out)
    return out.decode("utf-8", "replace")


_ESCAPE_WIDTH = {"x": (2, 16), "u": (4, 16), "U": (8, 16)}


def _unescape(body: str, i: int, out: bytearray) -> int:
    """Append the escape at ``body[i]`` (a backslash) to ``out``; return the index after it."""
    if i + 1 >= len(body):
        raise MalformedAnswer("dangling backslash in a Go string")
    esc = body[i + 1]
    if esc in _SIMPLE_ESCAPES:
        out.append(_SIMPLE_ESCAPES[esc])
        return i + 2
    if esc in "01234567":
        digits, base, start, width, is_byte = body[i + 1 : i + 4], 8, i + 1, 3, True
    elif esc in _ESCAPE_WIDTH:
        width, base = _ESCAPE_WIDTH[esc]
        start = i + 2
        digits, is_byte = body[start : start + width], esc == "x"
    else:
        raise MalformedAnswer(f"unknown escape \\{esc} in a Go string")
    if len(digits) != width:
        raise MalformedAnswer(f"short escape \\{esc}{digits} in a Go string")
    try:
        code = int(digits, base)
        if is_byte:
            out.append(code & 0xFF)
        else:
            out += chr(code).encode("utf-8", "surrogatepass")
    except ValueError:
        raise MalformedAnswer(f"bad escape \\{esc}{digits} in a Go string") from None
    return start + width


def go_scalar(raw: str) -> ParamScalar:
    """A ``%#v`` value: a quoted string, true/false, or a float64 (``4096``, ``0.7``, ``1e+06``)."""
    if raw.startswith('"'):
        return go_unquote(raw)
    if raw in ("true", "false"):
        return raw == "true"
    if raw in ("NaN", "+Inf", "-Inf"):
        return float(raw.replace("Inf", "inf"))
    try:
        return float(raw)
    except ValueError:
        return raw  # something newer than this parser: keep it as text


def _typed(name: str, value: ParamScalar) -> ParamScalar:
    """Give a catalogue parameter its catalogue type (the server keeps JSON float64s)."""
    param = BY_NAME.get(name)
    if param is None or isinstance(value, str):
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
            return int(value)
        return value
    if param.type == "int" and isinstance(value, float) and math.isfinite(value):
        return int(value)
    if param.type == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def parse_parameters(text: str | None) -> Params:
    """Parse /api/show ``parameters`` into ``{name: value}``.

    Each line is the name padded to 30 columns, a space, then a Go-syntax value. ``stop``
    (and any other name that repeats) accumulates into a list in line order; catalogue
    parameters get their catalogue type (ints as int, floats as float, stop as a list).
    The order of the result is the catalogue order, then the rest by name.
    """
    values: Params = {}
    lists: dict[str, list[ParamScalar]] = {}  # the names that repeat, or hold a list
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        parts = line.strip().split(None, 1)
        name = parts[0]
        raw = parts[1].strip() if len(parts) > 1 else ""
        value = _typed(name, go_scalar(raw))
        param = BY_NAME.get(name)
        if name == "stop" or (param is not None and param.type == "list[str]") or name in values:
            if name not in lists:
                first = values.get(name)  # a name that repeats: its first value starts the list
                lists[name] = [] if first is None or isinstance(first, list) else [first]
                values[name] = lists[name]
            lists[name].append(value)
        else:
            values[name] = value
    return order_parameters(values)


def order_parameters(values: Mapping[str, ParamValue]) -> Params:
    """Catalogue order, then unknown names alphabetically."""
    return {k: values[k] for k in sorted(values, key=lambda k: (ORDER.get(k, len(ORDER)), k))}


# --- model names ------------------------------------------------------------------------------


def model_key(name: str) -> str:
    """A model name as Ollama matches it: lower case, ``:latest`` implied (a ``host:port/``
    prefix is not a tag)."""
    n = name.strip().lower()
    return n if ":" in n.rsplit("/", 1)[-1] else n + ":latest"


def same_model_name(a: str, b: str) -> bool:
    return model_key(a) == model_key(b)


@overload
def find_entry(listing: TagsResponse | None, name: str) -> TagsEntry | None: ...  # type: ignore[overload-overlap]


@overload
def find_entry(listing: PsResponse | None, name: str) -> PsEntry | None: ...


def find_entry(listing: TagsResponse | PsResponse | None, name: str) -> TagsEntry | PsEntry | None:
    """The /api/tags or /api/ps entry for ``name`` (``:latest`` implied, case-insensitive).

    An entry is known by its ``name`` (its ``model`` only when it has no name, as
    :func:`listed_names` reads it): an entry whose ``model`` field alone matches is another
    model, and ``rm NAME`` must never delete it."""
    models = listing.get("models") if listing else None
    entries: list[TagsEntry] | list[PsEntry] = models if isinstance(models, list) else []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        own = entry.get("name") or entry.get("model")
        if isinstance(own, str) and same_model_name(own, name):
            return entry
    return None


def listed_names(listing: Mapping[str, object] | None) -> list[str]:
    """The model names of an /api/tags (or /api/ps) answer, in its order."""
    models = (listing or {}).get("models")
    out: list[str] = []
    for entry in models if isinstance(models, list) else []:
        if isinstance(entry, dict):
            n = entry.get("name") or entry.get("model")
            if isinstance(n, str) and n:
                out.append(n)
    return out


def near_models(name: str, names: Iterable[str], most: int = 3) -> list[str]:
    """The models of ``names`` that ``name`` most likely meant, as Ollama matches names: the same
    model (case and ``:latest`` aside), else the tags of the same model (``llama3.2`` when only
    ``llama3.2:3b`` is there), else the closest spelling (``llama3.2:3bb``). Empty: nothing near."""
    keys: dict[str, str] = {}
    for n in names:
        keys.setdefault(model_key(n), n)
    key = model_key(name)
    if key in keys:
        return [keys[key]]
    repo = key.rsplit(":", 1)[0]
    same = [n for k, n in keys.items() if k.rsplit(":", 1)[0] == repo]
    if same:
        return same[:most]
    close = suggest(key, list(keys), cutoff=0.75)
    return [keys[close]] if close is not None else []


# --- blob digests -----------------------------------------------------------------------------

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_BLOB_LINE = re.compile(r"^(FROM|ADAPTER)\s+\S*?sha256[-:]([0-9a-fA-F]{64})\s*$", re.MULTILINE)


def is_digest(text: str) -> bool:
    """``sha256:`` + 64 lowercase hex: the only form the server computes and accepts on upload."""
    return DIGEST_RE.match(text) is not None


def modelfile_blobs(show: ShowResponse) -> tuple[list[str], list[str]]:
    """Digests of the FROM and ADAPTER blob lines of /api/show's generated Modelfile."""
    froms: list[str] = []
    adapters: list[str] = []
    text = show.get("modelfile")
    for kind, hexdigest in _BLOB_LINE.findall(text if isinstance(text, str) else ""):
        (froms if kind == "FROM" else adapters).append("sha256:" + hexdigest.lower())
    return froms, adapters


# --- versions and times -----------------------------------------------------------------------

_VERSION = re.compile(r"^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def parse_version(version: str | None) -> tuple[int, int, int] | None:
    """``(major, minor, patch)`` of ``0.12.3``, ``v0.5`` or ``0.33.0-rc2``; None if not a version."""
    m = _VERSION.match(version or "")
    if not m:
        return None
    major, minor, patch = (int(g) if g is not None else 0 for g in m.groups())
    return major, minor, patch


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 comparing the numeric ``major.minor.patch`` cores (pre-release tags ignored)."""
    ta, tb = parse_version(a), parse_version(b)
    if ta is None or tb is None:
        raise ValueError(f"not a version: {a if ta is None else b!r}")
    return (ta > tb) - (ta < tb)


def older_than(version: str | None, minimum: str) -> bool:
    """True when ``version`` is a release older than ``minimum``.

    ``0.0.0`` (a development build), a missing and an unreadable version count as new.
    """
    core = parse_version(version)
    if core is None or core == (0, 0, 0):
        return False
    return compare_versions(str(version), minimum) < 0


_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$")


def parse_rfc3339(text: object) -> datetime | None:
    """An aware datetime from Go's RFC3339Nano text (nanoseconds cut to micro); None if not one."""
    m = _RFC3339.match(text) if isinstance(text, str) else None
    if m is None:
        return None
    date, clock, frac, zone = m.groups()
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        return datetime.fromisoformat(f"{date}T{clock}.{(frac or '0')[:6].ljust(6, '0')}{zone}")
    except ValueError:
        return None
