"""What only a server can say about a profile: ``validate --host URL`` (or ``--hosts INVENTORY``).

After the offline checks (:func:`modelctl.jobs.validate.validate`), each host is asked its version
and model list once, and each base model's ``/api/show`` once, and every profile it gets is
checked against what it said, one ``file:line:column`` warning per finding (errors under
``--strict``):

* the base model is on the server (else: did-you-mean among the server's models; ``build``
  would pull it);
* ``num_ctx`` is not above the base's trained context (Ollama clamps it);
* a custom ``stop`` list keeps the base model's own end-of-turn tokens (a stop list replaces
  the base's; the offline "custom stop list" warning gives way to this precise one);
* no parameter is one the server's version ignores (newer than it) or removed;
* ``requires`` is not above the server's version, and RENDERER, PARSER, DRAFT are stored there.

A host that cannot be reached or fails is that host's error (exit 4 or 5, by errors.PRECEDENCE);
the others are still checked.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from modelctl.errors import Diagnostic, InvalidInput
from modelctl.jobs.build import version_notes
from modelctl.jobs.fleet import HostRun, on_hosts, profile_paths
from modelctl.jobs.validate import HostCheck, ProfileCheck, ValidateOptions, Validation, validate
from modelctl.memory.facts import facts_from_show
from modelctl.ollama.hosts import redact
from modelctl.ollama.session import HostSession, session_for
from modelctl.ollama.wire import find_entry, older_than, parse_parameters
from modelctl.profile import params as P
from modelctl.profile.inventory import host_label, host_refs, select_hosts
from modelctl.profile.profile import LoadedProfile

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.ollama.shapes import CreateRequest, ShowResponse, TagsResponse
    from modelctl.profile.params import ParamValue


def server_diagnostics(
    loaded: LoadedProfile,
    *,
    where: str,
    version: str,
    tags: TagsResponse,
    base_show: ShowResponse | None,
) -> list[Diagnostic]:
    """Findings about one profile on one server (``where`` names the host in each message)."""
    prof = loaded.profile
    out: list[Diagnostic] = []

    def diag(code: str, dotted: str, message: str) -> None:
        f, line, col = loaded.where(dotted)
        out.append(Diagnostic(code, f"{where}: {message}", f, line, col, dotted))

    base = prof.from_value if prof.from_value is not None and prof.base_path() is None else None
    if base is not None and find_entry(tags, base) is None:
        names = [str(m.get("name") or m.get("model") or "") for m in tags.get("models") or [] if isinstance(m, dict)]
        hint = P.suggest(base, names) or next((n for n in names if n.lower() == base.lower()), None)
        also = f" (did you mean {hint}?)" if hint else ""
        diag("base_missing", "from", f"the base model {base} is not on the server{also}; `build` would pull it")
    values = prof.parameters.as_dict()
    if base is not None and base_show is not None:
        _base_findings(diag, base, values, base_show)
    for name in values:
        note = version_note(name, version)
        if note is not None:
            diag("parameter_ignored", f"parameters.{name}", f"the server is Ollama {version}: {note}")
    for d in version_notes(_fields(loaded), version, "the server"):
        diag(d.code, d.field or "requires", d.message)
    return out


def version_note(name: str, version: str | None) -> str | None:
    """What a server of ``version`` does with parameter ``name`` when it does not take it: it ignores
    one added after it, it dropped one removed before it; None when it takes it (or cannot be told)."""
    param = P.BY_NAME.get(name)
    if param is not None and param.since and older_than(version, param.since):
        return f"it ignores {name}, which Ollama {param.since} added"
    removed = P.REMOVED_BY_NAME.get(name)
    if removed is not None and version is not None and not older_than(version, removed.removed_in):
        return (
            f"{name} was removed in Ollama {removed.removed_in} (`ollama create` {removed.cli_behaviour}); "
            f"use {removed.instead}"
        )
    return None


def _base_findings(
    diag: Callable[[str, str, str], None], base: str, values: Mapping[str, ParamValue], base_show: ShowResponse
) -> None:
    """Trained context and end-of-turn tokens of the base model, said through ``diag``."""
    trained = facts_from_show(base_show.copy()).context_trained
    num_ctx = values.get("num_ctx")
    if trained is not None and isinstance(num_ctx, int) and num_ctx > trained:
        diag(
            "num_ctx_above_trained",
            "parameters.num_ctx",
            f"num_ctx {num_ctx} exceeds the trained context {trained} of {base}; Ollama will clamp it to {trained}",
        )
    stop = values.get("stop")
    if stop is not None:
        ours = list(stop) if isinstance(stop, list) else [stop]
        theirs = parse_parameters(base_show.get("parameters")).get("stop") or []
        missing = [t for t in (theirs if isinstance(theirs, list) else [theirs]) if t not in ours]
        if missing:
            listing = ", ".join(f'"{t}"' for t in missing)
            diag(
                "stop_drops_end_of_turn",
                "parameters.stop",
                f"the stop list replaces {base}'s own and drops its end-of-turn token(s) {listing}: add them, or "
                "answers may run past the end of the turn",
            )


def _fields(loaded: LoadedProfile) -> CreateRequest:
    """The request fields a server's version decides on (REQUIRES, RENDERER, PARSER, DRAFT)."""
    prof = loaded.profile
    out: CreateRequest = {"model": prof.name}
    if prof.requires:
        out["requires"] = prof.requires.removeprefix("v")
    if prof.renderer:
        out["renderer"] = prof.renderer
    if prof.parser:
        out["parser"] = prof.parser
    if prof.draft:
        out["draft_files"] = {"draft": prof.draft}
    return out


