"""Model facts: one shape for what a GGUF file says and what an Ollama server reports.

``facts_from_gguf`` reads a local file's metadata (modelctl.memory.gguf, no tensor data);
``facts_from_show`` reads Ollama's ``/api/show`` answer (plus its ``/api/tags`` entry).
Both give a :class:`ModelFacts` whose ``to_dict()`` keys are shared by ``inspect``,
``estimate``, the build report, ``show`` and ``compare``.

Standard library only (and modelctl.memory.gguf / params), so it is cheap to import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from modelctl.common.jsontypes import JSONObject
from modelctl.common.units import human_number
from modelctl.errors import Diagnostic, GGUFError, ModelctlError, ServerError
from modelctl.memory.gguf import (
    FILE_TYPES,
    GGML_TYPE_IDS,
    ArrayRef,
    SkippedString,
    file_type_name,
    read_gguf,
    tensor_nbytes,
)

if TYPE_CHECKING:
    from modelctl.ollama.shapes import ModelInfo, PsEntry, ShowResponse, TagsEntry, Tensor
    from modelctl.profile.params import Params
    from modelctl.profile.profile import LoadedProfile


@dataclass
class ModelFacts:
    """What decides a model's cost and behaviour. ``None`` means "not known from this source"."""

    name: str | None = None
    host: str | None = None
    base: str | None = None
    path: str | None = None
    source: str = "gguf"  # "gguf" | "server"
    architecture: str | None = None
    parameter_count: int | None = None
    parameter_size: str | None = None
    quantization: str | None = None
    context_trained: int | None = None
    context_configured: int | None = None
    context_runtime: int | None = None
    embedding_length: int | None = None
    block_count: int | None = None
    head_count: int | list[int] | None = None
    head_count_kv: int | list[int] | None = None
    key_length: int | None = None
    value_length: int | None = None
    key_value_length_source: str | None = None  # "metadata" | "embedding_length / head_count"
    feed_forward_length: int | list[int] | None = None
    vocab_size: int | None = None
    tokenizer_model: str | None = None
    chat_template: bool | None = None
    file_type: int | None = None
    tensor_types: dict[str, int] = field(default_factory=dict)
    bits_per_weight: float | None = None
    weights_bytes: int | None = None  # sum of the tensors' bytes
    size_bytes: int | None = None  # file size (GGUF) or the model's size on the server (/api/tags)
    tensor_count: int | None = None
    capabilities: list[str] | None = None
    parameters: Params = field(default_factory=dict)
    # Layout details the memory estimate needs (not all sources have them).
    sliding_window: int | None = None
    sliding_window_pattern: list[bool] | None = None  # per layer: True = sliding-window attention
    ssm: dict[str, int] = field(default_factory=dict)  # conv_kernel, state_size, inner_size, group_count
    expert_count: int | None = None
    expert_used_count: int | None = None
    gguf_version: int | None = None
    # Where the weights sit, for placing layers on a GPU (from the tensor names; None = unknown):
    layer_weights_bytes: list[int] | None = None  # blk.<i>.* per layer
    output_weights_bytes: int | None = None  # output_norm + output (token_embd when the output is tied)
    projector_bytes: int | None = None  # a vision/audio projector: inline v./mm./a. tensors, or projector_info
    projector_source: str | None = None

    @property
    def context_length(self) -> dict[str, int | None]:
        return {
            "trained": self.context_trained,
            "configured": self.context_configured,
            "runtime": self.context_runtime,
        }

    def to_dict(self) -> JSONObject:
        """The shared JSON shape (key order is the documented one)."""
        return {
            "name": self.name,
            "host": self.host,
            "base": self.base,
            "path": self.path,
            "source": self.source,
            "architecture": self.architecture,
            "parameter_count": self.parameter_count,
            "parameter_size": self.parameter_size,
            "quantization": self.quantization,
            "file_type": self.file_type,
            "context_length": self.context_length,
            "embedding_length": self.embedding_length,
            "block_count": self.block_count,
            "head_count": self.head_count,
            "head_count_kv": self.head_count_kv,
            "key_length": self.key_length,
            "value_length": self.value_length,
            "key_value_length_source": self.key_value_length_source,
            "feed_forward_length": self.feed_forward_length,
            "vocab_size": self.vocab_size,
            "tokenizer_model": self.tokenizer_model,
            "chat_template": self.chat_template,
            "tensor_types": dict(self.tensor_types),
            "tensor_count": self.tensor_count,
            "bits_per_weight": self.bits_per_weight,
            "weights_bytes": self.weights_bytes,
            "size_bytes": self.size_bytes,
            "sliding_window": self.sliding_window,
            "expert_count": self.expert_count,
            "expert_used_count": self.expert_used_count,
            "capabilities": self.capabilities,
            "parameters": dict(self.parameters),
        }


