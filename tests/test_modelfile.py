"""modelctl.modelfile.grammar: Ollama's grammar case by case, conversions, quoting.

The tricky cases A..AI come from the project's Ollama reference (section 1.13); the
``OLLAMA_*`` tables restate the cases of Ollama's own ``parser/parser_test.go`` as data.
"""

from __future__ import annotations

import math
import struct
import unicodedata

import pytest

from modelctl.errors import ModelfileError
from modelctl.modelfile.grammar import (
    INVALID_COMMAND,
    INVALID_ROLE,
    Command,
    ModelSpec,
    command_lines,
    decode,
    format_parameter_value,
    go_print_ranges,
    is_go_printable,
    parameter_lines,
    parse,
    parse_modelfile,
    quote_value,
    to_spec,
)
from modelctl.ollama.wire import float32_shortest, go_parse_bool, go_parse_float32, go_parse_int, go_semver_valid
from modelctl.profile import params


def pairs(text: str | bytes) -> list[tuple[str, str]]:
    return [(c.name, c.args) for c in parse(text)]


def parse_error(text: str | bytes) -> ModelfileError:
    with pytest.raises(ModelfileError) as info:
        parse(text)
    return info.value


def spec_error(text: str) -> ModelfileError:
    with pytest.raises(ModelfileError) as info:
        parse_modelfile(text)
    return info.value


CMD_ERR = f"command must be one of {INVALID_COMMAND.split('one of ', 1)[1]}"
assert CMD_ERR == INVALID_COMMAND
ROLE_ERR = INVALID_ROLE


# --- tricky cases A..AI ---------------------------------------------------------------------

# (id, text, expected commands as (name, args) pairs) for the cases the parser accepts
ACCEPTED = [
    (
        "A",
        "from base\nsystem be brief\nParameter top_k 7\n",
        [("model", "base"), ("system", "be brief"), ("top_k", "7")],
    ),
    ("B", "FROM base\nPARAMETER Top_K 7\n", [("model", "base"), ("Top_K", "7")]),
    ("C", "FROM base\nPARAMETER  top_k 7\n", [("model", "base"), ("", "top_k 7")]),
    ("G", "FROM base\nSYSTEM \n", [("model", "base"), ("system", "")]),
    ("J", "FROM base\nSYSTEM Answer # politely", [("model", "base"), ("system", "Answer # politely")]),
    ("K", 'FROM base\nPARAMETER stop "<end>" "<eot>"', [("model", "base"), ("stop", '<end>" "<eot>')]),
    ("M", 'FROM base\nPARAMETER stop """""""', [("model", "base"), ("stop", '"')]),
    ("P", 'FROM base\nSYSTEM "two\nlines"', [("model", "base"), ("system", "two\nlines")]),
    ("R", 'FROM base\r\nSYSTEM """a\r\nb"""\r\n', [("model", "base"), ("system", "a\r\nb")]),
    ("T", "FROM base\nSYSTEM tab\there\u00a0nbsp\u200bzw", [("model", "base"), ("system", "tab\therenbspzw")]),
    ("U", "PARAMETER model base\nPARAMETER system hi", [("model", "base"), ("system", "hi")]),
    ("V", 'FROM base\nSYSTEM """"\n"""', [("model", "base"), ("system", '"\n')]),
    ("W", "FROM base\nSYSTEM   padded   ", [("model", "base"), ("system", "padded")]),
    ("X", 'FROM base\nSYSTEM "  padded  "', [("model", "base"), ("system", "  padded  ")]),
    ("Y", 'FROM base\nTEMPLATE """{{ .Prompt }}"""', [("model", "base"), ("template", "{{ .Prompt }}")]),
    ("AA", "FROM base\nSYSTEM \\n stays literal", [("model", "base"), ("system", "\\n stays literal")]),
    ("AD", "FROM base\nMESSAGE user \n", [("model", "base"), ("message", "user: ")]),
    ("AF", "FROM base\nPARAMETER num_ctx 4096.0", [("model", "base"), ("num_ctx", "4096.0")]),
    (
        "AG",
        "FROM base\nPARAMETER temperature 0.7\nPARAMETER temperature 0.2\nPARAMETER stop a\nPARAMETER stop b",
        [("model", "base"), ("temperature", "0.7"), ("temperature", "0.2"), ("stop", "a"), ("stop", "b")],
    ),
    (
        "AH",
        "FROM base\nADAPTER a.gguf\nADAPTER b.gguf",
        [("model", "base"), ("adapter", "a.gguf"), ("adapter", "b.gguf")],
    ),
    ("AI", "FROM ./weights.gguf\nFROM llama3", [("model", "./weights.gguf"), ("model", "llama3")]),
]


