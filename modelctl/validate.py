"""``validate``: load, resolve and check profiles without a server.

Each profile is loaded (schema, ranges, ``extends``) and rendered, which proves that Ollama
reads the Modelfile back exactly as the profile says (an abstract profile without `from` is
checked without rendering). Every profile is checked, so one run
reports every invalid profile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from modelctl.errors import Diagnostic, ModelctlError
from modelctl.profile import LoadedProfile, load_profile
from modelctl.render import render


@dataclass
class ProfileCheck:
    """One profile's verdict."""

    ref: str
    loaded: LoadedProfile | None  # None when it could not be loaded or rendered
    errors: list[Diagnostic] = field(default_factory=list)
    strict: bool = False  # warnings count as errors

    @property
    def warnings(self) -> list[Diagnostic]:
        return list(self.loaded.warnings) if self.loaded is not None else []

    @property
    def ok(self) -> bool:
        return not self.errors and not (self.strict and self.warnings)

    def to_dict(self) -> dict[str, Any]:
        if self.loaded is None:
            return {
                "profile": self.ref,
                "ok": False,
                "name": None,
                "errors": [d.to_dict() for d in self.errors],
                "warnings": [],
            }
        return {
            "profile": self.ref,
            "ok": self.ok,
            "name": self.loaded.profile.name,
            "from": self.loaded.profile.from_value,
            "abstract": self.loaded.profile.abstract,
            "errors": [],
            "warnings": [w.to_dict() for w in self.warnings],
        }


@dataclass
class Validation:
    checks: list[ProfileCheck]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def warnings(self) -> list[Diagnostic]:
        return [w for c in self.checks for w in c.warnings]

    @property
    def errors(self) -> list[Diagnostic]:
        return [e for c in self.checks for e in c.errors]

    def to_dict(self) -> dict[str, Any]:
        valid = sum(1 for c in self.checks if c.ok)
        return {"profiles": [c.to_dict() for c in self.checks], "valid": valid, "invalid": len(self.checks) - valid}


def validate(refs: Sequence[str], overrides: Sequence[str] = (), *, strict: bool = False) -> Validation:
    """Check every profile; ``strict`` makes warnings count as errors."""
    checks = []
    for ref in refs:
        try:
            loaded = load_profile(ref, overrides)
            if loaded.profile.from_value is not None:  # an abstract profile may have no `from` to render
                render(loaded)
        except ModelctlError as exc:
            checks.append(ProfileCheck(ref, None, exc.diagnostics(), strict))
            continue
        checks.append(ProfileCheck(ref, loaded, [], strict))
    return Validation(checks)