# ---------------------------------------------------------------------------------------------
# helpers shared by both sources


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float) and math.isfinite(v) and v == int(v):
        return int(v)
    return None


def _pos(v: Any) -> int | None:
    """A size or count that must be positive; anything else (0, negative, not a number) is unknown."""
    n = _int(v)
    return n if n is not None and n > 0 else None


def _int_or_list(v: Any) -> int | list[int] | None:
    """A scalar, or a per-layer list (0 = no heads in that layer); negative entries are unknown.

    An empty list (Ollama's /api/show truncates long arrays to []) is unknown too.
    """
    if isinstance(v, list):
        items = [_int(x) for x in v]
        if not items or any(x is None or x < 0 for x in items):
            return None
        return [x for x in items if x is not None]
    n = _int(v)
    return n if n is not None and n >= 0 else None


def _max_of(v: int | list[int] | None) -> int | None:
    if isinstance(v, list):
        return max(v) if v else None
    return v


def _key_value_lengths(facts: ModelFacts, k: int | None, v: int | None) -> None:
    heads = _max_of(facts.head_count)
    derived = None
    if facts.embedding_length and heads:
        derived = facts.embedding_length // heads
    facts.key_length = k if k else derived
    facts.value_length = v if v else derived
    if k and v:
        facts.key_value_length_source = "metadata"
    elif k or v:
        facts.key_value_length_source = "metadata, embedding_length / head_count for the other"
    elif derived:
        facts.key_value_length_source = "embedding_length / head_count"


def _bits_per_weight(weights_bytes: int | None, params: int | None) -> float | None:
    if not weights_bytes or not params:
        return None
    return round(weights_bytes * 8 / params, 4)


