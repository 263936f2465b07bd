"""Progress on a terminal, drawn from the core's events (modelctl.events).

Only on a terminal: status lines and progress bars go to stderr, and nothing at all is
shown in JSON mode, with ``--quiet`` or when stderr is not a TTY (CI logs and pipes stay
clean). One class draws every kind of progress: build steps and byte transfers (several
builds at once get their model name in front of each line) and the cells of a compare
matrix. Standard library only; safe to call from several threads at once.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import IO

from modelctl.events import CellDone, Event, Status, Transfer
from modelctl.units import human_bytes

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


def render_cells(done: int, total: int, elapsed: float, failed: int, width: int = 28) -> str:
    """``compare [#####.....] 12/40  ETA 0:05  2 failing``."""
    frac = done / total if total else 1.0
    filled = int(frac * width)
    eta = elapsed / done * (total - done) if done else 0.0
    mins, secs = divmod(int(eta + 0.5), 60)
    fail = f"  {failed} failing" if failed else ""
    return f"compare [{'#' * filled}{'.' * (width - filled)}] {done}/{total}  ETA {mins}:{secs:02d}{fail}"


class Progress:
    """Draws events on a terminal stream; a disabled instance ignores them.

    Use it as the ``on_event`` of a job: ``Progress(should_show(fmt, quiet))``.
    """

    def __init__(self, enabled: bool, stream: IO[str] | None = None, *, cell_bar_width: int = 28) -> None:
        self.enabled = enabled
        self.stream: IO[str] = stream if stream is not None else sys.stderr
        self._lock = threading.Lock()
        self._open_bar: str | None = None  # key of the bar drawn on the current line
        self._last_draw: dict[str, float] = {}
        self._last_status: dict[str, str] = {}
        self._width = self._terminal_width()
        self._cell_bar_width = cell_bar_width
        self._started = time.monotonic()
        self._failed_cells = 0

    def _terminal_width(self) -> int:
        try:
            return max(40, os.get_terminal_size(self.stream.fileno()).columns)
        except (AttributeError, ValueError, OSError):
            return 100

    def __call__(self, event: Event) -> None:
        if not self.enabled:
            return
        if isinstance(event, Status):
            self.status(event.job or "", event.text if event.job is None else f"{event.job}: {event.text}")
        elif isinstance(event, Transfer):
            interval = _REDRAW_INTERVAL_MULTI if event.job else _REDRAW_INTERVAL
            label = event.label if event.job is None else f"{event.job}: {event.label}"
            self.bar(f"{event.job}|{event.key}", label, event.completed, event.total, interval=interval)
        elif isinstance(event, CellDone):
            self.cells(event)

    # -- drawing (all under the lock) ------------------------------------------------
    def _end_bar_line(self) -> None:
        if self._open_bar is not None:
            self.stream.write("\n")
            self._open_bar = None

    def status(self, key: str, text: str) -> None:
        """A status line, printed once per change of ``key``'s status."""
        with self._lock:
            if self._last_status.get(key) == text:
                return
            self._last_status[key] = text
            self._end_bar_line()
            self.stream.write(text[: self._width - 1] + "\n")
            self.stream.flush()

    def bar(
        self, key: str, label: str, completed: int, total: int | None, *, interval: float = _REDRAW_INTERVAL
    ) -> None:
        """A byte bar redrawn in place (at most every ``interval`` seconds, and when done)."""
        now = time.monotonic()
        with self._lock:
            done = bool(total) and completed >= (total or 0)
            last = self._last_draw.get(key)
            if not done and last is not None and now - last < interval:
                return
            self._last_draw[key] = now
            if self._open_bar is not None and self._open_bar != key:
                self._end_bar_line()
            self.stream.write("\r" + render_bar(label, completed, total)[: self._width - 1] + "\x1b[K")
            self._open_bar = key
            if done:
                self.stream.write("\n")
                self._open_bar = None
                self._last_draw.pop(key, None)
            self.stream.flush()

    def cells(self, event: CellDone) -> None:
        with self._lock:
            self._failed_cells += event.failed
            line = render_cells(
                event.done, event.total, time.monotonic() - self._started, self._failed_cells, self._cell_bar_width
            )
            self.stream.write("\r" + line)
            self._open_bar = "cells"
            self.stream.flush()

    def close(self) -> None:
        """End an open bar line (a cell counter is erased: the report follows)."""
        if not self.enabled:
            return
        with self._lock:
            if self._open_bar == "cells":
                self.stream.write("\r\033[K")
                self._open_bar = None
            self._end_bar_line()
            self.stream.flush()
