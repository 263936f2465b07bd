"""What Ollama's answers must look like before modelctl reads them, and what counts as progress.

server.py reads every answer through these rules, so that a server answering something that
looks fine but is not (a float context length, a 5,000-digit number, ``NaN``, an object where
text belongs) is an error naming the field (exit 5) instead of a crash or a wrong report later.
A rule checks only what some part of modelctl reads; every other field is kept as it came.

* :func:`loads`: JSON whose numbers fit what Go sends (64-bit integers, finite floats).
* ``check_*``: the shape of each endpoint's answer; ``None`` when fine, else why not.
* :class:`Shape` (``SHOW``, ``TAGS``, ``PS``, ``VERSION``, ``PROGRESS``, ``CHUNK``): a rule and the
  TypedDict (modelctl/ollama/shapes.py) an answer that follows it is read as, the one cast.
* :class:`TransferProgress`, :class:`GenerationProgress`: whether a stream line moved the
  request on (the stall deadline restarts only then) and the caps on a stream's length.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from modelctl.common.limits import GENERATED_BYTES, STREAM_EVENTS, STREAM_STATUSES, Limit
from modelctl.common.units import human_bytes
from modelctl.ollama.wire import MalformedAnswer, parse_parameters, parse_rfc3339

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.ollama.shapes import Chunk, ProgressLine, PsResponse, ShowResponse, TagsResponse, VersionResponse

__all__ = [
    "ANY_OBJECT",
    "CHUNK",
    "METRIC_KEYS",
    "PROGRESS",
    "PS",
    "SHOW",
    "TAGS",
    "VERSION",
    "BadNumber",
    "GenerationProgress",
    "OverLimit",
    "Shape",
    "TransferProgress",
    "check_chunk",
    "check_progress",
    "check_ps",
    "check_show",
    "check_tags",
    "check_version",
    "is_final_generation",
    "is_final_progress",
    "json_type",
    "loads",
    "loads_line",
]

_INT_MIN, _UINT_END = -(1 << 63), 1 << 64  # Go's int64 and uint64 together
_COUNT_END = 1 << 63  # sizes, counts and durations are int64 on the server
#: A status or digest longer than this is not one (Ollama's are under 100 characters); it
#: also bounds what a build keeps of its statuses.
STATUS_CHARS = 4096
#: Tensors have at most 4 dimensions in GGML; 8 leaves room.
_TENSOR_DIMS = 8


class BadNumber(ValueError):
    """A JSON number no Go server sends: NaN, Infinity, beyond 64 bits, out of float range."""


class OverLimit(Exception):
    """A stream went over one of the caps in modelctl/common/limits.py."""

    def __init__(self, limit: Limit, what: str) -> None:
        super().__init__(what)
        self.limit = limit
        self.what = what


def _bounded_int(text: str) -> int:
    if len(text) < 19:  # the common case: well within 64 bits
        return int(text)
    # Checked before int(): converting a 100,000-digit number costs seconds (and Python refuses
    # more than 4,300 digits with a ValueError of its own).
    if len(text.lstrip("-")) > 20:
        raise BadNumber(f"a number of {len(text.lstrip('-')):,} digits")
    n = int(text)
    if not _INT_MIN <= n < _UINT_END:
        raise BadNumber(f"the number {text} does not fit in 64 bits")
    return n


def _finite_float(text: str) -> float:
    x = float(text)
    if not math.isfinite(x):
        raise BadNumber(f"the number {text[:30]} is out of range")
    return x


def _no_constant(name: str) -> Any:
    raise BadNumber(f"{name} is not a JSON number")


_STRICT = json.JSONDecoder(parse_int=_bounded_int, parse_float=_finite_float, parse_constant=_no_constant)
_LINE = json.JSONDecoder(parse_constant=_no_constant)


def loads(text: str) -> Any:
    """``json.loads`` refusing numbers Go never sends (BadNumber, a ValueError): ``NaN``,
    ``Infinity``, integers beyond 64 bits, floats beyond float64.

    Other failures are json.JSONDecodeError (a ValueError) and RecursionError (deep nesting).
    """
    return _STRICT.decode(text)


def loads_line(text: str) -> Any:
    """A stream line, for speed without a Python call per number: ``NaN`` and ``Infinity``
    are refused, and the numbers modelctl reads from a line are range-checked by its rule
    (check_chunk, check_progress); a number of more than 4,300 digits is a ValueError."""
    return _LINE.decode(text)


def json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "a number" if isinstance(value, (int, float)) else "null"


# --------------------------------------------------------------------------- rules

#: ``rule(value, where)``: None when the (non-null) value is fine, else a message naming ``where``.
Rule = Callable[[Any, str], "str | None"]


def _kind(kind: type) -> Rule:
    expected = json_type(kind())

    def rule(value: Any, where: str) -> str | None:
        return None if isinstance(value, kind) else f"{where!r} is {json_type(value)}, expected {expected}"

    return rule


_TEXT, _OBJECT, _ARRAY, _FLAG = _kind(str), _kind(dict), _kind(list), _kind(bool)


def _count(value: Any, where: str) -> str | None:
    """A size, count or duration: an int64 of 0 or more (Go never writes them as 4096.0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{where!r} is {json_type(value)}, expected a number"
    if isinstance(value, float) or not 0 <= value < _COUNT_END:
        return f"{where!r} is {value!r}, expected a whole number of 0 or more"
    return None


def _short_text(value: Any, where: str) -> str | None:
    if not isinstance(value, str):
        return _TEXT(value, where)
    return None if len(value) <= STATUS_CHARS else f"{where!r} is {len(value):,} characters long"


def _time(value: Any, where: str) -> str | None:
    if isinstance(value, str) and parse_rfc3339(value) is not None:
        return None
    shown = repr(value[:40]) if isinstance(value, str) else json_type(value)
    return f"{where!r} is {shown}, expected an RFC 3339 time"


def _version_text(value: Any, where: str) -> str | None:
    if not isinstance(value, str):
        return _TEXT(value, where)
    if not value or len(value) > 64 or not value.isprintable() or any(c.isspace() for c in value):
        return f"{where!r} is {value[:40]!r}, expected a version such as 0.12.3"
    return None


def _array(item: Rule, *, most: int | None = None, fast: Callable[[list[Any]], bool] | None = None) -> Rule:
    """A list whose entries follow ``item``; ``fast`` says at C speed that all of them do."""

    def rule(value: Any, where: str) -> str | None:
        if not isinstance(value, list):
            return _ARRAY(value, where)
        if most is not None and len(value) > most:
            return f"{where!r} has {len(value):,} entries, expected at most {most}"
        if fast is not None and fast(value):
            return None
        for i, x in enumerate(value):
            problem = item(x, f"{where}[{i}]")
            if problem is not None:
                return problem
        return None

    return rule


def _fields(spec: Mapping[str, Rule], required: tuple[str, ...] = ()) -> Rule:
    """An object whose listed fields (null counts as absent) follow their rules."""

    def rule(value: Any, where: str) -> str | None:
        if not isinstance(value, dict):
            return _OBJECT(value, where or "answer")
        for key in required:
            if value.get(key) is None:
                return f"{(f'{where}.{key}' if where else key)!r} is missing"
        for key, x in value.items():  # an answer has fewer fields than the spec
            sub = spec.get(key)
            if sub is None or x is None:
                continue
            problem = sub(x, f"{where}.{key}" if where else key)
            if problem is not None:
                return problem
        return None

    return rule


def _all_counts(values: list[Any]) -> bool:
    return all(type(x) is int and 0 <= x < _COUNT_END for x in values)


def _all_texts(values: list[Any]) -> bool:
    return all(type(x) is str for x in values)


_TEXTS = _array(_TEXT, fast=_all_texts)
_DETAILS = _fields(
    {
        "parent_model": _TEXT, "format": _TEXT, "family": _TEXT, "families": _TEXTS, "parameter_size": _TEXT,
        "quantization_level": _TEXT, "context_length": _count, "embedding_length": _count,
    }
)  # fmt: skip
_TENSOR = _fields({"name": _TEXT, "type": _TEXT, "shape": _array(_count, most=_TENSOR_DIMS, fast=_all_counts)})


def _all_tensors(values: list[Any]) -> bool:
    """The common case of _TENSOR for every entry, in one pass (a model has up to thousands, and every
    /api/show lists them: plain loops, no call per dimension)."""
    end = _COUNT_END
    for t in values:
        if type(t) is not dict:
            return False
        if type(t.get("name", "")) is not str or type(t.get("type", "")) is not str:
            return False
        shape = t.get("shape")
        if shape is None:
            continue
        if type(shape) is not list or len(shape) > _TENSOR_DIMS:
            return False
        for x in shape:
            if type(x) is not int or x < 0 or x >= end:
                return False
    return True


_MESSAGE = _fields({"role": _TEXT, "content": _TEXT}, required=("role", "content"))
_SHOW = _fields(
    {
        "parameters": _TEXT, "template": _TEXT, "system": _TEXT, "license": _TEXT, "modelfile": _TEXT,
        "requires": _TEXT, "renderer": _TEXT, "parser": _TEXT, "modified_at": _TEXT, "details": _DETAILS,
        "model_info": _fields({"general.architecture": _TEXT}), "projector_info": _OBJECT,
        "tensors": _array(_TENSOR, fast=_all_tensors), "capabilities": _TEXTS, "messages": _array(_MESSAGE),
    }
)  # fmt: skip
_ENTRY = {"name": _TEXT, "model": _TEXT, "digest": _TEXT, "size": _count, "details": _DETAILS}
_TAGS = _fields(
    {
        "models": _array(
            _fields(
                {**_ENTRY, "modified_at": _TEXT, "capabilities": _TEXTS, "remote_model": _TEXT, "remote_host": _TEXT}
            )
        )
    }
)
_PS = _fields(
    {"models": _array(_fields({**_ENTRY, "size_vram": _count, "context_length": _count, "expires_at": _time}))}
)
#: The metrics of the last line of /api/generate and /api/chat, integers (durations in ns).
METRIC_KEYS = (
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)
_CHUNK = _fields(
    {
        "model": _TEXT, "created_at": _TEXT, "response": _TEXT, "thinking": _TEXT,
        "message": _fields(
            {"role": _TEXT, "content": _TEXT, "thinking": _TEXT, "tool_calls": _ARRAY, "images": _ARRAY}
        ),
        "done": _FLAG, "done_reason": _TEXT, "context": _ARRAY, **dict.fromkeys(METRIC_KEYS, _count),
    }
)  # fmt: skip
_PROGRESS = _fields({"status": _short_text, "digest": _short_text, "total": _count, "completed": _count})
_VERSION = _fields({"version": _version_text}, required=("version",))


def _check_parameters(text: Any) -> str | None:
    try:
        values = parse_parameters(text)
    except MalformedAnswer as exc:
        return f"'parameters' cannot be read: {exc}"
    for name, value in values.items():
        for v in value if isinstance(value, list) else [value]:
            if _wild(v):
                return f"'parameters' sets {name[:40]!r} to {v!r}, which no Ollama option holds"
    return None


def _wild(v: Any) -> bool:
    """A number no option can hold: not finite (``NaN``, ``+Inf``, ``1e999``), or beyond 64 bits."""
    if isinstance(v, float):
        return not math.isfinite(v)
    return isinstance(v, int) and not _INT_MIN <= v < _COUNT_END


def check_show(obj: dict[str, object]) -> str | None:
    """``/api/show``: every field modelctl reads, and a ``parameters`` text it can parse."""
    return _SHOW(obj, "") or _check_parameters(obj.get("parameters"))


def check_tags(obj: dict[str, object]) -> str | None:
    return _TAGS(obj, "")


def check_ps(obj: dict[str, object]) -> str | None:
    return _PS(obj, "")


def check_chunk(obj: dict[str, object]) -> str | None:
    """A line of ``/api/generate`` or ``/api/chat``."""
    return _CHUNK(obj, "")


def check_progress(obj: dict[str, object]) -> str | None:
    """A line of ``/api/create`` or ``/api/pull``."""
    return _PROGRESS(obj, "")


def check_version(obj: dict[str, object]) -> str | None:
    return _VERSION(obj, "")


def is_final_progress(obj: ProgressLine) -> bool:
    return obj.get("status") == "success"


def is_final_generation(obj: Chunk) -> bool:
    return obj.get("done") is True


T = TypeVar("T")


class Shape(Generic[T]):
    """An answer's rule (a ``check_*``), and ``T``: the TypedDict of modelctl/ollama/shapes.py an
    answer that follows the rule is. :meth:`read` is the one place a JSON object becomes one."""

    __slots__ = ("rule",)

    def __init__(self, rule: Callable[[dict[str, object]], str | None]) -> None:
        self.rule = rule

    def problem(self, obj: dict[str, object]) -> str | None:
        return self.rule(obj)

    def read(self, obj: dict[str, object]) -> T:
        """``obj`` as ``T``; only for an object :meth:`problem` found nothing wrong with."""
        return cast(T, obj)


SHOW: Shape[ShowResponse] = Shape(check_show)
TAGS: Shape[TagsResponse] = Shape(check_tags)
PS: Shape[PsResponse] = Shape(check_ps)
VERSION: Shape[VersionResponse] = Shape(check_version)
PROGRESS: Shape[ProgressLine] = Shape(check_progress)
CHUNK: Shape[Chunk] = Shape(check_chunk)
#: An answer whose success carries nothing (delete, copy): any object without ``error`` is fine.
ANY_OBJECT: Shape[dict[str, object]] = Shape(lambda _obj: None)


# --------------------------------------------------------------------------- progress


class TransferProgress:
    """Progress of ``/api/create`` and ``/api/pull``: a new status, more bytes completed.

    Ollama repeats the same pull line every 60 ms while nothing arrives; such a line is not
    progress. The stream is capped in lines and in status changes.
    """

    def __init__(self, max_events: int, max_statuses: int) -> None:
        self.max_events = max_events
        self.max_statuses = max_statuses
        self.events = 0
        self.changes = 0
        self.status: str | None = None
        self.completed = -1

    def step(self, obj: ProgressLine) -> bool:
        """Whether the (checked) line ``obj`` is progress; OverLimit past a cap."""
        self.events += 1
        if self.events > self.max_events:
            raise OverLimit(STREAM_EVENTS, f"more than {self.max_events:,} lines")
        status, completed = obj.get("status"), obj.get("completed")
        if status != self.status:
            self.changes += 1
            if self.changes > self.max_statuses:
                raise OverLimit(STREAM_STATUSES, f"more than {self.max_statuses:,} status changes")
            self.status = status
            self.completed = completed if isinstance(completed, int) else -1
            return True
        if isinstance(completed, int) and completed > self.completed:
            self.completed = completed
            return True
        return False


class GenerationProgress:
    """Progress of ``/api/generate`` and ``/api/chat``: a non-empty piece of answer or thinking,
    or the final object. The text of one answer is capped."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0

    def _add(self, piece: str | None) -> bool:
        if not isinstance(piece, str) or not piece:
            return False
        self.size += len(piece) if piece.isascii() else len(piece.encode("utf-8"))
        return True

    def step(self, obj: Chunk) -> bool:
        moved = self._add(obj.get("response")) | self._add(obj.get("thinking"))
        message = obj.get("message")
        if message is not None:
            moved = self._add(message.get("content")) | self._add(message.get("thinking")) | moved
        if self.size > self.max_bytes:
            raise OverLimit(GENERATED_BYTES, f"more than {human_bytes(self.max_bytes)} of generated text")
        return moved or obj.get("done") is True