def _ssm(get: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for name in ("conv_kernel", "state_size", "inner_size", "group_count"):
        val = _pos(get(f"ssm.{name}"))
        if val is not None:
            out[name] = val
    return out


def _swa_pattern(get: Any, block_count: int | None) -> list[bool] | None:
    """Which layers slide: a per-layer bool array, or a period p (layer i slides when i % p < p - 1)."""
    pattern = get("attention.sliding_window_pattern")
    period = _int(pattern) if not isinstance(pattern, (list, bool)) else None
    if period is not None and block_count and period >= 0 and block_count <= 1 << 16:
        return [period == 0 or i % period < period - 1 for i in range(block_count)]
    if isinstance(pattern, list) and pattern and all(isinstance(x, bool) for x in pattern):
        return list(pattern)
    if isinstance(pattern, list) and pattern and all(isinstance(x, int) for x in pattern):
        return [bool(x) for x in pattern]
    return None


# ---------------------------------------------------------------------------------------------
# GGUF


def facts_from_gguf(path: str | Path) -> ModelFacts:
    """Facts from a local GGUF file's metadata and tensor infos (no tensor data is read)."""
    info = read_gguf(path)
    md = info.metadata
    arch = info.architecture
    if arch is None:
        raise GGUFError("general.architecture is missing: cannot tell what model this is", file=str(path))

    def get(suffix: str) -> Any:
        return md.get(f"{arch}.{suffix}")

    facts = ModelFacts(source="gguf", path=str(Path(path)), gguf_version=info.version)
    name = md.get("general.name")
    facts.name = name if isinstance(name, str) else None
    basename = md.get("general.basename")
    facts.base = basename if isinstance(basename, str) else None
    facts.architecture = arch
    facts.tensor_count = len(info.tensors)
    facts.parameter_count = info.parameter_count if info.tensors else _int(md.get("general.parameter_count"))
    facts.parameter_size = human_number(facts.parameter_count)
    ft = _int(md.get("general.file_type"))
    facts.file_type = ft
    facts.quantization = file_type_name(ft) if ft is not None else _guess_quant(info)
    facts.context_trained = _pos(get("context_length"))
    facts.embedding_length = _pos(get("embedding_length"))
    facts.block_count = _pos(get("block_count"))
    facts.head_count = _int_or_list(get("attention.head_count"))
    facts.head_count_kv = _int_or_list(get("attention.head_count_kv"))
    if facts.head_count_kv is None and get("attention.head_count_kv") is None:
        facts.head_count_kv = facts.head_count  # GGUF convention: no KV count means no GQA
    _key_value_lengths(facts, _pos(get("attention.key_length")), _pos(get("attention.value_length")))
    facts.feed_forward_length = _int_or_list(get("feed_forward_length"))
    tokens = md.get("tokenizer.ggml.tokens")
    vocab = _pos(get("vocab_size"))
    if vocab is None and isinstance(tokens, (ArrayRef, list)):
        vocab = len(tokens)
    facts.vocab_size = vocab
    tok = md.get("tokenizer.ggml.model")
    facts.tokenizer_model = tok if isinstance(tok, str) else None
    tmpl = md.get("tokenizer.chat_template")
    facts.chat_template = isinstance(tmpl, SkippedString) or (isinstance(tmpl, str) and bool(tmpl))
    hist: dict[str, int] = {}
    for t in info.tensors:
        hist[t.type_name] = hist.get(t.type_name, 0) + 1
    facts.tensor_types = dict(sorted(hist.items(), key=lambda kv: (-kv[1], kv[0])))
    facts.weights_bytes = info.tensor_bytes
    facts.bits_per_weight = _bits_per_weight(facts.weights_bytes, facts.parameter_count)
    facts.size_bytes = info.file_size
    _fill_layout(facts, get)
    _fill_weight_groups(facts, [(t.name, t.n_bytes) for t in info.tensors])
    return facts


def _guess_quant(info: Any) -> str | None:
    """No general.file_type: name the type holding most of the weights' bytes."""
    by_bytes: dict[str, int] = {}
    for t in info.tensors:
        by_bytes[t.type_name] = by_bytes.get(t.type_name, 0) + (t.n_bytes or 0)
    return max(by_bytes, key=lambda k: by_bytes[k]) if by_bytes else None


# ---------------------------------------------------------------------------------------------
# Ollama /api/show


def _mapping(value: object) -> ModelInfo:
    """An object of the answer (``model_info``, ``details``...), or an empty one where there is none."""
    return value if isinstance(value, dict) else {}


@dataclass
class _Tensors:
    """What the ``tensors`` list of /api/show says: counts, bytes and shapes."""

    count: int = 0
    params: int = 0
    bytes: int = 0
    bytes_known: bool = False
    types: dict[str, int] = field(default_factory=dict)
    shapes: dict[str, list[int]] = field(default_factory=dict)
    named_bytes: list[tuple[str, int | None]] = field(default_factory=list)


def _valid_shape(shape: Any) -> TypeGuard[list[int]]:
    return isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)


