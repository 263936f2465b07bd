"""modelctl.modelfile.gotemplate: Go's text/template parser as Ollama runs it at create, and what validate says.

GO_TABLE holds templates with the result of Go's parser (Go 1.24, the Go Ollama 0.9.3 builds with:
its go.mod says ``go 1.24.0``) under Ollama 0.9.3's function map (only ``json``; see OLLAMA_FUNCS):
``None`` where Go accepts the template, else Go's message as Ollama reports it after
``template error: ``. Every row was sent to the real Ollama 0.9.3 server (``/api/create`` with
``from`` a tiny GGUF model and the row as ``template``) and these are its answers, all 115 rows:
the server accepted exactly the ``None`` rows and refused the others with exactly these texts
(tests/test_live_template.py repeats that check against a live server, with random template-like
text as well: 4,500 random texts agreed with 0.9.3 when this was written). Not in the table:
``{{ template "x" }}`` (a template call without a value), which crashes the 0.9.3 server (a nil
pointer in template.Identifiers takes the whole process down); see test_template_call_without_value.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from modelctl.cli import cli
from modelctl.modelfile.gotemplate import (
    BUILTINS,
    OLLAMA_FUNCS,
    GoTemplateError,
    check,
    functions_used,
    newer_functions,
    parse,
    top_level_fields,
)

#: Ollama 0.9.3's template functions (template/template.go at v0.9.3: ``funcs`` has ``json`` only).
FUNCS_093 = frozenset({"json"})

GO_TABLE: list[tuple[str, str | None]] = [
    ("{{ .Prompt }}", None),
    ("{{ if .Prompt }}", "template: :1: unexpected EOF"),
    ("{{ .System }", 'template: :1: unexpected "}" in operand'),
    ("{{ nosuchfunc }}", 'template: :1: function "nosuchfunc" not defined'),
    ("{{ currentDate }}", 'template: :1: function "currentDate" not defined'),
    ("{{ json .Messages }}", None),
    ("{{- range.Messages }}{{ .Content }}{{ end }}", None),
    ("{{ if.First }}x{{ end }}", None),
    ('{{ "}}" }}', None),
    ("{{ `}}` }}", None),
    ('{{ define "x" }}a{{ end }}{{ template "x" . }}', None),
    ('{{ block "b" . }}{{ .Prompt }}{{ end }}', None),
    ("{{ break }}", "template: :1: {{break}} outside {{range}}"),
    ("{{ range .Messages }}{{ if .Content }}{{ break }}{{ end }}{{ continue }}{{ end }}", None),
    ("{{ with .System }}a{{ else with .Prompt }}b{{ else }}c{{ end }}", None),
    ("{{ if .System }}a{{ else if .Prompt }}b{{ else }}c{{ end }}", None),
    ("{{ range .Messages }}a{{ else }}b{{ end }}", None),
    ("{{ 1e }}", 'template: :1: illegal number syntax: "1e"'),
    ("{{ 'ab' }}", "template: :1: malformed character constant: 'ab'"),
    ("{{ '' }}", "template: :1: invalid syntax"),
    ("{{ 'a' }}{{ '\\n' }}{{ '\\'' }}", None),
    ('{{ "\\q" }}', "template: :1: invalid syntax"),
    ('{{ "\\x41\\u00e9\\101" }}', None),
    ("{{ $x }}", 'template: :1: undefined variable "$x"'),
    ("{{ $x := .Prompt }}{{ $x }}{{ $x = .System }}{{ $x }}", None),
    ("{{ range $i, $m := .Messages }}{{ $i }}{{ $m.Role }}{{ end }}", None),
    ("{{ range $i, $m, $z := .Messages }}{{ end }}", "template: :1: too many declarations in range"),
    ("{{ with $x, $y := .System }}{{ end }}", "template: :1: too many declarations in with"),
    ("{{ range $i, 3 }}{{ end }}", "template: :1: range can only initialize variables"),
    ("{{ $.Prompt }}{{ $ }}", None),
    ("{{-3}}", None),
    ("{{- 3 -}}", None),
    ("{{ 3 -}}x", None),
    ("{{ -3 }}", None),
    ("{{ .Prompt -}}\n  x", None),
    ("{{- .Prompt}}", None),
    ("{{ .Prompt -}}", None),
    ("a\n{{ .Prompt\n}}", None),
    ("{{/* comment */}}", None),
    ("{{- /* comment */ -}}", None),
    ("{{/* comment */ }}", "template: :1: comment ends before closing delimiter"),
    ("{{/* unclosed }}", "template: :1: unclosed comment"),
    ("{{ else }}", "template: :1: unexpected {{else}}"),
    ("{{ end }}", "template: :1: unexpected {{end}}"),
    ("{{ if }}{{ end }}", "template: :1: missing value for if"),
    ("{{ if .A }}{{ else }}{{ else }}{{ end }}", "template: :1: expected end; found {{else}}"),
    (
        '{{ define "a" }}x{{ end }}{{ define "a" }}y{{ end }}',
        'template: :1: template: multiple definition of template "a"',
    ),
    ('{{ define "a" }}x{{ else }}{{ end }}', "template: :1: unexpected {{else}} in define clause"),
    ("{{ define a }}{{ end }}", 'template: :1: unexpected "a" in define clause'),
    ("{{ (((1))) }}", None),
    ("{{ (1 }}", "template: :1: unclosed left paren"),
    ("{{ 1) }}", "template: :1: unexpected right paren"),
    ("{{ .A.B.C }}", None),
    ("{{ (index .Messages 0).Content }}", None),
    ("{{ 1.A }}", 'template: :1: bad number syntax: "1.A"'),
    ('{{ "a".B }}', 'template: :1: unexpected . after term "\\"a\\""'),
    ("{{ nil }}", None),
    ("{{ .A | 1 }}", "template: :1: non executable command in pipeline stage 2"),
    ('{{ .A | printf "%s" | len }}', None),
    ("{{ .A |  }}", None),
    ("{{ 08 }}", 'template: :1: integer overflow: "08"'),
    ("{{ 1_000 }}{{ 0x1p-2 }}{{ 0b101 }}{{ 0o17 }}{{ 1.5e3 }}{{ .5 }}", None),
    ("{{ 1__0 }}", 'template: :1: illegal number syntax: "1__0"'),
    ("{{ 99999999999999999999 }}", 'template: :1: integer overflow: "99999999999999999999"'),
    ("{{ 1e400 }}", 'template: :1: illegal number syntax: "1e400"'),
    ("{{ 1+2i }}", None),
    ("{{ 3i }}", None),
    ("{{ 0x1i }}", 'template: :1: illegal number syntax: "0x1i"'),
    ("{{ true }}{{ false }}", None),
    ("{{ .A true }}", None),
    ("{{ .Prompt\xa0}}", "template: :1: bad character U+00A0"),
    ("{{ .Prompt \x01}}", "template: :1: unrecognized character in action: U+0001"),
    ("{{ .Pro@mpt }}", "template: :1: bad character U+0040 '@'"),
    ("{{ @ }}", 'template: :1: unexpected "@" in command'),
    ("{{ .Prompt", "template: :1: unclosed action"),
    ("{{ .Prompt }", 'template: :1: unexpected "}" in operand'),
    ("{{", "template: :1: unclosed action"),
    ("}}", None),
    ("text only {", None),
    ("{{ .A:= 1 }}", 'template: :1: unexpected ":=" in operand'),
    ("{{ $x = 1 }}", None),
    ("{{ $x := 1 }}{{ $x := 2 }}", None),
    ("{{ if $y := .A }}{{ $y }}{{ end }}{{ $y }}", 'template: :1: undefined variable "$y"'),
    (
        '{{ eq .A "b" }}{{ ne 1 2 }}{{ and 1 2 }}{{ or 1 2 }}{{ not 1 }}{{ index .A 1 }}{{ slice .A 1 }}'
        '{{ len .A }}{{ html .A }}{{ js .A }}{{ urlquery .A }}{{ print 1 }}{{ println 1 }}{{ printf "%d" 1 }}'
        "{{ call .F }}{{ lt 1 2 }}{{ le 1 2 }}{{ gt 1 2 }}{{ ge 1 2 }}",
        None,
    ),
    ("{{ toTypeScriptType .A }}", 'template: :1: function "toTypeScriptType" not defined'),
    ("{{ yesterdayDate }}", 'template: :1: function "yesterdayDate" not defined'),
    ('{{ template "missing" . }}', None),
    ("{{ template x }}", 'template: :1: unexpected "x" in template clause'),
    ("{{ range .Messages }}{{ end }}{{ continue }}", "template: :1: {{continue}} outside {{range}}"),
    ('{{ range .A }}{{ define "z" }}{{ break }}{{ end }}{{ end }}', "template: :1: unexpected <define> in command"),
    ("{{ .Prompt }}{{ .Response }}", None),
    ("{{ with .A }}{{ else if .B }}{{ end }}", "template: :1: unexpected <if> in input"),
    ("{{ if .A }}{{ else with .B }}{{ end }}", "template: :1: unexpected <with> in input"),
    ("{{ else if .A }}", "template: :1: unexpected {{else}}"),
    ("{{ 'a }}", "template: :1: unterminated character constant"),
    ('{{ "a }}', "template: :1: unterminated quoted string"),
    ("{{ `a }}", "template: :1: unterminated raw quoted string"),
    ("{{ . }}{{ .. }}", "template: :1: unexpected <.> in operand"),
    ("{{ .A(1) }}", 'template: :1: unexpected "(" in operand'),
    ("{{ (1).A }}", None),
    ("{{ $.A.B }}{{ $x := 1 }}{{ $x.A }}", None),
    ("{{ range .Messages -}}\n{{ .Role }}\n{{- end }}", None),
    ("{{ .A\n|\nprintf\n}}", None),
    ("line one\n{{ .Prompt }}\n{{ nosuchfunc }}", 'template: :3: function "nosuchfunc" not defined'),
    ("{{ if .System }}\n{{ .System }}\n\n", "template: :4: unexpected EOF"),
    ('{{ "a\nb" }}', "template: :1: unterminated quoted string"),
    ("{{ .A\n}}\n{{ .B }", 'template: :3: unexpected "}" in operand'),
    ("{{/* a\nb */}}\n{{ end }}", "template: :3: unexpected {{end}}"),
    ("{{ range .Messages }}\n{{ $x := 1 }}\n{{ end }}{{ $x }}", 'template: :3: undefined variable "$x"'),
    ("{{ `a\nb` }}\n{{ 1e }}", 'template: :3: illegal number syntax: "1e"'),
    ("{{ if\n.A }}\n{{ else }}\n{{ else }}\n{{ end }}", "template: :4: expected end; found {{else}}"),
    ("{{ (\n1\n}}", "template: :3: unclosed left paren in action started at :1"),
    ("{{ --i }}", "template: :1: syntax error scanning complex number"),
    ("{{ 1+2 }}", 'template: :1: bad number syntax: "1+2"'),
    ("{{ 1e+2+3i }}", None),
]


def go_result(template: str, funcs: frozenset[str] | None = FUNCS_093) -> str | None:
    try:
        check(template, funcs)
    except GoTemplateError as exc:
        return exc.message
    return None


@pytest.mark.parametrize(("template", "expected"), GO_TABLE)
def test_accepts_and_refuses_what_go_does(template: str, expected: str | None) -> None:
    assert go_result(template) == expected


def test_the_three_templates_validate_let_through() -> None:
    # issue: each of these passed `validate --strict` and failed only at create
    assert go_result("{{ if .Prompt }}") == "template: :1: unexpected EOF"
    assert go_result("{{ .System }") == 'template: :1: unexpected "}" in operand'
    assert go_result("{{ nosuchfunc }}") == 'template: :1: function "nosuchfunc" not defined'


def test_error_position_line_and_column() -> None:
    with pytest.raises(GoTemplateError) as info:
        parse("line one\n{{ .Prompt }}\n  {{ nosuchfunc }}")
    assert (info.value.line, info.value.column, info.value.detail) == (3, 6, 'function "nosuchfunc" not defined')


def test_ollama_functions_by_version() -> None:
    # json since always; the others from the release that added each (template/template.go history)
    assert OLLAMA_FUNCS == {"json": "0.0.0", "currentDate": "0.11.1", "toTypeScriptType": "0.11.3",
                            "yesterdayDate": "0.13.3"}  # fmt: skip
    for name in ("currentDate", "toTypeScriptType", "yesterdayDate"):
        assert go_result(f"{{{{ {name} }}}}", None) is None  # today's Ollama has it
        assert go_result(f"{{{{ {name} }}}}") == f'template: :1: function "{name}" not defined'  # 0.9.3 has not
    for name in sorted(BUILTINS):
        assert go_result(f"{{{{ {name} }}}}") is None
    t = '{{ currentDate }}{{ json .Messages }}{{ toTypeScriptType . }}{{ printf "%s" 1 }}'
    assert functions_used(parse(t)) == ["currentDate", "json", "toTypeScriptType", "printf"]
    assert newer_functions(t, None) == [("currentDate", "0.11.1"), ("toTypeScriptType", "0.11.3")]
    assert newer_functions(t, "0.11.1") == [("toTypeScriptType", "0.11.3")]
    assert newer_functions(t, "0.12.0") == []


def test_template_call_without_value() -> None:
    # Go accepts it; Ollama's Template.Vars then walks the missing pipeline: 0.12.4+ answer
    # "undefined template specified", 0.9.3 dereferences nil and the server process dies (seen live).
    assert parse('{{ template "x" }}')
    with pytest.raises(GoTemplateError, match="undefined template specified") as info:
        check('{{ define "x" }}a{{ end }}\n{{ if .System }}{{ template "x" }}{{ end }}')
    assert (info.value.line, info.value.column) == (2, 29)  # the name, where Go puts a TemplateNode
    assert go_result('{{ define "x" }}a{{ end }}{{ template "x" . }}') is None


@pytest.mark.parametrize(
    ("template", "fields"),
    [
        # a keyword written against the dot is the keyword, then the field (Go's lexer)
        ("{{- range.Messages }}{{ .Content }}{{ end }}{{ .Prompt }}", ["Messages", "Prompt"]),
        ("{{ if.First }}x{{ end }}", ["First"]),
        ("{{ with.Tools }}{{ .Function }}{{ end }}", ["Tools"]),
        # "}}" inside a string does not end the action
        ('{{ if eq .System "}}" }}{{ .Fake }}{{ end }}', ["System", "Fake"]),
        ("{{ print `}} .NotAField` .Prompt }}", ["Prompt"]),
        # define bodies run with the dot they are given; $. is always the top
        ('{{ define "m" }}{{ .Role }}{{ $.Sys }}{{ end }}{{ template "m" .Messages }}', ["Sys", "Messages"]),
        (
            "{{ with .System }}{{ . }}{{ else with .Prompt }}{{ .X }}{{ else }}{{ .Suffix }}{{ end }}",
            ["System", "Prompt", "Suffix"],
        ),  # fmt: skip
        ("{{ .Messages.Content }}{{ (.Tools).Name }}", ["Messages", "Tools"]),
    ],
)
def test_fields_read_as_go_reads_them(template: str, fields: list[str]) -> None:
    assert [u.name for u in top_level_fields(template)] == fields


def test_field_positions() -> None:
    uses = top_level_fields("{{ if .System }}\n  {{- range.Messages }}{{ end }}{{ end }}")
    assert [(u.name, u.line, u.column) for u in uses] == [("System", 1, 7), ("Messages", 2, 12)]


def test_a_template_go_refuses_has_no_fields() -> None:
    assert top_level_fields("{{ .First }") == []


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_never_raises_anything_else_on_any_text(text: str) -> None:
    try:
        check(text)
    except GoTemplateError as exc:
        assert exc.message.startswith(f"template: :{exc.line}: ")
        assert 0 <= exc.offset <= len(text) and exc.column >= 1


_PIECES = st.sampled_from(
    ["{{", "}}", "{{- ", " -}}", "{{/*", "*/}}", " ", "\n", ".", ".A", "$", "$x", ":=", "=", "|", "(", ")", ",",
     '"', "`", "'", "\\", "if", "else", "end", "range", "with", "define", "template", "block", "break",
     "continue", "nil", "true", "1", "-", "+", "e", "0x", "_", "i", "json", "len", "nosuch", "x", "@", "\x01"]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(_PIECES, max_size=30).map("".join))
def test_never_raises_anything_else_on_template_like_text(text: str) -> None:
    try:
        trees = check(text)
    except GoTemplateError:
        return
    top_level_fields(text)
    assert "" in trees


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(GoTemplateError):
        check("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}")


# --- validate ----------------------------------------------------------------------------------


def validate(tmp_path: Path, body: str, *args: str) -> tuple[int, str, str]:
    prof = tmp_path / "p.yaml"
    prof.write_text(body, encoding="utf-8")
    res = CliRunner().invoke(cli, ["validate", str(prof), *args], catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


@pytest.mark.parametrize(
    ("template_yaml", "where", "message"),
    [
        (
            "|\n  {{ if .System }}{{ .System }}{{ end }}\n  {{ if .Prompt }}\n",
            "p.yaml:5:1",
            "template: :3: unexpected EOF",
        ),  # fmt: skip
        ('"{{ .System }"', "p.yaml:2:23", 'template: :1: unexpected "}" in operand'),
        ("|\n  {{ .Prompt }}\n  {{ nosuchfunc }}\n", "p.yaml:4:6", 'template: :2: function "nosuchfunc" not defined'),
        ("'{{ \"}}\" | printf }} {{ .Prompt }'", "p.yaml:2:43", 'template: :1: unexpected "}" in operand'),
    ],
)
def test_validate_refuses_what_create_would(tmp_path: Path, template_yaml: str, where: str, message: str) -> None:
    code, _, err = validate(tmp_path, f"from: llama3.2:3b\ntemplate: {template_yaml}\n", "--strict")
    assert code == 1
    assert f"{where}: template: Ollama would refuse this TEMPLATE (Go's text/template): {message}" in err


def test_validate_json_error_carries_code_and_position(tmp_path: Path) -> None:
    code, out, _ = validate(tmp_path, "from: llama3.2:3b\ntemplate: '{{ end }}'\n", "--format", "json")
    assert code == 1
    err = json.loads(out)["errors"][0]
    assert (err["code"], err["line"], err["column"]) == ("go_template", 2, 19)  # where Go stood: the closing }}
    assert err["message"].endswith("template: :1: unexpected {{end}}")


def test_validate_accepts_what_go_accepts(tmp_path: Path) -> None:
    body = (
        "from: llama3.2:3b\ntemplate: |\n"
        '  {{- range.Messages }}{{ .Role }}: {{ .Content }}{{ end }}{{ if eq .System "}}" }}x{{ end }}\n'
    )
    code, _, err = validate(tmp_path, body, "--strict")
    assert code == 0, err


def test_validate_warns_of_a_function_newer_than_requires(tmp_path: Path) -> None:
    body = "from: llama3.2:3b\ntemplate: '{{ currentDate }} {{ .Prompt }}'\n"
    code, out, _ = validate(tmp_path, body, "--format", "json")
    assert code == 0
    warnings = json.loads(out)["data"]["profiles"][0]["warnings"]
    assert [w["code"] for w in warnings] == ["template_function_version"]
    assert 'requires: "0.11.1"' in warnings[0]["message"]
    assert validate(tmp_path, body, "--strict")[0] == 1
    assert validate(tmp_path, body.replace("from:", "requires: '0.11.1'\nfrom:"), "--strict")[0] == 0


def test_a_misread_retired_field_is_found_against_the_dot(tmp_path: Path) -> None:
    code, out, _ = validate(tmp_path, "from: llama3.2:3b\ntemplate: '{{ if.First }}{{ .System }}{{ end }}'\n",
                            "--format", "json")  # fmt: skip
    assert code == 0
    warnings = json.loads(out)["data"]["profiles"][0]["warnings"]
    assert [w["code"] for w in warnings] == ["template_variable"]
    assert "no longer provides .First" in warnings[0]["message"]
