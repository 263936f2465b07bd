"""Fixtures for end-to-end tests against the Ollama API double (tests/ollama_double.py).

* ``ollama_double``: a fresh double per test (starts and stops in milliseconds), with
  ``.url``, ``.host``, ``.state`` (models, blobs, runners, registry, knobs, ``faults``),
  ``.install(name)`` and ``.stop()`` (later connections are refused).
* ``run_cli``: run ``python -m modelctl ...`` in a subprocess against a host.
* ``closed_port_url``: a loopback URL nothing listens on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.ollama_double import OllamaDouble, closed_port_url

REPO_ROOT = Path(__file__).resolve().parent.parent

RunCli = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def ollama_double() -> Iterator[OllamaDouble]:
    d = OllamaDouble().start()
    try:
        yield d
    finally:
        d.close()


@pytest.fixture(name="closed_port_url")
def _closed_port_url() -> str:
    return closed_port_url()


def cli_env(host: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a CLI subprocess: OLLAMA_HOST set, no debug, no stray auth."""
    env = {k: v for k, v in os.environ.items()}
    for k in ("MODELCTL_DEBUG", "OLLAMA_HOST", "OLLAMA_API_KEY", "MODELCTL_HEADERS"):
        env.pop(k, None)
    if host is not None:
        env["OLLAMA_HOST"] = host
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("NO_COLOR", "1")
    env.update(extra or {})
    return env


def run_cli(
    *args: str,
    host: str | None = None,
    input: str | None = None,  # noqa: A002 - mirrors subprocess.run
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """``sys.executable -m modelctl *args`` with ``OLLAMA_HOST=host``; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "modelctl", *args],
        input=input,
        capture_output=True,
        text=True,
        env=cli_env(host, env),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def run_on_tty(
    args: list[str], host: str, cwd: str | os.PathLike[str], env: dict[str, str], *, colour: bool = False
) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal (40 x 160); (exit code, stdout, what the terminal
    saw). ``colour``: without the suite's default NO_COLOR, on an xterm."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    full = cli_env(host, env)
    if colour and "NO_COLOR" not in env:
        full.pop("NO_COLOR", None)
        full["TERM"] = "xterm-256color"
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelctl", *args], stdout=subprocess.PIPE, stderr=slave, env=full, cwd=cwd
    )
    os.close(slave)
    seen = b""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        seen += data
    out = proc.stdout.read().decode() if proc.stdout else ""
    code = proc.wait(timeout=60)
    os.close(master)
    return code, out, seen.decode("utf-8", "replace")


@pytest.fixture(name="run_cli")
def _run_cli() -> RunCli:
    return run_cli


def invoke_in(double: OllamaDouble, folder: Path, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of a command run in-process through click's runner, in ``folder``,
    against ``double``, with its own state folder there."""
    from click.testing import CliRunner

    from modelctl.cli import cli as main

    env = {"MODELCTL_STATE_DIR": str(folder / "state"), "OLLAMA_HOST": double.url}
    old = os.getcwd()
    os.chdir(folder)
    try:
        res = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    finally:
        os.chdir(old)
    return res.exit_code, res.stdout, res.stderr
