"""``build --hosts FILE --via-registry``: each profile built once, shipped to the other hosts
through the inventory's OCI registry (``registry: {url: HOST:PORT/NAMESPACE, insecure: true}``).

Three steps, each on every host at once (:data:`~modelctl.jobs.fleet.HOSTS_AT_ONCE` at a time):

1. **Judge.** On every host, each of its profiles against the model of its name: the one rule
   (:func:`modelctl.jobs.build.verdict`, ``build``'s up-to-date check); with ``--force`` every
   one needs building.
2. **Build and push.** The registry is asked each profile's reference,
   ``REGISTRY/NAMESPACE/NAME:TAG``. A host is *current* when its model is in sync and has the
   registry's digest. When one is, nothing is built. Otherwise the profile is built on the first
   host, in inventory order, that needs it (its local files are uploaded to that host only),
   copied there to the reference and pushed. When every host is in sync but none is current,
   the first one pushes its model without building. The registry's new digest is then read.
3. **Pull.** Every host that is not current pulls the reference and copies it to the profile's
   model name. That includes the host that pushed, and a host in sync under another digest,
   which stays "up to date". A host that has the layers already fetches the manifest only.
   Every host ends with the registry's manifest, one digest everywhere, and the client sends no
   blob to the hosts that pull.

Then each host's build records, reports and lock entries, as ``build`` writes them; a lock entry
also says which reference its model came through (``via``), and ``plan`` reports a host whose
digest differs from it. A profile whose build or push fails is that profile's failure on every
host that needed it (with the builder's error and its exit code); the other profiles go on.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from modelctl.common.events import ProfileDone, Status, progress_event
from modelctl.errors import Diagnostic, ModelctlError, ServerError
from modelctl.jobs.build import (
    Builder,
    BuildFailure,
    BuildOptions,
    BuildOutcome,
    BuildPlan,
    BuildRecords,
    BuildResult,
    Shipped,
    check_server_version,
    in_threads,
    verdict,
)
from modelctl.jobs.lock import Lock
from modelctl.ollama.manifests import manifest_digest, normal_digest, registry_client
from modelctl.ollama.registry import RegistrySpec, http_registry_error, http_registry_hint, is_insecure
from modelctl.ollama.session import HostSession
from modelctl.ollama.wire import find_entry

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.ollama.shapes import ProgressLine


@dataclass
class Shipment:
    """One profile's trip: pushed as ``reference`` from ``builder`` (built there first when
    ``build``; None: the registry's copy is current already), pulled by ``receivers``."""

    plan: BuildPlan
    reference: str
    builder: HostPart | None = None
    build: bool = True
    receivers: list[HostPart] = field(default_factory=list)
    built: BuildOutcome | None = None
    digest: str | None = None  # the registry's manifest digest (after the push, when there is one)
    base_digest: str | None = None  # the base model's digest on the builder, for the others' lock entries
    error: ModelctlError | None = None


@dataclass
class HostPart:
    """One host's share of the run: its profiles, what each needs, and what came of them."""

    label: str
    session: HostSession
    builder: Builder
    plans: list[BuildPlan]
    notes: list[Diagnostic]
    registries: tuple[str, ...]
    started: float = field(default_factory=time.monotonic)
    wanted: dict[str, BuildOutcome] = field(default_factory=dict)  # needs building: what the build will be
    outcomes: dict[str, BuildOutcome] = field(default_factory=dict)
    failures: dict[str, BuildFailure] = field(default_factory=dict)
    digests: dict[str, str | None] = field(default_factory=dict)  # each model's digest there before
    said: set[str] = field(default_factory=set)  # the profiles whose line went out

    def event(self, plan: BuildPlan, verb: str, elapsed: float, error: str | None = None) -> None:
        self.said.add(plan.name)
        self.builder.on_event(ProfileDone(plan.name, verb, elapsed, error=error, of=len(self.plans)))

    def fail(self, plan: BuildPlan, exc: ModelctlError, elapsed: float) -> None:
        self.failures[plan.name] = BuildFailure(plan.name, plan.profile_path, exc, elapsed)
        self.event(plan, "failed", elapsed, exc.message)

    def needs(self, plan: BuildPlan) -> bool:
        return plan.name in self.wanted

    def in_sync(self, plan: BuildPlan) -> bool:
        return plan.name in self.outcomes

    def current(self, plan: BuildPlan, digest: str | None) -> bool:
        """In sync with the profile, and the registry's manifest ``digest`` itself."""
        have = normal_digest(self.digests.get(plan.name))
        return self.in_sync(plan) and digest is not None and have == normal_digest(digest)