def _add_tensor(out: _Tensors, t: Tensor, shape: list[int]) -> None:
    n = math.prod(shape)
    out.params += n
    tname = str(t.get("type", "?"))
    out.types[tname] = out.types.get(tname, 0) + 1
    tid = GGML_TYPE_IDS.get(tname.upper())
    nb = tensor_nbytes(tid, n) if tid is not None else None
    if nb is None:
        out.bytes_known = False
    else:
        out.bytes += nb
    name = t.get("name")
    if isinstance(name, str):
        out.shapes[name] = shape
        out.named_bytes.append((name, nb))


def _read_tensors(tensors: list[Tensor] | None) -> _Tensors:
    out = _Tensors()
    if not isinstance(tensors, list):
        return out
    out.count = len(tensors)
    out.bytes_known = bool(tensors)
    for t in tensors:
        shape = t.get("shape") or [] if isinstance(t, dict) else None
        if not isinstance(t, dict) or not _valid_shape(shape):
            out.bytes_known = False
            continue
        _add_tensor(out, t, shape)
    out.types = dict(sorted(out.types.items(), key=lambda kv: (-kv[1], kv[0])))
    return out


def facts_from_show(
    show_json: ShowResponse,
    tags_entry: TagsEntry | None = None,
    *,
    name: str | None = None,
    host: str | None = None,
    ps_entry: PsEntry | None = None,
) -> ModelFacts:
    """Facts from Ollama's ``/api/show`` answer, its ``/api/tags`` entry and, if loaded, ``/api/ps``.

    Reads ``model_info[general.architecture + "." + key]`` exactly (as Ollama's own ``show``
    does), ``details.quantization_level`` and ``details.parameter_size``. Per-layer arrays that
    ``/api/show`` truncated to ``[]`` are rebuilt from the tensor shapes when ``tensors`` is
    present. ``weights_bytes`` is the sum of the tensors' bytes when the tensor list is there,
    else the model's size from ``/api/tags``. Fields of the wrong type count as unknown.
    """
    if not isinstance(show_json, dict):
        raise ServerError("/api/show: the answer is not a JSON object")
    mi = _mapping(show_json.get("model_info") or show_json.get("modelinfo"))
    tags: TagsEntry = tags_entry if isinstance(tags_entry, dict) else {}
    # /api/show's details first, the /api/tags entry's where show leaves a field empty
    details = {k: v for src in (tags.get("details"), show_json.get("details")) for k, v in _mapping(src).items() if v}
    arch = mi.get("general.architecture") or details.get("family")
    arch = arch if isinstance(arch, str) and arch else None

    def get(suffix: str) -> Any:
        return mi.get(f"{arch}.{suffix}") if arch else None

    facts = ModelFacts(source="server", host=host, architecture=arch)
    facts.name = name or tags.get("model") or tags.get("name") or None
    parent = details.get("parent_model")
    facts.base = parent if isinstance(parent, str) and parent else None
    tensors = _read_tensors(show_json.get("tensors"))
    facts.tensor_types = tensors.types
    facts.tensor_count = tensors.count or None
    _fill_model_details(facts, mi, details, tensors)
    _fill_architecture(facts, get, details, tensors)
    _fill_vocabulary(facts, mi, get, tensors)
    facts.size_bytes = _pos(tags.get("size"))
    exact = tensors.bytes if tensors.bytes_known and tensors.bytes else None
    facts.weights_bytes = exact or facts.size_bytes
    facts.bits_per_weight = _bits_per_weight(exact, facts.parameter_count)
    caps = show_json.get("capabilities")
    if caps is None:
        caps = tags.get("capabilities")
    facts.capabilities = [str(c) for c in caps] if isinstance(caps, list) else None
    params = show_json.get("parameters")
    from modelctl.ollama.wire import parse_parameters  # inspect reads GGUF files only: no parameter catalogue

    facts.parameters = parse_parameters(params if isinstance(params, str) else None)
    nc = facts.parameters.get("num_ctx")
    facts.context_configured = nc if isinstance(nc, int) and not isinstance(nc, bool) else None
    if isinstance(ps_entry, dict):
        facts.context_runtime = _int(ps_entry.get("context_length"))
    _fill_layout(facts, get)
    _fill_weight_groups(facts, tensors.named_bytes if tensors.bytes_known else [])
    if facts.projector_bytes is None:
        _projector_from_info(facts, _mapping(show_json.get("projector_info")))
    return facts


