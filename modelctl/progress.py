"""Progress display for long server operations (pull, blob upload, create, quantize).

Only on a terminal: status lines and a byte progress bar go to stderr, and nothing at all
is shown in JSON mode, with ``--quiet`` or when stderr is not a TTY (CI logs and pipes
stay clean). Standard library only; safe to call from several build threads at once.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import IO, Any

from modelctl.output import human_bytes

# Redraw a bar at most this often (seconds); status lines are printed when they change. With
# several builds at once, bars of different jobs share the terminal and each switch starts a
# new line, so they are redrawn less often.
_REDRAW_INTERVAL = 0.1
_REDRAW_INTERVAL_MULTI = 1.0
_BAR_WIDTH = 24


def should_show(fmt: str = "text", quiet: bool = False, stream: IO[str] | None = None) -> bool:
    """Whether progress belongs on ``stream`` (stderr by default)."""
    if quiet or fmt != "text":
        return False
    target = stream if stream is not None else sys.stderr
    try:
        return bool(target.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def render_bar(label: str, completed: int, total: int | None, width: int = _BAR_WIDTH) -> str:
    """One line: ``label  42% [#########...............]  420.00 MiB/1.00 GiB``."""
    if total and total > 0:
        frac = max(0.0, min(1.0, completed / total))
        filled = int(round(frac * width))
        bar = "#" * filled + "." * (width - filled)
        return f"{label} {int(frac * 100):3d}% [{bar}] {human_bytes(completed)}/{human_bytes(total)}"
    return f"{label} {human_bytes(completed)}"


class Progress:
    """Status lines and byte bars for one or more concurrent jobs.

    ``prefix`` (the model name) is put in front of every line when several builds run at
    once, so interleaved lines stay readable. A disabled instance does nothing, which lets
    the core call it unconditionally.
    """

    def __init__(self, enabled: bool, stream: IO[str] | None = None) -> None:
        self.enabled = enabled
        self.stream: IO[str] = stream if stream is not None else sys.stderr
        self._lock = threading.Lock()
        self._open_bar: str | None = None  # key of the bar drawn on the current line
        self._last_draw: dict[str, float] = {}
        self._last_status: dict[str, str] = {}
        self._width = self._terminal_width()

    def _terminal_width(self) -> int:
        try:
            return max(40, os.get_terminal_size(self.stream.fileno()).columns)
        except (AttributeError, ValueError, OSError):
            return 100

    def job(self, prefix: str | None = None) -> JobProgress:
        return JobProgress(self, prefix)

    # -- drawing (all under the lock) ------------------------------------------------
    def _end_bar_line(self) -> None:
        if self._open_bar is not None:
            self.stream.write("\n")
            self._open_bar = None

    def _write_line(self, text: str) -> None:
        self._end_bar_line()
        self.stream.write(text[: self._width - 1] + "\n")
        self.stream.flush()

    def status(self, key: str, text: str) -> None:
        if not self.enabled:
            return
        with self._lock:
            if self._last_status.get(key) == text:
                return
            self._last_status[key] = text
            self._write_line(text)

    def bar(
        self,
        key: str,
        label: str,
        completed: int,
        total: int | None,
        *,
        force: bool = False,
        interval: float = _REDRAW_INTERVAL,
    ) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        with self._lock:
            done = bool(total) and completed >= (total or 0)
            last = self._last_draw.get(key)
            if not force and not done and last is not None and now - last < interval:
                return
            self._last_draw[key] = now
            if self._open_bar is not None and self._open_bar != key:
                self._end_bar_line()
            line = render_bar(label, completed, total)[: self._width - 1]
            self.stream.write("\r" + line + "\x1b[K")
            self._open_bar = key
            if done:
                self.stream.write("\n")
                self._open_bar = None
                self._last_draw.pop(key, None)
            self.stream.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._end_bar_line()
            self.stream.flush()


class JobProgress:
    """The view of :class:`Progress` one build uses: lines carry its prefix."""

    def __init__(self, parent: Progress, prefix: str | None) -> None:
        self.parent = parent
        self.prefix = prefix

    @property
    def enabled(self) -> bool:
        return self.parent.enabled

    def _p(self, text: str) -> str:
        return f"{self.prefix}: {text}" if self.prefix else text

    def status(self, text: str) -> None:
        self.parent.status(self.prefix or "", self._p(text))

    def bar(self, key: str, label: str, completed: int, total: int | None) -> None:
        interval = _REDRAW_INTERVAL_MULTI if self.prefix else _REDRAW_INTERVAL
        self.parent.bar(f"{self.prefix}|{key}", self._p(label), completed, total, interval=interval)

    def stream_event(self, event: dict[str, Any]) -> None:
        """Show one NDJSON progress object from /api/pull or /api/create.

        Objects with a byte count (layer downloads, quantization, GGUF validation) become a
        bar; the others are status lines, printed once each.
        """
        if not self.enabled:
            return
        status = str(event.get("status") or "")
        total = event.get("total")
        completed = event.get("completed")
        digest = str(event.get("digest") or "")
        if isinstance(total, int) and total > 0:
            label = status or (f"pulling {digest[7:19]}" if digest.startswith("sha256:") else "working")
            done = completed if isinstance(completed, int) else 0
            self.bar(digest or status, label, done, total)
        elif status:
            self.status(status)


NULL_PROGRESS = Progress(False)