# ------------------------------------------------------------------------------------ 1. judge


def judge(part: HostPart, options: BuildOptions, records: BuildRecords, lock: Lock | None) -> None:
    """Which of the host's profiles need building; the ones in sync are done ("up to date")."""
    session = part.session
    version = session.require_version()
    for plan in part.plans:
        start = time.monotonic()
        try:
            check_server_version(plan, version, session.display_host)
            part.digests[plan.name] = (find_entry(session.tags(), plan.name) or {}).get("digest")
            unsent = [replace(b, present=None, uploaded_bytes=0) for b in plan.blobs]  # it pulls, unless it builds
            outcome = BuildOutcome(plan, "created", host=session.display_host, blobs=unsent)
            if options.force:
                outcome.replaced = find_entry(session.tags(), plan.name) is not None
                outcome.reasons = ["--force"] if outcome.replaced else []
            else:
                v = outcome.verdict = verdict(plan, session, records=records, lock=lock)
                outcome.replaced = v.deployed is not None
                if v.in_sync:
                    outcome.status = "up_to_date"
                    outcome.elapsed = time.monotonic() - start
                    part.outcomes[plan.name] = outcome  # its line once it is known whether it pulls
                    continue
                outcome.reasons = [d.reason() for d in v.differences]
            part.wanted[plan.name] = outcome
        except ModelctlError as exc:
            part.fail(plan, exc, time.monotonic() - start)


#: Manifests asked of the registry at once.
REGISTRY_AT_ONCE = 8


def registry_digests(
    plans: Sequence[BuildPlan], registry: RegistrySpec, registries: Sequence[str], timeout: float
) -> dict[str, str | None]:
    """Each profile's reference on the registry: its manifest digest, None when the registry lacks it
    (:data:`REGISTRY_AT_ONCE` asked at once, through one connection pool). A registry that cannot be
    reached raises (``build`` stops, exit 4: nothing could be shipped)."""
    out: dict[str, str | None] = {}
    failed: list[ModelctlError] = []
    with registry_client(timeout) as http:

        def one(_i: int, plan: BuildPlan) -> None:
            ref = registry.reference(plan.name)
            try:
                out[plan.name] = manifest_digest(ref, insecure_registries=registries, timeout=timeout, client=http)
            except ServerError as exc:
                if exc.status != 404:
                    failed.append(exc)
                out[plan.name] = None
            except ModelctlError as exc:
                failed.append(exc)

        in_threads(one, plans, REGISTRY_AT_ONCE)
    if failed:
        raise failed[0]
    return out


def registry_references(
    plans: Sequence[BuildPlan], registry: RegistrySpec, timeout: float
) -> tuple[dict[str, tuple[str, str]], list[Diagnostic]]:
    """For ``plan``: each profile's reference and the registry's digest for it (only those it has),
    or, when the registry cannot be asked, none and a note saying so."""
    registries = (registry.host,) if registry.insecure else ()
    try:
        digests = registry_digests(plans, registry, registries, timeout)
    except ModelctlError as exc:
        note = f"cannot ask the registry {registry.host}: {exc.message}; digests are not compared with it"
        return {}, [Diagnostic(exc.code, note)]
    return {name: (registry.reference(name), d) for name, d in digests.items() if d}, []


def shipments(
    parts: Sequence[HostPart],
    plans: Sequence[BuildPlan],
    registry: RegistrySpec,
    now: Mapping[str, str | None],
    *,
    force: bool = False,
) -> list[Shipment]:
    """What each profile needs (module docstring, step 2): reuse the registry's copy, build on the
    first host that needs it, or push the first host's; and who pulls it."""
    out = []
    for plan in plans:
        holders = [p for p in parts if p.in_sync(plan) or p.needs(plan)]  # the hosts it was judged on
        if not holders:
            continue
        sh = Shipment(plan, registry.reference(plan.name))
        digest = now.get(plan.name)
        if not force and any(p.current(plan, digest) for p in holders):
            sh.builder, sh.build, sh.digest = None, False, digest
            sh.receivers = [p for p in holders if not p.current(plan, digest)]
        else:
            needing = [p for p in holders if p.needs(plan)]
            sh.builder, sh.build = (needing[0], True) if needing else (holders[0], False)
            sh.receivers = holders  # a new manifest: none has it yet
        if sh.receivers:
            out.append(sh)
    return out


