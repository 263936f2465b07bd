"""Memory estimate: what llama.cpp allocates for a model under Ollama, to the byte where it can be,
and beside it Ollama's own estimate of the same load (what its scheduler places by and
``/api/ps`` reports as ``size``, for the versions that have one: :func:`ollama_estimate`).

    total = weights + projector + adapters + kv_cache + recurrent_state + compute + output + overhead

The KV cache is laid out as llama.cpp lays it out when Ollama starts ``llama-server -c
num_ctx*P -np P``: the context is padded to 256 cells per slot, every slot has its own stream
(the cache is not unified), sliding-window layers keep ``PAD(min(n_ctx_seq, window +
n_ubatch), 256)`` cells per slot, and with flash attention off V is stored transposed at the
widest layer's width for every layer. Before Ollama 0.11.5 the llama.cpp Ollama carried had one
unified cache of ``PAD(num_ctx*P, 32)`` cells (256 with flash attention) shared by every slot,
and no smaller cache for sliding-window layers (:class:`OllamaRule` holds every version boundary).
Bytes per element are GGML's block costs (q8_0 34/32,
q4_0 18/32). The compute buffer is modelled from the architecture, context, batch and flash
attention (see :func:`compute_bytes`); ``overhead`` is only an extra allowance (0 by default).
docs/memory.md states every rule with its source in llama.cpp and Ollama.

Everything is integer arithmetic (fractions for the block costs, rounded up once per tensor),
so the result is exact and monotone in num_ctx and the budget search is an exact binary search.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TypeAlias, TypedDict

from modelctl.common.jsontypes import JSONObject
from modelctl.errors import InvalidInput
from modelctl.memory.facts import ModelFacts
from modelctl.memory.layers import (
    KV_BYTES_PER_ELEMENT,
    LayerPlan,
    kv_bytes_per_token,
    plan_layers,
)
from modelctl.ollama.wire import older_than
from modelctl.profile.params import KV_CACHE_TYPES

KV_TYPES = tuple(KV_BYTES_PER_ELEMENT)
QUANTIZED_KV_TYPES = tuple(t for t in KV_CACHE_TYPES if t != "f16")
TABLE_KV_TYPES = KV_CACHE_TYPES

MiB = 1 << 20
GiB = 1 << 30
DEFAULT_OVERHEAD_BYTES = 0  # an extra allowance on top of the modelled buffers (--overhead)
DEFAULT_BATCH = 512  # Ollama's num_batch; it starts llama-server with -b and -ub both set to it
MAX_PARALLEL = 256  # llama.cpp's LLAMA_MAX_SEQ: llama_context refuses more sequences
CELL_PAD = 256  # llama.cpp pads the context (and each slot's share) to a multiple of 256 cells
SEARCH_LIMIT_UNKNOWN_TRAINED = 1 << 24  # upper end of the budget search when the trained length is unknown
FIT_RULE_SINCE = "0.30.0"  # Ollama starts llama-server and lets its --fit place layers from this version
# Before 0.30 Ollama runs its own runner (runner/llamarunner) over the llama.cpp it carries in
# llama/llama.cpp. Version boundaries of that llama.cpp and of Ollama's own rules:
STREAMS_SINCE = "0.11.5"  # llama/llama.cpp/src/llama-kv-cache-unified.cpp: one cache stream per slot (n_stream)
FA_ARCH_DEFAULT_SINCE = "0.11.8"  # fs/ggml/ggml.go FlashAttention(): on by default for some architectures
ESTIMATOR_UNTIL = "0.12.11"  # llm/memory.go EstimateGPULayers: removed in 0.12.11 (commit f560bd077)
UNIFIED_PAD, UNIFIED_PAD_FA = 32, 256  # llama_kv_cache_unified::get_padding at v0.9.3 (256 with flash attention)
LLAMA_UBATCH = 512  # llama_context_default_params n_ubatch: the runner before 0.30 never sets it
#: Ollama 0.30+ (server/sched.go automaticGenerationBatch, generationBatchForContext): the batch
#: nobody set grows with the runner context when memory allows; llm/llama_server.go
#: DefaultEmbeddingNumBatch: embedding models take 2048 (at most the context).
AUTO_BATCH_STEPS = ((32768, 2048), (4096, 1024), (0, 512))
EMBEDDING_BATCH = 2048

# Ollama before 0.30 turned flash attention on by default only for these architectures
# (fs/ggml/ggml.go FlashAttention() at v0.24.0) and never for these (SupportsFlashAttention()).
OLLAMA_FA_DEFAULT = frozenset(
    {
        "bert", "gemma3", "gemma4", "glm4moelite", "glmocr", "gptoss", "gpt-oss", "lfm2", "lfm2moe", "mistral3",
        "nemotron_h", "nemotron_h_moe", "nemotron_h_omni", "olmo3", "qwen3", "qwen3moe", "qwen35", "qwen35moe",
        "qwen3next", "qwen3vl", "qwen3vlmoe",
    }
)  # fmt: skip
OLLAMA_FA_UNSUPPORTED = frozenset({"gemma2", "grok"})
LLAMA_FA_UNSUPPORTED = frozenset({"grok"})  # llama.cpp forces flash attention off (llama_init_from_model)


def pad(n: int, to: int = CELL_PAD) -> int:
    """GGML_PAD: ``n`` rounded up to a multiple of ``to``."""
    return -(-n // to) * to


# ---------------------------------------------------------------------------------------------
# the Ollama version whose rules an estimate follows


@dataclass(frozen=True)
class OllamaRule:
    """Which Ollama's behaviour is modelled: 0.30 and later (llama-server, ``--fit``), or before."""

    fit: bool  # True: llama-server's --fit places layers; False: Ollama's own estimator (llm/memory.go)
    version: str | None = None  # the server's version when known

    @property
    def name(self) -> str:
        return "ollama>=0.30" if self.fit else "ollama<0.30"

    def describe(self) -> str:
        ver = f"Ollama {self.version}" if self.version else "current Ollama"
        if self.fit:
            return f"{ver} (0.30 or later: llama-server places the layers with --fit)"
        return f"{ver} (before 0.30: Ollama's own estimator places the layers, llm/memory.go)"

    @property
    def llama_server(self) -> bool:
        """0.30+: llama-server (``-c``, ``-np``, ``-b``/``-ub``); before: Ollama's runner (``--ctx-size``,
        ``--parallel``, ``--batch-size``; llm/server.go NewLlamaServer)."""
        return self.fit

    @property
    def unified_kv(self) -> bool:
        """Before 0.11.5 the vendored llama.cpp keeps one cache for all slots (no n_stream)."""
        return older_than(self.version, STREAMS_SINCE)

    @property
    def fa_by_architecture(self) -> bool:
        """From 0.11.8 Ollama turns flash attention on by default for some architectures; before, only
        OLLAMA_FLASH_ATTENTION=1 turns it on (envconfig/config.go, default false)."""
        return not older_than(self.version, FA_ARCH_DEFAULT_SINCE)

    @property
    def has_estimator(self) -> bool:
        """Ollama's own memory estimate (llm/memory.go EstimateGPULayers) sizes loads before 0.12.11."""
        return self.version is not None and older_than(self.version, ESTIMATOR_UNTIL)

    @property
    def runner_command(self) -> str:
        return "llama-server -c" if self.llama_server else "ollama runner --ctx-size"

    def batches(self, num_batch: int, parallel: int) -> tuple[int, int]:
        """(n_batch, n_ubatch) llama_context is asked for: llama-server gets ``-b`` and ``-ub`` both
        ``num_batch``; the runner before 0.30 asks for ``num_batch x P`` and leaves the micro-batch
        at llama.cpp's 512 (runner/llamarunner/runner.go loadModel, llama/llama.go NewContextParams)."""
        if self.llama_server:
            return num_batch, num_batch
        n_batch = num_batch * max(parallel, 1)
        return n_batch, min(LLAMA_UBATCH, n_batch)

    def to_dict(self) -> JSONObject:
        return {"rule": self.name, "version": self.version, "description": self.describe()}


