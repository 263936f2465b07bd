"""Class 5 of issue 10: template resource bombs.

Rendering is bounded by counting inside the sandbox (modelctl/modelfile/sandbox.py): steps, call depth,
the size of every value before it is built, integer sizes and the total work. Each bomb ends
as exit 1 naming the template file and line, in bounded time and memory; normal templates
render exactly as plain Jinja renders them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelctl.errors import TemplateError
from modelctl.modelfile import sandbox
from modelctl.modelfile.render import render
from modelctl.profile.profile import load_profile
from tests.fixtures_double import run_cli
from tests.fixtures_hostile import HANG, assert_refused

OUTPUT = "MODELCTL_MAX_TEMPLATE_OUTPUT"
STEPS = "MODELCTL_MAX_TEMPLATE_STEPS"
DEPTH = "MODELCTL_MAX_TEMPLATE_DEPTH"
WORK = "MODELCTL_MAX_TEMPLATE_WORK"
DIGITS = "MODELCTL_MAX_INT_DIGITS"

#: name -> (template, what the one error line must say). Line 2 holds the bomb, so the line
#: number in the message is checked too.
BOMBS: dict[str, tuple[str, str]] = {
    "repeat": ("{{ 'a' * 10**9 }}", OUTPUT),
    "repeat_in_set": ("{% set x = 'a' * 1000000000 %}", OUTPUT),
    "power": ("{{ 10**(10**6) }}", DIGITS),
    "power_to_string": ("{{ (10**5000)|string }}", DIGITS),
    "center_method": ("{{ 'x'.center(10**9) }}", OUTPUT),
    "center_filter": ("{{ 'x'|center(1000000000) }}", OUTPUT),
    "indent": ("{{ 'a\\nb'|indent(1000000000) }}", OUTPUT),
    "expandtabs": ("{{ ('\t' * 1000).expandtabs(1000000) }}", OUTPUT),
    "zfill": ("{{ '1'.zfill(10**9) }}", OUTPUT),
    "truncate_negative": ("{{ 'abc'|truncate(-1) }}", "AssertionError"),
    "nested_loops": ("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}", STEPS),
    "recursive_macro": ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", DEPTH),
    "macro_calling_itself_twice": (
        "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}",
        STEPS,
    ),
    "recursive_loop": ("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", DEPTH),
    "caller_recursion": (
        "{% macro m() %}{{ caller() }}{% endmacro %}"
        "{% macro r() %}{% call m() %}{{ r() }}{% endcall %}{% endmacro %}{{ r() }}",
        DEPTH,
    ),
    "doubling_join": (
        "{% set ns = namespace(x='a') %}{% for i in range(64) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}",
        OUTPUT,
    ),
    "shared_reference_repr": ("{% set s = 'a' * 1000000 %}{{ [s] * 1000 }}", OUTPUT),
    "join_filter": ("{% set s = 'a' * 1000000 %}{{ ([s] * 1000)|join }}", OUTPUT),
    "join_method": ("{% set s = 'a' * 1000000 %}{{ ''.join([s] * 100) }}", OUTPUT),
    "format_width": ("{{ '{:>1000000000}'.format('a') }}", OUTPUT),
    "format_nested_width": ("{{ '{:{}}'.format('a', 1000000000) }}", OUTPUT),
    "format_map_width": ("{{ '{a:>{w}}'.format_map({'a': 1, 'w': 10**9}) }}", OUTPUT),
    "percent_width": ("{{ '%*s' % (1000000000, 'a') }}", OUTPUT),
    "percent_precision": ("{{ '%.1000000000f' % 1.0 }}", OUTPUT),
    "format_filter": ("{{ '%*s'|format(1000000000, 'a') }}", OUTPUT),
    "replace_empty": ("{{ ('a' * 100000).replace('', 'b' * 100000) }}", OUTPUT),
    "to_bytes": ("{{ (1).to_bytes(1000000000, 'big') }}", OUTPUT),
    "batch_fill": ("{{ [1]|batch(1000000000, 'x')|list }}", OUTPUT),
    "slice_count": ("{{ [1]|slice(1000000000)|list }}", OUTPUT),
    "range": ("{{ range(10**9)|list }}", "Range too big"),
    "set_block_in_loop": (
        "{% set s = 'a' * 1000000 %}{% set x %}{% for i in range(100000) %}{{ s }}{% endfor %}{% endset %}",
        WORK,
    ),
    "loop_literal": ("{% for i in range(100000) %}" + "x" * 1000 + "{% endfor %}", WORK),
    "wordwrap": ("{{ ('a ' * 100000)|wordwrap(1, wrapstring='x' * 100000) }}", OUTPUT),
    "round_floor": ("{{ 1.5|round(1000000000, 'floor') }}", DIGITS),
    "sum_of_lists": ("{% set s = ['a'] * 1000000 %}{{ ([s] * 100)|sum(start=[]) }}", OUTPUT),
    "urlize_target": ("{{ ('a.com ' * 100000)|urlize(target='x' * 100000) }}", OUTPUT),
    "translate": ("{{ ('a' * 1000000).translate({97: 'b' * 1000}) }}", OUTPUT),
    "pprint": ("{% set s = 'a' * 1000000 %}{{ ([s] * 1000)|pprint }}", OUTPUT),
    "tojson": ("{% set s = 'a' * 1000000 %}{{ ([s] * 1000)|tojson }}", OUTPUT),
    "escape_twice": ("{% set s = '<' * 10000000 %}{{ s|e|e }}", OUTPUT),
    "urlencode": ("{{ ('\U0001f600' * 4000000)|urlencode }}", OUTPUT),
    "dict_of_shared": ("{% set d = dict.fromkeys(range(100000), 'a' * 1000000) %}{{ d }}", OUTPUT),
    "repr_conversion": ("{% set s = 'a' * 1000000 %}{{ '{!r}'.format([s] * 100) }}", OUTPUT),
    "self_block": ("{% block b %}{{ self.b() }}{% endblock %}", DEPTH),
    "list_of_characters": ("{{ ('a' * 10000000)|list|length }}", OUTPUT),
    "deep_nesting": (
        "{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}",
        "nested deeper than 64 levels",
    ),
}


def write_profile(tmp_path: Path) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text("from: llama3.2\n")
    return path


#: The bombs the issue names, run as the user would meet them: `modelctl render` in a process.
CLI_BOMBS = [
    "repeat", "power_to_string", "center_method", "indent", "expandtabs", "truncate_negative", "nested_loops",
    "recursive_macro", "shared_reference_repr", "format_width",
]  # fmt: skip


@pytest.mark.parametrize("name", CLI_BOMBS)
def test_a_template_bomb_is_one_error_at_its_line(name: str, tmp_path: Path) -> None:
    body, needle = BOMBS[name]
    write_profile(tmp_path)
    (tmp_path / "bomb.j2").write_text("FROM {{ from_ }}\n" + body + "\n")
    proc = run_cli("render", "p.yaml", "--template", "bomb.j2", cwd=tmp_path, timeout=HANG)
    line = assert_refused(proc, 1, needle)
    assert line.startswith("error: bomb.j2:2: "), line


@pytest.mark.parametrize("name", sorted(set(BOMBS) - set(CLI_BOMBS)))
def test_every_other_bomb_is_a_template_error_at_its_line(name: str, tmp_path: Path) -> None:
    body, needle = BOMBS[name]
    with pytest.raises(TemplateError) as ei:
        render_with(tmp_path, "FROM {{ from_ }}\n" + body + "\n", name="bomb.j2")
    err = ei.value
    assert needle in err.message and err.file and err.file.endswith("bomb.j2") and err.line == 2, str(err)


@pytest.mark.parametrize(
    "body",
    [
        "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",  # nesting the parser cannot follow
        "{{ " + "9" * 5000 + " }}",  # an integer literal Python will not read
        "".join("{% for i in range(2) %}" for _ in range(25)) + "{% endfor %}" * 25,  # too many nested blocks
    ],
)
def test_a_template_that_cannot_be_compiled_is_one_error(body: str, tmp_path: Path) -> None:
    write_profile(tmp_path)
    (tmp_path / "bad.j2").write_text(body)
    proc = run_cli("render", "p.yaml", "--template", "bad.j2", cwd=tmp_path, timeout=HANG)
    assert_refused(proc, 1, "bad.j2", "cannot be compiled")


def test_a_raised_cap_lets_a_large_but_finite_template_through(tmp_path: Path) -> None:
    write_profile(tmp_path)
    (tmp_path / "big.j2").write_text("{% set x = 'a' * 20000000 %}FROM {{ from_ }}\n")
    refused = run_cli("render", "p.yaml", "--template", "big.j2", cwd=tmp_path, timeout=HANG)
    assert_refused(refused, 1, OUTPUT)
    ok = run_cli("render", "p.yaml", "--template", "big.j2", cwd=tmp_path, env={OUTPUT: "32MiB"}, timeout=HANG)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == "FROM llama3.2\n"


def test_a_cap_below_its_minimum_is_refused(tmp_path: Path) -> None:
    """Template caps start at their minimum and are read once a render passes it (renders stay
    cheap), so a bad value is reported by the first render that needs the cap."""
    write_profile(tmp_path)
    (tmp_path / "loop.j2").write_text("{% for i in range(5000) %}{% endfor %}FROM {{ from_ }}\n")
    proc = run_cli("render", "p.yaml", "--template", "loop.j2", cwd=tmp_path, env={STEPS: "10"}, timeout=HANG)
    assert_refused(proc, 1, STEPS, "at least 1,000")


# --------------------------------------------------------------------------- in process


def render_with(tmp_path: Path, body: str, name: str = "t.j2") -> str:
    template = tmp_path / name
    template.write_text(body)
    return render(load_profile(str(write_profile(tmp_path))), template=str(template)).text


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("{{ x }}", "undefined variable"),
        ("{{ ''.__class__ }}", "cannot reach Python internals"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{% include 'other.j2' %}", "template error"),
        ("{{ {}.clear() }}", "template refused"),
    ],
)
def test_other_template_failures_name_the_file_and_line(tmp_path: Path, body: str, needle: str) -> None:
    with pytest.raises(TemplateError) as ei:
        render_with(tmp_path, "FROM {{ from_ }}\n\n" + body + "\n")
    err = ei.value
    assert needle in err.message and err.file and err.file.endswith("t.j2") and err.line == 3, str(err)


def test_the_steps_cap_counts_loops_and_calls_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STEPS, "1000")
    # range() and m() are calls (2 steps), the loop 998 iterations: 1,000 steps in all.
    ok = "{% macro m() %}{% endmacro %}{% for i in range(998) %}{% endfor %}{{ m() }}FROM {{ from_ }}\n"
    assert render_with(tmp_path, ok) == "FROM llama3.2\n"
    with pytest.raises(TemplateError, match=STEPS):
        render_with(tmp_path, ok.replace("998", "999"))


FEATURES = """\
{#- every kind of construct the sandbox counts, in normal use -#}
{% macro row(k, v) -%}{{ k }}={{ v }}{%- endmacro -%}
{% set ns = namespace(n=0) -%}
{% for m in messages recursive %}{% set ns.n = ns.n + 1 %}{% endfor -%}
# {{ "%s has %d messages" % (name, ns.n) }} {{ '{:>6}'.format(ns.n) }} {{ name|center(12)|trim }}
# {{ [1, 2, 3]|join(",") }} {{ range(3)|list }} {{ {"a": 1}|tojson }} {{ name|upper|replace("-", "_") }}
# {{ 2 ** 10 }} {{ "ab" * 3 }} {{ [1] + [2] }} {{ name ~ "!" ~ loop_free }} {{ row("k", 1) }}
{% filter upper %}# filtered {{ name }}{% endfilter %}
{% set block %}# set block {{ name }}{% endset %}{{ block }}
FROM {{ from_ | q("from") }}
{% for p in parameters %}PARAMETER {{ p["name"] }} {{ p | pv }}
{% endfor %}"""


def test_normal_templates_render_exactly_as_plain_jinja(tmp_path: Path) -> None:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from modelctl.modelfile.render import _comment, _pv, _q, context_for, default_template_path

    prof = tmp_path / "chef.yaml"
    prof.write_text(
        "name: chef-x\nfrom: llama3.2\ndescription: a\\nb\nsystem: hi\nparameters: {temperature: 0.5, stop: [a]}\n"
        "messages: [{role: user, content: hey}, {role: assistant, content: ho}]\nlicense: [MIT, X]\n"
    )
    ctx: dict[str, Any] = {**context_for(load_profile(str(prof))), "loop_free": 1}
    plain = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)
    plain.filters.update(q=_q, pv=_pv, comment=_comment)
    bounded = sandbox.new_environment(undefined=StrictUndefined, keep_trailing_newline=True)
    bounded.filters.update(q=_q, pv=_pv, comment=_comment)
    for source in (default_template_path().read_text(), FEATURES):
        expected = plain.from_string(source).render(**ctx)
        assert sandbox.render_bounded(sandbox.compile_template(bounded, source), ctx) == expected


# --------------------------------------------------------------------------- the rules, as properties

leaves = st.one_of(
    st.text(max_size=20), st.integers(), st.floats(allow_nan=True), st.booleans(), st.none(), st.binary(max_size=8)
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=5), inner, max_size=4),
    ),
    max_leaves=40,
)


@given(values)
def test_measure_is_an_upper_bound_of_the_text(value: Any) -> None:
    """The size check before a value is printed can only over-estimate what str() makes."""
    assert sandbox.measure(value, 1 << 30) >= len(str(value))


@given(values)
def test_measure_bounds_json_too(value: Any) -> None:
    import json

    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        return
    assert sandbox.measure(value, 1 << 30, json=True) >= len(text)


specs = st.tuples(
    st.sampled_from(["", "-", "0", " ", "+", "#"]),
    st.one_of(st.just(""), st.integers(0, 40).map(str), st.just("*")),
    st.one_of(st.just(""), st.integers(0, 20).map(lambda n: f".{n}"), st.just(".*")),
    st.sampled_from("sdrfxeg%"),
)


@given(st.lists(specs, min_size=1, max_size=4), st.lists(st.integers(0, 30), min_size=12, max_size=12))
def test_percent_bound_is_an_upper_bound(parts: list[tuple[str, str, str, str]], numbers: list[int]) -> None:
    fmt = "".join(f"%{flags}{width}{prec}{conv}" for flags, width, prec, conv in parts)
    args = tuple(numbers)
    try:
        text = fmt % args
    except (TypeError, ValueError, OverflowError):
        return
    assert sandbox.percent_bound(fmt, args, sandbox.Budget()) >= len(text)


def test_a_limit_inside_the_message_is_the_configured_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OUTPUT, "100KiB")
    with pytest.raises(TemplateError) as ei:
        render_with(tmp_path, "FROM {{ from_ }}\n{{ 'a' * 200000 }}\n")
    assert re.search(r"over the cap of 102,400 \(MODELCTL_MAX_TEMPLATE_OUTPUT\)", ei.value.message)
