"""``estimate``: a profile, a model on a server or a GGUF file -> facts -> memory.

:func:`facts_for` is the one function that turns a reference into :class:`ModelFacts`
(asking a server only for a model name or a profile based on one); :func:`estimate` adds
the memory estimate at a context length, the largest num_ctx for a budget, and a table by
context size and KV type (modelctl.memory.memory does the arithmetic).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from modelctl.common.jsontypes import JSONObject, json_of
from modelctl.common.units import parse_size
from modelctl.errors import Diagnostic, ExitCode, GGUFError, InvalidInput, JobResult, ModelctlError
from modelctl.jobs.profiles import load_profile
from modelctl.memory.effective import (
    DECLARED,
    ServerContext,
    default_num_ctx,
    display,
    flash_attention_setting,
    kv_cache_setting,
    model_from_facts,
    parallel_setting,
    server_context,
)
from modelctl.memory.facts import ModelFacts, facts_from_gguf, facts_from_show
from modelctl.memory.memory import (
    DEFAULT_OVERHEAD_BYTES,
    SEARCH_LIMIT_UNKNOWN_TRAINED,
    BudgetResult,
    EstimateRow,
    MemoryEstimate,
    Runtime,
    context_sizes,
    estimate_for_facts,
    estimate_table,
    max_num_ctx_for_budget,
)
from modelctl.memory.offload import Gpu, GpuPlacement, max_num_ctx_on_gpu, place
from modelctl.ollama.hosts import HostFacts, HostRef, HostSpec
from modelctl.ollama.server import ModelNotFound
from modelctl.ollama.session import client_for, host_facts
from modelctl.ollama.wire import find_entry, parse_version
from modelctl.profile.names import model_hint
from modelctl.profile.profile import LoadedProfile, is_profile_ref

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.profile.params import ParamValue

_LOCAL_PREFIXES = ("./", "../", "/", "~", ".\\", "..\\")


@dataclass
class AdapterSize:
    path: str
    weights_bytes: int
    not_counted: str | None = None  # why it is not counted (e.g. not a GGUF)

    def to_dict(self) -> JSONObject:
        out: JSONObject = {"path": self.path, "weights_bytes": self.weights_bytes}
        if self.not_counted is not None:
            out["not_counted"] = self.not_counted
        return out


@dataclass
class FactsSource:
    """Facts about the model a reference names, and where they came from."""

    facts: ModelFacts
    kind: str  # "profile" | "gguf" | "server"
    ref: str
    profile: LoadedProfile | None = None
    base: str | None = None  # for a profile: "gguf" or "server"
    num_ctx: int | None = None  # the profile's num_ctx
    adapters: list[AdapterSize] = field(default_factory=list)
    server_version: str | None = None  # the Ollama version of the server the facts came from
    num_gpu: int | None = None  # the profile's or model's num_gpu (layers on the GPU), if set
    num_batch: int | None = None  # the profile's or model's num_batch, if set

    @property
    def adapter_bytes(self) -> int:
        return sum(a.weights_bytes for a in self.adapters)

    def to_dict(self) -> JSONObject:
        out: JSONObject = {"kind": self.kind, "ref": self.ref, "server_version": self.server_version}
        if self.profile is not None:
            out.update(profile=str(self.profile.path), **{"from": self.profile.profile.from_})
            out["base"] = self.base
            out["adapters"] = [a.to_dict() for a in self.adapters]
            out["adapter_bytes"] = self.adapter_bytes
        return out


def facts_for(
    ref: str, *, overrides: Sequence[str] = (), host: HostRef = None, timeout: float | None = None
) -> FactsSource:
    """A profile (its ``from``, num_ctx and adapters), a GGUF file, or a model on the server.

    Order: a profile reference (a YAML path or a name found among the profiles) -> profile;
    another existing file or directory, a name ending in .gguf, or a path starting with
    ./ ../ / ~ -> GGUF; anything else -> a model on the server at ``host``.
    """
    if is_profile_ref(ref):
        return _profile_facts(ref, overrides, host, timeout)
    local = is_local_ref(ref)
    if overrides:
        what = "a GGUF file" if local else "not one"
        raise InvalidInput(f"--set applies to a PROFILE; {ref} is {what}", field="--set")
    if local:
        return FactsSource(facts_from_gguf(ref), "gguf", ref)
    facts, version = _server_facts(ref, host, timeout)
    source = FactsSource(facts, "server", ref, server_version=version)
    source.num_gpu, source.num_batch = _load_params(facts.parameters)
    return source


def is_local_ref(ref: str) -> bool:
    """A GGUF file rather than a model name: an existing path, a name ending in .gguf, or ./ ../ / ~."""
    return os.path.exists(ref) or ref.lower().endswith(".gguf") or ref.startswith(_LOCAL_PREFIXES)


def server_facts(model: str, *, host: HostRef = None, timeout: float | None = None) -> ModelFacts:
    """/api/show + the model's /api/tags entry -> facts."""
    return _server_facts(model, host, timeout)[0]


