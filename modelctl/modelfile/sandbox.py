"""The bounded Jinja sandbox Modelfile templates render in.

Jinja's sandbox keeps a template away from Python's internals, but not from work: nested
loops, ``'a' * 10**9``, ``10**(10**6)``, ``'x'.center(10**9)``, a macro that calls itself. A wall
clock cannot interrupt ``'a' * 10**9`` (one C call), so every render counts, inside the
sandbox, before the work is done:

* **steps**: each loop iteration and each call (macros, ``loop()``, methods) is one step;
* **depth**: calls nested inside each other;
* **values**: a string, list or integer an operator, filter, method or ``str.format`` would
  build is measured *before* it is built (width, repeat count, exponent, the items of a join)
  and refused over the cap; results are measured again after;
* **work**: every piece of text a template outputs (to the Modelfile, or into a macro, a
  ``{% set %}`` block or a call block), the literal text of each loop iteration and every
  value built are added up, and the total is capped.

The caps are in :mod:`modelctl.common.limits` (``MODELCTL_MAX_TEMPLATE_*``). Going over one raises
:class:`TemplateBoundError`, which :mod:`modelctl.modelfile.render` reports with the template's line.
How: the compiled template's ``for`` loops and ``~`` concatenations are rewritten to go through
counting filters; operators, calls and ``str.format`` go through the sandbox's hooks
(``call_binop``, ``call``, ``wrap_str_format``); Jinja's own filters are wrapped; every
``{{ ... }}`` output goes through a counting filter. ``lipsum`` (random placeholder text) is
removed.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from modelctl.common.limits import INT_DIGITS, TEMPLATE_DEPTH, TEMPLATE_OUTPUT, TEMPLATE_STEPS, TEMPLATE_WORK

LOOP_FILTER = "_modelctl_loop"
RECURSIVE_LOOP_FILTER = "_modelctl_recursive_loop"
CONCAT_FILTER = "_modelctl_concat"
OUTPUT_FILTER = "_modelctl_output"
_ITEM = 8  # what one list item costs (a pointer), in the units of the value cap (bytes)
_BITS_PER_DIGIT = math.log2(10)


class TemplateBoundError(Exception):
    """A template went over one of the render caps; the message names the cap and its variable."""


class Budget:
    """What one render (or one compile) may still do."""

    __slots__ = ("steps", "work", "depth", "max_steps", "max_work", "max_value", "_max_depth", "_max_digits", "_read")

    def __init__(self) -> None:
        self.steps = 0
        self.work = 0
        self.depth = 0
        # The caps start at their lowest allowed values and are read from the environment only
        # when a count passes them: the environment may change between renders, and reading it
        # costs more than a small render's counting (bench/bench_render.py).
        self.max_steps = TEMPLATE_STEPS.minimum
        self.max_work = TEMPLATE_WORK.minimum
        self.max_value = TEMPLATE_OUTPUT.minimum
        self._max_depth: int | None = None
        self._max_digits: int | None = None
        self._read = False

    def read_limits(self) -> bool:
        """Replace the starting caps by the configured ones (once); whether they changed."""
        if self._read:
            return False
        self._read = True
        self.max_steps = TEMPLATE_STEPS.value()
        self.max_work = TEMPLATE_WORK.value()
        self.max_value = TEMPLATE_OUTPUT.value()
        return True

    @property
    def max_depth(self) -> int:
        if self._max_depth is None:
            self._max_depth = TEMPLATE_DEPTH.value()
        return self._max_depth

    @property
    def max_digits(self) -> int:
        if self._max_digits is None:
            self._max_digits = INT_DIGITS.value()
        return self._max_digits

    def over(self) -> None:
        """Raise for whichever running total is over its cap."""
        if self.read_limits() and self.steps <= self.max_steps and self.work <= self.max_work:
            return
        if self.steps > self.max_steps:
            raise TemplateBoundError(
                f"more than {self.max_steps:,} loop iterations and calls ({TEMPLATE_STEPS.env}): "
                "a loop or a recursion that does not end?"
            )
        if self.work > self.max_work:
            raise TemplateBoundError(
                f"the template built more than {self.max_work:,} bytes of text ({TEMPLATE_WORK.env})"
            )

    def full_cap(self) -> int:
        """The configured value cap (read now if it was not yet): for measuring, which stops early."""
        self.read_limits()
        return self.max_value

    def value_cap(self, n: int) -> int:
        """The value cap, once ``n`` passes the starting one (reading the configured caps)."""
        if n > self.max_value:
            self.read_limits()
        return self.max_value

    def step(self, literal: int = 0) -> None:
        self.steps += 1
        self.work += literal
        if self.steps > self.max_steps or self.work > self.max_work:
            self.over()

    def charge(self, n: int) -> None:
        """Count ``n`` bytes (or item units) built; refuse one value over the value cap."""
        if n > self.value_cap(n):
            raise TemplateBoundError(
                f"a value of {n:,} bytes is over the cap of {self.max_value:,} ({TEMPLATE_OUTPUT.env})"
            )
        self.work += n
        if self.work > self.max_work:
            self.over()

    def check_size(self, n: int, what: str = "a value") -> None:
        """Refuse before building ``what`` of ``n`` bytes (or item units) over the value cap."""
        if n > self.value_cap(n):
            raise TemplateBoundError(
                f"{what} of {n:,} bytes would be over the cap of {self.max_value:,} ({TEMPLATE_OUTPUT.env})"
            )

    def check_int(self, bits: int) -> None:
        """Refuse an integer of ``bits`` bits over the digits cap."""
        if bits > self.max_digits * _BITS_PER_DIGIT + 1:
            digits = int(bits / _BITS_PER_DIGIT) + 1
            raise TemplateBoundError(
                f"an integer of about {digits:,} digits is over the cap of {self.max_digits:,} ({INT_DIGITS.env})"
            )

    def check_count(self, n: Any, what: str) -> int:
        """A width, repeat count or length argument: an int within the value cap."""
        if isinstance(n, int) and not isinstance(n, bool):
            if n > self.value_cap(n):
                raise TemplateBoundError(
                    f"{what} of {n:,} is over the cap of {self.max_value:,} ({TEMPLATE_OUTPUT.env})"
                )
            return max(n, 0)
        return 0


_state = threading.local()


def current() -> Budget:
    """The budget of the render running in this thread (a fresh one outside any render)."""
    budget: Budget | None = getattr(_state, "budget", None)
    return budget if budget is not None else Budget()


@contextmanager
def bounded() -> Iterator[Budget]:
    """A fresh budget for one render or compile, in this thread."""
    previous = getattr(_state, "budget", None)
    budget = _state.budget = Budget()
    try:
        yield budget
    finally:
        _state.budget = previous


# -------------------------------------------------------------------------------------------
# Measuring values without building their text
# -------------------------------------------------------------------------------------------

_END = object()


def _scalar_text(item: Any, json: bool) -> int | None:
    """An upper bound of the text of a scalar inside a container (its repr or JSON), or None."""
    if isinstance(item, str):
        if json:
            return len(item) * (6 if item.isascii() else 12) + 2
        return len(item) * (1 if item.isprintable() else 10) + 3
    if isinstance(item, (bytes, bytearray)):
        return 4 * len(item) + 3
    if item is None or isinstance(item, (bool, float)):
        return 26
    if isinstance(item, int):
        return int(item.bit_length() / _BITS_PER_DIGIT) + 3
    return None


@lru_cache(maxsize=1)
def _namespace_type() -> type[Any]:
    from jinja2.utils import Namespace

    return Namespace


def _children(item: Any) -> tuple[int, Iterator[Any]] | None:
    """(the text a container adds itself, its items) or None for a non-container."""
    if isinstance(item, _namespace_type()):
        item = item._Namespace__attrs  # what its repr prints
    if isinstance(item, Mapping):
        return 4 * len(item) + 16, iter([x for kv in item.items() for x in kv])
    if isinstance(item, (list, tuple, set, frozenset)):
        return 2 * len(item) + 2, iter(item)
    return None


def measure(value: Any, limit: int, *, json: bool = False, indent: int = 0, depth_cap: int = 100) -> int:
    """An upper bound of ``len(str(value))`` (or of its JSON), found by walking the value.

    A list holding the same string a million times is a small object whose text is huge; the
    walk adds each item's text, so it sees that. It stops as soon as the bound passes
    ``limit`` (so it costs at most about ``limit`` steps); a value nested deeper than
    ``depth_cap`` is refused (no real value is; a loop wrapping a list in itself is). ``indent``
    adds that many characters per item and level (``pprint``, ``tojson(indent=...)``).
    """
    if isinstance(value, str) and not json:
        return len(value)
    total = 0
    stack: list[Iterator[Any]] = [iter((value,))]
    path: list[int] = [0]  # ids of the containers being walked: a container inside itself prints as [...]
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
            path.pop()
            continue
        total += indent * len(stack) + 2
        text = _scalar_text(item, json)
        if text is not None:
            total += text
        elif id(item) in path:
            total += 5
        elif (kids := _children(item)) is not None:
            total += kids[0]
            if len(stack) >= depth_cap:
                raise TemplateBoundError(f"a value nested deeper than {depth_cap} levels cannot be printed")
            stack.append(kids[1])
            path.append(id(item))
        else:
            total += 80  # another object: its repr is short
        if total > limit:
            return total
    return total


def result_size(value: Any) -> int:
    """What a value built by an operation costs against the value cap."""
    if isinstance(value, (str, bytes, bytearray)):
        return len(value)
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return _ITEM * len(value)
    return 0


def check_result(value: Any, budget: Budget | None = None) -> Any:
    """Count a value an operation built (refusing an oversized one); the value."""
    budget = budget or current()
    if isinstance(value, int) and not isinstance(value, bool):
        budget.check_int(value.bit_length())
        return value
    size = result_size(value)
    if size:
        budget.charge(size)
    return value


def _text_bound(value: Any, budget: Budget) -> int:
    """``len(str(value))``, bounded, refused over the value cap."""
    n = measure(value, budget.full_cap(), depth_cap=budget.max_depth)
    budget.check_size(n, "the text of a value")
    return n


# -------------------------------------------------------------------------------------------
# Operators: + * ** %
# -------------------------------------------------------------------------------------------

_SEQUENCES = (str, bytes, list, tuple)


def _check_mul(left: Any, right: Any, budget: Budget) -> None:
    if isinstance(left, int) and isinstance(right, int):
        budget.check_int(left.bit_length() + right.bit_length())
        return
    for seq, n in ((left, right), (right, left)):
        if isinstance(seq, _SEQUENCES) and isinstance(n, int):
            unit = 1 if isinstance(seq, (str, bytes)) else _ITEM
            budget.check_size(len(seq) * max(n, 0) * unit, "a repeated value")


def _check_pow(left: Any, right: Any, budget: Budget) -> None:
    if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
        budget.check_int(left.bit_length() * right if right < 1 << 40 else 1 << 60)


def _check_add(left: Any, right: Any, budget: Budget) -> None:
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        unit = 1 if isinstance(left, (str, bytes)) else _ITEM
        budget.check_size((len(left) + len(right)) * unit, "a joined value")


# %[(key)][flags][width][.precision][length]type
_PERCENT = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?[-#0 +]*(?P<width>\*|\d+)?(?:\.(?P<prec>\*|\d+))?[hlL]?(?P<conv>.)", re.S
)


def _percent_number(part: str | None, values: Sequence[Any], i: int, budget: Budget) -> tuple[int, int]:
    """(the width or precision, the next argument index)."""
    if part == "*":
        n = values[i] if i < len(values) else 0
        return budget.check_count(n, "a %-format width"), i + 1
    if part:
        return budget.check_count(int(part) if len(part) <= 12 else 1 << 62, "a %-format width"), i
    return 0, i


def percent_bound(fmt: str, args: Any, budget: Budget) -> int:
    """An upper bound of the length of ``fmt % args``, checking each width and precision."""
    values: Sequence[Any] = args if isinstance(args, tuple) else (args,)
    total, i = len(fmt), 0
    for m in _PERCENT.finditer(fmt):
        if m["conv"] == "%":
            continue
        width, i = _percent_number(m["width"], values, i, budget)
        prec, i = _percent_number(m["prec"], values, i, budget)
        if m["key"] is not None:
            value = args.get(m["key"]) if isinstance(args, Mapping) else None
        else:
            value = values[i] if i < len(values) else None
            i += 1
        total += width + prec + 330 + measure(value, budget.full_cap(), depth_cap=budget.max_depth)
        budget.check_size(total, "a %-formatted string")
    return total


def _check_mod(left: Any, right: Any, budget: Budget) -> None:
    if isinstance(left, str):
        percent_bound(left, right, budget)
    elif isinstance(left, bytes):
        percent_bound(left.decode("latin-1"), right, budget)


_BINOP_CHECKS: dict[str, Callable[[Any, Any, Budget], None]] = {
    "*": _check_mul,
    "**": _check_pow,
    "+": _check_add,
    "%": _check_mod,
}


# -------------------------------------------------------------------------------------------
# Methods called from a template: str/bytes methods that grow with an argument, int.to_bytes
# -------------------------------------------------------------------------------------------


def _arg(args: Sequence[Any], kwargs: Mapping[str, Any], i: int, name: str, default: Any = None) -> Any:
    if len(args) > i:
        return args[i]
    return kwargs.get(name, default)


def _tab_count(owner: str | bytes) -> int:
    return owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")


def _replace_bound(owner: Any, old: Any, new: Any, count: Any) -> int:
    """An upper bound of ``len(owner.replace(old, new, count))``."""
    if not isinstance(old, (str, bytes)) or not isinstance(new, (str, bytes)):
        return len(owner)
    try:
        hits = owner.count(old) if old else len(owner) + 1
    except TypeError:  # str.count(bytes): the replace fails the same way
        return len(owner)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(owner) + hits * max(len(new) - len(old), 0)


def _join_args(owner: Any, args: tuple[Any, ...], budget: Budget) -> tuple[Any, ...]:
    """``sep.join(items)``: the items read once into a list and their total text checked."""
    if not args:
        return args
    items = list(args[0]) if not isinstance(args[0], (list, tuple)) else args[0]
    total = len(owner) * max(len(items) - 1, 0)
    for item in items:
        total += len(item) if isinstance(item, (str, bytes)) else 0
        budget.check_size(total, "a joined string")
    return (items, *args[1:])


def _translate_bound(owner: Any, table: Any) -> int:
    longest = 1
    if isinstance(table, Mapping):
        longest = max((len(v) for v in table.values() if isinstance(v, (str, bytes))), default=1)
    return len(owner) * max(longest, 1)


def check_method(obj: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], budget: Budget) -> tuple[Any, ...]:
    """Before a template calls a method of a string or an integer: refuse what would build a
    value over the cap. The arguments, with an iterator read into a list for ``join``."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if isinstance(owner, int) and name == "to_bytes":
        budget.check_count(_arg(args, kwargs, 0, "length", 1), "to_bytes(length)")
    if not isinstance(owner, (str, bytes)):
        return args
    if name in ("center", "ljust", "rjust", "zfill"):
        budget.check_count(_arg(args, kwargs, 0, "width"), f"{name}(width)")
    elif name == "expandtabs":
        size = _tab_count(owner) * budget.check_count(_arg(args, kwargs, 0, "tabsize", 8), "expandtabs(tabsize)")
        budget.check_size(len(owner) + size, "expandtabs()")
    elif name == "replace":
        old, new = _arg(args, kwargs, 0, "old"), _arg(args, kwargs, 1, "new")
        budget.check_size(_replace_bound(owner, old, new, _arg(args, kwargs, 2, "count", -1)), "replace()")
    elif name == "translate":
        budget.check_size(_translate_bound(owner, _arg(args, kwargs, 0, "table")), "translate()")
    elif name == "join":
        return _join_args(owner, args, budget)
    return args


