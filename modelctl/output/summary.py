"""Output for many profiles and many hosts: one design for ``build``, ``plan``, ``show`` and ``compare``.

While a run goes: one line per profile as it finishes (the model, what happened, the time it
took); at the end one summary line. Across several hosts each line starts with the host, and
a host x profile table says what happened where::

    chef-creative          created      1.2 s
    chef-precise           up to date   0.1 s
    4 built, 12 up to date, 1 failed in 9.8 s

    profile        workstation  staging     gpu-box
    -------------  -----------  ----------  -------
    chef-creative  created      up to date  failed
    2 built, 3 up to date, 1 failed on 3 hosts in 2.4 s

Tables go through ``output.text.table`` (the one place terminal tables are drawn).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from modelctl.common.events import Event, EventSink, ProfileDone
from modelctl.common.units import elapsed
from modelctl.errors import Diagnostic, JobResult
from modelctl.output import Result
from modelctl.output.text import table

if TYPE_CHECKING:  # validate's writer imports this module: the fleet job (and its HTTP client) stays unloaded
    from modelctl.jobs.fleet import Fleet

R = TypeVar("R", bound=JobResult)

#: The order of the words of a summary line ("built" counts "created" and "changed" together).
ORDER = (
    "built", "created", "changed", "up to date", "in sync", "missing", "planned", "found", "not built", "failed",
)  # fmt: skip
HOST_WIDTH = 12  # a host's column in live lines (longer names push the rest along)
NAME_WIDTH = 24  # a model's column
STATUS_WIDTH = 11


def profile_line(model: str, status: str, seconds: float | None = None, host: str | None = None) -> str:
    """``[host  ]model  status  1.2 s``."""
    head = f"{host.ljust(HOST_WIDTH)}  " if host else ""
    took = f"  {elapsed(seconds)}" if seconds is not None else ""
    return f"{head}{model.ljust(NAME_WIDTH)}  {status.ljust(STATUS_WIDTH)}{took}".rstrip()


def summary_line(
    counts: Mapping[str, int],
    *,
    seconds: float | None = None,
    hosts: int | None = None,
    built: bool = False,
    skipped: int = 0,
) -> str:
    """``4 built, 12 up to date, 1 failed[, 2 skipped (abstract)][ on 3 hosts] in 9.8 s``."""
    counts = dict(counts)
    if built:
        n = counts.pop("created", 0) + counts.pop("changed", 0)
        if n:
            counts["built"] = n
    parts = [f"{counts[w]} {w}" for w in ORDER if counts.get(w)]
    parts += [f"{n} {w}" for w, n in counts.items() if w not in ORDER and n]
    if skipped:
        parts.append(f"{skipped} skipped (abstract)")
    text = ", ".join(parts) or "nothing to do"
    if hosts is not None and hosts > 1:
        text += f" on {hosts} hosts"
    if seconds is not None:
        text += f" in {elapsed(seconds)}"
    return text


def host_table(cells: Iterable[Any], hosts: Sequence[str]) -> str:
    """Rows: each profile's model; columns: the hosts; a cell: what happened to it there."""
    grid: dict[str, dict[str, str]] = {}
    for c in cells:
        model = "(the host)" if c.model == "*" else c.model
        grid.setdefault(model, {})[c.host] = c.status
    rows = [[model, *(row.get(h, "-") for h in hosts)] for model, row in grid.items()]
    return table(["profile", *hosts], rows)


class LinePrinter:
    """Prints a :class:`~modelctl.common.events.ProfileDone` line as each profile of several finishes, through
    ``echo`` (above the progress bars when they are drawn); one profile alone gets its report instead.
    ``printed`` says whether any line went."""

    def __init__(self, enabled: bool, echo: Callable[[str], None]) -> None:
        self.enabled = enabled
        self.echo = echo
        self.printed = False

    def __call__(self, event: Event) -> None:
        if self.enabled and isinstance(event, ProfileDone) and (event.of > 1 or event.host):
            self.echo(profile_line(event.model, event.status, event.elapsed, event.host))
            self.printed = True


def named(label: str, d: Diagnostic) -> Diagnostic:
    """A diagnostic of one host's run, its message led by the host's name."""
    return Diagnostic(d.code, f"{label}: {d.message}", d.file, d.line, d.column, d.field)


def fleet_result(fleet: Fleet[R], one: Callable[[R], Result], text: Callable[[], str]) -> Result:
    """The writer of a run on hosts: one host is ``one(result)`` (the one-host output, exactly);
    several are ``text``, every host's data, and every host's diagnostics named by the host (a host that
    failed as a whole: its error)."""
    if not fleet.many:
        if fleet.runs[0].error is not None:
            raise fleet.runs[0].error
        single = one(fleet.only)
        single.warnings[:0] = fleet.warnings
        return single
    warnings: list[Diagnostic] = list(fleet.warnings)
    errors: list[Diagnostic] = []
    data: dict[int, Any] = {}
    for run in fleet.runs:
        if run.error is not None:
            errors.append(named(run.label, run.error.diagnostic()))
        if run.result is not None:
            res = one(run.result)
            data[id(run.result)] = res.data
            warnings += [named(run.label, w) for w in res.warnings]
            errors += [named(run.label, e) for e in res.errors]
    return Result(
        data=fleet.to_dict(lambda r: data[id(r)]),
        text=text,
        exit_code=fleet.exit_code(),
        warnings=warnings,
        errors=errors,
    )


def fan_out(*sinks: EventSink) -> EventSink:
    """One event sink feeding several (the progress display and the per-profile lines)."""

    def sink(event: Event) -> None:
        for s in sinks:
            s(event)

    return sink
