"""``ls``, ``ps`` and ``rm``: the models on a server, beside the profiles that make them.

* :func:`list_models` (``ls``): every profile (those given, else every one in ./profiles and
  ``$MODELCTL_PROFILES``) with its model's state on the server — up to date, changed or not
  built, by the one rule ``plan`` and ``build`` use (:func:`modelctl.jobs.build.verdict`) — and
  the models on the server that no profile makes.
* :func:`loaded_models` (``ps``): what ``/api/ps`` says (``ollama ps``'s columns: size, CPU/GPU
  split, context, until) with the profile each model came from.
* :func:`remove_models` (``rm``): models by name or by profile; every name is checked first,
  so a name the server does not have removes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from modelctl.common.jsontypes import JSONObject
from modelctl.errors import (
    Diagnostic,
    ExitCode,
    InvalidInput,
    JobResult,
    ModelctlError,
    ServerUnreachable,
)
from modelctl.jobs.build import BuildPlan, BuildRecords, plan_profile, verdict
from modelctl.jobs.drift import Difference
from modelctl.jobs.profiles import load_profile
from modelctl.jobs.show import processor_text
from modelctl.modelfile.render import render
from modelctl.ollama.hosts import HostRef
from modelctl.ollama.server import ModelNotFound
from modelctl.ollama.session import HostSession, client_for, session_for
from modelctl.ollama.wire import find_entry, model_key, parse_rfc3339
from modelctl.profile.names import model_hint
from modelctl.profile.profile import LoadedProfile, is_profile_ref, profile_files

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.ollama.shapes import ModelDetails, TagsEntry, TagsResponse

ProfileState = Literal["up_to_date", "changed", "not_built", "invalid", "failed"]

#: How each state is written for people.
STATE_TEXT: dict[str, str] = {
    "up_to_date": "up to date",
    "changed": "changed",
    "not_built": "not built",
    "invalid": "invalid",
    "failed": "failed",
}


def _display(path: Path) -> str:
    try:
        rel = Path(path).resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return str(path)
    return str(rel)


def _no_details() -> ModelDetails:
    return {}


@dataclass
class ServerModel:
    """One model of ``/api/tags``."""

    name: str
    size: int | None
    modified_at: datetime | None
    digest: str | None
    details: ModelDetails = field(default_factory=_no_details)

    @classmethod
    def from_entry(cls, entry: TagsEntry) -> ServerModel:
        size, digest, details = entry.get("size"), entry.get("digest"), entry.get("details")
        return cls(
            str(entry.get("name") or entry.get("model") or ""),
            size if isinstance(size, int) and not isinstance(size, bool) else None,
            parse_rfc3339(entry.get("modified_at")),
            digest if isinstance(digest, str) else None,
            details.copy() if isinstance(details, dict) else {},
        )

    def to_dict(self) -> JSONObject:
        return {
            "name": self.name,
            "size": self.size,
            "modified_at": self.modified_at.isoformat() if self.modified_at else None,
            "digest": self.digest,
            "parameter_size": self.details.get("parameter_size"),
            "quantization": self.details.get("quantization_level"),
        }


@dataclass
class ProfileModel:
    """One profile and the state of its model on the server."""

    profile: str  # as given, or as found in the profiles folder
    model: str | None  # None when the profile does not load
    state: ProfileState
    differences: list[Difference] = field(default_factory=list)
    deployed: ServerModel | None = None
    error: ModelctlError | None = None

    def to_dict(self) -> JSONObject:
        return {
            "profile": self.profile,
            "model": self.model,
            "state": self.state,
            "differences": [d.to_dict() for d in self.differences],
            "deployed": self.deployed.to_dict() if self.deployed is not None else None,
            "error": self.error.diagnostic().to_dict() if self.error is not None else None,
        }


@dataclass
class ModelList(JobResult):
    """``ls``: the profiles' models, and the server's models no profile makes."""

    host: str
    profiles: list[ProfileModel]
    unprofiled: list[ServerModel]
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    warnings: list[Diagnostic] = field(default_factory=list)

    def to_dict(self) -> JSONObject:
        counts = {s: sum(1 for p in self.profiles if p.state == s) for s in STATE_TEXT}
        return {
            "host": self.host,
            "summary": counts,
            "profiles": [p.to_dict() for p in self.profiles],
            "unprofiled": [m.to_dict() for m in self.unprofiled],
        }


def _profile_refs(refs: Sequence[str]) -> list[str]:
    return list(refs) if refs else [str(p) for p in profile_files()]


def _load(ref: str) -> LoadedProfile | ProfileModel:
    try:
        return load_profile(ref)
    except ModelctlError as exc:
        return ProfileModel(ref, None, "invalid", error=exc)


def list_models(
    refs: Sequence[str] = (),
    *,
    host: HostRef = None,
    timeout: float | None = None,
    session: HostSession | None = None,
) -> ModelList:
    """The profiles (``refs``, else every profile found) beside the server's models.

    A profile that does not load or render is listed as ``invalid`` with its error (the others
    are still compared); abstract profiles make no model and are left out.
    """
    own = session is None
    s = session if session is not None else session_for(host, timeout=timeout)
    try:
        s.prefetch((), basics=True)
        rows: list[ProfileModel] = []
        plans: list[tuple[ProfileModel, BuildPlan]] = []
        for ref in _profile_refs(refs):
            loaded = _load(ref)
            if isinstance(loaded, ProfileModel):
                rows.append(loaded)
                continue
            if loaded.profile.abstract:
                continue
            row = ProfileModel(_display(loaded.path), loaded.profile.name, "invalid")
            rows.append(row)
            try:
                p = plan_profile(loaded, render(loaded, paths="absolute"))
            except ModelctlError as exc:
                row.error = exc
                continue
            s.prefetch([p.name, p.base_model])
            plans.append((row, p))
        tags = s.tags()
        records = BuildRecords()
        for row, p in plans:
            _judge(row, p, s, records, tags)
        made = {model_key(r.model) for r in rows if r.model}
        others = [ServerModel.from_entry(e) for e in tags.get("models") or [] if isinstance(e, dict)]
        unprofiled = [m for m in others if m.name and model_key(m.name) not in made]
        warnings = [Diagnostic(r.error.code, f"{r.profile}: {r.error.message}") for r in rows if r.error]
        return ModelList(s.display_host, rows, unprofiled, warnings=warnings)
    finally:
        if own:
            s.close()


def _judge(row: ProfileModel, p: BuildPlan, s: HostSession, records: BuildRecords, tags: TagsResponse) -> None:
    """The one rule (``build``'s up-to-date check, ``plan``'s diff) for one profile."""
    try:
        v = verdict(p, s, records=records)
    except ServerUnreachable:
        raise
    except ModelctlError as exc:  # about this model only: the other profiles are still listed
        row.state, row.error = "failed", exc
        return
    entry = find_entry(tags, p.name)
    row.deployed = ServerModel.from_entry(entry) if entry is not None else None
    if v.deployed is None:
        row.state = "not_built"
    else:
        row.state = "up_to_date" if v.in_sync else "changed"
        row.differences = v.differences


# --------------------------------------------------------------------------------------- ps


@dataclass
class LoadedModel:
    """One model of ``/api/ps``."""

    name: str
    digest: str | None
    size: int | None
    size_vram: int | None
    context_length: int | None
    expires_at: datetime | None
    profiles: list[str] = field(default_factory=list)

    @property
    def processor(self) -> str | None:
        return processor_text(self.size, self.size_vram)

    def to_dict(self) -> JSONObject:
        return {
            "name": self.name,
            "id": self.digest[:12] if self.digest else None,
            "digest": self.digest,
            "size": self.size,
            "size_vram": self.size_vram,
            "processor": self.processor,
            "context_length": self.context_length,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "profiles": list(self.profiles),
        }


@dataclass
class LoadedModels(JobResult):
    """``ps``: the loaded models, each with the profiles whose model it is."""

    host: str
    models: list[LoadedModel]
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def to_dict(self) -> JSONObject:
        return {"host": self.host, "models": [m.to_dict() for m in self.models]}


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def profiles_by_model() -> dict[str, list[str]]:
    """model key -> the profiles (in ./profiles and ``$MODELCTL_PROFILES``) that make that model;
    profiles that do not load are left out."""
    out: dict[str, list[str]] = {}
    for path in profile_files():
        try:
            loaded = load_profile(str(path))
        except ModelctlError:
            continue
        if not loaded.profile.abstract:
            out.setdefault(model_key(loaded.profile.name), []).append(_display(loaded.path))
    return out


def loaded_models(*, host: HostRef = None, timeout: float | None = None) -> LoadedModels:
    """What the server has loaded (``/api/ps``), with the profile each model came from."""
    with client_for(host, timeout) as client:
        answer = client.ps()
        display = client.display_host
    owners = profiles_by_model()
    models = []
    for e in answer.get("models") or []:
        if not isinstance(e, dict):
            continue
        name, digest = str(e.get("name") or e.get("model") or ""), e.get("digest")
        models.append(
            LoadedModel(
                name,
                digest if isinstance(digest, str) else None,
                _int(e.get("size")),
                _int(e.get("size_vram")),
                _int(e.get("context_length")),
                parse_rfc3339(e.get("expires_at")),
                owners.get(model_key(name), []),
            )
        )
    return LoadedModels(display, models)


# --------------------------------------------------------------------------------------- rm


@dataclass
class Removal:
    """One model ``rm`` removed (or, with ``dry_run``, would remove)."""

    ref: str
    model: ServerModel
    profile: str | None = None  # the profile ``ref`` named, if it named one
    removed: bool = False
    error: ModelctlError | None = None

    def to_dict(self) -> JSONObject:
        return {
            "ref": self.ref,
            "profile": self.profile,
            **self.model.to_dict(),
            "removed": self.removed,
            "error": self.error.diagnostic().to_dict() if self.error is not None else None,
        }


@dataclass
class RemoveResult(JobResult):
    host: str
    dry_run: bool
    models: list[Removal]

    def outcome_codes(self) -> list[ExitCode]:
        """The failed deletes' codes (unreachable 4 ranks over refused 5)."""
        return [m.error.exit_code for m in self.models if m.error is not None]

    def to_dict(self) -> JSONObject:
        return {"host": self.host, "dry_run": self.dry_run, "models": [m.to_dict() for m in self.models]}


