"""Where a newcomer goes wrong, the error says what to do: an address ending in /api, a Modelfile
given as a profile, a misspelt `extends`, a profile beside the current folder rather than in
./profiles, a misspelt inventory host, a tab in YAML. Each is one line on stderr, with its exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures_double import run_cli
from tests.ollama_double import OllamaDouble

MODELFILE = 'FROM llama3.2:3b\nPARAMETER temperature 0.5\nSYSTEM """You are a chef: answer briefly."""\n'


def _one_error(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


@pytest.mark.parametrize("suffix", ["/api", "/api/", "/v1"])
def test_an_address_ending_in_api_says_to_drop_it(suffix: str, ollama_double: OllamaDouble, tmp_path: Path) -> None:
    """Ollama's router answers an unknown path with a plain-text "404 page not found" (the double does
    too, as Ollama 0.9.3 does at /api/api/tags): the hint names the address to use instead."""
    r = run_cli("ls", host=ollama_double.url + suffix, cwd=tmp_path)
    assert r.returncode == 5
    line = _one_error(r.stderr)
    want = suffix.rstrip("/")
    assert f"the address ends in {want}, and modelctl adds /api/tags itself" in line, line
    assert line.endswith(f"use --host / OLLAMA_HOST {ollama_double.url})")


@pytest.mark.live
def test_an_address_ending_in_api_on_a_real_ollama(live_host: str, tmp_path: Path) -> None:
    r = run_cli("ls", host=live_host.rstrip("/") + "/api", cwd=tmp_path)
    assert r.returncode == 5 and "404 page not found" in r.stderr and "the address ends in /api" in r.stderr


@pytest.mark.parametrize("name", ["Modelfile", "chef.modelfile"])
@pytest.mark.parametrize("command", ["validate", "build", "render"])
def test_a_modelfile_given_as_a_profile_points_at_import(name: str, command: str, tmp_path: Path) -> None:
    (tmp_path / name).write_text(MODELFILE, encoding="utf-8")
    r = run_cli(command, name, cwd=tmp_path, host="http://127.0.0.1:9")
    assert r.returncode == 1
    target = "profile" if name == "Modelfile" else "chef"
    assert _one_error(r.stderr) == (
        f"error: {name}:1:1: this is a Modelfile, not a profile: `modelctl import {name} -o {target}.yaml` "
        "turns it into one"
    )


def test_yaml_that_only_starts_like_a_modelfile_keyword_is_not_one(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("from llama3.2:3b\n", encoding="utf-8")  # `from` without a colon
    (tmp_path / "q.yaml").write_text("- from: x\n", encoding="utf-8")
    r = run_cli("validate", "q.yaml", cwd=tmp_path)
    assert "Modelfile" not in r.stderr and "not a list" in r.stderr
    r = run_cli("validate", "p.yaml", cwd=tmp_path)
    assert "this is a Modelfile" in r.stderr  # FROM is case-insensitive in a Modelfile: it is one


def test_a_misspelt_extends_gets_a_did_you_mean_and_where_it_looked(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "base.yaml").write_text("from: llama3.2:3b\n", encoding="utf-8")
    (tmp_path / "profiles" / "creative.yaml").write_text("name: c\nextends: bse.yaml\n", encoding="utf-8")
    r = run_cli("validate", "creative", cwd=tmp_path)
    assert r.returncode == 1
    assert _one_error(r.stderr) == (
        "error: profiles/creative.yaml:2:10: extends: extended profile not found: bse.yaml (looked for "
        "profiles/bse.yaml, relative to the extending file); did you mean 'base.yaml'?"
    )


def test_a_name_found_only_in_the_current_folder_is_named_as_a_path(tmp_path: Path) -> None:
    """`creative` is looked up in ./profiles and $MODELCTL_PROFILES only (design.md §4): ./creative.yaml
    is not taken, but the error names it."""
    (tmp_path / "creative.yaml").write_text("from: llama3.2:3b\n", encoding="utf-8")
    r = run_cli("validate", "creative", cwd=tmp_path)
    assert r.returncode == 1
    assert _one_error(r.stderr) == (
        "error: creative: no profile named 'creative' (looked in ./profiles; $MODELCTL_PROFILES is not set); "
        "did you mean './creative.yaml'?"
    )
    assert run_cli("validate", "./creative.yaml", cwd=tmp_path).returncode == 0


def test_a_misspelt_inventory_host_is_a_did_you_mean(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    (tmp_path / "fleet.yaml").write_text(f"hosts:\n  local:\n    url: {ollama_double.url}\n", encoding="utf-8")
    (tmp_path / "p.yaml").write_text("name: p\nfrom: llama3.2:3b\n", encoding="utf-8")
    for args in (["show", "p.yaml"], ["plan", "p.yaml"], ["validate", "p.yaml"]):
        r = run_cli(*args, "--hosts", "fleet.yaml", "--host", "locl", cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        assert _one_error(r.stderr) == (
            "error: --host locl: no host named 'locl' in fleet.yaml; did you mean 'local'? "
            "(for a server of that name, give its URL: http://locl:11434)"
        )
    ollama_double.install("llama3.2:3b")
    r = run_cli("plan", "p.yaml", "--hosts", "fleet.yaml", "--host", "local", cwd=tmp_path)
    assert r.returncode == 3, r.stderr  # the right name works (p is not built: drift)


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("name: d\nfrom: llama3.2:3b\nparameters:\n\ttemperature: 0.5\n", 4, 1),
        ("name: d\nfrom: llama3.2:3b\nparameters:\n  top_k: 3\n\ttemperature: 0.5\n", 5, 1),
        ("name: d\nfrom: llama3.2:3b\nparameters:\n \ttemperature: 0.5\n", 4, 2),
    ],
)
def test_a_tab_indenting_yaml_is_said_plainly(text: str, line: int, column: int, tmp_path: Path) -> None:
    (tmp_path / "tab.yaml").write_text(text, encoding="utf-8")
    r = run_cli("validate", "tab.yaml", cwd=tmp_path)
    assert r.returncode == 1
    assert _one_error(r.stderr) == (
        f"error: tab.yaml:{line}:{column}: invalid YAML: a tab indents this line, and YAML does not allow tabs "
        "for indentation: use spaces"
    )


def test_a_tab_between_key_and_value_is_fine(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("name: d\nfrom:\tllama3.2:3b\n", encoding="utf-8")
    assert run_cli("validate", "p.yaml", cwd=tmp_path).returncode == 0
