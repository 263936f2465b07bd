"""Writer for ``params``: the parameter reference."""

from __future__ import annotations

from modelctl.output import Result
from modelctl.output.text import Table
from modelctl.profile.params import CATALOGUE, REMOVED, Param, RemovedParam


def parameter_result(p: Param | RemovedParam) -> Result:
    if isinstance(p, RemovedParam):
        text = (
            f"{p.name}: removed in Ollama {p.removed_in}\n  use instead: {p.instead}\n"
            f"  ollama create today: {p.cli_behaviour}\n"
        )
        return Result(data=p.to_dict(), text=text)
    level = "load-time: changing it reloads the model" if p.level == "load" else "per request"
    text = f"{p.name}  ({p.type}, {level})\n  {p.meaning}\n  default: {p.default_note}\n  range:   {p.range_text}\n" + (
        f"  since:   Ollama {p.since}\n" if p.since else ""
    )
    return Result(data=p.to_dict(), text=text)


def removed_result() -> Result:
    rows = [(r.name, r.removed_in, r.instead, r.cli_behaviour) for r in REMOVED]
    return Result(
        data=[r.to_dict() for r in REMOVED],
        blocks=lambda: [Table(("name", "removed in", "use instead", "ollama create"), rows, wrap={2, 3})],
    )


def catalogue_result() -> Result:
    rows = [(p.name, p.type, p.default_note, p.range_text, p.level, p.meaning) for p in CATALOGUE]
    # Piped or written to a file, columns stay whole (a script reads every character); on a
    # terminal rich wraps the long ones.
    return Result(
        data=[p.to_dict() for p in CATALOGUE],
        blocks=lambda: [Table(("name", "type", "default", "range", "level", "meaning"), rows, wrap={2, 3, 5})],
    )
