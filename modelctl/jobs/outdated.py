"""``modelctl outdated``: base models whose tag moved on their registry since the lock was written.

Every base the lock records (``hosts.H.models.M.base``: its ``name`` and its ``digest`` as the
host pulled it, from ``/api/tags``) is asked of the registry it comes from
(:func:`modelctl.ollama.manifests.manifest_digest`: ``registry.ollama.ai`` for library names, the
name's own registry for the others, over http for one named by ``--insecure-registry``). A
base whose current digest differs from the locked one is *changed*; each is listed with the
models (host, model, profile) built on it. Exit 3 when any changed (docs/exit-codes.md).

The pair compared is the right one: Ollama writes the manifest it pulled as it received it, so a
pulled model's ``/api/tags`` digest is the registry's ``Docker-Content-Digest`` (checked on a
real registry in tests/test_live_registry.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from modelctl.common.jsontypes import JSONObject
from modelctl.errors import ExitCode, InvalidInput, JobResult
from modelctl.jobs.lock import read_lock
from modelctl.ollama.manifests import manifest_digest, normal_digest


@dataclass
class BaseUse:
    host: str
    model: str
    profile: str | None

    def to_dict(self) -> JSONObject:
        return {"host": self.host, "model": self.model, "profile": self.profile}


@dataclass
class BaseCheck:
    """One base as locked (name and digest) and as its registry has it now."""

    name: str
    locked: str
    current: str | None = None
    uses: list[BaseUse] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.current is not None and self.current != self.locked

    def to_dict(self) -> JSONObject:
        return {
            "name": self.name,
            "locked_digest": self.locked,
            "current_digest": self.current,
            "changed": self.changed,
            "used_by": [u.to_dict() for u in self.uses],
        }


@dataclass
class OutdatedResult(JobResult):
    lock: str
    bases: list[BaseCheck]

    @property
    def changed(self) -> list[BaseCheck]:
        return [b for b in self.bases if b.changed]

    def outcome_codes(self) -> list[ExitCode]:
        return [ExitCode.DRIFT] if self.changed else []

    def to_dict(self) -> JSONObject:
        return {"lock": self.lock, "changed": len(self.changed), "bases": [b.to_dict() for b in self.bases]}


def locked_bases(lock: str | Path) -> list[BaseCheck]:
    """Each (base name, locked digest) of the lock, with the models built on it; bases without a
    recorded digest are left out (nothing to compare)."""
    the_lock = read_lock(lock)
    found: dict[tuple[str, str], BaseCheck] = {}
    for key, host in sorted(the_lock.hosts.items()):
        for model, entry in sorted(host.models.items()):
            base = entry.base or {}
            name, digest = base.get("name"), normal_digest(base.get("digest"))
            if not name or digest is None:
                continue
            check = found.setdefault((str(name), digest), BaseCheck(str(name), digest))
            check.uses.append(BaseUse(key, model, entry.profile))
    return list(found.values())


def outdated(
    lock: str | Path, *, insecure_registries: Iterable[str] = (), timeout: float | None = None
) -> OutdatedResult:
    """Ask each locked base's registry for its tag's digest now (one request per base name)."""
    if not Path(lock).exists():
        raise InvalidInput(
            f"no lock file {lock}: write one with `modelctl build PROFILE... --lock {lock}`", file=str(lock)
        )
    bases = locked_bases(lock)
    registries = tuple(insecure_registries)
    current: dict[str, str] = {}
    for b in bases:
        if b.name not in current:
            current[b.name] = manifest_digest(b.name, insecure_registries=registries, timeout=timeout or 30.0)
        b.current = current[b.name]
    return OutdatedResult(str(lock), bases)
