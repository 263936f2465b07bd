"""`--confine` (and MODELCTL_CONFINE): local files named by a profile must stay inside its
repository (the nearest folder holding .git, or an explicit root), links followed."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelctl.common.files import confinement_root, repository_root
from modelctl.errors import ModelctlError
from modelctl.profile.profile import load_profile
from tests.fixtures_double import run_cli
from tests.fixtures_gguf import write_tiny_llama
from tests.fixtures_hostile import HANG, assert_refused


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """tmp/repo (a git repository with profiles/) and tmp/outside.gguf beside it."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "profiles").mkdir()
    write_tiny_llama(root / "inside.gguf")
    write_tiny_llama(tmp_path / "outside.gguf")
    (tmp_path / "outside.yaml").write_text("from: llama3.2\n")
    return root


def check(repo: Path, profile: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    (repo / "profiles" / "p.yaml").write_text(profile)
    proc = run_cli(*args, "profiles/p.yaml", cwd=repo, env=env, timeout=HANG)
    return proc.returncode, proc.stderr


@pytest.mark.parametrize(
    ("profile", "where"),
    [
        ("from: ../../outside.gguf\n", "p.yaml:1:7: from:"),
        ("from: ../inside.gguf\nadapters: [../../outside.gguf]\n", "p.yaml:2:12: adapters[0]:"),
        ("extends: ../../outside.yaml\n", "p.yaml:1:10: extends:"),
        ("from: /etc\n", "p.yaml:1:7: from:"),
        ("from: ../inside.gguf\ndraft: ../../outside.gguf\n", "p.yaml:2:8: draft:"),
        ("from: ../inside.gguf\nprojector: ../../outside.gguf\n", "p.yaml:2:12: projector[0]:"),
    ],
)
def test_local_files_outside_the_repository_are_refused(
    repo: Path, profile: str, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "profiles" / "p.yaml").write_text(profile)
    monkeypatch.chdir(repo)
    try:
        load_profile("profiles/p.yaml")
    except ModelctlError as exc:
        assert "outside" not in exc.message  # not confined by default
    proc = run_cli("validate", "profiles/p.yaml", "--confine", cwd=repo, timeout=HANG)
    assert_refused(proc, 1, where, f"outside {repo}", "--confine")


@pytest.mark.parametrize("command", ["render", "estimate", "build", "plan", "show", "run", "compare"])
def test_every_command_that_reads_profiles_confines(repo: Path, command: str) -> None:
    (repo / "profiles" / "p.yaml").write_text("from: ../../outside.gguf\n")
    extra = ("a prompt",) if command == "run" else ()
    proc = run_cli(command, "profiles/p.yaml", *extra, "--confine", cwd=repo, timeout=HANG)
    assert_refused(proc, 1, "p.yaml:1:7: from:", "--confine")


def test_the_environment_variable_confines_too(repo: Path) -> None:
    code, err = check(repo, "from: ../../outside.gguf\n", "validate", env={"MODELCTL_CONFINE": "1"})
    assert code == 1 and "--confine" in err


def test_files_inside_the_repository_are_fine(repo: Path) -> None:
    (repo / "profiles" / "base.yaml").write_text("from: ../inside.gguf\n")
    code, err = check(repo, "extends: base.yaml\nparameters: {num_ctx: 64}\n", "validate", "--confine")
    assert code == 0, err


def test_a_link_inside_the_repository_to_a_file_outside_is_refused(repo: Path) -> None:
    (repo / "link.gguf").symlink_to(repo.parent / "outside.gguf")
    code, err = check(repo, "from: ../link.gguf\n", "validate", "--confine")
    assert code == 1 and "link.gguf (a link to " in err and "outside.gguf) is outside" in err
    assert "outside" not in check(repo, "from: ../link.gguf\n", "validate")[1]


def test_build_refuses_a_from_folder_whose_files_leave_the_repository(repo: Path) -> None:
    model = repo / "model"
    model.mkdir()
    write_tiny_llama(model / "weights.gguf")
    code, err = check(repo, "from: ../model\n", "build", "--dry-run", "--confine")
    assert code == 0, err
    (repo / "other").mkdir()
    (repo / "other" / "x.gguf").symlink_to(repo.parent / "outside.gguf")
    code, err = check(repo, "from: ../other/x.gguf\n", "build", "--dry-run", "--confine")
    assert code == 1 and "--confine" in err


def test_an_explicit_root(repo: Path) -> None:
    env = {"MODELCTL_CONFINE": str(repo / "profiles")}
    code, err = check(repo, "from: ../inside.gguf\n", "validate", env=env)
    assert code == 1 and f"outside {repo / 'profiles'}" in err
    env = {"MODELCTL_CONFINE": str(repo.parent)}
    assert check(repo, "from: ../../outside.gguf\n", "validate", env=env)[0] == 0
    code, err = check(repo, "from: llama3.2\n", "validate", env={"MODELCTL_CONFINE": str(repo / "nope")})
    assert code == 1 and "not a folder" in err


def test_the_repository_root(tmp_path: Path) -> None:
    worktree = tmp_path / "wt"
    (worktree / "a" / "b").mkdir(parents=True)
    (worktree / ".git").write_text("gitdir: /elsewhere\n")  # a git worktree has a .git file
    assert repository_root(worktree / "a" / "b") == worktree.resolve()
    bare = tmp_path / "bare" / "x"
    bare.mkdir(parents=True)
    assert repository_root(bare) == bare.resolve()  # no repository: the profile's own folder


def test_confinement_is_off_unless_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("", "0", "no", "off"):
        monkeypatch.setenv("MODELCTL_CONFINE", value)
        assert confinement_root(tmp_path) is None
