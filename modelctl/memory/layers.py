"""The layers of a model as llama.cpp caches them: which keep a KV cache (full or sliding-window
attention), which keep recurrent state, and how wide their K and V rows are. The memory estimate
(:mod:`modelctl.memory.memory`) lays its cache out from this plan; ``inspect`` reads the KV bytes
per token from it without loading the estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from modelctl.common.jsontypes import JSONObject
from modelctl.errors import InvalidInput
from modelctl.memory.facts import ModelFacts

KV_BYTES_PER_ELEMENT: dict[str, Fraction] = {
    "f32": Fraction(4),
    "f16": Fraction(2),
    "q8_0": Fraction(34, 32),
    "q4_0": Fraction(18, 32),
}

GEMMA2_DEFAULT_WINDOW = 4096  # llama.cpp's window for gemma2 files that do not state one
MAX_LAYERS = 1 << 16  # a corrupt block_count must not become a 2^40-entry list

# Architectures whose sliding-window layout is fixed in llama.cpp rather than written in the
# file: every p-th layer is global, the others slide (layer i slides when i % p < p - 1).
SWA_PERIOD: dict[str, int] = {"gemma2": 2, "gemma3": 6, "cohere2": 4, "gpt-oss": 2}


# ---------------------------------------------------------------------------------------------
# the layers: which keep a cache, of what width


@dataclass
class LayerPlan:
    """Per layer: what kind of cache it keeps and how wide its K and V rows are (elements)."""

    block_count: int
    full_layers: int = 0
    swa_layers: int = 0
    recurrent_layers: int = 0
    cacheless_layers: int = 0
    full_elements_per_token: int = 0  # sum of kv_heads x (key_length + value_length) over full layers
    swa_elements_per_token: int = 0
    sliding_window: int | None = None
    window_assumed: bool = False  # the window is llama.cpp's default, not the file's
    recurrent_elements_per_sequence: int = 0  # f32 state elements, per sequence (parallel slot)
    key_length: int | None = None
    value_length: int | None = None
    hybrid: bool = False  # recurrent + attention: only attention layers have a KV cache
    kinds: list[str] = field(default_factory=list)  # per layer: full | swa | recurrent | none | none-swa
    k_widths: list[int] = field(default_factory=list)  # K elements per cell, per layer
    v_widths: list[int] = field(default_factory=list)  # V elements per cell, per layer (flash attention on)
    recurrent_elements: list[int] = field(default_factory=list)  # f32 elements per sequence, per layer
    head_count_max: int = 0
    assumptions: list[str] = field(default_factory=list)

    @property
    def v_width_max(self) -> int:
        return max(self.v_widths, default=0)

    def has_kv(self, i: int) -> bool:
        """llama.cpp gives every layer a KV slot, except the non-attention layers of a hybrid model."""
        return self.kinds[i] in ("full", "swa") or (self.kinds[i] in ("none", "none-swa") and not self.hybrid)

    def to_dict(self) -> JSONObject:
        return {
            "block_count": self.block_count,
            "full_attention_layers": self.full_layers,
            "sliding_window_layers": self.swa_layers,
            "recurrent_layers": self.recurrent_layers,
            "layers_without_cache": self.cacheless_layers,
            "kv_elements_per_token": self.full_elements_per_token + self.swa_elements_per_token,
            "sliding_window": self.sliding_window,
            "sliding_window_assumed": self.window_assumed,
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


def _recurrent_elements(ssm: dict[str, int]) -> int:
    width = ssm["inner_size"] + 2 * ssm.get("group_count", 0) * ssm["state_size"]
    conv = max(ssm.get("conv_kernel", 0) - 1, 0) * width
    return conv + ssm["state_size"] * ssm["inner_size"]


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
    plan.head_count_max = max(heads if heads is not None else kv_heads, default=0)
    if facts.key_value_length_source and facts.key_value_length_source != "metadata":
        plan.assumptions.append(
            f"key/value length {facts.key_length}/{facts.value_length} taken as "
            "embedding_length / head_count (the file does not state them)"
        )
    recurrent = facts.ssm if facts.ssm.get("state_size") and facts.ssm.get("inner_size") else None
    plan.hybrid = recurrent is not None
    swa = _swa_layers(facts, n, plan)
    for i in range(n):
        _add_layer(plan, facts, model, kv_heads[i], heads[i] if heads is not None else None, swa[i], recurrent)
    if plan.recurrent_layers:
        plan.assumptions.append(
            f"{plan.recurrent_layers} recurrent (SSM) layers keep a fixed f32 state per parallel slot, "
            "independent of num_ctx and of the KV type"
        )
    if plan.cacheless_layers:
        plan.assumptions.append(
            f"{plan.cacheless_layers} layers have no attention heads and no SSM state: no K/V rows "
            "(with flash attention off llama.cpp still gives them a V cache at the widest layer's width)"
        )
    return plan


def _add_layer(
    plan: LayerPlan, facts: ModelFacts, model: str, kv: int, h: int | None, swa: bool, recurrent: dict[str, int] | None
) -> None:
    k_len, v_len = facts.key_length or 0, facts.value_length or 0
    if kv > 0 and (h is None or h > 0):
        if not k_len + v_len:
            raise InvalidInput(
                f"{model}: key/value length unknown (needs attention.key_length or embedding_length and head_count)"
            )
        kind = "swa" if swa else "full"
        plan.kinds.append(kind)
        plan.k_widths.append(kv * k_len)
        plan.v_widths.append(kv * v_len)
        plan.recurrent_elements.append(0)
        if swa:
            plan.swa_layers += 1
            plan.swa_elements_per_token += kv * (k_len + v_len)
        else:
            plan.full_layers += 1
            plan.full_elements_per_token += kv * (k_len + v_len)
        return
    plan.k_widths.append(0)
    plan.v_widths.append(0)
    if recurrent is not None:
        plan.kinds.append("recurrent")
        plan.recurrent_layers += 1
        elements = _recurrent_elements(recurrent)
        plan.recurrent_elements.append(elements)
        plan.recurrent_elements_per_sequence += elements
    else:
        plan.kinds.append("none-swa" if swa else "none")  # an iswa cache files it by the layer's swa flag
        plan.recurrent_elements.append(0)
        plan.cacheless_layers += 1


def _swa_layers(facts: ModelFacts, n: int, plan: LayerPlan) -> list[bool]:
    window = facts.sliding_window
    arch = facts.architecture or ""
    if not window and arch == "gemma2":
        window = GEMMA2_DEFAULT_WINDOW
        plan.window_assumed = True
        plan.assumptions.append(
            f"gemma2: the file states no sliding window; llama.cpp assumes {GEMMA2_DEFAULT_WINDOW} tokens, "
            "and so does this estimate"
        )
    if not window:
        return [False] * n
    pattern = facts.sliding_window_pattern
    if pattern is not None and len(pattern) == n:
        plan.sliding_window = window
        plan.assumptions.append(f"sliding-window layers (per-layer pattern from the file) over {window} tokens")
        return list(pattern)
    period = SWA_PERIOD.get(arch)
    if period:
        plan.sliding_window = window
        plan.assumptions.append(
            f"{arch}: every {period}th layer is global, the others slide over {window} tokens "
            "(llama.cpp's fixed layout)"
        )
        return [i % period < period - 1 for i in range(n)]
    plan.assumptions.append(
        f"a sliding window of {window} is declared but which layers use it is unknown: every layer "
        "is counted at full context (an upper bound)"
    )
    return [False] * n


def kv_bytes_per_token(plan: LayerPlan, kv_type: str = "f16") -> Fraction:
    """KV cache bytes per token of one slot over the attention layers, at ``kv_type``."""
    return (plan.full_elements_per_token + plan.swa_elements_per_token) * KV_BYTES_PER_ELEMENT[kv_type]