def automatic_num_batch(version: str | None, runner_context: int, *, embedding: bool = False) -> tuple[int, bool]:
    """num_batch when nobody set it, and whether it depends on memory the server does not report.
    Before 0.30: api/types.go DefaultOptions (512). From 0.30: embedding models 2048 (at most the
    context), else server/sched.go automaticGenerationBatch by the runner context (less when the
    GPU is small, or 512 on CUDA without flash attention)."""
    if older_than(version, FIT_RULE_SINCE):
        return DEFAULT_BATCH, False
    if embedding:
        return min(EMBEDDING_BATCH, runner_context) if runner_context > 0 else EMBEDDING_BATCH, False
    chosen = next(b for floor, b in AUTO_BATCH_STEPS if runner_context > floor or floor == 0)
    return chosen, chosen != DEFAULT_BATCH


def ollama_rule(version: str | None) -> OllamaRule:
    """The rule for a server of ``version``: before 0.30 the estimator, else (or unknown) --fit."""
    return OllamaRule(fit=not older_than(version, FIT_RULE_SINCE), version=version)


def default_flash_attention(facts: ModelFacts, rule: OllamaRule) -> tuple[bool, str]:
    """Whether Ollama runs this model with flash attention when OLLAMA_FLASH_ATTENTION is unset."""
    arch = facts.architecture or ""
    ver = f"Ollama {rule.version}" if rule.version else "Ollama"
    if not rule.fa_by_architecture:
        return False, (
            f"{ver} turns flash attention on only with OLLAMA_FLASH_ATTENTION=1 (envconfig/config.go; "
            f"on by default for some architectures from {FA_ARCH_DEFAULT_SINCE})"
        )
    if rule.fit:
        if arch in LLAMA_FA_UNSUPPORTED:
            return False, f"llama.cpp turns flash attention off for {arch}"
        return True, (
            "Ollama 0.30+ starts llama-server with --flash-attn auto, which turns it on where the backend "
            "supports it (CPU, Metal, CUDA compute 6.0+, ROCm, Vulkan)"
        )
    same_kv = facts.key_length is not None and facts.key_length == facts.value_length
    if arch in OLLAMA_FA_DEFAULT and arch not in OLLAMA_FA_UNSUPPORTED and same_kv:
        return (
            True,
            f"{ver} (0.11.8 to 0.2x) turns flash attention on by default for {arch} (fs/ggml/ggml.go FlashAttention)",
        )
    return False, (
        f"{ver} (0.11.8 to 0.2x) leaves flash attention off for {arch or 'this architecture'} "
        "unless OLLAMA_FLASH_ATTENTION=1"
    )


# ---------------------------------------------------------------------------------------------
# the cache layout: cells per slot, bytes per layer


@dataclass(frozen=True)
class CacheLayout:
    """How many cells llama.cpp allocates, and with which types, for one load."""

    num_ctx: int  # the context per slot the runner is asked for (after Ollama's cap)
    parallel: int
    n_batch: int
    n_ubatch: int  # the micro-batch llama.cpp really uses (min of n_ubatch, n_batch, n_ctx)
    cells_per_slot: int  # n_ctx_seq
    swa_cells_per_slot: int | None
    flash_attention: bool
    kv_type: str  # the type really stored (f16 when a quantized type needs flash attention that is off)
    unified: bool = False  # one cache of ``context_cells`` for all slots (llama.cpp before Ollama 0.11.5)
    unified_cells: int = 0  # that cache's cells, PAD(num_ctx x P, 32 or 256)

    @property
    def context_cells(self) -> int:
        """Cells in the whole cache (all slots) of a full-attention layer."""
        return self.unified_cells if self.unified else self.cells_per_slot * self.parallel

    @property
    def attended_cells(self) -> list[int]:
        """The cells one micro-batch's attention spans (per stream): the whole unified cache, else one
        slot's share (and a sliding-window layer's, when smaller)."""
        if self.unified:
            return [self.unified_cells]
        return [self.cells_per_slot] + ([self.swa_cells_per_slot] if self.swa_cells_per_slot else [])


