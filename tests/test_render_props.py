"""Property: for arbitrary profiles, render either refuses (exit-1 error) or produces a Modelfile
that Ollama's grammar reads back to exactly the profile's intent. Never a silent difference."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelctl.errors import ModelfileError
from modelctl.modelfile.grammar import parse_modelfile
from modelctl.modelfile.render import render
from modelctl.profile import params as P
from modelctl.profile.profile import LoadedProfile, Message, Parameters, Profile

# Text that stresses the quoting rules: quotes, triple quotes, outer whitespace, CR/LF, tabs,
# characters Ollama drops (NBSP, ZWJ, control), and ordinary Unicode.
SPECIAL = [
    '"',
    '"""',
    " ",
    "\t",
    "\r",
    "\n",
    "\r\n",
    "#",
    "\u00a0",
    "\u200d",
    "\x07",
    "\ufeff",
    "é",
    "日本",
    "😀",
    "\\n",
    "{{ .Prompt }}",
    "PARAMETER",
    "SYSTEM",
]
texts = st.lists(st.one_of(st.sampled_from(SPECIAL), st.text(max_size=6)), max_size=8).map("".join)


def param_values() -> st.SearchStrategy[dict[str, object]]:
    fields = {}
    for p in P.CATALOGUE:
        if p.type == "int":
            lo = int(p.minimum) if p.minimum is not None else -(2**63)
            hi = int(p.maximum) if p.maximum is not None else 2**63 - 1
            fields[p.name] = st.integers(lo, hi)
        elif p.type == "float":
            fields[p.name] = st.floats(
                min_value=p.minimum, max_value=p.maximum, allow_nan=False, allow_infinity=False, width=32
            ) | st.floats(
                min_value=p.minimum if p.minimum is not None else -1e6,
                max_value=p.maximum if p.maximum is not None else 1e6,
                allow_nan=False,
            )
        elif p.type == "bool":
            fields[p.name] = st.booleans()
        else:
            fields[p.name] = st.lists(texts.filter(bool), min_size=1, max_size=3)
    return st.fixed_dictionaries({}, optional=fields)


@st.composite
def profiles(draw: st.DrawFn) -> LoadedProfile:
    prof = Profile(
        name="m",
        **{"from": draw(st.sampled_from(["llama3.2:3b", "qwen3:8b"]))},
        system=draw(st.none() | texts),
        template=draw(st.none() | texts),
        parameters=Parameters(**draw(param_values())),
        messages=[
            Message(role=r, content=c)
            for r, c in draw(st.lists(st.tuples(st.sampled_from(["system", "user", "assistant"]), texts), max_size=3))
        ],
        license=draw(st.lists(texts, max_size=2)),
        requires=draw(st.none() | st.sampled_from(["0.14.0", "v0.5.5", "1.2.3-rc1"])),
        base_dir=Path("/nonexistent"),
    )
    return LoadedProfile(path=Path("/nonexistent/p.yaml"), profile=prof, origins={})


def representable(s: str) -> bool:
    """Independent statement of what Ollama can carry: every character printable (or TAB/CR/LF)
    and no inner line ending in three quotes."""
    import unicodedata

    for ch in s:
        if ch in "\t\r\n" or ch == " ":
            continue
        if unicodedata.category(ch)[0] in "CZ":
            return False
    lines = s.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return not any(line.rstrip(" \t").endswith('"""') for line in lines[:-1])


@given(profiles())
def test_render_round_trips_or_refuses(loaded: LoadedProfile) -> None:
    prof = loaded.profile
    try:
        out = render(loaded)
    except ModelfileError as exc:
        assert exc.code == "unrepresentable", exc
        assert exc.field is not None
        return
    spec = parse_modelfile(out.text)
    assert spec.froms == [prof.from_]
    assert (spec.system or None) == (prof.system or None)
    assert (spec.template or None) == (prof.template or None)
    assert spec.messages == [{"role": m.role, "content": m.content} for m in prof.messages]
    assert spec.license == prof.license
    want = prof.parameters.as_dict()
    assert set(spec.parameters) == set(want)
    for k, v in want.items():
        got = spec.parameters[k]
        assert type(got) is type(v), (k, v, got)
        if isinstance(v, float):
            # Ollama reads floats at 32-bit precision: equal as float32, and no further off
            assert struct.pack("<f", got) == struct.pack("<f", v), (k, v, got)
        else:
            assert got == v, (k, v, got)


@given(texts)
def test_refusals_are_exactly_the_unrepresentable_values(s: str) -> None:
    prof = Profile(name="m", **{"from": "x"}, system=s, base_dir=Path("/nonexistent"))
    loaded = LoadedProfile(path=Path("/nonexistent/p.yaml"), profile=prof, origins={})
    try:
        out = render(loaded)
    except ModelfileError:
        assert not representable(s), repr(s)
        return
    assert (parse_modelfile(out.text).system or "") == s


@pytest.mark.parametrize(
    ("value", "needle"),
    [("a\u00a0b", "U+00A0"), ("x\u200dy", "U+200D"), ('line one"""\nline two', '"""'), ("bell\x07", "U+0007")],
)
def test_refusal_names_field_and_character(value: str, needle: str) -> None:
    prof = Profile(name="m", **{"from": "x"}, system=value, base_dir=Path("/nonexistent"))
    loaded = LoadedProfile(path=Path("/nonexistent/p.yaml"), profile=prof, origins={})
    with pytest.raises(ModelfileError) as info:
        render(loaded)
    assert info.value.field == "system"
    assert needle in info.value.message
