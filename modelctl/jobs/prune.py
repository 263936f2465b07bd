"""Pruning what modelctl built: lock entries whose profile no longer makes their model.

A lock file (docs/lock.md) records, per host, every model ``build --lock`` made and the profile
file it came from, relative to the lock file's folder. An entry is *stale* when that file no
longer exists, or when it no longer declares that model name (renamed, or now abstract). Only
stale entries are ever removal candidates: a profile merely not named on the command line is
not, and a model that is not in the lock (made by hand, pulled, built without ``--lock``) is
never one, whatever its name.

``plan --lock`` lists the stale entries of each host (``- remove``, drift: exit 3);
``build --prune --lock`` deletes their models from the host and drops the entries from the
lock. A model whose manifest digest on the server (``/api/tags``) is not the one locked was
rebuilt or changed since by someone else: it is reported and kept unless ``--force``. An
entry without a ``profile`` (an older lock, or a profile read from no file) is never pruned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from modelctl.common.files import locked_by_name, write_atomic
from modelctl.common.jsontypes import JSONObject
from modelctl.errors import Diagnostic, ExitCode, InvalidInput, JobResult, ModelctlError, overall_exit_code
from modelctl.jobs.lock import Lock, LockEntry, read_lock
from modelctl.ollama.server import ModelNotFound
from modelctl.ollama.session import HostSession
from modelctl.ollama.wire import find_entry, same_model_name
from modelctl.profile.profile import load_profile

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.ollama.shapes import TagsResponse

RemovalStatus = Literal["planned", "removed", "dropped", "kept", "failed"]

#: How each status is written for people (``would`` forms for ``--dry-run``).
STATUS_TEXT: dict[str, str] = {
    "planned": "remove",
    "removed": "removed",
    "dropped": "dropped from the lock (not on the server)",
    "kept": "kept",
    "failed": "failed",
}


@dataclass
class Removal:
    """One stale lock entry on one host: why it is stale, and what became of its model."""

    host: str  # the host's lock key
    model: str
    profile: str  # as the lock writes it (relative to the lock file's folder)
    reason: str
    locked_digest: str | None
    server_digest: str | None = None
    on_server: bool = False
    status: RemovalStatus = "planned"
    error: str | None = None

    @property
    def changed(self) -> bool:
        """The model on the server is not the one locked (rebuilt or changed by hand since)."""
        return self.on_server and (not self.locked_digest or self.server_digest != self.locked_digest)

    def note(self) -> str:
        """What the server side adds to the reason (for the text outputs)."""
        if not self.on_server:
            return "not on the server: only the lock entry goes"
        if self.changed:
            return (
                f"changed since the lock ({_short(self.locked_digest)} -> {_short(self.server_digest)}): "
                "kept unless --force"
            )
        return ""

    def to_dict(self) -> JSONObject:
        return {
            "host": self.host,
            "model": self.model,
            "profile": self.profile,
            "reason": self.reason,
            "locked_digest": self.locked_digest,
            "server_digest": self.server_digest,
            "on_server": self.on_server,
            "changed": self.changed,
            "status": self.status,
            "error": self.error,
        }


def _short(digest: str | None) -> str:
    return digest.removeprefix("sha256:")[:12] if digest else "none"


# ------------------------------------------------------------------------------ the rule


#: What a profile file declares: the model name, None (abstract: no model), or the error reading it.
Declared = str | None | ModelctlError


def declared_name(path: Path) -> Declared:
    """The model name the profile file at ``path`` makes now (its ``extends`` followed; no local
    file read), None when it is abstract, or the error that stops it loading."""
    try:
        loaded = load_profile(str(path), local_files=False)
    except ModelctlError as exc:
        return exc
    return None if loaded.profile.abstract else loaded.profile.name


def stale_reason(entry: LockEntry, lock_dir: Path, declared: Callable[[Path], Declared]) -> str | Diagnostic | None:
    """Why ``entry`` is stale (its profile file is gone, or makes another name or none), None when
    it is not, or a warning when the file cannot be read (the entry is kept: pruning needs
    certainty). An entry without a profile is never stale (:func:`judge` says so once)."""
    if entry.profile is None:
        return None
    path = lock_dir / entry.profile
    if not path.exists():
        return f"profile {entry.profile} no longer exists"
    name = declared(path)
    if isinstance(name, ModelctlError):
        return Diagnostic(
            "prune_unreadable",
            f"{entry.model}: its profile {entry.profile} cannot be read ({name.message}); not pruned",
            str(path),
        )
    if name is None:
        return f"profile {entry.profile} is abstract now: it makes no model"
    if not same_model_name(name, entry.model):
        return f"profile {entry.profile} now makes {name}"
    return None


def judge(
    lock: Lock,
    key: str,
    tags: TagsResponse | None,
    *,
    declared: Callable[[Path], Declared] = declared_name,
) -> tuple[list[Removal], list[Diagnostic]]:
    """The stale entries of host ``key`` in ``lock`` (by model name), each with the model's digest
    on the server from ``tags`` (None: the list is unknown, every model counts as present and
    changed), and the warnings: unreadable profiles, and one for the entries without a profile."""
    host = lock.host(key)
    if host is None or not lock.found:
        return [], []
    lock_dir = lock.path.parent.resolve()  # as modelctl.jobs.lock.make_entry writes the path
    cache: dict[Path, Declared] = {}

    def once(path: Path) -> Declared:
        if path not in cache:
            cache[path] = declared(path)
        return cache[path]

    removals: list[Removal] = []
    notes: list[Diagnostic] = []
    unowned = [m for m, e in sorted(host.models.items()) if e.profile is None]
    for _model, entry in sorted(host.models.items()):
        why = stale_reason(entry, lock_dir, once)
        if isinstance(why, Diagnostic):
            notes.append(why)
        elif why is not None:
            removals.append(_removal(key, entry, why, tags))
    if unowned:
        shown = ", ".join(unowned[:5]) + (f" and {len(unowned) - 5} more" if len(unowned) > 5 else "")
        notes.append(
            Diagnostic(
                "prune_no_profile",
                f"{len(unowned)} lock entr{'y' if len(unowned) == 1 else 'ies'} for {key} record no profile file "
                f"(written by an older modelctl): never pruned ({shown}); `build --lock` records it",
                str(lock.path),
            )
        )
    return removals, notes


def _removal(key: str, entry: LockEntry, reason: str, tags: TagsResponse | None) -> Removal:
    r = Removal(key, entry.model, str(entry.profile), reason, entry.model_digest)
    if tags is None:
        r.on_server = True  # unknown: never removed without --force
        return r
    listed = find_entry(tags, entry.model)
    r.on_server = listed is not None
    r.server_digest = str(listed.get("digest")) if listed is not None and listed.get("digest") else None
    return r


# ------------------------------------------------------------------------------ pruning


@dataclass
class PruneResult(JobResult):
    """One host's pruning: its stale entries, each with what became of it."""

    host: str  # as printed
    key: str  # in the lock
    removals: list[Removal] = field(default_factory=list)
    notes: list[Diagnostic] = field(default_factory=list)
    dry_run: bool = False

    def outcome_codes(self) -> list[ExitCode]:
        return [ExitCode.SERVER] if any(r.status == "failed" for r in self.removals) else []

    def to_dict(self) -> JSONObject:
        return {
            "host": self.host,
            "lock_key": self.key,
            "dry_run": self.dry_run,
            "removals": [r.to_dict() for r in self.removals],
        }


