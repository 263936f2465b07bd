"""Confined (--confine, $MODELCTL_CONFINE), an inventory reads only the environment variables
$MODELCTL_ALLOW_ENV names: one committed to a repository could otherwise send any variable
(`${GITHUB_TOKEN}`) to any URL it names. Every command that reads an inventory, with or
without a --confine flag of its own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelctl.cli import cli
from tests.ollama_double import OllamaDouble

SECRET = "ghp-this-must-not-travel"


def inventory(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(
        f"hosts:\n  a:\n    url: {url}\n    headers:\n      X-Trace: fixed\n"
        '      Authorization: "Bearer ${GITHUB_TOKEN}"\n',
        encoding="utf-8",
    )
    return path


def invoke(tmp_path: Path, *args: str, env: dict[str, str]) -> tuple[int, str, str]:
    full = {"MODELCTL_STATE_DIR": str(tmp_path / "state"), "GITHUB_TOKEN": SECRET, **env}
    res = CliRunner().invoke(cli, list(args), env=full, catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


def sent(d: OllamaDouble) -> set[str | None]:
    return {r["headers"].get("Authorization") for r in d.state.requests}


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("ps",), {"MODELCTL_CONFINE": "1"}),  # ps has no --confine flag: the variable confines it
        (("ls",), {"MODELCTL_CONFINE": "yes"}),
        (("ls", "--confine"), {}),
        (("show", "llama3.2:3b", "--confine"), {}),
        (("ls",), {"MODELCTL_CONFINE": "1", "MODELCTL_ALLOW_ENV": "OLLAMA_API_KEY, OTHER"}),
    ],
)
def test_a_confined_inventory_reads_no_variable_it_is_not_allowed(
    ollama_double: OllamaDouble,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    env: dict[str, str],
) -> None:
    monkeypatch.delenv("MODELCTL_CONFINE", raising=False)
    ollama_double.install("llama3.2:3b")
    inv = inventory(tmp_path, ollama_double.url)
    try:
        code, _out, err = invoke(tmp_path, *args, "--hosts", str(inv), env=env)
    finally:
        os.environ.pop("MODELCTL_CONFINE", None)  # --confine sets it for the process
    assert code == 1, err
    assert err.startswith(
        f"error: {inv}:6:22: hosts.a.headers.Authorization: header Authorization reads the environment variable "
        "GITHUB_TOKEN, which MODELCTL_ALLOW_ENV does not name"
    ), err
    assert SECRET not in err and not ollama_double.state.requests  # nothing sent anywhere


def test_a_confined_inventory_reads_the_variables_allowed(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    ollama_double.install("llama3.2:3b")
    inv = inventory(tmp_path, ollama_double.url)
    env = {"MODELCTL_CONFINE": "1", "MODELCTL_ALLOW_ENV": "OTHER,GITHUB_TOKEN"}
    code, out, err = invoke(tmp_path, "ls", "--hosts", str(inv), env=env)
    assert code == 0, err
    assert "llama3.2:3b" in out and sent(ollama_double) == {f"Bearer {SECRET}"}


def test_unconfined_an_inventory_reads_its_variables_as_before(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    inv = inventory(tmp_path, ollama_double.url)
    code, _out, err = invoke(tmp_path, "ps", "--hosts", str(inv), env={"MODELCTL_CONFINE": "0"})
    assert code == 0, err
    assert sent(ollama_double) == {f"Bearer {SECRET}"}
