"""Tiny GGUF models written in the tests with the ``gguf`` package (never downloaded).

Plain functions (usable from any test or bench script):

* :func:`write_tiny_llama` - a complete 64-wide, 2-layer llama (a few hundred KB) with every
  key llama.cpp requires and a 260-token byte-fallback vocabulary; F32, F16 or Q8_0 tensors.
* :func:`write_tiny_gguf` - the same for other shapes: per-layer KV-head arrays, key/value
  lengths that differ from embedding/heads (gemma-like), sliding windows, extra keys.
* :func:`write_tiny_lora` - a LoRA adapter for the tiny llama (a real Ollama loads it).
* :func:`write_big_header_gguf` - a Llama-3-8B-like header (128,256 tokens with their types,
  280,147 merges, 291 tensor infos) over a sparse data region, written with ``struct`` for
  speed; the bench and the tests share it.

Fixtures: ``tiny_llama`` (a path), ``gguf_factory`` (a callable writing into tmp_path).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from gguf import GGUFWriter

F32, F16, Q8_0 = "F32", "F16", "Q8_0"
_FILE_TYPE_FOR = {F32: 0, F16: 1, Q8_0: 7}

TINY_VOCAB = 260


def tiny_vocab(size: int = TINY_VOCAB) -> tuple[list[str], list[float], list[int]]:
    """A SentencePiece-style byte-fallback vocabulary: 3 specials, 256 bytes, one piece, then (for
    ``size`` over 260) normal pieces "\u2581t<N>" up to ``size`` tokens."""
    extra = [f"\u2581t{i}" for i in range(max(size - TINY_VOCAB, 0))]
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + ["\u2581"] + extra
    scores = [0.0] * 3 + [0.0] * 256 + [-1.0] + [-2.0 - i for i in range(len(extra))]
    types = [2, 3, 3] + [6] * 256 + [1] + [1] * len(extra)  # UNKNOWN, CONTROL, CONTROL, BYTE..., NORMAL
    assert len(tokens) == max(size, TINY_VOCAB)
    return tokens, scores, types


def write_tiny_gguf(
    path: str | Path,
    *,
    arch: str = "llama",
    name: str = "tiny-llama",
    context_length: int = 4096,
    embedding_length: int = 64,
    block_count: int = 2,
    feed_forward_length: int = 128,
    head_count: int | Sequence[int] = 4,
    head_count_kv: int | Sequence[int] | None = 2,
    key_length: int | None = None,
    value_length: int | None = None,
    tensor_type: str = F16,
    file_type: int | None = None,
    chat_template: str | None = "{% for m in messages %}{{ m['content'] }}{% endfor %}",
    sliding_window: int | None = None,
    sliding_window_pattern: Sequence[bool] | None = None,
    extra_kv: dict[str, Any] | None = None,
    seed: int = 0,
    vocab_size: int = TINY_VOCAB,
) -> Path:
    """Write a small but complete model of the given shape and return its path (``vocab_size``:
    at least 260 tokens, see :func:`tiny_vocab`)."""
    from gguf import GGUFWriter

    path = Path(path)
    heads = _per_layer(head_count, block_count)
    kv_heads = heads if head_count_kv is None else _per_layer(head_count_kv, block_count)
    k_len = key_length or embedding_length // max(heads)
    v_len = value_length or embedding_length // max(heads)

    w = GGUFWriter(str(path), arch)
    w.add_name(name)
    w.add_uint32(f"{arch}.context_length", context_length)
    w.add_uint32(f"{arch}.embedding_length", embedding_length)
    w.add_uint32(f"{arch}.block_count", block_count)
    w.add_uint32(f"{arch}.feed_forward_length", feed_forward_length)
    _add_attention_kv(w, arch, head_count, head_count_kv, key_length, value_length)
    w.add_float32(f"{arch}.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_float32(f"{arch}.rope.freq_base", 10000.0)
    w.add_uint32(f"{arch}.rope.dimension_count", k_len)
    if sliding_window is not None:
        w.add_uint32(f"{arch}.attention.sliding_window", sliding_window)
    if sliding_window_pattern is not None:
        w.add_array(f"{arch}.attention.sliding_window_pattern", [bool(x) for x in sliding_window_pattern])
    w.add_uint32("general.file_type", file_type if file_type is not None else _FILE_TYPE_FOR[tensor_type])
    w.add_uint32("general.quantization_version", 2)
    _add_tokenizer_kv(w, chat_template, vocab_size)
    _add_extra_kv(w, extra_kv or {})

    tensors = _TinyTensors(w, tensor_type, seed)
    n_vocab = max(vocab_size, TINY_VOCAB)
    tensors.matrix("token_embd.weight", n_vocab, embedding_length)
    for i in range(block_count):
        _add_block_tensors(tensors, i, embedding_length, feed_forward_length, heads[i], kv_heads[i], k_len, v_len)
    tensors.vector("output_norm.weight", embedding_length)
    tensors.matrix("output.weight", n_vocab, embedding_length)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _per_layer(value: int | Sequence[int], n_layers: int) -> list[int]:
    """A head count as one number per layer."""
    return list(value) if not isinstance(value, int) else [value] * n_layers


def _add_uint32_or_array(w: GGUFWriter, key: str, value: int | Sequence[int]) -> None:
    if isinstance(value, int):
        w.add_uint32(key, value)
    else:
        w.add_array(key, [int(x) for x in value])


def _add_attention_kv(
    w: GGUFWriter,
    arch: str,
    head_count: int | Sequence[int],
    head_count_kv: int | Sequence[int] | None,
    key_length: int | None,
    value_length: int | None,
) -> None:
    """Head counts (one number, or an array per layer) and the optional key/value lengths."""
    _add_uint32_or_array(w, f"{arch}.attention.head_count", head_count)
    if head_count_kv is not None:
        _add_uint32_or_array(w, f"{arch}.attention.head_count_kv", head_count_kv)
    if key_length is not None:
        w.add_uint32(f"{arch}.attention.key_length", key_length)
    if value_length is not None:
        w.add_uint32(f"{arch}.attention.value_length", value_length)


def _add_tokenizer_kv(w: GGUFWriter, chat_template: str | None, vocab_size: int = TINY_VOCAB) -> None:
    """The byte-fallback vocabulary, its special tokens and the chat template (if any)."""
    tokens, scores, types = tiny_vocab(vocab_size)
    w.add_string("tokenizer.ggml.model", "llama")
    w.add_array("tokenizer.ggml.tokens", tokens)
    w.add_array("tokenizer.ggml.scores", scores)
    w.add_array("tokenizer.ggml.token_type", types)
    w.add_uint32("tokenizer.ggml.bos_token_id", 1)
    w.add_uint32("tokenizer.ggml.eos_token_id", 2)
    w.add_uint32("tokenizer.ggml.unknown_token_id", 0)
    if chat_template:
        w.add_string("tokenizer.chat_template", chat_template)


def _add_extra_kv(w: GGUFWriter, extra_kv: dict[str, Any]) -> None:
    """Extra keys, typed by their Python value: bool, uint32, float32, string, else an array."""
    for key, value in extra_kv.items():
        if isinstance(value, bool):
            w.add_bool(key, value)
        elif isinstance(value, int):
            w.add_uint32(key, value)
        elif isinstance(value, float):
            w.add_float32(key, value)
        elif isinstance(value, str):
            w.add_string(key, value)
        else:
            w.add_array(key, list(value))


class _TinyTensors:
    """Adds tensors to a writer: seeded random matrices in the model's tensor type, F32 norm vectors."""

    def __init__(self, w: GGUFWriter, tensor_type: str, seed: int) -> None:
        import numpy as np
        from gguf import GGMLQuantizationType

        self.w = w
        self.rng = np.random.default_rng(seed)
        self.qtype = {
            F32: GGMLQuantizationType.F32,
            F16: GGMLQuantizationType.F16,
            Q8_0: GGMLQuantizationType.Q8_0,
        }[tensor_type]

    def matrix(self, tname: str, rows: int, cols: int) -> None:
        import numpy as np
        from gguf import GGMLQuantizationType
        from gguf.quants import quantize

        # numpy shape (rows, cols) is ggml [cols, rows]: cols is the contiguous dimension.
        data = (self.rng.standard_normal((rows, cols)) * 0.02).astype(np.float32)
        if self.qtype == GGMLQuantizationType.F32:
            self.w.add_tensor(tname, data)
        elif self.qtype == GGMLQuantizationType.F16:
            self.w.add_tensor(tname, data.astype(np.float16))
        else:
            self.w.add_tensor(tname, quantize(data, self.qtype), raw_dtype=self.qtype)

    def vector(self, tname: str, n: int) -> None:
        import numpy as np

        self.w.add_tensor(tname, np.ones(n, dtype=np.float32))  # norms stay F32, as llama.cpp writes them


