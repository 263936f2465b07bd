"""Profile loading and validation: positions, extends, --set, and every bad input of the spec."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from modelctl.errors import ProfileError
from modelctl.profile.profile import load_profile, parse_override, resolve_ref
from modelctl.profile.yamlio import load as load_yaml

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def error_of(path: Path | str, overrides: tuple[str, ...] = ()) -> ProfileError:
    with pytest.raises(ProfileError) as info:
        load_profile(str(path), overrides)
    return info.value


# -- YAML 1.2 semantics ----------------------------------------------------------------------------
def test_yaml_12_core_schema_keeps_norway_strings_and_decimal_leading_zeros() -> None:
    doc = load_yaml("a: [yes, no, on, off, 010, 0o17, 0x1F, 1e-1, ~, .inf, '1', 1_000, true]\n", "x")
    assert doc.data == {"a": ["yes", "no", "on", "off", 10, 15, 31, 0.1, None, math.inf, "1", "1_000", True]}


def test_positions_are_one_based_key_and_value() -> None:
    doc = load_yaml("from: x\nparameters:\n  top_p: 0.5\n", "f.yaml")
    assert doc.key_pos[("parameters", "top_p")] == (3, 3)
    assert doc.value_pos[("parameters", "top_p")] == (3, 10)


def test_duplicate_key_is_an_error_with_position(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "d.yaml", "from: a\nfrom: b\n"))
    assert (err.line, err.column) == (2, 1)
    assert "duplicate key 'from'" in err.message


# -- good profiles -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["creative", "precise", "coder", "long-context", "base"])
def test_example_profiles_are_valid(name: str) -> None:
    loaded = load_profile(str(REPO / "profiles" / f"{name}.yaml"))
    assert loaded.profile.from_
    assert loaded.profile.parameters.as_dict()


def test_extends_merges_parameters_key_by_key_and_records_origins(tmp_path: Path) -> None:
    write(
        tmp_path,
        "base.yaml",
        "from: llama3\nsystem: base sys\nparameters: {num_ctx: 8192, top_k: 10}\n"
        "messages: [{role: user, content: hi}]\n",
    )
    child = write(
        tmp_path, "child.yaml", "extends: base.yaml\nparameters: {top_k: 20, temperature: 0.5}\nmessages: []\n"
    )
    loaded = load_profile(str(child))
    assert loaded.profile.parameters.as_dict() == {"num_ctx": 8192, "top_k": 20, "temperature": 0.5}
    assert loaded.profile.messages == []  # lists replace, they do not merge
    assert loaded.profile.system == "base sys"
    assert loaded.origins["parameters.num_ctx"].endswith("base.yaml")
    assert loaded.origins["parameters.top_k"].endswith("child.yaml")
    assert loaded.origins["from"].endswith("base.yaml")
    assert loaded.profile.name == "child"


def test_extends_list_later_wins(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "from: a\nparameters: {top_k: 1}\n")
    write(tmp_path, "b.yaml", "from: b\nparameters: {top_k: 2}\n")
    p = write(tmp_path, "c.yaml", "extends: [a.yaml, b.yaml]\n")
    loaded = load_profile(str(p))
    assert loaded.profile.from_ == "b"
    assert loaded.profile.parameters.top_k == 2


def test_set_overrides_short_and_long_form_are_validated(tmp_path: Path) -> None:
    p = write(tmp_path, "p.yaml", "from: llama3\nparameters: {temperature: 0.9}\n")
    loaded = load_profile(str(p), ("temperature=0.2", "parameters.stop=[a, b]", "system=hello"))
    assert loaded.profile.parameters.temperature == 0.2
    assert loaded.profile.parameters.stop == ["a", "b"]
    assert loaded.profile.system == "hello"
    assert loaded.origins["parameters.temperature"] == "--set"
    err = error_of(p, ("top_p=2",))
    assert err.field == "parameters.top_p" and err.file == "--set"
    with pytest.raises(ProfileError, match="did you mean 'temperature'"):
        parse_override("temprature=1")
    with pytest.raises(ProfileError, match="did you mean 'system'"):
        parse_override("sytem=x")


def test_stop_string_becomes_a_list(tmp_path: Path) -> None:
    p = write(tmp_path, "p.yaml", "from: llama3\nparameters: {stop: '###'}\n")
    assert load_profile(str(p)).profile.parameters.stop == ["###"]


def test_int_accepted_for_float_but_not_bool(tmp_path: Path) -> None:
    p = write(tmp_path, "p.yaml", "from: llama3\nparameters: {temperature: 1}\n")
    t = load_profile(str(p)).profile.parameters.temperature
    assert t == 1.0 and isinstance(t, float)
    err = error_of(write(tmp_path, "q.yaml", "from: llama3\nparameters: {temperature: true}\n"))
    assert err.field == "parameters.temperature"


def test_name_lookup_in_env_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "mine"
    d.mkdir()
    write(d, "fast.yaml", "from: llama3\n")
    monkeypatch.setenv("MODELCTL_PROFILES", str(d))
    monkeypatch.chdir(tmp_path)
    assert resolve_ref("fast") == (d / "fast.yaml").resolve()
    with pytest.raises(ProfileError, match="no profile named 'slow'"):
        resolve_ref("slow")


def test_local_gguf_from_is_resolved_relative_to_the_profile(tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "m.gguf").write_bytes(b"GGUF")
    p = write(tmp_path, "p.yaml", "from: ./w/m.gguf\n")
    assert load_profile(str(p)).profile.base_path() == (tmp_path / "w" / "m.gguf").resolve()
    err = error_of(write(tmp_path, "q.yaml", "from: ./missing.gguf\n"))
    assert "local model not found" in err.message and err.field == "from" and err.line == 1


def test_warnings_for_risky_values(tmp_path: Path) -> None:
    p = write(tmp_path, "p.yaml", "from: llama3\nsystem: ''\nparameters: {temperature: 2.5, stop: [x]}\n")
    codes = {w.code for w in load_profile(str(p)).warnings}
    assert {"risky_value", "custom_stop", "empty_inherits"} <= codes


# -- every bad input of the spec: message, field and position ------------------------------------
BAD = [
    ("malformed.yaml", "from: x\nparameters: [1, 2\n", None, 3, "invalid YAML"),
    ("list.yaml", "- from: x\n", None, 1, "mapping of keys, not a list"),
    ("scalar.yaml", "just text\n", None, 1, "not a single value"),
    ("unknown.yaml", "from: x\nsytem: hi\n", "sytem", 2, "did you mean 'system'"),
    (
        "unknown_param.yaml",
        "from: x\nparameters:\n  temprature: 0.5\n",
        "parameters.temprature",
        3,
        "did you mean 'temperature'",
    ),
    ("lots.yaml", "from: x\nparameters:\n  num_ctx: lots\n", "parameters.num_ctx", 3, "expected an integer"),
    ("frac.yaml", "from: x\nparameters:\n  num_ctx: 4096.5\n", "parameters.num_ctx", 3, "expected an integer"),
    ("stop5.yaml", "from: x\nparameters:\n  stop: 5\n", "parameters.stop", 3, "string or a list of strings"),
    ("top_p.yaml", "from: x\nparameters:\n  top_p: 1.5\n", "parameters.top_p", 3, "must be <= 1"),
    ("temp.yaml", "from: x\nparameters:\n  temperature: -1\n", "parameters.temperature", 3, "must be >= 0"),
    ("nofrom.yaml", "system: hi\n", "from", 1, "`from` is required"),
    ("mirostat.yaml", "from: x\nparameters:\n  mirostat: 1\n", "parameters.mirostat", 3, "removed in Ollama 0.6.9"),
    ("role.yaml", "from: x\nmessages:\n  - {role: tool, content: x}\n", "messages[0].role", 3, "must be"),
    ("stopempty.yaml", "from: x\nparameters: {stop: ['']}\n", "parameters.stop", 2, "empty"),
    ("nan.yaml", "from: x\nparameters: {temperature: .nan}\n", "parameters.temperature", 2, "finite"),
    ("quant.yaml", "from: x\nquantize: q5_K_M\n", "quantize", 2, "unsupported quantization type"),
    ("adapters.yaml", "from: x\nadapters: [a.gguf, b.gguf]\n", "adapters", 2, "only one adapter"),
    ("requires.yaml", "from: x\nrequires: 'one'\n", "requires", 2, "valid semver"),
    ("name.yaml", "name: 'bad name!'\nfrom: x\n", "name", 1, "not a valid Ollama model name"),
]


@pytest.mark.parametrize(("fname", "text", "field", "line", "needle"), BAD, ids=[b[0] for b in BAD])
def test_bad_profiles(tmp_path: Path, fname: str, text: str, field: str | None, line: int, needle: str) -> None:
    err = error_of(write(tmp_path, fname, text))
    assert needle in str(err)
    assert err.field == field
    assert err.line == line
    assert err.file is not None and err.file.endswith(fname)
    assert err.column is not None


def test_extends_cycle(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "extends: b.yaml\nfrom: x\n")
    b = write(tmp_path, "b.yaml", "extends: a.yaml\n")
    err = error_of(b)
    assert "extends cycle" in err.message and err.field == "extends"
    assert err.line == 1


def test_extends_missing_file(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "a.yaml", "from: x\nextends: [nope.yaml]\n"))
    assert "extended profile not found: nope.yaml" in err.message
    assert (err.line, err.column) == (2, 11)


def test_non_utf8_file(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "latin1.yaml", "from: x\nsystem: caf\xe9\n".encode("latin-1")))
    assert "not UTF-8" in err.message and (err.line, err.column) == (2, 12)


def test_binary_file(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "bin.yaml", b"from: x\n\x00\x01\x02"))
    assert "binary" in err.message and err.line == 2


def test_empty_file(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "empty.yaml", ""))
    assert "empty profile" in err.message


def test_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    p = tmp_path / "huge.yaml"
    with open(p, "wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # sparse: 50 MB on paper
    err = error_of(p)
    assert "refused" in err.message and "52,428,800 bytes" in err.message


def test_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dir.yaml").mkdir()
    err = error_of(tmp_path / "dir.yaml")
    assert "directory" in err.message


def test_alias_bomb_is_bounded(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    lines.append("from: x")
    err = error_of(write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n"))
    assert "too many nodes" in err.message


def test_control_character_in_yaml_has_a_position(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "ctl.yaml", 'from: x\nsystem: "a\x07b"\n'))
    assert err.file is not None and err.file.endswith("ctl.yaml")
    assert (err.line, err.column) == (2, 11)
    assert "U+0007" in err.message and "\n" not in err.message


def test_one_error_per_field_for_a_float_parameter(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "t.yaml", "from: x\nparameters: {temperature: abc}\n"))
    assert [d.field for d in err.diagnostics()] == ["parameters.temperature"]
    assert err.message == "expected a number, got string 'abc'"