def layout_for(
    plan: LayerPlan,
    num_ctx: int,
    parallel: int = 1,
    *,
    kv_type: str = "f16",
    flash_attention: bool = True,
    n_batch: int = DEFAULT_BATCH,
    n_ubatch: int = DEFAULT_BATCH,
    unified: bool = False,
) -> CacheLayout:
    """llama_context's padding and llama_kv_cache_iswa's sliding-window size, for ``-c num_ctx*P -np P``;
    ``unified``: the single cache of the llama.cpp Ollama carried before 0.11.5 (padded to 32 cells,
    256 with flash attention: llama_kv_cache_unified::get_padding; no sliding-window cache)."""
    effective = kv_type if flash_attention or kv_type not in QUANTIZED_KV_TYPES else "f16"
    if unified:
        total = pad(num_ctx * parallel, UNIFIED_PAD_FA if flash_attention else UNIFIED_PAD)
        batch = min(total, n_batch)
        ubatch = min(batch, n_ubatch)
        share = total // parallel
        return CacheLayout(num_ctx, parallel, batch, ubatch, share, None, flash_attention, effective, True, total)
    n_ctx = pad(num_ctx * parallel)
    cells = pad(n_ctx // parallel)
    batch = min(n_ctx, n_batch)
    ubatch = min(batch, n_ubatch)
    swa = pad(min(cells, plan.sliding_window + ubatch)) if plan.sliding_window and plan.swa_layers else None
    return CacheLayout(num_ctx, parallel, batch, ubatch, cells, swa, flash_attention, effective)


def _ceil_mul(elements: int, per: Fraction) -> int:
    return -(-(elements * per.numerator) // per.denominator)


def cells_per_layer(plan: LayerPlan, layout: CacheLayout) -> list[int]:
    """Cells each layer's KV cache holds per slot (0: the layer has no KV cache)."""
    out = []
    for i, kind in enumerate(plan.kinds):
        if layout.unified:
            out.append(layout.unified_cells if plan.has_kv(i) else 0)  # one cache, counted once below
        elif not plan.has_kv(i):
            out.append(0)
        elif kind in ("swa", "none-swa") and layout.swa_cells_per_slot:
            out.append(layout.swa_cells_per_slot)
        else:
            out.append(layout.cells_per_slot)
    return out


def kv_layer_bytes(plan: LayerPlan, layout: CacheLayout) -> list[int]:
    """Bytes of each layer's K and V cache (all slots): K at the layer's width; V at the layer's
    width with flash attention on, at the widest layer's width (transposed) with it off."""
    per = KV_BYTES_PER_ELEMENT[layout.kv_type]
    v_max = plan.v_width_max
    out = []
    streams = 1 if layout.unified else layout.parallel
    for i, per_stream in enumerate(cells_per_layer(plan, layout)):
        cells = per_stream * streams
        v_width = plan.v_widths[i] if layout.flash_attention else v_max
        out.append(_ceil_mul(plan.k_widths[i] * cells, per) + _ceil_mul(v_width * cells, per) if cells else 0)
    return out


def kv_cache_bytes(plan: LayerPlan, num_ctx: int, kv_type: str = "f16", parallel: int = 1) -> int:
    """Attention KV cache in bytes with Ollama's defaults (flash attention on, batch 512)."""
    _check_kv_type(kv_type)
    return sum(kv_layer_bytes(plan, layout_for(plan, num_ctx, parallel, kv_type=kv_type)))


def compute_bytes(facts: ModelFacts, plan: LayerPlan, layout: CacheLayout) -> tuple[int, list[str]]:
    """llama.cpp's compute buffer (the graph reserved for one micro-batch), modelled.

    The buffer holds the intermediate tensors of the worst-case graph for ``n_ubatch`` tokens;
    ggml's allocator reuses memory, so its size is the largest of three phases (fitted to
    llama.cpp's measured CPU buffers, docs/memory.md; all f32, T = n_ubatch, E = n_embd x T x 4):

    - output: the logits, n_vocab x T x 4, plus 3E;
    - attention: flash attention on, the f16 masks (cells x T x 2) plus 5E; off, the scores
      n_head x cells x T x 4 and the f32 masks (cells x T x 4) plus 5.5E;
    - feed-forward: 4 x n_ff x T x 4 (times the experts used per token) plus E/2.

    With a cache stream per slot it does not grow with the number of slots (each stream sees
    T / P of the tokens); with the unified cache of llama.cpp before Ollama 0.11.5 the attention
    spans every slot's cells, so it grows with the slots (flash attention off: the scores).
    """
    notes = []
    t = layout.n_ubatch
    e = facts.embedding_length
    if not e:
        return 0, ["compute buffer not modelled: the embedding length is unknown"]
    emb = e * t * 4
    vocab = facts.vocab_size or 0
    if not vocab:
        notes.append("the vocabulary size is unknown: the logits are left out of the compute buffer")
    output = vocab * t * 4 + 3 * emb
    ff = facts.feed_forward_length
    n_ff = max(ff) if isinstance(ff, list) and ff else (ff if isinstance(ff, int) else 0)
    ffn = 4 * n_ff * max(facts.expert_used_count or 1, 1) * t * 4 + emb // 2
    attended = layout.attended_cells
    cells = [attended[0]] if plan.full_layers or "none" in plan.kinds or layout.unified else []
    if plan.swa_layers and len(attended) > 1:
        cells.append(attended[1])
    if layout.flash_attention:
        attention = sum(c * t * 2 for c in cells) + 5 * emb
    else:
        widest = max(cells, default=0)
        attention = plan.head_count_max * widest * t * 4 + sum(c * t * 4 for c in cells) + 11 * emb // 2
    extra = emb if layout.flash_attention and layout.kv_type in QUANTIZED_KV_TYPES else 0
    return max(output, attention, ffn) + extra, notes


def output_bytes(facts: ModelFacts, parallel: int) -> int:
    """llama_context's output buffer: logits for one token per slot (n_vocab x P x 4 bytes)."""
    return (facts.vocab_size or 0) * max(parallel, 1) * 4


# ---------------------------------------------------------------------------------------------
# the estimate


@dataclass
class MemoryEstimate:
    model: str | None
    num_ctx: int
    kv_type: str  # the type the cache really has (see kv_type_requested)
    parallel: int
    weights_bytes: int
    kv_cache_bytes: int
    recurrent_state_bytes: int
    overhead_bytes: int
    kv_bytes_per_token: float  # per token of one slot, attention layers, at this KV type
    context_trained: int | None
    weights_source: str
    plan: LayerPlan
    assumptions: list[str] = field(default_factory=list)
    adapter_bytes: int = 0  # LoRA adapters (ADAPTER), loaded beside the weights
    compute_bytes: int = 0
    output_bytes: int = 0
    projector_bytes: int = 0
    layout: CacheLayout | None = None
    kv_type_requested: str | None = None
    flash_attention_source: str = "default"  # "default" (Ollama's choice) | "option" | "declared" (host facts)
    rule: OllamaRule = field(default_factory=lambda: OllamaRule(fit=True))
    layer_kv_bytes: list[int] = field(default_factory=list)  # KV + recurrent state per layer
    ollama_figure: OllamaEstimate | None = None  # Ollama's own estimate (versions before 0.12.11)

    @property
    def total_bytes(self) -> int:
        return (
            self.weights_bytes
            + self.projector_bytes
            + self.adapter_bytes
            + self.kv_cache_bytes
            + self.recurrent_state_bytes
            + self.compute_bytes
            + self.output_bytes
            + self.overhead_bytes
        )

    @property
    def exceeds_trained(self) -> bool:
        return self.context_trained is not None and self.num_ctx > self.context_trained

    @property
    def effective_num_ctx(self) -> int:
        """What the runner is asked for: Ollama caps num_ctx at the trained length."""
        return min(self.num_ctx, self.context_trained) if self.context_trained else self.num_ctx

    @property
    def flash_attention(self) -> bool:
        return self.layout.flash_attention if self.layout is not None else True

    @property
    def ollama_total_bytes(self) -> int | None:
        """Ollama's own figure for this load (``/api/ps`` ``size``), where its version has one."""
        return self.ollama_figure.total_bytes if self.ollama_figure is not None else None

    def _ollama_dict(self) -> JSONObject:
        out = self.rule.to_dict()
        fig = self.ollama_figure
        out["total_bytes"] = fig.total_bytes if fig is not None else None
        out["estimate"] = fig.to_dict() if fig is not None else None
        if fig is None:
            out["why_none"] = (
                "the Ollama version is not known (give --ollama-version)"
                if self.rule.version is None
                else f"Ollama {self.rule.version} sizes loads from the runner's own allocations (llm/memory.go's "
                f"estimator was removed in {ESTIMATOR_UNTIL}): total_bytes is the figure to compare"
            )
        return out

    def to_dict(self) -> JSONObject:
        lay = self.layout
        return {
            "model": self.model,
            "num_ctx": self.num_ctx,
            "effective_num_ctx": self.effective_num_ctx,
            "kv_type": self.kv_type,
            "kv_type_requested": self.kv_type_requested or self.kv_type,
            "parallel": self.parallel,
            "cells_per_slot": lay.cells_per_slot if lay else self.effective_num_ctx,
            "swa_cells_per_slot": lay.swa_cells_per_slot if lay else None,
            "context_cells": lay.context_cells if lay else self.effective_num_ctx * self.parallel,
            "kv_unified": lay.unified if lay else False,
            "n_batch": lay.n_batch if lay else DEFAULT_BATCH,
            "n_ubatch": lay.n_ubatch if lay else DEFAULT_BATCH,
            "flash_attention": self.flash_attention,
            "flash_attention_source": self.flash_attention_source,
            "ollama": self._ollama_dict(),
            "weights_bytes": self.weights_bytes,
            "projector_bytes": self.projector_bytes,
            "adapter_bytes": self.adapter_bytes,
            "kv_cache_bytes": self.kv_cache_bytes,
            "recurrent_state_bytes": self.recurrent_state_bytes,
            "compute_bytes": self.compute_bytes,
            "output_bytes": self.output_bytes,
            "overhead_bytes": self.overhead_bytes,
            "total_bytes": self.total_bytes,
            "total_gib": round(self.total_bytes / GiB, 3),
            "kv_bytes_per_token": self.kv_bytes_per_token,
            "kv_bytes_per_element": float(KV_BYTES_PER_ELEMENT[self.kv_type]),
            "context_trained": self.context_trained,
            "exceeds_trained": self.exceeds_trained,
            "weights_source": self.weights_source,
            "layers": self.plan.to_dict(),
            "assumptions": list(self.assumptions),
        }


def _check_kv_type(kv_type: str) -> Fraction:
    try:
        return KV_BYTES_PER_ELEMENT[kv_type]
    except KeyError:
        raise InvalidInput(
            f"unknown KV cache type {kv_type!r}; use one of {', '.join(KV_TYPES)}", field="--kv-cache"
        ) from None


def _weights(facts: ModelFacts) -> tuple[int, int, str]:
    """(text-model weights, projector, where the weights come from)."""
    projector = facts.projector_bytes or 0
    if facts.weights_bytes:
        from_tensors = facts.source == "gguf" or facts.tensor_count
        inline = projector if facts.projector_source and facts.projector_source.startswith("projector tensors") else 0
        return facts.weights_bytes - inline, projector, "tensor bytes" if from_tensors else "model size"
    if facts.size_bytes:
        return facts.size_bytes, projector, "model size"
    raise InvalidInput(f"{facts.name or facts.path or 'model'}: the size of the weights is unknown")


@dataclass(frozen=True)
class Runtime:
    """How the runner is started, as far as memory is concerned (Ollama's defaults when None)."""

    flash_attention: bool | None = None
    n_batch: int | None = None
    n_ubatch: int | None = None
    ollama_version: str | None = None
    flash_attention_label: str | None = None  # where a declared flash_attention came from (not an option)
    embedding: bool = False  # an embedding-only model (its automatic num_batch differs)

    def check(self) -> None:
        for value, what in ((self.n_batch, "--batch"), (self.n_ubatch, "--ubatch")):
            if value is not None and value < 1:
                raise InvalidInput(f"{what} must be at least 1, got {value}", field=what)


def _check_inputs(num_ctx: int, parallel: int, overhead_bytes: int) -> None:
    if num_ctx < 1:
        raise InvalidInput(f"num_ctx must be at least 1, got {num_ctx}", field="--num-ctx")
    if not 1 <= parallel <= MAX_PARALLEL:
        raise InvalidInput(
            f"parallel must be between 1 and {MAX_PARALLEL} (llama.cpp's limit on sequences), got {parallel}",
            field="--parallel",
        )
    if overhead_bytes < 0:
        raise InvalidInput("the overhead cannot be negative", field="--overhead")


def _flash_notes(facts: ModelFacts, runtime: Runtime, rule: OllamaRule, kv_type: str) -> tuple[bool, list[str]]:
    if runtime.flash_attention is None:
        fa, why = default_flash_attention(facts, rule)
        notes = [f"flash attention {'on' if fa else 'off'}: {why} (change it with --flash-attention)"]
    else:
        fa = runtime.flash_attention
        where = f": {runtime.flash_attention_label}" if runtime.flash_attention_label else " (--flash-attention)"
        notes = [f"flash attention {'on' if fa else 'off'}{where}"]
    if not fa and kv_type in QUANTIZED_KV_TYPES:
        notes.append(
            f"a {kv_type} KV cache needs flash attention, which is off: counted as f16, as Ollama before 0.30 falls "
            "back to it (Ollama 0.30+ passes the type on and llama-server refuses to load)"
        )
    return fa, notes


def _flash_source(runtime: Runtime) -> str:
    if runtime.flash_attention is None:
        return "default"
    return "declared" if runtime.flash_attention_label else "option"


def estimate_for_facts(
    facts: ModelFacts,
    num_ctx: int,
    kv_type: str = "f16",
    parallel: int = 1,
    *,
    overhead_bytes: int = DEFAULT_OVERHEAD_BYTES,
    plan: LayerPlan | None = None,
    adapter_bytes: int = 0,
    runtime: Runtime | None = None,
) -> MemoryEstimate:
    """The memory a model needs at ``num_ctx`` tokens per slot, ``parallel`` slots and a KV type."""
    _check_kv_type(kv_type)
    _check_inputs(num_ctx, parallel, overhead_bytes)
    runtime = runtime or Runtime()
    runtime.check()
    plan = plan or plan_layers(facts)
    weights, projector, source = _weights(facts)
    rule = ollama_rule(runtime.ollama_version)
    fa, fa_notes = _flash_notes(facts, runtime, rule, kv_type)
    assumptions = list(plan.assumptions) + fa_notes
    if source == "model size":
        assumptions.append("weights taken as the model's size on the server (/api/tags), not its tensors")
    effective = num_ctx
    if facts.context_trained is not None and num_ctx > facts.context_trained:
        effective = facts.context_trained
        assumptions.append(
            f"num_ctx {num_ctx} exceeds the trained context {facts.context_trained}; Ollama caps the "
            f"context there, so the KV cache is counted for {effective} tokens"
        )
    num_batch, batch_note = _num_batch(runtime, rule, effective * parallel)
    if batch_note:
        assumptions.append(batch_note)
    batch, ubatch = rule.batches(num_batch, parallel)
    ubatch = runtime.n_ubatch or ubatch
    layout = layout_for(
        plan,
        effective,
        parallel,
        kv_type=kv_type,
        flash_attention=fa,
        n_batch=batch,
        n_ubatch=ubatch,
        unified=rule.unified_kv,
    )
    if rule.unified_kv:
        assumptions.append(
            f"Ollama {rule.version} runs its own runner over a llama.cpp with one KV cache for all {parallel} slot(s): "
            f"{layout.unified_cells:,} cells (num_ctx x {parallel}, padded to "
            f"{UNIFIED_PAD_FA if fa else UNIFIED_PAD}), every layer at full size"
        )
    layers = kv_layer_bytes(plan, layout)
    recurrent = [parallel * r * 4 for r in plan.recurrent_elements]
    compute, compute_notes = compute_bytes(facts, plan, layout)
    assumptions += compute_notes
    if overhead_bytes:
        assumptions.append(f"an extra allowance of {overhead_bytes / MiB:.0f} MiB (--overhead) is added")
    if projector:
        assumptions.append(
            f"projector weights from {facts.projector_source}; its image encoder's buffers are not counted"
        )
    return MemoryEstimate(
        model=facts.name or facts.path,
        num_ctx=num_ctx,
        kv_type=layout.kv_type,
        parallel=parallel,
        weights_bytes=weights,
        kv_cache_bytes=sum(layers),
        recurrent_state_bytes=sum(recurrent),
        overhead_bytes=overhead_bytes,
        kv_bytes_per_token=float(kv_bytes_per_token(plan, kv_type)),
        context_trained=facts.context_trained,
        weights_source=source,
        plan=plan,
        assumptions=assumptions,
        adapter_bytes=adapter_bytes,
        compute_bytes=compute,
        output_bytes=output_bytes(facts, parallel),
        projector_bytes=projector,
        layout=layout,
        kv_type_requested=kv_type,
        flash_attention_source=_flash_source(runtime),
        rule=rule,
        layer_kv_bytes=[k + r for k, r in zip(layers, recurrent, strict=True)],
        ollama_figure=ollama_estimate(facts, plan, layout, rule.version, num_batch=num_batch, projector_bytes=projector)
        if rule.has_estimator
        else None,
    )


def _num_batch(runtime: Runtime, rule: OllamaRule, runner_context: int) -> tuple[int, str | None]:
    """The num_batch the runner gets: --batch or the profile's/model's, else the version's automatic
    choice (:func:`automatic_num_batch`, the rule ``explain`` shows too)."""
    if runtime.n_batch:
        return runtime.n_batch, None
    if rule.version is None:
        if runner_context > AUTO_BATCH_STEPS[1][0] and not runtime.embedding:
            return DEFAULT_BATCH, (
                f"num_batch {DEFAULT_BATCH} (Ollama's default; from 0.30 its scheduler may choose 1024 or 2048 for a "
                f"{runner_context:,}-token runner context: give --ollama-version or --batch)"
            )
        return DEFAULT_BATCH, None
    chosen, assumed = automatic_num_batch(rule.version, runner_context, embedding=runtime.embedding)
    if chosen == DEFAULT_BATCH and not assumed:
        return chosen, None
    why = "embedding model" if runtime.embedding else f"a {runner_context:,}-token runner context"
    hedge = " when memory allows (server/sched.go automaticGenerationBatch)" if assumed else ""
    return chosen, f"num_batch not set: {chosen} as Ollama chooses it for {why}{hedge}"


# ---------------------------------------------------------------------------------------------
# the largest num_ctx that fits


@dataclass
class BudgetResult:
    budget_bytes: int
    num_ctx: int | None  # the largest that fits, or None when nothing fits
    limited_by: str  # "budget" | "trained context" | "search limit" | "nothing fits"
    search_limit: int
    estimate: MemoryEstimate | None  # at num_ctx
    next_total_bytes: int | None  # the total at num_ctx + 1 (proof that it is the largest)
    minimum_total_bytes: int  # the total at num_ctx = 1
    #: the largest multiple of 1024 that fits (the round value people set), and its total; None below 1024
    num_ctx_1024: int | None = None
    total_1024_bytes: int | None = None

    @property
    def fits(self) -> bool:
        return self.num_ctx is not None

    def to_dict(self) -> JSONObject:
        return {
            "budget_bytes": self.budget_bytes,
            "budget_gib": round(self.budget_bytes / GiB, 3),
            "fits": self.fits,
            "num_ctx": self.num_ctx,
            "limited_by": self.limited_by,
            "search_limit": self.search_limit,
            "next_total_bytes": self.next_total_bytes,
            "minimum_total_bytes": self.minimum_total_bytes,
            "num_ctx_1024": self.num_ctx_1024,
            "total_1024_bytes": self.total_1024_bytes,
            "estimate": self.estimate.to_dict() if self.estimate else None,
        }


def largest_num_ctx(
    at: Callable[[int], MemoryEstimate], ok: Callable[[MemoryEstimate], bool], hi: int
) -> tuple[int | None, MemoryEstimate | None]:
    """The largest n in [1, hi] with ``ok(at(n))``, for a predicate that holds up to some n and
    never after (an exact integer binary search); (None, None) when even n = 1 fails."""
    first = at(1)
    if not ok(first):
        return None, None
    top = at(hi)
    if ok(top):
        return hi, top
    lo = 1  # invariant: ok(at(lo)) and not ok(at(hi))
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(at(mid)):
            lo = mid
        else:
            hi = mid
    return lo, at(lo)


def max_num_ctx_for_budget(
    facts: ModelFacts,
    budget_bytes: int,
    kv_type: str = "f16",
    parallel: int = 1,
    *,
    overhead_bytes: int = DEFAULT_OVERHEAD_BYTES,
    limit: int | None = None,
    adapter_bytes: int = 0,
    runtime: Runtime | None = None,
) -> BudgetResult:
    """The largest num_ctx whose total fits in ``budget_bytes``: an exact integer binary search.

    Searched over [1, limit], where limit defaults to the trained context (Ollama caps num_ctx
    there), or 2^24 when the trained context is unknown.
    """
    plan = plan_layers(facts)
    search_limit = limit or facts.context_trained or SEARCH_LIMIT_UNKNOWN_TRAINED

    def at(n: int) -> MemoryEstimate:
        return estimate_for_facts(
            facts,
            n,
            kv_type,
            parallel,
            overhead_bytes=overhead_bytes,
            plan=plan,
            adapter_bytes=adapter_bytes,
            runtime=runtime,
        )

    minimum = at(1).total_bytes
    n, est = largest_num_ctx(at, lambda e: e.total_bytes <= budget_bytes, search_limit)
    if n is None or est is None:
        return BudgetResult(budget_bytes, None, "nothing fits", search_limit, None, None, minimum)
    # The total only grows with num_ctx, so the largest multiple of 1024 that fits is n rounded down.
    rounded = n // 1024 * 1024
    round_total = (est.total_bytes if rounded == n else at(rounded).total_bytes) if rounded else None
    extra = (rounded or None, round_total)
    if n == search_limit:
        why = "trained context" if not limit and facts.context_trained else "search limit"
        return BudgetResult(budget_bytes, n, why, search_limit, est, None, minimum, *extra)
    return BudgetResult(budget_bytes, n, "budget", search_limit, est, at(n + 1).total_bytes, minimum, *extra)


def context_sizes(trained: int | None, extra: int | None = None) -> list[int]:
    """2K, 4K, 8K, ... doubling up to the trained length, plus the trained length itself."""
    top = trained or 131072
    sizes = []
    n = 2048
    while n < top:
        sizes.append(n)
        n *= 2
    sizes.append(top)
    if extra and extra not in sizes:
        sizes.append(extra)
    return sorted(sizes)


class KvCell(TypedDict):
    """One KV cache type's figures in a row of :func:`estimate_table`."""

    kv_type: str  # the type the cache really has (f16 where the model cannot take the one asked for)
    kv_cache_bytes: int
    compute_bytes: int
    total_bytes: int


#: A row of :func:`estimate_table`: ``num_ctx`` (an int), and a :class:`KvCell` under each KV cache type.
EstimateRow: TypeAlias = "dict[str, int | KvCell]"


def row_num_ctx(row: EstimateRow) -> int:
    n = row["num_ctx"]
    assert isinstance(n, int)
    return n


def row_cell(row: EstimateRow, kv: str) -> KvCell:
    cell = row[kv]
    assert isinstance(cell, dict)
    return cell


def estimate_table(
    facts: ModelFacts,
    sizes: list[int],
    kv_types: tuple[str, ...] = TABLE_KV_TYPES,
    parallel: int = 1,
    *,
    overhead_bytes: int = DEFAULT_OVERHEAD_BYTES,
    adapter_bytes: int = 0,
    runtime: Runtime | None = None,
) -> list[EstimateRow]:
    """Rows of {num_ctx, <kv type>: {kv_type, kv_cache_bytes, compute_bytes, total_bytes}} per size."""
    plan = plan_layers(facts)
    rows = []
    for n in sizes:
        row: EstimateRow = {"num_ctx": n}
        for kv in kv_types:
            est = estimate_for_facts(
                facts,
                n,
                kv,
                parallel,
                overhead_bytes=overhead_bytes,
                plan=plan,
                adapter_bytes=adapter_bytes,
                runtime=runtime,
            )
            row[kv] = {
                "kv_type": est.kv_type,
                "kv_cache_bytes": est.kv_cache_bytes + est.recurrent_state_bytes,
                "compute_bytes": est.compute_bytes,
                "total_bytes": est.total_bytes,
            }
        rows.append(row)
    return rows


def estimate_or_none(
    facts: ModelFacts,
    num_ctx: int | None,
    kv_type: str = "f16",
    parallel: int = 1,
    *,
    ollama_version: str | None = None,
    flash_attention: bool | None = None,
) -> MemoryEstimate | None:
    """The estimate at ``num_ctx`` by the rules of ``ollama_version`` (the server's, when known:
    ``estimate`` of the same model on the same server gives the same figure), or None when there
    is no num_ctx or the facts are too incomplete to estimate (e.g. a server model that lists no
    tensors). For reports and tables, where a missing estimate is shown as such rather than
    failing the command."""
    return estimate_or_reason(
        facts, num_ctx, kv_type, parallel, ollama_version=ollama_version, flash_attention=flash_attention
    )[0]


def estimate_or_reason(
    facts: ModelFacts,
    num_ctx: int | None,
    kv_type: str = "f16",
    parallel: int = 1,
    *,
    ollama_version: str | None = None,
    flash_attention: bool | None = None,
) -> tuple[MemoryEstimate | None, str | None]:
    """:func:`estimate_or_none`, and when there is no estimate, why (for the report to say)."""
    if num_ctx is None:
        return None, "no num_ctx: the model stores none and the host declares no OLLAMA_CONTEXT_LENGTH"
    runtime = Runtime(flash_attention=flash_attention, ollama_version=ollama_version)
    try:
        return estimate_for_facts(facts, num_ctx, kv_type, parallel, runtime=runtime), None
    except InvalidInput as exc:
        return None, exc.message


# ---------------------------------------------------------------------------------------------
# Ollama's own estimate (llm/memory.go EstimateGPULayers, before 0.12.11)

OLLAMA_KV_BYTES = {"q8_0": 1.0, "q4_0": 0.5}  # fs/ggml/ggml.go kvCacheBytesPerElement (else 2: f16)
OLLAMA_MIN_CONTEXT = 2048  # llm/memory.go: every model without a llama-engine projector counts at least 2048


@dataclass(frozen=True)
class OllamaEstimate:
    """What Ollama's scheduler thinks a load needs, and ``/api/ps`` then reports as ``size``.

    llm/memory.go ``EstimateGPULayers`` with fs/ggml/ggml.go ``GraphSize``, as read at v0.9.3
    (the same sums from v0.9.3 to v0.10.x; other versions before 0.12.11 differ in per-architecture
    graph details). With every layer placed (CPU, or a GPU that holds them all):

        total = blk.0 + its cache (a layer held as a buffer) + Σ (blk.N + its cache)
              + output layer (output_norm + output, else token_embd) + projector + graph (full offload)

    The input embedding is not counted when an output tensor exists. A GPU adds its minimum
    (457 MiB CUDA/ROCm, 512 MiB Metal); a partial offload counts the partial graph instead.
    """

    version: str | None
    context: int  # the NumCtx it saw: num_ctx x P, at least 2048
    batch: int  # min(context, num_batch)
    kv_type: str  # the type it counts ("f16" unless flash attention is on and a quantized type asked)
    weights_bytes: int  # Σ blk.N + the output layer
    kv_bytes: int
    buffer_layer_bytes: int  # blk.0 and its cache, once more
    projector_bytes: int
    graph_full_bytes: int
    graph_partial_bytes: int
    graph_rule: str  # the GraphSize case used
    notes: tuple[str, ...] = ()

    @property
    def total_bytes(self) -> int:
        return (
            self.buffer_layer_bytes + self.weights_bytes + self.kv_bytes + self.projector_bytes + self.graph_full_bytes
        )

    def to_dict(self) -> JSONObject:
        return {
            "total_bytes": self.total_bytes,
            "context": self.context,
            "batch": self.batch,
            "kv_type": self.kv_type,
            "weights_bytes": self.weights_bytes,
            "kv_cache_bytes": self.kv_bytes,
            "buffer_layer_bytes": self.buffer_layer_bytes,
            "projector_bytes": self.projector_bytes,
            "graph_full_bytes": self.graph_full_bytes,
            "graph_partial_bytes": self.graph_partial_bytes,
            "graph_rule": self.graph_rule,
            "source": "llm/memory.go EstimateGPULayers, fs/ggml/ggml.go GraphSize (read at v0.9.3)",
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class _Shape:
    """The header values GraphSize reads (fs/ggml/ggml.go KV accessors at v0.9.3)."""

    embedding: int
    heads: int  # HeadCountMax
    heads_min: int
    heads_kv: int  # HeadCountKVMax
    heads_kv_min: int
    head_k: int  # EmbeddingHeadCountK: key_length, else embedding / HeadCountMin
    head_v: int
    embedding_heads: int  # EmbeddingHeadCountMax: embedding / HeadCountMin
    vocab: int


def _shape(facts: ModelFacts) -> _Shape:
    def span(v: int | list[int] | None, default: int) -> tuple[int, int]:
        if isinstance(v, list):
            return (max(v), min(v)) if v else (default, default)
        return (v, v) if v is not None else (default, default)

    emb = facts.embedding_length or 0
    heads, heads_min = span(facts.head_count, 1)
    heads_kv, heads_kv_min = span(facts.head_count_kv, 1)
    per_head = emb // heads_min if heads_min > 0 else 0
    return _Shape(
        emb,
        heads,
        heads_min,
        heads_kv,
        heads_kv_min,
        facts.key_length or per_head,
        facts.value_length or per_head,
        per_head,
        facts.vocab_size or 0,
    )


def _graph(arch: str, s: _Shape, ctx: int, batch: int) -> tuple[int, int] | None:
    """GraphSize's (partial, full) for the architectures it lists (dense variants), else None."""
    e, h, v, hk, hkv, eh = s.embedding, s.heads, s.vocab, s.head_k, s.heads_kv, s.embedding_heads
    vocab_graph = 4 * batch * (e + v)
    if arch in ("llama", "llama4"):
        full = max(4 * batch * (1 + 4 * e + ctx * (1 + h)), vocab_graph)
        partial = 4 * batch * e + max(
            4 * batch * (1 + e + max(ctx, e)) + e * e * 9 // 16 + 4 * ctx * (batch * h + eh * hkv),
            vocab_graph + e * v * 105 // 128,
        )
    elif arch in ("gemma", "gemma2", "gemma3", "gemma3n"):
        full = max(vocab_graph, 4 * batch * (2 + ctx + ctx * h + 2 * e + 2 * hk * h))
        partial = max(
            4 * e * batch + e * v * 105 // 128 + 4 * v * batch,
            4 * batch * (2 * e + 1 + 2 * hk * h + ctx + ctx * h) + 4 * hk * ctx * 8 + e * hk * h * 9 // 16,
        )
        if arch == "gemma3n":
            full, partial = full * 4, partial * 4
    elif arch == "command-r":
        full = max(vocab_graph, 4 * batch * (2 + 4 * e + ctx * (1 + h)))
        partial = max(
            vocab_graph + e * v * 105 // 128, 4 * batch * (1 + 2 * e + ctx * (1 + h)) + 4 * e * ctx + e * e * 9 // 16
        )
    elif arch == "qwen2":
        full = max(vocab_graph, 4 * batch * (1 + 2 * e + ctx + ctx * h))
        partial = max(vocab_graph + e * v * 105 // 128, 4 * (batch * (1 + 2 * e + ctx * (1 + h)) + e * (1 + ctx)))
    elif arch == "phi2":
        full = max(vocab_graph, 4 * batch * (1 + 4 * e + ctx + ctx * h))
        partial = max(4 * batch * (2 * e + v) + e * v * 105 // 128, 4 * batch * (2 + 3 * e + ctx + ctx * h))
    elif arch == "stablelm":
        full = 4 * batch * (ctx * (1 + h) + 3 * e + 2)
        partial = max(4 * batch * (v + 2 * e), full)
    else:
        return None
    return partial, full


def ollama_estimate(
    facts: ModelFacts,
    plan: LayerPlan,
    layout: CacheLayout,
    version: str | None,
    *,
    num_batch: int = DEFAULT_BATCH,
    projector_bytes: int = 0,
) -> OllamaEstimate:
    """Ollama's own estimate of the load ``layout`` describes (see :class:`OllamaEstimate`)."""
    notes: list[str] = []
    s = _shape(facts)
    ctx = max(layout.num_ctx * layout.parallel, OLLAMA_MIN_CONTEXT)
    batch = min(ctx, num_batch)
    kv_type = layout.kv_type if layout.flash_attention and layout.kv_type in OLLAMA_KV_BYTES else "f16"
    per = OLLAMA_KV_BYTES.get(kv_type, 2.0)
    kv_layer = int(float(ctx * (s.head_k + s.head_v) * s.heads_kv) * per)
    n = plan.block_count
    kv = [kv_layer] * n
    arch = facts.architecture or ""
    if arch == "gemma3" and facts.sliding_window:
        window = layout.parallel * facts.sliding_window + batch
        kv = [
            kv_layer if (i + 1) % 6 == 0 else int(float(window * (s.head_k + s.head_v) * s.heads_kv) * per)
            for i in range(n)
        ]
    graphs = _graph(arch, s, ctx, batch)
    if graphs is None or facts.expert_count:
        gqa = s.heads // max(s.heads_kv_min, 1)
        partial = gqa * sum(kv) // 6
        graphs, rule = (partial, partial), "generic (gqa x kv / 6)"
        if arch in ("llama", "llama4") and facts.expert_count:
            notes.append("mixture-of-experts graph cases of GraphSize are not modelled: the generic rule is used")
    else:
        rule = arch
    weights = facts.layer_weights_bytes
    output = facts.output_weights_bytes
    if weights is None or len(weights) != n or output is None:
        share = (facts.weights_bytes or facts.size_bytes or 0) // (n + 1)
        weights, output = [share] * n, share
        notes.append("per-layer weights unknown (no tensor list): split evenly over the layers")
    return OllamaEstimate(
        version=version,
        context=ctx,
        batch=batch,
        kv_type=kv_type,
        weights_bytes=sum(weights) + output,
        kv_bytes=sum(kv),
        buffer_layer_bytes=(weights[0] + kv[0]) if n else 0,
        projector_bytes=projector_bytes,
        graph_full_bytes=graphs[1],
        graph_partial_bytes=graphs[0],
        graph_rule=rule,
        notes=tuple(notes),
    )