def _fill_model_details(facts: ModelFacts, mi: ModelInfo, details: dict[str, object], tensors: _Tensors) -> None:
    """Parameter count and size, file type and quantization."""
    pc = _pos(mi.get("general.parameter_count"))
    facts.parameter_count = pc if pc is not None else (tensors.params or None)
    ps = details.get("parameter_size")
    facts.parameter_size = ps if isinstance(ps, str) and ps else human_number(facts.parameter_count)
    facts.file_type = _int(mi.get("general.file_type"))
    ql = details.get("quantization_level")
    if isinstance(ql, str) and ql and ql.lower() != "unknown":
        facts.quantization = ql
    elif facts.file_type is not None:
        facts.quantization = FILE_TYPES.get(facts.file_type)


def _fill_architecture(facts: ModelFacts, get: Any, details: dict[str, object], tensors: _Tensors) -> None:
    """Context and embedding lengths, layers, heads, key/value lengths."""
    facts.context_trained = _pos(get("context_length")) or _pos(details.get("context_length"))
    facts.embedding_length = _pos(get("embedding_length")) or _pos(details.get("embedding_length"))
    facts.block_count = _pos(get("block_count"))
    facts.head_count = _int_or_list(get("attention.head_count"))
    facts.head_count_kv = _int_or_list(get("attention.head_count_kv"))
    if facts.head_count_kv is None and get("attention.head_count_kv") is None:
        facts.head_count_kv = facts.head_count
    _key_value_lengths(facts, _pos(get("attention.key_length")), _pos(get("attention.value_length")))
    _fill_from_tensor_shapes(facts, tensors.shapes)
    facts.feed_forward_length = _int_or_list(get("feed_forward_length"))


def _fill_vocabulary(facts: ModelFacts, mi: ModelInfo, get: Any, tensors: _Tensors) -> None:
    vocab = _pos(get("vocab_size"))
    toks = mi.get("tokenizer.ggml.tokens")
    if vocab is None and isinstance(toks, list) and toks:
        vocab = len(toks)
    embd = tensors.shapes.get("token_embd.weight")
    if vocab is None and embd is not None and len(embd) == 2:
        vocab = embd[1]
    facts.vocab_size = vocab
    tok = mi.get("tokenizer.ggml.model")
    facts.tokenizer_model = tok if isinstance(tok, str) else None
    ct = mi.get("tokenizer.chat_template")  # Ollama removes it from model_info; unknown then
    facts.chat_template = bool(ct) if isinstance(ct, str) else None


def _fill_layout(facts: ModelFacts, get: Any) -> None:
    """Attention layout facts read the same way from GGUF metadata and from /api/show model_info."""
    facts.sliding_window = _pos(get("attention.sliding_window"))
    facts.sliding_window_pattern = _swa_pattern(get, facts.block_count)
    facts.ssm = _ssm(get)
    facts.expert_count = _pos(get("expert_count"))
    facts.expert_used_count = _pos(get("expert_used_count"))


_PROJECTOR_PREFIXES = ("v.", "mm.", "a.")  # Ollama's inline projector tensors (llm/llama_server.go)


