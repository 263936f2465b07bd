"""What a model really runs with on a server: every option, where it came from, and Ollama's changes.

Ollama combines the options of a request in layers (server/routes.go
``modelOptionsWithEmbeddingBatchDefault``): its built-in defaults (api/types.go
``DefaultOptions``), num_ctx from ``OLLAMA_CONTEXT_LENGTH`` or the VRAM tier it picked at
start-up (server/routes.go ``Serve``), the model's stored parameters (a derived model stores
its base model's parameters merged key by key with its own), then the request's ``options``.
It then adjusts them: num_ctx raised to 4 and to 2048 for vision models (server/sched.go
``getRunner``) and capped at the trained context (llm/server.go ``NewLlamaServer``), the
context multiplied by the parallel slots for llama-server's ``-c``, draft_num_predict forced
to 0 without a draft, num_batch chosen by the scheduler when nobody set it, num_predict
bounded at 10 x num_ctx (llm/llama_server.go ``boundedNumPredict``).

:func:`resolve` does the same for a profile (or a model) on one server and labels every value
by its *basis*: ``written`` (a profile file, ``--set``, a request option), ``reported`` (the
server said it: its version's built-in defaults, a model's stored parameters), ``declared``
(an inventory's facts or a command-line flag) or ``assumed`` (what no API exposes and nobody
declared; without a server, the defaults of :data:`KNOWN_VERSION`). docs/explain.md cites the
place in Ollama's source of every rule.

The module also says when a loaded runner can serve a request (:func:`reload_reasons`, Ollama's
``needsReload``): compare's reload warnings and ``estimate --together`` use that one rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from modelctl.common.jsontypes import JSONObject
from modelctl.common.units import format_value
from modelctl.memory.facts import ModelFacts
from modelctl.memory.memory import automatic_num_batch, ollama_rule
from modelctl.ollama.hosts import HostFacts
from modelctl.ollama.wire import modelfile_blobs, older_than, parse_parameters, parse_version
from modelctl.profile import params as P
from modelctl.profile.profile import SET_SOURCE, LoadedProfile

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.ollama.shapes import ShowResponse

#: The newest Ollama release whose rules modelctl knows (read in Ollama's source at v0.33.0-rc2;
#: these rules are the same at v0.32.15). Without a server, its defaults are *assumed*.
KNOWN_VERSION = "0.32.15"

# Releases that changed a rule resolved here (docs/explain.md names the commits).
CONTEXT_ENV_SINCE = "0.5.13"  # OLLAMA_CONTEXT_LENGTH exists
CONTEXT_4096_SINCE = "0.6.7"  # the default num_ctx went from 2048 to 4096
PARALLEL_TWO_SINCE = "0.6.7"  # server/sched.go defaultParallel 4 -> 2
PARALLEL_ONE_SINCE = "0.10.0"  # OLLAMA_NUM_PARALLEL defaults to 1 (before: defaultParallel when memory allowed, else 1)
PS_CONTEXT_SINCE = "0.10.0"  # /api/ps context_length (server/routes.go PsHandler: NumCtx / numParallel)
VRAM_TIER_SINCE = "0.15.5"  # the default num_ctx follows the VRAM: 4096 / 32768 / 262144
LLAMA_SERVER_SINCE = "0.30.0"  # llama-server: draft_num_predict, automatic num_ctx/num_batch/use_mmap, --flash-attn
# auto, reduceAutoNumCtxForLoadOOM, applyLlamaServerMmapDefaults, `shift` in needsReload (none in v0.24.0)
REPEAT_PENALTY_SINCE = "0.32.10"  # repeat_penalty 1.1 -> 1.0
FAMILY_FLOOR_SINCE = "0.11.1"  # gpt-oss: num_ctx at least 8192 (qwen3vl from 0.12.7), until the VRAM tiers
QWEN3VL_FLOOR_SINCE = "0.12.7"

GiB = 1 << 30
#: server/routes.go Serve: total VRAM (minus OLLAMA_GPU_OVERHEAD per GPU) -> the default num_ctx.
VRAM_TIERS = ((47 * GiB, 262144), (23 * GiB, 32768), (0, 4096))
VISION_MIN_CTX = 2048  # server/sched.go getRunner: multimodal models need at least 2048
FAMILY_MIN_CTX = 8192  # server/routes.go scheduleRunner, 0.11.1 to 0.15.4: outside low-VRAM mode
LOW_VRAM = 20 * GiB  # server/routes.go lowVRAMThreshold (0.11.1 to 0.15.4)
MIN_CTX = 4  # server/sched.go getRunner
PREDICT_FACTOR = 10  # llm/llama_server.go openEndedGenerationContextMultiplier
#: server/sched.go load: families that always run with one slot.
SINGLE_SLOT_FAMILIES = frozenset(
    {
        "mllama", "qwen3vl", "qwen3vlmoe", "qwen35", "qwen35moe", "qwen3next", "lfm2", "lfm2moe", "nemotron_h",
        "nemotron_h_moe", "nemotron_h_omni",
    }
)  # fmt: skip
LOAD_OPTIONS = tuple(p.name for p in P.CATALOGUE if p.level == "load")

# Where each rule lives in Ollama's source (docs/explain.md).
CITE_LAYERS = "server/routes.go modelOptionsWithEmbeddingBatchDefault"
CITE_TIER = "server/routes.go Serve"
CITE_FLOOR = "server/sched.go getRunner"
CITE_FAMILY_FLOOR = "server/routes.go scheduleRunner (0.11.1 to 0.15.4)"
CITE_CAP = "llm/server.go NewLlamaServer"
CITE_SLOTS = "server/sched.go load"
CITE_SLOTS_OLD = "server/sched.go processPending, defaultParallel"
CITE_CONTEXT = "llm/llama_server.go startLlamaServer"
CITE_CONTEXT_OLD = "server/sched.go processPending (NumCtx = num_ctx x numParallel), llm/server.go NewLlamaServer"
CITE_BATCH = "server/sched.go automaticGenerationBatch"
CITE_EMBED_BATCH = "llm/llama_server.go DefaultEmbeddingNumBatchForContext"
CITE_PREDICT = "llm/llama_server.go boundedNumPredict"
CITE_RELOAD = "server/sched.go needsReload"

WRITTEN, REPORTED, DECLARED, ASSUMED = "written", "reported", "declared", "assumed"

#: HostFacts attribute -> (the server's environment variable, the command-line flag that declares it).
SETTINGS: dict[str, tuple[str, str]] = {
    "context_length": ("OLLAMA_CONTEXT_LENGTH", "--context-length"),
    "num_parallel": ("OLLAMA_NUM_PARALLEL", "--parallel"),
    "kv_cache_type": ("OLLAMA_KV_CACHE_TYPE", "--kv-cache"),
    "flash_attention": ("OLLAMA_FLASH_ATTENTION", "--flash-attention"),
    "max_loaded_models": ("OLLAMA_MAX_LOADED_MODELS", "--max-loaded"),
    "gpu_memory": ("gpu_memory", "--gpu-memory"),
    "gpu_overhead": ("OLLAMA_GPU_OVERHEAD", "--gpu-overhead"),
}


# =========================================================================== values and sources


@dataclass(frozen=True)
class Source:
    """Where a value came from: ``kind`` (ollama, server, base, profile, extends, set, request,
    ollama-rule), its ``basis`` (written, reported, declared, assumed) and a text for people."""

    kind: str
    basis: str
    text: str
    file: str | None = None
    line: int | None = None
    column: int | None = None

    def to_dict(self) -> JSONObject:
        return {
            "kind": self.kind,
            "basis": self.basis,
            "text": self.text,
            "file": self.file,
            "line": self.line,
            "column": self.column,
        }


@dataclass(frozen=True)
class Layer:
    value: Any
    source: Source

    def to_dict(self) -> JSONObject:
        return {"value": self.value, "source": self.source.to_dict()}


@dataclass(frozen=True)
class Adjustment:
    """A change Ollama makes to a value once the layers are combined."""

    before: Any
    after: Any
    reason: str
    cite: str  # the place in Ollama's source
    assumed: bool = False  # the change depends on what the server does not say (e.g. free memory)

    def to_dict(self) -> JSONObject:
        return {
            "from": self.before,
            "to": self.after,
            "reason": self.reason,
            "cite": self.cite,
            "assumed": self.assumed,
        }


@dataclass
class Resolved:
    """One option (or server setting): its layers from lowest to highest precedence, then
    Ollama's adjustments. ``value`` is what the runner uses; ``requested`` what the layers gave."""

    name: str
    layers: list[Layer]
    adjustments: list[Adjustment] = field(default_factory=list)
    level: str | None = None  # "load" | "request" for options; None for server settings
    note: str | None = None  # how to read the value

    @property
    def requested(self) -> Any:
        return self.layers[-1].value

    @property
    def value(self) -> Any:
        return self.adjustments[-1].after if self.adjustments else self.requested

    @property
    def source(self) -> Source:
        return self.layers[-1].source

    @property
    def basis(self) -> str:
        if any(a.assumed for a in self.adjustments):
            return ASSUMED
        return self.source.basis

    def adjust(self, after: Any, reason: str, cite: str, *, assumed: bool = False) -> None:
        if after != self.value:
            self.adjustments.append(Adjustment(self.value, after, reason, cite, assumed))

    def to_dict(self) -> JSONObject:
        return {
            "name": self.name,
            "level": self.level,
            "value": self.value,
            "requested": self.requested,
            "display": display(self.value, self.name),
            "basis": self.basis,
            "source": self.source.to_dict(),
            "layers": [layer.to_dict() for layer in self.layers],
            "adjustments": [a.to_dict() for a in self.adjustments],
            "note": self.note,
        }


