"""GGUF files llama.cpp can load, of any size, written in milliseconds: the header is real, the
tensor data is a sparse hole of zeros (``truncate``), so a 4 GiB model costs a few KiB of disk.

Only what the memory layout depends on is real: the architecture's keys (layers, heads, KV heads,
key/value lengths, sliding windows) and every tensor llama.cpp requires for that architecture,
with its true shape and type. The vocabulary is a list of placeholder tokens of the real size
(it sizes the logits). Nothing here is ever evaluated: the bench only creates contexts.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

F32, F16, Q4_0, Q8_0, Q4_K, Q6_K = 0, 1, 2, 8, 12, 14
_BLOCK = {F32: (1, 4), F16: (1, 2), Q4_0: (32, 18), Q8_0: (32, 34), Q4_K: (256, 144), Q6_K: (256, 210)}


@dataclass
class Layout:
    """The shape of a model: what llama.cpp's KV cache and compute graph depend on."""

    name: str
    arch: str
    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int | list[int]
    n_head_kv: int | list[int]
    head_dim: int
    vocab: int
    ctx_train: int
    window: int | None = None  # attention.sliding_window (None: not in the file)
    pattern: int | list[bool] | None = None  # attention.sliding_window_pattern
    weight_type: int = F16
    tied_output: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def heads(self) -> list[int]:
        return self.n_head if isinstance(self.n_head, list) else [self.n_head] * self.n_layer

    def kv_heads(self) -> list[int]:
        return self.n_head_kv if isinstance(self.n_head_kv, list) else [self.n_head_kv] * self.n_layer


def _s(text: str) -> bytes:
    b = text.encode()
    return struct.pack("<Q", len(b)) + b


def _kv(key: str, value: Any) -> bytes:
    if isinstance(value, bool):
        return _s(key) + struct.pack("<I?", 7, value)
    if isinstance(value, int):
        return _s(key) + struct.pack("<II", 4, value)
    if isinstance(value, float):
        return _s(key) + struct.pack("<If", 6, value)
    if isinstance(value, str):
        return _s(key) + struct.pack("<I", 8) + _s(value)
    items = list(value)
    if items and isinstance(items[0], bool):
        return _s(key) + struct.pack("<IIQ", 9, 7, len(items)) + struct.pack(f"<{len(items)}?", *items)
    if items and isinstance(items[0], str):
        return _s(key) + struct.pack("<IIQ", 9, 8, len(items)) + b"".join(_s(x) for x in items)
    return _s(key) + struct.pack("<IIQ", 9, 5, len(items)) + struct.pack(f"<{len(items)}i", *items)


def _tensors(m: Layout) -> list[tuple[str, tuple[int, ...], int]]:
    e, wt = m.n_embd, m.weight_type
    gemma = m.arch in ("gemma2", "gemma3")
    out: list[tuple[str, tuple[int, ...], int]] = [("token_embd.weight", (e, m.vocab), wt)]
    for i, (h, kv) in enumerate(zip(m.heads(), m.kv_heads(), strict=True)):
        p = f"blk.{i}."
        if kv > 0:
            out += [(p + "attn_norm.weight", (e,), F32)]
            out += [(p + "attn_q.weight", (e, h * m.head_dim), wt), (p + "attn_k.weight", (e, kv * m.head_dim), wt)]
            out += [(p + "attn_v.weight", (e, kv * m.head_dim), wt)]
            out += [(p + "attn_output.weight", (h * m.head_dim, e), wt)]
            if m.arch == "qwen2":
                out += [(p + "attn_q.bias", (h * m.head_dim,), F32), (p + "attn_k.bias", (kv * m.head_dim,), F32)]
                out += [(p + "attn_v.bias", (kv * m.head_dim,), F32)]
            if gemma:
                out += [(p + "post_attention_norm.weight", (e,), F32)]
            if m.arch == "gemma3":
                out += [(p + "attn_q_norm.weight", (m.head_dim,), F32), (p + "attn_k_norm.weight", (m.head_dim,), F32)]
        out += [(p + "ffn_norm.weight", (e,), F32), (p + "ffn_gate.weight", (e, m.n_ff), wt)]
        out += [(p + "ffn_up.weight", (e, m.n_ff), wt), (p + "ffn_down.weight", (m.n_ff, e), wt)]
        if gemma:
            out += [(p + "post_ffw_norm.weight", (e,), F32)]
    out.append(("output_norm.weight", (e,), F32))
    if not m.tied_output and not gemma:
        out.append(("output.weight", (e, m.vocab), wt))
    return out


