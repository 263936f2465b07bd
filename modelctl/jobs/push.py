"""``modelctl push``: put built models on an OCI registry, for other servers to pull.

For each model (by name, or the model a profile makes) on the host: ``/api/copy`` to
``REGISTRY/NAMESPACE/NAME:TAG`` (the tag the model has, ``latest`` when it has none, unless
one is given), then ``/api/push`` of that name (``insecure: true`` for a registry named by
``--insecure-registry``), then the registry's manifest digest for it
(:func:`modelctl.ollama.manifests.manifest_digest`): the digest a server that pulls the model will
report. The registry name stays on the host; with a lock file it is recorded there
(docs/lock.md, ``pushed``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from modelctl.common.events import EventSink, ignore, progress_event
from modelctl.common.jsontypes import JSONObject
from modelctl.errors import InvalidInput, JobResult, ModelctlError
from modelctl.jobs.housekeeping import model_name_of
from modelctl.jobs.lock import read_lock
from modelctl.ollama.hosts import HostRef, HostSpec
from modelctl.ollama.manifests import manifest_digest
from modelctl.ollama.registry import http_registry_error, http_registry_hint, is_insecure, reference_for
from modelctl.ollama.registry import parse_destination as registry_destination
from modelctl.ollama.server import ModelNotFound, OllamaClient
from modelctl.ollama.session import session_for
from modelctl.ollama.wire import find_entry
from modelctl.profile.names import model_hint


@dataclass
class Pushed:
    """One model pushed: its name on the host, the registry reference, the registry's digest."""

    source: str
    reference: str
    profile: str | None
    digest: str | None
    insecure: bool
    statuses: list[str] = field(default_factory=list)

    def to_dict(self) -> JSONObject:
        return {
            "source": self.source,
            "reference": self.reference,
            "profile": self.profile,
            "digest": self.digest,
            "insecure": self.insecure,
        }


@dataclass
class PushResult(JobResult):
    """Pushed models (a failed push raises: nothing in the result can fail)."""

    host: str
    destination: str
    models: list[Pushed]
    lock: str | None = None

    def to_dict(self) -> JSONObject:
        return {
            "host": self.host,
            "destination": self.destination,
            "lock": self.lock,
            "models": [m.to_dict() for m in self.models],
        }


def parse_destination(to: str) -> str:
    """``--to REGISTRY/NAMESPACE`` checked (:func:`modelctl.ollama.registry.parse_destination`)."""
    try:
        return registry_destination(to)
    except ValueError as exc:
        raise InvalidInput(f"--to {to!r}: {exc}") from None


@dataclass(kw_only=True, frozen=True)
class PushOptions:
    """Every setting of ``push_models`` (``push``) but its destination, once."""

    tag: str | None = None  # the tag pushed (default: the model's own)
    insecure_registries: Iterable[str] = ()  # registries served over http (HOST or HOST:PORT)
    lock: str | Path | None = None  # the lock file that records each pushed digest


def push_models(
    refs: Sequence[str],
    to: str,
    options: PushOptions | None = None,
    *,
    host: HostRef = None,
    timeout: float | None = None,
    on_event: EventSink = ignore,
) -> PushResult:
    """Copy each model to ``TO/NAME:TAG`` on the host and push it; every name is checked first
    (a name the server lacks pushes nothing: :class:`ModelNotFound`, exit 5). A registry is pushed
    to over http when ``options.insecure_registries`` or the inventory host's own list names it."""
    o = options or PushOptions()
    tag, lock = o.tag, o.lock
    destination = parse_destination(to)
    # --insecure-registry, and an inventory host's `insecure_registries` (the one spelling, as build reads it)
    registries = (*o.insecure_registries, *(host.insecure_registries if isinstance(host, HostSpec) else ()))
    names = [(ref, *model_name_of(ref)) for ref in refs]
    with session_for(host, timeout=timeout) as session:
        client = session.client
        session.require_version()
        tags = client.tags()
        for _, name, _ in names:
            if find_entry(tags, name) is None:
                hint = model_hint(client, name, profiles=False)
                raise ModelNotFound(
                    f"model '{name}' is not on the server at {client.display_host}"
                    + (f" ({hint})" if hint else "")
                    + ": nothing pushed",
                    model=name,
                )
        pushed = [
            _push_one(client, name, profile, destination, tag, registries, on_event) for _, name, profile in names
        ]
        if lock is not None:
            the_lock = read_lock(lock, missing_ok=True)
            for p in pushed:
                the_lock.put_push(session.key, session.version(), p.reference, p.source, p.digest)
            the_lock.write()
        return PushResult(client.display_host, destination, pushed, str(lock) if lock is not None else None)


def _push_one(
    client: OllamaClient,
    name: str,
    profile: str | None,
    destination: str,
    tag: str | None,
    registries: tuple[str, ...],
    on_event: EventSink,
) -> Pushed:
    reference = reference_for(name, destination, tag)
    insecure = is_insecure(reference, registries)
    client.copy(name, reference)
    done = Pushed(name, reference, profile, None, insecure)
    try:
        for obj in client.push(reference, insecure=insecure):
            event = progress_event(obj, reference)
            if event is not None:
                on_event(event)
            status = obj.get("status")
            if isinstance(status, str) and status and (not done.statuses or done.statuses[-1] != status):
                done.statuses.append(status)
    except ModelctlError as exc:
        registry = destination.split("/", 1)[0]
        if not insecure and http_registry_error(exc.message):
            exc.message = f"{exc.message} ({http_registry_hint(registry, 'push to it')})"
        raise
    done.digest = manifest_digest(reference, insecure_registries=registries, timeout=client.timeout or 30.0)
    return done