def _add_block_tensors(
    t: _TinyTensors, i: int, embedding: int, feed_forward: int, heads: int, kv_heads: int, k_len: int, v_len: int
) -> None:
    """Block ``i``: attention (left out when it has no heads) and a SwiGLU feed-forward, each after its norm."""
    t.vector(f"blk.{i}.attn_norm.weight", embedding)
    if heads > 0 and kv_heads > 0:
        t.matrix(f"blk.{i}.attn_q.weight", heads * k_len, embedding)
        t.matrix(f"blk.{i}.attn_k.weight", kv_heads * k_len, embedding)
        t.matrix(f"blk.{i}.attn_v.weight", kv_heads * v_len, embedding)
        t.matrix(f"blk.{i}.attn_output.weight", embedding, heads * v_len)
    t.vector(f"blk.{i}.ffn_norm.weight", embedding)
    t.matrix(f"blk.{i}.ffn_gate.weight", feed_forward, embedding)
    t.matrix(f"blk.{i}.ffn_up.weight", feed_forward, embedding)
    t.matrix(f"blk.{i}.ffn_down.weight", embedding, feed_forward)


def write_tiny_llama(
    path: str | Path,
    *,
    context_length: int = 4096,
    file_type: int | None = None,
    tensor_type: str = F16,
    name: str = "tiny-llama",
    chat_template: str | None = "{% for m in messages %}{{ m['content'] }}{% endfor %}",
    **kw: Any,
) -> Path:
    """A 64-wide, 2-layer llama with GQA (4 heads, 2 KV heads, head dim 16); a few hundred KB."""
    return write_tiny_gguf(
        path,
        arch="llama",
        name=name,
        context_length=context_length,
        tensor_type=tensor_type,
        file_type=file_type,
        chat_template=chat_template,
        **kw,
    )