# --------------------------------------------------------------------------- 2. build and push


def build_and_push(part: HostPart, mine: Sequence[Shipment], registry: RegistrySpec, lock: Lock | None) -> None:
    """Each of ``mine`` on its builder host, ``--jobs`` at a time: built (when it needs it), copied
    to its reference, pushed."""
    by_name = {sh.plan.name: sh for sh in mine}
    _each(part, [sh.plan for sh in mine], lambda plan: _ship(part, by_name[plan.name], registry, lock))
    _base_digests(part, [sh for sh in mine if sh.error is None and sh.plan.base_model])


def _each(part: HostPart, plans: Sequence[BuildPlan], one: Callable[[BuildPlan], None]) -> None:
    """``one`` for each plan, the host's ``--jobs`` at a time."""
    jobs = part.builder.options.jobs
    if jobs <= 1 or len(plans) <= 1:
        for plan in plans:
            one(plan)
    else:
        in_threads(lambda _i, plan: one(plan), plans, jobs)


def _ship(part: HostPart, sh: Shipment, registry: RegistrySpec, lock: Lock | None) -> None:
    session, client, plan = part.session, part.session.client, sh.plan
    job = plan.name if len(part.plans) > 1 else None
    try:
        if sh.build:
            sh.built = part.builder.run(plan, job)
            sh.built.reasons = part.wanted[plan.name].reasons  # the judge's (--force included)
        part.builder.on_event(Status(f"pushing {sh.reference}", job))
        client.copy(plan.name, sh.reference)
        insecure = is_insecure(sh.reference, part.registries)
        _drain(part, client.push(sh.reference, insecure=insecure), job, registry, "push to it", insecure)
        wait = client.timeout or 30.0
        sh.digest = manifest_digest(sh.reference, insecure_registries=part.registries, timeout=wait)
        if lock is not None:
            lock.put_push(session.key, session.version(), sh.reference, plan.name, sh.digest)
    except ModelctlError as exc:
        sh.error = exc


def _base_digests(part: HostPart, mine: Sequence[Shipment]) -> None:
    """The base models' digests on the builder (it may have pulled them just now)."""
    if not mine:
        return
    try:
        tags = part.session.tags(refresh=True)
    except ModelctlError:
        return
    for sh in mine:
        sh.base_digest = (find_entry(tags, sh.plan.base_model or "") or {}).get("digest")


def _drain(
    part: HostPart,
    stream: Iterator[ProgressLine],
    job: str | None,
    registry: RegistrySpec,
    action: str,
    insecure: bool,
) -> None:
    """Report a push or pull stream; a registry answering plain http to https gets the hint."""
    try:
        for obj in stream:
            event = progress_event(obj, job)
            if event is not None:
                part.builder.on_event(event)
    except ModelctlError as exc:
        if not insecure and http_registry_error(exc.message):
            exc.message = f"{exc.message} ({http_registry_hint(registry.host, action)})"
        raise


# -------------------------------------------------------------------------------------- 3. pull


def pull_and_copy(part: HostPart, by_name: Mapping[str, Shipment], registry: RegistrySpec) -> None:
    """Every profile the host receives, ``--jobs`` at a time: pull its reference, copy it to the
    profile's model name."""
    mine = [p for p in part.plans if p.name in by_name and part in by_name[p.name].receivers]
    _each(part, mine, lambda plan: _receive(part, by_name[plan.name], registry))