# -------------------------------------------------------------------------------------------
# Jinja's filters, each checked before (what grows with an argument) and after (the result)
# -------------------------------------------------------------------------------------------

FilterCheck = Callable[[tuple[Any, ...], dict[str, Any], Budget], tuple[Any, ...]]


def _input(args: tuple[Any, ...], budget: Budget) -> tuple[str, int]:
    """A filter's first argument as the text it will be turned into, measured first: (the text
    when it is a string, else ""; its length bound). A list repeating one string a million
    times is refused here, before a filter turns it into text."""
    if not args:
        return "", 0
    value = args[0]
    if isinstance(value, str):
        return value, len(value)
    return "", _text_bound(value, budget)


def _f_input(args: tuple[Any, ...], kwargs: dict[str, Any], budget: Budget) -> tuple[Any, ...]:
    _input(args, budget)
    return args


_ESCAPED = "&<>\"'"  # each becomes an entity of 4 or 5 characters


def _f_escape(args: tuple[Any, ...], kwargs: dict[str, Any], budget: Budget) -> tuple[Any, ...]:
    text, length = _input(args, budget)
    budget.check_size(length + 4 * sum(text.count(c) for c in _ESCAPED), "the escaped text")
    return args


def _f_urlencode(args: tuple[Any, ...], kwargs: dict[str, Any], budget: Budget) -> tuple[Any, ...]:
    text, length = _input(args, budget)
    budget.check_size(length * (3 if text.isascii() else 12), "the URL-encoded text")
    return args