_STRENGTH = (WRITTEN, REPORTED, DECLARED, ASSUMED)


def weakest(*bases: str) -> str:
    """The least certain of several bases (assumed < declared < reported < written)."""
    return max(bases, key=_STRENGTH.index)


def display(value: Any, name: str = "") -> str:
    if value is None:
        return "auto" if name in ("num_ctx", "flash_attention", "use_mmap") else "unset"
    if name == "flash_attention" and isinstance(value, bool):
        return "on" if value else "off"
    return value if isinstance(value, str) else format_value(value)


# =========================================================================== the two sides


@dataclass(frozen=True)
class ModelSide:
    """The model a request starts from: a profile's base, or a model named directly.

    ``known`` is False when nothing could be read about it (no server, or the server lacks
    it): its stored parameters are then unknown, not empty. ``weights`` is what Ollama's
    scheduler keys runners by (the weights blob's digest, a local file, else the name).
    """

    name: str
    parameters: Mapping[str, P.ParamValue] = field(default_factory=dict)
    known: bool = False
    trained_context: int | None = None
    family: str | None = None  # details.family (Ollama's Config.ModelFamily)
    capabilities: tuple[str, ...] | None = None
    weights: str | None = None
    projectors: tuple[str, ...] = ()
    adapters: tuple[str, ...] = ()
    draft: str | None = None
    where: str = "stored with the model on the server"

    @property
    def vision(self) -> bool:
        return "vision" in (self.capabilities or ())

    @property
    def embedding_only(self) -> bool:
        caps = self.capabilities or ()
        return "embedding" in caps and "completion" not in caps

    def to_dict(self) -> JSONObject:
        return {
            "name": self.name,
            "known": self.known,
            "family": self.family,
            "trained_context": self.trained_context,
            "capabilities": list(self.capabilities) if self.capabilities is not None else None,
            "weights": self.weights,
            "parameters": dict(self.parameters),
        }


