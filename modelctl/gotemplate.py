"""What Ollama's template package gives a TEMPLATE, and what a template uses that it does not.

A profile's ``template`` is a Go text/template that Ollama executes with a map of values
(``template/template.go``, ``Template.Execute``). Today that map holds ``System``, ``Prompt``,
``Response``, ``Suffix``, ``Messages``, ``Tools``, ``Think``, ``IsThinkSet``, ``Query``,
``Document`` and ``Instruction``; the template is parsed with ``missingkey=zero``, so any
other name (``.First``, which old Modelfiles used, or a misspelt ``.system``) is silently
empty and ``{{ if .First }}`` never holds. Inside ``range`` and ``with`` the dot is the
element (a message, a tool), so only fields read at the top level, or through ``$.``, are
checked. This is a scanner for that question, not a Go template parser: text outside
``{{ }}``, strings and comments are skipped, and anything it cannot follow is left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelctl.params import suggest

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

_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.DOTALL)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`|\'(?:[^\'\\]|\\.)*\'')
# A field at the start of a chain: `.Name` not preceded by an identifier character, `)` or `]`
# (which would make it a field of something else), or `$.Name` (always the top level).
_FIELD = re.compile(r"(?<![\w)\]$.])\.([A-Za-z_]\w*)|\$\.([A-Za-z_]\w*)")
_OPENS_BLOCK = ("if", "range", "with", "define", "block")


@dataclass(frozen=True)
class FieldUse:
    """A top-level field a template reads: the name, the template line (1-based) and column."""

    name: str
    line: int
    column: int


def top_level_fields(template: str) -> list[FieldUse]:
    """Every field the template reads from the top-level values, in order."""
    out: list[FieldUse] = []
    stack: list[bool] = []  # per open block: does it rebind the dot?
    for m in _ACTION.finditer(template):
        body = m.group(1)
        if body.startswith("/*"):
            continue
        words = body.split(None, 1)
        head, rest = (words[0], words[1] if len(words) > 1 else "") if words else ("", "")
        if head == "end":
            if stack:
                stack.pop()
            continue
        if head == "else" and stack:
            stack[-1] = False  # an else branch runs with the outer dot (and `else with X` reads X there)
        plain = _STRINGS.sub(lambda s: " " * len(s.group(0)), body)
        dot_is_top = not any(stack)
        for f in _FIELD.finditer(plain):
            if f.group(2) or dot_is_top:
                offset = m.start(1) + f.start()
                line = template.count("\n", 0, offset) + 1
                column = offset - (template.rfind("\n", 0, offset) + 1) + 1
                out.append(FieldUse(f.group(1) or f.group(2), line, column))
        if head == "else" and stack and rest.startswith("with"):
            stack[-1] = True
        elif head in _OPENS_BLOCK:
            # range and with rebind the dot; define/block bodies run with whatever dot they are given.
            stack.append(head != "if")
    return out


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