def _model_name(ref: str) -> tuple[str, str | None]:
    """(the model a ``rm`` argument names, the profile it came from): a profile's model, else the name."""
    if not is_profile_ref(ref):
        return ref, None
    loaded = load_profile(ref)
    if loaded.profile.abstract:
        raise InvalidInput(f"{ref} is abstract (only extended by other profiles): it makes no model", file=ref)
    return loaded.profile.name, _display(loaded.path)


#: The model a ``rm``/``push`` argument names and the profile it came from (one rule for both).
model_name_of = _model_name


def remove_models(
    refs: Sequence[str], *, dry_run: bool = False, host: HostRef = None, timeout: float | None = None
) -> RemoveResult:
    """Remove the models ``refs`` name (model names or profiles). Every name is looked up first:
    if the server lacks one, :class:`ModelNotFound` is raised (with a did-you-mean) and nothing
    is removed. A failed delete is that model's ``error``; the others are still removed."""
    names = [(ref, *_model_name(ref)) for ref in refs]
    with client_for(host, timeout) as client:
        tags = client.tags()
        found: list[Removal] = []
        seen: set[str] = set()
        for ref, name, profile in names:
            entry = find_entry(tags, name)
            if entry is None:
                hint = model_hint(client, name, profiles=False)
                raise ModelNotFound(
                    f"model '{name}' is not on the server at {client.display_host}"
                    + (f" ({hint})" if hint else "")
                    + ": nothing removed",
                    model=name,
                )
            model = ServerModel.from_entry(entry)
            if model_key(model.name) not in seen:
                seen.add(model_key(model.name))
                found.append(Removal(ref, model, profile))
        for r in found if not dry_run else []:
            try:
                client.delete(r.model.name)
                r.removed = True
            except ModelctlError as exc:
                r.error = exc
        return RemoveResult(client.display_host, dry_run, found)
