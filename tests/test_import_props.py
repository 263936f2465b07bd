"""Property: the YAML that `import` writes reads back (YAML 1.2 loader) to exactly the data it wrote,
and a Modelfile imported then rendered gives Ollama the same request."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from modelctl.modelfile.grammar import parse_modelfile
from modelctl.modelfile.importer import dump_yaml, spec_to_profile_data
from modelctl.profile.yamlio import load

TRICKY = [
    "yes",
    "no",
    "on",
    "off",
    "~",
    "null",
    "010",
    "0o17",
    "1e3",
    ".inf",
    "-",
    "? x",
    ": x",
    "#",
    "'",
    '"',
    "\n",
    "\r",
    "\r\n",
    "\t",
    " ",
    "\u00a0",
    "\u2028",
    "\u2029",
    "\x85",
    "\ufeff",
    "\x00",
    "\x1b",
    "é",
    "😀",
    "{{ .Prompt }}",
    "- item",
    "a: b",
    "|",
    ">",
]
strings = st.lists(st.one_of(st.sampled_from(TRICKY), st.text(max_size=5)), max_size=6).map("".join)
scalars = st.one_of(
    strings, st.integers(-(2**63), 2**63 - 1), st.booleans(), st.floats(allow_nan=False, allow_infinity=False)
)
data = st.dictionaries(
    st.sampled_from(["from", "system", "template", "license", "requires", "name"]), strings, min_size=1
).flatmap(
    lambda d: st.fixed_dictionaries(
        {
            **{k: st.just(v) for k, v in d.items()},
            "parameters": st.dictionaries(st.sampled_from(["temperature", "num_ctx", "stop", "use_mmap"]), scalars),
            "messages": st.lists(
                st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]), "content": strings}), max_size=3
            ),
        }
    )
)


@given(data)
def test_written_yaml_reads_back_exactly(d: dict[str, object]) -> None:
    assert load(dump_yaml(d, header="# header\n"), "x.yaml").data == d


@given(
    st.lists(
        st.sampled_from(["hello", "two\nlines", "  padded  ", 'say "hi"', "tab\there", "yes", "日本"]),
        min_size=1,
        max_size=3,
    )
)
def test_import_keeps_what_ollama_reads(systems: list[str]) -> None:
    from modelctl.modelfile.grammar import quote_value

    text = "FROM llama3\n" + "".join(f"MESSAGE user {quote_value(s, field='m')}\n" for s in systems)
    text += f"SYSTEM {quote_value(systems[-1], field='system')}\nPARAMETER stop {quote_value(systems[0], field='s')}\n"
    spec = parse_modelfile(text)
    profile = load(
        dump_yaml(spec_to_profile_data(spec, modelfile_dir=Path("/nonexistent"), output_dir=None)), "p.yaml"
    ).data
    assert profile["system"] == spec.system
    assert profile["messages"] == spec.messages
    assert profile["parameters"]["stop"] == spec.parameters["stop"]
