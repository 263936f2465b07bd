"""Running the CLI on a pseudo-terminal (Python's ``pty``), as a person at a terminal would.

:class:`PtyProcess` starts ``python -m modelctl ...`` (or any code) with a pty as its
controlling terminal, so stdin/stdout/stderr are a terminal, Ctrl-C (``\\x03``) reaches it as
SIGINT through the line discipline, and Ctrl-D (``\\x04``) is end of input. ``expect`` reads
until a text appears (the timeout only guards against a hang; no test measures time).
``rich_modules_probe`` is a ``-c`` program that runs the CLI and writes, at exit, which rich
modules it imported to the file named by its first argument.
"""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time
from collections.abc import Sequence

from tests.fixtures_double import cli_env

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\r")

#: ``python -c`` code: run modelctl with argv[2:], and at exit write the rich modules loaded to argv[1].
RICH_PROBE = (
    "import atexit, sys; out = sys.argv.pop(1); "
    "rich = lambda: ' '.join(sorted(m for m in sys.modules if m.split('.')[0] == 'rich')); "
    "atexit.register(lambda: open(out, 'w').write(rich())); "
    "from modelctl.cli import main; sys.argv[0] = 'modelctl'; main()"
)


def plain(text: str) -> str:
    """``text`` without terminal escape sequences and carriage returns."""
    return _ANSI.sub("", text)


class PtyProcess:
    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str],
        cwd: str | os.PathLike[str] | None = None,
        columns: int = 100,
        rows: int = 40,
    ) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: the pty is its controlling terminal
            try:
                if cwd is not None:
                    os.chdir(cwd)
                os.execvpe(argv[0], list(argv), env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.output = ""
        self.status: int | None = None

    @classmethod
    def modelctl(
        cls, *args: str, host: str | None = None, env: dict[str, str] | None = None, **kwargs: object
    ) -> PtyProcess:
        extra = {"TERM": "xterm-256color", **(env or {})}
        full = cli_env(host, extra)
        if "NO_COLOR" not in extra:  # cli_env turns colour off for captured output; a terminal has it
            full.pop("NO_COLOR", None)
        return cls([sys.executable, "-m", "modelctl", *args], env=full, **kwargs)  # type: ignore[arg-type]

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError as exc:  # EIO: the child closed the terminal
            if exc.errno != errno.EIO:
                raise
            data = b""
        if not data:
            return False
        self.output += data.decode("utf-8", "replace")
        return True

    def expect(self, text: str, *, since: int = 0, timeout: float = 30.0) -> int:
        """Read until ``text`` appears in the plain output after offset ``since``; its end offset."""
        deadline = time.monotonic() + timeout
        while True:
            found = plain(self.output).find(text, since)
            if found >= 0:
                return found + len(text)
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not seen; output so far:\n{plain(self.output)}")
            if not self._read(0.2) and plain(self.output).find(text, since) < 0:
                raise AssertionError(f"{text!r} not seen before the end; output:\n{plain(self.output)}")

    def send(self, text: str) -> None:
        os.write(self.fd, text.encode("utf-8"))

    def wait(self, timeout: float = 60.0) -> int:
        """Read to the end; the exit status (128 + N when killed by signal N)."""
        deadline = time.monotonic() + timeout
        while self._read(0.2):
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"still running; output so far:\n{plain(self.output)}")
        _, status = os.waitpid(self.pid, 0)
        self.status = os.waitstatus_to_exitcode(status)
        os.close(self.fd)
        return self.status if self.status >= 0 else 128 - self.status

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