def _f_width(name: str) -> FilterCheck:
    def check(args: tuple[Any, ...], kwargs: dict[str, Any], budget: Budget) -> tuple[Any, ...]:
        text, length = _input(args, budget)
        width = _arg(args, kwargs, 1, "width")
        n = len(width) if isinstance(width, str) else budget.check_count(width, f"{name}(width)")
        lines = text.count("\n") + 1 if name == "indent" else 1
        budget.check_size(length + lines * n, f"the result of {name}")
        return args

    return check


def _f_wordwrap(args: tuple[Any, ...], kwargs: dict[str, Any], budget: Budget) -> tuple[Any, ...]:
    text, length = _input(args, budget)
    width = _arg(args, kwargs, 1, "width", 79)
    wrap = _arg(args, kwargs, 3, "wrapstring") or "\n"
    lines = length // max(width if isinstance(width, int) else 1, 1) + text.count("\n") + 1
    budget.check_size(length + lines * _text_bound(wrap, budget), "the result of wordwrap")
    return args


def _f_fill(name: str, count_name: str) -> FilterCheck:
    def check(args: tuple[Any, ...], kwargs: dict[str, Any], budget: Budget) -> tuple[Any, ...]:
        n = budget.check_count(_arg(args, kwargs, 1, count_name), f"{name}({count_name})")
        budget.check_size(n * _ITEM, f"{name}({count_name})")
        if name == "slice":  # it loops once per slice, even past the end of the items
            budget.steps += n
            budget.step()
        return args

    return check