def write_tiny_lora(path: str | Path, *, rank: int = 4, seed: int = 0) -> Path:
    """A LoRA adapter for :func:`write_tiny_llama` (``general.type`` adapter, ``adapter.type`` lora):
    ``lora_a``/``lora_b`` for each layer's ``attn_q``. Ollama 0.9.3 stores it as an adapter layer
    (server/create.go: the GGUF's kind) and its runner loads it."""
    import numpy as np
    from gguf import GGUFWriter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w = GGUFWriter(str(path), "llama")
    w.add_string("general.type", "adapter")
    w.add_string("adapter.type", "lora")
    w.add_float32("adapter.lora.alpha", float(rank))
    for i in range(2):  # numpy (rows, cols) is ggml [cols, rows]: lora_a [64, rank], lora_b [rank, 64]
        w.add_tensor(f"blk.{i}.attn_q.weight.lora_a", (rng.standard_normal((rank, 64)) * 0.01).astype(np.float32))
        w.add_tensor(f"blk.{i}.attn_q.weight.lora_b", (rng.standard_normal((64, rank)) * 0.01).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def tiny_llama_expected(tensor_type: str = F16) -> dict[str, Any]:
    """Hand-computed facts of the default tiny llama (for asserting against)."""
    e, ff, v, L = 64, 128, TINY_VOCAB, 2  # noqa: N806
    q, k = 4 * 16, 2 * 16
    per_layer_mat = q * e + k * e + k * e + e * q + 3 * ff * e
    mats = 2 * v * e + L * per_layer_mat
    vecs = (2 * L + 1) * e
    bytes_per = {F32: 4.0, F16: 2.0, Q8_0: 34 / 32}[tensor_type]
    return {
        "parameter_count": mats + vecs,
        "weights_bytes": int(mats * bytes_per) + vecs * 4,
        "tensor_count": 2 + 1 + L * 9,
    }


# ------------------------------------------------------------------------------------------
# a real-sized header, written fast with struct (the gguf writer packs 400K strings slowly)


def _s(text: str | bytes) -> bytes:
    b = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(b)) + b


