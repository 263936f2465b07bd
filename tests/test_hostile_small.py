"""Class 10 of issue 10: the smaller ones.

* A NaN/Inf PARAMETER that a later line for the same parameter replaces never reaches Ollama's
  request: accepted; only a NaN/Inf still there at the end is refused, at its own line.
* A `requires:` value Ollama's semver rule refuses points at the profile's line, not at the template.
* An empty FROM (accepted by Ollama's parser, refused by its create) is refused by `import`
  with Ollama's own text, not imported as the Modelfile's folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from modelctl.errors import ModelfileError, ProfileError
from modelctl.jobs.profiles import load_profile, render_profile
from modelctl.modelfile.grammar import parse_modelfile
from tests.fixtures_double import run_cli
from tests.fixtures_hostile import HANG, assert_refused


@pytest.mark.parametrize(
    ("lines", "value"),
    [
        (["PARAMETER temperature NaN", "PARAMETER temperature 0.5"], 0.5),
        (["PARAMETER top_p +Inf", "PARAMETER top_p -inf", "PARAMETER top_p 0.25"], 0.25),
        (["PARAMETER min_p nan", "PARAMETER top_k 3", "PARAMETER min_p 0"], 0.0),
    ],
)
def test_a_non_finite_value_replaced_later_is_imported(tmp_path: Path, lines: list[str], value: float) -> None:
    (tmp_path / "Modelfile").write_text("FROM llama3.2\n" + "\n".join(lines) + "\n")
    proc = run_cli("import", "Modelfile", "-o", "p.yaml", cwd=tmp_path, timeout=HANG)
    assert proc.returncode == 0, proc.stderr
    name = lines[0].split()[1]
    assert f"{name}: {value}" in (tmp_path / "p.yaml").read_text()
    assert load_profile(str(tmp_path / "p.yaml")).profile.parameters.as_dict()[name] == value


@pytest.mark.parametrize(
    ("lines", "line", "text"),
    [
        (["PARAMETER temperature 0.5", "PARAMETER temperature NaN"], 3, "[NaN]"),
        (["PARAMETER top_p NaN", "PARAMETER top_p -Inf"], 3, "unsupported value: -Inf"),
        (["PARAMETER top_p inf", "PARAMETER top_k 3"], 2, "[inf]"),
    ],
)
def test_a_non_finite_value_left_at_the_end_is_refused_at_its_line(
    tmp_path: Path, lines: list[str], line: int, text: str
) -> None:
    (tmp_path / "Modelfile").write_text("FROM llama3.2\n" + "\n".join(lines) + "\n")
    proc = run_cli("import", "Modelfile", cwd=tmp_path, timeout=HANG)
    assert_refused(proc, 1, f"Modelfile:{line}:1:", "unsupported float value", text)


def test_the_last_value_wins_in_the_parser_too() -> None:
    spec = parse_modelfile("FROM x\nPARAMETER temperature NaN\nPARAMETER temperature 1\n")
    assert spec.parameters == {"temperature": 1.0}
    with pytest.raises(ModelfileError) as ei:
        parse_modelfile("FROM x\nPARAMETER temperature 1\nPARAMETER temperature NaN\n")
    assert ei.value.line == 3


@pytest.mark.parametrize("command", ["validate", "render"])
def test_a_requires_that_fails_semver_points_at_the_profile(tmp_path: Path, command: str) -> None:
    (tmp_path / "p.yaml").write_text('from: llama3.2\nrequires: "0.14.0-01"\n')
    proc = run_cli(command, "p.yaml", cwd=tmp_path, timeout=HANG)
    assert_refused(proc, 1, "p.yaml:2:11: requires: requires must be a valid semver")


@pytest.mark.parametrize("value", ["0.14.0-01", "v1.2.3-rc.01", "1.2.3.4", "latest", "0.14.0+", "01.2"])
def test_every_requires_ollama_refuses_is_refused_at_the_profile_line(tmp_path: Path, value: str) -> None:
    (tmp_path / "p.yaml").write_text(f'from: llama3.2\nrequires: "{value}"\n')
    with pytest.raises(ProfileError) as ei:
        load_profile(str(tmp_path / "p.yaml"))
    assert (ei.value.line, ei.value.column, ei.value.field) == (2, 11, "requires")


@pytest.mark.parametrize("value", ["0.14", "0", "v0.14.0-rc1", "1.2.3+build.7"])
def test_every_requires_ollama_accepts_renders(tmp_path: Path, value: str) -> None:
    (tmp_path / "p.yaml").write_text(f'from: llama3.2\nrequires: "{value}"\n')
    text = render_profile(str(tmp_path / "p.yaml")).text
    assert "REQUIRES " + value in text


@pytest.mark.parametrize(
    ("text", "line"),
    [("FROM \n", 1), ('FROM ""\n', 1), ('FROM """"""\n', 1), ("FROM llama3.2\nSYSTEM hi\nFROM   \n", 3)],
)
def test_an_empty_from_is_refused_with_ollamas_words(tmp_path: Path, text: str, line: int) -> None:
    (tmp_path / "model.gguf").write_bytes(b"GGUF")  # even beside model files: never `from: .`
    (tmp_path / "Modelfile").write_text(text)
    proc = run_cli("import", "Modelfile", "-o", "p.yaml", cwd=tmp_path, timeout=HANG)
    assert_refused(proc, 1, f"Modelfile:{line}:1: from: no Modelfile or safetensors files found")
    assert not (tmp_path / "p.yaml").exists()