@pytest.mark.parametrize(("case", "text", "expected"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_tricky_cases_accepted(case: str, text: str, expected: list[tuple[str, str]]) -> None:
    assert pairs(text) == expected
    # bytes in UTF-8 give the same result
    assert pairs(text.encode()) == expected


# (id, text, exact message, real line, real column)
REJECTED = [
    ("D", "FROM base\nMESSAGE Assistant ok", f"(line 2): {ROLE_ERR}", 2, 18),
    ("E", "FROM base\nMESSAGE tool {...}", f"(line 2): {ROLE_ERR}", 2, 13),
    ("F", "FROM base\nSYSTEM\n", f"(line 3): {CMD_ERR}", 2, 7),
    ("H", "FROM base\nPARAMETER top_k\n", "unexpected EOF: top_k", 2, 16),
    ("I", "FROM base\nPARAMETER top-k 7", "unexpected EOF: top", 2, 14),
    ("L", 'FROM base\nPARAMETER stop "', "unexpected EOF", 2, 16),
    ("N", 'FROM base\nSYSTEM """Quote: """\nnext line"""', f"(line 3): {CMD_ERR}", 3, 5),
    ("O", 'FROM base\nSYSTEM "Say "hi"\nthen stop"', f"(line 3): {CMD_ERR}", 3, 5),
    ("Q", 'FROM base\nSYSTEM """done""" # note\nPARAMETER top_k 1\n', "unexpected EOF", 2, 8),
    ("S", "FROM base\r\nOOPS x\r\n", f"(line 3): {CMD_ERR}", 2, 5),
    ("Z", "SYSTEM hi", "no FROM line", None, None),
    ("AB", "FROM base\nFROM2 x", f"(line 2): {CMD_ERR}", 2, 5),
    ("AC", "FROM base\nMESSAGE user\n", "unexpected EOF: user", 2, 13),
    ("AE", 'FROM base\nSYSTEM """unterminated\n', "unexpected EOF", 2, 8),
]


@pytest.mark.parametrize(("case", "text", "message", "line", "column"), REJECTED, ids=[c[0] for c in REJECTED])
def test_tricky_cases_rejected(case: str, text: str, message: str, line: int | None, column: int | None) -> None:
    err = parse_error(text)
    assert err.message == message
    assert (err.line, err.column) == (line, column)


def test_case_b_c_fail_in_conversion() -> None:
    assert spec_error("FROM base\nPARAMETER Top_K 7\n").message == "unknown parameter 'Top_K'"
    assert spec_error("FROM base\nPARAMETER  top_k 7\n").message == "unknown parameter ''"


def test_case_g_empty_system_kept_with_warning() -> None:
    spec = parse_modelfile("FROM base\nSYSTEM \n")
    assert spec.system == ""
    assert [w.code for w in spec.warnings] == ["empty_system"]
    assert spec.warnings[0].line == 2


def test_case_u_parameter_names_act_as_instructions() -> None:
    spec = parse_modelfile("PARAMETER model base\nPARAMETER system hi")
    assert spec.froms == ["base"] and spec.system == "hi" and spec.parameters == {}


def test_case_af_invalid_int() -> None:
    err = spec_error("FROM base\nPARAMETER num_ctx 4096.0")
    assert err.message == "invalid int value [4096.0]"
    assert (err.line, err.column, err.field) == (2, 1, "num_ctx")
    assert "2:1: num_ctx: invalid int value [4096.0]" in str(err)


def test_case_ag_last_wins_and_stop_accumulates() -> None:
    spec = parse_modelfile(ACCEPTED[[c[0] for c in ACCEPTED].index("AG")][1])
    assert spec.parameters == {"temperature": 0.2, "stop": ["a", "b"]}


def test_case_ah_adapters_all_kept_last_used() -> None:
    spec = parse_modelfile("FROM base\nADAPTER a.gguf\nADAPTER b.gguf")
    assert spec.adapters == ["a.gguf", "b.gguf"]
    assert [w.code for w in spec.warnings] == ["several_adapters"]


def test_case_ai_both_sources() -> None:
    assert parse_modelfile("FROM ./weights.gguf\nFROM llama3").froms == ["./weights.gguf", "llama3"]


# --- Ollama's parser_test.go, as data --------------------------------------------------------

LLAMA3_TEMPLATE_BODY = (
    "{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}"
    "{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>{{ end }}"
    "<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>"
)

OLLAMA_ACCEPTED = [
    # TestParseFileFile
    (
        "\nFROM model1\nADAPTER adapter1\nLICENSE MIT\nPARAMETER param1 value1\nPARAMETER param2 value2\n"
        f'TEMPLATE """{LLAMA3_TEMPLATE_BODY}"""    \n',
        [
            ("model", "model1"),
            ("adapter", "adapter1"),
            ("license", "MIT"),
            ("param1", "value1"),
            ("param2", "value2"),
            ("template", LLAMA3_TEMPLATE_BODY),
        ],
    ),
    # TestParseFileDraft
    ("\nFROM base\nDRAFT ./assistant\n", [("model", "base"), ("draft", "./assistant")]),
    # TestParseFileTrimSpace
    (
        '\nFROM "     model 1"\nADAPTER      adapter3\nLICENSE "MIT       "\nPARAMETER param1        value1\n'
        f'PARAMETER param2    value2\nTEMPLATE """   {LLAMA3_TEMPLATE_BODY}   """    \n',
        [
            ("model", "     model 1"),
            ("adapter", "adapter3"),
            ("license", "MIT       "),
            ("param1", "value1"),
            ("param2", "value2"),
            ("template", f"   {LLAMA3_TEMPLATE_BODY}   "),
        ],
    ),
    # TestParseFileFrom
    ('FROM "FOO  BAR  "', [("model", "FOO  BAR  ")]),
    ('FROM "FOO BAR"\nPARAMETER param1 value1', [("model", "FOO BAR"), ("param1", "value1")]),
    ("FROM     FOOO BAR    ", [("model", "FOOO BAR")]),
    ("FROM /what/is/the path ", [("model", "/what/is/the path")]),
    ("FROM foo", [("model", "foo")]),
    ("FROM /path/to/model", [("model", "/path/to/model")]),
    ("FROM /path/to/model/fp16.bin", [("model", "/path/to/model/fp16.bin")]),
    ("FROM llama3:latest", [("model", "llama3:latest")]),
    ("FROM llama3:7b-instruct-q4_K_M", [("model", "llama3:7b-instruct-q4_K_M")]),
    ("PARAMETER param1 value1\nFROM foo", [("param1", "value1"), ("model", "foo")]),
    ("PARAMETER what the \nFROM lemons make lemonade ", [("what", "the"), ("model", "lemons make lemonade")]),
    # TestParseFileRenderer / TestParseFileParser
    ("\nFROM foo\nRENDERER renderer1\n", [("model", "foo"), ("renderer", "renderer1")]),
    ("\nFROM foo\nPARSER parser1\n", [("model", "foo"), ("parser", "parser1")]),
    # TestParseFileMessages
    (
        "\nFROM foo\nMESSAGE system You are a file parser. Always parse things.\n",
        [("model", "foo"), ("message", "system: You are a file parser. Always parse things.")],
    ),
    (
        "\nFROM foo\nMESSAGE system You are a file parser. Always parse things.",
        [("model", "foo"), ("message", "system: You are a file parser. Always parse things.")],
    ),
    (
        "\nFROM foo\nMESSAGE system You are a file parser. Always parse things.\nMESSAGE user Hey there!\n"
        "MESSAGE assistant Hello, I want to parse all the things!\n",
        [
            ("model", "foo"),
            ("message", "system: You are a file parser. Always parse things."),
            ("message", "user: Hey there!"),
            ("message", "assistant: Hello, I want to parse all the things!"),
        ],
    ),
    (
        '\nFROM foo\nMESSAGE system """\nYou are a multiline file parser. Always parse things.\n"""\n\t\t\t',
        [("model", "foo"), ("message", "system: \nYou are a multiline file parser. Always parse things.\n")],
    ),
    # TestParseFileQuoted
    (
        '\nFROM foo\nSYSTEM """\nThis is a\nmultiline system.\n"""\n\t\t\t',
        [("model", "foo"), ("system", "\nThis is a\nmultiline system.\n")],
    ),
    (
        '\nFROM foo\nSYSTEM """\nThis is a\nmultiline system."""\n\t\t\t',
        [("model", "foo"), ("system", "\nThis is a\nmultiline system.")],
    ),
    (
        '\nFROM foo\nSYSTEM """This is a\nmultiline system."""\n\t\t\t',
        [("model", "foo"), ("system", "This is a\nmultiline system.")],
    ),
    (
        '\nFROM foo\nSYSTEM """This is a multiline system."""\n\t\t\t',
        [("model", "foo"), ("system", "This is a multiline system.")],
    ),
    (
        '\nFROM foo\nSYSTEM """\nThis is a multiline system with "quotes".\n"""\n',
        [("model", "foo"), ("system", '\nThis is a multiline system with "quotes".\n')],
    ),
    ('\nFROM foo\nSYSTEM """"""\n', [("model", "foo"), ("system", "")]),
    ('\nFROM foo\nSYSTEM ""\n', [("model", "foo"), ("system", "")]),
    ('\nFROM foo\nSYSTEM "\'"\n', [("model", "foo"), ("system", "'")]),
    (
        '\nFROM foo\nSYSTEM """\'\'"\'""\'""\'"\'\'\'\'\'""\'""\'"""\n',
        [("model", "foo"), ("system", "''\"'\"\"'\"\"'\"'''''\"\"'\"\"'")],
    ),
    ('\nFROM foo\nTEMPLATE """\n{{ .Prompt }}\n"""', [("model", "foo"), ("template", "\n{{ .Prompt }}\n")]),
    # TestParseFileComments
    ("\n# comment\nFROM foo\n\t", [("model", "foo")]),
    # TestParseMultiByte (UTF-8 form; the UTF-16 forms are in the encoding tests)
    ("FROM test\n\tSYSTEM 你好👋", [("model", "test"), ("system", "你好👋")]),
]


@pytest.mark.parametrize(("text", "expected"), OLLAMA_ACCEPTED)
def test_ollama_parser_cases(text: str, expected: list[tuple[str, str]]) -> None:
    assert pairs(text) == expected


# TestParseFileParameters: "PARAMETER <k>" after "FROM foo" -> (name, value)
OLLAMA_PARAMETERS = {
    "numa true": ("numa", "true"),
    "num_ctx 1": ("num_ctx", "1"),
    "num_batch 1": ("num_batch", "1"),
    "num_gqa 1": ("num_gqa", "1"),
    "num_gpu 1": ("num_gpu", "1"),
    "main_gpu 1": ("main_gpu", "1"),
    "use_mmap true": ("use_mmap", "true"),
    "num_thread 1": ("num_thread", "1"),
    "num_keep 1": ("num_keep", "1"),
    "seed 1": ("seed", "1"),
    "num_predict 1": ("num_predict", "1"),
    "top_k 1": ("top_k", "1"),
    "top_p 1.0": ("top_p", "1.0"),
    "min_p 0.05": ("min_p", "0.05"),
    "typical_p 1.0": ("typical_p", "1.0"),
    "repeat_last_n 1": ("repeat_last_n", "1"),
    "temperature 1.0": ("temperature", "1.0"),
    "repeat_penalty 1.0": ("repeat_penalty", "1.0"),
    "presence_penalty 1.0": ("presence_penalty", "1.0"),
    "frequency_penalty 1.0": ("frequency_penalty", "1.0"),
    "penalize_newline true": ("penalize_newline", "true"),
    "stop ### User:": ("stop", "### User:"),
    "stop ### User: ": ("stop", "### User:"),
    'stop "### User:"': ("stop", "### User:"),
    'stop "### User: "': ("stop", "### User: "),
    'stop """### User:"""': ("stop", "### User:"),
    'stop """### User:\n"""': ("stop", "### User:\n"),
    "stop <|endoftext|>": ("stop", "<|endoftext|>"),
    "stop <|eot_id|>": ("stop", "<|eot_id|>"),
    "stop </s>": ("stop", "</s>"),
}


@pytest.mark.parametrize("line", sorted(OLLAMA_PARAMETERS))
def test_ollama_parameter_cases(line: str) -> None:
    assert pairs(f"FROM foo\nPARAMETER {line}\n") == [("model", "foo"), OLLAMA_PARAMETERS[line]]


OLLAMA_REJECTED = [
    ("", "no FROM line"),
    ("PARAMETER param1 value1", "no FROM line"),
    ("\nFROM foo\nPARAMETER param1\n", "unexpected EOF: param1"),
    ("\nFROM foo\nBADCOMMAND param1 value1\n", f"(line 3): {CMD_ERR}"),
    ("\nFROM foo\nMESSAGE badguy I'm a bad guy!\n", f"(line 3): {ROLE_ERR}"),
    ("\nFROM foo\nMESSAGE system\n", "unexpected EOF: system"),
    ("\nFROM foo\nMESSAGE system", "unexpected EOF"),
    ('\nFROM foo\nSYSTEM """This is a multiline system.""\n\t\t\t', "unexpected EOF"),
    ('\nFROM foo\nSYSTEM "\n\t\t\t', "unexpected EOF"),
]


@pytest.mark.parametrize(("text", "message"), OLLAMA_REJECTED)
def test_ollama_rejected_cases(text: str, message: str) -> None:
    assert parse_error(text).message == message


# TestParseFileFormatParseFile: Ollama's own re-emission (Modelfile.String) parses back the same.
def ollama_quote(s: str) -> str:
    if "\n" in s or s.startswith(" ") or s.endswith(" "):
        return f'"""{s}"""' if '"' in s else f'"{s}"'
    return s


def ollama_string(cmds: list[Command]) -> str:
    out = []
    for c in cmds:
        if c.name == "model":
            out.append(f"FROM {c.args}")
        elif c.name in ("license", "template", "system", "adapter", "renderer", "parser", "requires", "draft"):
            out.append(f"{c.name.upper()} {ollama_quote(c.args)}")
        elif c.name == "message":
            role, _, msg = c.args.partition(": ")
            out.append(f"MESSAGE {role} {ollama_quote(msg)}")
        else:
            out.append(f"PARAMETER {c.name} {ollama_quote(c.args)}")
    return "".join(line + "\n" for line in out)


@pytest.mark.parametrize(
    "text",
    [
        "\nFROM foo\nADAPTER adapter1\nLICENSE MIT\nPARAMETER param1 value1\nPARAMETER param2 value2\n"
        "TEMPLATE template1\nMESSAGE system You are a file parser. Always parse things.\n"
        "MESSAGE user Hey there!\n"
        "MESSAGE assistant Hello, I want to parse all the things!\n",
        '\nFROM foo\nADAPTER adapter1\nLICENSE """\nVery long and boring legal text.\nBlah blah blah.\n'
        '"Oh look, a quote!"\n"""\nPARAMETER param1 value1\nMESSAGE system """\nYou are a store greeter. '
        'Always respond with "Hello!".\n"""\nMESSAGE user Hey there!\n',
        '\nFROM foo\nSYSTEM ""\n',
    ],
)
def test_ollama_format_parse_roundtrip(text: str) -> None:
    first = parse(text)
    assert pairs(ollama_string(first)) == [(c.name, c.args) for c in first]


def test_ollama_create_request_cases() -> None:
    assert parse_modelfile("FROM test") == ModelSpec(froms=["test"])
    assert parse_modelfile("FROM test\nTEMPLATE some template\n") == ModelSpec(froms=["test"], template="some template")
    spec = parse_modelfile("FROM test\nLICENSE single license\nPARAMETER temperature 0.5\nMESSAGE user Hello\n")
    assert spec == ModelSpec(
        froms=["test"],
        license=["single license"],
        parameters={"temperature": 0.5},
        messages=[{"role": "user", "content": "Hello"}],
    )
    spec = parse_modelfile(
        "FROM test\nPARAMETER temperature 0.5\nPARAMETER top_k 1\nSYSTEM You are a bot.\nLICENSE license1\n"
        "LICENSE license2\nMESSAGE user Hello there!\nMESSAGE assistant Hi! How are you?\n"
    )
    assert spec == ModelSpec(
        froms=["test"],
        license=["license1", "license2"],
        system="You are a bot.",
        parameters={"temperature": 0.5, "top_k": 1},
        messages=[{"role": "user", "content": "Hello there!"}, {"role": "assistant", "content": "Hi! How are you?"}],
    )
    assert type(spec.parameters["top_k"]) is int


def test_deprecated_list_matches_ollama() -> None:
    # parser/parser.go deprecatedParameters
    ollama = {
        "penalize_newline",
        "low_vram",
        "f16_kv",
        "logits_all",
        "vocab_only",
        "use_mlock",
        "mirostat",
        "mirostat_tau",
        "mirostat_eta",
    }
    assert sorted(params.CLI_DEPRECATED) == sorted(ollama)


def test_catalogue_matches_ollama_options() -> None:
    # api/types.go Options + Runner JSON tags and Go kinds
    assert {p.name: p.type for p in params.CATALOGUE} == {
        "num_ctx": "int",
        "num_batch": "int",
        "num_gpu": "int",
        "main_gpu": "int",
        "use_mmap": "bool",
        "num_thread": "int",
        "draft_num_predict": "int",
        "num_keep": "int",
        "seed": "int",
        "num_predict": "int",
        "top_k": "int",
        "top_p": "float",
        "min_p": "float",
        "typical_p": "float",
        "repeat_last_n": "int",
        "temperature": "float",
        "repeat_penalty": "float",
        "presence_penalty": "float",
        "frequency_penalty": "float",
        "stop": "list[str]",
    }


# --- more grammar ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FROM x\n  # indented comment\n\tSYSTEM hi", [("model", "x"), ("system", "hi")]),
        ("FROM x\n#FROM y", [("model", "x")]),
        ("FROM x\tSYSTEM y", [("model", "x\tSYSTEM y")]),  # TAB separator, tab kept inside
        ("FROM\tx", [("model", "x")]),
        ("FROM ", [("model", "")]),
        ("FROM x\rSYSTEM y", [("model", "x"), ("system", "y")]),  # a lone CR ends a line
        ("\x00FROM x", [("model", "x")]),  # a non-printable first rune starts the keyword, then vanishes
        ("\ufeffFROM x", [("model", "x")]),
        ("FROM x\nMESSAGE\tuser\thi", [("model", "x"), ("message", "user: hi")]),
        ("FROM x\nPARAMETER stop\t\t", [("model", "x"), ("stop", "")]),
        ('FROM x\nSYSTEM "a"  \t', [("model", "x"), ("system", "a")]),
        ('FROM x\nSYSTEM """"\nb"""', [("model", "x"), ("system", '"\nb')]),
        ('FROM x\nSYSTEM "\n"', [("model", "x"), ("system", "\n")]),
        ('FROM x\nSYSTEM """\r\n"""', [("model", "x"), ("system", "\r\n")]),
        ('FROM x\nSYSTEM "a\x00b\u00adc"', [("model", "x"), ("system", "abc")]),
        ('FROM x\nSYSTEM """a\n\x7f"""', [("model", "x"), ("system", "a\n")]),
    ],
)
def test_more_grammar(text: str, expected: list[tuple[str, str]]) -> None:
    assert pairs(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM", "unexpected EOF"),
        ("FROM x\nPARAMETER", "unexpected EOF"),
        ("FROM x\nPARAMETER ", "unexpected EOF"),
        ("FROM x\nPARAMETER \n", "unexpected EOF: "),
        ("FROM x\nPARAMETER top.k 1", "unexpected EOF: top"),
        ("FROM x\nPARAMETER tëmp 1", "unexpected EOF: t"),
        ("FROM x\nMESSAGE  user hi", f"(line 2): {ROLE_ERR}"),
        ("FROM x\nMESSAGE User hi", f"(line 2): {ROLE_ERR}"),
        ("FROM x\nMESSAGE us3r hi", "unexpected EOF: us"),
        ("FROM x\n1FROM y", f"(line 2): {CMD_ERR}"),
        ("FROM x\nFR\u00d6M y", f"(line 2): {CMD_ERR}"),
        ("FROM x\n\u00a0\n", f"(line 3): {CMD_ERR}"),
        ("FROM x\nSYSTEM x\n\nFROM\r\n", f"(line 5): {CMD_ERR}"),
    ],
)
def test_more_errors(text: str, message: str) -> None:
    assert parse_error(text).message == message


