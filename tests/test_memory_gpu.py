"""--gpu-memory: fits / does not fit / how many layers, by the rule of the Ollama version modelled.

The model below is small and round: 4 layers of 100 MiB of weights, an output layer of 50 MiB,
8 KV heads x (128 + 128) f16 = 4096 bytes per cell per layer (16 MiB per layer at 4096
cells), and a compute buffer of 86.5 MiB with flash attention on (logits 32000 x 512 x 4 =
62.5 MiB + 3 x (4096 x 512 x 4) = 24 MiB). So one placement unit is 116 MiB at num_ctx 4096
and the whole model on a GPU is 86.5 + 4 x 116 + 50 = 600.5 MiB.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from modelctl.cli import cli
from modelctl.errors import InvalidInput
from modelctl.memory.facts import ModelFacts
from modelctl.memory.memory import MiB, Runtime, estimate_for_facts
from modelctl.memory.offload import Gpu, max_num_ctx_on_gpu, place
from tests.fixtures_double import run_cli
from tests.fixtures_gguf import write_tiny_llama
from tests.ollama_double import OllamaDouble

FULL = 86.5 + 4 * 116 + 50  # MiB


def small(**kw: Any) -> ModelFacts:
    base: dict[str, Any] = dict(
        name="small", architecture="llama", block_count=4, head_count=32, head_count_kv=8, embedding_length=4096,
        key_length=128, value_length=128, key_value_length_source="metadata", feed_forward_length=4096,
        vocab_size=32000, context_trained=32768, layer_weights_bytes=[100 * MiB] * 4, output_weights_bytes=50 * MiB,
        weights_bytes=480 * MiB,
    )  # fmt: skip
    base.update(kw)
    return ModelFacts(**base)


def est_at(facts: ModelFacts, num_ctx: int = 4096, version: str | None = None) -> Any:
    return estimate_for_facts(facts, num_ctx, runtime=Runtime(flash_attention=True, ollama_version=version))


def test_the_shape_is_what_the_module_docstring_says() -> None:
    e = est_at(small())
    assert e.compute_bytes == 86.5 * MiB and e.layer_kv_bytes == [16 * MiB] * 4


def test_current_ollama_keeps_llama_servers_1024_mib_fit_margin() -> None:
    f = small()
    e = est_at(f)
    full = place(f, e, Gpu(2048 * MiB))  # 600.5 + 1024 <= 2048
    assert full.fits and full.answer == "fits" and full.rule == "ollama>=0.30"
    assert (full.layers_on_gpu, full.layers_total, full.gpu_bytes) == (5, 5, FULL * MiB)
    assert full.host_bytes == e.total_bytes - FULL * MiB
    # 1536 MiB: 512 MiB for the model; the output layer and one block go, 86.5 + 3 x 116 = 434.5 stays
    part = place(f, e, Gpu(1536 * MiB))
    assert not part.fits and part.answer == "partial offload"
    assert (part.layers_on_gpu, part.gpu_bytes) == (3, (86.5 + 3 * 116) * MiB)
    none = place(f, e, Gpu(1100 * MiB))  # 76 MiB after the margin: not even the compute buffer
    assert (none.layers_on_gpu, none.gpu_bytes, none.answer) == (0, 0, "does not fit")


def test_a_projector_raises_the_fit_target() -> None:
    f = small(projector_bytes=200 * MiB, projector_source="projector_info")
    e = est_at(f)
    p = place(f, e, Gpu(2048 * MiB))  # margin 200 + 1024, plus the projector itself: 624 MiB left
    assert p.fits and p.kept_free_bytes == 1224 * MiB and p.gpu_bytes == (FULL + 200) * MiB
    assert not place(f, e, Gpu(2000 * MiB)).fits


def test_ollama_before_030_keeps_its_minimum_and_one_buffer_layer() -> None:
    f = small()
    e = est_at(f, version="0.12.6")
    p = place(f, e, Gpu(1536 * MiB))
    # reserves: 457 MiB minimum + one 116 MiB buffer layer (+ OLLAMA_GPU_OVERHEAD 0) and the graph
    assert p.rule == "ollama<0.30" and p.fits and p.kept_free_bytes == (457 + 116) * MiB
    assert (p.layers_on_gpu, p.gpu_bytes) == (5, FULL * MiB)
    # 1024 MiB: layers go while 573 + 86.5 + used + 116 < 1024: three of them
    assert place(f, e, Gpu(1024 * MiB)).layers_on_gpu == 3
    # Metal keeps 512 MiB: two layers
    assert place(f, e, Gpu(1024 * MiB, backend="metal")).layers_on_gpu == 2
    # OLLAMA_GPU_OVERHEAD 100 MiB: two layers
    assert place(f, e, Gpu(1024 * MiB, overhead_bytes=100 * MiB)).layers_on_gpu == 2
    # too little for graph + minimum + buffer + one layer: none
    assert place(f, e, Gpu(700 * MiB)).answer == "does not fit"


def test_num_gpu_is_honoured() -> None:
    f = small()
    new = place(f, est_at(f), Gpu(8192 * MiB), num_gpu=2)  # -ngl 2: exactly two layers, no margin
    assert (new.layers_on_gpu, new.gpu_bytes, new.kept_free_bytes) == (2, (86.5 + 2 * 116) * MiB, 0)
    assert not new.fits and new.answer == "partial offload"
    old = place(f, est_at(f, version="0.12.6"), Gpu(8192 * MiB), num_gpu=2)
    assert old.layers_on_gpu == 2
    cpu = place(f, est_at(f), Gpu(8192 * MiB), num_gpu=0)
    assert cpu.layers_on_gpu == 0 and cpu.answer == "CPU only (num_gpu 0)"
    too_many = place(f, est_at(f), Gpu(256 * MiB), num_gpu=99)
    assert too_many.layers_on_gpu == 5 and any("would fail" in n for n in too_many.notes)


def test_largest_num_ctx_on_the_gpu_is_exact() -> None:
    f = small()

    def at(n: int) -> Any:
        return est_at(f, n)

    # 512 MiB after the margin: 86.5 + 450 = 536.5 already at 512 cells; only a 256-cell context
    # fits, whose micro-batch (and so compute buffer) is halved: 43.25 + 450 + 4 x 1 MiB
    assert max_num_ctx_on_gpu(f, at, Gpu(1536 * MiB), None, 32768) == 256
    # ... 1600 MiB leaves 576: 4 x 4096 B per cell into 39.5 MiB -> 2528 cells -> 2304 (256-cell steps)
    assert max_num_ctx_on_gpu(f, at, Gpu(1600 * MiB), None, 32768) == 2304


def test_without_per_layer_weights_they_are_split_evenly() -> None:
    f = small(layer_weights_bytes=None, output_weights_bytes=None, weights_bytes=500 * MiB)
    p = place(f, est_at(f), Gpu(4096 * MiB))
    assert p.fits and p.gpu_bytes == (86.5 + 5 * 100 + 4 * 16) * MiB
    assert any("split evenly" in n for n in p.notes)


def test_bad_gpu_inputs_are_clear_errors() -> None:
    f = small()
    with pytest.raises(InvalidInput, match="positive"):
        place(f, est_at(f), Gpu(0))
    with pytest.raises(InvalidInput, match="backend"):
        place(f, est_at(f), Gpu(MiB, backend="tpu"))


def test_cli_gpu_answer_in_text_and_json(tmp_path: Path) -> None:
    path = write_tiny_llama(tmp_path / "t.gguf")
    r = CliRunner().invoke(cli, ["estimate", str(path), "--gpu-memory", "2GiB"])
    assert r.exit_code == 0, r.output
    assert "by the rule of current Ollama (0.30 or later" in r.output and "fits: 3 of 3 layers" in r.output
    r = CliRunner().invoke(cli, ["estimate", str(path), "--gpu-memory", "1GiB", "--format", "json"])
    gpu = json.loads(r.output)["data"]["gpu"]
    assert gpu["answer"] == "does not fit" and gpu["max_num_ctx"] is None  # the 1 GiB margin eats it all
    r = CliRunner().invoke(cli, ["estimate", str(path), "--gpu-memory", "lots"])
    assert r.exit_code == 1 and "--gpu-memory" in r.output and "Traceback" not in r.output


def test_cli_profile_num_gpu_and_num_batch(tmp_path: Path) -> None:
    write_tiny_llama(tmp_path / "t.gguf")
    p = tmp_path / "p.yaml"
    p.write_text("from: ./t.gguf\nparameters:\n  num_ctx: 2048\n  num_gpu: 1\n  num_batch: 128\n", encoding="utf-8")
    r = CliRunner().invoke(cli, ["estimate", str(p), "--gpu-memory", "4GiB", "--format", "json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)["data"]
    assert d["gpu"]["num_gpu"] == 1 and d["gpu"]["layers_on_gpu"] == 1
    assert (d["estimate"]["n_batch"], d["estimate"]["n_ubatch"]) == (128, 128)


def test_end_to_end_against_an_ollama_0_12_server(ollama_double: OllamaDouble) -> None:
    """The double reports version 0.12.6: the estimate follows Ollama's pre-0.30 estimator."""
    ollama_double.install("llama3.2:3b")
    r = run_cli("estimate", "llama3.2:3b", "--num-ctx", "8192", "--gpu-memory", "4GiB", host=ollama_double.url)
    assert r.returncode == 0, r.stderr
    assert "by the rule of Ollama 0.12.6 (before 0.30" in r.stdout
    assert "457 MiB per-GPU minimum (cuda)" in r.stdout
    assert "flash attention off (Ollama's default)" in r.stdout