_DRAFT_LINE = re.compile(r"^DRAFT\s+\S*?sha256[-:]([0-9a-fA-F]{64})\s*$", re.MULTILINE)


def model_from_show(name: str, show: ShowResponse) -> ModelSide:
    """A model as ``/api/show`` describes it: stored parameters, trained context, family,
    capabilities, and the blobs of its generated Modelfile (weights, projectors, adapters, draft)."""
    info = show.get("model_info") or {}
    details = show.get("details") or {}
    arch = info.get("general.architecture")
    arch = arch if isinstance(arch, str) and arch else None
    trained = info.get(f"{arch}.context_length") if arch else None
    if not isinstance(trained, int) or isinstance(trained, bool):
        trained = details.get("context_length")
    family = details.get("family") or arch
    caps = show.get("capabilities")
    froms, adapters = modelfile_blobs(show)
    drafts = _DRAFT_LINE.findall(show.get("modelfile") or "")
    return ModelSide(
        name,
        parse_parameters(show.get("parameters")),
        True,
        trained if trained and trained > 0 else None,
        family,
        tuple(str(c) for c in caps) if isinstance(caps, list) else None,
        froms[0] if froms else None,
        tuple(froms[1:]),
        tuple(adapters),
        "sha256:" + drafts[-1].lower() if drafts else None,
    )


def model_from_facts(name: str, facts: ModelFacts, weights: str | None = None) -> ModelSide:
    """A model read from its GGUF file (no stored parameters: a GGUF carries none)."""
    caps = tuple(facts.capabilities) if facts.capabilities is not None else None
    if caps is None and facts.projector_bytes:
        caps = ("completion", "vision")
    return ModelSide(name, {}, True, facts.context_trained, facts.architecture, caps, weights, where="the GGUF file")


def unknown_model(name: str, why: str) -> ModelSide:
    """A model nothing could be read about: ``why`` says so where its stored parameters would be named."""
    return ModelSide(name, where=why)


@dataclass(frozen=True)
class ServerContext:
    """The server as the resolver sees it: the version whose rules apply and the settings
    someone declared (``declared``: HostFacts attribute -> (value, Source))."""

    version: str
    version_source: Source
    declared: Mapping[str, tuple[Any, Source]] = field(default_factory=dict)
    host: str | None = None
    reachable: bool = False

    @property
    def version_basis(self) -> str:
        return self.version_source.basis

    def get(self, attr: str) -> tuple[Any, Source] | None:
        return self.declared.get(attr)

    def to_dict(self) -> JSONObject:
        return {
            "host": self.host,
            "reachable": self.reachable,
            "version": self.version,
            "version_source": self.version_source.to_dict(),
            "declared": {SETTINGS[k][0]: v for k, (v, _) in self.declared.items()},
        }


def server_context(
    version: str | None = None,
    *,
    reachable: bool = False,
    host: str | None = None,
    facts: HostFacts | None = None,
    facts_label: str | None = None,
    flags: HostFacts | None = None,
    flag_version: str | None = None,
) -> ServerContext:
    """The rules of ``version`` (the server's, reported), else ``flag_version`` (declared), else
    :data:`KNOWN_VERSION` (assumed); the settings of ``flags`` (command line) over ``facts``
    (an inventory host's)."""
    if version and reachable:
        vsrc = Source("server", REPORTED, f"/api/version of {host or 'the server'}")
    elif flag_version:
        version, vsrc = flag_version, Source("flag", DECLARED, "--ollama-version")
    else:
        version = KNOWN_VERSION
        vsrc = Source("ollama", ASSUMED, f"no server: the newest Ollama modelctl knows ({KNOWN_VERSION})")
    declared: dict[str, tuple[Any, Source]] = {}
    for attr, (env, flag) in SETTINGS.items():
        given = getattr(flags, attr) if flags is not None else None
        known = getattr(facts, attr) if facts is not None else None
        if given is not None:
            declared[attr] = (given, Source("server", DECLARED, f"{env} ({flag})"))
        elif known is not None:
            where = f"inventory host {facts_label}" if facts_label else "the inventory"
            declared[attr] = (known, Source("server", DECLARED, f"{env} of {where}"))
    return ServerContext(version, vsrc, declared, host, reachable)


# =========================================================================== defaults


def builtin_default(name: str, version: str | None) -> tuple[Any, str]:
    """Ollama's built-in default for a parameter (api/types.go DefaultOptions) in ``version``
    (None: today's), and how to read it. num_ctx is None: the server picks it."""
    param = P.BY_NAME[name]
    known = parse_version(version) not in (None, (0, 0, 0))
    where = f"Ollama {version} default" if known else "Ollama default"
    if name == "repeat_penalty":
        if not known:
            return 1.0, f"Ollama default since {REPEAT_PENALTY_SINCE} (1.1 before)"
        if older_than(version, REPEAT_PENALTY_SINCE):
            return 1.1, f"{where} (1.0 from {REPEAT_PENALTY_SINCE})"
        return 1.0, where
    if name == "draft_num_predict" and known and older_than(version, LLAMA_SERVER_SINCE):
        return None, f"not in Ollama {version} (added in {LLAMA_SERVER_SINCE})"
    if param.default is None:
        return None, f"{where}: {param.default_note}"
    return param.default, where


