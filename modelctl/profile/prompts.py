"""Prompt cases for ``compare``: loading a prompts file (with positions) and checking assertions.

A prompts file is a YAML list; each item is a prompt string or a mapping::

    - prompt: Give me a JSON object with a key "dish"
      name: json-dish            # optional: a short name for reports and JUnit
      system: Answer in JSON.    # optional: replaces the profile's system prompt for this prompt
      expect:                    # optional assertions, all must hold
        contains: dish           # a string or a list of strings (case-sensitive)
        not_contains: [sorry]    # a string or a list of strings
        regex: '"dish"\\s*:'     # a Python regular expression (re.search) or a list of them
        max_tokens: 200          # eval_count must not exceed this
        json: true               # the whole output parses as JSON (one ``` fence allowed)

Every problem is reported as ``file:line:column: field: message`` (exit 1). The file is read
with the same YAML 1.2 loader as profiles (:mod:`modelctl.profile.yamlio`), so ``yes`` stays a string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelctl.common.files import read_bounded
from modelctl.common.jsontypes import JSONObject
from modelctl.common.limits import PROMPTS_BYTES
from modelctl.errors import Diagnostic, InvalidInput, ProfileError
from modelctl.profile.params import suggest
from modelctl.profile.yamlio import decode_text, load_positioned

ITEM_KEYS = ("prompt", "name", "system", "expect")
EXPECT_KEYS = ("contains", "not_contains", "regex", "max_tokens", "json")


@dataclass(frozen=True)
class Assertion:
    """One check on an output. ``kind`` is one of EXPECT_KEYS; ``value`` its argument."""

    kind: str
    value: Any
    line: int | None = None

    def label(self) -> str:
        if self.kind == "json":
            return "json"
        if self.kind == "max_tokens":
            return f"max_tokens {self.value}"
        if self.kind == "regex":
            return f"regex /{self.value}/"
        return f"{self.kind} {json.dumps(self.value, ensure_ascii=False)}"

    def to_dict(self) -> JSONObject:
        return {"kind": self.kind, "value": self.value}


@dataclass
class AssertionResult:
    assertion: Assertion
    passed: bool
    message: str  # why it failed, or a short confirmation

    def to_dict(self) -> JSONObject:
        return {
            "kind": self.assertion.kind,
            "value": self.assertion.value,
            "label": self.assertion.label(),
            "passed": self.passed,
            "message": self.message,
        }


@dataclass
class PromptCase:
    """A prompt of the run matrix. ``index`` is 1-based; ``line`` is where it is defined."""

    index: int
    prompt: str
    name: str | None = None
    system: str | None = None
    assertions: list[Assertion] = field(default_factory=list)
    file: str | None = None
    line: int | None = None

    @property
    def label(self) -> str:
        return self.name or f"prompt {self.index}"

    def where(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}"
        return "--prompt"

    def to_dict(self) -> JSONObject:
        return {
            "index": self.index,
            "name": self.name,
            "label": self.label,
            "prompt": self.prompt,
            "system": self.system,
            "expect": [a.to_dict() for a in self.assertions],
            "file": self.file,
            "line": self.line,
        }


# --------------------------------------------------------------------------- loading


def _pos(node: Any, key: Any, *, value: bool = False) -> tuple[int | None, int | None]:
    """1-based (line, column) of a key (or its value) in a positioned container, when known."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return None, None
    try:
        if isinstance(key, int) and isinstance(node, list):
            line, col = lc.item(key)
        elif value:
            line, col = lc.value(key)
        else:
            line, col = lc.key(key)
    except (KeyError, IndexError, TypeError, AttributeError):
        return (lc.line + 1, lc.col + 1) if getattr(lc, "line", None) is not None else (None, None)
    return int(line) + 1, int(col) + 1


def _node_pos(node: Any) -> tuple[int | None, int | None]:
    lc = getattr(node, "lc", None)
    if lc is None or getattr(lc, "line", None) is None:
        return None, None
    return int(lc.line) + 1, int(lc.col) + 1


class _Collector:
    def __init__(self, file: str) -> None:
        self.file = file
        self.diags: list[Diagnostic] = []

    def add(self, message: str, line: int | None, column: int | None, fld: str | None) -> None:
        self.diags.append(Diagnostic("prompts", message, self.file, line, column, fld))


