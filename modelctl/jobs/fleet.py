"""Several Ollama hosts at once: ``build``, ``plan``, ``show`` and the compare table across a fleet.

The hosts come from repeated ``--host`` values and an inventory (:mod:`modelctl.profile.inventory`).
Every profile is loaded, rendered, checked and hashed once, before any server is asked
(invalid input stops the run: exit 1); then each host gets its own
:class:`~modelctl.ollama.session.HostSession` (each question asked once per host) and runs the
one-host job in a thread of its own, :data:`HOSTS_AT_ONCE` hosts at a time. A host that is
down, times out or fails is that host's error: the others go on. The result lists every
host's own result (the one-host job's type) and a host x profile matrix of what happened,
and its exit code follows errors.PRECEDENCE across hosts.

With a single host the one-host job runs as it always did (its errors raise), so one server
gives the same result, output and exit code with or without an inventory.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from modelctl.common.events import Event, EventSink, ProfileDone, Status, Transfer, ignore
from modelctl.common.jsontypes import JSONObject
from modelctl.errors import (
    Diagnostic,
    ExitCode,
    InvalidInput,
    JobResult,
    ModelctlError,
    UsageProblem,
    overall_exit_code,
)
from modelctl.jobs import via_registry as via
from modelctl.jobs.build import (
    Builder,
    BuildOptions,
    BuildOutcome,
    BuildPlan,
    BuildRecords,
    BuildResult,
    build,
    build_on,
    load_builds,
    plan_profile,
)
from modelctl.jobs.lock import Lock, read_lock
from modelctl.jobs.plan import PlanOptions, PlanResult, plan, plan_on, prepare
from modelctl.ollama.hosts import HostSpec, parse_host, redact
from modelctl.ollama.registry import RegistrySpec
from modelctl.ollama.session import HostSession, session_for
from modelctl.profile.inventory import Selection, host_label, host_refs, select_hosts
from modelctl.profile.profile import LoadedProfile, resolve_ref

if TYPE_CHECKING:  # plan and build import this module: compare's and show's jobs load when they run
    from modelctl.jobs.compare import CompareOptions
    from modelctl.jobs.show import ModelReport
    from modelctl.jobs.table import ParamTable

R = TypeVar("R")
J = TypeVar("J", bound=JobResult)  # a job's result, whose exit code a fleet ranks

#: Hosts asked at once (each with its own session and its own concurrency).
HOSTS_AT_ONCE = 8


@dataclass
class Cell:
    """One profile (or model) on one host: what happened to it there."""

    host: str
    model: str
    status: str  # created | changed | up to date | in sync | missing | failed | found | built | not built ...
    profile: str | None = None
    elapsed: float | None = None
    error: str | None = None

    def to_dict(self) -> JSONObject:
        return {
            "host": self.host,
            "profile": self.profile,
            "model": self.model,
            "status": self.status.replace(" ", "_"),
            "elapsed_s": None if self.elapsed is None else round(self.elapsed, 3),
            "error": self.error,
        }


@dataclass
class HostRun(Generic[R]):
    """One host's part of a fleet run: its result, or the error that stopped it there."""

    host: HostSpec
    label: str
    refs: list[str]
    result: R | None = None
    error: ModelctlError | None = None
    elapsed: float = 0.0

    def to_dict(self, result: Callable[[R], Any]) -> JSONObject:
        return {
            "host": self.label,
            "url": _url(self.host),
            "ok": self.error is None,
            "elapsed_s": round(self.elapsed, 3),
            "error": self.error.diagnostic().to_dict() if self.error is not None else None,
            "result": result(self.result) if self.result is not None else None,
        }


def _url(host: HostSpec) -> str:
    return redact(parse_host(host.url if host.url else os.environ.get("OLLAMA_HOST")))


