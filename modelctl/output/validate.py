"""Writer for ``validate``: one line per profile."""

from __future__ import annotations

from modelctl.errors import ExitCode
from modelctl.output import Result
from modelctl.validate import Validation


def validation_result(v: Validation, exit_code: ExitCode, *, quiet: bool = False) -> Result:
    lines = []
    for c in v.checks:
        if c.ok and c.loaded is not None:
            prof = c.loaded.profile
            what = f"from {prof.from_value}" if prof.from_value is not None else "no `from`"
            lines.append(f"ok      {c.ref} ({prof.name} {what}{', abstract' if prof.abstract else ''})")
        else:
            lines.append(f"invalid {c.ref}")
    text = "" if quiet else "\n".join(lines) + "\n"
    return Result(data=v.to_dict(), text=text, exit_code=exit_code, warnings=v.warnings, errors=v.errors)
