"""Every version-dependent rule modelctl models, checked on both sides of its boundary.

Each test names the place in Ollama's source the rule was read from and the tags on either side
(Ollama's repository, ``git show vX.Y.Z:path``). The figures for the tiny llama at
0.9.3 are what a real Ollama 0.9.3 (CPU) reported for it (tests/test_live_memory.py checks them live).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelctl.memory import effective as E
from modelctl.memory.facts import ModelFacts, facts_from_gguf
from modelctl.memory.memory import Runtime, automatic_num_batch, estimate_for_facts, ollama_rule
from modelctl.ollama.hosts import HostFacts
from tests.fixtures_gguf import write_tiny_gguf, write_tiny_llama

MiB = 1 << 20


def _ctx(version: str, **facts: Any) -> E.ServerContext:
    return E.server_context(version, reachable=True, facts=HostFacts(**facts), facts_label="h")


def _res(version: str, model: E.ModelSide | None = None, **facts: Any) -> E.Resolution:
    model = model or E.ModelSide("m", {"num_ctx": 2048}, known=True, trained_context=4096, family="llama")
    return E.resolve(model, _ctx(version, **facts))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> ModelFacts:
    return facts_from_gguf(write_tiny_llama(tmp_path_factory.mktemp("v") / "tiny.gguf"))


def _est(facts: ModelFacts, version: str | None, num_ctx: int = 2048, parallel: int = 2, **kw: Any) -> Any:
    kv = kw.pop("kv_type", "f16")
    return estimate_for_facts(facts, num_ctx, kv, parallel, runtime=Runtime(ollama_version=version, **kw))


# ----------------------------------------------------------------------------- parallel slots


def test_automatic_slots_by_version() -> None:
    """server/sched.go ``defaultParallel``: 4 at v0.6.6, 2 from v0.6.7 to v0.9.6; envconfig/config.go
    ``NumParallel`` defaults to 1 from v0.10.0 (0 = automatic before)."""
    assert [_res(v).parallel for v in ("0.6.6", "0.6.7", "0.9.3", "0.9.6", "0.10.0")] == [4, 2, 2, 2, 1]
    old = _res("0.9.3").settings["parallel"]
    assert old.basis == "assumed" and "on a CPU" in old.source.text and "defaultParallel" in old.source.text


def test_num_parallel_zero_means_automatic_before_0_10() -> None:
    """v0.9.3 server/sched.go processPending: ``numParallel <= 0`` takes defaultParallel; from
    v0.10.0 ``load`` raises anything below 1 to 1."""
    assert _res("0.9.3", num_parallel=0).parallel == 2
    assert _res("0.10.0", num_parallel=0).parallel == 1
    assert _res("0.9.3", num_parallel=3).parallel == 3


# ----------------------------------------------------------------------------- the runner's context and command


def test_runner_context_is_num_ctx_times_slots_and_the_command_by_version() -> None:
    """v0.9.3 server/sched.go (``NumCtx = origNumCtx * numParallel``) and llm/server.go NewLlamaServer
    (``--ctx-size``, ``--batch-size``, ``--parallel``); v0.30.0 llm/llama_server.go (``-c``, ``-np``)."""
    old = E.runner_args(_res("0.24.0"))
    assert old["argv"] == ["ollama runner", "--ctx-size", "2048", "--batch-size", "512", "--parallel", "1"]
    at_093 = E.runner_args(_res("0.9.3"))
    assert at_093["argv"] == ["ollama runner", "--ctx-size", "4096", "--batch-size", "512", "--parallel", "2"]
    assert (
        _res("0.9.3").settings["runner_context"].source.text.endswith("ollama runner --ctx-size (one share per slot)")
    )
    new = E.runner_args(_res("0.30.0", num_parallel=2))
    assert new["argv"][:5] == ["llama-server", "-c", "4096", "-np", "2"] and "--flash-attn" in new["argv"]


# ----------------------------------------------------------------------------- flash attention and the KV type


def test_flash_attention_default_by_version(tiny: ModelFacts) -> None:
    """envconfig/config.go ``FlashAttention`` is false by default and v0.11.7's fs/ggml/ggml.go has no
    ``FlashAttention()``; v0.11.8 adds it (gpt-oss first): the default becomes per architecture."""
    off = _res("0.11.7").settings["flash_attention"]
    assert off.value is False and "OLLAMA_FLASH_ATTENTION=1" in off.source.text
    assert _res("0.11.8").settings["flash_attention"].value is None  # decided per model
    assert _est(tiny, "0.11.7").flash_attention is False
    gptoss = ModelFacts(**{**tiny.__dict__, "architecture": "gptoss"})
    assert _est(gptoss, "0.11.7").flash_attention is False
    assert _est(gptoss, "0.11.8").flash_attention is True
    assert "auto" in _res("0.30.0").settings["flash_attention"].source.text


def test_quantized_kv_without_flash_attention_by_version(tiny: ModelFacts) -> None:
    """v0.9.3 llm/server.go NewLlamaServer: ``--kv-cache-type`` only with ``--flash-attn`` (else f16, a
    warning); v0.30.0 passes ``--cache-type-k/v`` on whatever flash attention is."""
    old = E.runner_args(_res("0.9.3", kv_cache_type="q8_0"))
    assert "--kv-cache-type" not in old["argv"] and old["kv_cache_type"] == "f16"
    on = E.runner_args(_res("0.9.3", kv_cache_type="q8_0", flash_attention=True))
    assert on["argv"][5:] == ["--flash-attn", "--kv-cache-type", "q8_0", "--parallel", "2"]
    new = E.runner_args(_res("0.30.0", kv_cache_type="q8_0", flash_attention=False))
    assert new["argv"][new["argv"].index("--cache-type-k") + 1] == "q8_0"
    assert _est(tiny, "0.9.3", kv_type="q8_0").kv_type == "f16"


# ----------------------------------------------------------------------------- the cache layout and the batch


def test_unified_cache_before_0_11_5(tiny: ModelFacts) -> None:
    """v0.11.4's llama/llama.cpp/src/llama-kv-cache.cpp has no cache streams (one cache of
    PAD(n_ctx, 32), ``get_padding``); v0.11.5's llama-kv-cache-unified.cpp has ``n_stream``. With one
    cache and flash attention off, the attention scores span every slot's cells: the compute buffer
    grows with the slots (0.9.3 logged 40.51 MiB at 2 slots)."""
    old1, old2 = _est(tiny, "0.11.4", parallel=1), _est(tiny, "0.11.4", parallel=2)
    assert old2.layout.unified and old2.to_dict()["context_cells"] == 4096 and old2.kv_cache_bytes == 1 * MiB
    assert old2.compute_bytes > 1.9 * old1.compute_bytes
    assert abs(old2.compute_bytes / MiB - 40.51) < 0.02 * 40.51
    assert _est(tiny, "0.11.4", num_ctx=1000, parallel=1).layout.unified_cells == 1024  # padded to 32
    new1, new2 = _est(tiny, "0.11.5", parallel=1), _est(tiny, "0.11.5", parallel=2)
    assert not new2.layout.unified and new2.compute_bytes == new1.compute_bytes


def test_the_runner_asks_for_num_batch_times_slots_before_0_30(tiny: ModelFacts) -> None:
    """v0.24.0 runner/llamarunner/runner.go: ``NewContextParams(kvSize, s.batchSize*s.parallel, ...)``
    and llama.cpp's micro-batch default 512 (0.9.3 logged n_batch 1024, n_ubatch 512 at 2 slots);
    v0.30.0 starts llama-server with ``-b`` and ``-ub`` both num_batch."""
    old = _est(tiny, "0.24.0", n_batch=512).layout
    assert (old.n_batch, old.n_ubatch) == (1024, 512)
    new = _est(tiny, "0.30.0", n_batch=512).layout
    assert (new.n_batch, new.n_ubatch) == (512, 512)


def test_automatic_num_batch_one_rule_for_explain_and_estimate(tiny: ModelFacts) -> None:
    """v0.24.0 has no automatic batch (api/types.go DefaultOptions 512); v0.30.0 server/sched.go
    ``automaticGenerationBatch``: 1024 above a 4096-token runner context, 2048 above 32768. explain
    (the resolver) and estimate take it from modelctl.memory.memory.automatic_num_batch."""
    assert automatic_num_batch("0.24.0", 8192) == (512, False)
    assert automatic_num_batch("0.30.0", 8192) == (1024, True)
    assert automatic_num_batch("0.30.0", 40000) == (2048, True)
    assert automatic_num_batch("0.30.0", 4096) == (512, False)
    for version in ("0.24.0", "0.32.15"):
        model = E.ModelSide("m", {"num_ctx": 8192}, known=True, trained_context=131072)
        explained = E.resolve(model, _ctx(version, num_parallel=1)).options["num_batch"].value
        big = ModelFacts(**{**tiny.__dict__, "context_trained": 131072})
        estimated = _est(big, version, num_ctx=8192, parallel=1).to_dict()["n_batch"]
        assert explained == estimated == (512 if version == "0.24.0" else 1024)


def test_embedding_batch_from_0_30() -> None:
    """llm/llama_server.go DefaultEmbeddingNumBatch arrives in v0.30.0 (absent in v0.24.0)."""
    embed = E.ModelSide("e", known=True, capabilities=("embedding",), trained_context=8192)
    assert E.resolve(embed, _ctx("0.24.0")).options["num_batch"].value == 512
    assert E.resolve(embed, _ctx("0.30.0")).options["num_batch"].value == 2048


# ----------------------------------------------------------------------------- Ollama's own estimate


def test_ollama_estimate_until_0_12_11(tiny: ModelFacts) -> None:
    """llm/memory.go EstimateGPULayers exists at v0.12.10 and is gone at v0.12.11 (commit f560bd077).
    At 0.9.3 the tiny llama at num_ctx 2048 (2 slots) was logged as memory.required.full 42.2 MiB,
    kv 1.0 MiB, graph.full 40.5 MiB, weights.total 177.8 KiB; /api/ps size 44298496."""
    fig = _est(tiny, "0.9.3").ollama_figure
    assert fig is not None and fig.total_bytes == 44298496
    assert fig.kv_bytes == 1 * MiB and fig.graph_full_bytes == 42469376 and fig.context == 4096
    assert round((fig.weights_bytes) / 1024, 1) == 177.8
    assert _est(tiny, "0.12.10").ollama_figure is not None
    later = _est(tiny, "0.12.11")
    assert later.ollama_figure is None and later.to_dict()["ollama"]["total_bytes"] is None
    assert "0.12.11" in later.to_dict()["ollama"]["why_none"]
    assert _est(tiny, None).to_dict()["ollama"]["total_bytes"] is None


def test_ollama_estimate_of_a_larger_model(tmp_path: Path) -> None:
    """The 8-layer, 32,000-token model at 0.9.3: /api/ps size 123491328, llama.cpp's KV 16.00 MiB
    and compute buffer 74.01 MiB (as logged by the real server)."""
    facts = facts_from_gguf(write_tiny_gguf(tmp_path / "mid.gguf", block_count=8, embedding_length=256,
                                            feed_forward_length=512, head_count=8, head_count_kv=4,
                                            vocab_size=32000))  # fmt: skip
    est = _est(facts, "0.9.3")
    assert est.ollama_total_bytes == 123491328
    assert est.kv_cache_bytes == 16 * MiB and abs(est.compute_bytes / MiB - 74.01) < 0.02 * 74.01
    assert est.output_bytes == 32000 * 2 * 4


# ----------------------------------------------------------------------------- defaults, bounds, reloads


def test_default_context_names_the_version_mechanism() -> None:
    """envconfig/config.go ``ContextLength`` defaults to 4096 at v0.15.4 and to 0 (the VRAM tiers of
    server/routes.go Serve) at v0.15.5."""
    old = E.default_num_ctx(_ctx("0.9.3"))
    assert old.value == 4096 and "OLLAMA_CONTEXT_LENGTH's default 4096" in old.source.text
    assert "VRAM" not in old.source.text.split(";")[0]
    assert "23 GiB" in E.default_num_ctx(_ctx("0.15.5")).source.text


def test_num_predict_bound_by_version() -> None:
    """v0.24.0 llm/server.go Completion: 10 x the runner's NumCtx (num_ctx x slots); v0.30.0
    llm/llama_server.go boundedNumPredict: 10 x num_ctx (NumCtx is per slot there)."""
    assert _res("0.9.3").options["num_predict"].value == 10 * 4096
    assert _res("0.30.0", num_parallel=2).options["num_predict"].value == 10 * 2048


def test_reload_rules_and_automatic_options_by_version() -> None:
    """v0.24.0 server/sched.go needsReload: DeepEqual of the Runner options (num_ctx per slot), no
    automatic values, no ``shift``; v0.30.0 adds both (usesAutomaticNumCtx, the request's shift)."""
    old, new = E.reload_rules("0.24.0"), E.reload_rules("0.30.0")
    assert not any("shift" in r for r in old) and any("shift" in r for r in new)
    assert not any("automatic" in r for r in old) and "draft_num_predict" not in old[-1]
    assert _res("0.24.0").auto == frozenset()
    assert {"num_batch", "use_mmap"} <= _res("0.30.0").auto
    assert "llm/server.go NewLlamaServer" in str(_res("0.24.0").options["use_mmap"].note)
    assert "applyLlamaServerMmapDefaults" in str(_res("0.30.0").options["use_mmap"].note)
    assert ollama_rule("0.24.0").runner_command == "ollama runner --ctx-size"


def test_ps_context_length_from_0_10() -> None:
    """api/types.go ProcessModelResponse has no ContextLength at v0.9.6; v0.10.0 adds it
    (server/routes.go PsHandler: NumCtx / numParallel)."""
    assert not E.ps_reports_context("0.9.6")
    assert E.ps_reports_context("0.10.0") and E.ps_reports_context(None)
