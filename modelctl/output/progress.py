"""Progress on a terminal, drawn with rich from the core's events (modelctl.common.events).

Only on a terminal: status lines and progress bars go to stderr, and nothing at all is shown
in JSON mode, with ``--quiet``, when stderr is not a TTY (CI logs and pipes stay clean) or
when ``TERM=dumb``; rich is imported only then (output/term.py), never for ``--help``, JSON,
``-q`` or piped output. ``NO_COLOR`` turns colour off.

One bar per job running at once (a build of several profiles with ``--jobs``, or several
hosts): its current step, bytes done of the total, speed and time left; status lines
(``chef: pulling llama3.2:3b: 2.0 GB``, ``creating model``) are printed above the bars and
stay. A compare matrix gets one bar of cells done, with its ETA and failures. Safe to call
from several threads at once.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import IO, TYPE_CHECKING, Any

from modelctl.common import escape
from modelctl.common.events import CellDone, Event, ProfileDone, Status, Transfer
from modelctl.common.units import human_bytes
from modelctl.output.term import console

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID


def should_show(fmt: str = "text", quiet: bool = False, stream: IO[str] | None = None) -> bool:
    """Whether progress belongs on ``stream`` (stderr by default)."""
    if quiet or fmt != "text" or os.environ.get("TERM") == "dumb":
        return False
    target = stream if stream is not None else sys.stderr
    try:
        return bool(target.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _rich_progress(stream: IO[str]) -> RichProgress:
    """A rich Progress on ``stream``: description, bar, amount, speed, time left (rich imported here)."""
    from rich.progress import BarColumn, ProgressColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as RichProgress
    from rich.text import Text

    class Amount(ProgressColumn):
        """``1.20 GiB/2.00 GiB`` for bytes, ``12/40`` for cells, nothing for a step without a total."""

        def render(self, task: Any) -> Text:
            if task.total is None:
                return Text("")
            if task.fields.get("unit") == "cells":
                return Text(f"{int(task.completed)}/{int(task.total)}")
            return Text(f"{human_bytes(task.completed)}/{human_bytes(task.total)}")

    class Speed(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            if speed is None or task.total is None:
                return Text("")
            if task.fields.get("unit") == "cells":
                return Text(f"{speed:.1f} cells/s")
            return Text(f"{human_bytes(speed)}/s")

    return RichProgress(
        TextColumn("{task.description}", markup=False),
        BarColumn(bar_width=24),
        Amount(),
        Speed(),
        TimeRemainingColumn(),
        console=console(stream),
        transient=True,  # the bars go when the run ends; the status lines above them stay
        redirect_stdout=False,  # stdout is data: never drawn into the terminal's stderr display
        redirect_stderr=False,
        refresh_per_second=8,
    )


class Progress:
    """Draws events on a terminal stream; a disabled instance ignores them.

    Use it as the ``on_event`` of a job: ``Progress(should_show(fmt, quiet))``; ``close()`` at the end.
    """

    def __init__(self, enabled: bool, stream: IO[str] | None = None) -> None:
        self.enabled = enabled
        self.stream: IO[str] = stream if stream is not None else sys.stderr
        self._lock = threading.RLock()
        self._bars: RichProgress | None = None
        self._tasks: dict[str, TaskID] = {}  # job -> its bar
        self._transfer: dict[str, str] = {}  # job -> the transfer its bar shows
        self._last_status: dict[str, str] = {}
        self._failed_cells = 0

    @property
    def live(self) -> bool:
        return self._bars is not None

    def __call__(self, event: Event) -> None:
        if not self.enabled:
            return
        with self._lock:
            if isinstance(event, Status):
                self._status(event)
            elif isinstance(event, Transfer):
                self._transfer_event(event)
            elif isinstance(event, CellDone):
                self._cells(event)
            elif isinstance(event, ProfileDone):
                # a job is named by its model, and by its host when there are several ("host model", or
                # just "host" for a host's only profile)
                for key in (f"{event.host} {event.model}", event.host) if event.host else (event.model,):
                    self._done(key)

    # -- drawing (under the lock) -------------------------------------------------------
    def _progress(self) -> RichProgress:
        if self._bars is None:
            self._bars = _rich_progress(self.stream)
            self._bars.start()
        return self._bars

    def echo(self, text: str) -> None:
        """A line above the bars (or plainly, when none are drawn)."""
        with self._lock:
            if self._bars is not None:
                self._bars.refresh()  # the bars under the line show where things are now, not at the last tick
                self._bars.console.print(text, markup=False, highlight=False, soft_wrap=True)
            else:
                self.stream.write(text + "\n")
                self.stream.flush()

    def _status(self, event: Status) -> None:
        key = event.job or ""
        text = escape.line(event.text if event.job is None else f"{event.job}: {event.text}")
        if self._last_status.get(key) == text:
            return
        self._last_status[key] = text
        self.echo(text)
        task = self._tasks.get(key)
        if task is not None and self._bars is not None:  # the job moved on: its bar shows the step, no bytes
            self._bars.remove_task(task)
            self._tasks[key] = self._bars.add_task(text, total=None, unit="bytes")
            self._transfer.pop(key, None)

    def _transfer_event(self, event: Transfer) -> None:
        key = event.job or ""
        label = escape.line(event.label if event.job is None else f"{event.job}: {event.label}")
        bars = self._progress()
        task = self._tasks.get(key)
        if task is None:
            self._tasks[key] = bars.add_task(label, total=event.total, completed=event.completed, unit="bytes")
        elif self._transfer.get(key) != event.key:  # the next layer or file: a fresh bar, a fresh speed
            bars.reset(task, total=event.total, completed=event.completed, description=label)
        else:
            bars.update(task, completed=event.completed, total=event.total)
        self._transfer[key] = event.key

    def _cells(self, event: CellDone) -> None:
        self._failed_cells += event.failed
        bars = self._progress()
        failing = f"  {self._failed_cells} failing" if self._failed_cells else ""
        task = self._tasks.get("cells")
        if task is None:
            task = self._tasks["cells"] = bars.add_task("compare", total=event.total, unit="cells")
        bars.update(task, completed=event.done, total=event.total, description=f"compare{failing}")

    def _done(self, key: str) -> None:
        task = self._tasks.pop(key, None)
        self._transfer.pop(key, None)
        if task is not None and self._bars is not None:
            self._bars.remove_task(task)

    def close(self) -> None:
        """Take the bars off the terminal (the status lines stay)."""
        with self._lock:
            if self._bars is not None:
                self._bars.stop()
                self._bars = None
                self._tasks.clear()