def default_num_ctx(server: ServerContext) -> Layer:
    """The num_ctx of a model and request that set none: OLLAMA_CONTEXT_LENGTH when declared,
    else the version's default (by VRAM tier from 0.15.5)."""
    v = server.version
    env = server.get("context_length")
    if env is not None and not older_than(v, CONTEXT_ENV_SINCE):
        return Layer(env[0], env[1])
    if older_than(v, CONTEXT_4096_SINCE):
        basis = server.version_basis if older_than(v, CONTEXT_ENV_SINCE) else ASSUMED
        return Layer(2048, Source("server", basis, f"Ollama {v} default (4096 from {CONTEXT_4096_SINCE})"))
    if older_than(v, VRAM_TIER_SINCE):
        text = (
            f"Ollama {v}: OLLAMA_CONTEXT_LENGTH's default 4096 (envconfig/config.go; by VRAM only from "
            f"{VRAM_TIER_SINCE}), unless it is set"
        )
        return Layer(4096, Source("server", ASSUMED, text))
    gpu = server.get("gpu_memory")
    if gpu is not None:
        overhead = server.get("gpu_overhead")
        vram = max(int(gpu[0]) - int(overhead[0] if overhead else 0), 0)
        tier = next(n for floor, n in VRAM_TIERS if vram >= floor)
        text = f"Ollama's default for {vram / GiB:.1f} GiB of VRAM ({gpu[1].text}), unless OLLAMA_CONTEXT_LENGTH is set"
        return Layer(tier, Source("server", DECLARED, text))
    text = (
        "Ollama's default below 23 GiB of VRAM (32768 from 23 GiB, 262144 from 47 GiB), unless "
        "OLLAMA_CONTEXT_LENGTH is set (neither is declared)"
    )
    return Layer(4096, Source("server", ASSUMED, text))


# =========================================================================== server settings


def ps_reports_context(version: str | None) -> bool:
    """Whether ``/api/ps`` names the runner's context (``context_length``, per slot): from 0.10.0."""
    return not older_than(version, PS_CONTEXT_SINCE)


def automatic_parallel(version: str | None) -> int:
    """Slots when OLLAMA_NUM_PARALLEL is unset (or 0 before 0.10.0): server/sched.go defaultParallel,
    4 before 0.6.7, 2 until 0.9.x (on a GPU only when that many fit, else 1; on a CPU always), then
    1 (envconfig/config.go NumParallel defaults to 1 from 0.10.0)."""
    if not older_than(version, PARALLEL_ONE_SINCE):
        return 1
    return 4 if older_than(version, PARALLEL_TWO_SINCE) else 2


def parallel_setting(server: ServerContext, model: ModelSide) -> Resolved:
    """Slots per loaded model: OLLAMA_NUM_PARALLEL (or the version's automatic choice), forced to 1
    where Ollama allows no more."""
    v = server.version
    auto = automatic_parallel(v)
    if older_than(v, PARALLEL_ONE_SINCE):
        text = (
            f"Ollama {v}: OLLAMA_NUM_PARALLEL unset or 0 means automatic: {auto} slots on a CPU, and on a GPU "
            f"when {auto} fit, else 1 ({CITE_SLOTS_OLD})"
        )
        base = Layer(auto, Source("ollama", ASSUMED, text))
    else:
        base = Layer(1, Source("ollama", ASSUMED, f"Ollama {v} default, unless OLLAMA_NUM_PARALLEL is set"))
    out = Resolved("parallel", [base])
    env = server.get("num_parallel")
    if env is not None:
        declared = int(env[0])
        automatic = declared <= 0 and older_than(v, PARALLEL_ONE_SINCE)
        out.layers.append(Layer(auto if automatic else max(declared, 1), env[1]))
    if model.embedding_only:
        out.adjust(1, "embedding models always load with one slot", CITE_SLOTS)
    elif model.family in SINGLE_SLOT_FAMILIES:
        out.adjust(1, f"{model.family} does not support parallel requests: one slot", CITE_SLOTS)
    return out


def kv_cache_setting(server: ServerContext) -> Resolved:
    layers = [Layer("f16", Source("ollama", ASSUMED, "llama.cpp's default, unless OLLAMA_KV_CACHE_TYPE is set"))]
    env = server.get("kv_cache_type")
    if env is not None:
        layers.append(Layer(env[0], env[1]))
    return Resolved("kv_cache_type", layers, note="server-wide: every model on the server has this KV cache type")


def flash_attention_setting(server: ServerContext) -> Resolved:
    """True/False when declared, or when the version decides it for every model (off before 0.11.8);
    None when Ollama decides per model (per architecture from 0.11.8, llama-server's auto from 0.30).
    The version boundaries live in modelctl.memory.memory.OllamaRule."""
    v = server.version
    rule = ollama_rule(v)
    if not rule.fa_by_architecture:
        text = f"Ollama {v}: off unless OLLAMA_FLASH_ATTENTION=1 (envconfig/config.go FlashAttention, default false)"
        layers = [Layer(False, Source("ollama", server.version_basis, text))]
    elif not rule.llama_server:
        text = (
            f"Ollama {v}: on for some architectures (fs/ggml/ggml.go FlashAttention), "
            "unless OLLAMA_FLASH_ATTENTION is set"
        )
        layers = [Layer(None, Source("ollama", ASSUMED, text))]
    else:
        text = f"Ollama {v}: llama-server --flash-attn auto (on where the backend supports it)"
        layers = [Layer(None, Source("ollama", ASSUMED, text))]
    env = server.get("flash_attention")
    if env is not None:
        layers.append(Layer(bool(env[0]), env[1]))
    return Resolved("flash_attention", layers, note="server-wide; a quantized KV cache needs it on")


