"""The pre-commit hooks (.pre-commit-hooks.yaml), run the way pre-commit runs them.

pre-commit runs a hook's ``entry`` (split like a shell would), then its ``args``, then (unless
``pass_filenames: false``) the staged files that match ``files`` and ``types``, from the
repository's root. This test does that on a sample repository (git, no weights committed),
without pre-commit itself: it would install modelctl from the network into a virtualenv.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.fixtures_double import REPO_ROOT, cli_env

TYPES = {"yaml": (".yaml", ".yml"), "file": ("",)}


def hooks() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, list)
    for hook in data:
        assert {"id", "name", "entry", "language"} <= set(hook), hook  # what pre-commit requires of a hook
        assert hook["language"] == "python" and hook["entry"].startswith("modelctl ")
    return {h["id"]: h for h in data}


def staged(repo: Path) -> list[str]:
    out = subprocess.run(
        ["git", "diff", "--cached", "--name-only"], cwd=repo, capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def run_hook(hook: dict[str, Any], repo: Path) -> subprocess.CompletedProcess[str]:
    files = [
        f
        for f in staged(repo)
        if re.search(hook.get("files", ""), f)
        and not re.search(hook.get("exclude", "^$"), f)
        and all(f.endswith(TYPES[t]) for t in hook.get("types", ["file"]))
    ]
    argv = shlex.split(hook["entry"]) + list(hook.get("args", []))
    if hook.get("pass_filenames", True):
        argv += files
    assert argv[0] == "modelctl"
    return subprocess.run(
        [sys.executable, "-m", "modelctl", *argv[1:]], cwd=repo, capture_output=True, text=True, env=cli_env(None),
        timeout=60, check=False,
    )  # fmt: skip


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True, capture_output=True
    )


def sample_repository(tmp_path: Path) -> Path:
    repo = tmp_path / "kitchen"
    (repo / "profiles").mkdir(parents=True)
    (repo / "modelfiles").mkdir()
    (repo / "profiles" / "creative.yaml").write_text(
        "name: chef-creative\nfrom: llama3.2:3b\nparameters: {temperature: 1.1, num_ctx: 8192}\n", encoding="utf-8"
    )
    # weights are not committed: the hooks must not need them
    (repo / "profiles" / "local.yaml").write_text("from: ../models/tiny.gguf\nsystem: Short answers.\n")
    (repo / "README.md").write_text("a kitchen\n")
    git(repo, "init", "-q")
    proc = subprocess.run(
        [sys.executable, "-m", "modelctl", "render", "profiles/creative.yaml", "-o", "modelfiles/creative.Modelfile"],
        cwd=repo, capture_output=True, text=True, env=cli_env(None), check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    git(repo, "add", "-A")
    return repo


def test_hooks_pass_on_a_good_repository_and_fail_on_a_bad_one(tmp_path: Path) -> None:
    found = hooks()
    assert set(found) == {"modelctl-validate", "modelctl-render-check"}
    repo = sample_repository(tmp_path)
    for hook in found.values():
        proc = run_hook(hook, repo)
        assert proc.returncode == 0, (hook["id"], proc.stdout, proc.stderr)
    assert "ok      profiles/local.yaml" in run_hook(found["modelctl-validate"], repo).stdout
    # a typo in a profile: the validate hook fails naming file:line:column
    (repo / "profiles" / "creative.yaml").write_text(
        "name: chef-creative\nfrom: llama3.2:3b\nparameters: {temprature: 1.1, num_ctx: 8192}\n", encoding="utf-8"
    )
    git(repo, "add", "-A")
    proc = run_hook(found["modelctl-validate"], repo)
    assert proc.returncode == 1 and "profiles/creative.yaml:3:14: parameters.temprature" in proc.stderr
    # the profile changes but its committed Modelfile does not: the render-check hook fails with a diff
    (repo / "profiles" / "creative.yaml").write_text(
        "name: chef-creative\nfrom: llama3.2:3b\nparameters: {temperature: 0.9, num_ctx: 8192}\n", encoding="utf-8"
    )
    git(repo, "add", "-A")
    proc = run_hook(found["modelctl-render-check"], repo)
    assert (
        proc.returncode == 3
        and "-PARAMETER temperature 1.1" in proc.stdout
        and "+PARAMETER temperature 0.9" in proc.stdout
    )
