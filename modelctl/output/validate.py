"""Writer for ``validate``: one line per profile; SARIF and GitHub annotations for CI."""

from __future__ import annotations

from modelctl.errors import Diagnostic
from modelctl.jobs.validate import ProfileCheck, Validation
from modelctl.output import Result, dumps
from modelctl.output.annotations import Located, github, sarif
from modelctl.output.summary import named


def _line(c: ProfileCheck) -> str:
    if not (c.ok and c.loaded is not None):
        return f"invalid {c.ref}"
    prof = c.loaded.profile
    what = f"from {prof.from_value}" if prof.from_value is not None else "no `from`"
    unread = ", ".join(d.message.split(" not read", 1)[0] for d in c.unchecked)
    extra = f"; not read: {unread} (--no-local-files)" if unread else ""
    return f"ok      {c.ref} ({prof.name} {what}{', abstract' if prof.abstract else ''}{extra})"


def _host_errors(v: Validation) -> list[Diagnostic]:
    return [named(h.host, h.error.diagnostic()) for h in v.hosts if h.error is not None]


def located(v: Validation) -> list[Located]:
    """Every diagnostic with its level: errors, then warnings (errors too under --strict)."""
    out: list[Located] = []
    for c in v.checks:
        level = "error" if c.strict else "warning"
        out += [(e, "error") for e in c.errors] + [(w, level) for w in c.warnings]
    return out + [(n, "warning") for n in v.notes] + [(e, "error") for e in _host_errors(v)]


def validation_result(v: Validation, *, quiet: bool = False, fmt: str = "text") -> Result:
    exit_code = v.exit_code()
    """``fmt`` text (and json): a line per profile; ``sarif``: a SARIF 2.1.0 log; ``github``: workflow
    commands (the annotations are the diagnostics: nothing more is printed on stderr)."""
    if fmt == "sarif":
        return Result(
            data=v.to_dict(),
            text=lambda: dumps(sarif(located(v))),
            exit_code=exit_code,
            warnings=v.warnings,
            errors=v.errors + _host_errors(v),
        )
    if fmt == "github":
        return Result(data=v.to_dict(), text=lambda: github(located(v)), exit_code=exit_code)
    text = "" if quiet else "\n".join(_line(c) for c in v.checks) + "\n"
    strict = any(c.strict for c in v.checks)  # --strict: warnings are errors, and said so
    warnings = v.notes if strict else v.warnings
    errors = v.errors + ([w for c in v.checks for w in c.warnings] if strict else []) + _host_errors(v)
    return Result(data=v.to_dict(), text=text, exit_code=exit_code, warnings=warnings, errors=errors)