def test_crlf_line_counting() -> None:
    text = "FROM base\r\nSYSTEM hi\r\n\r\nBAD x\r\n"
    err = parse_error(text)
    # Ollama counts CR and LF: 1 + 6 breaks before "BAD x"
    assert err.message == f"(line 7): {CMD_ERR}"
    assert (err.line, err.column) == (4, 4)
    cmds = parse("FROM base\r\nSYSTEM hi\r\n\r\nTEMPLATE t\r\n")
    assert [c.line for c in cmds] == [1, 2, 4]


def test_command_positions() -> None:
    cmds = parse('\n\n  FROM x\nSYSTEM """a\nb"""\n\tPARAMETER top_k 1\rLICENSE l')
    assert [(c.line, c.column) for c in cmds] == [(3, 3), (4, 1), (6, 2), (7, 1)]
    assert Command("model", "x", 3) == cmds[0]  # column does not take part in equality


def test_error_carries_file() -> None:
    with pytest.raises(ModelfileError) as info:
        parse("FROM x\nOOPS y", filename="Modelfile")
    assert info.value.file == "Modelfile"
    assert str(info.value).startswith("Modelfile:2:5: ")


# --- encodings ------------------------------------------------------------------------------

UTF16_TEXT = "FROM bob\nPARAMETER param1 1\nPARAMETER param2 4096\nSYSTEM You are a utf16 file.\n"
UTF16_EXPECTED = [("model", "bob"), ("param1", "1"), ("param2", "4096"), ("system", "You are a utf16 file.")]


