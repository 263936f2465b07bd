"""``show``: the report of a deployed model, and what it really runs with.

Sources: ``/api/show`` (facts, stored parameters, system, template), ``/api/tags`` (size on
disk), and ``/api/ps`` (the context length the runner really uses, size in memory, CPU/GPU
split) when the model is loaded — or, with ``verify``, after loading it. :class:`ModelReport`
is the typed result; its ``to_dict()`` is the JSON shape shared with ``inspect`` and ``build``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from modelctl.common.jsontypes import JSONObject
from modelctl.common.units import format_value
from modelctl.errors import Diagnostic, ExitCode, InvalidInput, JobResult, ModelctlError, ServerError
from modelctl.jobs.drift import blob_digest, read_deployed
from modelctl.jobs.model_import import import_model
from modelctl.jobs.probe import MEASURE_MAX_CONTEXT, ContextMeasurement, measure_context
from modelctl.jobs.profiles import load_profile
from modelctl.memory.effective import default_num_ctx, memory_settings, model_from_facts, server_context
from modelctl.memory.facts import ModelFacts, facts_from_show
from modelctl.memory.memory import MemoryEstimate, estimate_or_reason
from modelctl.memory.offload import Gpu, GpuPlacement, place
from modelctl.modelfile.render import render
from modelctl.ollama.hosts import HostFacts, HostRef
from modelctl.ollama.server import ModelNotFound, OllamaClient
from modelctl.ollama.session import HostSession, host_facts, session_for
from modelctl.ollama.wire import (
    find_entry,
    modelfile_blobs,
    parse_parameters,
    parse_rfc3339,
    same_model_name,
    same_value,
)
from modelctl.profile.names import model_hint
from modelctl.profile.params import typed_parameters
from modelctl.profile.profile import is_profile_ref

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.ollama.shapes import PsEntry, PsResponse, ShowResponse, TagsEntry
    from modelctl.profile.params import Params, ParamValue

#: The keys the report shares with ``inspect`` (docs/concepts.md; a contract test pins them).
REPORT_KEYS = (
    "name", "host", "base", "architecture", "parameter_count", "parameter_size", "quantization",
    "context_length", "embedding_length", "block_count", "head_count", "head_count_kv",
    "capabilities", "parameters", "size_bytes",
)  # fmt: skip

#: How long a model loaded only to verify it stays loaded (it is unloaded right after anyway).
VERIFY_KEEP_ALIVE = "30s"


@dataclass
class RuntimeInfo:
    """What /api/ps says about a loaded runner."""

    context_length: int | None
    size: int | None
    size_vram: int | None
    loaded_before: bool
    context_source: str | None = None  # "ps" (/api/ps says it), "measured" (--verify's over-long prompt)

    def to_dict(self) -> JSONObject:
        cpu = None
        if self.size is not None and self.size_vram is not None:
            cpu = max(self.size - self.size_vram, 0)
        return {
            "context_length": self.context_length,
            "context_length_source": self.context_source,
            "size": self.size,
            "size_vram": self.size_vram,
            "size_cpu": cpu,
            "processor": processor_text(self.size, self.size_vram),
            "loaded_before": self.loaded_before,
        }


def processor_text(size: int | None, size_vram: int | None) -> str | None:
    """As ``ollama ps`` shows it: ``100% GPU``, ``100% CPU`` or ``48%/52% CPU/GPU``."""
    if not size:
        return None
    vram = size_vram or 0
    if vram <= 0:
        return "100% CPU"
    if vram >= size:
        return "100% GPU"
    gpu = round(vram * 100 / size)
    return f"{100 - gpu}%/{gpu}% CPU/GPU"


@dataclass
class Verification:
    """``--verify``: the model was loaded and its runtime context compared with num_ctx.

    ``ok`` is True (they match), False (``problem`` says how they differ: exit 6) or None
    (``reason`` says why nothing was checked: no num_ctx stored, or a runtime context the
    server does not say and modelctl did not measure). ``measured``: the over-long prompt
    that measured the context where ``/api/ps`` does not say it (before Ollama 0.10.0).
    """

    problem: str | None = None  # why the runtime context differs; None when it matches
    reason: str | None = None  # why it was not checked
    measured: ContextMeasurement | None = None

    @property
    def ok(self) -> bool | None:
        if self.problem is not None:
            return False
        return None if self.reason is not None else True

    @property
    def failed(self) -> bool:
        return self.problem is not None

    def to_dict(self) -> JSONObject:
        out: JSONObject = {"ok": self.ok, "problem": self.problem}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.measured is not None:
            out["measured"] = self.measured.to_dict()
        return out


@dataclass
class ModelReport(JobResult):
    """One deployed model as modelctl reports it."""

    name: str
    host: str
    facts: ModelFacts  # context_configured: the stored num_ctx; context_runtime: /api/ps
    system: str = ""
    template: str = ""
    renderer: str = ""  # RENDERER / PARSER lines of the generated Modelfile
    parser: str = ""
    draft: str | None = None  # the draft model's blob digest (DRAFT)
    projectors: list[str] = field(default_factory=list)  # blob digests of the FROM lines after the weights
    memory: MemoryEstimate | None = None
    memory_unknown: str | None = None  # why there is no estimate
    gpu: GpuPlacement | None = None  # on the inventory host's GPU (its `facts`)
    server_context: int | None = None  # the inventory host's OLLAMA_CONTEXT_LENGTH
    default_context: tuple[int, str] | None = None  # the server's default num_ctx by its version, and why
    inherited_parameters: list[str] | None = None  # set when a profile was compared with the model
    runtime: RuntimeInfo | None = None
    verification: Verification | None = None
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def parameters(self) -> Params:
        return self.facts.parameters

    def outcome_codes(self) -> list[ExitCode]:
        """A failed ``--verify``: 6."""
        return [ExitCode.CHECK if self.verification is not None and self.verification.failed else ExitCode.OK]

    def to_dict(self) -> JSONObject:
        data = self.facts.to_dict()
        data["name"] = self.name
        data["host"] = self.host
        data["context_length_source"] = "model" if self.facts.context_configured is not None else "server default"
        if self.server_context is not None:
            data["server_context_length"] = self.server_context
        if self.default_context is not None:
            data["server_default_context"] = {"num_ctx": self.default_context[0], "source": self.default_context[1]}
        data["system_set"] = bool(self.system)
        data["system_length"] = len(self.system) if self.system else None
        data["template_set"] = bool(self.template)
        data["template_length"] = len(self.template) if self.template else None
        data["renderer"] = self.renderer or None
        data["parser"] = self.parser or None
        data["draft"] = self.draft
        data["projectors"] = list(self.projectors)
        data["memory"] = self.memory.to_dict() if self.memory is not None else None
        data["memory_unknown"] = self.memory_unknown
        if self.gpu is not None:
            data["gpu"] = self.gpu.to_dict()
        if self.inherited_parameters is not None:
            data["inherited_parameters"] = list(self.inherited_parameters)
        if self.runtime is not None:
            data["runtime"] = self.runtime.to_dict()
        if self.verification is not None:
            data["verify"] = self.verification.to_dict()
        return data


def build_report(
    show: ShowResponse,
    *,
    name: str,
    host: str,
    tags_entry: TagsEntry | None = None,
    profile_parameters: Mapping[str, ParamValue] | None = None,
    base_show: ShowResponse | None = None,
    server: HostFacts | None = None,
    ollama_version: str | None = None,
) -> ModelReport:
    """The report of a deployed model, with warnings.

    ``profile_parameters`` (what the profile sends) enables the profile warnings: values the
    server stored differently, and parameters inherited from the base that the profile does
    not set (the base's stored parameters when ``base_show`` is given; otherwise every stored
    parameter the profile does not set).
    """
    facts = facts_from_show(show.copy(), tags_entry.copy() if tags_entry is not None else None, name=name, host=host)
    facts.name = name
    report = ModelReport(name, host, facts, str(show.get("system") or ""), str(show.get("template") or ""))
    layers = read_deployed(show)
    report.renderer, report.parser = layers.renderer, layers.parser
    report.draft = layers.drafts[-1] if layers.drafts else None
    report.projectors = layers.froms[1:]
    _memory(report, server or HostFacts(), ollama_version)
    trained, configured = facts.context_trained, facts.context_configured
    if trained is not None and configured is not None and configured > trained:
        report.warnings.append(
            Diagnostic(
                "num_ctx_above_trained",
                f"num_ctx {configured} is above the trained context {trained}; Ollama will clamp it to {trained}",
                field="parameters.num_ctx",
            )
        )
    if profile_parameters is not None:
        _compare_with_profile(report, profile_parameters, base_show)
    return report


def _memory(report: ModelReport, server: HostFacts, ollama_version: str | None) -> None:
    """The estimate at the configured num_ctx (else the host's OLLAMA_CONTEXT_LENGTH), with the host's
    KV cache type, slots and flash attention, by the rules of the server's version, and on its GPU
    when the inventory gives one."""
    facts = report.facts
    report.server_context = server.context_length
    if facts.context_configured is None:
        # The version's default (4096 by OLLAMA_CONTEXT_LENGTH's default before 0.15.5, VRAM tiers from then).
        layer = default_num_ctx(server_context(ollama_version, reachable=ollama_version is not None, facts=server))
        report.default_context = (int(layer.value), f"{layer.source.text}, {layer.source.basis}")
    report.memory, report.memory_unknown = deployed_memory(
        facts, report.name, facts.context_configured or server.context_length, server, ollama_version
    )
    if report.memory is not None and server.gpu_memory:
        gpu = Gpu(server.gpu_memory, server.gpu_backend or "cuda", server.gpu_overhead or 0)
        report.gpu = place(facts, report.memory, gpu)


def deployed_memory(
    facts: ModelFacts, name: str, num_ctx: int | None, server: HostFacts, ollama_version: str | None
) -> tuple[MemoryEstimate | None, str | None]:
    """The memory of a deployed model at ``num_ctx``, and why there is none when there is none: the
    one figure ``show`` and ``compare``'s memory row give. The server settings as the resolver finds
    them (estimate and explain read the same ones: an embedding model gets one slot whatever
    OLLAMA_NUM_PARALLEL says), by the rules of the server's version. ``facts`` come from
    ``/api/show`` with the model's ``/api/tags`` entry (its size stands in for a tensor list the
    server does not send)."""
    kv, slots, fa = memory_settings(ollama_version, server, model_from_facts(name, facts))
    est, why = estimate_or_reason(facts, num_ctx, kv, slots, ollama_version=ollama_version, flash_attention=fa)
    if why is not None and why.startswith(f"{name}: "):
        why = why[len(name) + 2 :]
    return est, why


def _compare_with_profile(report: ModelReport, ours: Mapping[str, ParamValue], base_show: ShowResponse | None) -> None:
    stored = report.parameters
    inherited = {k: v for k, v in stored.items() if k not in ours}
    if base_show is not None:
        base_params = parse_parameters(base_show.get("parameters"))
        inherited = {k: v for k, v in inherited.items() if k in base_params}
    if inherited:
        listing = ", ".join(f"{k}={format_value(v)}" for k, v in inherited.items())
        report.warnings.append(
            Diagnostic(
                "inherited_parameters",
                f"parameters inherited from the base that the profile does not set: {listing}",
                field="parameters",
            )
        )
    for key, want in ours.items():
        if key not in stored:
            report.warnings.append(
                Diagnostic(
                    "not_stored",
                    f"the server did not store {key} (the profile sets {format_value(want)})",
                    field=f"parameters.{key}",
                )
            )
        elif not same_value(key, stored[key], want):
            report.warnings.append(
                Diagnostic(
                    "stored_differently",
                    f"the server stored {key} = {format_value(stored[key])}, the profile says {format_value(want)}",
                    field=f"parameters.{key}",
                )
            )
    report.inherited_parameters = sorted(inherited)


# -- what the runner really uses ---------------------------------------------------------------


def apply_runtime(report: ModelReport, entry: PsEntry, *, loaded_before: bool) -> RuntimeInfo:
    """Put an /api/ps entry into the report."""
    rt_ctx, size, vram = entry.get("context_length"), entry.get("size"), entry.get("size_vram")
    runtime = RuntimeInfo(
        context_length=int(rt_ctx) if isinstance(rt_ctx, (int, float)) and math.isfinite(rt_ctx) else None,
        size=size if isinstance(size, int) else None,
        size_vram=vram if isinstance(vram, int) else None,
        loaded_before=loaded_before,
    )
    runtime.context_source = "ps" if runtime.context_length is not None else None
    report.runtime = runtime
    report.facts.context_runtime = runtime.context_length
    return runtime


def runtime_if_loaded(client: OllamaClient, report: ModelReport) -> None:
    """Fill the runtime facts from /api/ps when the model is already loaded (no load, no check)."""
    entry = find_entry(client.ps(), report.name)
    if entry is not None:
        apply_runtime(report, entry, loaded_before=True)


def remaining_keep_alive(expires_at: object, *, default: str | float, now: datetime | None = None) -> str | float:
    """The ``keep_alive`` that leaves a loaded runner's expiry (an /api/ps ``expires_at``) as it is.

    ``-1`` (forever) when it expires more than a century from now (Ollama stores a negative
    keep_alive as the largest duration, about 292 years); whole seconds otherwise;
    ``default`` when the time cannot be read or has passed.
    """
    when = parse_rfc3339(expires_at)
    if when is None:
        return default
    left = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if left > 100 * 365 * 86400:
        return -1
    if left <= 0:
        return default
    return int(math.ceil(left))


_UNNAMED_RUNNER = (
    "{name} answered, but /api/ps lists its runner under another model's name (Ollama keys runners by "
    "weights and keeps the name of the model that loaded one, even after that model is deleted): its "
    "size is unknown and it is left loaded"
)


def verify_runtime(
    client: OllamaClient, report: ModelReport, *, keep_alive: str = VERIFY_KEEP_ALIVE, version: str | None = None
) -> Verification:
    """Load the model, read /api/ps, fill the runtime facts; unload it if it was not loaded.

    The runtime context is compared with the configured num_ctx (nothing is checked when none is
    stored: the runtime value is then the server's default). Where /api/ps does not say it (Ollama
    before 0.10.0) it is measured with one over-long prompt (:func:`measure_context`) when num_ctx
    is at most :data:`MEASURE_MAX_CONTEXT`; above that it is not checked (``ok`` None, a warning).

    Ollama keys loaded runners by the weights file: when another model on the same weights
    is loaded with the same load-time options, the load reuses that runner and /api/ps lists
    it under the other model's name. That runner is then read, and never unloaded here.
    """
    name = report.name
    before = find_entry(client.ps(), name)
    # Any request resets the runner's expiry: keep the one its user chose (e.g. 10m, -1).
    load_keep_alive = (
        keep_alive if before is None else remaining_keep_alive(before.get("expires_at"), default=keep_alive)
    )
    entry: PsEntry | None = None
    shared_with: str | None = None
    try:
        for _ in client.generate({"model": name, "prompt": "", "keep_alive": load_keep_alive, "stream": True}):
            pass
        after = client.ps()
        entry = find_entry(after, name)
        if entry is None:
            entry, shared_with = _shared_runner(client, name, after)
        if entry is None:
            # It answered, so a runner holds it, but /api/ps names that runner otherwise (Ollama lists a
            # runner under the model that loaded it, even one since deleted): no size to read, and
            # no unloading a runner that may be another's; the context is still measured below.
            shared_with = "?"
            report.warnings.append(Diagnostic("runner_unnamed", _UNNAMED_RUNNER.format(name=name)))
            entry = {}
        apply_runtime(report, entry, loaded_before=before is not None or shared_with is not None)
        return _check_context(client, report, version, load_keep_alive)
    finally:
        if before is None and shared_with is None:
            _unload(client, name)


def _check_context(
    client: OllamaClient, report: ModelReport, version: str | None, keep_alive: str | float
) -> Verification:
    """The runtime context (from /api/ps, else measured) against the configured num_ctx."""
    configured, runtime = report.facts.context_configured, report.runtime
    assert runtime is not None
    if configured is None:
        return Verification(reason="no num_ctx is stored: the runner uses the server's default, nothing to check")
    if runtime.context_length is not None:
        if runtime.context_length == configured:
            return Verification()
        return Verification(runtime_reason(configured, runtime.context_length, report.facts.context_trained))
    # No /api/ps figure: measure up to what the runner can hold (a num_ctx above the trained length
    # is clamped to it, which the measurement then shows), within the bound.
    trained = report.facts.context_trained
    target = min(configured, trained) if trained else configured
    if target > MEASURE_MAX_CONTEXT:
        return _not_checked(
            report,
            f"the server does not report the runner's context (/api/ps before Ollama 0.10.0) and num_ctx "
            f"{target:,} is above the {MEASURE_MAX_CONTEXT:,} tokens --verify measures with a prompt",
        )
    measured = measure_context(client, report.name, target, version=version, keep_alive=keep_alive)
    return _measured(report, configured, measured, whole=target == configured)


def _not_checked(report: ModelReport, why: str, measured: ContextMeasurement | None = None) -> Verification:
    reason = f"{why}: not checked"
    report.warnings.append(Diagnostic("verify_not_checked", reason, field="parameters.num_ctx"))
    return Verification(reason=reason, measured=measured)


def _measured(report: ModelReport, configured: int, m: ContextMeasurement, *, whole: bool) -> Verification:
    """A measurement's verdict; the runtime context it shows goes into the report. ``whole``: the
    prompt was longer than num_ctx itself (else only longer than the trained context below it)."""
    runtime = report.runtime
    assert runtime is not None
    if m.context is not None:
        runtime.context_length, runtime.context_source = m.context, "measured"
        report.facts.context_runtime = m.context
    if m.cut and m.context == configured:
        return Verification(measured=m)
    if m.cut and m.context is not None:
        return Verification(runtime_reason(configured, m.context, report.facts.context_trained), measured=m)
    if m.cut:
        why = f"the runner cut a prompt of {m.words:,} words to {m.kept:,} tokens, which this server's version "
        return _not_checked(report, why + "does not tie to one context length", m)
    if not whole:
        why = f"the runner took all {m.kept:,} tokens of a prompt longer than the trained context, uncut"
        return _not_checked(report, why, m)
    problem = (
        f"the runner took all {m.kept:,} tokens of a prompt longer than the configured num_ctx {configured} "
        "without cutting it: its context is larger"
    )
    return Verification(problem, measured=m)


def _unload(client: OllamaClient, name: str) -> None:
    """Unloading is a courtesy: a failure leaves the verify result as it is."""
    try:
        for _ in client.generate({"model": name, "keep_alive": 0, "stream": True}):
            pass
    except ModelctlError:
        pass


def _shared_runner(client: OllamaClient, name: str, ps: PsResponse) -> tuple[PsEntry | None, str | None]:
    """The /api/ps entry of another model whose weights (FROM blobs) and adapters are ours.

    Ollama keeps listing a runner under the model that first loaded it even after that model was
    deleted (seen on 0.9.3: the runner is keyed by its weights file); such an entry can no longer be
    shown, so it is taken as ours only when it is the one orphan whose ``details`` (family, size,
    quantization) are ours."""
    try:
        show = client.show(name)
    except ModelctlError:
        return None, None
    mine = modelfile_blobs(show)
    if not mine[0]:
        return None, None
    orphans: list[tuple[PsEntry, str]] = []
    for e in ps.get("models") or []:
        other = e.get("name") or e.get("model")
        if not isinstance(other, str):
            continue
        try:
            theirs = modelfile_blobs(client.show(other))
        except ModelNotFound:
            orphans.append((e.copy(), other))
            continue
        except ModelctlError:
            continue
        if sorted(theirs[0]) == sorted(mine[0]) and sorted(theirs[1]) == sorted(mine[1]):
            return e.copy(), other
    alike = [(e, other) for e, other in orphans if _same_details(e.get("details"), show.get("details"))]
    return alike[0] if len(alike) == 1 else (None, None)


def _same_details(a: object, b: object) -> bool:
    keys = ("format", "family", "parameter_size", "quantization_level")
    return isinstance(a, Mapping) and isinstance(b, Mapping) and all(a.get(k) == b.get(k) for k in keys)


def runtime_reason(configured: int, runtime: int, trained: int | None) -> str:
    """Why Ollama runs the model with ``runtime`` tokens of context instead of ``configured``."""
    head = f"runtime context {runtime} differs from the configured num_ctx {configured}"
    if trained is not None and configured > trained and runtime <= trained:
        return f"{head}: Ollama clamped it to the model's trained context length {trained}"
    if runtime < configured:
        return (
            f"{head}: Ollama lowered it, most likely because the KV cache for {configured} tokens "
            "did not fit in memory (see `modelctl estimate`), or a server setting "
            "(OLLAMA_CONTEXT_LENGTH, parallel slots) limits it"
        )
    if configured > 0 and runtime % configured == 0:
        return (
            f"{head}: the runner holds {runtime // configured} parallel slots of {configured} tokens "
            "(OLLAMA_NUM_PARALLEL)"
        )
    return f"{head}: Ollama raised it (a minimum for this model, e.g. 2048 for vision models)"


# -- the job -----------------------------------------------------------------------------------


@dataclass
class _ProfileView:
    """What ``show PROFILE`` knows from the profile before asking the server."""

    name: str
    parameters: Params | None = None  # None: a plain model name, no profile warnings
    base: str | None = None  # the base model by name (None for a local-file base)
    warnings: list[Diagnostic] = field(default_factory=list)


def profile_view(ref: str) -> _ProfileView:
    if ref.lower().endswith(".gguf") and Path(ref).expanduser().is_file():
        raise InvalidInput(
            "a local GGUF file, not a deployed model or a profile: "
            f"`modelctl inspect {ref}` reads its facts, `modelctl estimate {ref}` its memory",
            file=ref,
        )
    if not is_profile_ref(ref):
        return _ProfileView(ref)
    loaded = load_profile(ref)
    view = _ProfileView(loaded.profile.name)
    view.parameters = typed_parameters(loaded.profile.parameters.as_dict(), view.warnings)
    if loaded.profile.base_path() is None:
        view.base = loaded.profile.from_
    return view


def show(ref: str, *, verify: bool = False, host: HostRef = None, timeout: float | None = None) -> ModelReport:
    """The report of MODEL, or of PROFILE's model (with warnings where the server differs from it).

    ``verify`` loads the model and checks the context it really runs with (the result is in
    ``report.verification``). Raises ModelNotFound when the model is not on the server. An
    inventory host's facts (its default context, KV cache type, slots, GPU) shape the memory lines.
    """
    view = profile_view(ref)
    with session_for(host, timeout=timeout) as session:
        return show_on(session, view, ref, verify=verify, server=host_facts(host))


def show_on(
    session: HostSession, view: _ProfileView, ref: str, *, verify: bool = False, server: HostFacts | None = None
) -> ModelReport:
    """:func:`show` on one host's session: the model, its base and the model list, each asked once."""
    where = session.display_host
    deployed = session.show(view.name)
    if deployed is None:
        if view.parameters is not None:
            hint = f" (build it with `modelctl build {ref}`)"
        else:
            near = model_hint(session.client, view.name)
            hint = f"; {near}" if near is not None else ""
        raise ModelNotFound(f"model {view.name} is not on the server at {where}{hint}", model=view.name)
    base_show = session.show(view.base) if view.base else None
    report = build_report(
        deployed,
        name=view.name,
        host=where,
        tags_entry=find_entry(session.tags(), view.name),
        profile_parameters=view.parameters,
        base_show=base_show,
        server=server,
        ollama_version=session.version(),
    )
    report.warnings[:0] = view.warnings
    if verify:
        report.verification = verify_runtime(session.client, report, version=session.version())
    else:
        runtime_if_loaded(session.client, report)
    return report


