"""``plan --lock`` removals and ``build --prune`` end to end against the Ollama double.

A model is pruned only when the lock says modelctl built it on that host from a profile file
that no longer exists or no longer makes that name; see modelctl/jobs/prune.py and docs/lock.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fixtures_double import run_cli
from tests.ollama_double import OllamaDouble


def cli(d: OllamaDouble | None, cwd: Path, *args: str) -> tuple[int, Any, str, str]:
    """(exit code, the JSON envelope or None, stdout, stderr) of ``modelctl ARGS`` in ``cwd``."""
    p = run_cli(*args, host=d.url if d else None, cwd=cwd, env={"MODELCTL_STATE_DIR": str(cwd / ".state")})
    doc = json.loads(p.stdout) if "--format" in args and p.stdout.strip() else None
    return p.returncode, doc, p.stdout, p.stderr


def setup(d: OllamaDouble, tmp_path: Path, *names: str) -> None:
    d.install("llama3.2:3b")
    for n in names:
        (tmp_path / f"{n}.yaml").write_text(f"name: {n}\nfrom: llama3.2:3b\nsystem: {n}\n")
    code, _, _, err = cli(d, tmp_path, "build", *(f"{n}.yaml" for n in names), "--lock", "modelctl.lock")
    assert code == 0, err


def locked(tmp_path: Path) -> dict[str, set[str]]:
    data = json.loads((tmp_path / "modelctl.lock").read_text())
    return {k: set(h["models"]) for k, h in data["hosts"].items()}


def test_plan_lists_a_deleted_profiles_model_and_exits_3(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    setup(ollama_double, tmp_path, "a", "b")
    code, _, out, err = cli(ollama_double, tmp_path, "plan", "a.yaml", "--lock", "modelctl.lock")
    assert code == 0, out + err  # b.yaml still makes b: naming only a.yaml marks nothing
    (tmp_path / "b.yaml").unlink()
    code, _, out, err = cli(ollama_double, tmp_path, "plan", "a.yaml", "--lock", "modelctl.lock")
    assert code == 3
    assert "- remove b (profile b.yaml no longer exists)" in out
    assert "1 to remove (lock) — drift" in out
    assert "1 locked model(s) that no profile makes any more (b)" in err
    code, doc, _, _ = cli(ollama_double, tmp_path, "plan", "a.yaml", "--lock", "modelctl.lock", "--format", "json")
    assert code == 3 and doc["data"]["drift"] is True
    assert [(r["model"], r["profile"], r["status"]) for r in doc["data"]["removals"]] == [("b", "b.yaml", "planned")]


def test_a_renamed_model_is_listed_and_pruned_and_the_new_name_built(
    ollama_double: OllamaDouble, tmp_path: Path
) -> None:
    setup(ollama_double, tmp_path, "a", "b")
    (tmp_path / "b.yaml").write_text("name: b2\nfrom: llama3.2:3b\nsystem: b\n")
    code, _, out, _ = cli(ollama_double, tmp_path, "plan", "a.yaml", "b.yaml", "--lock", "modelctl.lock")
    assert code == 3 and "- remove b (profile b.yaml now makes b2)" in out
    code, doc, _, err = cli(
        ollama_double, tmp_path, "build", "a.yaml", "b.yaml", "--prune", "--lock", "modelctl.lock", "--format", "json"
    )
    assert code == 0, err
    assert [(r["model"], r["status"]) for r in doc["data"]["prune"]["removals"]] == [("b", "removed")]
    assert ollama_double.state.get("b") is None and ollama_double.state.get("b2") is not None
    assert locked(tmp_path) == {ollama_double.url: {"a", "b2"}}


def test_dry_run_lists_and_removes_nothing(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    setup(ollama_double, tmp_path, "a", "b")
    (tmp_path / "b.yaml").unlink()
    before = (tmp_path / "modelctl.lock").read_text()
    code, _, out, err = cli(ollama_double, tmp_path, "build", "--prune", "--dry-run", "--lock", "modelctl.lock")
    assert code == 0, err
    assert "dry run: nothing removed" in out and "- remove b" in out
    assert ollama_double.state.get("b") is not None
    assert (tmp_path / "modelctl.lock").read_text() == before


def test_a_model_not_in_the_lock_is_never_touched_whatever_its_name(
    ollama_double: OllamaDouble, tmp_path: Path
) -> None:
    setup(ollama_double, tmp_path, "a")
    ollama_double.install("llama3.2:3b", as_name="b")  # a model modelctl did not build
    (tmp_path / "a.yaml").unlink()
    code, doc, _, err = cli(ollama_double, tmp_path, "build", "--prune", "--lock", "modelctl.lock", "--format", "json")
    assert code == 0, err
    assert [r["model"] for r in doc["data"]["prune"]["removals"]] == ["a"]
    assert ollama_double.state.get("a") is None and ollama_double.state.get("b") is not None
    assert ollama_double.state.get("llama3.2:3b") is not None


def test_a_model_changed_since_the_lock_is_kept_unless_force(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    setup(ollama_double, tmp_path, "a", "b")
    (tmp_path / "b.yaml").write_text("name: b\nfrom: llama3.2:3b\nsystem: changed by hand\n")
    code, _, _, err = cli(ollama_double, tmp_path, "build", "b.yaml")  # rebuilt without --lock: another digest
    assert code == 0, err
    (tmp_path / "b.yaml").unlink()
    code, _, out, err = cli(ollama_double, tmp_path, "build", "--prune", "--lock", "modelctl.lock")
    assert code == 0, err
    assert "= kept b" in out and "kept unless --force" in out
    assert "warning:" in err and "b on" in err
    assert ollama_double.state.get("b") is not None and locked(tmp_path) == {ollama_double.url: {"a", "b"}}
    code, _, out, err = cli(ollama_double, tmp_path, "build", "--prune", "--force", "--lock", "modelctl.lock")
    assert code == 0, err
    assert ollama_double.state.get("b") is None and locked(tmp_path) == {ollama_double.url: {"a"}}


def test_an_old_lock_entry_without_profile_is_never_pruned_one_warning(
    ollama_double: OllamaDouble, tmp_path: Path
) -> None:
    setup(ollama_double, tmp_path, "a", "b", "c")
    data = json.loads((tmp_path / "modelctl.lock").read_text())
    for m in ("b", "c"):
        del data["hosts"][ollama_double.url]["models"][m]["profile"]  # as an older lock
    (tmp_path / "modelctl.lock").write_text(json.dumps(data))
    for m in ("b", "c"):
        (tmp_path / f"{m}.yaml").unlink()
    code, _, out, err = cli(ollama_double, tmp_path, "plan", "a.yaml", "--lock", "modelctl.lock")
    assert code == 0, out + err
    assert err.count("record no profile file") == 1 and "never pruned (b, c)" in err
    code, _, _, err = cli(ollama_double, tmp_path, "build", "--prune", "--lock", "modelctl.lock")
    assert code == 0 and ollama_double.state.get("b") is not None and ollama_double.state.get("c") is not None


def test_prune_needs_a_lock(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    code, _, _, err = cli(ollama_double, tmp_path, "build", "--prune")
    assert code == 2 and "--prune needs --lock FILE" in err
    assert "Traceback" not in err


def test_a_fleet_judges_each_hosts_entries_for_that_host(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    other = OllamaDouble().start()
    try:
        for d in (ollama_double, other):
            d.install("llama3.2:3b")
        for n in ("a", "b"):
            (tmp_path / f"{n}.yaml").write_text(f"name: {n}\nfrom: llama3.2:3b\nsystem: {n}\n")
        inv = tmp_path / "fleet.yaml"
        inv.write_text(f"hosts:\n  ws:\n    url: {ollama_double.url}\n    profiles: [a.yaml]\n  gpu: {other.url}\n")
        code, _, _, err = cli(None, tmp_path, "build", "--hosts", "fleet.yaml", "a.yaml", "b.yaml", "--lock", "L")
        assert code == 0, err
        (tmp_path / "b.yaml").unlink()
        code, doc, _, _ = cli(
            None, tmp_path, "plan", "--hosts", "fleet.yaml", "a.yaml", "--lock", "L", "--format", "json"
        )
        assert code == 3
        removals = {h["host"]: [r["model"] for r in h["result"]["removals"]] for h in doc["data"]["hosts"]}
        assert removals == {"ws": [], "gpu": ["b"]}
        code, doc, _, err = cli(None, tmp_path, "build", "--hosts", "fleet.yaml", "--prune", "--lock", "L",
                                "--format", "json")  # fmt: skip
        assert code == 0, err
        assert [(r["host"], r["model"], r["status"]) for r in doc["data"]["prune"]["removals"]] == [
            ("gpu", "b", "removed")
        ]
        assert other.state.get("b") is None and other.state.get("a") is not None
        assert ollama_double.state.get("a") is not None
        assert {k: set(h["models"]) for k, h in json.loads((tmp_path / "L").read_text())["hosts"].items()} == {
            "ws": {"a"}, "gpu": {"a"},
        }  # fmt: skip
    finally:
        other.close()