@pytest.mark.parametrize("bom,codec", [(b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")])
def test_utf16_with_bom(bom: bytes, codec: str) -> None:
    assert pairs(bom + UTF16_TEXT.encode(codec)) == UTF16_EXPECTED
    multi = "FROM test\n\tSYSTEM 你好👋"
    assert pairs(bom + multi.encode(codec)) == [("model", "test"), ("system", "你好👋")]


def test_utf8_bom() -> None:
    assert pairs(b"\xef\xbb\xbf# c\nFROM x") == [("model", "x")]
    assert pairs("\ufeff# c\nFROM x") == [("model", "x")]


def test_utf16_without_bom_is_read_as_utf8() -> None:
    # no BOM: UTF-8 fallback; the NULs are non-printable and vanish from values, but
    # "F\0R\0O\0M" is not a keyword.
    assert parse_error("FROM x".encode("utf-16-le")).message == f"(line 1): {CMD_ERR}"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"FROM a\xffb", "a\ufffdb"),
        (b"FROM a\xe2\x82b", "a\ufffdb"),  # maximal subpart: one U+FFFD (x/text decoder)
        (b"FROM a\xed\xa0\x80b", "a\ufffd\ufffd\ufffdb"),  # encoded surrogate
        (b"FROM a\xc0\x80b", "a\ufffd\ufffdb"),  # overlong
        (b"FROM a\xf0\x9f\x98", "a\ufffd"),  # truncated at EOF
        (b"\xef\xbb\xbfFROM a\xe2\x82b", "a\ufffd\ufffdb"),  # after a UTF-8 BOM: one U+FFFD per byte
    ],
)
def test_invalid_utf8(data: bytes, expected: str) -> None:
    assert pairs(data) == [("model", expected)]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xff\xfe\x00\xd8A\x00", "\ufffdA"),  # lone lead surrogate
        (b"\xff\xfe\x00\xdc\x00\xdc", "\ufffd"),  # two trail surrogates are consumed as one bad pair
        (b"\xff\xfe\x00\xdc", "\ufffd"),
        (b"\xff\xfeA\x00B", "A\ufffd"),  # odd trailing byte
        (b"\xff\xfe=\xd8\x00\xde", "\U0001f600"),
    ],
)
def test_utf16_decoding_errors(data: bytes, expected: str) -> None:
    assert decode(data) == expected