def _f_format(args: tuple[Any, ...], kwargs: dict[str, Any], budget: Budget) -> tuple[Any, ...]:
    _input(args, budget)
    if args:
        percent_bound(str(args[0]), kwargs or tuple(args[1:]), budget)
    return args


def _f_replace(args: tuple[Any, ...], kwargs: dict[str, Any], budget: Budget) -> tuple[Any, ...]:
    text, length = _input(args, budget)
    old, new = _arg(args, kwargs, 1, "old"), _arg(args, kwargs, 2, "new")
    if isinstance(old, str) and isinstance(new, str):
        count = _arg(args, kwargs, 3, "count", -1)
        budget.check_size(_replace_bound(text, old, new, count) + length - len(text), "the result of replace")
    return args


def _f_join(args: tuple[Any, ...], kwargs: dict[str, Any], budget: Budget) -> tuple[Any, ...]:
    if not args:
        return args
    items = list(args[0])
    sep = _arg(args, kwargs, 1, "d", "")
    total = _text_bound(sep, budget) * max(len(items) - 1, 0)
    for item in items:
        total += _text_bound(item, budget)
        budget.check_size(total, "a joined string")
    return (items, *args[1:])


def _f_sum(args: tuple[Any, ...], kwargs: dict[str, Any], budget: Budget) -> tuple[Any, ...]:
    start = _arg(args, kwargs, 2, "start", 0)
    if not args or isinstance(start, (int, float)):
        return args
    items = list(args[0])
    total = result_size(start)
    for item in items:
        total += result_size(item)
        budget.check_size(total, "a sum of sequences")
    return (items, *args[1:])