def _kv_u32(key: str, v: int) -> bytes:
    return _s(key) + struct.pack("<II", 4, v)


def _kv_f32(key: str, v: float) -> bytes:
    return _s(key) + struct.pack("<If", 6, v)


def _kv_str(key: str, v: str) -> bytes:
    return _s(key) + struct.pack("<I", 8) + _s(v)


def _kv_str_array(key: str, items: Sequence[bytes]) -> bytes:
    parts = [_s(key), struct.pack("<IIQ", 9, 8, len(items))]
    pack = struct.Struct("<Q").pack
    parts.extend(pack(len(b)) + b for b in items)
    return b"".join(parts)


def _kv_num_array(key: str, item_type: int, fmt: str, values: Sequence[Any]) -> bytes:
    head = _s(key) + struct.pack("<IIQ", 9, item_type, len(values))
    return head + struct.pack(f"<{len(values)}{fmt}", *values)


LLAMA3_8B = {
    "vocab": 128256,
    "merges": 280147,
    "block_count": 32,
    "embedding_length": 4096,
    "feed_forward_length": 14336,
    "head_count": 32,
    "head_count_kv": 8,
    "context_length": 8192,
}


def llama3_8b_tensors() -> list[tuple[str, tuple[int, ...], int]]:
    """(name, ggml shape, ggml type id) of a Q4_K_M Llama-3-8B: 291 tensors."""
    Q4_K, Q6_K, F32_ID = 12, 14, 0  # noqa: N806
    e, ff, v = LLAMA3_8B["embedding_length"], LLAMA3_8B["feed_forward_length"], LLAMA3_8B["vocab"]
    kv = LLAMA3_8B["head_count_kv"] * 128
    out: list[tuple[str, tuple[int, ...], int]] = [("token_embd.weight", (e, v), Q4_K)]
    for i in range(LLAMA3_8B["block_count"]):
        wide = Q6_K if i % 2 == 0 else Q4_K  # Q4_K_M keeps some attn_v / ffn_down at Q6_K
        out += [
            (f"blk.{i}.attn_norm.weight", (e,), F32_ID),
            (f"blk.{i}.attn_q.weight", (e, e), Q4_K),
            (f"blk.{i}.attn_k.weight", (e, kv), Q4_K),
            (f"blk.{i}.attn_v.weight", (e, kv), wide),
            (f"blk.{i}.attn_output.weight", (e, e), Q4_K),
            (f"blk.{i}.ffn_norm.weight", (e,), F32_ID),
            (f"blk.{i}.ffn_gate.weight", (e, ff), Q4_K),
            (f"blk.{i}.ffn_up.weight", (e, ff), Q4_K),
            (f"blk.{i}.ffn_down.weight", (ff, e), wide),
        ]
    out += [("output_norm.weight", (e,), F32_ID), ("output.weight", (e, v), Q6_K)]
    return out


_BLOCKS = {0: (1, 4), 12: (256, 144), 14: (256, 210)}


