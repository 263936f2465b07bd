"""Hostile lock files and arguments longer than a file name: exit 1, one line naming the file
and the place, never an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from modelctl.cli import cli
from modelctl.errors import SHOWN_NAME_CHARS

HOSTILE_LOCKS = {
    "deep": ("[" * 100_000 + "]" * 100_000, "deep.lock:1:65: the lock file nests lists or mappings more than 64"),
    "models_list": (
        '{"lock_version": 1, "hosts": {"h": {"models": []}}}',
        "models_list.lock: hosts.h: not a mapping with a `models` mapping",
    ),
    "parameters_list": (
        '{"lock_version": 1, "hosts": {"h": {"models": {"m": {"parameters": [1, 2]}}}}}',
        "parameters_list.lock: hosts.h.models.m.parameters: is an array, not a mapping",
    ),
    "context_list": (
        '{"lock_version": 1, "hosts": {"h": {"models": {"m": {"context": [1]}}}}}',
        "context_list.lock: hosts.h.models.m.context: is an array",
    ),
    "blobs_number": (
        '{"lock_version": 1, "hosts": {"h": {"models": {"m": {"base": {"blobs": 5}}}}}}',
        "blobs_number.lock: hosts.h.models.m.base.blobs: is a number, not a list of text",
    ),
    "huge_int": (
        '{"lock_version": 1,\n "hosts": {"h": {"models": {"m": {"context": {"trained": ' + "9" * 5000 + "}}}}}}",
        "huge_int.lock:2:58: the lock file has an integer of 5,000 digits",
    ),
    "huge_version": ('{"lock_version": ' + "9" * 5000 + ', "hosts": {}}', "huge_version.lock:1:18: the lock file"),
    "version_true": (
        '{"lock_version": true, "hosts": {}}',
        "version_true.lock: lock_version: lock_version true is not",
    ),
}


def invoke(tmp_path: Path, *args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, list(args), env={"MODELCTL_STATE_DIR": str(tmp_path / "state")})
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res.exit_code, res.stderr


@pytest.mark.parametrize("case", sorted(HOSTILE_LOCKS))
@pytest.mark.parametrize("command", ["plan", "build"])
def test_a_hostile_lock_file_is_exit_1_naming_the_file_and_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, command: str
) -> None:
    monkeypatch.chdir(tmp_path)
    text, expected = HOSTILE_LOCKS[case]
    Path(f"{case}.lock").write_text(text, encoding="utf-8")
    Path("m.yaml").write_text("name: m\nfrom: llama3.2:3b\n", encoding="utf-8")
    # The lock is read before any server is asked: a closed port is never reached.
    code, err = invoke(tmp_path, command, "m.yaml", "--lock", f"{case}.lock", "--host", "http://127.0.0.1:9")
    assert code == 1, err
    assert err.startswith(f"error: {expected}"), err
    assert "internal error" not in err and len(err.splitlines()) == 1


LONG = "a" * 300


@pytest.mark.parametrize(
    "args",
    [
        ["validate", LONG],
        ["validate", f"{LONG}.yaml"],
        ["build", "m.yaml", "--lock", LONG, "--host", "http://127.0.0.1:9"],
        ["plan", "m.yaml", "--lock", LONG, "--host", "http://127.0.0.1:9"],
        ["render", "m.yaml", "-o", LONG],
        ["render", "m.yaml", "--template", LONG],
        ["import", LONG],
        ["show", LONG, "--host", "http://127.0.0.1:9"],
        ["estimate", LONG],
        ["render", "m.yaml", "--check", LONG],
        ["compare", "m.yaml", "--sweep", "temperature=0.1", "--prompt", "x", "--save-best", f"{LONG}.yaml"],
    ],
    ids=lambda a: "-".join(x for x in a if x != LONG and not x.startswith("http"))[:40],
)
def test_an_argument_longer_than_a_file_name_is_a_plain_error_echoed_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("m.yaml").write_text("name: m\nfrom: llama3.2:3b\n", encoding="utf-8")
    code, err = invoke(tmp_path, *args)
    assert code == 1, err
    assert "internal error" not in err and "OSError" not in err and len(err.splitlines()) == 1, err
    assert LONG[:SHOWN_NAME_CHARS] not in err, err  # never echoed whole
    name = err.removeprefix("error: ").split(": ")[0]
    assert name.startswith("a" * 20) and len(name) <= SHOWN_NAME_CHARS, err


def test_the_json_envelope_names_a_too_long_argument_cut_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["validate", LONG, "--format", "json"])
    assert res.exit_code == 1
    (error,) = json.loads(res.stdout)["errors"]
    assert error["code"] == "name_too_long" and len(error["file"]) <= SHOWN_NAME_CHARS
    assert error["file"].startswith("a" * 20)