def _server_facts(model: str, host: HostRef, timeout: float | None) -> tuple[ModelFacts, str | None]:
    """Facts, and the server's version (None when it does not say: the current rules apply)."""
    with client_for(host, timeout) as client:
        try:
            show = client.show(model)
        except ModelNotFound as exc:
            near = model_hint(client, model)
            if near is None:
                raise
            raise ModelNotFound(f"{exc.message}; {near}", model=model, status=exc.status) from None
        entry = find_entry(client.tags(), model)
        facts = facts_from_show(show, entry, name=model, host=client.display_host)
        try:
            version: str | None = client.version()
        except ModelctlError:
            version = None
        return facts, version


def _load_params(params: Mapping[str, ParamValue]) -> tuple[int | None, int | None]:
    """num_gpu and num_batch where they are set (ints only: anything else is not what the runner got)."""
    out: list[int | None] = []
    for name in ("num_gpu", "num_batch"):
        v = params.get(name)
        out.append(v if isinstance(v, int) and not isinstance(v, bool) else None)
    return out[0], out[1]


def _profile_facts(ref: str, overrides: Sequence[str], host: HostRef, timeout: float | None) -> FactsSource:
    loaded = load_profile(ref, overrides)
    prof = loaded.profile
    set_ctx = prof.parameters.as_dict().get("num_ctx")
    num_ctx = set_ctx if isinstance(set_ctx, int) else None
    base = prof.base_path()
    if base is not None and base.is_dir():
        raise InvalidInput(
            f"`from` is a directory ({base}); estimate reads GGUF files (convert or build it first, "
            "then estimate the built model)",
            file=str(loaded.path),
            field="from",
        )
    version = None
    if base is not None:
        facts = facts_from_gguf(base)
    else:
        facts, version = _server_facts(prof.from_, host, timeout)
    if num_ctx is not None:  # else the base model's own num_ctx (inherited) stays
        facts.context_configured = num_ctx
    if not facts.name or base is not None:
        facts.name = prof.name
    source = FactsSource(facts, "profile", ref, loaded, "gguf" if base is not None else "server", num_ctx)
    source.server_version = version
    source.num_gpu, source.num_batch = _load_params({**facts.parameters, **prof.parameters.as_dict()})
    source.adapters = [adapter_size(p) for p in prof.adapter_paths()]
    return source


def adapter_size(path: Path) -> AdapterSize:
    """An ADAPTER file's weights (a LoRA GGUF); one that is not a GGUF is not counted, and says why."""
    try:
        return AdapterSize(str(path), facts_from_gguf(path).weights_bytes or 0)
    except GGUFError as exc:  # e.g. a safetensors adapter: not counted, and said so
        return AdapterSize(str(path), 0, exc.message)


@dataclass
class EstimateReport(JobResult):
    """``estimate``'s result: the facts, the estimate, and optionally a budget search, a GPU
    placement and a table."""

    source: FactsSource
    memory: MemoryEstimate
    budget: BudgetResult | None = None
    table: list[EstimateRow] | None = None
    gpu: GpuPlacement | None = None
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def facts(self) -> ModelFacts:
        return self.source.facts

    @property
    def fits(self) -> bool:
        """False when a budget was given and nothing fits in it."""
        return self.budget is None or self.budget.fits

    def outcome_codes(self) -> list[ExitCode]:
        """Nothing fits in the --budget: 1."""
        return [ExitCode.OK if self.fits else ExitCode.INVALID]

    def to_dict(self) -> JSONObject:
        return {
            "target": self.source.to_dict(),
            "model": self.facts.to_dict(),
            "estimate": self.memory.to_dict(),
            "budget": self.budget.to_dict() if self.budget is not None else None,
            "gpu": self.gpu.to_dict() if self.gpu is not None else None,
            "table": [json_of(r) for r in self.table] if self.table is not None else None,
        }


def _bytes(value: int | str | None, what: str, *, allow_zero: bool = False) -> int | None:
    if value is None or isinstance(value, int):
        return value
    return parse_size(value, what=what, allow_zero=allow_zero)


@dataclass(frozen=True)
class GpuOptions:
    """``--gpu-memory`` and what the server keeps free on the GPU (sizes or bytes)."""

    memory: int | str
    backend: str = "cuda"
    overhead: int | str | None = None  # OLLAMA_GPU_OVERHEAD (None: not declared, 0)

    def gpu(self) -> Gpu:
        mem = _bytes(self.memory, "--gpu-memory") or 0
        return Gpu(mem, self.backend.lower(), _bytes(self.overhead, "--gpu-overhead", allow_zero=True) or 0)


