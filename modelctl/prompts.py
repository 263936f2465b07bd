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
with the same YAML 1.2 loader as profiles (:mod:`modelctl.yamlio`), so ``yes`` stays a string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelctl.errors import Diagnostic, InvalidInput

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

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value}


@dataclass
class AssertionResult:
    assertion: Assertion
    passed: bool
    message: str  # why it failed, or a short confirmation

    def to_dict(self) -> dict[str, Any]:
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

    def to_dict(self) -> dict[str, Any]:
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
        line, column = _pos(expect, key)
        vline, vcol = _pos(expect, key, value=True)
        value = expect[key]
        if key not in EXPECT_KEYS:
            from modelctl.params import suggest

            hint = suggest(str(key), EXPECT_KEYS)
            extra = f"; did you mean '{hint}'?" if hint else f" (known: {', '.join(EXPECT_KEYS)})"
            col.add(f"unknown assertion '{key}'{extra}", line, column, fld)
            continue
        if key in ("contains", "not_contains", "regex"):
            items = _strings(value)
            if items is None:
                col.add("must be a string or a non-empty list of strings", vline, vcol, fld)
                continue
            for i, text in enumerate(items):
                iline, icol = (vline, vcol)
                if isinstance(value, list):
                    iline, icol = _pos(value, i)
                if key == "regex":
                    try:
                        re.compile(text)
                    except re.error as exc:
                        col.add(f"bad regular expression {text!r}: {exc}", iline, icol, fld)
                        continue
                elif text == "":
                    col.add("must not be empty", iline, icol, fld)
                    continue
                out.append(Assertion(str(key), text, iline))
        elif key == "max_tokens":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                col.add("must be a positive integer", vline, vcol, fld)
                continue
            out.append(Assertion("max_tokens", int(value), vline))
        elif key == "json":
            if not isinstance(value, bool):
                col.add("must be true or false", vline, vcol, fld)
                continue
            if value:
                out.append(Assertion("json", True, vline))
    return out


def parse_prompts(text: str, file: str = "<prompts>") -> list[PromptCase]:
    """Parse the text of a prompts file. Raises InvalidInput listing every problem found."""
    from modelctl.errors import ProfileError
    from modelctl.yamlio import load_positioned

    col = _Collector(file)
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
    cases: list[PromptCase] = []
    for i, item in enumerate(data):
        item_field = f"[{i}]"
        line, column = _pos(data, i)
        if isinstance(item, str):
            if not item.strip():
                col.add("prompt must not be empty", line, column, item_field)
                continue
            cases.append(PromptCase(len(cases) + 1, str(item), file=file, line=line))
            continue
        if not isinstance(item, dict):
            col.add("each item must be a prompt string or a mapping with 'prompt'", line, column, item_field)
            continue
        bad = False
        for key in item:
            if key not in ITEM_KEYS:
                kline, kcol = _pos(item, key)
                from modelctl.params import suggest

                hint = suggest(str(key), ITEM_KEYS)
                extra = f"; did you mean '{hint}'?" if hint else f" (known: {', '.join(ITEM_KEYS)})"
                col.add(f"unknown key '{key}'{extra}", kline, kcol, f"{item_field}.{key}")
                bad = True
        prompt = item.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            if "prompt" in item:
                pline, pcol = _pos(item, "prompt", value=True)
                col.add("must be a non-empty string", pline, pcol, f"{item_field}.prompt")
            else:
                col.add("missing 'prompt'", line, column, f"{item_field}.prompt")
            bad = True
        for key in ("name", "system"):
            if key in item and not isinstance(item[key], str):
                kline, kcol = _pos(item, key, value=True)
                col.add("must be a string", kline, kcol, f"{item_field}.{key}")
                bad = True
        assertions = _parse_expect(item.get("expect"), item_field, item, col)
        if bad:
            continue
        cases.append(
            PromptCase(
                len(cases) + 1,
                str(prompt),
                name=str(item["name"]) if item.get("name") is not None else None,
                system=str(item["system"]) if item.get("system") is not None else None,
                assertions=assertions,
                file=file,
                line=line,
            )
        )
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
    if not cases:
        raise InvalidInput("the prompts file holds no prompts", file=file, line=1, code="prompts")
    names = [c.name for c in cases if c.name]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput(f"prompt names must be unique: {', '.join(dupes)}", file=file, code="prompts")
    return cases


def load_prompts(path: str | Path) -> list[PromptCase]:
    """Read and parse a prompts file (exit 1 with ``file:line:column`` on any problem)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput("prompts file not found", file=str(path), code="prompts") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read prompts file: {exc}", file=str(path), code="prompts") from None
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
