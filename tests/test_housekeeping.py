"""``ls``, ``ps``, ``rm`` and ``show --modelfile`` against the Ollama API double."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures_compare import invoke
from tests.ollama_double import OllamaDouble


def _data(stdout: str) -> dict:  # type: ignore[type-arg]
    env = json.loads(stdout)
    assert env["schema_version"] == 1 and env["ok"] is True
    return env["data"]  # type: ignore[no-any-return]


def test_ls_puts_profiles_beside_the_servers_models(built_double: OllamaDouble, chef_dir: Path) -> None:
    assert invoke("build", "creative", "precise", "-q", host=built_double.url, cwd=chef_dir).returncode == 0
    precise = chef_dir / "profiles" / "precise.yaml"
    precise.write_text(precise.read_text(encoding="utf-8").replace("0.2", "0.3"), encoding="utf-8")
    r = invoke("ls", host=built_double.url, cwd=chef_dir)
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line for line in r.stdout.splitlines() if line.startswith("profiles/")}
    assert "up to date" in rows["profiles/creative.yaml"]
    assert "changed" in rows["profiles/precise.yaml"] and "parameters.temperature" in rows["profiles/precise.yaml"]
    assert "not built" in rows["profiles/local.yaml"]
    assert "invalid" in rows["profiles/bad.yaml"] and "profiles/bad.yaml" in r.stderr  # the reason, on stderr
    assert "made by no profile:" in r.stdout and "qwen3:8b" in r.stdout.split("made by no profile:")[1]
    data = _data(invoke("ls", "--format", "json", host=built_double.url, cwd=chef_dir).stdout)
    states = {p["profile"]: p["state"] for p in data["profiles"]}
    assert states["profiles/creative.yaml"] == "up_to_date" and states["profiles/precise.yaml"] == "changed"
    assert {m["name"] for m in data["unprofiled"]} >= {"llama3.2:3b", "qwen3:8b"}
    assert data["summary"]["invalid"] == 1


def test_ps_shows_what_ollama_ps_shows_with_the_profile(built_double: OllamaDouble, chef_dir: Path) -> None:
    r = invoke("ps", host=built_double.url, cwd=chef_dir)
    assert r.returncode == 0 and r.stdout.startswith("no model is loaded on ")
    assert invoke("run", "creative", "hi", host=built_double.url, cwd=chef_dir).returncode == 0
    r = invoke("ps", host=built_double.url, cwd=chef_dir)
    head, _rule, row = r.stdout.splitlines()[:3]
    assert head.split() == ["name", "id", "size", "processor", "context", "until", "profile"]
    assert row.startswith("chef-creative") and "100% GPU" in row and "minutes from now" in row
    assert row.endswith("profiles/creative.yaml") and " 2048 " in row
    (model,) = _data(invoke("ps", "--format", "json", host=built_double.url, cwd=chef_dir).stdout)["models"]
    assert model["profiles"] == ["profiles/creative.yaml"] and model["context_length"] == 2048
    assert model["processor"] == "100% GPU" and len(model["id"]) == 12


def test_rm_checks_every_name_first_and_says_what_it_removed(built_double: OllamaDouble, chef_dir: Path) -> None:
    before = set(built_double.state.models)
    r = invoke("rm", "chef-wide", "chef-precis", host=built_double.url, cwd=chef_dir)
    assert r.returncode == 5 and "did you mean 'chef-precise:latest'?" in r.stderr and "nothing removed" in r.stderr
    r = invoke("rm", "precise", "chef-wide", "--dry-run", host=built_double.url, cwd=chef_dir)
    assert r.returncode == 0 and r.stdout.startswith("would remove chef-precise:latest")
    assert set(built_double.state.models) == before
    r = invoke("rm", "precise", "chef-wide", host=built_double.url, cwd=chef_dir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "removed chef-precise:latest (1.88 GiB), the model of profiles/precise.yaml",
        "removed chef-wide:latest (1.88 GiB)",
    ]
    assert len(built_double.state.models) == len(before) - 2
    data = _data(invoke("rm", "creative", "--dry-run", "--format", "json", host=built_double.url, cwd=chef_dir).stdout)
    assert data["dry_run"] is True and data["models"][0]["name"] == "chef-creative:latest"


def test_show_modelfile_names_the_base_model(built_double: OllamaDouble, chef_dir: Path) -> None:
    r = invoke("show", "creative", "--modelfile", host=built_double.url, cwd=chef_dir)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("# Modelfile of the model chef-creative on http://127.0.0.1:")
    assert "FROM llama3.2:3b" in lines and "PARAMETER temperature 1.1" in lines and "blobs" not in r.stdout
    assert "MESSAGE assistant Saffron panna cotta." in lines
    data = _data(invoke("show", "chef-creative", "--modelfile", "--format", "json", host=built_double.url).stdout)
    assert "FROM llama3.2:3b\n" in data["modelfile"]
