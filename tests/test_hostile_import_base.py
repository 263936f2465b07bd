"""`import --model`: a server's answer never becomes a local path.

`details.parent_model` is written as the profile's `from`; a `from` a profile reads as a file is
hashed and uploaded by `build`. So a parent that is not a valid model name (types/model/name.go
in ollama v0.9.3), or that a profile would read as a file, is a malformed answer: exit 5 naming
the server, and no profile written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures_double import run_cli
from tests.fixtures_hostile import HANG, assert_refused
from tests.ollama_double import OllamaDouble


@pytest.mark.parametrize(
    "parent",
    [
        "/home/u/.ssh/id_rsa",
        "../../etc/passwd",
        "~/.ssh/id_rsa",
        "./secret",
        "weights.pth",  # a valid model name that a profile reads as a local file
        "a/b/c/d",
        "bad name\r\n::error::x",
    ],
)
def test_a_parent_model_that_is_no_model_name_is_refused(
    ollama_double: OllamaDouble, tmp_path: Path, parent: str
) -> None:
    model = ollama_double.install("llama3.2:3b", as_name="chef")
    model.details["parent_model"] = parent
    out = tmp_path / "chef.yaml"
    proc = run_cli("import", "--model", "chef", "-o", str(out), host=ollama_double.url, timeout=HANG)
    line = assert_refused(proc, 5, ollama_double.host, "details.parent_model", "chef")
    assert "\r" not in line
    assert not out.exists()


def test_a_parent_naming_a_file_beside_the_profile_is_refused(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    # `secret` is a valid model name, but a profile beside a file of that name reads `from: secret`
    # as that file (as `ollama create` would): never on the server's word.
    (tmp_path / "secret").write_text("private\n", encoding="utf-8")
    ollama_double.install("llama3.2:3b", as_name="chef").details["parent_model"] = "secret"
    out = tmp_path / "chef.yaml"
    proc = run_cli("import", "--model", "chef", "-o", str(out), host=ollama_double.url, timeout=HANG)
    assert_refused(proc, 5, ollama_double.host, "'secret'")
    assert not out.exists()


def test_a_valid_parent_model_is_still_the_base(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    ollama_double.install("llama3.2:3b")
    full = "registry.ollama.ai/library/llama3.2:3b"
    ollama_double.install("llama3.2:3b", as_name="chef").details["parent_model"] = full
    proc = run_cli("import", "--model", "chef", host=ollama_double.url, timeout=HANG)
    assert proc.returncode == 0, proc.stderr
    assert "from: registry.ollama.ai/library/llama3.2:3b" in proc.stdout
