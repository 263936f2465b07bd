"""The KV cache as llama.cpp lays it out under Ollama, for small GGUFs of each layout.

Every expected figure is worked out here by hand from llama.cpp's rules (docs/memory.md):

- llama_context: n_ctx = PAD(num_ctx x P, 256); n_ctx_seq = PAD(n_ctx / P, 256) cells per slot;
- llama_kv_cache: one stream per slot (llama-server with -np is not unified);
- llama_kv_cache_iswa: sliding layers keep PAD(min(n_ctx_seq, window + n_ubatch), 256) per slot;
- gemma2 without attention.sliding_window: window 4096; gemma3 every 6th layer global;
- flash attention off: V at the widest layer's width in every layer, attention-free ones too.

The same layouts were loaded in llama.cpp itself (bench/bench_memory_llamacpp.py), whose log
reported these cell counts and sizes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelctl.memory.facts import ModelFacts, facts_from_gguf
from modelctl.memory.memory import MiB, Runtime, cells_per_layer, estimate_for_facts
from tests.fixtures_gguf import write_tiny_gguf

F16 = 2


def at(facts: ModelFacts, num_ctx: int, parallel: int = 1, kv: str = "f16", **runtime: Any) -> Any:
    est = estimate_for_facts(facts, num_ctx, kv, parallel, runtime=Runtime(**runtime))
    assert est.layout is not None
    return est, cells_per_layer(est.plan, est.layout)


def test_llama_gqa_pads_the_context_to_256_per_slot(tmp_path: Path) -> None:
    # 2 layers, 4 heads of 16, 2 KV heads: K and V rows of 2 x 16 = 32 elements per layer
    f = facts_from_gguf(write_tiny_gguf(tmp_path / "l.gguf", context_length=32768))
    est, cells = at(f, 5000)
    assert cells == [5120, 5120]  # 5000 -> 5120
    assert est.layer_kv_bytes == [5120 * (32 + 32) * F16] * 2
    assert est.kv_cache_bytes == 2 * 5120 * 64 * F16
    # three slots of 1000: -c 3000 -> 3072 cells -> 1024 per slot, one stream each
    est3, cells3 = at(f, 1000, parallel=3)
    assert cells3 == [1024, 1024]
    assert est3.kv_cache_bytes == 2 * 3 * 1024 * 64 * F16
    # a multiple of 256 is left alone
    assert at(f, 4096)[1] == [4096, 4096]


def test_qwen2_slots_and_quantized_blocks(tmp_path: Path) -> None:
    # 128 wide, 4 heads of 32, 2 KV heads: 64-element K and V rows
    path = write_tiny_gguf(tmp_path / "q.gguf", arch="qwen2", embedding_length=128, head_count=4, head_count_kv=2)
    f = facts_from_gguf(path)
    est, cells = at(f, 3000, parallel=2)  # -c 6000 -> 6144 -> 3072 per slot
    assert cells == [3072, 3072]
    assert est.kv_cache_bytes == 2 * 2 * 3072 * (64 + 64) * F16
    q8, _ = at(f, 3000, parallel=2, kv="q8_0")  # 64-element rows: two 34-byte blocks each
    assert q8.kv_cache_bytes == 2 * 2 * 3072 * 2 * (2 * 34)
    q4, _ = at(f, 3000, parallel=2, kv="q4_0")
    assert q4.kv_cache_bytes == 2 * 2 * 3072 * 2 * (2 * 18)


def _gemma2(tmp_path: Path, window: int | None) -> ModelFacts:
    return facts_from_gguf(
        write_tiny_gguf(
            tmp_path / f"g2-{window}.gguf",
            arch="gemma2",
            block_count=4,
            head_count=4,
            head_count_kv=2,
            key_length=32,
            value_length=32,
            sliding_window=window,
            context_length=8192,
        )
    )


def test_gemma2_with_a_window_keeps_window_plus_ubatch_per_slot(tmp_path: Path) -> None:
    f = _gemma2(tmp_path, 256)
    # the stated key/value length (32), not embedding_length / head_count (64 / 4 = 16)
    assert (f.key_length, f.value_length, f.key_value_length_source) == (32, 32, "metadata")
    row = 2 * (32 + 32)  # K + V elements per cell per layer
    # layers 0 and 2 slide (every 2nd is global); 2 slots of 2000: 2048 cells per slot
    est, cells = at(f, 2000, parallel=2)
    assert cells == [768, 2048, 768, 2048]  # PAD(min(2048, 256 + 512)) = 768
    assert est.layer_kv_bytes == [2 * 768 * row * F16, 2 * 2048 * row * F16] * 2
    # a smaller micro-batch shrinks the sliding cache: PAD(256 + 128) = 512
    assert at(f, 2000, parallel=2, n_ubatch=128)[1] == [512, 2048, 512, 2048]
    # a short context is held whole: 300 -> 512 cells, below window + n_ubatch
    assert at(f, 300)[1] == [512, 512, 512, 512]


def test_gemma2_without_a_window_gets_4096(tmp_path: Path) -> None:
    f = _gemma2(tmp_path, None)
    assert f.sliding_window is None  # the file does not say; llama.cpp assumes 4096
    est, cells = at(f, 8192)
    assert cells == [4608, 8192, 4608, 8192]  # PAD(min(8192, 4096 + 512))
    assert est.kv_cache_bytes == (2 * 4608 + 2 * 8192) * 2 * 64 * F16
    assert est.plan.sliding_window == 4096 and est.plan.window_assumed
    assert any("assumes 4096" in a for a in est.assumptions)


def test_gemma3_period_of_six(tmp_path: Path) -> None:
    path = write_tiny_gguf(
        tmp_path / "g3.gguf",
        arch="gemma3",
        block_count=8,
        head_count=4,
        head_count_kv=2,
        key_length=32,
        value_length=32,
        sliding_window=512,
        context_length=32768,
    )
    f = facts_from_gguf(path)
    est, cells = at(f, 4096, parallel=4)  # layer 5 is global: i % 6 < 5 slides
    assert cells == [1024, 1024, 1024, 1024, 1024, 4096, 1024, 1024]  # PAD(512 + 512) = 1024
    assert est.kv_cache_bytes == 4 * (7 * 1024 + 4096) * 128 * F16
    # without a window gemma3 does not slide at all
    plain = facts_from_gguf(write_tiny_gguf(tmp_path / "g3n.gguf", arch="gemma3", block_count=8))
    assert at(plain, 4096)[1] == [4096] * 8


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ([True, False, True, True, False, True], [768, 2048, 768, 768, 2048, 768]),
        (3, [768, 768, 2048, 768, 768, 2048]),  # a period in the file: i % 3 < 2 slides
    ],
)
def test_gemma3_pattern_from_the_file(tmp_path: Path, pattern: Any, expected: list[int]) -> None:
    extra = {"gemma3.attention.sliding_window_pattern": pattern} if isinstance(pattern, int) else None
    path = write_tiny_gguf(
        tmp_path / "g3p.gguf",
        arch="gemma3",
        block_count=6,
        sliding_window=256,
        sliding_window_pattern=pattern if isinstance(pattern, list) else None,
        extra_kv=extra,
        context_length=8192,
    )
    est, cells = at(facts_from_gguf(path), 2048)
    assert cells == expected  # sliding: PAD(min(2048, 256 + 512)) = 768
    assert est.kv_cache_bytes == sum(expected) * 64 * F16


def _deci(tmp_path: Path) -> ModelFacts:
    # per-layer KV heads 1, 4, 0, 2 (head length 16); layer 2 has no attention at all
    path = write_tiny_gguf(
        tmp_path / "d.gguf", arch="deci", block_count=4, head_count=[4, 4, 0, 4], head_count_kv=[1, 4, 0, 2]
    )
    return facts_from_gguf(path)


def test_per_layer_kv_heads_with_an_attention_free_layer(tmp_path: Path) -> None:
    f = _deci(tmp_path)
    on, cells = at(f, 1000, flash_attention=True)
    assert cells == [1024] * 4  # every layer has a KV slot, the attention-free one included
    assert on.layer_kv_bytes == [1024 * 2 * w * F16 for w in (16, 64, 0, 32)]
    off, _ = at(f, 1000, flash_attention=False)
    # V transposed at the widest width, 4 x 16 = 64, in every layer; K keeps its own width
    assert off.layer_kv_bytes == [1024 * (k + 64) * F16 for k in (16, 64, 0, 32)]
    assert off.kv_cache_bytes - on.kv_cache_bytes == 1024 * (48 + 0 + 64 + 32) * F16
    assert off.compute_bytes > on.compute_bytes


def test_quantized_kv_without_flash_attention_is_counted_as_f16(tmp_path: Path) -> None:
    f = facts_from_gguf(write_tiny_gguf(tmp_path / "l.gguf"))
    est, _ = at(f, 2048, kv="q8_0", flash_attention=False)
    assert (est.kv_type, est.kv_type_requested) == ("f16", "q8_0")
    assert est.kv_cache_bytes == 2 * 2048 * 64 * F16
    assert any("needs flash attention" in a for a in est.assumptions)


def test_ollama_before_030_runs_llama_without_flash_attention(tmp_path: Path) -> None:
    f = facts_from_gguf(write_tiny_gguf(tmp_path / "l.gguf"))
    old, _ = at(f, 2048, kv="q8_0", ollama_version="0.12.6")
    assert not old.flash_attention and old.kv_type == "f16" and old.rule.name == "ollama<0.30"
    new, _ = at(f, 2048, kv="q8_0", ollama_version="0.33.0")
    assert new.flash_attention and new.kv_type == "q8_0" and new.rule.name == "ollama>=0.30"
    g3 = facts_from_gguf(write_tiny_gguf(tmp_path / "g3.gguf", arch="gemma3", key_length=16, value_length=16))
    assert at(g3, 2048, ollama_version="0.12.6")[0].flash_attention  # on Ollama's list


# --------------------------------------------------------------------------------------------
# the compute buffer against llama.cpp's measured CPU buffers (docs/memory.md)


def _model(**kw: Any) -> ModelFacts:
    return ModelFacts(name="m", key_value_length_source="metadata", weights_bytes=1, **kw)


LLAMA_31_8B = dict(
    architecture="llama", block_count=32, head_count=32, head_count_kv=8, embedding_length=4096, key_length=128,
    value_length=128, feed_forward_length=14336, vocab_size=128256, context_trained=131072,
)  # fmt: skip
QWEN_25_7B = dict(
    architecture="qwen2", block_count=28, head_count=28, head_count_kv=4, embedding_length=3584, key_length=128,
    value_length=128, feed_forward_length=18944, vocab_size=152064, context_trained=32768,
)  # fmt: skip


@pytest.mark.parametrize(
    ("shape", "num_ctx", "flash", "measured_mib"),
    [
        (LLAMA_31_8B, 8192, True, 266.5),
        (LLAMA_31_8B, 8192, False, 572.0),
        (QWEN_25_7B, 32768, True, 311.0),
        (QWEN_25_7B, 32768, False, 1893.0),
    ],
)
def test_compute_buffer_within_25_percent_of_llama_cpp(
    shape: dict[str, Any], num_ctx: int, flash: bool, measured_mib: float
) -> None:
    est = estimate_for_facts(_model(**shape), num_ctx, runtime=Runtime(flash_attention=flash))
    ratio = est.compute_bytes / MiB / measured_mib
    assert 0.75 <= ratio <= 1.25, ratio
    # and it does not grow with the number of slots (each stream sees T / P of the tokens)
    four = estimate_for_facts(_model(**shape), num_ctx, parallel=4, runtime=Runtime(flash_attention=flash))
    assert four.compute_bytes == est.compute_bytes


def test_compute_buffer_scales_with_the_micro_batch() -> None:
    small = estimate_for_facts(_model(**LLAMA_31_8B), 8192, runtime=Runtime(n_batch=256))
    big = estimate_for_facts(_model(**LLAMA_31_8B), 8192, runtime=Runtime(n_batch=1024))
    assert 2 * small.compute_bytes == estimate_for_facts(_model(**LLAMA_31_8B), 8192).compute_bytes
    assert big.compute_bytes == 4 * small.compute_bytes
