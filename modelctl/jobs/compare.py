"""``compare``: profiles side by side — the parameter table, or with prompts the run matrix.

The table is built by :mod:`modelctl.jobs.table`, the matrix run by :mod:`modelctl.jobs.matrix`; this
module is the job behind the command: it loads every profile first (reporting every invalid
one at once), asks the server once per model, and returns the typed table or matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelctl.common.events import EventSink, ignore
from modelctl.errors import Diagnostic, InvalidInput, ModelctlError, UsageProblem, combine, gather
from modelctl.jobs.matrix import Matrix, run_matrix
from modelctl.jobs.profiles import load_profile
from modelctl.jobs.run import Target, require_truncate, resolve_target
from modelctl.jobs.table import ParamTable, build_table
from modelctl.ollama.hosts import HostFacts, HostRef
from modelctl.ollama.server import OllamaClient, ServerInfo
from modelctl.ollama.session import HostSession, client_for, host_facts, session_for
from modelctl.ollama.wire import find_entry
from modelctl.profile.profile import LoadedProfile, is_profile_ref, split_abstract
from modelctl.profile.prompts import PromptCase, inline_prompts, load_prompts

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.ollama.shapes import PsResponse, ShowResponse, TagsResponse

# =========================================================================== the job


def _resolve_all(resolve: Callable[[str, int], Target], refs: Sequence[str]) -> list[Target]:
    """``resolve(ref, index)`` for every ref; every failure is reported at once."""
    return gather(lambda item: resolve(item[1], item[0]), enumerate(refs))


def skip_abstract(
    refs: Sequence[str], overrides: Sequence[str] = ()
) -> tuple[list[str], list[LoadedProfile | None], list[Diagnostic]]:
    """The refs without abstract profiles (only extended by others: never a column), each
    with its loaded profile (None for a model name), and a note per profile skipped."""
    keep: list[str] = []
    loaded: list[LoadedProfile | None] = []
    notes: list[Diagnostic] = []
    errors: list[ModelctlError] = []
    for ref in refs:
        try:
            lp = load_profile(ref, overrides) if is_profile_ref(ref) else None
        except ModelctlError as exc:
            errors.append(exc)
            continue
        if lp is not None and lp.profile.abstract:
            notes += split_abstract([lp])[1]
            continue
        keep.append(ref)
        loaded.append(lp)
    if errors:
        raise combine(errors)
    return keep, loaded, notes


def load_targets(
    refs: Sequence[str],
    overrides: Sequence[str] = (),
    ephemeral: bool = False,
    preloaded: Sequence[LoadedProfile | None] | None = None,
) -> list[Target]:
    """Load every profile first and report every invalid one at once (no server asked)."""
    targets = _resolve_all(
        lambda ref, i: resolve_target(
            ref,
            None,
            overrides=overrides,
            ephemeral=ephemeral,
            check_built=False,
            loaded=preloaded[i] if preloaded is not None else None,
        ),
        refs,
    )
    labels = [t.label for t in targets]
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise InvalidInput(
            f"two columns would have the same name: {', '.join(dupes)} (each profile needs its own name)"
        )
    return targets


@dataclass(kw_only=True, frozen=True)
class CompareOptions:
    """Every setting of a compare, once: without prompts the table, with prompts the matrix."""

    prompts: Sequence[str] = ()  # inline prompts
    prompts_file: str | None = None  # a prompts YAML file
    seeds: Sequence[int | None] = (None,)
    repeat: int = 1
    parallel: int = 1
    all_params: bool = False  # table: every catalogue parameter
    no_server: bool = False  # table: do not ask a server
    ephemeral: bool = False  # send each profile's settings to its base model
    overrides: Sequence[str] = ()
    min_pass_rate: float = 1.0  # matrix: the share of assertions that must pass (else exit 6)
    no_truncate: bool = False  # matrix: a prompt longer than the context is a cell error, not cut

    @property
    def runs_prompts(self) -> bool:
        return bool(self.prompts or self.prompts_file)


def compare(
    refs: Sequence[str],
    options: CompareOptions | None = None,
    *,
    host: HostRef = None,
    timeout: float | None = None,
    on_event: EventSink = ignore,
) -> ParamTable | Matrix:
    """The ``compare`` command's job: :func:`compare_runs` when ``options`` has prompts, else
    :func:`compare_table`. A library caller who knows which it wants calls that one (one result type)."""
    options = options or CompareOptions()
    if options.runs_prompts:
        return compare_runs(refs, options, host=host, timeout=timeout, on_event=on_event)
    return compare_table(refs, options, host=host, timeout=timeout)


def _columns(
    refs: Sequence[str], options: CompareOptions
) -> tuple[list[str], list[LoadedProfile | None], list[Diagnostic]]:
    """The refs that make columns (abstract profiles skipped, with a note); none is an error."""
    kept, loaded, notes = skip_abstract(refs, options.overrides)
    if not kept:
        raise InvalidInput("nothing to compare: every profile given is abstract (only extended by others)")
    return kept, loaded, notes


def compare_table(
    refs: Sequence[str],
    options: CompareOptions | None = None,
    *,
    host: HostRef = None,
    timeout: float | None = None,
) -> ParamTable:
    """The parameter table; what the server made where it answers (its failures become warnings).
    Prompts in ``options`` are refused (UsageProblem): :func:`compare_runs` runs them."""
    options = options or CompareOptions()
    if options.runs_prompts:
        raise UsageProblem("compare_table draws the parameter table: run prompts with compare_runs")
    kept, loaded, notes = _columns(refs, options)
    targets = load_targets(kept, options.overrides, options.ephemeral, loaded)
    with session_for(host, timeout=timeout) as session:
        table = table_on(session, targets, options)
    table.warnings[:0] = notes
    return table


def table_on(session: HostSession, targets: Sequence[Target], options: CompareOptions) -> ParamTable:
    """The parameter table of loaded targets against one host's session: each model asked once."""
    warnings: list[Diagnostic] = [w for t in targets for w in t.warnings]
    if options.no_server:
        server = ServerInfo(session.display_host, reason="--no-server")
    else:
        session.prefetch([t.model for t in targets])
        server = _info(session)
    shows = [_show_for_table(session, t, warnings) if server.reachable else None for t in targets]
    ps = _ps_or_none(session.client) if server.reachable else None
    tags = _tags_or_none(session) if any(shows) else None
    entries = [find_entry(tags, t.model) if s else None for t, s in zip(targets, shows, strict=True)]
    table = build_table(
        list(targets),
        all_params=options.all_params,
        server=server,
        shows=shows,
        ps=ps,
        host=session.facts,
        tags_entries=entries,
    )
    table.warnings = warnings
    return table