def _receive(part: HostPart, sh: Shipment, registry: RegistrySpec) -> None:
    plan = sh.plan
    start = time.monotonic()
    here = sh.builder is part and sh.build
    if sh.error is not None:
        part.outcomes.pop(plan.name, None)
        part.fail(plan, _not_shipped(sh, sh.builder is part), time.monotonic() - start)
        return
    try:
        _pull(part, sh, registry)
    except ModelctlError as exc:
        part.outcomes.pop(plan.name, None)
        part.fail(plan, exc, time.monotonic() - start)
        return
    outcome = sh.built if here and sh.built is not None else part.outcomes.get(plan.name) or part.wanted[plan.name]
    if not here and sh.built is not None and outcome.status == "created":
        outcome.base_show = sh.built.base_show
    outcome.shipped = Shipped(sh.reference, sh.digest, built_here=here, pushed_here=sh.builder is part)
    outcome.elapsed = (time.monotonic() - part.started) if sh.builder is part else time.monotonic() - start
    part.outcomes[plan.name] = outcome
    part.event(plan, outcome.verb, outcome.elapsed)


def _pull(part: HostPart, sh: Shipment, registry: RegistrySpec) -> None:
    job = sh.plan.name if len(part.plans) > 1 else None
    part.builder.on_event(Status(f"pulling {sh.reference}", job))
    insecure = is_insecure(sh.reference, part.registries)
    _drain(part, part.session.client.pull(sh.reference, insecure=insecure), job, registry, "pull from it", insecure)
    part.session.client.copy(sh.reference, sh.plan.name)
    part.session.forget(sh.plan.name)


def _not_shipped(sh: Shipment, here: bool) -> ModelctlError:
    """A profile whose build or push failed: on its builder that error, on the others the same
    error said as theirs (its exit code counts once per host, as a failed build would)."""
    assert sh.error is not None
    if here:
        return sh.error
    err = copy.copy(sh.error)  # its class, so its exit code
    where = sh.builder.label if sh.builder is not None else "its builder"
    err.message = f"not pulled: its build on {where} failed: {sh.error.message}"
    return err


# ------------------------------------------------------------------------------------ results


def finish(part: HostPart, by_name: Mapping[str, Shipment], lock: Lock | None) -> BuildResult:
    """The host's records, reports and lock entries (``build``'s), then its result."""
    done = [part.outcomes[p.name] for p in part.plans if p.name in part.outcomes]
    if any(o.shipped is not None for o in done):
        try:
            part.session.tags(refresh=True)  # the copies changed digests, in sync or not
        except ModelctlError:
            pass  # Builder.finish asks again and says what failed
    for o in done:
        if o.plan.name not in part.said:
            part.event(o.plan, o.verb, o.elapsed)
    late = part.builder.finish(done)
    for i, exc in late.items():
        o = done[i]
        part.fail(o.plan, exc, o.elapsed)
        del part.outcomes[o.plan.name]
    if lock is not None:
        _lock_bases(part, by_name, lock)
    outcomes = [part.outcomes[p.name] for p in part.plans if p.name in part.outcomes]
    failures = [part.failures[p.name] for p in part.plans if p.name in part.failures]
    where = str(lock.path) if lock is not None else None
    elapsed = time.monotonic() - part.started
    return BuildResult(False, outcomes, failures, part.notes, where, elapsed, part.session.display_host)


def _lock_bases(part: HostPart, by_name: Mapping[str, Shipment], lock: Lock) -> None:
    """A host that pulled a model lacks its base: its entry names the base as the builder had it,
    and the reference the model came through."""
    for name, outcome in part.outcomes.items():
        sh = by_name.get(name)
        entry = lock.entry(part.session.key, name)
        if sh is None or entry is None or outcome.shipped is None:
            continue
        entry.via = sh.reference
        if entry.base is not None and entry.base.get("digest") is None and sh.base_digest:
            entry.base["digest"] = sh.base_digest


def digest_warnings(parts: Sequence[HostPart], by_name: Mapping[str, Shipment]) -> list[Diagnostic]:
    """A host whose model does not have the registry's digest after the pull (never seen with a
    distribution registry; said rather than assumed)."""
    out = []
    for part in parts:
        try:
            tags = part.session.tags()
        except ModelctlError:
            continue
        for name, outcome in part.outcomes.items():
            sh = by_name.get(name)
            if sh is None or outcome.shipped is None or sh.digest is None:
                continue
            have = normal_digest((find_entry(tags, name) or {}).get("digest"))
            if have != normal_digest(sh.digest):
                out.append(
                    Diagnostic(
                        "digest_differs",
                        f"host {part.label}: {name} has digest {have}, the registry's {sh.reference} {sh.digest}",
                    )
                )
    return out
