"""Shared helpers of the live tour (tests/test_live_tour.py, tests/test_live_fleet.py): the CLI
with its JSON envelope, profiles beside a tiny generated GGUF, and the real Ollama CLI
(``ollama-lib``, the provisioned install) for what Ollama itself creates."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import real_ollama
from tests.fixtures_double import run_cli
from tests.fixtures_gguf import write_tiny_llama
from tests.fixtures_live import REAL_OLLAMA_INSTALL

TRAINED = 2048


@dataclass
class Out:
    code: int
    doc: Any  # the JSON envelope (None for text output or an empty stdout)
    stdout: str
    stderr: str

    @property
    def data(self) -> Any:
        return self.doc["data"]


def cli(host: str | None, cwd: Path, *args: str, json_out: bool = True, input: str | None = None) -> Out:  # noqa: A002
    """``modelctl ARGS`` in ``cwd`` against ``host`` (with ``--format json`` unless told not to)."""
    argv = [*args, "--format", "json"] if json_out else list(args)
    env = {"MODELCTL_STATE_DIR": str(cwd / ".state")}
    proc = run_cli(*argv, host=host, env=env, cwd=cwd, input=input, timeout=180)
    doc = json.loads(proc.stdout) if json_out and proc.stdout.strip() else None
    return Out(proc.returncode, doc, proc.stdout, proc.stderr)


def tiny_gguf(folder: Path, name: str = "tiny.gguf", **kw: Any) -> Path:
    path = folder / name
    if not path.exists():
        write_tiny_llama(path, context_length=TRAINED, **kw)
    return path


def write_profile(folder: Path, name: str, body: str) -> Path:
    """``folder/NAME.yaml`` with ``name: NAME`` and ``body`` (dedented)."""
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\n" + textwrap.dedent(body), encoding="utf-8")
    return path


def ollama(host: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real Ollama CLI (``ollama-lib ARGS``) of the provisioned install, talking to ``host``."""
    install = REAL_OLLAMA_INSTALL
    if not real_ollama.is_provisioned(install):
        pytest.skip(f"no real Ollama CLI provisioned in {install}: run `python -m tests.real_ollama provision`")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OLLAMA_")}
    env.update(OLLAMA_HOST=host, LD_LIBRARY_PATH=str(install / "lib"))
    proc = subprocess.run(
        [str(real_ollama.binary(install)), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"ollama {' '.join(args)}: {proc.stderr}"
    return proc


def ollama_create(host: str, cwd: Path, name: str, modelfile: str) -> None:
    """``ollama create NAME -f Modelfile`` with the real CLI."""
    path = cwd / f"{name.replace(':', '_').replace('/', '_')}.Modelfile"
    path.write_text(modelfile, encoding="utf-8")
    ollama(host, cwd, "create", name, "-f", str(path))