def _info(session: HostSession) -> ServerInfo:
    """Whether the server answers, and its version; never raises for an unreachable server."""
    try:
        return ServerInfo(session.display_host, True, session.version())
    except ModelctlError as exc:
        return ServerInfo(session.display_host, False, None, exc.message)


def _show_for_table(session: HostSession, t: Target, warnings: list[Diagnostic]) -> ShowResponse | None:
    try:
        return session.show(t.model)
    except ModelctlError as exc:
        warnings.append(Diagnostic("server", f"{t.label}: {exc.message}"))
        return None


def _tags_or_none(session: HostSession) -> TagsResponse | None:
    try:
        return session.tags()
    except ModelctlError:
        return None


def _ps_or_none(client: OllamaClient) -> PsResponse | None:
    try:
        return client.ps()
    except ModelctlError:
        return None


def prompt_cases(options: CompareOptions) -> list[PromptCase]:
    cases = inline_prompts(options.prompts)
    if options.prompts_file:
        cases += load_prompts(options.prompts_file)
        for i, c in enumerate(cases, 1):
            c.index = i
    return cases


def compare_runs(
    refs: Sequence[str],
    options: CompareOptions,
    *,
    host: HostRef = None,
    timeout: float | None = None,
    on_event: EventSink = ignore,
) -> Matrix:
    """The run matrix: every profile x prompt x seed x repeat; server failures are recorded in it.
    ``options`` must name prompts (``prompts`` or ``prompts_file``; else UsageProblem)."""
    if not options.runs_prompts:
        raise UsageProblem("compare_runs needs prompts: CompareOptions(prompts=[...]) or prompts_file=")
    kept, preloaded, notes = _columns(refs, options)
    cases = prompt_cases(options)
    loaded = load_targets(kept, options.overrides, options.ephemeral, preloaded)
    with client_for(host, timeout) as client:
        server = server_for_runs(client, options)
        targets = _resolve_all(
            lambda ref, i: resolve_target(
                ref, client, overrides=options.overrides, ephemeral=options.ephemeral, loaded=loaded[i].loaded
            ),
            kept,
        )
        matrix = run_targets(client, targets, cases, options, server, on_event, host=host_facts(host))
    assertion = matrix.assertion_diagnostic()
    if assertion is not None and not matrix.checks_failed:  # failures the run tolerates: said, not fatal
        matrix.warnings.append(assertion)
    matrix.warnings[:0] = notes
    return matrix


def server_for_runs(client: OllamaClient, options: CompareOptions) -> ServerInfo:
    """The server prompts run on: unreachable -> exit 4 before anything runs; with
    ``no_truncate``, a server too old to honour it is refused (exit 5)."""
    version = require_truncate(client) if options.no_truncate else client.version()
    return ServerInfo(client.display_host, True, version)


def run_targets(
    client: OllamaClient,
    targets: Sequence[Target],
    cases: Sequence[PromptCase],
    options: CompareOptions,
    server: ServerInfo,
    on_event: EventSink = ignore,
    *,
    host: HostFacts | None = None,
) -> Matrix:
    """The run matrix of resolved targets (a column each), with the parameter table of what ran."""
    matrix = run_matrix(
        client,
        targets,
        cases,
        seeds=options.seeds,
        repeat=options.repeat,
        parallel=options.parallel,
        server=server,
        on_event=on_event,
        truncate=not options.no_truncate,
    )
    # The models are loaded now: /api/ps says the context they really run with.
    ps = _ps_or_none(client) if matrix.aborted is None else None
    matrix.table = build_table(list(targets), server=server, shows=[t.show for t in targets], ps=ps, host=host)
    matrix.min_pass_rate = options.min_pass_rate
    return matrix
