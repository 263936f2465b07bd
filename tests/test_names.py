"""Names that forgive typos: profile files and names, model names on the server, profile keys,
commands, Modelfile instructions; removed parameters met by ``import``."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelctl.ollama.wire import near_models
from modelctl.profile.params import suggest
from tests.fixtures_compare import invoke
from tests.ollama_double import OllamaDouble


def test_a_file_name_not_in_the_current_folder_is_looked_up_like_a_profile_name(
    cmp_double: OllamaDouble, chef_dir: Path
) -> None:
    r = invoke("build", "creative.yaml", "--dry-run", host=cmp_double.url, cwd=chef_dir)
    assert r.returncode == 0, r.stderr
    assert "chef-creative" in r.stdout


@pytest.mark.parametrize(
    ("ref", "hint"),
    [("creativ", "did you mean 'creative'?"), ("creative.yml", "did you mean 'creative.yaml'?"),
     ("profiles/creative.yml", "did you mean 'profiles/creative.yaml'?")],
)  # fmt: skip
def test_a_profile_not_found_names_the_closest_and_where_it_looked(
    chef_dir: Path, ref: str, hint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELCTL_PROFILES", str(chef_dir / "elsewhere"))
    r = invoke("validate", ref, cwd=chef_dir)
    assert r.returncode == 1
    assert hint in r.stderr
    if "/" not in ref:
        assert "./profiles" in r.stderr and f"$MODELCTL_PROFILES={chef_dir / 'elsewhere'}" in r.stderr


def test_without_modelctl_profiles_the_message_says_it_is_not_set(chef_dir: Path) -> None:
    r = invoke("render", "precis", cwd=chef_dir)
    assert r.returncode == 1
    assert "no profile named 'precis' (looked in ./profiles; $MODELCTL_PROFILES is not set)" in r.stderr
    assert "did you mean 'precise'?" in r.stderr


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("model: llama3.2:3b", "unknown key 'model' (did you mean 'from'?)"),
        ("FROM: llama3.2:3b", "unknown key 'FROM' (did you mean 'from'?)"),
        ("temperature: 0.2", "'temperature' is a parameter and belongs under `parameters:`"),
        ("mirostat: 1", "was removed in Ollama 0.6.9"),
        ("params: {}", "did you mean 'parameters'?"),
    ],
)
def test_top_level_keys_get_a_did_you_mean(tmp_path: Path, key: str, message: str) -> None:
    body = key + "\n" + ("" if key.lower().startswith(("model", "from")) else "from: llama3.2:3b\n")
    (tmp_path / "p.yaml").write_text(body, encoding="utf-8")
    r = invoke("validate", "p.yaml", cwd=tmp_path)
    assert r.returncode == 1
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert errors and "p.yaml:1:1" in errors[0] and message in errors[0], r.stderr
    assert not any("`from` is required" in e for e in errors)  # `model:` was meant as `from`


def test_a_misspelt_command_gets_a_did_you_mean() -> None:
    r = invoke("biuld")
    assert r.returncode == 2
    assert "No such command 'biuld'. (Did you mean 'build'?)" in r.stderr


def test_a_model_one_typo_away_is_suggested_never_pulled(cmp_double: OllamaDouble, chef_dir: Path) -> None:
    r = invoke("run", "llama3.2:3bb", "hi", host=cmp_double.url, cwd=chef_dir)
    assert r.returncode == 5
    assert "did you mean 'llama3.2:3b'?" in r.stderr and "ollama pull" not in r.stderr
    r = invoke("show", "qwen3", host=cmp_double.url, cwd=chef_dir)  # only qwen3:8b is there
    assert r.returncode == 5 and "did you mean 'qwen3:8b'?" in r.stderr
    r = invoke("run", "llama3.2:3B", "hi", host=cmp_double.url, cwd=chef_dir)  # Ollama matches names in any case
    assert r.returncode == 0, r.stderr
    r = invoke("run", "mistral:7b", "hi", host=cmp_double.url, cwd=chef_dir)  # nothing near: pull advice
    assert r.returncode == 5 and "ollama pull mistral:7b" in r.stderr


def test_a_model_name_near_a_profile_name_points_to_the_profile(cmp_double: OllamaDouble, chef_dir: Path) -> None:
    r = invoke("show", "precis", host=cmp_double.url, cwd=chef_dir)
    assert r.returncode == 5 and "did you mean the profile 'precise'?" in r.stderr


def test_near_models_follows_ollamas_name_matching() -> None:
    names = ["llama3.2:3b", "llama3.2:1b", "qwen3:8b", "nomic-embed-text:latest"]
    assert near_models("LLAMA3.2:3B", names) == ["llama3.2:3b"]
    assert near_models("nomic-embed-text", names) == ["nomic-embed-text:latest"]
    assert near_models("llama3.2", names) == ["llama3.2:3b", "llama3.2:1b"]
    assert near_models("qwen3:8bb", names) == ["qwen3:8b"]
    assert near_models("mistral", names) == []


@given(st.lists(st.text(alphabet="abcdefghij_", min_size=2, max_size=12), min_size=1, max_size=8, unique=True))
def test_suggest_ignores_case(pool: list[str]) -> None:
    folded = {p.casefold() for p in pool}
    for p in pool:
        assert suggest(p.upper(), pool) is not None
        assert suggest(p.upper(), pool).casefold() == p.casefold()  # type: ignore[union-attr]
    assert len(folded) == len(pool)


def test_import_suggests_the_instruction_and_keeps_ollamas_words(tmp_path: Path) -> None:
    (tmp_path / "Modelfile").write_text("FROM llama3.2:3b\nPARAMETR temperature 0.5\n", encoding="utf-8")
    r = invoke("import", "Modelfile", cwd=tmp_path)
    assert r.returncode == 1
    assert 'command must be one of "from"' in r.stderr and "(did you mean 'PARAMETER'?)" in r.stderr
    (tmp_path / "Modelfile").write_text("FROM llama3.2:3b\nPARAMETER temprature 0.5\n", encoding="utf-8")
    r = invoke("import", "Modelfile", cwd=tmp_path)
    assert "unknown parameter 'temprature' (did you mean 'temperature'?)" in r.stderr


def test_import_drops_removed_parameters_saying_when_and_what_instead(tmp_path: Path) -> None:
    (tmp_path / "Modelfile").write_text(
        "FROM llama3.2:3b\nPARAMETER mirostat 1\nPARAMETER tfs_z 0.9\nPARAMETER top_k 20\n", encoding="utf-8"
    )
    r = invoke("import", "Modelfile", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "mirostat was removed in Ollama 0.6.9, dropped; use temperature, top_p or min_p" in r.stderr
    assert "tfs_z was removed in Ollama 0.5.2, dropped; use min_p" in r.stderr
    assert "top_k: 20" in r.stdout and "mirostat" not in r.stdout and "tfs_z" not in r.stdout
