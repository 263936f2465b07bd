"""``validate``: load, resolve and check profiles without a server.

Each profile is loaded (schema, ranges, ``extends``) and rendered, which proves that Ollama
reads the Modelfile back exactly as the profile says (an abstract profile without `from` is
checked without rendering). Every profile is checked, so one run
reports every invalid profile. ``local_files=False`` (``--no-local-files``) checks everything
but the presence of the local files a profile names, and lists them as not read. What only a
server can say (``validate --host``) is added by :mod:`modelctl.jobs.lint`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from modelctl.common.jsontypes import JSONObject
from modelctl.errors import Diagnostic, ExitCode, JobResult, ModelctlError
from modelctl.jobs.profiles import load_profile
from modelctl.modelfile.render import render
from modelctl.profile.profile import LoadedProfile


@dataclass
class ProfileCheck:
    """One profile's verdict."""

    ref: str
    loaded: LoadedProfile | None  # None when it could not be loaded or rendered
    errors: list[Diagnostic] = field(default_factory=list)
    strict: bool = False  # warnings count as errors
    server: list[Diagnostic] = field(default_factory=list)  # what the servers said (validate --host)
    superseded: set[str] = field(default_factory=set)  # offline warnings a server check replaced

    @property
    def warnings(self) -> list[Diagnostic]:
        own = [w for w in self.loaded.warnings if w.code not in self.superseded] if self.loaded is not None else []
        return own + self.server

    @property
    def unchecked(self) -> list[Diagnostic]:
        """The local files not read (``--no-local-files``): said, never a warning."""
        return list(self.loaded.unchecked) if self.loaded is not None else []

    @property
    def ok(self) -> bool:
        return not self.errors and not (self.strict and self.warnings)

    def to_dict(self) -> JSONObject:
        if self.loaded is None:
            return {
                "profile": self.ref,
                "ok": False,
                "name": None,
                "errors": [d.to_dict() for d in self.errors],
                "warnings": [],
                "unchecked": [],
            }
        return {
            "profile": self.ref,
            "ok": self.ok,
            "name": self.loaded.profile.name,
            "from": self.loaded.profile.from_value,
            "abstract": self.loaded.profile.abstract,
            "errors": [],
            "warnings": [w.to_dict() for w in self.warnings],
            "unchecked": [d.to_dict() for d in self.unchecked],
        }


@dataclass
class HostCheck:
    """One server ``validate --host`` asked: its name, and the error that stopped it there."""

    host: str
    url: str
    version: str | None = None
    error: ModelctlError | None = None

    def to_dict(self) -> JSONObject:
        return {
            "host": self.host,
            "url": self.url,
            "version": self.version,
            "ok": self.error is None,
            "error": self.error.diagnostic().to_dict() if self.error is not None else None,
        }


@dataclass
class Validation(JobResult):
    checks: list[ProfileCheck]
    hosts: list[HostCheck] = field(default_factory=list)
    notes: list[Diagnostic] = field(default_factory=list)  # the inventory's warnings

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks) and all(h.error is None for h in self.hosts)

    @property
    def warnings(self) -> list[Diagnostic]:
        return self.notes + [w for c in self.checks for w in c.warnings]

    @property
    def errors(self) -> list[Diagnostic]:
        return [e for c in self.checks for e in c.errors]

    def outcome_codes(self) -> list[ExitCode]:
        """1 for an invalid profile (or a warning under --strict), a server's own code when it failed."""
        codes = [ExitCode.INVALID if not all(c.ok for c in self.checks) else ExitCode.OK]
        return codes + [h.error.exit_code for h in self.hosts if h.error is not None]

    def to_dict(self) -> JSONObject:
        valid = sum(1 for c in self.checks if c.ok)
        out: JSONObject = {
            "profiles": [c.to_dict() for c in self.checks],
            "valid": valid,
            "invalid": len(self.checks) - valid,
        }
        if self.hosts:
            out["hosts"] = [h.to_dict() for h in self.hosts]
        return out


@dataclass(kw_only=True, frozen=True)
class ValidateOptions:
    """Every setting of ``validate`` and ``validate_hosts``, once."""

    overrides: Sequence[str] = ()  # --set values
    strict: bool = False  # warnings count as errors
    local_files: bool = True  # False: the local files profiles name are not looked at (--no-local-files)


def validate(refs: Sequence[str], options: ValidateOptions | None = None) -> Validation:
    """Check every profile; ``options.strict`` makes warnings count as errors; ``local_files=False``
    does not look at the local files profiles name (repositories without weights)."""
    o = options or ValidateOptions()
    checks = []
    for ref in refs:
        try:
            loaded = load_profile(ref, o.overrides, local_files=o.local_files)
            if loaded.profile.from_value is not None:  # an abstract profile may have no `from` to render
                render(loaded)
        except ModelctlError as exc:
            checks.append(ProfileCheck(ref, None, exc.diagnostics(), o.strict))
            continue
        checks.append(ProfileCheck(ref, loaded, [], o.strict))
    return Validation(checks)