def memory_settings(version: str | None, host: HostFacts, model: ModelSide) -> tuple[str, int, bool | None]:
    """(KV cache type, slots, flash attention) a runner of ``model`` gets on a server of ``version``
    (None: not known) with ``host``'s declared settings: what every memory figure is computed with."""
    ctx = server_context(version, reachable=version is not None, facts=host)
    kv, slots, fa = kv_cache_setting(ctx), parallel_setting(ctx, model), flash_attention_setting(ctx)
    return str(kv.value), int(slots.value), fa.value if fa.source.basis == DECLARED else None


# =========================================================================== options


def _profile_layer(loaded: LoadedProfile, name: str, value: Any) -> Layer:
    """The profile's value with its place: this file, a file it extends, or ``--set``."""
    key = f"parameters.{name}"
    origin = loaded.origins.get(key)
    if origin == SET_SOURCE:
        return Layer(value, Source("set", WRITTEN, f"--set {name}"))
    file, line, col = loaded.where(key)
    try:
        own = origin is None or Path(origin).resolve() == Path(loaded.path).resolve()
    except OSError:
        own = False
    text = file + (f":{line}:{col}" if line is not None else "")
    return Layer(value, Source("profile" if own else "extends", WRITTEN, text, file, line, col))


def _layers(
    name: str,
    model: ModelSide,
    profile: LoadedProfile | None,
    request: Mapping[str, P.ParamValue],
    server: ServerContext,
) -> list[Layer]:
    if name == "num_ctx":
        layers = [default_num_ctx(server)]
    else:
        value, note = builtin_default(name, server.version)
        layers = [Layer(value, Source("ollama", server.version_basis, note))]
    if name in model.parameters:
        layers.append(Layer(model.parameters[name], Source("base", REPORTED, f"{model.name} ({model.where})")))
    if profile is not None:
        own = profile.profile.parameters.as_dict()
        if name in own:
            layers.append(_profile_layer(profile, name, own[name]))
    if name in request:
        layers.append(Layer(request[name], Source("request", WRITTEN, f"request option {name}")))
    return layers


@dataclass
class Resolution:
    """Every option a runner will use for one profile (or model) on one server, and the server
    settings that shape it; ``auto``: load-time options the server chooses (nobody set them)."""

    model: ModelSide
    server: ServerContext
    options: dict[str, Resolved]
    settings: dict[str, Resolved]
    auto: frozenset[str] = frozenset()
    draft: str | None = None
    adapters: tuple[str, ...] = ()
    projectors: tuple[str, ...] = ()

    @property
    def num_ctx(self) -> int:
        return int(self.options["num_ctx"].value)

    @property
    def parallel(self) -> int:
        return int(self.settings["parallel"].value)

    def to_dict(self) -> JSONObject:
        return {
            "model": self.model.to_dict(),
            "server": self.server.to_dict(),
            "options": [o.to_dict() for o in self.options.values()],
            "settings": [s.to_dict() for s in self.settings.values()],
            "auto": sorted(self.auto),
            "reload_when_different": reload_rules(self.server.version),
        }


def resolve(
    model: ModelSide,
    server: ServerContext,
    *,
    profile: LoadedProfile | None = None,
    request: Mapping[str, P.ParamValue] | None = None,
) -> Resolution:
    """The options a runner uses for ``model`` (with ``profile`` built on it, and ``request``
    options sent with each request) on ``server``, each with its layers and Ollama's adjustments."""
    request = dict(request or {})
    options = {
        p.name: Resolved(p.name, _layers(p.name, model, profile, request, server), level=p.level) for p in P.CATALOGUE
    }
    set_above = {n for n, o in options.items() if o.source.kind not in ("ollama", "server")}
    # Automatic num_ctx, num_batch and use_mmap (chosen at load, equal for needsReload) exist from 0.30.
    auto = (
        {"num_ctx", "num_batch", "use_mmap"} - set_above
        if not older_than(server.version, LLAMA_SERVER_SINCE)
        else set()
    )
    if server.get("context_length") is not None:
        auto.discard("num_ctx")  # usesAutomaticNumCtx: OLLAMA_CONTEXT_LENGTH makes it fixed
    prof = profile.profile if profile is not None else None
    res = Resolution(model, server, options, {}, frozenset(auto))
    res.draft = (str(prof.draft_path()) if prof is not None and prof.draft else None) or model.draft
    res.adapters = model.adapters + tuple(str(p) for p in (prof.adapter_paths() if prof else []))
    res.projectors = model.projectors + tuple(str(p) for p in (prof.projector_paths() if prof else []))
    res.settings = {
        "parallel": parallel_setting(server, model),
        "kv_cache_type": kv_cache_setting(server),
        "flash_attention": flash_attention_setting(server),
    }
    _adjust_context(res)
    _adjust_load_options(res, "num_batch" in auto, "draft_num_predict" in set_above)
    _adjust_prediction(res)
    _describe(res)
    return res


def _family_floor(res: Resolution) -> None:
    """0.11.1 to 0.15.4: gpt-oss (and qwen3vl from 0.12.7) get num_ctx 8192 at least, unless the
    server has less than 20 GiB of VRAM (its low-VRAM mode)."""
    v, family = res.server.version, res.model.family or ""
    families = {"gptoss", "gpt-oss"} | (set() if older_than(v, QWEN3VL_FLOOR_SINCE) else {"qwen3vl", "qwen3vlmoe"})
    if family not in families or older_than(v, FAMILY_FLOOR_SINCE) or not older_than(v, VRAM_TIER_SINCE):
        return
    gpu, overhead = res.server.get("gpu_memory"), res.server.get("gpu_overhead")
    vram = int(gpu[0]) - int(overhead[0] if overhead else 0) if gpu is not None else None
    if vram is not None and vram < LOW_VRAM:
        return
    ctx = res.options["num_ctx"]
    why = f"{family} runs with at least {FAMILY_MIN_CTX} on a server with 20 GiB of VRAM or more"
    ctx.adjust(max(int(ctx.value), FAMILY_MIN_CTX), why, CITE_FAMILY_FLOOR, assumed=vram is None)