@dataclass(kw_only=True, frozen=True)
class EstimateOptions:
    """Every setting of ``estimate``, ``explain`` and ``together`` (``estimate --together``), once.

    The server's settings declared here count over an inventory host's facts (None: the host's,
    else what Ollama does); each job reads the ones it has a use for, as the comments say."""

    overrides: Sequence[str] = ()  # --set values (a profile only)
    # the server, declared: every job
    kv_type: str | None = None  # OLLAMA_KV_CACHE_TYPE
    parallel: int | None = None  # OLLAMA_NUM_PARALLEL: slots per loaded model
    flash_attention: bool | None = None  # OLLAMA_FLASH_ATTENTION (None: Ollama decides)
    context_length: int | None = None  # OLLAMA_CONTEXT_LENGTH: num_ctx of a model that sets none
    max_loaded: int | None = None  # OLLAMA_MAX_LOADED_MODELS (together)
    gpu: GpuOptions | None = None  # the server's GPU (estimate, together: the layers placed on it)
    ollama_version: str | None = None  # the rules of this version (default: the server's, else the newest known)
    # one model's figures: estimate
    num_ctx: int | None = None  # default: the profile's, else the model's, else the server's default
    batch: int | None = None  # num_batch (default: the profile's, else Ollama's)
    ubatch: int | None = None  # llama.cpp's micro-batch (default: batch)
    overhead: int | str = DEFAULT_OVERHEAD_BYTES  # an extra allowance on the total
    budget: int | str | None = None  # find the largest num_ctx whose total fits
    table: bool = False  # totals by context size and KV type
    # explain, together
    request: Mapping[str, ParamValue] | Sequence[str] = ()  # explain: options a client sends (NAME=VALUE texts)
    no_server: bool = False  # ask no server: the defaults of the newest Ollama known, marked assumed

    def device(self) -> Gpu | None:
        """The declared GPU, checked (InvalidInput for a size that is not one)."""
        if self.gpu is None:
            return None
        device = self.gpu.gpu()
        device.check()
        return device

    def declared(self) -> HostFacts:
        """The server's settings given here (None: not declared), as the resolver takes them."""
        device = self.gpu.gpu() if self.gpu is not None else None
        declared_overhead = self.gpu is not None and self.gpu.overhead is not None
        return HostFacts(
            context_length=self.context_length,
            num_parallel=self.parallel,
            kv_cache_type=self.kv_type,
            flash_attention=self.flash_attention,
            max_loaded_models=self.max_loaded,
            gpu_memory=device.memory_bytes if device is not None else None,
            gpu_overhead=device.overhead_bytes if device is not None and declared_overhead else None,
        )

    def check_version(self) -> None:
        """InvalidInput for an ``ollama_version`` that is not one."""
        if self.ollama_version is not None and parse_version(self.ollama_version) is None:
            raise InvalidInput(
                f"{self.ollama_version!r} is not an Ollama version (e.g. 0.12.6)", field="--ollama-version"
            )


def _source(target: ModelFacts | str, overrides: Sequence[str], host: HostRef, timeout: float | None) -> FactsSource:
    if isinstance(target, ModelFacts):
        return FactsSource(target, "facts", target.name or target.path or "")
    return facts_for(target, overrides=overrides, host=host, timeout=timeout)


def _num_ctx(source: FactsSource, num_ctx: int | None, server: ServerContext) -> tuple[int, str | None]:
    """--num-ctx, else the profile's, else the model's stored num_ctx, else the server's default
    (modelctl.memory.effective: OLLAMA_CONTEXT_LENGTH, the VRAM tier, the version's default)."""
    n = num_ctx or source.num_ctx or source.facts.context_configured
    if n is not None:
        return n, None
    layer = default_num_ctx(server)
    return int(layer.value), f"num_ctx not set: using {layer.value:,}, {layer.source.text} ({layer.source.basis})"


@dataclass(frozen=True)
class ServerInputs:
    """The server settings an estimate runs with, from the options given, else as the resolver
    (modelctl.memory.effective) finds them: the inventory host's facts, Ollama's rules for the model."""

    server: ServerContext
    kv_type: str
    parallel: int
    flash_attention: bool | None
    flash_label: str | None
    notes: tuple[str, ...]
    embedding: bool = False  # an embedding-only model (Ollama's automatic num_batch differs)


