"""Prompts files for ``compare``: loading with positions, validation, and assertions."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelctl.errors import InvalidInput
from modelctl.profile.prompts import Assertion, evaluate, inline_prompts, load_prompts, parse_prompts


def _err(text: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        parse_prompts(text, "p.yaml")
    return info.value


def test_parses_every_field_with_positions() -> None:
    cases = parse_prompts(
        "- name: one\n"
        "  prompt: Hello\n"
        "  system: Be brief.\n"
        "  expect:\n"
        "    contains: [a, b]\n"
        "    not_contains: sorry\n"
        "    regex: '\\d+'\n"
        "    max_tokens: 10\n"
        "    json: true\n"
        "- just a string\n",
        "p.yaml",
    )
    assert [c.index for c in cases] == [1, 2]
    first, second = cases
    assert (first.name, first.prompt, first.system, first.line) == ("one", "Hello", "Be brief.", 1)
    kinds = [(a.kind, a.value) for a in first.assertions]
    assert kinds == [
        ("contains", "a"),
        ("contains", "b"),
        ("not_contains", "sorry"),
        ("regex", r"\d+"),
        ("max_tokens", 10),
        ("json", True),
    ]
    assert second.prompt == "just a string" and second.line == 10 and second.assertions == []
    assert second.label == "prompt 2" and first.label == "one"
    assert first.where() == "p.yaml:1"


def test_json_false_is_no_assertion() -> None:
    (case,) = parse_prompts("- prompt: x\n  expect: {json: false}\n")
    assert case.assertions == []


def test_unknown_expect_key_names_line_column_and_suggests() -> None:
    e = _err("- prompt: x\n  expect:\n    contians: a\n")
    assert (e.file, e.line, e.column) == ("p.yaml", 3, 5)
    assert e.field == "[0].expect.contians"
    assert "did you mean 'contains'" in e.message
    assert str(e).startswith("p.yaml:3:5: [0].expect.contians: unknown assertion")


def test_bad_regex_names_its_line() -> None:
    e = _err("- prompt: x\n  expect:\n    regex: '(unclosed'\n")
    assert e.line == 3 and "bad regular expression" in e.message


def test_bad_regex_in_a_list_points_at_the_item() -> None:
    e = _err("- prompt: x\n  expect:\n    regex:\n      - ok\n      - '[z-a]'\n")
    assert (e.line, e.column) == (5, 9)


def test_every_problem_is_reported() -> None:
    e = _err("- prompt: x\n  sytem: y\n- expect: {max_tokens: 0}\n- 3\n")
    lines = [d.format() for d in e.diagnostics()]
    assert any("p.yaml:2:3" in x and "did you mean 'system'" in x for x in lines)
    assert any("missing 'prompt'" in x for x in lines)
    assert any("max_tokens" in x and "positive integer" in x for x in lines)
    assert any("p.yaml:4:3" in x for x in lines)


@pytest.mark.parametrize(
    ("text", "needle", "line"),
    [
        ("", "empty", 1),
        ("prompt: x\n", "expected a list", 1),
        ("- prompt: [unclosed\n", "invalid YAML", 2),
        ("- prompt: ''\n", "non-empty string", 1),
        ("- prompt: x\n  expect: [contains]\n", "mapping", 2),
        ("- prompt: x\n  expect: {contains: 3}\n", "string or a non-empty list", 2),
        ("- prompt: x\n  expect: {json: yes}\n", "true or false", 2),
        ("- prompt: x\n  name: [a]\n", "must be a string", 2),
    ],
)
def test_bad_files(text: str, needle: str, line: int) -> None:
    e = _err(text)
    assert needle in str(e)
    assert e.line == line


def test_duplicate_names_are_refused() -> None:
    assert "unique" in _err("- {prompt: a, name: n}\n- {prompt: b, name: n}\n").message


def test_load_prompts_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not found"):
        load_prompts(tmp_path / "nope.yaml")


def test_inline_prompts() -> None:
    cases = inline_prompts(["a", "b"])
    assert [(c.index, c.prompt, c.where()) for c in cases] == [(1, "a", "--prompt"), (2, "b", "--prompt")]
    with pytest.raises(InvalidInput):
        inline_prompts([" "])


@pytest.mark.parametrize(
    ("kind", "value", "text", "count", "passed"),
    [
        ("contains", "pan", "Saffron panna cotta", 3, True),
        ("contains", "Pan", "Saffron panna cotta", 3, False),
        ("not_contains", "sorry", "Sure!", 1, True),
        ("not_contains", "sorry", "I'm sorry", 1, False),
        ("regex", r"\d+ ?°C", "About 177 °C.", 4, True),
        ("regex", r"^\d+$", "About 177", 2, False),
        ("max_tokens", 5, "x", 5, True),
        ("max_tokens", 5, "x", 6, False),
        ("max_tokens", 5, "x", None, False),
        ("json", True, '{"dish": "soup"}', 5, True),
        ("json", True, '```json\n{"dish": "soup"}\n```', 5, True),
        ("json", True, "dish: soup", 5, False),
    ],
)
def test_assertions(kind: str, value: object, text: str, count: int | None, passed: bool) -> None:
    (res,) = evaluate([Assertion(kind, value)], text, count)
    assert res.passed is passed
    assert res.to_dict()["kind"] == kind
    if not passed:
        assert res.message
