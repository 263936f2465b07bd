"""``plan``: what differs between profiles and the models of their names on a server.

For each profile the request ``build`` would send is assembled (rendered, round-trip
checked, local files hashed) and compared with the deployed model by the one rule
(:func:`modelctl.jobs.build.verdict`, which is ``build``'s up-to-date check): every difference
typed (field, wanted, found, action ``+``/``-``/``~``), parameters the base model passes on
listed as inherited, never as drift. With a lock file, *upstream* drift too: the base
model's digest on the server changed since the lock was written, or the server's version.

The server is asked through one :class:`~modelctl.ollama.session.HostSession`: its version and
model list once, each model's ``/api/show`` once however many profiles share it, several
requests at a time while the next profile is still being loaded. The fleet issue runs this
job once per host, each with its own session.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from modelctl.common.events import EventSink, ignore
from modelctl.common.jsontypes import JSONObject
from modelctl.errors import Diagnostic, ExitCode, JobResult, ModelctlError
from modelctl.jobs.build import UNREAD, BuildPlan, BuildRecords, Verdict, load_all, plan_profile, verdict, version_notes
from modelctl.jobs.drift import Difference
from modelctl.jobs.lock import Lock, read_lock
from modelctl.jobs.prune import Removal, judge
from modelctl.jobs.via_registry import registry_references
from modelctl.modelfile.render import render
from modelctl.ollama.hosts import HostRef
from modelctl.ollama.manifests import normal_digest
from modelctl.ollama.registry import RegistrySpec
from modelctl.ollama.session import DEFAULT_CONCURRENCY, HostSession, session_for
from modelctl.ollama.wire import find_entry
from modelctl.profile.profile import LoadedProfile, split_abstract

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.ollama.shapes import TagsResponse
    from modelctl.profile.params import Params

PlanStatus = Literal["in_sync", "changed", "missing", "failed"]


@dataclass
class ProfilePlan:
    """One profile against the model of its name on one host."""

    profile: Path | None
    model: str
    host: str
    status: PlanStatus
    differences: list[Difference] = field(default_factory=list)
    upstream: list[Difference] = field(default_factory=list)  # from the lock: the base or the server moved
    inherited: Params = field(default_factory=dict)
    wanted_order: list[str] = field(default_factory=list)  # the profile's parameters, in its order
    error: ModelctlError | None = None
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def drift(self) -> bool:
        return self.status in ("changed", "missing") or bool(self.upstream)

    def to_dict(self) -> JSONObject:
        return {
            "profile": str(self.profile) if self.profile is not None else None,
            "model": self.model,
            "host": self.host,
            "status": self.status,
            "drift": self.drift,
            "differences": self.difference_dicts(),
            "upstream": [{"profile": _str(self.profile), "model": self.model, **d.to_dict()} for d in self.upstream],
            "inherited": self.inherited,
            "error": self.error.diagnostic().to_dict() if self.error is not None else None,
        }

    def difference_dicts(self) -> list[JSONObject]:
        """Each difference, naming the profile and the model (the run's list of them has them all)."""
        return [{"profile": _str(self.profile), "model": self.model, **d.to_dict()} for d in self.differences]


def _str(p: Path | None) -> str | None:
    return str(p) if p is not None else None


@dataclass
class PlanResult(JobResult):
    """Every profile's plan against one host, in the order given, and the notes of the run."""

    host: str
    server_version: str | None
    profiles: list[ProfilePlan]
    skipped: list[Diagnostic] = field(default_factory=list)
    notes: list[Diagnostic] = field(default_factory=list)  # lock-file remarks (missing entries)
    lock: str | None = None
    locked_version: str | None = None  # the server's version in the lock file
    strict: bool = False  # a changed server version is drift
    removals: list[Removal] = field(default_factory=list)  # lock entries whose profile no longer makes them

    @property
    def version_changed(self) -> bool:
        return bool(self.locked_version and self.server_version and self.locked_version != self.server_version)

    @property
    def drift(self) -> bool:
        return any(p.drift for p in self.profiles) or (self.strict and self.version_changed) or bool(self.removals)

    @property
    def failures(self) -> list[ProfilePlan]:
        return [p for p in self.profiles if p.error is not None]

    @property
    def warnings(self) -> list[Diagnostic]:
        return list(self.skipped) + self.notes + [w for p in self.profiles for w in p.warnings]

    def outcome_codes(self) -> list[ExitCode]:
        """A failed profile's error code; drift: 3 (design.md §6 ranks them: errors.JobResult)."""
        codes = [p.error.exit_code for p in self.failures if p.error is not None]
        return [*codes, ExitCode.DRIFT if self.drift else ExitCode.OK]

    def to_dict(self) -> JSONObject:
        counts = {
            s: sum(1 for p in self.profiles if p.status == s) for s in ("in_sync", "changed", "missing", "failed")
        }
        out: JSONObject = {
            "host": self.host,
            "server_version": self.server_version,
            "lock": self.lock,
            "locked_server_version": self.locked_version,
            "server_version_changed": self.version_changed,
            "drift": self.drift,
            "summary": {**counts, "skipped": len(self.skipped)},
            "profiles": [p.to_dict() for p in self.profiles],
            "differences": [d for p in self.profiles for d in p.difference_dicts()],
            "skipped": [{"profile": d.file, "reason": d.message} for d in self.skipped],
        }
        if self.lock is not None:  # with --lock: the entries whose profile no longer makes them
            out["removals"] = [r.to_dict() for r in self.removals]
        return out


def prepare(
    refs: Sequence[str],
    *,
    overrides: Sequence[str] = (),
    template: str | None = None,
    on_plan: Callable[[BuildPlan], None] | None = None,
    on_event: EventSink = ignore,
    local_files: bool = True,
    on_loaded: Callable[[LoadedProfile], None] | None = None,
) -> tuple[list[BuildPlan], list[Diagnostic]]:
    """Every profile loaded (every invalid one reported at once), rendered, round-trip checked
    and assembled into the request ``build`` would send; a note for each abstract one.
    ``on_loaded`` sees each profile that makes a model as soon as it has loaded, and ``on_plan``
    each plan as soon as it is ready (to start asking servers about them while the next profiles
    load and render). ``local_files=False``: local files are named, not read (their weights are
    not compared)."""

    def making(lp: LoadedProfile) -> None:
        if on_loaded is not None and not lp.profile.abstract:
            on_loaded(lp)

    loaded, skipped = split_abstract(load_all(refs, overrides, local_files=local_files, on_loaded=making))
    plans: list[BuildPlan] = []
    for lp in loaded:
        rendered = render(lp, template=template, paths="absolute")
        plans.append(plan_profile(lp, rendered, on_event=on_event, local_files=local_files))
        plans[-1].warnings += lp.unchecked
        if on_plan is not None:
            on_plan(plans[-1])
    return plans, skipped


@dataclass(kw_only=True, frozen=True)
class PlanOptions:
    """Every setting of a plan, once: ``plan`` and ``plan_hosts`` take this."""

    overrides: Sequence[str] = ()  # --set values
    template: str | None = None  # a template file replacing the profiles' own
    lock: str | os.PathLike[str] | None = None  # the lock file whose entries are checked (upstream drift)
    strict: bool = False  # a server version that differs from the lock file's is drift too
    concurrency: int = DEFAULT_CONCURRENCY  # requests at a time per host
    local_files: bool = True  # False: local files are not read (--no-local-files)
    registry: RegistrySpec | None = None  # an inventory's `registry`: each host's digest is compared with its


def plan(
    refs: Sequence[str],
    options: PlanOptions | None = None,
    *,
    host: HostRef = None,
    timeout: float | None = None,
    session: HostSession | None = None,
    on_event: EventSink = ignore,
) -> PlanResult:
    """Compare each profile with the model of its name on the server (see the module docstring).

    Invalid profiles raise (exit 1) before any verdict; an unreachable server raises
    ServerUnreachable (exit 4); a failure about one model (say a 500 on its show) is that
    profile's ``error`` and the others are still planned. ``options.strict`` makes a server version
    that differs from the lock file's drift too.
    """
    o = options or PlanOptions()
    own = session is None
    s = session if session is not None else session_for(host, timeout=timeout, concurrency=o.concurrency)
    try:
        the_lock = read_lock(o.lock, missing_ok=True) if o.lock is not None else None
        s.prefetch((), basics=True)  # version and model list, while the profiles load
        plans, skipped = prepare(
            refs,
            overrides=o.overrides,
            template=o.template,
            on_event=on_event,
            local_files=o.local_files,
            on_loaded=lambda lp: s.prefetch([lp.profile.name]),  # a model is named by its profile
            on_plan=lambda p: s.prefetch([p.name, p.base_model]),  # the base: once rendered
        )
        shipped, notes = registry_references(plans, o.registry, timeout or 30.0) if o.registry else ({}, [])
        result = plan_on(s, plans, skipped, lock=the_lock, strict=o.strict, shipped=shipped)
        result.notes += notes
        return result
    finally:
        if own:
            s.close()


def plan_on(
    session: HostSession,
    plans: Sequence[BuildPlan],
    skipped: Sequence[Diagnostic] = (),
    *,
    lock: Lock | None = None,
    strict: bool = False,
    records: BuildRecords | None = None,
    shipped: Mapping[str, tuple[str, str]] | None = None,
) -> PlanResult:
    """Plan assembled profiles against one host's session (its questions may be under way already).
    ``shipped``: model -> (registry reference, the registry's digest), compared with each model's."""
    version = session.version() if plans else None
    records = records if records is not None else BuildRecords()
    profiles = [_plan_one(p, session, records, lock) for p in plans]
    result = PlanResult(session.display_host, version, profiles, list(skipped), strict=strict)
    if shipped:
        _against_registry(result, session, shipped)
    if lock is not None:
        result.lock = str(lock.path)
        if not lock.found:  # a fresh checkout: `build --lock` has not written it yet
            result.notes.append(
                Diagnostic(
                    "lock_missing",
                    f"no lock yet: {lock.path} does not exist (`build --lock {lock.path}` writes it); "
                    "upstream drift is not checked",
                    str(lock.path),
                )
            )
        else:
            if plans:
                _upstream(result, session, lock)
            _removals(result, session, lock)
    return result


def _removals(result: PlanResult, session: HostSession, lock: Lock) -> None:
    """The lock entries of this host whose profile no longer makes them (modelctl.jobs.prune)."""
    if lock.host(session.key) is None:
        return
    try:
        tags: TagsResponse | None = session.tags()
    except ModelctlError as exc:
        result.notes.append(Diagnostic(exc.code, f"cannot read the model list for the prune check: {exc.message}"))
        tags = None
    result.removals, notes = judge(lock, session.key, tags)
    result.notes += notes


def _plan_one(p: BuildPlan, session: HostSession, records: BuildRecords, lock: Lock | None) -> ProfilePlan:
    out = ProfilePlan(p.profile_path, p.name, session.display_host, "failed", warnings=list(p.warnings))
    out.wanted_order = list(p.request.get("parameters") or {})
    try:
        v: Verdict = verdict(p, session, records=records, lock=lock)
    except ModelctlError as exc:  # about this model only: the other profiles are still planned
        out.error = exc
        return out
    out.warnings += version_notes(p.request, v.version, session.display_host)
    out.differences = _comparable(p, v.differences)
    out.inherited = v.inherited
    out.status = "missing" if v.deployed is None else ("in_sync" if v.in_sync else "changed")
    return out


def _comparable(plan: BuildPlan, diffs: list[Difference]) -> list[Difference]:
    """Without the local files (--no-local-files) their weights cannot be compared: those fields
    are left out (the profile's notes say which files were not read)."""
    unread = {
        "from" if b.kind == "files" else "draft" if b.kind == "draft_files" else b.kind
        for b in plan.blobs
        if b.digest == UNREAD
    }
    return [d for d in diffs if d.field not in unread]


def _upstream(result: PlanResult, session: HostSession, lock: Lock) -> None:
    """What moved upstream since the lock was written: base models and the server's version."""
    host = lock.host(session.key)
    where = f"{session.display_host} (lock key {session.key})"
    if host is None:
        result.notes.append(Diagnostic("lock_no_host", f"the lock file has no entry for {where}", str(lock.path)))
        return
    result.locked_version = host.server_version
    try:
        tags = session.tags()
    except ModelctlError as exc:
        result.notes.append(Diagnostic(exc.code, f"cannot read the model list for the lock check: {exc.message}"))
        return
    for p in result.profiles:
        entry = host.models.get(p.model)
        if entry is None and p.status != "missing":
            result.notes.append(
                Diagnostic("lock_no_entry", f"{p.model} has no entry for {where} in the lock file", str(lock.path))
            )
            continue
        if entry is not None and entry.via:
            _shipped_digest(p, entry.via, entry.model_digest, tags)
        base = (entry.base or {}) if entry is not None else {}
        name, then = base.get("name"), base.get("digest")
        if not name or not then:
            continue
        now = (find_entry(tags, str(name)) or {}).get("digest")
        if now != then:
            p.upstream.append(
                Difference(
                    "base",
                    "~",
                    then,
                    now,
                    f"the base model {name} changed on the server since the lock "
                    f"({str(then)[:12]} -> {str(now)[:12] if now else 'not on the server'})",
                )
            )


def _against_registry(result: PlanResult, session: HostSession, shipped: Mapping[str, tuple[str, str]]) -> None:
    try:
        tags = session.tags()
    except ModelctlError:
        return  # the profiles' own verdicts say so
    for p in result.profiles:
        if p.model in shipped and p.status == "in_sync":
            reference, digest = shipped[p.model]
            _shipped_digest(p, reference, digest, tags)


def _shipped_digest(p: ProfilePlan, reference: str, then: str | None, tags: TagsResponse) -> None:
    """A model shipped through a registry (``build --via-registry``) has that manifest's digest on
    every host: another digest means it was made or pulled again since, whatever its content."""
    now, then = normal_digest((find_entry(tags, p.model) or {}).get("digest")), normal_digest(then)
    if p.status == "missing" or not then or now == then:
        return
    if any(d.field == "digest" for d in p.upstream):
        return  # the lock said it already
    p.upstream.append(
        Difference(
            "digest",
            "~",
            then,
            now,
            f"{p.model} is not the manifest it was shipped as ({reference}, {then[7:19]}): "
            f"the server has {now[7:19] if now else 'no digest for it'}",
        )
    )
