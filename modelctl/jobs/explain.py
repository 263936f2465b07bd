"""``explain``: the options a runner will really use for a profile (or a model), and where each came from.

:func:`subject_for` reads what a profile (or a model) starts from — the base model's
``/api/show`` through the run's :class:`~modelctl.ollama.session.HostSession` (stored parameters,
trained context, capabilities, weights), or its GGUF file — and whether the profile's model
is built; ``estimate --together`` reads its profiles the same way. :func:`explain` hands that
to the resolver (:mod:`modelctl.memory.effective`) with the server's version and the settings an
inventory or the command line declares, and adds what ``/api/ps`` says of the running model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from modelctl.common.jsontypes import JSONObject, json_of
from modelctl.errors import Diagnostic, InvalidInput, JobResult, ModelctlError
from modelctl.jobs.estimate import EstimateOptions, is_local_ref
from modelctl.jobs.profiles import load_profile
from modelctl.jobs.run import parse_model_overrides
from modelctl.memory.effective import (
    ModelSide,
    Resolution,
    ServerContext,
    model_from_facts,
    model_from_show,
    ps_reports_context,
    reload_rules,
    resolve,
    runner_args,
    server_context,
    unknown_model,
)
from modelctl.memory.facts import ModelFacts, facts_from_gguf, facts_from_show
from modelctl.memory.memory import QUANTIZED_KV_TYPES, ollama_rule
from modelctl.ollama.hosts import HostFacts, HostRef, HostSpec
from modelctl.ollama.server import ModelNotFound
from modelctl.ollama.session import HostSession, session_for
from modelctl.ollama.wire import find_entry
from modelctl.profile.names import missing_model_message
from modelctl.profile.profile import LoadedProfile, is_profile_ref

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.ollama.shapes import PsEntry, ShowResponse
    from modelctl.profile.params import Params


@dataclass
class Subject:
    """A profile (or a model) and the model its requests start from."""

    ref: str
    label: str  # the profile's name, or the model's
    model: str  # the model requests name
    base: ModelSide  # whose stored parameters apply: the profile's `from`, or the model itself
    profile: LoadedProfile | None = None
    facts: ModelFacts | None = None  # the base's facts (memory), when they could be read
    built: bool | None = None  # the profile's model is on the server (None: not asked)
    weights: str | None = None  # what keys its runner (see :func:`weights_key`)
    warnings: list[Diagnostic] = field(default_factory=list)

    def to_dict(self) -> JSONObject:
        return {
            "ref": self.ref,
            "label": self.label,
            "model": self.model,
            "profile": str(self.profile.path) if self.profile is not None else None,
            "base": self.base.name if self.profile is not None else None,
            "built": self.built,
            "weights": self.weights,
        }


def _show(session: HostSession | None, name: str) -> ShowResponse | None:
    return session.show(name) if session is not None else None


def _base_side(loaded: LoadedProfile, session: HostSession | None) -> tuple[ModelSide, ModelFacts | None]:
    prof = loaded.profile
    path = prof.base_path()
    if path is not None:
        if path.is_dir():
            return unknown_model(prof.from_, "a safetensors folder: no stored parameters until built"), None
        facts = facts_from_gguf(path)
        return model_from_facts(prof.from_, facts, str(path)), facts
    if session is None:
        return unknown_model(prof.from_, "no server: its stored parameters are unknown"), None
    show = session.show(prof.from_)
    if show is None:
        return unknown_model(prof.from_, f"not on {session.display_host}: its stored parameters are unknown"), None
    facts = facts_from_show(show, find_entry(session.tags(), prof.from_), name=prof.from_, host=session.display_host)
    return model_from_show(prof.from_, show), facts


def weights_key(base: ModelSide, loaded: LoadedProfile | None, built: ShowResponse | None) -> str:
    """What Ollama keys the runner by: the weights blob (the built model's, else the base's), the
    base's local file, or its name; a quantized build has weights of its own."""
    if built is not None:
        own = model_from_show(base.name, built).weights
        if own:
            return own
    key = base.weights or "name:" + base.name.lower()
    quantize = loaded.profile.quantize if loaded is not None else None
    return f"{key} quantized {quantize.upper()}" if quantize else key


def subject_for(ref: str, session: HostSession | None, overrides: Sequence[str] = ()) -> Subject:
    """Read a profile (or a model) and what it starts from; ``session`` None: no server is asked."""
    if is_profile_ref(ref):
        loaded = load_profile(ref, overrides)
        prof = loaded.profile
        base, facts = _base_side(loaded, session)
        built = _show(session, prof.name)
        subject = Subject(ref, prof.name, prof.name, base, loaded, facts, None, None, list(loaded.warnings))
        subject.built = None if session is None else built is not None
        subject.weights = weights_key(base, loaded, built)
        if not base.known and session is not None:
            subject.warnings.append(Diagnostic("base_unknown", f"base model {prof.from_}: {base.where}"))
        return subject
    if overrides:
        raise InvalidInput(f"--set applies to a PROFILE; {ref} is not one", field="--set")
    if is_local_ref(ref):
        facts = facts_from_gguf(ref)
        base = model_from_facts(ref, facts, str(Path(ref).resolve()))
        return Subject(ref, ref, ref, base, None, facts, None, base.weights)
    if session is None:
        base = unknown_model(ref, "no server: its stored parameters are unknown")
        return Subject(ref, ref, ref, base, weights=weights_key(base, None, None))
    show = session.show(ref)
    if show is None:
        advice = f"pull it (`ollama pull {ref}`) or name a profile"
        raise ModelNotFound(missing_model_message(session.client, ref, pull_advice=advice), model=ref)
    facts = facts_from_show(show, find_entry(session.tags(), ref), name=ref, host=session.display_host)
    base = model_from_show(ref, show)
    return Subject(ref, ref, ref, base, None, facts, True, weights_key(base, None, None))