def write_big_header_gguf(
    path: str | Path,
    *,
    data_size: int | None = None,
    vocab: int = LLAMA3_8B["vocab"],
    merges: int = LLAMA3_8B["merges"],
    tensors: list[tuple[str, tuple[int, ...], int]] | None = None,
    total_size: int | None = None,
) -> Path:
    """A Llama-3-8B-like GGUF: full-size vocabulary, merges and tensor infos, sparse data.

    The data region is not written: the file is extended with ``truncate`` (a sparse file), to
    the size the tensor infos need, or to ``total_size`` if given (which must be larger).
    """
    path = Path(path)
    tensors = llama3_8b_tensors() if tensors is None else tensors
    toks = [f"tok{i}".encode() if i % 7 else f"\u0120word{i}".encode() for i in range(vocab)]
    merge_items = [f"\u0120a{i} b{i % 1000}".encode() for i in range(merges)]
    kvs = [
        _kv_str("general.architecture", "llama"),
        _kv_str("general.name", "Llama-3-8B header replica"),
        _kv_u32("general.file_type", 15),
        _kv_u32("general.quantization_version", 2),
        _kv_u32("llama.block_count", LLAMA3_8B["block_count"]),
        _kv_u32("llama.context_length", LLAMA3_8B["context_length"]),
        _kv_u32("llama.embedding_length", LLAMA3_8B["embedding_length"]),
        _kv_u32("llama.feed_forward_length", LLAMA3_8B["feed_forward_length"]),
        _kv_u32("llama.attention.head_count", LLAMA3_8B["head_count"]),
        _kv_u32("llama.attention.head_count_kv", LLAMA3_8B["head_count_kv"]),
        _kv_f32("llama.rope.freq_base", 500000.0),
        _kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-5),
        _kv_u32("llama.rope.dimension_count", 128),
        _kv_u32("llama.vocab_size", vocab),
        _kv_str("tokenizer.ggml.model", "gpt2"),
        _kv_str("tokenizer.ggml.pre", "llama-bpe"),
        _kv_str_array("tokenizer.ggml.tokens", toks),
        _kv_num_array("tokenizer.ggml.token_type", 5, "i", [1 if i < vocab - 256 else 3 for i in range(vocab)]),
        _kv_str_array("tokenizer.ggml.merges", merge_items),
        _kv_u32("tokenizer.ggml.bos_token_id", 128000),
        _kv_u32("tokenizer.ggml.eos_token_id", 128009),
        _kv_str(
            "tokenizer.chat_template",
            "{% for m in messages %}<|start_header_id|>{{ m.role }}"
            "<|end_header_id|>\n\n{{ m.content }}<|eot_id|>{% endfor %}" * 20,
        ),
    ]
    infos = []
    offset = 0
    for name, shape, tid in tensors:
        block, size = _BLOCKS[tid]
        n = 1
        for d in shape:
            n *= d
        infos.append(
            _s(name)
            + struct.pack("<I", len(shape))
            + struct.pack(f"<{len(shape)}Q", *shape)
            + struct.pack("<IQ", tid, offset)
        )
        offset += -(-(n // block * size) // 32) * 32
    header = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs) + b"".join(infos)
    data_start = -(-len(header) // 32) * 32
    need = data_start + (data_size if data_size is not None else offset)
    size = max(need, total_size or 0)
    with open(path, "wb") as fh:
        fh.write(header)
        fh.write(b"\0" * (data_start - len(header)))
        fh.truncate(size)
    return path


# ------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture
def tiny_llama(tmp_path: Path) -> Path:
    """A tiny F16 llama GGUF (trained context 4096)."""
    return write_tiny_llama(tmp_path / "tiny-llama.gguf")


@pytest.fixture
def gguf_factory(tmp_path: Path) -> Callable[..., Path]:
    """``gguf_factory("name.gguf", **write_tiny_gguf kwargs)`` -> a path under tmp_path."""
    counter = {"n": 0}

    def make(filename: str | None = None, **kw: Any) -> Path:
        counter["n"] += 1
        return write_tiny_gguf(tmp_path / (filename or f"model{counter['n']}.gguf"), **kw)

    return make