@dataclass
class Fleet(JobResult, Generic[J]):
    """A command's run over one or several hosts (see the module docstring)."""

    command: str
    runs: list[HostRun[J]]
    cells: list[Cell] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def many(self) -> bool:
        return len(self.runs) > 1

    @property
    def only(self) -> J:
        """The result of a one-host run."""
        result = self.runs[0].result
        assert result is not None, "a one-host run raises its error"
        return result

    @property
    def failed_hosts(self) -> list[HostRun[J]]:
        return [r for r in self.runs if r.error is not None]

    def outcome_codes(self) -> list[ExitCode]:
        """Every host's code: its error's, else its result's."""
        codes = [r.error.exit_code for r in self.runs if r.error is not None]
        return codes + [r.result.exit_code() for r in self.runs if r.result is not None]

    def finish(self, cells_of: Callable[[str, J], list[Cell]], started: float) -> Fleet[J]:
        """The matrix from every host's result (a host that failed as a whole: one cell), and the wall time."""
        self.cells += [c for r in self.runs if r.result is not None for c in cells_of(r.label, r.result)]
        self.cells += [Cell(r.label, "*", "failed", error=r.error.message) for r in self.runs if r.error is not None]
        self.elapsed = time.monotonic() - started
        return self

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.cells:
            out[c.status] = out.get(c.status, 0) + 1
        return out

    def to_dict(self, result: Callable[[J], Any]) -> JSONObject:
        return {
            "hosts": [r.to_dict(result) for r in self.runs],
            "matrix": [c.to_dict() for c in self.cells],
            "summary": {
                "hosts": len(self.runs),
                "failed_hosts": len(self.failed_hosts),
                **{k.replace(" ", "_"): n for k, n in self.counts().items()},
            },
            "elapsed_s": round(self.elapsed, 3),
        }


# --------------------------------------------------------------------------------- running


def on_hosts(
    runs: Sequence[HostRun[R]], job: Callable[[HostRun[R]], R | None], *, at_once: int = HOSTS_AT_ONCE
) -> None:
    """``job`` for every host, ``at_once`` at a time in daemon threads; each host's error is its own.
    Its answer is the host's result (a step of a job that answers None leaves it to a later step)."""
    slots = threading.Semaphore(max(1, at_once))
    crashed: list[BaseException] = []

    def one(run: HostRun[R]) -> None:
        with slots:
            start = time.monotonic()
            try:
                run.result = job(run)
            except ModelctlError as exc:
                run.error = exc
            except BaseException as exc:  # a bug: raised in the main thread below
                crashed.append(exc)
            finally:
                run.elapsed = time.monotonic() - start

    threads = [
        threading.Thread(target=one, args=(r,), name=f"modelctl-host-{i}", daemon=True) for i, r in enumerate(runs)
    ]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)
    if crashed:
        raise crashed[0]


def tagged(on_event: EventSink, label: str) -> EventSink:
    """Events of one host's job, named by the host (several hosts share one progress display)."""

    def sink(event: Event) -> None:
        if isinstance(event, ProfileDone):
            event = ProfileDone(event.model, event.status, event.elapsed, label, event.error, event.of)
        elif isinstance(event, Status):
            event = Status(event.text, f"{label} {event.job}" if event.job else label)
        elif isinstance(event, Transfer):
            job = f"{label} {event.job}" if event.job else label
            event = Transfer(event.key, event.label, event.completed, event.total, job)
        on_event(event)

    return sink


def _runs(selection: Selection, refs: Sequence[str]) -> list[HostRun[Any]]:
    runs: list[HostRun[Any]] = []
    for h in selection.hosts:
        runs.append(HostRun(h, host_label(h), host_refs(h, refs)))
    if not refs and all(not r.refs for r in runs):
        raise InvalidInput("no profiles: give PROFILE(s), or list them under a host's `profiles` in the inventory")
    return runs


def _union(runs: Sequence[HostRun[Any]]) -> list[str]:
    return list(dict.fromkeys(ref for r in runs for ref in r.refs))


def _no_profiles(runs: Sequence[HostRun[Any]]) -> list[Diagnostic]:
    return [
        Diagnostic("no_profiles", f"host {r.label}: no profile of this run is listed for it; nothing to do there")
        for r in runs
        if not r.refs
    ]


