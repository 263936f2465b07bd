"""Memory estimate: weights + KV cache (+ recurrent state) + a stated runtime overhead.

    total = weights + kv_cache + recurrent_state + overhead

    kv_cache = ceil( parallel x num_ctx x sum over full-attention layers l of
                     [ kv_heads(l) x (key_length + value_length) ] x bytes_per_element(kv_type) )
             + the same for sliding-window layers, with their cells capped (see below)

bytes per element are GGML's real block costs: f32 4, f16 2, q8_0 34/32 (32 values in a
34-byte block), q4_0 18/32. ``key_length``/``value_length`` come from the file when it
gives them, else embedding_length / head_count. docs/memory.md states every assumption;
each estimate also lists the ones that applied to it.

Everything is integer arithmetic (fractions for the block costs, rounded up once), so the
result is exact and monotone in num_ctx and the budget search is an exact binary search.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from modelctl.errors import InvalidInput
from modelctl.facts import ModelFacts

KV_BYTES_PER_ELEMENT: dict[str, Fraction] = {
    "f32": Fraction(4),
    "f16": Fraction(2),
    "q8_0": Fraction(34, 32),
    "q4_0": Fraction(18, 32),
}
KV_TYPES = tuple(KV_BYTES_PER_ELEMENT)
TABLE_KV_TYPES = ("f16", "q8_0", "q4_0")

MiB = 1 << 20
GiB = 1 << 30
# A fixed allowance for what the runner needs besides weights and cache: the compute-graph
# scratch buffers (sized by the 512-token batch when flash attention is on), the output
# (logits) buffer for one batch, and the backend/runtime context. It does NOT grow with
# num_ctx; see docs/memory.md for when that is wrong.
DEFAULT_OVERHEAD_BYTES = 512 * MiB
UBATCH = 512  # llama.cpp's default micro-batch; sliding-window caches keep window + one batch
SEARCH_LIMIT_UNKNOWN_TRAINED = 1 << 24  # upper end of the budget search when the trained length is unknown
MAX_LAYERS = 1 << 16  # a corrupt block_count must not become a 2^40-entry list

# Architectures whose sliding-window layout is fixed in llama.cpp rather than written in the
# file: every p-th layer is global, the others slide (layer i slides when i % p < p - 1).
SWA_PERIOD: dict[str, int] = {"gemma2": 2, "gemma3": 6, "cohere2": 4, "gpt-oss": 2}


@dataclass
class LayerPlan:
    """How many layers of each kind there are and what they cost per token (in elements)."""

    block_count: int
    full_layers: int = 0
    swa_layers: int = 0
    recurrent_layers: int = 0
    cacheless_layers: int = 0
    full_elements_per_token: int = 0  # sum of kv_heads x (key_length + value_length) over full layers
    swa_elements_per_token: int = 0
    sliding_window: int | None = None
    recurrent_elements_per_sequence: int = 0  # f32 state elements, per sequence (parallel slot)
    key_length: int | None = None
    value_length: int | None = None
    assumptions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "block_count": self.block_count,
            "full_attention_layers": self.full_layers,
            "sliding_window_layers": self.swa_layers,
            "recurrent_layers": self.recurrent_layers,
            "layers_without_cache": self.cacheless_layers,
            "kv_elements_per_token": self.full_elements_per_token + self.swa_elements_per_token,
            "sliding_window": self.sliding_window,
            "key_length": self.key_length,
            "value_length": self.value_length,
        }


def _per_layer(value: int | list[int] | None, n: int, what: str, model: str) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, list):
        if len(value) != n:
            raise InvalidInput(f"{model}: {what} has {len(value)} entries but the model has {n} layers")
        return list(value)
    return [value] * n


def plan_layers(facts: ModelFacts) -> LayerPlan:
    model = facts.name or facts.path or "model"
    n = facts.block_count
    if not n:
        raise InvalidInput(f"{model}: block_count is unknown, so the KV cache cannot be estimated")
    if n > MAX_LAYERS:
        raise InvalidInput(f"{model}: block_count {n} is implausible (more than {MAX_LAYERS} layers)")
    plan = LayerPlan(block_count=n, key_length=facts.key_length, value_length=facts.value_length)
    heads = _per_layer(facts.head_count, n, "head_count", model)
    kv_heads = _per_layer(facts.head_count_kv, n, "head_count_kv", model)
    if kv_heads is None:
        kv_heads = heads
    if kv_heads is None:
        raise InvalidInput(f"{model}: the attention head counts are unknown; cannot estimate the KV cache")
    if facts.key_value_length_source and facts.key_value_length_source != "metadata":
        plan.assumptions.append(
            f"key/value length {facts.key_length}/{facts.value_length} taken as "
            "embedding_length / head_count (the file does not state them)"
        )

    swa = _swa_layers(facts, n, plan)
    kv_len = (facts.key_length or 0) + (facts.value_length or 0)
    for i in range(n):
        has_attention = kv_heads[i] > 0 and (heads is None or heads[i] > 0)
        if has_attention:
            if not kv_len:
                raise InvalidInput(
                    f"{model}: key/value length unknown (needs attention.key_length or embedding_length and head_count)"
                )
            if swa[i]:
                plan.swa_layers += 1
                plan.swa_elements_per_token += kv_heads[i] * kv_len
            else:
                plan.full_layers += 1
                plan.full_elements_per_token += kv_heads[i] * kv_len
        elif facts.ssm.get("state_size") and facts.ssm.get("inner_size"):
            plan.recurrent_layers += 1
            s = facts.ssm
            conv = max(s.get("conv_kernel", 0) - 1, 0) * (
                s["inner_size"] + 2 * s.get("group_count", 0) * s["state_size"]
            )
            plan.recurrent_elements_per_sequence += conv + s["state_size"] * s["inner_size"]
        else:
            plan.cacheless_layers += 1
    if plan.recurrent_layers:
        plan.assumptions.append(
            f"{plan.recurrent_layers} recurrent (SSM) layers keep a fixed f32 state per parallel slot, "
            "independent of num_ctx and of the KV type"
        )
    if plan.cacheless_layers:
        plan.assumptions.append(f"{plan.cacheless_layers} layers have no attention heads and no SSM state: no cache")
    return plan


def _swa_layers(facts: ModelFacts, n: int, plan: LayerPlan) -> list[bool]:
    window = facts.sliding_window
    if not window:
        return [False] * n
    pattern = facts.sliding_window_pattern
    if pattern is not None and len(pattern) == n:
        plan.sliding_window = window
        plan.assumptions.append(
            f"sliding-window layers (per-layer pattern from the file) keep at most window {window} "
            f"x parallel + {UBATCH} cells"
        )
        return list(pattern)
    period = SWA_PERIOD.get(facts.architecture or "")
    if period:
        plan.sliding_window = window
        plan.assumptions.append(
            f"{facts.architecture}: every {period}th layer is global, the others slide over {window} tokens "
            f"(llama.cpp's fixed layout); sliding layers keep at most {window} x parallel + {UBATCH} cells"
        )
        return [i % period < period - 1 for i in range(n)]
    plan.assumptions.append(
        f"a sliding window of {window} is declared but which layers use it is unknown: every layer "
        "is counted at full context (an upper bound)"
    )
    return [False] * n


@dataclass
class MemoryEstimate:
    model: str | None
    num_ctx: int
    kv_type: str
    parallel: int
    weights_bytes: int
    kv_cache_bytes: int
    recurrent_state_bytes: int
    overhead_bytes: int
    kv_bytes_per_token: float  # per token of one slot, full-attention layers, at this KV type
    context_trained: int | None
    weights_source: str
    plan: LayerPlan
    assumptions: list[str] = field(default_factory=list)
    adapter_bytes: int = 0  # LoRA adapters (ADAPTER), loaded beside the weights

    @property
    def total_bytes(self) -> int:
        return (
            self.weights_bytes
            + self.adapter_bytes
            + self.kv_cache_bytes
            + self.recurrent_state_bytes
            + self.overhead_bytes
        )

    @property
    def exceeds_trained(self) -> bool:
        return self.context_trained is not None and self.num_ctx > self.context_trained

    @property
    def effective_num_ctx(self) -> int:
        """What the runner really allocates: Ollama caps num_ctx at the trained length."""
        return min(self.num_ctx, self.context_trained) if self.context_trained else self.num_ctx

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "num_ctx": self.num_ctx,
            "effective_num_ctx": self.effective_num_ctx,
            "kv_type": self.kv_type,
            "parallel": self.parallel,
            "context_cells": self.effective_num_ctx * self.parallel,
            "weights_bytes": self.weights_bytes,
            "adapter_bytes": self.adapter_bytes,
            "kv_cache_bytes": self.kv_cache_bytes,
            "recurrent_state_bytes": self.recurrent_state_bytes,
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


def _ceil_mul(elements: int, per: Fraction) -> int:
    return -(-(elements * per.numerator) // per.denominator)


def kv_cache_bytes(plan: LayerPlan, num_ctx: int, kv_type: str = "f16", parallel: int = 1) -> int:
    """Attention KV cache in bytes (exact; rounded up once)."""
    per = _check_kv_type(kv_type)
    cells = parallel * num_ctx
    elements = cells * plan.full_elements_per_token
    if plan.swa_elements_per_token:
        window = plan.sliding_window or num_ctx
        swa_cells = min(cells, parallel * window + UBATCH)
        elements += swa_cells * plan.swa_elements_per_token
    return _ceil_mul(elements, per)


def _weights(facts: ModelFacts) -> tuple[int, str]:
    if facts.weights_bytes:
        from_tensors = facts.source == "gguf" or facts.tensor_count
        return facts.weights_bytes, "tensor bytes" if from_tensors else "model size"
    if facts.size_bytes:
        return facts.size_bytes, "model size"
    raise InvalidInput(f"{facts.name or facts.path or 'model'}: the size of the weights is unknown")


def estimate_for_facts(
    facts: ModelFacts,
    num_ctx: int,
    kv_type: str = "f16",
    parallel: int = 1,
    *,
    overhead_bytes: int = DEFAULT_OVERHEAD_BYTES,
    plan: LayerPlan | None = None,
    adapter_bytes: int = 0,
) -> MemoryEstimate:
    """The memory a model needs at ``num_ctx`` tokens per slot, ``parallel`` slots and a KV type."""
    per = _check_kv_type(kv_type)
    if num_ctx < 1:
        raise InvalidInput(f"num_ctx must be at least 1, got {num_ctx}", field="--num-ctx")
    if parallel < 1:
        raise InvalidInput(f"parallel must be at least 1, got {parallel}", field="--parallel")
    if overhead_bytes < 0:
        raise InvalidInput("the overhead cannot be negative", field="--overhead")
    plan = plan or plan_layers(facts)
    weights, source = _weights(facts)
    assumptions = list(plan.assumptions)
    if source == "model size":
        assumptions.append("weights taken as the model's size on the server (/api/tags), not its tensors")
    assumptions.append(
        f"runtime overhead: a fixed {overhead_bytes / MiB:.0f} MiB for compute buffers and the runtime "
        "(flash attention assumed; vision projectors not counted)"
    )
    effective = num_ctx
    if facts.context_trained is not None and num_ctx > facts.context_trained:
        effective = facts.context_trained
        assumptions.append(
            f"num_ctx {num_ctx} exceeds the trained context {facts.context_trained}; Ollama caps the "
            f"context there, so the KV cache is counted for {effective} tokens"
        )
    return MemoryEstimate(
        model=facts.name or facts.path,
        num_ctx=num_ctx,
        kv_type=kv_type,
        parallel=parallel,
        weights_bytes=weights,
        kv_cache_bytes=kv_cache_bytes(plan, effective, kv_type, parallel),
        recurrent_state_bytes=parallel * plan.recurrent_elements_per_sequence * 4,
        overhead_bytes=overhead_bytes,
        kv_bytes_per_token=float((plan.full_elements_per_token + plan.swa_elements_per_token) * per),
        context_trained=facts.context_trained,
        weights_source=source,
        plan=plan,
        assumptions=assumptions,
        adapter_bytes=adapter_bytes,
    )


@dataclass
class BudgetResult:
    budget_bytes: int
    num_ctx: int | None  # the largest that fits, or None when nothing fits
    limited_by: str  # "budget" | "trained context" | "search limit" | "nothing fits"
    search_limit: int
    estimate: MemoryEstimate | None  # at num_ctx
    next_total_bytes: int | None  # the total at num_ctx + 1 (proof that it is the largest)
    minimum_total_bytes: int  # the total at num_ctx = 1

    @property
    def fits(self) -> bool:
        return self.num_ctx is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "budget_bytes": self.budget_bytes,
            "budget_gib": round(self.budget_bytes / GiB, 3),
            "fits": self.fits,
            "num_ctx": self.num_ctx,
            "limited_by": self.limited_by,
            "search_limit": self.search_limit,
            "next_total_bytes": self.next_total_bytes,
            "minimum_total_bytes": self.minimum_total_bytes,
            "estimate": self.estimate.to_dict() if self.estimate else None,
        }


def max_num_ctx_for_budget(
    facts: ModelFacts,
    budget_bytes: int,
    kv_type: str = "f16",
    parallel: int = 1,
    *,
    overhead_bytes: int = DEFAULT_OVERHEAD_BYTES,
    limit: int | None = None,
    adapter_bytes: int = 0,
) -> BudgetResult:
    """The largest num_ctx whose total fits in ``budget_bytes``: an exact integer binary search.

    Searched over [1, limit], where limit defaults to the trained context (Ollama caps num_ctx
    there), or 2^24 when the trained context is unknown.
    """
    plan = plan_layers(facts)
    hi = search_limit = limit or facts.context_trained or SEARCH_LIMIT_UNKNOWN_TRAINED

    def at(n: int) -> MemoryEstimate:
        return estimate_for_facts(
            facts, n, kv_type, parallel, overhead_bytes=overhead_bytes, plan=plan, adapter_bytes=adapter_bytes
        )

    minimum = at(1).total_bytes
    if minimum > budget_bytes:
        return BudgetResult(budget_bytes, None, "nothing fits", hi, None, None, minimum)
    top = at(hi)
    if top.total_bytes <= budget_bytes:
        why = "trained context" if not limit and facts.context_trained else "search limit"
        return BudgetResult(budget_bytes, hi, why, hi, top, None, minimum)
    lo = 1  # invariant: total(lo) <= budget < total(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if at(mid).total_bytes <= budget_bytes:
            lo = mid
        else:
            hi = mid
    return BudgetResult(budget_bytes, lo, "budget", search_limit, at(lo), at(lo + 1).total_bytes, minimum)


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


def estimate_table(
    facts: ModelFacts,
    sizes: list[int],
    kv_types: tuple[str, ...] = TABLE_KV_TYPES,
    parallel: int = 1,
    *,
    overhead_bytes: int = DEFAULT_OVERHEAD_BYTES,
    adapter_bytes: int = 0,
) -> list[dict[str, Any]]:
    """Rows of {num_ctx, <kv type>: {kv_cache_bytes, total_bytes}} for each context size."""
    plan = plan_layers(facts)
    rows = []
    for n in sizes:
        row: dict[str, Any] = {"num_ctx": n}
        for kv in kv_types:
            est = estimate_for_facts(
                facts, n, kv, parallel, overhead_bytes=overhead_bytes, plan=plan, adapter_bytes=adapter_bytes
            )
            row[kv] = {"kv_cache_bytes": est.kv_cache_bytes + est.recurrent_state_bytes, "total_bytes": est.total_bytes}
        rows.append(row)
    return rows


def estimate_or_none(facts: ModelFacts, num_ctx: int | None, kv_type: str = "f16") -> MemoryEstimate | None:
    """The estimate at ``num_ctx``, or None when there is no num_ctx or the facts are too
    incomplete to estimate (e.g. a server model that lists no tensors). For reports and tables,
    where a missing estimate is shown as such rather than failing the command."""
    if num_ctx is None:
        return None
    try:
        return estimate_for_facts(facts, num_ctx, kv_type)
    except InvalidInput:
        return None
