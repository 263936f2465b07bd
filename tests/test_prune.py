"""The prune rule (modelctl.jobs.prune): which lock entries are stale, and what pruning does to them.

A lock entry is stale when its profile file is gone or no longer makes its model; only stale
entries are ever removed, a model changed since the lock is kept unless --force, and a model
not in the lock is never touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from modelctl.jobs.lock import Lock, LockEntry, read_lock
from modelctl.jobs.prune import Removal, drop_entries, judge, prune_on
from modelctl.ollama.session import HostSession

KEY = "http://gpu:11434"


def entry(model: str, profile: str | None, digest: str | None = "d-" + "x") -> LockEntry:
    return LockEntry(model, profile, digest, "fp", None, {}, {}, None, None, None, {})


def write_lock(tmp_path: Path, entries: list[LockEntry]) -> Lock:
    lock = Lock(tmp_path / "modelctl.lock")
    for e in entries:
        lock.put(KEY, "0.9.3", e)
    lock.write()
    return read_lock(lock.path)


def tags(**digests: str) -> dict[str, Any]:
    return {"models": [{"name": f"{m}:latest", "digest": d} for m, d in digests.items()]}


# (case, profile files present {path: text}, lock entries, models on the server, stale models)
CASES: list[tuple[str, dict[str, str], list[LockEntry], dict[str, str], list[str]]] = [
    ("file gone", {}, [entry("b", "profiles/b.yaml")], {"b": "d-x"}, ["b"]),
    ("file renames the model", {"profiles/b.yaml": "name: b2\nfrom: x:1b\n"},
     [entry("b", "profiles/b.yaml")], {"b": "d-x"}, ["b"]),
    ("file still makes it (whatever the command line names)", {"profiles/b.yaml": "name: b\nfrom: x:1b\n"},
     [entry("b", "profiles/b.yaml")], {"b": "d-x"}, []),
    ("name from the file's stem", {"profiles/b.yaml": "from: x:1b\n"}, [entry("b", "profiles/b.yaml")], {"b": "d-x"},
     []),
    ("file now abstract", {"profiles/b.yaml": "abstract: true\n"}, [entry("b", "profiles/b.yaml")], {"b": "d-x"},
     ["b"]),
    ("old entry without a profile", {}, [entry("b", None)], {"b": "d-x"}, []),
    ("model not in the lock", {}, [], {"hand-made": "d-y"}, []),
    ("renamed with the same name in another case and tag", {"b.yaml": "name: B:latest\nfrom: x:1b\n"},
     [entry("b", "b.yaml")], {"b": "d-x"}, []),
]  # fmt: skip


@pytest.mark.parametrize(("case", "files", "entries", "server", "stale"), CASES, ids=[c[0] for c in CASES])
def test_which_entries_are_stale(
    tmp_path: Path, case: str, files: dict[str, str], entries: list[LockEntry], server: dict[str, str], stale: list[str]
) -> None:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    lock = write_lock(tmp_path, entries)
    removals, _notes = judge(lock, KEY, tags(**server))
    assert [r.model for r in removals] == stale, case


def test_old_entries_give_one_warning_saying_why(tmp_path: Path) -> None:
    lock = write_lock(tmp_path, [entry("a", None), entry("b", None), entry("c", "gone.yaml")])
    removals, notes = judge(lock, KEY, tags(a="d-x", b="d-x", c="d-x"))
    assert [r.model for r in removals] == ["c"]
    assert [n.code for n in notes] == ["prune_no_profile"]
    assert "2 lock entries" in notes[0].message and "older modelctl" in notes[0].message
    assert "a, b" in notes[0].message


def test_an_unreadable_profile_is_kept_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("name: [unclosed\n")
    lock = write_lock(tmp_path, [entry("b", "b.yaml")])
    removals, notes = judge(lock, KEY, tags(b="d-x"))
    assert removals == []
    assert [n.code for n in notes] == ["prune_unreadable"]


def test_the_profile_path_is_relative_to_the_lock_folder_not_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "b.yaml").write_text("name: b\nfrom: x:1b\n")
    lock = write_lock(tmp_path / "repo", [entry("b", "b.yaml")])
    monkeypatch.chdir(tmp_path)  # another folder: b.yaml is not here
    assert judge(lock, KEY, tags(b="d-x"))[0] == []


def test_each_host_is_judged_on_its_own_entries(tmp_path: Path) -> None:
    lock = Lock(tmp_path / "modelctl.lock")
    lock.put("gpu-a", None, entry("b", "gone.yaml"))
    lock.put("gpu-b", None, entry("c", "gone.yaml"))
    lock.write()
    lock = read_lock(lock.path)
    assert [r.model for r in judge(lock, "gpu-a", tags(b="d-x", c="d-x"))[0]] == ["b"]
    assert judge(lock, "gpu-c", tags(b="d-x"))[0] == []


def test_digest_changed_and_not_on_server() -> None:
    same = Removal(KEY, "b", "b.yaml", "gone", "d-x", "d-x", on_server=True)
    other = Removal(KEY, "b", "b.yaml", "gone", "d-x", "d-y", on_server=True)
    no_digest = Removal(KEY, "b", "b.yaml", "gone", None, "d-y", on_server=True)
    absent = Removal(KEY, "b", "b.yaml", "gone", "d-x", None, on_server=False)
    assert (same.changed, other.changed, no_digest.changed, absent.changed) == (False, True, True, False)
    assert "kept unless --force" in other.note()


class FakeSession:
    """What prune_on asks of a session: the key, the model list, and deletes (recorded)."""

    def __init__(self, listing: dict[str, Any]) -> None:
        self.key = KEY
        self.display_host = KEY
        self.listing = listing
        self.deleted: list[str] = []
        self.client = self

    def tags(self, *, refresh: bool = False) -> dict[str, Any]:
        return self.listing

    def delete(self, model: str) -> None:
        self.deleted.append(model)

    def forget(self, model: str) -> None:
        pass


# (case, server digest of b (None: not there), force, dry run, deleted, status)
PRUNE_CASES: list[tuple[str, str | None, bool, bool, list[str], str]] = [
    ("unchanged: removed", "d-x", False, False, ["b"], "removed"),
    ("digest changed: kept", "d-y", False, False, [], "kept"),
    ("digest changed, --force: removed", "d-y", True, False, ["b"], "removed"),
    ("not on the server: only the entry goes", None, False, False, [], "dropped"),
    ("dry run: nothing removed", "d-x", False, True, [], "planned"),
]


@pytest.mark.parametrize(("case", "digest", "force", "dry", "deleted", "status"), PRUNE_CASES,
                         ids=[c[0] for c in PRUNE_CASES])  # fmt: skip
def test_prune_on(
    tmp_path: Path, case: str, digest: str | None, force: bool, dry: bool, deleted: list[str], status: str
) -> None:
    (tmp_path / "a.yaml").write_text("name: a\nfrom: x:1b\n")
    lock = write_lock(tmp_path, [entry("a", "a.yaml"), entry("b", "b.yaml")])
    server = {"a": "d-x", "hand-made": "d-z", **({"b": digest} if digest else {})}
    session = FakeSession(tags(**server))
    result = prune_on(cast(HostSession, session), lock, dry_run=dry, force=force)
    assert session.deleted == deleted, case
    assert [(r.model, r.status) for r in result.removals] == [("b", status)]
    assert ("prune_kept" in [n.code for n in result.notes]) == (status == "kept")
    drop_entries(lock.path, result.removals)
    left = set(read_lock(lock.path).hosts[KEY].models)
    assert left == ({"a"} if status in ("removed", "dropped") else {"a", "b"})


def test_an_entry_rewritten_meanwhile_is_not_dropped(tmp_path: Path) -> None:
    lock = write_lock(tmp_path, [entry("b", "b.yaml", "d-x")])
    removal = Removal(KEY, "b", "b.yaml", "gone", "d-x", "d-x", on_server=True, status="removed")
    write_lock(tmp_path, [entry("b", "b.yaml", "d-new")])  # another build wrote it again
    drop_entries(lock.path, [removal])
    assert set(read_lock(lock.path).hosts[KEY].models) == {"b"}
