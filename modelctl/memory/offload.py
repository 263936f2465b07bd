"""Layers on a GPU: does an estimate fit, and if not, how many layers does Ollama put there.

Two rules, by the Ollama version modelled (modelctl.memory.memory.OllamaRule):

- **0.30 and later**: Ollama starts llama-server without ``-ngl`` (unless num_gpu is set) and
  its ``--fit`` offloads as many layers as leave a margin free on the device: 1024 MiB by
  default (llama.cpp common.h ``fit_params_target``), raised to projector + 1 GiB when a vision
  projector goes to the GPU (Ollama sets LLAMA_ARG_FIT_TARGET, llm/llama_server.go).
- **before 0.30**: Ollama's own estimator (llm/memory.go ``estimateGPULayers``, removed in
  commit f560bd077) keeps a per-GPU minimum free (457 MiB on CUDA/ROCm, 512 MiB on Metal),
  OLLAMA_GPU_OVERHEAD, the graph, and one extra layer (blk.0 and its cache) as a buffer, then
  places layers from the last one down, and the output layer last.

A layer is its weights plus its share of the KV cache (and recurrent state); the output layer
is output_norm + output (or the tied token embedding); the input embedding stays in host
memory. The GPU memory is an input, so a host inventory can supply it per host.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from modelctl.common.jsontypes import JSONObject
from modelctl.errors import InvalidInput
from modelctl.memory.facts import ModelFacts
from modelctl.memory.memory import GiB, MemoryEstimate, MiB, largest_num_ctx

FIT_MARGIN_BYTES = 1024 * MiB  # llama.cpp: fit_params_target, 1024 MiB per device
PROJECTOR_HEADROOM_BYTES = GiB  # Ollama: mmprojOffloadHeadroom, added to the projector for the fit target
MINIMUM_BYTES = {"cuda": 457 * MiB, "rocm": 457 * MiB, "metal": 512 * MiB}  # ml.DeviceInfo.MinimumMemory
GPU_BACKENDS = tuple(MINIMUM_BYTES)


@dataclass(frozen=True)
class Gpu:
    """One GPU as the rule sees it: its memory, its kind, and what the server keeps free on it."""

    memory_bytes: int
    backend: str = "cuda"  # cuda | rocm | metal (only the pre-0.30 minimum depends on it)
    overhead_bytes: int = 0  # OLLAMA_GPU_OVERHEAD (pre-0.30 rule)

    def check(self) -> None:
        if self.memory_bytes <= 0:
            raise InvalidInput("the GPU memory must be positive", field="--gpu-memory")
        if self.backend not in MINIMUM_BYTES:
            raise InvalidInput(f"unknown GPU backend {self.backend!r}; use one of {', '.join(GPU_BACKENDS)}")
        if self.overhead_bytes < 0:
            raise InvalidInput("OLLAMA_GPU_OVERHEAD cannot be negative", field="--gpu-overhead")


@dataclass
class GpuPlacement:
    """Where the layers go on one GPU under one Ollama version's rule."""

    rule: str
    rule_description: str
    gpu_memory_bytes: int
    backend: str
    layers_total: int  # block_count + 1 (the output layer)
    layers_on_gpu: int
    num_gpu: int | None  # requested by the profile or model (None: automatic)
    gpu_bytes: int  # what the GPU holds with that placement
    host_bytes: int  # the rest of the estimate's total
    kept_free_bytes: int  # what the rule keeps free or reserves besides the model
    kept_free: list[str] = field(default_factory=list)
    max_num_ctx: int | None = None  # the largest num_ctx with every layer on the GPU (None: none)
    notes: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        room = self.gpu_bytes + self.kept_free_bytes <= self.gpu_memory_bytes
        return self.layers_on_gpu >= self.layers_total and room

    @property
    def answer(self) -> str:
        if self.fits:
            return "fits"
        if self.num_gpu == 0:
            return "CPU only (num_gpu 0)"
        return "partial offload" if self.layers_on_gpu else "does not fit"

    def to_dict(self) -> JSONObject:
        return {
            "rule": self.rule,
            "rule_description": self.rule_description,
            "gpu_memory_bytes": self.gpu_memory_bytes,
            "backend": self.backend,
            "fits": self.fits,
            "answer": self.answer,
            "layers_total": self.layers_total,
            "layers_on_gpu": self.layers_on_gpu,
            "num_gpu": self.num_gpu,
            "gpu_bytes": self.gpu_bytes,
            "host_bytes": self.host_bytes,
            "kept_free_bytes": self.kept_free_bytes,
            "kept_free": list(self.kept_free),
            "max_num_ctx": self.max_num_ctx,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class _Layers:
    """The estimate's layers as placement units: per-layer bytes (weights + cache) and the output."""

    blocks: list[int]
    block_weights: list[int]
    output: int
    note: str | None


def _layers(facts: ModelFacts, est: MemoryEstimate) -> _Layers:
    n = est.plan.block_count
    kv = est.layer_kv_bytes or [0] * n
    weights = facts.layer_weights_bytes
    output = facts.output_weights_bytes
    note = None
    if weights is None or len(weights) != n or output is None:
        share = est.weights_bytes // (n + 1)
        weights, output = [share] * n, share
        note = "per-layer weights unknown (no tensor list): the weights are split evenly over the layers"
    return _Layers([w + k for w, k in zip(weights, kv, strict=True)], list(weights), output, note)


def place(facts: ModelFacts, est: MemoryEstimate, gpu: Gpu, num_gpu: int | None = None) -> GpuPlacement:
    """Where ``est``'s layers go on ``gpu`` under the rule of the Ollama version it models."""
    gpu.check()
    layers = _layers(facts, est)
    rule = _place_fit if est.rule.fit else _place_estimator
    placement = rule(est, layers, gpu, num_gpu)
    if layers.note:
        placement.notes.append(layers.note)
    placement.host_bytes = max(est.total_bytes - placement.gpu_bytes, 0)
    return placement


def _gpu_use(est: MemoryEstimate, layers: _Layers, k: int) -> int:
    """GPU bytes with the last ``k`` placement units there (units: blocks, then the output layer)."""
    n = len(layers.blocks)
    use = sum(layers.blocks[n - min(k, n) :])
    if k > n:
        use += layers.output
    return use + (est.compute_bytes if k > 0 else 0)


def _place_fit(est: MemoryEstimate, layers: _Layers, gpu: Gpu, num_gpu: int | None) -> GpuPlacement:
    total = len(layers.blocks) + 1
    margin = FIT_MARGIN_BYTES
    kept = ["1024 MiB margin kept free by llama-server --fit (llama.cpp fit_params_target)"]
    if est.projector_bytes:
        margin = est.projector_bytes + PROJECTOR_HEADROOM_BYTES
        kept = ["projector + 1 GiB kept free (Ollama raises llama-server's fit target, LLAMA_ARG_FIT_TARGET)"]
    p = GpuPlacement(est.rule.name, est.rule.describe(), gpu.memory_bytes, gpu.backend, total, 0, num_gpu, 0, 0, margin)
    p.kept_free = kept
    if num_gpu is not None and num_gpu >= 0:
        k = min(num_gpu, total)
        p.layers_on_gpu, p.gpu_bytes = k, _gpu_use(est, layers, k) + (est.projector_bytes if k else 0)
        p.kept_free_bytes = 0
        p.kept_free = [f"num_gpu {num_gpu}: llama-server is started with -ngl {num_gpu}, so --fit keeps no margin"]
        if p.gpu_bytes > gpu.memory_bytes:
            p.notes.append(f"the {k} requested layers need more than the GPU has: the load would fail")
        return p
    budget = gpu.memory_bytes - margin - est.projector_bytes
    k = total
    while k > 0 and _gpu_use(est, layers, k) > budget:
        k -= 1
    p.layers_on_gpu = k
    p.gpu_bytes = _gpu_use(est, layers, k) + (est.projector_bytes if k else 0)
    return p


def _place_estimator(est: MemoryEstimate, layers: _Layers, gpu: Gpu, num_gpu: int | None) -> GpuPlacement:
    """llm/memory.go estimateGPULayers for one GPU (the graph is modelctl's compute buffer)."""
    n = len(layers.blocks)
    total = n + 1
    minimum = MINIMUM_BYTES[gpu.backend]
    buffer = layers.blocks[0] if layers.blocks else 0
    graph = est.compute_bytes
    reserved = minimum + gpu.overhead_bytes + buffer
    p = GpuPlacement(est.rule.name, est.rule.describe(), gpu.memory_bytes, gpu.backend, total, 0, num_gpu, 0, 0, 0)
    p.kept_free = [
        f"{minimum // MiB} MiB per-GPU minimum ({gpu.backend})",
        f"OLLAMA_GPU_OVERHEAD {gpu.overhead_bytes // MiB} MiB",
        f"one layer as a buffer (blk.0 and its cache, {buffer / MiB:.1f} MiB)",
    ]
    p.kept_free_bytes = reserved
    free = gpu.memory_bytes
    if free < gpu.overhead_bytes + est.projector_bytes + graph + minimum + 2 * buffer:
        return p  # the GPU cannot hold the graph, the minimum, the buffer and one layer
    used = minimum + buffer + est.projector_bytes
    count = 0
    for size in reversed(layers.blocks):
        if num_gpu is not None and num_gpu >= 0 and count >= num_gpu:
            break
        if free <= gpu.overhead_bytes + used + graph + size:
            break
        used += size
        count += 1
    wants_output = num_gpu is None or num_gpu < 0 or count < num_gpu
    if count == n and wants_output and free > gpu.overhead_bytes + used + graph + layers.output:
        used += layers.output
        count += 1
    p.layers_on_gpu = count
    p.gpu_bytes = used - minimum - buffer + (graph if count else 0)
    if not count:
        p.gpu_bytes = 0
    return p


def max_num_ctx_on_gpu(
    facts: ModelFacts, at: Callable[[int], MemoryEstimate], gpu: Gpu, num_gpu: int | None, limit: int
) -> int | None:
    """The largest num_ctx in [1, limit] whose every layer the rule puts on ``gpu``."""
    n, _ = largest_num_ctx(at, lambda e: place(facts, e, gpu, num_gpu).fits, limit)
    return n
