"""Round trips of a deployed model through modelctl, as the real server makes them (tests/test_live_verify.py
runs the same on a real Ollama): ``show --modelfile`` prints ADAPTER lines as Ollama does, several
LICENSE layers stay several (import --model, show --modelfile, a rebuild), and ``import --model``
leaves out, with a warning, a stored value no profile can hold (so its output passes ``validate``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelctl.errors import ServerError
from modelctl.jobs.model_import import _base_name
from modelctl.ollama.server import OllamaClient
from tests.fixtures_double import invoke_in as cli
from tests.fixtures_gguf import write_tiny_llama, write_tiny_lora
from tests.ollama_double import MODELS_DIR, OllamaDouble


def build(double: OllamaDouble, tmp_path: Path, name: str, body: str) -> None:
    (tmp_path / f"{name}.yaml").write_text(f"name: {name}\n{body}", encoding="utf-8")
    code, out, err = cli(double, tmp_path, "build", f"{name}.yaml", "-q")
    assert code == 0, err


def test_show_modelfile_prints_the_adapter_a_model_adds_to_its_base(
    ollama_double: OllamaDouble, tmp_path: Path
) -> None:
    write_tiny_llama(tmp_path / "tiny.gguf")
    write_tiny_lora(tmp_path / "lora.gguf")
    build(ollama_double, tmp_path, "base", "from: ./tiny.gguf\n")
    build(ollama_double, tmp_path, "kid", "from: base\nadapters: [./lora.gguf]\nparameters: {temperature: 0.5}\n")
    kid = ollama_double.state.get("kid")
    assert kid is not None and len(kid.adapters) == 1
    line = f"ADAPTER {MODELS_DIR}/blobs/{kid.adapters[0].replace(':', '-')}"
    with OllamaClient(ollama_double.url) as client:
        assert line in client.show("kid")["modelfile"].splitlines()  # as the server writes it
    code, out, err = cli(ollama_double, tmp_path, "show", "kid", "--modelfile")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1] == "FROM base:latest" and lines[2] == line  # after FROM, where Ollama puts it
    assert "only on the server" not in err  # printed, so no warning that it is left out
    # A model that builds on itself carries its adapter through FROM: a comment, not a second ADAPTER.
    build(ollama_double, tmp_path, "solo", "from: ./tiny.gguf\nadapters: [./lora.gguf]\n")
    code, out, err = cli(ollama_double, tmp_path, "show", "solo", "--modelfile")
    assert code == 0, err
    assert "\nADAPTER " not in out and f"# {line}  (FROM solo:latest carries it)" in out


def test_two_licenses_stay_two(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    write_tiny_llama(tmp_path / "tiny.gguf")
    build(ollama_double, tmp_path, "base", "from: ./tiny.gguf\nlicense: Base terms\n")
    build(ollama_double, tmp_path, "two", "from: base\nlicense: [MIT text, Apache text]\n")
    code, out, err = cli(ollama_double, tmp_path, "import", "--model", "two", "-o", "imported.yaml")
    assert code == 0, err
    text = (tmp_path / "imported.yaml").read_text(encoding="utf-8")
    assert "license:\n- MIT text\n- Apache text\n" in text
    code, out, err = cli(ollama_double, tmp_path, "show", "two", "--modelfile")
    assert code == 0, err
    assert [x for x in out.splitlines() if x.startswith("LICENSE")] == ["LICENSE MIT text", "LICENSE Apache text"]
    # A rebuild of the imported profile under another name keeps one layer per license.
    (tmp_path / "again.yaml").write_text(text.replace("name: two", "name: again"), encoding="utf-8")
    code, out, err = cli(ollama_double, tmp_path, "build", "again.yaml", "-q")
    assert code == 0, err
    again = ollama_double.state.get("again")
    assert again is not None and again.license == ["Base terms", "MIT text", "Apache text"]
    code, out, err = cli(ollama_double, tmp_path, "plan", "imported.yaml")
    assert code == 0, out + err


def test_import_leaves_out_a_stored_value_no_profile_can_hold(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    ollama_double.install("llama3.2:1b")
    with OllamaClient(ollama_double.url) as client:  # the JSON API stores what it is sent
        list(client.create({"model": "big", "from": "llama3.2:1b", "parameters": {"num_ctx": "big", "top_k": -5,
                                                                                   "temperature": 0.3}}))  # fmt: skip
    code, out, err = cli(ollama_double, tmp_path, "import", "--model", "big", "-o", "big.yaml")
    assert code == 0, err
    assert (
        "parameters.num_ctx: stored parameter num_ctx = 'big' is not a value a profile can hold (invalid int "
        "value [big]): left out" in err
    )
    assert "parameters.top_k: stored parameter top_k = -5" in err
    text = (tmp_path / "big.yaml").read_text(encoding="utf-8")
    assert "num_ctx" not in text and "top_k" not in text and "temperature: 0.3" in text
    code, out, err = cli(ollama_double, tmp_path, "validate", "big.yaml")
    assert code == 0, out + err


def test_a_blob_path_parent_is_not_a_base() -> None:
    # Ollama 0.9.3 gives the weights blob's path as parent_model of a model from files.
    path = "/root/.ollama/models/blobs/sha256-" + "ab" * 32
    at = {"at": "http://127.0.0.1:11434", "base_dir": Path(".")}
    assert _base_name("m", {"details": {"parent_model": path}}, **at) is None
    assert _base_name("m", {"details": {"parent_model": "base:latest"}}, **at) == "base:latest"
    assert _base_name("m", {"details": {"parent_model": "tiny.gguf"}}, **at) is None
    # Only the server's own blob form is let through: any other path is still refused (exit 5).
    with pytest.raises(ServerError):
        _base_name("m", {"details": {"parent_model": "/root/.ollama/models/blobs/id_rsa"}}, **at)