def _adjust_context(res: Resolution) -> None:
    _family_floor(res)
    ctx = res.options["num_ctx"]
    ctx.adjust(max(int(ctx.value), MIN_CTX), f"raised to the minimum of {MIN_CTX}", CITE_FLOOR)
    if res.model.vision or res.projectors:
        ctx.adjust(max(int(ctx.value), VISION_MIN_CTX), f"vision models need at least {VISION_MIN_CTX}", CITE_FLOOR)
    trained = res.model.trained_context
    if trained and ctx.value > trained:
        ctx.adjust(trained, f"capped at the trained context {trained:,}", CITE_CAP)
    slots = res.parallel
    basis = weakest(ctx.basis, res.settings["parallel"].basis)
    rule = ollama_rule(res.server.version)
    text = f"num_ctx {ctx.value:,} x {slots} slot(s): {rule.runner_command} (one share per slot)"
    runner = Resolved("runner_context", [Layer(ctx.value * slots, Source("ollama-rule", basis, text))])
    runner.note = f"{CITE_CONTEXT if rule.llama_server else CITE_CONTEXT_OLD}"
    if "num_ctx" in res.auto:
        runner.note = (
            "chosen by the server: an out-of-memory load may lower it (server/sched.go reduceAutoNumCtxForLoadOOM)"
        )
    res.settings["runner_context"] = runner


def _adjust_load_options(res: Resolution, batch_auto: bool, draft_set: bool) -> None:
    v = res.server.version
    batch = res.options["num_batch"]
    if batch_auto and res.model.embedding_only:
        chosen, _ = automatic_num_batch(v, res.num_ctx, embedding=True)
        batch.adjust(chosen, "embedding models: 2048, at most the context", CITE_EMBED_BATCH)
    elif batch_auto:
        context = int(res.settings["runner_context"].value)
        chosen, assumed = automatic_num_batch(v, context)
        why = f"chosen by the scheduler for a {context:,}-token runner context when memory allows"
        batch.adjust(
            chosen, why + " (less on a small GPU or on CUDA without flash attention)", CITE_BATCH, assumed=assumed
        )
    draft = res.options["draft_num_predict"]
    if not older_than(v, LLAMA_SERVER_SINCE) and res.draft is None and not draft_set:
        draft.adjust(0, "no draft model: speculative decoding off", CITE_LAYERS)


def _adjust_prediction(res: Resolution) -> None:
    pred = res.options["num_predict"]
    value = int(pred.value)
    if older_than(res.server.version, LLAMA_SERVER_SINCE):
        # llm/server.go Completion before 0.30: 10 x the runner's NumCtx, which is num_ctx x the slots.
        limit = PREDICT_FACTOR * int(res.settings["runner_context"].value)
        why, cite = f"bounded at {PREDICT_FACTOR} x the runner context (num_ctx x slots)", "llm/server.go Completion"
    else:
        limit = PREDICT_FACTOR * res.num_ctx
        why, cite = f"bounded at {PREDICT_FACTOR} x num_ctx", CITE_PREDICT
    if value < 0 or value > limit:
        pred.adjust(limit, why, cite)


_NOTES: dict[str, tuple[Any, str]] = {
    "num_gpu": (-1, "-1: the runner places as many layers on the GPU as fit"),
    "num_thread": (0, "0: the runner picks the number of threads"),
    "use_mmap": (None, "unset: the scheduler decides (server/sched.go applyLlamaServerMmapDefaults)"),
    "main_gpu": (None, "unset: every GPU may be used"),
    "seed": (-1, "-1: a random seed for every request"),
    "repeat_last_n": (-1, "-1: the whole context"),
    "stop": (None, "unset: the model's own end-of-turn tokens stop it"),
}


#: Before 0.30: llm/server.go NewLlamaServer passes --no-mmap on a CPU, on Linux when free memory is below
#: the estimate, for CUDA on Windows, and for a partial offload on Metal.
_MMAP_OLD = "unset: the runner maps the weights, except on a CPU or when memory is short (llm/server.go NewLlamaServer)"


def _describe(res: Resolution) -> None:
    old = older_than(res.server.version, LLAMA_SERVER_SINCE)
    for name, (value, note) in _NOTES.items():
        if res.options[name].value == value:
            res.options[name].note = _MMAP_OLD if old and name == "use_mmap" else note
    stop = res.options["stop"]
    base_stop = res.model.parameters.get("stop")
    if base_stop and stop.source.kind not in ("base", "ollama"):
        stop.note = f"replaces the base model's stop list {format_value(base_stop)}"
    if res.options["num_predict"].requested == 0:
        res.options["num_predict"].note = "0: not sent to llama-server, whose own default applies"