def _f_text(*, json: bool = False, indent: int = 0, indent_arg: int | None = None) -> FilterCheck:
    """Filters that print a whole value (``string``, ``pprint``, ``tojson``): measure it first."""

    def check(args: tuple[Any, ...], kwargs: dict[str, Any], budget: Budget) -> tuple[Any, ...]:
        if args:
            step = _arg(args, kwargs, indent_arg, "indent", indent) if indent_arg is not None else indent
            step = budget.check_count(step, "an indent") if isinstance(step, int) else indent
            n = measure(args[0], budget.full_cap(), json=json, indent=step, depth_cap=budget.max_depth)
            budget.check_size(n, "the text of a value")
        return args

    return check


def _f_list(args: tuple[Any, ...], kwargs: dict[str, Any], budget: Budget) -> tuple[Any, ...]:
    if args and isinstance(args[0], (str, bytes)):
        budget.check_size(len(args[0]) * _ITEM, "a list")
    return args


def _f_round(args: tuple[Any, ...], kwargs: dict[str, Any], budget: Budget) -> tuple[Any, ...]:
    precision = _arg(args, kwargs, 1, "precision", 0)
    if isinstance(precision, int):
        budget.check_int(int(abs(precision) * _BITS_PER_DIGIT))  # floor/ceil compute 10**precision
    return args