# ------------------------------------------------------------------------------------ plan


def plan_hosts(
    refs: Sequence[str],
    options: PlanOptions | None = None,
    *,
    hosts: Sequence[str] = (),
    inventory: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    on_event: EventSink = ignore,
) -> Fleet[PlanResult]:
    """``plan`` on every host: each host's profiles against the models of their names there.

    Each host is asked its version and model list once and each model's ``/api/show`` once, with
    up to ``options.concurrency`` requests at a time per host, all hosts at once; the questions start
    while the profiles are still being rendered."""
    started = time.monotonic()
    o = options or PlanOptions()
    selection = select_hosts(hosts, inventory)
    if o.registry is None and selection.inventory is not None and selection.inventory.registry is not None:
        o = replace(o, registry=selection.inventory.registry)  # each host's digest against the registry's
    runs: list[HostRun[PlanResult]] = _runs(selection, refs)
    fleet = Fleet("plan", runs, warnings=selection.warnings + _no_profiles(runs))
    if not fleet.many:
        runs[0].result = plan(runs[0].refs, o, host=runs[0].host, timeout=timeout, on_event=on_event)
    else:
        the_lock = read_lock(o.lock, missing_ok=True) if o.lock is not None else None
        sessions = {id(r): session_for(r.host, timeout=timeout, concurrency=o.concurrency) for r in runs}
        try:
            _plan_many(runs, sessions, the_lock, o, timeout, on_event)
        finally:
            for s in sessions.values():
                s.close()
    return fleet.finish(_plan_cells, started)


def _plan_many(
    runs: list[HostRun[PlanResult]],
    sessions: dict[int, HostSession],
    lock: Lock | None,
    options: PlanOptions,
    timeout: float | None,
    on_event: EventSink,
) -> None:
    sessions_of: dict[Path, list[HostSession]] = {}
    for r in runs:
        if r.refs:
            sessions[id(r)].prefetch((), basics=True)
        for path in profile_paths(r.refs):
            sessions_of.setdefault(path, []).append(sessions[id(r)])

    def ask_model(lp: LoadedProfile) -> None:  # each host starts on a profile's model as soon as it has loaded
        for s in sessions_of.get(lp.path, []):
            s.prefetch([lp.profile.name])

    def ask(p: BuildPlan) -> None:  # and on its base as soon as it is rendered
        for s in sessions_of.get(p.profile_path or Path(), []):
            s.prefetch([p.name, p.base_model])

    plans, skipped = prepare(
        _union(runs),
        overrides=options.overrides,
        template=options.template,
        on_plan=ask,
        on_event=on_event,
        local_files=options.local_files,
        on_loaded=ask_model,
    )
    shipped: dict[str, tuple[str, str]] = {}
    notes: list[Diagnostic] = []
    if options.registry is not None:
        shipped, notes = via.registry_references(plans, options.registry, timeout or 30.0)
    records = BuildRecords()

    def job(run: HostRun[PlanResult]) -> PlanResult:
        mine, skipped_here = _mine(run.refs, plans, skipped)
        result = plan_on(
            sessions[id(run)], mine, skipped_here, lock=lock, strict=options.strict, records=records, shipped=shipped
        )
        result.notes += notes
        return result

    on_hosts(runs, job)


def _plan_cells(label: str, result: PlanResult) -> list[Cell]:
    words = {"in_sync": "in sync", "changed": "changed", "missing": "missing", "failed": "failed"}
    return [
        Cell(
            label,
            p.model,
            words[p.status],
            str(p.profile) if p.profile else None,
            error=p.error.message if p.error is not None else None,
        )
        for p in result.profiles
    ]


# ----------------------------------------------------------------------------------- build