def check_host(session: HostSession, label: str, checks: Sequence[ProfileCheck]) -> str:
    """Check ``checks`` (the valid ones) on one host; the server's version."""
    version = session.version()
    tags = session.tags()
    loaded = [c.loaded for c in checks if c.loaded is not None and c.loaded.profile.from_value is not None]
    bases = [lp.profile.from_value for lp in loaded if lp.profile.base_path() is None]
    session.prefetch([b for b in bases if b is not None and find_entry(tags, b) is not None])
    for check in checks:
        lp = check.loaded
        if lp is None or lp.profile.from_value is None:
            continue
        base = lp.profile.from_value if lp.profile.base_path() is None else None
        base_show = session.show(base) if base is not None and find_entry(tags, base) is not None else None
        check.server += server_diagnostics(lp, where=label, version=version, tags=tags, base_show=base_show)
        if base_show is not None:
            check.superseded.add("custom_stop")  # the server said exactly which tokens a stop list drops
    return version


def validate_hosts(
    refs: Sequence[str],
    options: ValidateOptions | None = None,
    *,
    hosts: Sequence[str] = (),
    inventory: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
) -> Validation:
    """The offline checks, then each host's (concurrently, one session each; see the module docstring)."""
    selection = select_hosts(hosts, inventory)
    runs: list[HostRun[str]] = [HostRun(h, host_label(h), host_refs(h, refs)) for h in selection.hosts]
    every = list(dict.fromkeys(ref for r in runs for ref in r.refs)) if not refs else list(refs)
    if not every:
        raise InvalidInput("no profiles: give PROFILE(s), or list them under a host's `profiles` in the inventory")
    result = validate(every, options)
    result.notes = selection.warnings
    by_path = {c.loaded.path: c for c in result.checks if c.loaded is not None}

    def job(run: HostRun[str]) -> str:
        mine = [by_path[p] for p in dict.fromkeys(profile_paths(run.refs)) if p in by_path]
        with session_for(run.host, timeout=timeout) as session:
            return check_host(session, run.label, mine)

    on_hosts(runs, job)
    for run in runs:
        url = run.host.url or ""
        result.hosts.append(HostCheck(run.label, redact(url), run.result, run.error))
    return result