def reload_rules(version: str | None = None) -> list[str]:
    """What makes Ollama ``version`` load a model again instead of reusing its runner (server/sched.go
    needsReload; automatic values and `shift` from 0.30, none of them in v0.24.0)."""
    if older_than(version, LLAMA_SERVER_SINCE):
        options = [o for o in LOAD_OPTIONS if o != "draft_num_predict"]
        return [
            "another weights file (a runner per weights; another model on the same weights shares it)",
            "different adapters or projectors",
            "a different value of a load-time option: "
            + ", ".join(options)
            + " (num_ctx compared per slot, after the cap at the trained context; a request with num_gpu -1 "
            "accepts any layer split)",
        ]
    return [
        "another weights file (a runner per weights; another model on the same weights shares it)",
        "different adapters or projectors",
        "a different value of a load-time option: "
        + ", ".join(LOAD_OPTIONS)
        + " (num_ctx compared after the cap at the trained context; two automatic num_ctx or num_batch "
        "count as equal; a request with num_gpu -1 accepts any layer split; an unset use_mmap accepts an "
        "automatic one)",
        "a different context-shift setting (the request's `shift`)",
    ]


class RunnerArgs(TypedDict):
    """How Ollama starts a runner: the memory-relevant arguments, the command line, and where that is."""

    program: str
    ctx_size: int
    parallel: int
    batch_size: int
    flash_attention: bool | None
    kv_cache_type: str
    argv: list[str]
    cite: str


def runner_args(res: Resolution) -> RunnerArgs:
    """The memory-relevant arguments Ollama starts the runner with (the server log's command line):
    llama-server ``-c -np -b -ub --flash-attn --cache-type-k/v`` from 0.30; before, Ollama's runner
    ``--ctx-size --batch-size --parallel`` with ``--flash-attn`` and ``--kv-cache-type`` only when flash
    attention is on (llm/server.go NewLlamaServer)."""
    rule = ollama_rule(res.server.version)
    fa = res.settings["flash_attention"].value
    kv = str(res.settings["kv_cache_type"].value)
    ctx = int(res.settings["runner_context"].value)
    batch = res.options["num_batch"].value
    if rule.llama_server:
        fa_arg = "auto" if fa is None else ("on" if fa else "off")
        argv = [
            "llama-server",
            "-c",
            str(ctx),
            "-np",
            str(res.parallel),
            "-b",
            str(batch),
            "-ub",
            str(batch),
            "--flash-attn",
            fa_arg,
            "--cache-type-k",
            kv,
            "--cache-type-v",
            kv,
        ]
        return {
            "program": "llama-server",
            "ctx_size": ctx,
            "parallel": res.parallel,
            "batch_size": batch,
            "flash_attention": fa,
            "kv_cache_type": kv,
            "argv": argv,
            "cite": CITE_CONTEXT,
        }
    argv = ["ollama runner", "--ctx-size", str(ctx), "--batch-size", str(batch)]
    if fa:
        argv.append("--flash-attn")
        if kv != "f16":
            argv += ["--kv-cache-type", kv]
    argv += ["--parallel", str(res.parallel)]
    stored = kv if fa or fa is None else "f16"  # without flash attention the runner keeps f16
    return {
        "program": "ollama runner",
        "ctx_size": ctx,
        "parallel": res.parallel,
        "batch_size": batch,
        "flash_attention": fa,
        "kv_cache_type": stored,
        "argv": argv,
        "cite": CITE_CAP,
    }


# =========================================================================== runners and reloads


@dataclass(frozen=True)
class RunnerSpec:
    """What a request needs from a runner: the weights it is keyed by and what a reload compares."""

    label: str
    base: str  # the base model's name, for people
    weights: str
    options: tuple[tuple[str, Any], ...]
    auto: frozenset[str] = frozenset()
    adapters: tuple[str, ...] = ()
    projectors: tuple[str, ...] = ()
    draft: str | None = None
    assumed: frozenset[str] = frozenset()  # options whose value depends on what the server does not say

    def option(self, name: str) -> Any:
        return dict(self.options).get(name)

    def to_dict(self) -> JSONObject:
        return {
            "label": self.label,
            "base": self.base,
            "weights": self.weights,
            "options": dict(self.options),
            "auto": sorted(self.auto),
            "adapters": list(self.adapters),
            "projectors": list(self.projectors),
            "draft": self.draft,
        }


def runner_spec(res: Resolution, label: str, weights: str | None = None) -> RunnerSpec:
    """The runner ``res`` asks for (``weights``: what keys it; default the model's weights, else its name)."""
    opts = tuple((n, res.options[n].value) for n in LOAD_OPTIONS)
    assumed = frozenset(n for n in LOAD_OPTIONS if res.options[n].basis == ASSUMED)
    key = weights or res.model.weights or "name:" + res.model.name.lower()
    return RunnerSpec(label, res.model.name, key, opts, res.auto, res.adapters, res.projectors, res.draft, assumed)


def reload_reasons(loaded: RunnerSpec, incoming: RunnerSpec) -> list[str]:
    """Why a request for ``incoming`` cannot use the runner loaded for ``loaded`` (same weights);
    empty when it can. Ollama's needsReload: adapters, projectors, then the load-time options."""
    if loaded.weights != incoming.weights:
        return []
    out = [what for what in ("adapters", "projectors") if getattr(loaded, what) != getattr(incoming, what)]
    have, new = dict(loaded.options), dict(incoming.options)
    for name in LOAD_OPTIONS:
        a, b = have.get(name), new.get(name)
        if name in ("num_ctx", "num_batch") and name in loaded.auto and name in incoming.auto:
            continue
        if name == "use_mmap" and name in loaded.auto and b is None:
            continue
        if name == "num_gpu" and isinstance(b, int) and b < 0:
            continue
        if a != b:
            out.append(name)
    return out