# --- conversions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("+5", 5),
        ("-1", -1),
        ("007", 7),
        ("9223372036854775807", 2**63 - 1),
        ("-9223372036854775808", -(2**63)),
        ("9223372036854775808", None),
        ("4096.0", None),
        ("1e6", None),
        ("4k", None),
        ("1_000", None),
        ("", None),
        (" 1", None),
        ("١", None),
        ("0x10", None),
        ("00000000000000000000000000001", 1),
        ("-" + "0" * 5000 + "1", -1),
        ("0" * 5000, 0),
    ],
)
def test_go_parse_int(text: str, value: int | None) -> None:
    assert go_parse_int(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", True),
        ("t", True),
        ("T", True),
        ("TRUE", True),
        ("true", True),
        ("True", True),
        ("0", False),
        ("f", False),
        ("F", False),
        ("FALSE", False),
        ("false", False),
        ("False", False),
        ("yes", None),
        ("tRUE", None),
        ("", None),
        (" true", None),
    ],
)
def test_go_parse_bool(text: str, value: bool | None) -> None:
    assert go_parse_bool(text) == value


def f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0.7", f32(0.7)),
        ("1e-3", f32(0.001)),
        ("+1", 1.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("-0", -0.0),
        ("0x1p-2", 0.25),
        ("0X1.8P1", 3.0),
        ("0x_1p0", 1.0),
        ("0x.8p1", 1.0),
        ("1_000.5", 1000.5),
        ("1e1_0", 1e10),
        ("1E+2", 100.0),
        ("1e-50", 0.0),
        ("3.4028235e38", f32(3.4028235e38)),
        ("1.401298464324817e-45", 2.0**-149),
        ("7e-46", 0.0),
        ("8e-46", 2.0**-149),
        ("1e39", None),
        ("3.4028236e38", None),
        ("-1e39", None),
        ("1e", None),
        (".", None),
        ("", None),
        ("1__0", None),
        ("_1", None),
        ("1_", None),
        ("1_.5", None),
        ("1._5", None),
        ("1e_5", None),
        ("0x1", None),
        ("0x", None),
        ("0xp1", None),
        ("1.2.3", None),
        (" 1", None),
        ("1f", None),
        ("+nan", None),
        ("-nan", None),
        ("infin", None),
        ("++1", None),
        ("0b1", None),
        ("4k", None),
        ("1" + "0" * 5000, None),
        ("0." + "0" * 5000 + "1", 0.0),
    ],
)
def test_go_parse_float32(text: str, value: float | None) -> None:
    got = go_parse_float32(text)
    assert got == value
    if value is not None:
        assert math.copysign(1.0, got) == math.copysign(1.0, value)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["NaN", "nan", "NAN", "inf", "+Inf", "-inf", "Infinity", "-INFINITY"])
def test_go_parse_float32_specials(text: str) -> None:
    got = go_parse_float32(text)
    assert got is not None and not math.isfinite(got)


def test_float32_ties_round_to_even_on_the_decimal() -> None:
    # 1 + 2**-24 lies exactly halfway between two float32s: ties to even -> 1.0.
    assert go_parse_float32("1.000000059604644775390625") == 1.0
    # a hair above the tie rounds up, even though float64 rounding would land on the tie
    assert go_parse_float32("1.00000005960464477539062500000000000001") == 1.0000001192092896
    assert go_parse_float32("1.00000005960464477539062499999999999999") == 1.0


@pytest.mark.parametrize(
    ("x", "shortest"),
    [
        (f32(0.7), 0.7),
        (f32(0.1), 0.1),
        (f32(1e-3), 1e-3),
        (1.0, 1.0),
        (f32(3.4028235e38), 3.4028235e38),
        (2.0**-149, 1e-45),
        (-f32(0.7), -0.7),
        (f32(16777216.0), 16777216.0),
        (f32(1.1), 1.1),
    ],
)
def test_float32_shortest(x: float, shortest: float) -> None:
    assert float32_shortest(x) == shortest