def build_hosts(
    refs: Sequence[str],
    options: BuildOptions | None = None,
    *,
    hosts: Sequence[str] = (),
    inventory: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    on_event: EventSink = ignore,
) -> Fleet[BuildResult]:
    """``build`` on every host, each host's profiles ``options.jobs`` at a time. Profiles are loaded,
    rendered and their local files hashed once; the build records and the lock file are written once,
    after every host is done. ``options.reports``: compose every model's report (None: only for one profile)."""
    started = time.monotonic()
    opts = options or BuildOptions()
    selection = select_hosts(hosts, inventory)
    registry = _registry(opts, selection)
    runs: list[HostRun[BuildResult]] = _runs(selection, refs)
    fleet = Fleet("build", runs, warnings=selection.warnings + _no_profiles(runs))
    if registry is not None and not opts.dry_run:
        fleet.warnings += _build_via(runs, opts, registry, timeout, on_event)
    elif not fleet.many:
        run = runs[0]
        run.result = build(run.refs, opts, host=run.host, timeout=timeout, on_event=on_event)
    else:
        _build_many(runs, opts, timeout, on_event)
    return fleet.finish(_build_cells, started)


@dataclass
class _Prepared:
    """What every host of a fleet build shares: the plans (loaded, rendered, hashed once), the notes
    on abstract profiles, the lock, the build records and one session per host."""

    plans: list[BuildPlan]
    skipped: list[Diagnostic]
    lock: Lock | None
    sessions: dict[int, HostSession]
    records: BuildRecords = field(default_factory=BuildRecords)

    def write(self, runs: Sequence[HostRun[BuildResult]]) -> None:
        """The build records and the lock file, once, after every host is done."""
        self.records.flush()
        if self.lock is not None and any(r.result is not None and r.result.outcomes for r in runs):
            self.lock.write()


@contextlib.contextmanager
def _prepared(
    runs: Sequence[HostRun[BuildResult]], options: BuildOptions, timeout: float | None, on_event: EventSink
) -> Iterator[_Prepared]:
    """Profiles loaded and rendered, each host's version and model list asked while the files hash;
    the sessions closed at the end."""
    loaded, skipped = load_builds(_union(runs), options.overrides, options.template)
    dry_run = options.dry_run
    the_lock = read_lock(options.lock, missing_ok=True) if options.lock is not None and not dry_run else None
    sessions = {id(r): session_for(r.host, timeout=timeout) for r in runs}
    try:
        if not dry_run:
            for r in runs:
                if r.refs:
                    sessions[id(r)].prefetch((), basics=True)  # version and model list, while files hash
        plans = [plan_profile(lp, rendered, on_event=on_event) for lp, rendered in loaded]
        yield _Prepared(plans, skipped, the_lock, sessions)
    finally:
        for s in sessions.values():
            s.close()


def _build_many(
    runs: list[HostRun[BuildResult]], options: BuildOptions, timeout: float | None, on_event: EventSink
) -> None:
    with _prepared(runs, options, timeout, on_event) as prep:

        def job(run: HostRun[BuildResult]) -> BuildResult:
            mine, notes = _mine(run.refs, prep.plans, prep.skipped)
            session = prep.sessions[id(run)]
            if options.dry_run or not mine:
                return BuildResult(
                    options.dry_run,
                    [BuildOutcome(p, "planned") for p in mine],
                    skipped=notes,
                    host=session.display_host,
                )
            session.require_version()
            return build_on(
                session,
                mine,
                options.on_host(len(mine), run.host),
                skipped=notes,
                lock=prep.lock,
                records=prep.records,
                on_event=tagged(on_event, run.label),
            )

        on_hosts(runs, job)
        prep.write(runs)


def _registry(options: BuildOptions, selection: Selection) -> RegistrySpec | None:
    """The inventory's registry for ``--via-registry`` (None without the option)."""
    if not options.via_registry:
        return None
    inv = selection.inventory
    if inv is None or inv.registry is None:
        where = f"the inventory {inv.path} names none" if inv is not None else "give --hosts FILE"
        raise UsageProblem(
            f"--via-registry ships models through the inventory's `registry: {{url: HOST:PORT/NAMESPACE}}`: {where}"
        )
    return inv.registry


