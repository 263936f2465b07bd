"""``plan --lock`` removals and ``build --prune`` against a real Ollama (marked `live`).

Written against Ollama 0.9.3 (tests/real_ollama.py). Models come from a tiny generated GGUF;
one is made by hand with the real CLI (``ollama create``) to prove pruning never touches a model
modelctl did not build, and one locked model is re-created by hand to prove a model changed since
the lock is kept without ``--force``. Every model created is deleted afterwards.

    pytest -m live --ollama-host http://127.0.0.1:11434 tests/test_live_prune.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures_live import create_model, unique
from tests.live_helpers import cli, ollama_create, tiny_gguf, write_profile

pytestmark = pytest.mark.live


def on_server(live_host: str) -> set[str]:
    from modelctl.ollama.server import OllamaClient

    with OllamaClient(live_host) as c:
        return {m["name"].removesuffix(":latest") for m in c.tags()["models"]}


def test_prune_removes_exactly_what_the_lock_says_modelctl_built_and_no_profile_makes(
    live_host: str, tmp_path: Path, live_names: list[str]
) -> None:
    base = unique("lib") + ":tiny"
    live_names.append(base)
    create_model(live_host, base, tiny_gguf(tmp_path))
    keep, gone, redone, hand = unique("keep"), unique("gone"), unique("redone"), unique("hand")
    live_names += [keep, gone, redone, hand]
    for name in (keep, gone, redone):
        write_profile(tmp_path, name, f"from: {base}\nsystem: made by modelctl as {name}\n")
    r = cli(live_host, tmp_path, "build", f"{keep}.yaml", f"{gone}.yaml", f"{redone}.yaml", "--lock", "modelctl.lock")
    assert r.code == 0, r.stderr
    lock = json.loads((tmp_path / "modelctl.lock").read_text())
    (entries,) = lock["hosts"].values()
    assert {m: e["profile"] for m, e in entries["models"].items()} == {n: f"{n}.yaml" for n in (keep, gone, redone)}

    # A model made by hand under another name; a locked one re-created by hand with other content.
    ollama_create(live_host, tmp_path, hand, f"FROM {base}\nSYSTEM made by hand\n")
    ollama_create(live_host, tmp_path, redone, f"FROM {base}\nSYSTEM re-made by hand\n")
    (tmp_path / f"{gone}.yaml").unlink()
    (tmp_path / f"{redone}.yaml").unlink()

    p = cli(live_host, tmp_path, "plan", f"{keep}.yaml", "--lock", "modelctl.lock")
    assert p.code == 3, p.stderr
    removals = {x["model"]: x for x in p.data["removals"]}
    assert set(removals) == {gone, redone}
    assert (removals[gone]["changed"], removals[redone]["changed"]) == (False, True)
    text = cli(live_host, tmp_path, "plan", f"{keep}.yaml", "--lock", "modelctl.lock", json_out=False)
    assert text.code == 3 and f"- remove {gone} (profile {gone}.yaml no longer exists)" in text.stdout

    dry = cli(live_host, tmp_path, "build", "--prune", "--dry-run", "--lock", "modelctl.lock")
    assert dry.code == 0, dry.stderr
    assert {gone, redone, keep, hand} <= on_server(live_host)

    pruned = cli(live_host, tmp_path, "build", "--prune", "--lock", "modelctl.lock")
    assert pruned.code == 0, pruned.stderr
    status = {x["model"]: x["status"] for x in pruned.data["prune"]["removals"]}
    assert status == {gone: "removed", redone: "kept"}
    models = on_server(live_host)
    assert gone not in models
    assert {keep, redone, hand} <= models  # the hand-made model, and the changed one without --force
    assert any(w["code"] == "prune_kept" and redone in w["message"] for w in pruned.doc["warnings"])
    locked = set(json.loads((tmp_path / "modelctl.lock").read_text())["hosts"][next(iter(lock["hosts"]))]["models"])
    assert locked == {keep, redone}

    forced = cli(live_host, tmp_path, "build", "--prune", "--force", "--lock", "modelctl.lock")
    assert forced.code == 0, forced.stderr
    assert [(x["model"], x["status"]) for x in forced.data["prune"]["removals"]] == [(redone, "removed")]
    models = on_server(live_host)
    assert redone not in models and {keep, hand} <= models
    assert cli(live_host, tmp_path, "plan", f"{keep}.yaml", "--lock", "modelctl.lock").code == 0
