"""Class 9 of issue 10: build records across processes.

builds.json is read, changed and written under a file lock (flock on builds.json.lock), so two
processes recording at once never drop each other's records.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from modelctl.jobs import build as build_module
from modelctl.jobs.build import BuildRecords
from tests.fixtures_double import REPO_ROOT, cli_env, run_cli
from tests.ollama_double import OllamaDouble

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from modelctl.jobs.build import BuildRecords
    path, tag, n, start = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    while time.time() < start:  # both writers begin together
        time.sleep(0.001)
    records = BuildRecords(path)
    for i in range(n):
        records.put(f"sha256:{tag}-{i}", {"name": f"{tag}-{i}", "fingerprint": "f"})
    """
)


def test_two_processes_recording_at_once_drop_nothing(tmp_path: Path) -> None:
    import time

    path = tmp_path / "state" / "builds.json"
    n = 150
    start = time.time() + 1.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), tag, str(n), str(start)],
            env=cli_env(None),
            cwd=REPO_ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for tag in ("a", "b")
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    data = json.loads(path.read_text())
    assert len(data) == 2 * n
    assert {f"sha256:{t}-{i}" for t in "ab" for i in range(n)} == set(data)
    assert (tmp_path / "state" / "builds.json.lock").exists()


def test_two_build_commands_at_once_keep_every_record(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    state = tmp_path / "state"
    for i in range(6):
        (tmp_path / f"m{i}.yaml").write_text(f"name: m{i}\nfrom: llama3.2:3b\nsystem: s{i}\n")
    ollama_double.install("llama3.2:3b")
    env = {**cli_env(ollama_double.url), "MODELCTL_STATE_DIR": str(state)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "modelctl", "build", *[f"m{i}.yaml" for i in group], "--quiet"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for group in ((0, 2, 4), (1, 3, 5))
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    names = sorted(r["name"] for r in json.loads((state / "builds.json").read_text()).values())
    assert names == [f"m{i}" for i in range(6)]
    again = run_cli("build", "m0.yaml", host=ollama_double.url, env={"MODELCTL_STATE_DIR": str(state)}, cwd=tmp_path)
    assert again.returncode == 0 and "up to date" in again.stdout


def test_records_are_kept_where_file_locks_do_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fcntl", None)  # `import fcntl` now fails, as on Windows
    records = BuildRecords(tmp_path / "builds.json")
    records.put("sha256:x", {"name": "x"})
    entry = records.get("sha256:x")
    assert entry is not None and entry["name"] == "x"
    assert not (tmp_path / "builds.json.lock").exists()


def test_an_unwritable_state_folder_never_fails_a_build(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the folder should be")
    records = BuildRecords(blocker / "builds.json")
    records.put("sha256:x", {"name": "x"})  # no exception: a record only saves a rebuild
    assert records.get("sha256:x") is None
    assert build_module.BuildRecords.MAX_ENTRIES >= 1000


def test_a_records_file_over_its_cap_is_ignored_then_rewritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "builds.json"
    BuildRecords(path).put("sha256:old", {"name": "old"})
    assert BuildRecords(path).get("sha256:old") is not None
    monkeypatch.setenv("MODELCTL_MAX_RECORDS_BYTES", str(path.stat().st_size - 1))
    assert BuildRecords(path).get("sha256:old") is None  # not read past the cap
    monkeypatch.delenv("MODELCTL_MAX_RECORDS_BYTES")
    BuildRecords(path).put("sha256:new", {"name": "new"})
    assert BuildRecords(path).get("sha256:new") is not None


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_in_place_of_the_records_file_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "builds.json"
    os.mkfifo(path)
    assert BuildRecords(path).get("sha256:x") is None  # returns at once: a FIFO would block a plain read