@pytest.mark.parametrize(
    ("v", "ok"),
    [
        ("v0.14.0", True),
        ("v0.14", True),
        ("v0", True),
        ("v0.14.0-rc1", True),
        ("v1.2.3+build.5", True),
        ("v1.2.3-alpha.0.beta", True),
        ("v1.2.3-0a", True),
        ("v0.14-rc1", False),
        ("v01.2.3", False),
        ("v1.02", False),
        ("v1.2.3-01", False),
        ("v1.2.3-", False),
        ("v1.2.3+", False),
        ("v1.2.3-a..b", False),
        ("vv1", False),
        ("v", False),
        ("1.2.3", False),
        ("v1.2.3.4", False),
        ("v1.2.3 ", False),
        ("v1.2.3\n", False),
    ],
)
def test_semver(v: str, ok: bool) -> None:
    assert go_semver_valid(v) is ok


@pytest.mark.parametrize(
    ("line", "stored"),
    [
        ("0.14.0", "0.14.0"),
        ("v0.14.0", "0.14.0"),
        ("0.14", "0.14"),
        ("0", "0"),
        ("0.14.0-rc1", "0.14.0-rc1"),
    ],
)
def test_requires(line: str, stored: str) -> None:
    assert parse_modelfile(f"FROM x\nREQUIRES {line}").requires == stored


@pytest.mark.parametrize("line", ["0.14-rc1", "vv0.14", "latest", "01.2", "V1.0"])
def test_requires_invalid(line: str) -> None:
    err = spec_error(f"FROM x\nREQUIRES {line}")
    assert err.message == "requires must be a valid semver (e.g. 0.14.0)"
    assert (err.line, err.field) == (2, "requires")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("PARAMETER num_ctx 4k", "invalid int value [4k]"),
        ("PARAMETER main_gpu x", "invalid int value [x]"),
        ("PARAMETER temperature hot", "invalid float value [hot]"),
        ("PARAMETER temperature 1e39", "invalid float value [1e39]"),
        ("PARAMETER use_mmap yes", "invalid bool value [yes]"),
        ("PARAMETER numa true", "unknown parameter 'numa'"),
        ("PARAMETER tfs_z 1", "unknown parameter 'tfs_z'"),
        ("PARAMETER from x", "unknown parameter 'from'"),
        ("PARAMETER Stop x", "unknown parameter 'Stop'"),
        (
            "PARAMETER temperature NaN",
            "unsupported float value [NaN]: Ollama parses it but cannot send it (json: unsupported value: NaN)",
        ),
        (
            "PARAMETER top_p -Inf",
            "unsupported float value [-Inf]: Ollama parses it but cannot send it (json: unsupported value: -Inf)",
        ),
        (
            "PARAMETER top_p infinity",
            "unsupported float value [infinity]: Ollama parses it but cannot send it (json: unsupported value: +Inf)",
        ),
    ],
)
def test_conversion_errors(line: str, message: str) -> None:
    err = spec_error(f"FROM x\n{line}")
    assert err.message == message
    assert err.line == 2


def test_conversions_and_types() -> None:
    spec = parse_modelfile(
        "FROM x\nPARAMETER num_ctx +8192\nPARAMETER temperature .5\nPARAMETER top_p 0x1p-1\n"
        "PARAMETER use_mmap F\n"
        'PARAMETER main_gpu 0\nPARAMETER stop """a b"""\nPARAMETER seed -1\nPARAMETER min_p 1e-50\n'
    )
    assert spec.parameters == {
        "num_ctx": 8192,
        "temperature": 0.5,
        "top_p": 0.5,
        "use_mmap": False,
        "main_gpu": 0,
        "stop": ["a b"],
        "seed": -1,
        "min_p": 0.0,
    }
    assert type(spec.parameters["use_mmap"]) is bool


def test_deprecated_parameters_dropped_with_warning() -> None:
    spec = parse_modelfile("FROM x\nPARAMETER mirostat 2\nPARAMETER f16_kv nonsense\nPARAMETER top_k 3")
    assert spec.parameters == {"top_k": 3}
    assert [(w.code, w.message, w.line) for w in spec.warnings] == [
        ("deprecated_parameter", "parameter mirostat is deprecated", 2),
        ("deprecated_parameter", "parameter f16_kv is deprecated", 3),
    ]


def test_internal_names_through_parameter() -> None:
    spec = parse_modelfile(
        "PARAMETER model base\nPARAMETER message tool: hi\nPARAMETER license MIT\nPARAMETER adapter a.gguf\n"
        "PARAMETER template t\nPARAMETER requires v0.5\nPARAMETER renderer r\nPARAMETER parser p\n"
        "PARAMETER draft d\nPARAMETER message nocolon"
    )
    assert spec == ModelSpec(
        froms=["base"],
        messages=[{"role": "tool", "content": "hi"}, {"role": "nocolon", "content": ""}],
        license=["MIT"],
        adapters=["a.gguf"],
        template="t",
        requires="0.5",
        renderer="r",
        parser="p",
        drafts=["d"],
    )
    assert [w.code for w in spec.warnings] == ["message_role", "message_role"]


def test_message_split_at_first_colon_space() -> None:
    spec = parse_modelfile("FROM x\nMESSAGE user a: b: c")
    assert spec.messages == [{"role": "user", "content": "a: b: c"}]


def test_to_spec_stops_at_first_error_in_file_order() -> None:
    err = spec_error("FROM x\nPARAMETER top_k x\nPARAMETER bogus 1")
    assert err.message == "invalid int value [x]"


def test_to_spec_accepts_hand_built_commands() -> None:
    spec = to_spec([Command("model", "m", 1), Command("stop", "a", 2), Command("stop", "b", 3)])
    assert spec.parameters == {"stop": ["a", "b"]}


# --- quoting --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("hello world", "hello world"),
        ("a\tb", "a\tb"),
        ('say "hi"', 'say "hi"'),
        ('a"', 'a"'),
        ("#not a comment", "#not a comment"),
        ("", '""""""'),
        (" lead", '""" lead"""'),
        ("trail\t", '"""trail\t"""'),
        ('"quoted"', '""""quoted""""'),
        ('"', '"""""""'),
        ('a """ b', 'a """ b'),
        ("two\nlines", '"""two\nlines"""'),
        ("cr\ronly", '"""cr\ronly"""'),
        ("\r", '"""\r"""'),
        ('a\nb"""', '"""a\nb""""""'),
        ('""\nx', '"""""\nx"""'),
    ],
)
def test_quote_value(value: str, written: str) -> None:
    assert quote_value(value, field="system") == written
    assert pairs(f"FROM x\nSYSTEM {written}\n") == [("model", "x"), ("system", value)]