def _strings(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return [str(v) for v in value]
    return None


def _unknown_key_message(what: str, key: Any, known: Sequence[str]) -> str:
    hint = suggest(str(key), known)
    extra = f"; did you mean '{hint}'?" if hint else f" (known: {', '.join(known)})"
    return f"unknown {what} '{key}'{extra}"


def _string_assertion(
    key: str, text: str, line: int | None, column: int | None, fld: str, col: _Collector
) -> Assertion | None:
    """One string of contains/not_contains/regex, or None (reported) when it cannot be used."""
    if key == "regex":
        try:
            re.compile(text)
        except re.error as exc:
            col.add(f"bad regular expression {text!r}: {exc}", line, column, fld)
            return None
    elif text == "":
        col.add("must not be empty", line, column, fld)
        return None
    return Assertion(key, text, line)


def _expect_strings(
    key: str, value: Any, vline: int | None, vcol: int | None, fld: str, col: _Collector
) -> list[Assertion]:
    """contains / not_contains / regex: a string or a non-empty list of strings."""
    items = _strings(value)
    if items is None:
        col.add("must be a string or a non-empty list of strings", vline, vcol, fld)
        return []
    out: list[Assertion] = []
    for i, text in enumerate(items):
        iline, icol = _pos(value, i) if isinstance(value, list) else (vline, vcol)
        assertion = _string_assertion(key, text, iline, icol, fld, col)
        if assertion is not None:
            out.append(assertion)
    return out


def _expect_max_tokens(
    key: str, value: Any, vline: int | None, vcol: int | None, fld: str, col: _Collector
) -> list[Assertion]:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        col.add("must be a positive integer", vline, vcol, fld)
        return []
    return [Assertion("max_tokens", int(value), vline)]


def _expect_json(
    key: str, value: Any, vline: int | None, vcol: int | None, fld: str, col: _Collector
) -> list[Assertion]:
    if not isinstance(value, bool):
        col.add("must be true or false", vline, vcol, fld)
        return []
    return [Assertion("json", True, vline)] if value else []


_ExpectCheck = Callable[[str, Any, int | None, int | None, str, _Collector], list[Assertion]]

# One check per EXPECT_KEYS entry: (key, value, value line, value column, field, collector) -> assertions.
_EXPECT_CHECKS: dict[str, _ExpectCheck] = {
    "contains": _expect_strings,
    "not_contains": _expect_strings,
    "regex": _expect_strings,
    "max_tokens": _expect_max_tokens,
    "json": _expect_json,
}


def _parse_expect(expect: Any, item_field: str, parent: Any, col: _Collector) -> list[Assertion]:
    out: list[Assertion] = []
    if expect is None:
        return out
    if not isinstance(expect, dict):
        line, column = _pos(parent, "expect", value=True)
        col.add("must be a mapping of assertions", line, column, f"{item_field}.expect")
        return out
    for key in expect:
        fld = f"{item_field}.expect.{key}"
        if key not in EXPECT_KEYS:
            line, column = _pos(expect, key)
            col.add(_unknown_key_message("assertion", key, EXPECT_KEYS), line, column, fld)
            continue
        vline, vcol = _pos(expect, key, value=True)
        out.extend(_EXPECT_CHECKS[key](str(key), expect[key], vline, vcol, fld, col))
    return out


def _load_list(text: str, file: str) -> list[Any]:
    """The YAML document of a prompts file, which must be a list."""
    try:
        data = load_positioned(text, file)
    except ProfileError as exc:  # the YAML layer speaks of profiles; here it is a prompts file
        raise InvalidInput(
            exc.message, file=file, line=exc.line, column=exc.column, field=exc.field, code="prompts"
        ) from None
    if data is None:
        raise InvalidInput("the prompts file is empty: expected a list of prompts", file=file, line=1, code="prompts")
    if not isinstance(data, list):
        line, column = _node_pos(data)
        raise InvalidInput(
            "expected a list of prompts ({prompt, system?, expect?})",
            file=file,
            line=line or 1,
            column=column,
            code="prompts",
        )
    return data


def _check_item_keys(item: dict[Any, Any], item_field: str, col: _Collector) -> bool:
    """Report the keys of an item that are not ITEM_KEYS; True when there was one."""
    bad = False
    for key in item:
        if key not in ITEM_KEYS:
            kline, kcol = _pos(item, key)
            col.add(_unknown_key_message("key", key, ITEM_KEYS), kline, kcol, f"{item_field}.{key}")
            bad = True
    return bad


def _check_item_prompt(
    item: dict[Any, Any], item_field: str, line: int | None, column: int | None, col: _Collector
) -> bool:
    """Report a missing or empty 'prompt'; True when there was a problem."""
    prompt = item.get("prompt")
    if isinstance(prompt, str) and prompt.strip():
        return False
    if "prompt" in item:
        pline, pcol = _pos(item, "prompt", value=True)
        col.add("must be a non-empty string", pline, pcol, f"{item_field}.prompt")
    else:
        col.add("missing 'prompt'", line, column, f"{item_field}.prompt")
    return True


def _check_item_strings(item: dict[Any, Any], item_field: str, col: _Collector) -> bool:
    """Report a 'name' or 'system' that is not a string; True when there was one."""
    bad = False
    for key in ("name", "system"):
        if key in item and not isinstance(item[key], str):
            kline, kcol = _pos(item, key, value=True)
            col.add("must be a string", kline, kcol, f"{item_field}.{key}")
            bad = True
    return bad


def _parse_item(data: list[Any], i: int, item: Any, index: int, file: str, col: _Collector) -> PromptCase | None:
    """Item ``i`` of the list as prompt number ``index``, or None (its problems reported) when unusable."""
    item_field = f"[{i}]"
    line, column = _pos(data, i)
    if isinstance(item, str):
        if not item.strip():
            col.add("prompt must not be empty", line, column, item_field)
            return None
        return PromptCase(index, str(item), file=file, line=line)
    if not isinstance(item, dict):
        col.add("each item must be a prompt string or a mapping with 'prompt'", line, column, item_field)
        return None
    # Every check runs (and reports) even when an earlier one failed.
    bad_keys = _check_item_keys(item, item_field, col)
    bad_prompt = _check_item_prompt(item, item_field, line, column, col)
    bad_strings = _check_item_strings(item, item_field, col)
    assertions = _parse_expect(item.get("expect"), item_field, item, col)
    if bad_keys or bad_prompt or bad_strings:
        return None
    return PromptCase(
        index,
        str(item.get("prompt")),
        name=str(item["name"]) if item.get("name") is not None else None,
        system=str(item["system"]) if item.get("system") is not None else None,
        assertions=assertions,
        file=file,
        line=line,
    )


def _raise_collected(col: _Collector) -> None:
    """Raise every problem collected, the first as the headline."""
    if col.diags:
        first = col.diags[0]
        raise InvalidInput(
            first.message,
            file=first.file,
            line=first.line,
            column=first.column,
            field=first.field,
            code="prompts",
            diagnostics=col.diags,
        )


def parse_prompts(text: str, file: str = "<prompts>") -> list[PromptCase]:
    """Parse the text of a prompts file. Raises InvalidInput listing every problem found."""
    col = _Collector(file)
    data = _load_list(text, file)
    cases: list[PromptCase] = []
    for i, item in enumerate(data):
        case = _parse_item(data, i, item, len(cases) + 1, file, col)
        if case is not None:
            cases.append(case)
    _raise_collected(col)
    if not cases:
        raise InvalidInput("the prompts file holds no prompts", file=file, line=1, code="prompts")
    names = [c.name for c in cases if c.name]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput(f"prompt names must be unique: {', '.join(dupes)}", file=file, code="prompts")
    return cases


def load_prompts(path: str | Path) -> list[PromptCase]:
    """Read and parse a prompts file (exit 1 with ``file:line:column`` on any problem)."""
    try:
        text = decode_text(read_bounded(path, PROMPTS_BYTES, what="prompts file"), str(path), what="prompts file")
    except InvalidInput as exc:  # a FIFO, a device, too large, not UTF-8...: a prompts-file problem
        raise InvalidInput(exc.message, file=str(path), line=exc.line, column=exc.column, code="prompts") from None
    return parse_prompts(text, str(path))


def inline_prompts(texts: Sequence[str], start: int = 1) -> list[PromptCase]:
    """Cases for ``--prompt TEXT`` options (no assertions)."""
    out = []
    for i, t in enumerate(texts):
        if not t.strip():
            raise InvalidInput("--prompt must not be empty", code="prompts")
        out.append(PromptCase(start + i, t))
    return out


# --------------------------------------------------------------------------- assertions

_FENCE = re.compile(r"^```[A-Za-z0-9_-]*\s*\n(.*)\n```\s*$", re.DOTALL)


def _json_text(text: str) -> str:
    stripped = text.strip()
    m = _FENCE.match(stripped)
    return m.group(1) if m else stripped


def check(assertion: Assertion, text: str, eval_count: int | None) -> AssertionResult:
    kind, value = assertion.kind, assertion.value
    if kind == "contains":
        ok = value in text
        return AssertionResult(assertion, ok, "found" if ok else "not in the output")
    if kind == "not_contains":
        ok = value not in text
        if ok:
            return AssertionResult(assertion, True, "absent")
        return AssertionResult(assertion, False, f"found at character {text.index(value)}")
    if kind == "regex":
        m = re.search(value, text)
        if m:
            return AssertionResult(assertion, True, f"matched {m.group(0)[:60]!r}")
        return AssertionResult(assertion, False, "no match in the output")
    if kind == "max_tokens":
        if eval_count is None:
            return AssertionResult(assertion, False, "the server reported no eval_count")
        ok = eval_count <= int(value)
        msg = f"{eval_count} tokens" + ("" if ok else f" > {value}")
        return AssertionResult(assertion, ok, msg)
    if kind == "json":
        try:
            json.loads(_json_text(text))
        except ValueError as exc:
            return AssertionResult(assertion, False, f"output is not JSON: {exc}")
        return AssertionResult(assertion, True, "valid JSON")
    raise ValueError(f"unknown assertion kind {kind!r}")  # pragma: no cover - guarded at load


def evaluate(assertions: Iterable[Assertion], text: str, eval_count: int | None) -> list[AssertionResult]:
    return [check(a, text, eval_count) for a in assertions]
