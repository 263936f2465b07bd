"""``modelctl outdated``'s text, JSON and GitHub annotations."""

from __future__ import annotations

from modelctl.errors import Diagnostic
from modelctl.jobs.outdated import BaseCheck, OutdatedResult
from modelctl.output import Result
from modelctl.output.annotations import github


def _short(digest: str | None) -> str:
    return (digest or "?").removeprefix("sha256:")[:12]


def _message(b: BaseCheck) -> str:
    uses = ", ".join(f"{u.model} on {u.host}" + (f" ({u.profile})" if u.profile else "") for u in b.uses)
    moved = f"{_short(b.locked)} → {_short(b.current)}"
    return f"base {b.name} changed on its registry since the lock: {moved}; used by {uses}"


def outdated_result(result: OutdatedResult, fmt: str = "text") -> Result:
    changed = result.changed
    if fmt == "github":
        notes = [(Diagnostic("base_outdated", _message(b), file=result.lock, line=1), "warning") for b in changed]
        return Result(data=result.to_dict(), text=lambda: github(notes), exit_code=result.exit_code())
    lines = [f"~ {_message(b)}" for b in changed]
    n = len(result.bases)
    lines.append(
        f"{len(changed)} of {n} base(s) changed since {result.lock}"
        if changed
        else f"every base is current ({n} checked in {result.lock})"
    )
    return Result(data=result.to_dict(), text="".join(line + "\n" for line in lines), exit_code=result.exit_code())
