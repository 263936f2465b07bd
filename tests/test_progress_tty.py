"""Progress on a terminal (rich, under a pseudo-terminal) and never anywhere else.

On a TTY: the pull says the model and its size before its bytes flow, one bar per job with
bytes, speed and time left, colour unless ``NO_COLOR``. Piped: no progress, and rich is not
even imported (``python -X importtime`` says what was).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.fixtures_double import cli_env, run_on_tty
from tests.ollama_double import OllamaDouble

COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-7]|9[0-7]|38;5;\d+|38;2;[\d;]+)m")


def profiles(tmp_path: Path, *names: str) -> list[str]:
    out = []
    for n in names:
        p = tmp_path / f"{n}.yaml"
        p.write_text(f"name: chef-{n}\nfrom: llama3.2:3b\nparameters: {{temperature: 0.5}}\n", encoding="utf-8")
        out.append(str(p))
    return out


def test_rich_progress_on_a_terminal(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    env = {"MODELCTL_STATE_DIR": str(tmp_path / "state")}
    refs = profiles(tmp_path, "a", "b")
    code, out, tty = run_on_tty(["build", *refs, "--jobs", "2"], ollama_double.url, tmp_path, env, colour=True)
    assert code == 0, tty
    # one pull, said with the model and its size before its bytes flow; each job's lines named by it
    assert re.search(r"chef-[ab]: pulling llama3\.2:3b: 2\.0 GB", tty), tty
    assert "━" in tty and re.search(r"\d+(\.\d+)? [KMG]iB/s", tty), tty  # a bar with its speed
    assert COLOUR.search(tty), "colour on a terminal"
    # the per-profile lines and the summary are data: stdout (a pipe here)
    assert re.search(r"^chef-a +created +\d+\.\d s$", out, re.M), out
    assert re.search(r"^chef-b +created +\d+\.\d s$", out, re.M), out
    assert re.search(r"^2 built in \d+\.\d s$", out, re.M), out
    # NO_COLOR: the same progress, without colour
    code, out, tty = run_on_tty(
        ["build", *refs, "--force"], ollama_double.url, tmp_path, {**env, "NO_COLOR": "1"}, colour=True
    )
    assert code == 0 and "creating model" in tty
    assert not COLOUR.search(tty), repr(tty[:400])


def test_a_piped_build_never_imports_rich(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    ollama_double.install("llama3.2:3b")
    refs = profiles(tmp_path, "a")
    env = cli_env(ollama_double.url, {"MODELCTL_STATE_DIR": str(tmp_path / "state"), "PYTHONDONTWRITEBYTECODE": "1"})
    for extra in ([], ["--format", "json"], ["-q"]):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "modelctl", "build", *refs, *extra],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        imported = {
            line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")
        }
        assert "httpx" in imported  # it did talk to the server: the parse found real import lines
        assert not {m for m in imported if m.split(".")[0] in ("rich", "pygments")}, extra
