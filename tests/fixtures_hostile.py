"""Helpers for the hostile-input tests (tests/test_hostile_*.py): the contract every refusal keeps
(design.md §6) and the odd kinds of file they feed modelctl.

* ``assert_refused(proc, code, *needles)``: the exit code, exactly one line on stderr holding
  every needle, no traceback, no "internal error"; returns the line.
* ``fifo``: a factory for named pipes nobody writes to; ``unix_socket``: a bound socket file.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

#: Seconds a hostile case may take in a subprocess before the test fails (a hang is a failure).
HANG = 30.0


def assert_refused(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "internal error" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture
def fifo(tmp_path: Path) -> Callable[[str], Path]:
    """``fifo(name)``: a named pipe in the test's folder that nobody ever writes to."""

    def make(name: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
        return path

    return make


@pytest.fixture
def unix_socket() -> Iterator[Callable[[str], Path]]:
    """``unix_socket(name)``: a listening Unix socket file (in a short folder: socket paths are short)."""
    folder = Path(tempfile.mkdtemp(prefix="mc-", dir="/tmp"))
    socks: list[socket.socket] = []

    def make(name: str) -> Path:
        path = folder / name
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(path))
        s.listen(1)
        socks.append(s)
        return path

    try:
        yield make
    finally:
        for s in socks:
            s.close()
        shutil.rmtree(folder, ignore_errors=True)