def _metadata(m: Layout) -> list[bytes]:
    a = m.arch
    heads = m.n_head if isinstance(m.n_head, int) else list(m.n_head)
    kv_heads = m.n_head_kv if isinstance(m.n_head_kv, int) else list(m.n_head_kv)
    kvs = [
        _kv("general.architecture", a),
        _kv("general.name", m.name),
        _kv("general.file_type", {F16: 1, F32: 0, Q8_0: 7, Q4_0: 2, Q4_K: 15}[m.weight_type]),
        _kv(f"{a}.block_count", m.n_layer),
        _kv(f"{a}.context_length", m.ctx_train),
        _kv(f"{a}.embedding_length", m.n_embd),
        _kv(f"{a}.feed_forward_length", m.n_ff),
        _kv(f"{a}.attention.head_count", heads),
        _kv(f"{a}.attention.head_count_kv", kv_heads),
        _kv(f"{a}.attention.key_length", m.head_dim),
        _kv(f"{a}.attention.value_length", m.head_dim),
        _kv(f"{a}.attention.layer_norm_rms_epsilon", 1e-6),
        _kv(f"{a}.rope.freq_base", 10000.0),
        _kv(f"{a}.rope.dimension_count", m.head_dim),
    ]
    if m.window is not None:
        kvs.append(_kv(f"{a}.attention.sliding_window", m.window))
    if m.pattern is not None:
        kvs.append(_kv(f"{a}.attention.sliding_window_pattern", m.pattern))
    kvs += [_kv(k, v) for k, v in m.extra.items()]
    tokens = [f"t{i}" for i in range(m.vocab)]
    kvs += [
        _kv("tokenizer.ggml.model", "gpt2"),
        _kv("tokenizer.ggml.pre", "default"),
        _kv("tokenizer.ggml.tokens", tokens),
        _kv("tokenizer.ggml.token_type", [1] * m.vocab),
        _kv("tokenizer.ggml.merges", ["t 1"]),
        _kv("tokenizer.ggml.bos_token_id", 1),
        _kv("tokenizer.ggml.eos_token_id", 2),
    ]
    return kvs


def write_sparse_gguf(path: str | Path, m: Layout) -> Path:
    """Write ``m`` as a loadable GGUF whose tensor data is a sparse region of zeros."""
    path = Path(path)
    kvs = _metadata(m)
    infos = []
    offset = 0
    for name, shape, tid in _tensors(m):
        block, size = _BLOCK[tid]
        n = 1
        for d in shape:
            n *= d
        infos.append(_s(name) + struct.pack("<I", len(shape)) + struct.pack(f"<{len(shape)}Q", *shape))
        infos[-1] += struct.pack("<IQ", tid, offset)
        offset += -(-(n // block * size) // 32) * 32
    header = b"GGUF" + struct.pack("<IQQ", 3, len(infos), len(kvs)) + b"".join(kvs) + b"".join(infos)
    data_start = -(-len(header) // 32) * 32
    with open(path, "wb") as fh:
        fh.write(header + b"\0" * (data_start - len(header)))
        fh.truncate(data_start + offset)
    return path


def tensor_names(m: Layout) -> Sequence[str]:
    return [name for name, _, _ in _tensors(m)]