def _f_urlize(args: tuple[Any, ...], kwargs: dict[str, Any], budget: Budget) -> tuple[Any, ...]:
    _text, length = _input(args, budget)
    extra = sum(_text_bound(kwargs.get(k) or "", budget) for k in ("target", "rel"))
    extra += sum(_text_bound(a or "", budget) for a in args[3:5])
    budget.check_size(3 * length + (length // 4 + 1) * (extra + 64), "the result of urlize")
    return args


FILTER_CHECKS: dict[str, FilterCheck] = {
    "center": _f_width("center"),
    "indent": _f_width("indent"),
    "wordwrap": _f_wordwrap,
    "batch": _f_fill("batch", "linecount"),
    "slice": _f_fill("slice", "slices"),
    "format": _f_format,
    "replace": _f_replace,
    "join": _f_join,
    "sum": _f_sum,
    "string": _f_text(),
    "pprint": _f_text(indent=2),
    "tojson": _f_text(json=True, indent_arg=1),
    "xmlattr": _f_text(json=True),
    "list": _f_list,
    "round": _f_round,
    "urlize": _f_urlize,
    **dict.fromkeys(("e", "escape", "forceescape"), _f_escape),
    "urlencode": _f_urlencode,
    **dict.fromkeys(
        (
            "capitalize",
            "lower",
            "safe",
            "striptags",
            "title",
            "trim",
            "truncate",
            "upper",
            "wordcount",
            "filesizeformat",
        ),
        _f_input,
    ),
}


def bounded_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Jinja's filter ``fn`` with its checks; Jinja's context argument, if it takes one, passes by."""
    check = FILTER_CHECKS.get(name)
    skip = 1 if hasattr(fn, "jinja_pass_arg") else 0

    def bounded_call(*args: Any, **kwargs: Any) -> Any:
        if check is not None:
            args = (*args[:skip], *check(args[skip:], kwargs, current()))
        return check_result(fn(*args, **kwargs))

    return functools.update_wrapper(bounded_call, fn)


# -------------------------------------------------------------------------------------------
# Loops and ~ (rewritten in the compiled template), and output
# -------------------------------------------------------------------------------------------


class Counted:
    """An iterable whose every item is a step; ``literal``: the text a loop body writes as is."""

    __slots__ = ("_it", "literal", "_budget")

    def __init__(self, iterable: Any, literal: int) -> None:
        self._it = iter(iterable)
        self.literal = literal
        self._budget = current()

    def __iter__(self) -> Counted:
        return self

    def __next__(self) -> Any:
        item = next(self._it)
        budget = self._budget
        budget.steps += 1
        budget.work += self.literal
        if budget.steps > budget.max_steps or budget.work > budget.max_work:
            budget.over()
        return item


def loop_filter(iterable: Any, literal: int = 0) -> Iterator[Any]:
    """The items of a ``for`` loop, each a step (a generator: cheaper than :class:`Counted`,
    which recursive loops need for ``loop()``)."""
    budget = current()
    for item in iterable:
        budget.steps += 1
        budget.work += literal
        if budget.steps > budget.max_steps or budget.work > budget.max_work:
            budget.over()
        yield item


def concat(items: Sequence[Any], autoescape: bool) -> str:
    """``a ~ b ~ c``: the parts' text checked before it is joined."""
    budget = current()
    total = 0
    for item in items:
        kind = type(item)
        if kind is str:
            total += len(item)
        elif kind is int and -(1 << 63) < item < 1 << 63:
            total += 20
        else:
            total += _text_bound(item, budget)
        if total > budget.max_value:
            budget.check_size(total, "a joined string")
    budget.work += total
    if budget.work > budget.max_work:
        budget.over()
    return _joiners()[bool(autoescape)](items)


@lru_cache(maxsize=1)
def _joiners() -> tuple[Callable[[Sequence[Any]], str], Callable[[Sequence[Any]], str]]:
    """Jinja's own joins for ``~``: (plain, escaping)."""
    from jinja2.runtime import markup_join, str_join

    return str_join, markup_join


def output_filter(value: Any) -> Any:
    """Every ``{{ ... }}`` output: counted, and measured unless it is a string (``str()`` of a
    list holding one string a million times is huge)."""
    budget = getattr(_state, "budget", None) or current()
    if type(value) is str:
        budget.work += len(value)
        if budget.work > budget.max_work:
            budget.over()
        return value
    budget.charge(_text_bound(value, budget))
    return value


# -------------------------------------------------------------------------------------------
# The environment, compiling and rendering
# -------------------------------------------------------------------------------------------


def _literal_size(node: Any) -> int:
    """The text a loop body writes as is (template data and string constants), per iteration."""
    from jinja2 import nodes

    size = sum(len(d.data) for d in node.find_all(nodes.TemplateData))
    return size + sum(len(c.value) for c in node.find_all(nodes.Const) if isinstance(c.value, str))


@lru_cache(maxsize=1)
def _transformer() -> Any:
    """The rewrite of a parsed template that makes it count (see the module's docstring)."""
    from jinja2 import nodes
    from jinja2.visitor import NodeTransformer

    class Bounder(NodeTransformer):
        """Loops iterate through a counting filter, ``~`` joins through :func:`concat`, every
        output that is not literal text goes through :func:`output_filter`."""

        def visit_For(self, node: nodes.For) -> nodes.Node:  # noqa: N802 - Jinja's visitor naming
            self.generic_visit(node)
            literal = sum(_literal_size(n) for n in node.body)
            name = RECURSIVE_LOOP_FILTER if node.recursive else LOOP_FILTER
            node.iter = nodes.Filter(node.iter, name, [nodes.Const(literal)], [], None, None, lineno=node.lineno)
            return node

        def visit_Concat(self, node: nodes.Concat) -> nodes.Node:  # noqa: N802
            self.generic_visit(node)
            items = nodes.List(node.nodes, lineno=node.lineno)
            return nodes.Filter(items, CONCAT_FILTER, [], [], None, None, lineno=node.lineno)

        def visit_Output(self, node: nodes.Output) -> nodes.Node:  # noqa: N802
            self.generic_visit(node)
            node.nodes = [
                child
                if isinstance(child, (nodes.TemplateData, nodes.Const))
                else nodes.Filter(child, OUTPUT_FILTER, [], [], None, None, lineno=child.lineno)
                for child in node.nodes
            ]
            return node

    return Bounder()


@lru_cache(maxsize=1)
def _formatter_class() -> type[Any]:
    from jinja2.sandbox import SandboxedFormatter

    class BoundedFormatter(SandboxedFormatter):
        """``str.format`` with every field measured, and widths checked, before it is formatted."""

        def __init__(self, env: Any, budget: Budget) -> None:
            super().__init__(env)
            self.budget = budget
            self.total = 0

        def convert_field(self, value: Any, conversion: str | None) -> Any:
            if conversion in ("r", "a"):
                self.budget.check_size(measure(value, self.budget.full_cap()), "the repr of a value")
            return super().convert_field(value, conversion)

        def format_field(self, value: Any, format_spec: str) -> Any:
            budget = self.budget
            for digits in re.findall(r"\d+", format_spec):
                self.total += budget.check_count(int(digits) if len(digits) <= 12 else 1 << 62, "a format width")
            self.total += 330 + measure(value, budget.full_cap(), depth_cap=budget.max_depth)
            budget.check_size(self.total, "a formatted string")
            return super().format_field(value, format_spec)

    return BoundedFormatter


def checked_format(env: Any, method: Any, jinja_wrapper: Callable[..., str]) -> Callable[..., str]:
    """``str.format``/``format_map`` for a template: sizes checked by a bounded formatter."""
    text, is_map = method.__self__, method.__name__ == "format_map"

    def checked(*args: Any, **kwargs: Any) -> str:
        positional, named = args, kwargs
        if is_map:
            if kwargs or len(args) != 1:
                raise TypeError("format_map() takes exactly one argument")
            positional, named = (), args[0]
        result: str = _formatter_class()(env, current()).vformat(text, positional, named)
        if type(text) is not str:  # Markup: Jinja's escaping formatter; the pass above checked sizes
            result = jinja_wrapper(*args, **kwargs)
        return check_result(result)  # type: ignore[no-any-return]

    return checked


def _call_depth_error(budget: Budget) -> TemplateBoundError:
    return TemplateBoundError(
        f"calls nest deeper than {budget.max_depth} ({TEMPLATE_DEPTH.env}): a macro calling itself?"
    )


def call_counted(context: Any, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A call from a template (safety already checked): one step, one level deeper, the method's
    arguments and the result checked."""
    budget = current()
    budget.step()
    args = check_method(obj, args, kwargs, budget)
    if isinstance(obj, _loop_context_type()) and args:  # loop(children) in a recursive loop
        args = (Counted(args[0], getattr(obj._iterable, "literal", 0)), *args[1:])
    if budget.depth >= budget.max_depth:
        raise _call_depth_error(budget)
    budget.depth += 1
    try:
        result = context.call(obj, *args, **kwargs)
    finally:
        budget.depth -= 1
    return check_result(result, budget)


@lru_cache(maxsize=1)
def _loop_context_type() -> type[Any]:
    from jinja2.runtime import LoopContext

    return LoopContext


@lru_cache(maxsize=1)
def environment_class() -> type[Any]:
    """The sandboxed environment with the hooks that count (built once, jinja2 imported late)."""
    from jinja2 import pass_eval_context
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    @pass_eval_context
    def concat_filter(eval_ctx: Any, items: Sequence[Any]) -> str:
        return concat(items, bool(eval_ctx.autoescape))

    class BoundedEnvironment(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset(_BINOP_CHECKS)

        def __init__(self, **options: Any) -> None:
            super().__init__(optimized=False, **options)
            self.globals.pop("lipsum", None)
            self.filters = {name: bounded_filter(name, fn) for name, fn in self.filters.items()}
            self.filters[LOOP_FILTER] = loop_filter
            self.filters[RECURSIVE_LOOP_FILTER] = Counted
            self.filters[CONCAT_FILTER] = concat_filter
            self.filters[OUTPUT_FILTER] = output_filter

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            _BINOP_CHECKS[operator](left, right, current())
            return check_result(self.binop_table[operator](left, right))

        def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
            if not self.is_safe_callable(obj):
                raise SecurityError(f"{obj!r} is not safely callable")
            return call_counted(context, obj, args, kwargs)

        def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
            plain = super().wrap_str_format(value)
            return None if plain is None else checked_format(self, value, plain)

    return BoundedEnvironment


def new_environment(**options: Any) -> Any:
    """A bounded sandboxed environment (options as for Jinja's ``Environment``)."""
    return environment_class()(**options)


def compile_template(env: Any, source: str) -> Any:
    """Parse, rewrite (counted loops and joins) and compile ``source``; the Template.

    Raises Jinja's TemplateSyntaxError for a bad template, TemplateBoundError over a cap.
    """
    with bounded():  # constant folding while compiling counts too
        tree = env.parse(source)
        _transformer().visit(tree)
        tree.set_environment(env)
        code = env.compile(tree)
    return env.template_class.from_code(env, code, env.make_globals(None), None)


def render_bounded(template: Any, context: Mapping[str, object]) -> str:
    """Render with a fresh budget; the text, refused over the output cap."""
    previous = getattr(_state, "budget", None)
    budget = _state.budget = Budget()  # not `with bounded()`: a render must stay cheap
    try:
        text: str = template.render(**context)
    finally:
        _state.budget = previous
    if len(text) > budget.value_cap(len(text)):
        raise TemplateBoundError(
            f"the rendered Modelfile is {len(text):,} bytes, over the cap of {budget.max_value:,} "
            f"({TEMPLATE_OUTPUT.env})"
        )
    return text