@pytest.mark.parametrize(
    ("value", "where", "char"),
    [
        ("a\u00a0b", (1, 2), "U+00A0 NO-BREAK SPACE"),
        ("ok\nzw\u200dj", (2, 3), "U+200D ZERO WIDTH JOINER"),
        ("x\x00", (1, 2), "U+0000 control character"),
        ("\u2028", (1, 1), "U+2028 LINE SEPARATOR"),
        ("a\r\nb\x7f", (2, 2), "U+007F control character"),
        ("\ue000", (1, 1), "U+E000 private-use character"),
    ],
)
def test_quote_value_refuses_non_printable(value: str, where: tuple[int, int], char: str) -> None:
    with pytest.raises(ModelfileError) as info:
        quote_value(value, field="messages[0].content")
    err = info.value
    assert err.field == "messages[0].content"
    assert (err.value_line, err.value_column) == where  # type: ignore[attr-defined]
    assert err.message.startswith(f"{char} at line {where[0]}, column {where[1]} of the value")


def test_quote_value_unassigned_code_point() -> None:
    with pytest.raises(ModelfileError) as info:
        quote_value("ok\u0378", field="system")
    assert info.value.message.startswith("U+0378 unassigned code point at line 1, column 3 of the value")


# --- Go's printable set (Unicode 15.0.0) -----------------------------------------------------


def test_go_print_table_integrity() -> None:
    ranges = go_print_ranges()
    assert len(ranges) == 711
    assert sum(b - a + 1 for a, b in ranges) == 148998
    assert all(a <= b for a, b in ranges)
    assert all(b1 + 1 < a2 for (_, b1), (a2, _) in zip(ranges, ranges[1:], strict=False))
    assert ranges[0] == (0x20, 0x7E)


def test_go_print_table_agrees_with_python_where_both_know() -> None:
    ranges = go_print_ranges()
    inside = bytearray(0x110000)
    for a, b in ranges:
        inside[a : b + 1] = b"\x01" * (b - a + 1)
    ucd = tuple(int(x) for x in unicodedata.unidata_version.split("."))
    for cp in range(0x110000):
        ch = chr(cp)
        py = ch.isprintable()
        if ucd <= (15, 0, 0) and py:
            assert inside[cp], hex(cp)  # printable then, printable in 15.0
        if ucd >= (15, 0, 0) and inside[cp]:
            assert py, hex(cp)  # assigned in 15.0 stays assigned, category class unchanged
        if unicodedata.category(ch) != "Cn" and ucd == (15, 0, 0):
            assert bool(inside[cp]) == py, hex(cp)


@pytest.mark.parametrize(
    ("ch", "printable"),
    [
        ("\U0001fae8", True),  # SHAKING FACE, Unicode 15.0
        ("\U0001fa77", True),  # PINK HEART, 15.0
        ("\u0cf3", True),  # KANNADA SIGN COMBINING ANUSVARA ABOVE RIGHT, 15.0
        ("\U00031350", True),  # CJK Extension H, 15.0
        ("\U0001e4d0", True),  # NAG MUNDARI LETTER O, 15.0
        ("\U00013439", False),  # Egyptian hieroglyph format control (Cf), 15.0
        ("\U0002ebf0", False),  # CJK Extension I, 15.1: Go 1.26 does not know it
        ("\u31ef", False),  # 15.1
        ("\U0001fae9", False),  # 16.0
        ("\u0378", False),
        ("\t", False),
        ("\u00a0", False),
        ("\u00ad", False),
        (" ", True),
        ("~", True),
    ],
)
def test_go_printable_spot_checks(ch: str, printable: bool) -> None:
    assert is_go_printable(ch) is printable
    kept = ch if printable or ch == "\t" else ""  # TAB is kept inside values although not printable
    assert pairs(f"FROM x\nSYSTEM a{ch}b") == [("model", "x"), ("system", f"a{kept}b")]


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ('Quote: """\nnext', 1),
        ('a\nb """  \t\nc', 2),
        ('a\r\n"""\r\n', 2),
    ],
)
def test_quote_value_refuses_inner_triple_quote_line(value: str, line: int) -> None:
    with pytest.raises(ModelfileError) as info:
        quote_value(value, field="template")
    assert info.value.field == "template"
    assert info.value.value_line == line  # type: ignore[attr-defined]
    assert 'ends with """' in info.value.message


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("num_ctx", 8192, "8192"),
        ("seed", -1, "-1"),
        ("temperature", 0.7, "0.7"),
        ("temperature", 1, "1"),
        ("top_p", 1e-05, "1e-05"),
        ("temperature", 1.0, "1.0"),
        ("use_mmap", True, "true"),
        ("use_mmap", False, "false"),
        ("stop", "<|eot_id|>", "<|eot_id|>"),
        ("stop", " x", '""" x"""'),
        ("temperature", 1.0000000596046448, "1.000000059604644775390625"),
    ],
)
def test_format_parameter_value(name: str, value: object, text: str) -> None:
    assert format_parameter_value(name, value) == text


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("num_ctx", True),
        ("num_ctx", 1.5),
        ("num_ctx", 2**63),
        ("temperature", math.nan),
        ("temperature", math.inf),
        ("temperature", 1e39),
        ("temperature", "0.7"),
        ("use_mmap", 1),
        ("stop", ["a"]),
        ("stop", "a\u200db"),
        ("bogus", 1),
        ("temperature", 10**40),
    ],
)
def test_format_parameter_value_refusals(name: str, value: object) -> None:
    with pytest.raises(ModelfileError) as info:
        format_parameter_value(name, value)
    assert info.value.field == f"parameters.{name}"


def test_parameter_and_command_lines_roundtrip() -> None:
    assert parameter_lines("stop", ["a", " b"]) == ["PARAMETER stop a", 'PARAMETER stop """ b"""']
    lines = command_lines(
        froms=["llama3.2:3b"],
        adapters=["./lora.gguf"],
        parameters={"temperature": 0.7, "num_ctx": 8192, "stop": ["<end>", "x"]},
        template="{{ .Prompt }}",
        system="You are\nbrief.",
        messages=[{"role": "user", "content": "hi"}],
        license=["MIT"],
        requires="0.12.0",
        renderer="r",
        parser="p",
        draft="./d.gguf",
    )
    assert lines[:4] == ["FROM llama3.2:3b", "ADAPTER ./lora.gguf", "DRAFT ./d.gguf", "PARAMETER num_ctx 8192"]
    spec = parse_modelfile("\n".join(lines) + "\n")
    assert spec == ModelSpec(
        froms=["llama3.2:3b"],
        parameters={"num_ctx": 8192, "temperature": 0.7, "stop": ["<end>", "x"]},
        system="You are\nbrief.",
        template="{{ .Prompt }}",
        messages=[{"role": "user", "content": "hi"}],
        license=["MIT"],
        adapters=["./lora.gguf"],
        requires="0.12.0",
        renderer="r",
        parser="p",
        drafts=["./d.gguf"],
    )


