"""Typed events that long jobs report while they run.

The core never prints: ``build``, ``run`` and ``compare`` take an ``on_event`` callable and
call it with these objects; the command line shows them (modelctl.output.progress), a
library user may log them, collect them or ignore them. Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from modelctl.errors import Diagnostic


@dataclass(frozen=True)
class Status:
    """A step of one job: ``pulling llama3.2:3b``, ``creating model``, ``up to date``."""

    text: str
    job: str | None = None  # the model being built, when several run at once


@dataclass(frozen=True)
class Transfer:
    """Bytes moved so far (hashing, uploading, pulling, quantizing); ``key`` names one transfer."""

    key: str
    label: str
    completed: int
    total: int | None
    job: str | None = None


@dataclass(frozen=True)
class Token:
    """A piece of a streamed answer, in order."""

    text: str


@dataclass(frozen=True)
class Notice:
    """A warning worth showing before the job ends (e.g. before an answer streams)."""

    diagnostic: Diagnostic


@dataclass(frozen=True)
class CellDone:
    """One cell of a compare matrix finished (``failed``: a server error or a failed assertion)."""

    done: int
    total: int
    failed: bool


@dataclass(frozen=True)
class ProfileDone:
    """One profile finished on one host: what happened (``created``, ``changed``, ``up to date``,
    ``failed``...), in how many seconds, and the error's message for a failure."""

    model: str
    status: str
    elapsed: float
    host: str | None = None  # the host's label when several run at once
    error: str | None = None
    of: int = 1  # profiles in the run (on this host)


Event = Status | Transfer | Token | Notice | CellDone | ProfileDone
EventSink = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """The default sink: a library call that passes no ``on_event`` sees nothing."""


def progress_event(obj: Mapping[str, object], job: str | None = None) -> Event | None:
    """One NDJSON object of ``/api/pull`` or ``/api/create`` as an event.

    Objects with a byte count (layer downloads, quantization, GGUF validation) are transfers,
    keyed by their digest; the others are status lines.
    """
    status = obj.get("status")
    status = status if isinstance(status, str) else ""
    total = obj.get("total")
    completed = obj.get("completed")
    digest = obj.get("digest")
    digest = digest if isinstance(digest, str) else ""
    if isinstance(total, int) and not isinstance(total, bool) and total > 0:
        label = status or (f"pulling {digest[7:19]}" if digest.startswith("sha256:") else "working")
        done = completed if isinstance(completed, int) and not isinstance(completed, bool) else 0
        return Transfer(digest or status, label, done, total, job)
    return Status(status, job) if status else None
