"""YAML 1.2 loading that keeps the line and column of every key and value.

Why not ruamel.yaml's round-trip loader: it keeps positions but costs ~6 ms per small
profile in pure Python, and ``validate`` must stay under 2 ms per profile. libyaml (via
PyYAML's C loader, with a pure-Python fallback) *composes* the node tree in ~0.3 ms;
we then construct values ourselves with the YAML 1.2 core schema, so ``yes``/``no``/``on``
stay strings, ``010`` is ten and ``1e-1`` is a float. Duplicate keys, non-string keys,
explicit tags other than the core ones, and alias bombs are errors with a position.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelctl.common.files import read_bounded
from modelctl.common.limits import INT_DIGITS, PROFILE_BYTES, YAML_DEPTH, YAML_NODES
from modelctl.errors import ProfileError

Path_ = tuple[str | int, ...]

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL_TRUE = re.compile(r"^(?:true|True|TRUE)$")
_BOOL_FALSE = re.compile(r"^(?:false|False|FALSE)$")
_INT_DEC = re.compile(r"^[-+]?[0-9]+$")
_INT_OCT = re.compile(r"^0o[0-7]+$")
_INT_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")

_CORE_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:merge",
    "tag:yaml.org,2002:value",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


def resolve_plain(text: str) -> Any:
    """A plain (unquoted) scalar under the YAML 1.2 core schema.

    Raises ValueError for an integer longer than $MODELCTL_MAX_INT_DIGITS decimal digits
    (or as large in octal or hex): Python cannot even print one.
    """
    if _NULL.match(text):
        return None
    if _BOOL_TRUE.match(text):
        return True
    if _BOOL_FALSE.match(text):
        return False
    if _INT_DEC.match(text):
        return _bounded_int(text, 10, len(text.lstrip("+-")))
    if _INT_OCT.match(text):
        return _bounded_int(text[2:], 8, math.ceil((len(text) - 2) * math.log10(8)))
    if _INT_HEX.match(text):
        return _bounded_int(text[2:], 16, math.ceil((len(text) - 2) * math.log10(16)))
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN.match(text):
        return math.nan
    return text


def reads_as_string(text: str) -> bool:
    """Whether ``text`` written plain (unquoted) reads back as the same string."""
    try:
        return isinstance(resolve_plain(text), str)
    except ValueError:  # an integer too long to read: a number all the same
        return False


def _bounded_int(digits: str, base: int, decimal_digits: int) -> int:
    if decimal_digits > 18:  # only a long literal pays for reading the limit
        cap = INT_DIGITS.value()
        if decimal_digits > cap:
            raise ValueError(
                f"an integer of about {decimal_digits:,} digits; at most {cap:,} are allowed ({INT_DIGITS.env})"
            )
    return int(digits, base)


@dataclass
class Document:
    """Loaded data plus the 1-based (line, column) of each key and value, by path."""

    file: str
    data: Any
    key_pos: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    value_pos: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    value_end: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Path_, *, prefer_key: bool = False) -> tuple[int | None, int | None]:
        """The best-known position for ``path``, falling back to its nearest ancestor."""
        p = tuple(path)
        while True:
            first, second = (self.key_pos, self.value_pos) if prefer_key else (self.value_pos, self.key_pos)
            if p in first:
                return first[p]
            if p in second:
                return second[p]
            if not p:
                return (1, 1)
            p = p[:-1]


def read_text(path: Path, *, what: str = "profile") -> str:
    """Read a small UTF-8 text file, refusing directories, FIFOs, devices, binaries, huge and
    non-UTF-8 files."""
    return decode_text(read_bounded(path, PROFILE_BYTES, what=what, error=ProfileError), str(path), what=what)


def decode_text(raw: bytes, name: str, *, what: str = "profile") -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    nul = raw.find(b"\x00")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col(raw, exc.start)
        raise ProfileError(
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the {what} as UTF-8",
            file=name,
            line=line,
            column=col,
        ) from None
    if nul >= 0:
        line, col = _line_col(raw, nul)
        raise ProfileError(f"binary data (a NUL byte): not a {what} file", file=name, line=line, column=col)
    return text


def _line_col(raw: bytes, offset: int) -> tuple[int, int]:
    before = raw[:offset]
    line = before.count(b"\n") + 1
    col = offset - (before.rfind(b"\n") + 1) + 1
    return line, col


def _indenting_tab(text: str, line: int) -> tuple[int, int] | None:
    """Line and column (1-based) of a tab in the indentation of ``line`` (or of the line before it,
    where the parser may stop), when there is one: YAML 1.2 §6.1 forbids tabs there, and PyYAML's message
    ("found character that cannot start any token") does not say so."""
    lines = text.split("\n")
    for n in (line, line - 1):
        if 1 <= n <= len(lines):
            body = lines[n - 1]
            indent = body[: len(body) - len(body.lstrip(" \t"))]
            # the line before only when it starts with a tab (a tab after spaces there may be a block's text)
            if "\t" in indent and body.strip() and (n == line or indent.startswith("\t")):
                return n, indent.index("\t") + 1
    return None


def load(text: str, file: str) -> Document:
    """Parse YAML text into a :class:`Document`. Raises ProfileError with a position."""
    import yaml

    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        node = yaml.compose(text, Loader=loader_cls)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            problem = f"{exc.context}, {exc.problem}"
        line, column = ((mark.line + 1), (mark.column + 1)) if mark else (None, None)
        tab = _indenting_tab(text, line) if line else None
        if tab is not None:
            problem = "a tab indents this line, and YAML does not allow tabs for indentation: use spaces"
            line, column = tab
        raise ProfileError(f"invalid YAML: {problem}", file=file, line=line, column=column, code="yaml") from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow in a stream
        before = text[: exc.position]
        line = before.count("\n") + 1
        column = exc.position - (before.rfind("\n") + 1) + 1
        ch = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise ProfileError(
            f"invalid YAML: the character U+{ord(ch):04X} is not allowed in a YAML file "
            "(inside double quotes write it as an escape, e.g. \\x07)",
            file=file,
            line=line,
            column=column,
            code="yaml",
        ) from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"invalid YAML: {' '.join(str(exc).split())}", file=file, code="yaml") from None
    except RecursionError:  # the pure-Python composer on a deeply nested file
        raise ProfileError(
            f"invalid YAML: nested too deeply (at most {YAML_DEPTH.value()} levels, {YAML_DEPTH.env})",
            file=file,
            code="yaml",
        ) from None
    doc = Document(file=file, data=None)
    if node is None:
        return doc
    builder = _Builder(doc)
    doc.data = builder.build(node, ())
    return doc


class _Builder:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.count = 0
        self.max_nodes = YAML_NODES.value()
        self.max_depth = YAML_DEPTH.value()

    def _err(self, message: str, node: Any, path: Path_) -> ProfileError:
        return ProfileError(
            message,
            file=self.doc.file,
            line=node.start_mark.line + 1,
            column=node.start_mark.column + 1,
            field=_dotted(path) or None,
            code="yaml",
        )

    def build(self, node: Any, path: Path_) -> Any:
        import yaml

        self.count += 1
        if self.count > self.max_nodes:
            raise self._err("document too large (too many nodes after alias expansion)", node, path)
        if len(path) > self.max_depth:
            raise self._err(f"nested deeper than {self.max_depth} levels ({YAML_DEPTH.env})", node, path[:8])
        self.doc.value_pos.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
        self.doc.value_end.setdefault(path, (node.end_mark.line + 1, node.end_mark.column + 1))
        if node.tag not in _CORE_TAGS:
            raise self._err(f"unsupported YAML tag {node.tag}", node, path)
        if isinstance(node, yaml.ScalarNode):
            if not node.style:  # plain ('' from libyaml, None from PyYAML): YAML 1.2 core rules
                try:
                    return resolve_plain(node.value)
                except ValueError as exc:
                    raise self._err(str(exc), node, path) from None
            return node.value  # quoted, literal or folded: always a string
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise self._err("mapping keys must be plain strings", key_node, path)
                key = key_node.value if key_node.style else _plain_key(key_node.value)
                if not isinstance(key, str):
                    key = key_node.value  # `1: x` or `true: x`: keep the text; schema checks will name it
                if key in out:
                    raise self._err(f"duplicate key '{key}'", key_node, path + (key,))
                kp = path + (key,)
                self.doc.key_pos[kp] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                out[key] = self.build(value_node, kp)
            return out
        raise self._err("unsupported YAML node", node, path)  # pragma: no cover


def _plain_key(text: str) -> Any:
    try:
        return resolve_plain(text)
    except ValueError:  # a huge number as a key: kept as text, the schema names it
        return text


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


dotted = _dotted


def load_file(path: str | os.PathLike[str], *, what: str = "profile") -> Document:
    p = Path(path)
    return load(read_text(p, what=what), str(path))


class _LC:
    """ruamel-style position accessors (0-based) for a container built by :func:`load_positioned`."""

    __slots__ = ("doc", "path", "line", "col")

    def __init__(self, doc: Document, path: Path_) -> None:
        self.doc = doc
        self.path = path
        line, col = doc.value_pos.get(path, (1, 1))
        self.line, self.col = line - 1, col - 1

    def _get(self, table: dict[Path_, tuple[int, int]], part: str | int) -> tuple[int, int]:
        line, col = table[self.path + (part,)]
        return line - 1, col - 1

    def key(self, k: str) -> tuple[int, int]:
        return self._get(self.doc.key_pos, k)

    def value(self, k: str) -> tuple[int, int]:
        return self._get(self.doc.value_pos, k)

    def item(self, i: int) -> tuple[int, int]:
        return self._get(self.doc.value_pos, i)


class PositionedDict(dict):  # type: ignore[type-arg]
    lc: _LC


class PositionedList(list):  # type: ignore[type-arg]
    lc: _LC


def load_positioned(text: str, file: str) -> Any:
    """Like :func:`load`, but mappings and lists carry an ``lc`` attribute with ruamel's
    position interface (``lc.key(k)``, ``lc.value(k)``, ``lc.item(i)``, ``lc.line``, ``lc.col``),
    for code that walks the data and wants positions as it goes (e.g. prompts files)."""
    doc = load(text, file)

    def wrap(value: Any, path: Path_) -> Any:
        if isinstance(value, dict):
            d = PositionedDict((k, wrap(v, path + (k,))) for k, v in value.items())
            d.lc = _LC(doc, path)
            return d
        if isinstance(value, list):
            seq = PositionedList(wrap(v, path + (i,)) for i, v in enumerate(value))
            seq.lc = _LC(doc, path)
            return seq
        return value

    return wrap(doc.data, ())