def test_command_lines_refuses_bad_role() -> None:
    with pytest.raises(ModelfileError) as info:
        command_lines(froms=["x"], messages=[{"role": "tool", "content": "hi"}])
    assert info.value.field == "messages[0].role"


def test_parse_rejects_non_text() -> None:
    with pytest.raises(TypeError):
        parse(42)  # type: ignore[arg-type]


# --- Go's own strconv test vectors (atof_test.go: atof32tests and the underscore cases) -----

GO_ATOF32 = [  # (input, FormatFloat(x, 'g', -1, 32) or None for ErrRange)
    ("0x1p-100", "7.888609e-31"),
    ("0x1p100", "1.2676506e+30"),
    ("1.000000059604644775390625", "1"),
    ("0x1.000001p0", "1"),
    ("1.000000059604644775390624", "1"),
    ("0x1.0000008p0", "1"),
    ("0x1.000000fp0", "1"),
    ("1.000000059604644775390626", "1.0000001"),
    ("0x1.000002p0", "1.0000001"),
    ("0x1.0000018p0", "1.0000001"),
    ("0x1.0000011p0", "1.0000001"),
    ("1.000000059604644775390625" + "0" * 10000 + "1", "1.0000001"),
    ("0x1.000001" + "0" * 10000 + "1p0", "1.0000001"),
    ("340282346638528859811704183484516925440", "3.4028235e+38"),
    ("-340282346638528859811704183484516925440", "-3.4028235e+38"),
    ("0x.ffffffp128", "3.4028235e+38"),
    ("-0x.ffffffp128", "-3.4028235e+38"),
    ("3.4028236e38", None),
    ("-3.4028236e38", None),
    ("0x1.0p128", None),
    ("-0x1.0p128", None),
    ("3.402823567e38", "3.4028235e+38"),
    ("-3.402823567e38", "-3.4028235e+38"),
    ("0x.ffffff7fp128", "3.4028235e+38"),
    ("-0x.ffffff7fp128", "-3.4028235e+38"),
    ("3.4028235678e38", None),
    ("-3.4028235678e38", None),
    ("0x.ffffff8p128", None),
    ("-0x.ffffff8p128", None),
    ("1e-38", "1e-38"),
    ("1e-39", "1e-39"),
    ("1e-40", "1e-40"),
    ("1e-41", "1e-41"),
    ("1e-42", "1e-42"),
    ("1e-43", "1e-43"),
    ("1e-44", "1e-44"),
    ("6e-45", "6e-45"),
    ("5e-45", "6e-45"),
    ("1e-45", "1e-45"),
    ("2e-45", "1e-45"),
    ("3e-45", "3e-45"),
    ("0x0.89aBcDp-125", "1.2643093e-38"),
    ("0x0.8000000p-125", "1.1754944e-38"),
    ("0x0.1234560p-125", "1.671814e-39"),
    ("0x0.1234567p-125", "1.671814e-39"),
    ("0x0.1234568p-125", "1.671814e-39"),
    ("0x0.1234569p-125", "1.671815e-39"),
    ("0x0.1234570p-125", "1.671815e-39"),
    ("0x0.0000010p-125", "1e-45"),
    ("0x0.00000081p-125", "1e-45"),
    ("0x0.0000008p-125", "0"),
    ("0x0.0000007p-125", "0"),
    ("4951760157141521099596496896", "4.9517602e+27"),
    # underscores (syntax is shared with the 64-bit parser)
    ("1_23.50_0_0e+1_2", "1.235e+14"),
    ("0x_1_2.3_4_5p+1_2", "74565"),
]


@pytest.mark.parametrize(("text", "shortest"), GO_ATOF32, ids=[t[:40] for t, _ in GO_ATOF32])
def test_go_atof32_vectors(text: str, shortest: str | None) -> None:
    got = go_parse_float32(text)
    if shortest is None:
        assert got is None
    else:
        assert got is not None
        assert float32_shortest(got) == float(shortest)


@pytest.mark.parametrize(
    "text",
    [
        "-_123.5e+12",
        "+_123.5e+12",
        "_123.5e+12",
        "1__23.5e+12",
        "123_.5e+12",
        "123._5e+12",
        "123.5_e+12",
        "123.5__0e+12",
        "123.5e_+12",
        "123.5e+_12",
        "123.5e_-12",
        "123.5e-_12",
        "123.5e+1__2",
        "123.5e+12_",
        "-_0x12.345p+12",
        "+_0x12.345p+12",
        "_0x12.345p+12",
        "0x__12.345p+12",
        "0x1__2.345p+12",
        "0x12_.345p+12",
        "0x12._345p+12",
        "0x12.3__45p+12",
        "0x12.345_p+12",
        "0x12.345p_+12",
        "0x12.345p+_12",
        "0x12.345p_-12",
        "0x12.345p-_12",
        "0x12.345p+1__2",
        "0x12.345p+12_",
        "1e100x",
        "1e1000x",
        "1e",
        "1e-",
        ".e-1",
        "1\x00.2",
    ],
)
def test_go_atof_syntax_errors(text: str) -> None:
    assert go_parse_float32(text) is None


def test_typical_modelfile() -> None:
    text = (
        "# profile: creative\nFROM llama3.2:3b\nPARAMETER num_ctx 8192\nPARAMETER temperature 1.1\n"
        'PARAMETER top_p 0.95\nPARAMETER stop "<|eot_id|>"\nPARAMETER stop <|start_header_id|>\n'
        'TEMPLATE """{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}"""\n'
        'SYSTEM """You are a creative chef.\nBe brief."""\nMESSAGE user Give me a dessert idea\n'
        'MESSAGE assistant "Saffron panna cotta."\nLICENSE MIT\nREQUIRES 0.12.0\nADAPTER ./lora/chef.gguf\n'
    )
    spec = parse_modelfile(text, filename="creative.Modelfile")
    assert spec == ModelSpec(
        froms=["llama3.2:3b"],
        parameters={"num_ctx": 8192, "temperature": 1.1, "top_p": 0.95, "stop": ["<|eot_id|>", "<|start_header_id|>"]},
        system="You are a creative chef.\nBe brief.",
        template="{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}",
        messages=[
            {"role": "user", "content": "Give me a dessert idea"},
            {"role": "assistant", "content": "Saffron panna cotta."},
        ],
        license=["MIT"],
        adapters=["./lora/chef.gguf"],
        requires="0.12.0",
    )
    assert spec.warnings == []
    assert [c.line for c in parse(text)] == [2, 3, 4, 5, 6, 7, 8, 11, 13, 14, 15, 16, 17]
