"""Builds writing one lock file at once keep every entry: the lock file is read, changed and
written under a cross-process lock, as builds.json is (modelctl.common.files.locked_by_name), whose
lock file lives in modelctl's state folder: nothing is left beside the user's lock file."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.fixtures_double import cli_env
from tests.ollama_double import OllamaDouble


def test_eight_builds_sharing_one_lock_file_keep_all_eight_entries(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    ollama_double.install("llama3.2:3b")
    n = 8
    for i in range(n):
        (tmp_path / f"m{i}.yaml").write_text(f"name: m{i}\nfrom: llama3.2:3b\nsystem: s{i}\n")
    env = {**cli_env(ollama_double.url), "MODELCTL_STATE_DIR": str(tmp_path / "state")}
    start = time.time() + 1.5
    # Each process waits for one start time, so that the reads and writes of the lock file overlap.
    go = (
        f"import runpy,time\nwhile time.time() < {start}: time.sleep(0.001)\n"
        "runpy.run_module('modelctl', run_name='__main__')"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", go, "build", f"m{i}.yaml", "--lock", "same.lock", "--quiet"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(n)
    ]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    data = json.loads((tmp_path / "same.lock").read_text())
    (models,) = [h["models"] for h in data["hosts"].values()]
    assert sorted(models) == [f"m{i}" for i in range(n)]
    assert not (tmp_path / "same.lock.lock").exists()  # nothing beside the file a repository commits
    assert len(list((tmp_path / "state" / "locks").glob("*.lock"))) == 1