def _build_via(
    runs: list[HostRun[BuildResult]],
    options: BuildOptions,
    registry: RegistrySpec,
    timeout: float | None,
    on_event: EventSink,
) -> list[Diagnostic]:
    """``build --via-registry`` (modelctl.jobs.via_registry): judge on every host, build and push
    each needed profile once, pull it everywhere it is needed; records and the lock written once."""
    with _prepared(runs, options, timeout, on_event) as prep:
        parts = {id(r): _part(r, prep, options, on_event) for r in runs}
        for r in runs:
            if not parts[id(r)].plans:
                r.result = BuildResult(False, [], skipped=parts[id(r)].notes, host=prep.sessions[id(r)].display_host)
        busy = [r for r in runs if parts[id(r)].plans]
        on_hosts(busy, lambda r: via.judge(parts[id(r)], options, prep.records, prep.lock))
        ok = [parts[id(r)] for r in busy if r.error is None]
        listed = {p.name for part in ok for p in part.plans}
        registries = (*options.insecure_registries, *((registry.host,) if registry.insecure else ()))
        now = via.registry_digests([p for p in prep.plans if p.name in listed], registry, registries, timeout or 30.0)
        ships = via.shipments(ok, prep.plans, registry, now, force=options.force)
        by_name = {sh.plan.name: sh for sh in ships}

        def push(r: HostRun[BuildResult]) -> None:
            via.build_and_push(parts[id(r)], [sh for sh in ships if sh.builder is parts[id(r)]], registry, prep.lock)

        def pull(r: HostRun[BuildResult]) -> BuildResult:
            via.pull_and_copy(parts[id(r)], by_name, registry)
            return via.finish(parts[id(r)], by_name, prep.lock)

        on_hosts([r for r in busy if any(sh.builder is parts[id(r)] for sh in ships)], push)
        on_hosts([r for r in busy if r.error is None], pull)
        for r in busy:
            r.elapsed = time.monotonic() - parts[id(r)].started
        prep.write(runs)
        return via.digest_warnings([parts[id(r)] for r in busy if r.error is None], by_name)


def _part(run: HostRun[BuildResult], prep: _Prepared, options: BuildOptions, on_event: EventSink) -> via.HostPart:
    mine, notes = _mine(run.refs, prep.plans, prep.skipped)
    opts = options.on_host(len(mine), run.host)
    session = prep.sessions[id(run)]
    builder = Builder(session, opts, on_event=tagged(on_event, run.label), records=prep.records, lock=prep.lock)
    return via.HostPart(run.label, session, builder, mine, notes, tuple(opts.insecure_registries))


def _build_cells(label: str, result: BuildResult) -> list[Cell]:
    cells = [
        Cell(label, o.plan.name, o.verb, str(o.plan.profile_path) if o.plan.profile_path else None, o.elapsed)
        for o in result.outcomes
    ]
    cells += [
        Cell(label, f.name, "failed", str(f.profile) if f.profile else None, f.elapsed, f.error.message)
        for f in result.failures
    ]
    return cells


# ------------------------------------------------------------------------------------ show


def show_hosts(
    ref: str,
    *,
    hosts: Sequence[str] = (),
    inventory: str | os.PathLike[str] | None = None,
    verify: bool = False,
    timeout: float | None = None,
) -> Fleet[ModelReport]:
    """The report of MODEL (or of PROFILE's model) on every host, each with its own facts."""
    from modelctl.jobs.show import profile_view, show, show_on

    started = time.monotonic()
    selection = select_hosts(hosts, inventory)
    runs: list[HostRun[ModelReport]] = [HostRun(h, host_label(h), [ref]) for h in selection.hosts]

    fleet = Fleet("show", runs, warnings=selection.warnings)
    if not fleet.many:
        runs[0].result = show(ref, verify=verify, host=runs[0].host, timeout=timeout)
    else:
        view = profile_view(ref)

        def job(run: HostRun[ModelReport]) -> ModelReport:
            with session_for(run.host, timeout=timeout) as session:
                return show_on(session, view, ref, verify=verify, server=run.host.facts)

        on_hosts(runs, job)
    for r in runs:
        if r.result is not None:
            fleet.cells.append(Cell(r.label, r.result.name, "found"))
        elif r.error is not None:
            missing = getattr(r.error, "code", "") == "model_not_found"
            fleet.cells.append(Cell(r.label, ref, "missing" if missing else "failed", error=r.error.message))
    fleet.elapsed = time.monotonic() - started
    return fleet