def server_inputs(source: FactsSource, host: HostRef, options: EstimateOptions) -> ServerInputs:
    """The server an estimate runs on: ``options``' declared settings over the inventory host's
    facts, else Ollama's rules for the model."""
    label = host.name if isinstance(host, HostSpec) else None
    ctx = server_context(
        source.server_version,
        reachable=source.server_version is not None,
        facts=host_facts(host),
        facts_label=label,
        flags=options.declared(),
        flag_version=options.ollama_version,
    )
    model = model_from_facts(source.facts.name or source.ref, source.facts)
    slots, kv, fa = parallel_setting(ctx, model), kv_cache_setting(ctx), flash_attention_setting(ctx)
    notes = [
        f"{what} {display(s.value, s.name)}: {s.source.text} (declared)"
        for what, s in (("KV cache", kv), ("parallel slots", slots))
        if s.source.basis == DECLARED and options.kv_type is None and (s is kv or options.parallel is None)
    ]
    notes += [f"parallel slots {a.before} -> {a.after}: {a.reason} ({a.cite})" for a in slots.adjustments]
    declared = fa.value is not None and options.flash_attention is None and fa.source.basis == DECLARED
    fa_label = f"{fa.source.text} (declared)" if declared else None
    # A version's default (e.g. off before 0.11.8) is decided per model by memory.memory; pass only what is set.
    fa_value = fa.value if options.flash_attention is not None or declared else None
    return ServerInputs(ctx, str(kv.value), int(slots.value), fa_value, fa_label, tuple(notes), model.embedding_only)


def _device(options: EstimateOptions, server: HostFacts) -> Gpu | None:
    """The GPU the layers are placed on: the declared one, else the inventory host's (checked)."""
    if options.gpu is not None:
        return options.device()
    if not server.gpu_memory:
        return None
    device = GpuOptions(server.gpu_memory, server.gpu_backend or "cuda", server.gpu_overhead or 0).gpu()
    device.check()
    return device


def estimate(
    target: ModelFacts | str,
    options: EstimateOptions | None = None,
    *,
    host: HostRef = None,
    timeout: float | None = None,
) -> EstimateReport:
    """Memory for ``target`` (facts from :func:`modelctl.api.inspect`, or a reference for
    :func:`facts_for`) at ``options.num_ctx`` (default: the profile's, else the model's, else the
    server's default).

    ``overhead`` (an extra allowance), ``budget`` and the GPU's sizes are bytes or sizes such
    as ``"12GiB"``. ``flash_attention``, ``batch`` and ``ubatch`` default to what Ollama does;
    ``ollama_version`` to the server's when the facts come from one, else the current rules.
    An inventory host (``host``) lends its facts where an option is not given: the KV cache type,
    parallel slots, the default num_ctx and its GPU (docs/fleet.md); else f16, 1 slot.
    """
    o = options or EstimateOptions()
    overhead_bytes = _bytes(o.overhead, "--overhead", allow_zero=True) or 0
    budget_bytes = _bytes(o.budget, "--budget")
    o.check_version()
    device = _device(o, host_facts(host))  # --gpu-memory is also the server's VRAM: its default num_ctx
    source = _source(target, o.overrides, host, timeout)
    facts = source.facts
    inputs = server_inputs(source, host, o)
    kv_type, parallel = inputs.kv_type, inputs.parallel
    n, ctx_note = _num_ctx(source, o.num_ctx, inputs.server)
    n_batch = o.batch or source.num_batch
    version = o.ollama_version or source.server_version
    runtime = Runtime(inputs.flash_attention, n_batch, o.ubatch, version, inputs.flash_label, inputs.embedding)
    adapter_bytes = source.adapter_bytes

    def at(size: int, kv: str = kv_type) -> MemoryEstimate:
        return estimate_for_facts(
            facts, size, kv, parallel, overhead_bytes=overhead_bytes, adapter_bytes=adapter_bytes, runtime=runtime
        )

    est = at(n)
    est.assumptions[:0] = ([ctx_note] if ctx_note else []) + list(inputs.notes)
    est.assumptions += [f"adapter {a.path} not counted: {a.not_counted}" for a in source.adapters if a.not_counted]
    report = EstimateReport(source, est)
    if est.exceeds_trained:
        report.warnings.append(
            Diagnostic(
                "num_ctx_above_trained",
                f"num_ctx {n} exceeds the trained context {facts.context_trained}; Ollama caps it there",
                field="num_ctx",
            )
        )
    if budget_bytes is not None:
        report.budget = max_num_ctx_for_budget(
            facts,
            budget_bytes,
            kv_type,
            parallel,
            overhead_bytes=overhead_bytes,
            adapter_bytes=adapter_bytes,
            runtime=runtime,
        )
    if device is not None:
        report.gpu = place(facts, est, device, source.num_gpu)
        limit = facts.context_trained or SEARCH_LIMIT_UNKNOWN_TRAINED
        report.gpu.max_num_ctx = max_num_ctx_on_gpu(facts, at, device, source.num_gpu, limit)
    if o.table:
        sizes = context_sizes(facts.context_trained, est.effective_num_ctx)
        report.table = estimate_table(
            facts,
            sizes,
            parallel=parallel,
            overhead_bytes=overhead_bytes,
            adapter_bytes=adapter_bytes,
            runtime=runtime,
        )
    return report