@dataclass
class DeployedModelfile(JobResult):
    """``show --modelfile``: a deployed model's Modelfile as modelctl renders it, FROM by name."""

    name: str
    host: str
    text: str
    warnings: list[Diagnostic] = field(default_factory=list)

    def to_dict(self) -> JSONObject:
        return {"name": self.name, "host": self.host, "modelfile": self.text}


_RENDER_HEADER = re.compile(r"^# Modelfile generated by modelctl from [^\n]*\n")


def show_modelfile(ref: str, *, host: HostRef = None, timeout: float | None = None) -> DeployedModelfile:
    """The Modelfile of MODEL (or of PROFILE's model) as modelctl would render it: the model read
    back as the profile ``plan`` finds in sync with it (``import --model``), then rendered, so
    ``FROM`` names the base model instead of a path into the server's blob store.

    Adapters are files on the server: the ones the model adds to its base are ``ADAPTER`` lines with
    the server's blob paths, as ``ollama show --modelfile`` prints them; a model that builds on
    itself carries its adapters through ``FROM``, so they are comments there (a second ADAPTER
    line would add the adapter again)."""
    view = profile_view(ref)
    with session_for(host, timeout=timeout) as session:
        imported = import_model(view.name, session=session)
        deployed = session.show(view.name) or {}
        base = str(imported.data.get("from") or "")
        on_itself = same_model_name(base, view.name)
        base_show = session.show(base) if base and not on_itself else None
    where = Path.cwd() / (re.sub(r"[^A-Za-z0-9_.-]", "_", view.name) + ".yaml")
    try:
        loaded = load_profile(str(where), text=imported.yaml)
        rendered = render(loaded, paths="absolute")
    except InvalidInput as exc:
        # What cannot be written is the server's (a template with a line ending in """, a control
        # character): the profile named here is never a file, so the error names the server (exit 5).
        what = f"its {exc.field}" if exc.field else "it"
        raise ServerError(
            f"the model {view.name} on {imported.host}: {what} cannot be written as a Modelfile: {exc.message}"
        ) from None
    head = f"# Modelfile of the model {view.name} on {imported.host}, as modelctl renders it.\n"
    text = _RENDER_HEADER.sub(lambda _m: head, rendered.text, count=1)
    lines = _adapter_lines(deployed, base_show, base if on_itself else None)
    text = re.sub(r"^FROM [^\n]*\n", lambda m: m.group(0) + "".join(x + "\n" for x in lines), text, count=1, flags=re.M)
    warnings = [w for w in imported.warnings if not (w.code == "blob_only_on_server" and w.field == "adapters")]
    return DeployedModelfile(view.name, imported.host or "", text, warnings)


def _adapter_lines(show: ShowResponse, base_show: ShowResponse | None, own_from: str | None) -> list[str]:
    """The model's ADAPTER lines that its base does not have, as the server writes them; commented
    out (``own_from``: the model builds on itself) when FROM carries them already."""
    theirs = set(read_deployed(base_show).adapters) if base_show is not None else set()
    out = []
    for arg in read_deployed(show).adapter_lines:
        if blob_digest(arg) in theirs:
            continue
        out.append(f"# ADAPTER {arg}  (FROM {own_from} carries it)" if own_from else f"ADAPTER {arg}")
    return out