# --------------------------------------------------------------------------------- compare


def compare_hosts(
    refs: Sequence[str],
    options: CompareOptions | None = None,
    *,
    hosts: Sequence[str] = (),
    inventory: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
) -> Fleet[ParamTable]:
    """The compare parameter table on every host (what each host made of the profiles); profiles
    are loaded once, each host asked once per model. Prompts need one server (``compare``).

    A host that cannot be reached or that fails a request still gets its table (without what the
    server would have said); with several hosts its code (4, 5) counts in the run's by
    errors.PRECEDENCE. One server's table is the one-host command's: a note, exit 0 (docs/compare.md)."""
    from modelctl.jobs.compare import CompareOptions, load_targets, skip_abstract, table_on

    started = time.monotonic()
    options = options or CompareOptions()
    selection = select_hosts(hosts, inventory)
    runs: list[HostRun[ParamTable]] = [HostRun(h, host_label(h), list(refs)) for h in selection.hosts]
    fleet = Fleet("compare", runs, warnings=selection.warnings)
    kept, loaded, notes = skip_abstract(refs, options.overrides)
    if not kept:
        raise InvalidInput("nothing to compare: every profile given is abstract (only extended by others)")
    targets = load_targets(kept, options.overrides, options.ephemeral, loaded)

    def job(run: HostRun[ParamTable]) -> ParamTable:
        with session_for(run.host, timeout=timeout) as session:
            table = table_on(session, targets, options)
            for t in targets:
                status = "-" if options.no_server or not table.server.reachable else _built(session, t.model)
                fleet.cells.append(Cell(run.label, t.label, status))
            if fleet.many and not options.no_server:  # what its server did counts (one server's: a note)
                table.server_code = _server_code(session, [t.model for t in targets])
        table.warnings[:0] = notes
        return table

    on_hosts(runs, job)
    order = {r.label: i for i, r in enumerate(runs)}
    fleet.cells.sort(key=lambda c: order.get(c.host, 0))  # hosts finish in any order
    return fleet.finish(lambda _label, _table: [], started)


def _server_code(session: HostSession, models: Sequence[str]) -> ExitCode:
    """The code of what one host's server did for the table (answers already asked, none again):
    unreachable 4, a failed request 5, by errors.PRECEDENCE; a model not built is no error."""
    try:
        session.version()
    except ModelctlError as exc:
        return exc.exit_code  # the models were not asked
    codes: list[ExitCode] = []
    for model in models:
        try:
            session.show(model)
        except ModelctlError as exc:
            codes.append(exc.exit_code)
    return overall_exit_code(codes)


def _built(session: HostSession, model: str) -> str:
    try:
        return "built" if session.show(model) is not None else "not built"  # asked already: no request
    except ModelctlError:
        return "failed"


# -------------------------------------------------------------------------------- profiles


def profile_paths(refs: Sequence[str]) -> list[Path]:
    """The files of profile references (one that cannot be found is reported when loading)."""
    out = []
    for ref in refs:
        try:
            out.append(resolve_ref(ref))
        except ModelctlError:
            continue
    return out


def _mine(
    refs: Sequence[str], plans: Sequence[BuildPlan], skipped: Sequence[Diagnostic]
) -> tuple[list[BuildPlan], list[Diagnostic]]:
    """The plans of ``refs`` (in their order) and the notes on the abstract ones among them."""
    paths = profile_paths(refs)
    by_path = {p.profile_path: p for p in plans}
    mine = [by_path[path] for path in dict.fromkeys(paths) if path in by_path]
    wanted = set(paths)
    notes = [d for d in skipped if d.file is not None and Path(os.path.abspath(d.file)) in wanted]
    return mine, notes