def prune_on(session: HostSession, lock: Lock, *, dry_run: bool = False, force: bool = False) -> PruneResult:
    """Delete the models of the stale entries of this host (see the module docstring); with
    ``dry_run`` only judge them. The lock file is not written here (:func:`drop_entries`)."""
    out = PruneResult(session.display_host, session.key, dry_run=dry_run)
    if lock.host(session.key) is None:
        return out
    tags = session.tags(refresh=True)  # after this run's builds: the digests as they are now
    out.removals, out.notes = judge(lock, session.key, tags)
    for r in out.removals:
        if dry_run:
            continue
        if not r.on_server:
            r.status = "dropped"
        elif r.changed and not force:
            r.status = "kept"
            out.notes.append(Diagnostic("prune_kept", f"{r.model} on {out.host}: {r.note()}; kept"))
        else:
            _delete(session, r)
    return out


def _delete(session: HostSession, r: Removal) -> None:
    try:
        session.client.delete(r.model)
    except ModelNotFound:  # removed meanwhile: nothing left to do on the server
        r.status = "dropped"
        return
    except ModelctlError as exc:
        r.status, r.error = "failed", exc.message
        return
    session.forget(r.model)
    r.status = "removed"


def drop_entries(path: str | Path, removals: Sequence[Removal]) -> None:
    """Drop the entries of removed (or already gone) models from the lock file, as the file is now
    (read, changed and written under its lock, as :meth:`modelctl.jobs.lock.Lock.write` does); an
    entry rewritten meanwhile (another digest) is left."""
    gone = [r for r in removals if r.status in ("removed", "dropped")]
    if not gone:
        return
    p = Path(path)
    try:
        with locked_by_name(p):
            current = read_lock(p, missing_ok=True)
            for r in gone:
                host = current.host(r.host)
                entry = host.models.get(r.model) if host is not None else None
                if host is not None and entry is not None and entry.model_digest == r.locked_digest:
                    del host.models[r.model]
            write_atomic(p, current.text())
    except OSError as exc:
        raise InvalidInput(f"cannot write the lock file: {exc.strerror or exc}", file=str(p)) from None


def overall(results: Sequence[PruneResult]) -> ExitCode:
    return overall_exit_code(r.exit_code() for r in results)