@dataclass
class Conflict:
    """Two specs on the same weights whose requests reload each other's runner (or one the other's)."""

    a: RunnerSpec
    b: RunnerSpec
    a_then_b: list[str]  # why b's request reloads a's runner
    b_then_a: list[str]

    @property
    def reasons(self) -> list[str]:
        return [r for r in (*LOAD_OPTIONS, "adapters", "projectors") if r in self.a_then_b or r in self.b_then_a]

    def to_dict(self) -> JSONObject:
        return {
            "a": self.a.label,
            "b": self.b.label,
            "base": self.a.base,
            "weights": self.a.weights,
            "reasons": self.reasons,
            "values": self.values(),
            "one_way": self.one_way(),
        }

    def values(self) -> dict[str, list[Any]]:
        """Each reason's value in a's spec and in b's."""
        return {r: [_spec_value(self.a, r), _spec_value(self.b, r)] for r in self.reasons}

    def one_way(self) -> str | None:
        """When only one direction reloads, which (e.g. a request with num_gpu -1 takes any split)."""
        if self.a_then_b and not self.b_then_a:
            return f"{self.b.label} reloads {self.a.label}'s runner; {self.a.label} runs on {self.b.label}'s"
        if self.b_then_a and not self.a_then_b:
            return f"{self.a.label} reloads {self.b.label}'s runner; {self.b.label} runs on {self.a.label}'s"
        return None


def _spec_value(spec: RunnerSpec, reason: str) -> Any:
    if reason in ("adapters", "projectors"):
        return list(getattr(spec, reason))
    return spec.option(reason)


def conflicts(specs: Sequence[RunnerSpec]) -> list[Conflict]:
    """Every pair of specs on the same weights that cannot share a runner, in the order given."""
    out = []
    for i, a in enumerate(specs):
        for b in specs[i + 1 :]:
            if a.weights != b.weights:
                continue
            ab, ba = reload_reasons(a, b), reload_reasons(b, a)
            if ab or ba:
                out.append(Conflict(a, b, ab, ba))
    return out


def conflict_notes(specs: Sequence[RunnerSpec]) -> list[tuple[str, str]]:
    """(reason, sentence) per base and reason: the profiles on one weights that differ, every value named."""
    notes: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for c in conflicts(specs):
        for reason in c.reasons:
            if (c.a.weights, reason) in seen:
                continue
            seen.add((c.a.weights, reason))
            group = [s for s in specs if s.weights == c.a.weights]
            shown = ", ".join(f"{s.label}={_show(_spec_value(s, reason), reason, s)}" for s in group)
            what = f"the runner option {reason}" if reason in LOAD_OPTIONS else f"their {reason}"
            notes.append(
                (
                    reason,
                    f"profiles sharing base {c.a.base} differ in {what} ({shown}): Ollama reloads the model when "
                    "requests switch between them",
                )
            )
    return notes


def _show(value: Any, reason: str, spec: RunnerSpec) -> str:
    if reason in spec.auto:
        return f"auto {format_value(value)}" if value is not None else "auto"
    if isinstance(value, list):
        return ", ".join(value) if value else "none"
    return format_value(value) if value is not None else "default"


def share_groups(specs: Sequence[RunnerSpec]) -> list[list[RunnerSpec]]:
    """Specs grouped by the runner they share: same weights, and no reload between any two."""
    groups: list[list[RunnerSpec]] = []
    for s in specs:
        for g in groups:
            if g[0].weights == s.weights and all(not reload_reasons(o, s) and not reload_reasons(s, o) for o in g):
                g.append(s)
                break
        else:
            groups.append([s])
    return groups


@dataclass
class Change:
    """The smallest change that lets profiles on one weights share a runner: one value per option."""

    option: str
    value: Any
    profiles: list[str]  # the profiles to change
    like: list[str]  # the profiles that already have it

    def text(self) -> str:
        who = " and ".join(self.profiles) if len(self.profiles) < 3 else ", ".join(self.profiles)
        return f"give {who} {self.option} {format_value(self.value)}" + (
            f" (as {', '.join(self.like)} {'has' if len(self.like) == 1 else 'have'})" if self.like else ""
        )

    def to_dict(self) -> JSONObject:
        return {
            "option": self.option,
            "value": self.value,
            "profiles": self.profiles,
            "like": self.like,
            "text": self.text(),
        }


def smallest_change(specs: Sequence[RunnerSpec]) -> tuple[list[Change], list[str]]:
    """For specs on one weights: per differing load-time option, the value that the most of them
    already have (ties: the largest num_ctx, so no profile loses context; else the first given),
    and what no option can fix (different adapters, projectors)."""
    changes: list[Change] = []
    blockers: list[str] = []
    reasons = {r for c in conflicts(specs) for r in c.reasons}
    for what in ("adapters", "projectors"):
        if what in reasons:
            blockers.append(f"different {what}: one runner cannot serve both, whatever their options")
    for name in (n for n in LOAD_OPTIONS if n in reasons):
        values = [s.option(name) for s in specs]
        counts = {format_value(v): values.count(v) for v in values}
        best = max(values, key=lambda v: (counts[format_value(v)], _tie(name, v), -values.index(v)))
        change = [s.label for s in specs if s.option(name) != best]
        like = [s.label for s in specs if s.option(name) == best]
        changes.append(Change(name, best, change, like))
    return changes, blockers


def _tie(name: str, value: Any) -> int:
    return int(value) if name == "num_ctx" and isinstance(value, int) else 0


def with_changes(spec: RunnerSpec, changes: Sequence[Change]) -> RunnerSpec:
    """``spec`` with the changed options (now set in the profile: no longer automatic)."""
    opts = dict(spec.options)
    auto = set(spec.auto)
    for c in changes:
        if spec.label in c.profiles:
            opts[c.option] = c.value
            auto.discard(c.option)
    return replace(spec, options=tuple(opts.items()), auto=frozenset(auto))