@dataclass
class Explanation(JobResult):
    """``explain``'s result: the subject, every option resolved, and the running model if loaded."""

    subject: Subject
    resolution: Resolution
    running: PsEntry | None = None  # the /api/ps entry of the model, when it is loaded
    warnings: list[Diagnostic] = field(default_factory=list)

    def to_dict(self) -> JSONObject:
        res = self.resolution.to_dict()
        runner = {
            "weights": self.subject.weights,
            "context": self.resolution.settings["runner_context"].value,
            "running": json_of(self.running) if self.running is not None else None,
            "reload_when_different": reload_rules(self.resolution.server.version),
            "command": json_of(runner_args(self.resolution)),
            # /api/ps says the runner's context (context_length) only from 0.10.0.
            "ps_reports_context": ps_reports_context(self.resolution.server.version),
        }
        return {
            "target": self.subject.to_dict(),
            "server": res["server"],
            "model": res["model"],
            "options": res["options"],
            "settings": res["settings"],
            "auto": res["auto"],
            "runner": runner,
        }


def request_options(items: Sequence[str]) -> Params:
    """``--option NAME=VALUE``: what a client sends in a request's ``options``, typed like ``--set``."""
    try:
        options, texts = parse_model_overrides(items)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field=(exc.field or "").replace("--set", "--option", 1)) from None
    if texts:
        raise InvalidInput(f"--option takes parameters, not {', '.join(texts)}", field="--option")
    return options


def _running(session: HostSession, model: str) -> PsEntry | None:
    try:
        entry = find_entry(session.client.ps(), model)
    except ModelctlError:
        return None
    if entry is None:
        return None
    return {
        "name": entry.get("name"),
        "context_length": entry.get("context_length"),
        "size": entry.get("size"),
        "size_vram": entry.get("size_vram"),
        "expires_at": entry.get("expires_at"),
    }


def explain_context(
    session: HostSession | None,
    *,
    host: HostRef = None,
    flags: HostFacts | None = None,
    ollama_version: str | None = None,
) -> tuple[ServerContext, list[Diagnostic]]:
    """The server's version (reported when it answers; an unreachable server is a note, and the
    defaults are assumed), and the settings the inventory host's facts and ``flags`` declare."""
    facts = host.facts if isinstance(host, HostSpec) else None
    label = host.name if isinstance(host, HostSpec) else None
    display = session.display_host if session is not None else None
    notes: list[Diagnostic] = []
    version = None
    if session is not None:
        try:
            version = session.version()
        except ModelctlError as exc:
            notes.append(Diagnostic("server", f"{exc.message}: explained with assumed defaults"))
    ctx = server_context(
        version,
        reachable=version is not None,
        host=display,
        facts=facts,
        facts_label=label,
        flags=flags,
        flag_version=ollama_version,
    )
    return ctx, notes


def explain(
    ref: str,
    options: EstimateOptions | None = None,
    *,
    host: HostRef = None,
    timeout: float | None = None,
) -> Explanation:
    """The options PROFILE's (or MODEL's) runner will use on ``host``, each with its origin.

    ``options``: the server's settings declared (over the inventory host's facts), ``request``:
    options a client sends with every request (a mapping, or ``NAME=VALUE`` texts); ``no_server``:
    ask nothing (defaults of the newest Ollama modelctl knows, marked assumed). An unreachable
    server is not an error: the explanation says what it had to assume.
    """
    o = options or EstimateOptions()
    flags = o.declared()
    req = request_options(list(o.request)) if not isinstance(o.request, Mapping) else dict(o.request)
    o.check_version()
    if o.no_server:
        subject = subject_for(ref, None, o.overrides)
        ctx, notes = explain_context(None, host=host, flags=flags, ollama_version=o.ollama_version)
        return _explained(subject, ctx, req, None, notes)
    with session_for(host, timeout=timeout) as session:
        ctx, notes = explain_context(session, host=host, flags=flags, ollama_version=o.ollama_version)
        live = session if ctx.reachable else None
        subject = subject_for(ref, live, o.overrides)
        running = _running(session, subject.model) if live is not None else None
        return _explained(subject, ctx, req, running, notes)


def _explained(
    subject: Subject, ctx: ServerContext, req: Params, running: PsEntry | None, notes: list[Diagnostic]
) -> Explanation:
    res = resolve(subject.base, ctx, profile=subject.profile, request=req)
    out = Explanation(subject, res, running, notes + subject.warnings)
    kv, fa = res.settings["kv_cache_type"].value, res.settings["flash_attention"].value
    if kv in QUANTIZED_KV_TYPES and fa is False:
        how = "declared off" if res.settings["flash_attention"].basis == "declared" else f"off in Ollama {ctx.version}"
        then = (
            "Ollama passes the type on and llama-server refuses to load"
            if ollama_rule(ctx.version).llama_server
            else "Ollama keeps an f16 cache (llm/server.go: quantized kv cache requested but flash attention disabled)"
        )
        out.warnings.append(
            Diagnostic(
                "kv_cache_needs_flash_attention", f"a {kv} KV cache needs flash attention, which is {how}: {then}"
            )
        )
    ctx_now = running.get("context_length") if running else None
    if isinstance(ctx_now, int) and ctx_now != res.num_ctx:
        out.warnings.append(
            Diagnostic(
                "runtime_context",
                f"the runner loaded now for {subject.model} uses context {ctx_now:,}, not {res.num_ctx:,}: a request "
                "with these options reloads it (it was loaded with other options: another client's"
                + (
                    ", or an automatic context lowered after an out-of-memory load)"
                    if ollama_rule(ctx.version).llama_server
                    else ")"
                ),
            )
        )
    return out