def _fill_weight_groups(facts: ModelFacts, named: list[tuple[str, int | None]]) -> None:
    """Per-layer weight bytes, the output layer, and projector tensors stored in the same file."""
    n = facts.block_count
    if not named or not n or n > 1 << 16 or any(nb is None for _, nb in named):
        return
    layers = [0] * n
    output = embd = projector = 0
    tied = True
    for name, nb in named:
        size = nb or 0
        parts = name.split(".")
        if parts[0] == "blk" and len(parts) > 2 and parts[1].isdigit() and int(parts[1]) < n:
            layers[int(parts[1])] += size
        elif name.startswith(_PROJECTOR_PREFIXES):
            projector += size
        elif name in ("output.weight", "output_norm.weight", "output_norm.bias", "output.bias"):
            output += size
            tied = tied and name != "output.weight"
        elif name == "token_embd.weight":
            embd = size
    facts.layer_weights_bytes = layers
    facts.output_weights_bytes = output + (embd if tied else 0)
    if projector:
        facts.projector_bytes = projector
        facts.projector_source = "projector tensors (v., mm., a.) in the model file"


# bytes per parameter of a projector by general.file_type (F32, F16, Q8_0, BF16): /api/show's
# projector_info gives the projector's parameter count and file type, not its tensors.
_PROJECTOR_BYTES_PER_PARAM: dict[int, Fraction] = {0: Fraction(4), 1: Fraction(2), 7: Fraction(34, 32), 32: Fraction(2)}


def _projector_from_info(facts: ModelFacts, info: ModelInfo) -> None:
    count = _pos(info.get("general.parameter_count"))
    ft = _int(info.get("general.file_type"))
    if count is None:
        return
    per = _PROJECTOR_BYTES_PER_PARAM.get(ft if ft is not None else 1)
    if per is None:
        return
    facts.projector_bytes = -(-count * per.numerator // per.denominator)
    type_name = FILE_TYPES.get(ft if ft is not None else 1, "F16")
    facts.projector_source = f"projector_info: {count:,} parameters x {float(per):g} bytes ({type_name})"


def _fill_from_tensor_shapes(facts: ModelFacts, shapes: dict[str, list[int]]) -> None:
    """Per-layer KV heads from ``blk.<i>.attn_k.weight`` shapes when model_info lost the array.

    ``attn_k.weight`` is [embedding_length, kv_heads x key_length] in ggml order.
    """
    if not shapes:
        return
    if facts.block_count is None:
        layers = {int(n.split(".")[1]) for n in shapes if n.startswith("blk.") and n.split(".")[1].isdigit()}
        facts.block_count = max(layers) + 1 if layers else None
    n_layers = facts.block_count if facts.block_count and facts.block_count <= 1 << 16 else None
    if facts.head_count_kv is None and facts.key_length and n_layers:
        per_layer: list[int] = []
        for i in range(n_layers):
            shape = shapes.get(f"blk.{i}.attn_k.weight")
            if shape and len(shape) == 2 and shape[1] % facts.key_length == 0:
                per_layer.append(shape[1] // facts.key_length)
            else:
                per_layer.append(0)  # no attention (e.g. a recurrent layer)
        if any(per_layer):
            facts.head_count_kv = per_layer[0] if len(set(per_layer)) == 1 else per_layer


def trained_context(base: Path | None) -> int | None:
    """The trained context of a local GGUF base, or None (a model name, or an unreadable file:
    ``inspect`` reports that; here it only costs the warning)."""
    if base is None or base.suffix.lower() != ".gguf" or not base.is_file():
        return None
    try:
        return facts_from_gguf(base).context_trained
    except ModelctlError:
        return None


def trained_context_warnings(loaded: LoadedProfile) -> list[Diagnostic]:
    """``num_ctx_above_trained`` when a profile's num_ctx exceeds its local GGUF base's trained context
    (read from the file's header here, where facts are read, not when the profile is loaded)."""
    num_ctx = loaded.profile.parameters.as_dict().get("num_ctx")
    trained = trained_context(loaded.profile.base_path()) if isinstance(num_ctx, int) else None
    if not isinstance(num_ctx, int) or trained is None or num_ctx <= trained:
        return []
    f, line, col = loaded.where("parameters.num_ctx")
    message = f"num_ctx {num_ctx} exceeds the model's trained context {trained}; Ollama will clamp it to {trained}"
    return [Diagnostic("num_ctx_above_trained", message, f, line, col, "parameters.num_ctx")]
