"""Memory estimate: the KV formula on hand-computed shapes, the budget search, sizes, the command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from modelctl.cli import cli
from modelctl.common.units import parse_size
from modelctl.errors import InvalidInput
from modelctl.memory.facts import ModelFacts, facts_from_gguf
from modelctl.memory.memory import (
    DEFAULT_OVERHEAD_BYTES,
    GiB,
    MiB,
    context_sizes,
    estimate_for_facts,
    estimate_table,
    kv_cache_bytes,
    max_num_ctx_for_budget,
    plan_layers,
)
from tests.fixtures_gguf import write_big_header_gguf, write_tiny_gguf, write_tiny_llama

WEIGHTS_8B = 4_912_898_048


def llama3_8b(**kw: Any) -> ModelFacts:
    base: dict[str, Any] = dict(
        name="llama3-8b",
        architecture="llama",
        block_count=32,
        head_count=32,
        head_count_kv=8,
        embedding_length=4096,
        key_length=128,
        value_length=128,
        key_value_length_source="metadata",
        weights_bytes=WEIGHTS_8B,
        context_trained=131072,
        vocab_size=128256,
        feed_forward_length=14336,
    )
    base.update(kw)
    return ModelFacts(**base)


# llama.cpp's buffers for this shape with Ollama's batch of 512 (docs/memory.md): the compute
# buffer with flash attention on is the logits of 512 tokens plus three 512 x 4096 f32 rows
# (quantized KV adds one more), the output buffer one logits row per slot.
E_8B = 4096 * 512 * 4
COMPUTE_8B = 128256 * 512 * 4 + 3 * E_8B  # 274.5 MiB
OUTPUT_8B = 128256 * 4


# --------------------------------------------------------------------------------------------
# hand-computed KV cache


def test_llama3_8b_kv_cache_by_hand() -> None:
    f = llama3_8b()
    plan = plan_layers(f)
    assert plan.full_elements_per_token == 32 * 8 * (128 + 128)
    est = estimate_for_facts(f, 8192, "f16")
    assert est.kv_bytes_per_token == 128 * 1024  # 128 KiB per token
    assert est.kv_cache_bytes == 1 * GiB
    assert estimate_for_facts(f, 8192, "q8_0").kv_cache_bytes == 0.53125 * GiB  # 34/32 bytes, not 1
    assert estimate_for_facts(f, 8192, "q4_0").kv_cache_bytes == 0.28125 * GiB  # 18/32 bytes, not 0.5
    assert estimate_for_facts(f, 8192, "f32").kv_cache_bytes == 2 * GiB
    assert estimate_for_facts(f, 8192, "f16", parallel=4).kv_cache_bytes == 4 * GiB
    assert est.compute_bytes == COMPUTE_8B and est.output_bytes == OUTPUT_8B
    assert est.total_bytes == WEIGHTS_8B + GiB + COMPUTE_8B + OUTPUT_8B
    assert est.overhead_bytes == DEFAULT_OVERHEAD_BYTES == 0


def test_doubling_num_ctx_for_8b_f16_vs_q8_0() -> None:
    f = llama3_8b()
    f16 = [estimate_for_facts(f, n, "f16").kv_cache_bytes for n in (8192, 16384)]
    q8 = [estimate_for_facts(f, n, "q8_0").kv_cache_bytes for n in (8192, 16384)]
    assert f16[1] - f16[0] == GiB
    assert q8[1] - q8[0] == 544 * MiB  # 0.53125 GiB


def test_llama3_8b_from_a_real_sized_header(tmp_path: Path) -> None:
    f = facts_from_gguf(write_big_header_gguf(tmp_path / "big.gguf"))
    est = estimate_for_facts(f, 8192)
    assert est.kv_cache_bytes == GiB
    assert est.weights_bytes == WEIGHTS_8B
    assert est.context_trained == 8192 and not est.exceeds_trained
    assert estimate_for_facts(f, 16384).exceeds_trained


def test_tiny_llama_kv(tiny_llama: Path) -> None:
    f = facts_from_gguf(tiny_llama)
    est = estimate_for_facts(f, 4096, "f16")
    assert est.kv_bytes_per_token == 2 * 2 * (16 + 16) * 2
    assert est.kv_cache_bytes == 4096 * 256
    assert est.weights_bytes == f.weights_bytes


def test_num_ctx_above_trained_counts_the_capped_context(tiny_llama: Path) -> None:
    f = facts_from_gguf(tiny_llama)  # trained on 4096 tokens
    est = estimate_for_facts(f, 8192, "f16", parallel=2)
    assert est.exceeds_trained and est.effective_num_ctx == 4096
    assert est.kv_cache_bytes == 2 * 4096 * 256  # what the runner allocates, not 8192 tokens' worth
    d = est.to_dict()
    assert (d["num_ctx"], d["effective_num_ctx"], d["context_cells"]) == (8192, 4096, 8192)


def test_per_layer_kv_heads(tmp_path: Path) -> None:
    f = facts_from_gguf(write_tiny_gguf(tmp_path / "p.gguf", block_count=4, head_count=4, head_count_kv=[1, 2, 4, 2]))
    plan = plan_layers(f)
    assert plan.full_elements_per_token == (1 + 2 + 4 + 2) * (16 + 16)
    assert kv_cache_bytes(plan, 1000, "f16") == 1024 * 9 * 32 * 2  # 1000 cells padded to 1024


def test_sliding_window_pattern_from_the_file(tmp_path: Path) -> None:
    f = facts_from_gguf(
        write_tiny_gguf(tmp_path / "s.gguf", block_count=2, sliding_window=64, sliding_window_pattern=[True, False])
    )
    plan = plan_layers(f)
    assert (plan.full_layers, plan.swa_layers) == (1, 1)
    # one stream per slot: the sliding layer keeps PAD(64 + 512, 256) = 768 cells in each
    assert kv_cache_bytes(plan, 2048, "f16", parallel=2) == (2 * 2048 * 64 + 2 * 768 * 64) * 2


def test_sliding_window_period_from_the_file(tmp_path: Path) -> None:
    f = facts_from_gguf(
        write_tiny_gguf(
            tmp_path / "s.gguf",
            block_count=8,
            sliding_window=64,
            extra_kv={"llama.attention.sliding_window_pattern": 4},
        )
    )
    assert f.sliding_window_pattern == [True, True, True, False] * 2
    plan = plan_layers(f)
    assert (plan.full_layers, plan.swa_layers) == (2, 6)


def test_unknown_sliding_layout_is_counted_at_full_context(tmp_path: Path) -> None:
    f = facts_from_gguf(write_tiny_gguf(tmp_path / "s.gguf", arch="mistral", sliding_window=64))
    plan = plan_layers(f)
    assert plan.swa_layers == 0 and plan.full_layers == 2
    assert any("upper bound" in a for a in plan.assumptions)


def test_recurrent_and_cacheless_layers(tmp_path: Path) -> None:
    ssm = {
        "jamba.ssm.conv_kernel": 4,
        "jamba.ssm.state_size": 16,
        "jamba.ssm.inner_size": 128,
        "jamba.ssm.group_count": 1,
    }
    f = facts_from_gguf(
        write_tiny_gguf(
            tmp_path / "j.gguf",
            arch="jamba",
            block_count=3,
            head_count=[0, 4, 0],
            head_count_kv=[0, 2, 0],
            extra_kv=ssm,
        )
    )
    plan = plan_layers(f)
    assert (plan.full_layers, plan.recurrent_layers) == (1, 2)
    per_seq = 3 * (128 + 2 * 1 * 16) + 16 * 128
    assert plan.recurrent_elements_per_sequence == 2 * per_seq
    est = estimate_for_facts(f, 1024, "q8_0", parallel=3)
    assert est.recurrent_state_bytes == 3 * 2 * per_seq * 4  # f32, per slot, independent of num_ctx
    assert est.kv_cache_bytes == 3 * 1024 * 2 * 32 * 34 // 32
    f2 = facts_from_gguf(write_tiny_gguf(tmp_path / "n.gguf", block_count=2, head_count=[4, 0], head_count_kv=[2, 0]))
    plan2 = plan_layers(f2)
    assert (plan2.full_layers, plan2.cacheless_layers, plan2.recurrent_layers) == (1, 1, 0)


def test_missing_shape_facts_are_clear_errors() -> None:
    with pytest.raises(InvalidInput, match="block_count"):
        plan_layers(ModelFacts(name="x"))
    with pytest.raises(InvalidInput, match="implausible"):
        plan_layers(ModelFacts(name="x", block_count=1 << 40, head_count=4))
    with pytest.raises(InvalidInput, match="head counts"):
        plan_layers(ModelFacts(name="x", block_count=2))
    with pytest.raises(InvalidInput, match="3 entries"):
        plan_layers(ModelFacts(name="x", block_count=2, head_count=4, head_count_kv=[1, 2, 3]))
    with pytest.raises(InvalidInput, match="weights"):
        estimate_for_facts(llama3_8b(weights_bytes=None), 100)
    with pytest.raises(InvalidInput, match="KV cache type"):
        estimate_for_facts(llama3_8b(), 100, "q5_1")


# --------------------------------------------------------------------------------------------
# budget search


def test_budget_exact_for_8b() -> None:
    f = llama3_8b()
    fixed = WEIGHTS_8B + COMPUTE_8B + OUTPUT_8B
    r = max_num_ctx_for_budget(f, fixed + GiB, "f16")
    assert r.num_ctx == 8192 and r.limited_by == "budget"
    # q8_0: 68 KiB per cell, one more E in the compute buffer; whole 256-cell steps
    r8 = max_num_ctx_for_budget(f, fixed + GiB, "q8_0")
    assert r8.num_ctx == (GiB - E_8B) // (65536 * 34 // 32) // 256 * 256 == 15104
    assert r8.next_total_bytes is not None and r8.next_total_bytes > fixed + GiB
    # two slots: twice the cells, and a second row of logits in the output buffer
    r2 = max_num_ctx_for_budget(f, fixed + GiB, "f16", parallel=2)
    assert r2.num_ctx == (GiB - OUTPUT_8B) // (2 * 131072) // 256 * 256 == 3840


def test_budget_capped_by_trained_and_nothing_fits() -> None:
    f = llama3_8b(context_trained=8192)
    r = max_num_ctx_for_budget(f, 100 * GiB)
    assert r.num_ctx == 8192 and r.limited_by == "trained context"
    none = max_num_ctx_for_budget(f, GiB)
    assert none.num_ctx is None and not none.fits and none.limited_by == "nothing fits"


@given(
    budget=st.integers(min_value=0, max_value=64 * GiB),
    kv=st.sampled_from(["f16", "q8_0", "q4_0"]),
    parallel=st.integers(1, 4),
    window=st.sampled_from([None, 4096]),
)
def test_budget_search_is_the_exact_maximum(budget: int, kv: str, parallel: int, window: int | None) -> None:
    f = llama3_8b(architecture="gemma2" if window else "llama", sliding_window=window)
    r = max_num_ctx_for_budget(f, budget, kv, parallel)

    def total(n: int) -> int:
        return estimate_for_facts(f, n, kv, parallel).total_bytes

    if r.num_ctx is None:
        assert total(1) > budget
    else:
        assert total(r.num_ctx) <= budget
        assert r.num_ctx == 131072 or total(r.num_ctx + 1) > budget


# --------------------------------------------------------------------------------------------
# sizes and tables


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12GiB", 12 * GiB),
        ("12G", 12 * GiB),
        ("12g", 12 * GiB),
        ("12000MiB", 12000 * MiB),
        ("8e9", 8 * 10**9),
        ("16GB", 16 * 10**9),
        ("1.5GiB", 3 * GiB // 2),
        ("512", 512),
        ("64 KiB", 64 * 1024),
        ("1TiB", 1 << 40),
        ("500M", 500 * MiB),
        ("2.5e3MB", 2500 * 10**6),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "12 parsecs", "-1G", "0", "12GiB!", "1e", "G"])
def test_parse_size_errors(text: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_size(text)
    assert exc.value.field == "--budget"


def test_context_sizes() -> None:
    assert context_sizes(8192) == [2048, 4096, 8192]
    assert context_sizes(131072) == [2048, 4096, 8192, 16384, 32768, 65536, 131072]
    assert context_sizes(10000) == [2048, 4096, 8192, 10000]
    assert context_sizes(1024) == [1024]
    assert context_sizes(8192, extra=3000) == [2048, 3000, 4096, 8192]
    assert context_sizes(None)[-1] == 131072


def test_table_rows() -> None:
    rows = estimate_table(llama3_8b(), [2048, 8192])
    assert rows[1]["num_ctx"] == 8192
    assert rows[1]["f16"]["kv_cache_bytes"] == GiB
    assert rows[1]["q8_0"]["kv_cache_bytes"] == 17 * GiB // 32
    assert rows[1]["q4_0"]["total_bytes"] == WEIGHTS_8B + COMPUTE_8B + E_8B + OUTPUT_8B + 9 * GiB // 32


# --------------------------------------------------------------------------------------------
# the command


def run(*args: str, **kw: Any) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kw)


def test_estimate_gguf_json(tiny_llama: Path) -> None:
    r = run(
        "estimate", str(tiny_llama), "--num-ctx", "2048", "--kv-cache", "q8_0", "--parallel", "2", "--format", "json"
    )
    assert r.exit_code == 0, r.output
    env = json.loads(r.output)
    est = env["data"]["estimate"]
    assert (est["num_ctx"], est["kv_type"], est["parallel"]) == (2048, "q8_0", 2)
    assert est["kv_cache_bytes"] == 2 * 2048 * 128 * 34 // 32
    assert env["data"]["target"]["kind"] == "gguf"
    assert env["data"]["model"]["context_length"]["trained"] == 4096


# The tiny llama (64 wide, 2 layers of 2 KV heads x (16 + 16), 260 tokens, FFN 128) at n cells
# and batch 512: its compute buffer is the flash-attention phase, f16 masks (n x 512 x 2) plus
# 5 x (64 x 512 x 4), once n passes 448 cells; the output buffer is 260 x 4 bytes.
def tiny_total(weights: int, cells: int) -> int:
    return weights + cells * 256 + cells * 512 * 2 + 5 * 64 * 512 * 4 + 260 * 4


def test_estimate_budget_and_table_text(tiny_llama: Path) -> None:
    facts = facts_from_gguf(tiny_llama)
    w = facts.weights_bytes or 0
    r = run("estimate", str(tiny_llama), "--budget", str(tiny_total(w, 4096)), "--table")
    assert r.exit_code == 0, r.output
    assert "largest num_ctx that fits: 4,096" in r.output  # capped by the trained 4096
    assert "f16 KV" in r.output and "q8_0 KV" in r.output
    assert " GB" not in r.output
    # 1000 tokens are 1024 cells; 1025 would be 1280
    r2 = run("estimate", str(tiny_llama), "--budget", str(tiny_total(w, 1024)), "--format", "json")
    budget = json.loads(r2.output)["data"]["budget"]
    assert budget["num_ctx"] == 1024
    assert budget["next_total_bytes"] == tiny_total(w, 1280)


def test_estimate_budget_that_nothing_fits(tiny_llama: Path) -> None:
    r = CliRunner().invoke(cli, ["estimate", str(tiny_llama), "--budget", "64KiB"])
    assert r.exit_code == 1
    assert "does not fit in 64.00 KiB" in r.output


def test_estimate_bad_budget_is_a_clear_error(tiny_llama: Path) -> None:
    r = CliRunner().invoke(cli, ["estimate", str(tiny_llama), "--budget", "twelve"])
    assert r.exit_code == 1
    assert "error: --budget: cannot read 'twelve' as a size" in r.output
    assert "Traceback" not in r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--ollama-version", "banana"), "--ollama-version: 'banana' is not an Ollama version"),
        (("--parallel", "300"), "--parallel: parallel must be between 1 and 256"),
        (("--gpu-memory", "0"), "--gpu-memory"),
        (("--gpu-memory", "8GiB", "--gpu-overhead", "-1G"), "--gpu-overhead"),
    ],
)
def test_estimate_bad_options_are_one_clear_line(tiny_llama: Path, args: tuple[str, ...], message: str) -> None:
    r = CliRunner().invoke(cli, ["estimate", str(tiny_llama), *args])
    assert r.exit_code == 1, r.output
    assert message in r.output and "Traceback" not in r.output
    assert len([line for line in r.output.splitlines() if line.startswith("error:")]) == 1


def test_estimate_overhead_option_and_set_only_for_profiles(tiny_llama: Path) -> None:
    def est(*extra: str) -> dict[str, Any]:
        r = run("estimate", str(tiny_llama), "--num-ctx", "1000", "--format", "json", *extra)
        return dict(json.loads(r.output)["data"]["estimate"])

    plain, padded = est(), est("--overhead", "1MiB")
    assert plain["overhead_bytes"] == 0 and padded["overhead_bytes"] == MiB
    assert padded["total_bytes"] == plain["total_bytes"] + MiB
    assert plain["total_bytes"] == tiny_total(facts_from_gguf(tiny_llama).weights_bytes or 0, 1024)
    r2 = CliRunner().invoke(cli, ["estimate", str(tiny_llama), "--set", "num_ctx=5"])
    assert r2.exit_code == 1 and "--set applies to a PROFILE" in r2.output


def test_estimate_num_ctx_above_trained_warns(tiny_llama: Path) -> None:
    r = run("estimate", str(tiny_llama), "--num-ctx", "8192", "--format", "json")
    env = json.loads(r.output)
    assert env["warnings"][0]["code"] == "num_ctx_above_trained"
    assert env["data"]["estimate"]["exceeds_trained"] is True


def _profile(tmp_path: Path, num_ctx: int | None) -> Path:
    write_tiny_llama(tmp_path / "tiny.gguf", context_length=4096)
    params = f"parameters:\n  num_ctx: {num_ctx}\n" if num_ctx else ""
    p = tmp_path / "prof.yaml"
    p.write_text(f"name: tiny-chef\nfrom: ./tiny.gguf\n{params}", encoding="utf-8")
    return p


def test_estimate_profile_uses_its_from_and_num_ctx(tmp_path: Path) -> None:
    p = _profile(tmp_path, 2048)
    r = run("estimate", str(p), "--format", "json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)["data"]
    assert d["target"]["kind"] == "profile" and d["target"]["base"] == "gguf"
    assert d["estimate"]["num_ctx"] == 2048
    assert d["estimate"]["kv_cache_bytes"] == 2048 * 256
    assert d["model"]["name"] == "tiny-chef"
    assert d["model"]["context_length"] == {"trained": 4096, "configured": 2048, "runtime": None}
    r2 = run("estimate", str(p), "--num-ctx", "1024", "--format", "json")
    assert json.loads(r2.output)["data"]["estimate"]["num_ctx"] == 1024


def test_estimate_profile_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _profile(tmp_path, 1024)
    monkeypatch.setenv("MODELCTL_PROFILES", str(tmp_path))
    r = run("estimate", "prof", "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["data"]["estimate"]["num_ctx"] == 1024


def test_estimate_profile_without_num_ctx_uses_documented_default(tmp_path: Path) -> None:
    r = run("estimate", str(_profile(tmp_path, None)), "--format", "json")
    est = json.loads(r.output)["data"]["estimate"]
    assert est["num_ctx"] == 4096
    assert "num_ctx not set" in est["assumptions"][0]


def test_estimate_server_model_follows_the_servers_version() -> None:
    """An Ollama 0.12.6 server: its estimator's rules, so flash attention is off for llama."""
    from tests.test_gguf_show import SHOW_LLAMA, TAGS_LLAMA

    host = "http://ollama.test:11434"
    with respx.mock(base_url=host, assert_all_called=True) as mock:
        mock.post("/api/show").mock(return_value=httpx.Response(200, json=SHOW_LLAMA))
        mock.get("/api/tags").mock(return_value=httpx.Response(200, json={"models": [TAGS_LLAMA]}))
        mock.get("/api/version").mock(return_value=httpx.Response(200, json={"version": "0.12.6"}))
        r = run("estimate", "chef", "--host", host, "--format", "json", "--budget", "8GiB")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)["data"]
    assert d["target"]["kind"] == "server" and d["target"]["server_version"] == "0.12.6"
    est = d["estimate"]
    assert est["num_ctx"] == 16384  # the model's own num_ctx from /api/show parameters
    assert est["ollama"]["rule"] == "ollama<0.30" and est["flash_attention"] is False
    assert est["kv_cache_bytes"] == 2 * GiB
    # flash attention off: the scores, 32 heads x 16384 cells x 512 tokens x 4, and the f32 mask
    assert est["compute_bytes"] == 32 * 16384 * 512 * 4 + 16384 * 512 * 4 + 11 * E_8B // 2
    assert d["model"]["host"] == host
    # per cell: 128 KiB of cache and 33 x 512 x 4 of scores and mask
    cells = (8 * GiB - WEIGHTS_8B - 11 * E_8B // 2 - OUTPUT_8B) // (131072 + 33 * 2048)
    assert d["budget"]["num_ctx"] == cells // 256 * 256


def test_estimate_server_without_a_version_uses_the_current_rules() -> None:
    from tests.test_gguf_show import SHOW_LLAMA, TAGS_LLAMA

    host = "http://ollama.test:11434"
    with respx.mock(base_url=host) as mock:
        mock.post("/api/show").mock(return_value=httpx.Response(200, json=SHOW_LLAMA))
        mock.get("/api/tags").mock(return_value=httpx.Response(200, json={"models": [TAGS_LLAMA]}))
        mock.get("/api/version").mock(return_value=httpx.Response(500, text="no"))
        r = run("estimate", "chef", "--host", host, "--format", "json")
    assert r.exit_code == 0, r.output
    est = json.loads(r.output)["data"]["estimate"]
    assert est["ollama"]["rule"] == "ollama>=0.30" and est["flash_attention"] is True
    assert est["compute_bytes"] == COMPUTE_8B


def test_estimate_server_unreachable_exit_4() -> None:
    with respx.mock(base_url="http://ollama.test:11434") as mock:
        mock.post("/api/show").mock(side_effect=httpx.ConnectError("refused"))
        r = CliRunner().invoke(cli, ["estimate", "chef", "--host", "http://ollama.test:11434"])
    assert r.exit_code == 4, r.output
    assert "Traceback" not in r.output


# --------------------------------------------------------------------------------------------
# the docs state the formula and their worked numbers are the code's


def test_docs_state_the_formula_and_the_worked_numbers(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    memory = (root / "docs" / "memory.md").read_text(encoding="utf-8")
    concepts = (root / "docs" / "concepts.md").read_text(encoding="utf-8")
    for needle in ("34/32", "18/32", "PAD(min(n_ctx_seq, window + n_ubatch), 256)", "n_embd_v_gqa_max()", "12G"):
        assert needle in memory, needle
    for figure in ("266.5 MiB", "572 MiB", "311 MiB", "1,893 MiB", "457 MiB", "512 MiB", "1024 MiB", "binary"):
        assert figure in memory, figure
    f = llama3_8b()
    assert f"{max_num_ctx_for_budget(f, 12 * GiB).num_ctx:,}" in memory  # 56,725
    assert f"{max_num_ctx_for_budget(f, 12 * GiB, 'q8_0').num_ctx:,}" in memory
    assert f"{max_num_ctx_for_budget(f, 8 * GiB).num_ctx:,}" in memory
    big = facts_from_gguf(write_big_header_gguf(tmp_path / "llama3-8b.gguf"))
    r = run("inspect", str(tmp_path / "llama3-8b.gguf"))
    for line in r.output.splitlines()[2:]:  # after model/file lines (the path differs)
        assert line in concepts, line
    assert f"{estimate_for_facts(big, 8192).total_bytes:,} bytes" in memory
    for word in ("Architecture", "Parameters", "Weights", "LoRA", "Context length", "Embedding length", "Quantization"):
        assert f"## {word}" in concepts or word in concepts


def test_estimate_profile_counts_its_adapter(tmp_path: Path) -> None:
    _profile(tmp_path, 2048)
    lora = write_tiny_gguf(tmp_path / "lora.gguf", block_count=1, name="lora")
    p = tmp_path / "with-adapter.yaml"
    p.write_text("from: ./tiny.gguf\nadapters: [./lora.gguf]\nparameters:\n  num_ctx: 2048\n", encoding="utf-8")
    r = run("estimate", str(p), "--format", "json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)["data"]
    lora_bytes = facts_from_gguf(lora).weights_bytes or 0
    assert d["estimate"]["adapter_bytes"] == lora_bytes
    base = facts_from_gguf(tmp_path / "tiny.gguf").weights_bytes or 0
    assert d["estimate"]["total_bytes"] == tiny_total(base, 2048) + lora_bytes
    assert "adapters" in run("estimate", str(p)).output


def test_estimate_profile_from_a_server_model_inherits_its_num_ctx(tmp_path: Path) -> None:
    from tests.test_gguf_show import SHOW_LLAMA, TAGS_LLAMA

    p = tmp_path / "chef.yaml"
    p.write_text("from: chef:latest\nsystem: hi\n", encoding="utf-8")
    host = "http://ollama.test:11434"
    with respx.mock(base_url=host) as mock:
        mock.post("/api/show").mock(return_value=httpx.Response(200, json=SHOW_LLAMA))
        mock.get("/api/tags").mock(return_value=httpx.Response(200, json={"models": [TAGS_LLAMA]}))
        mock.get("/api/version").mock(return_value=httpx.Response(200, json={"version": "0.33.0"}))
        r = run("estimate", str(p), "--host", host, "--format", "json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)["data"]
    assert d["target"]["base"] == "server"
    assert d["estimate"]["num_ctx"] == 16384  # not set in the profile: the base model's stored value


def test_validate_warns_when_num_ctx_exceeds_a_local_gguf_trained_context(tmp_path: Path) -> None:
    p = _profile(tmp_path, 8192)  # tiny.gguf is trained for 4096
    r = CliRunner().invoke(cli, ["validate", str(p), "--format", "json"])
    env = json.loads(r.output)
    codes = [w["code"] for w in env["warnings"]]
    assert "num_ctx_above_trained" in codes
    assert r.exit_code == 0


def test_trained_context_warning_comes_with_the_facts_not_the_profile(tmp_path: Path) -> None:
    """Loading a profile reads no GGUF header (docs/architecture.md); the jobs add the warning where the
    facts are read, so render and validate still say it, in text and in JSON."""
    from modelctl.api import load_profile
    from modelctl.profile import profile as profile_room

    p = _profile(tmp_path, 8192)
    assert [w.code for w in profile_room.load_profile(str(p)).warnings] == []
    assert [w.code for w in load_profile(str(p)).warnings] == ["num_ctx_above_trained"]
    for command in ("render", "validate"):
        text = run(command, str(p))
        assert "exceeds the model's trained context 4096" in text.output, command
        env = json.loads(run(command, str(p), "--format", "json").output)
        assert "num_ctx_above_trained" in [w["code"] for w in env["warnings"]], command
