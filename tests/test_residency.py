"""Co-residency (``estimate --together``), compare's warning before a matrix that will reload one
model, and the server inputs ``estimate`` takes from the resolver — against the Ollama API double."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from modelctl.common.events import CellDone, Event, Notice
from tests.fixtures_compare import build, invoke
from tests.fixtures_double import run_cli
from tests.ollama_double import OllamaDouble


def _together(*args: str, cwd: Path, host: str) -> dict[str, Any]:
    r = invoke("estimate", *args, "--together", "--format", "json", cwd=cwd, host=host)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)["data"]  # type: ignore[no-any-return]


def test_three_profiles_on_one_base_two_contexts(cmp_double: OllamaDouble, chef_dir: Path) -> None:
    """creative and precise (num_ctx 2048 from base.yaml) share a runner; wide (8192) evicts it:
    exactly that pair is named, with the one change that lets all three share."""
    data = _together("creative", "precise", "wide", cwd=chef_dir, host=cmp_double.url)
    assert [r["profiles"] for r in data["runners"]] == [["chef-creative", "chef-precise"], ["chef-wide"]]
    (ev,) = data["evictions"]
    assert (ev["a"], ev["b"], ev["reasons"]) == (["chef-creative", "chef-precise"], ["chef-wide"], ["num_ctx"])
    assert ev["values"] == {"num_ctx": [2048, 8192]}
    (weights,) = data["weights"]
    (change,) = weights["changes"]
    assert change["text"] == "give chef-wide num_ctx 2048 (as chef-creative, chef-precise have)"
    assert data["loaded_at_once"] == 1 and data["resident_bytes"] == max(r["total_bytes"] for r in data["runners"])
    assert data["shared_bytes"] == data["runners"][0]["total_bytes"]  # all three at 2048: runner 1's size
    text = invoke("estimate", "creative", "precise", "wide", "--together", cwd=chef_dir, host=cmp_double.url).stdout
    assert "runner 1 (chef-creative, chef-precise) and runner 2 (chef-wide): num_ctx 2048 / 8192" in text
    assert "smallest change to share llama3.2:3b: give chef-wide num_ctx 2048" in text

    # The double (Ollama's scheduler) agrees: run them in turn, precise reuses creative's runner, wide reloads.
    build(cmp_double, chef_dir, "creative", "precise", "wide")
    r = run_cli("compare", "creative", "precise", "wide", "--prompt", "Hi", host=cmp_double.url, cwd=chef_dir)
    assert r.returncode == 0, r.stderr
    assert cmp_double.state.loads == ["chef-creative:latest", "chef-wide:latest"]
    # ... and compare warned once, on stderr, naming the same option and values
    warned = [line for line in r.stderr.splitlines() if "differ in the runner option num_ctx" in line]
    assert warned == [
        "warning: parameters.num_ctx: profiles sharing base llama3.2:3b differ in the runner option num_ctx "
        "(chef-creative=2048, chef-precise=2048, chef-wide=8192): Ollama reloads the model when requests switch "
        "between them"
    ]


def test_compare_warns_before_the_first_cell(built_double: OllamaDouble, chef_dir: Path) -> None:
    from modelctl.jobs.matrix import run_matrix
    from modelctl.jobs.run import resolve_target
    from modelctl.ollama.server import OllamaClient
    from modelctl.profile.prompts import inline_prompts

    events: list[Event] = []
    old = os.getcwd()
    os.chdir(chef_dir)
    try:
        with OllamaClient(built_double.url) as client:
            targets = [resolve_target(ref, client) for ref in ("creative", "wide")]
            m = run_matrix(client, targets, inline_prompts(["a"]), on_event=events.append)
    finally:
        os.chdir(old)
    kinds = [type(e) for e in events]
    assert kinds[0] is Notice and CellDone in kinds and kinds.index(CellDone) > 0
    first = events[0]
    assert isinstance(first, Notice) and first.diagnostic in m.warnings  # also in the report (JSON)


def test_different_bases_limits_and_gpu(cmp_double: OllamaDouble, chef_dir: Path) -> None:
    data = _together(
        "creative", "qwen", "--max-loaded", "1", "--gpu-memory", "4GiB", "--kv-cache", "q8_0", cwd=chef_dir,
        host=cmp_double.url,
    )  # fmt: skip
    assert len(data["runners"]) == 2 and not data["evictions"] and data["loaded_at_once"] == 2
    assert data["max_loaded"]["value"] == 1 and data["max_loaded"]["source"]["basis"] == "declared"
    assert {r["kv_cache_type"] for r in data["runners"]} == {"q8_0"}
    gpu = data["gpu"]
    assert gpu["fits"] is False and gpu["loads"][0]["fits"] is True and gpu["loads"][1]["fits"] is False
    text = invoke("estimate", "creative", "qwen", "--together", "--max-loaded", "1", cwd=chef_dir,
                  host=cmp_double.url).stdout  # fmt: skip
    assert "max loaded models: 1, OLLAMA_MAX_LOADED_MODELS (--max-loaded) (declared): more than that" in text


def test_together_usage(chef_dir: Path) -> None:
    r = invoke("estimate", "creative", "precise", cwd=chef_dir)
    assert r.returncode == 2 and "add --together" in r.stderr
    r = invoke("estimate", "creative", "precise", "--together", "--budget", "8GiB", cwd=chef_dir)
    assert r.returncode == 2 and "--budget sets one model's figures" in r.stderr


def test_estimate_takes_server_settings_from_the_resolver(cmp_double: OllamaDouble, tmp_path: Path) -> None:
    """Declared facts are labelled as such; Ollama's one slot for embedding models is applied."""
    cmp_double.install("nomic-embed-text:latest")
    inv = tmp_path / "fleet.yaml"
    inv.write_text(
        f"hosts:\n  box:\n    url: {cmp_double.url}\n    facts:\n      OLLAMA_FLASH_ATTENTION: false\n"
        "      OLLAMA_NUM_PARALLEL: 4\n      gpu_memory: 48GiB\n",
        encoding="utf-8",
    )
    r = invoke("estimate", "qwen3:8b", "--hosts", str(inv), "--format", "json", cwd=tmp_path)
    est = json.loads(r.stdout)["data"]["estimate"]
    assert (est["flash_attention"], est["flash_attention_source"], est["parallel"]) == (False, "declared", 4)
    notes = "\n".join(est["assumptions"])
    assert "flash attention off: OLLAMA_FLASH_ATTENTION of inventory host box (declared)" in notes
    assert "parallel slots 4: OLLAMA_NUM_PARALLEL of inventory host box (declared)" in notes
    assert est["num_ctx"] == 4096  # the double is 0.12.6: before the VRAM tiers
    cmp_double.state.version = "0.20.0"
    r = invoke("estimate", "qwen3:8b", "--hosts", str(inv), "--format", "json", cwd=tmp_path)
    assert json.loads(r.stdout)["data"]["estimate"]["num_ctx"] == 262144  # 48 GiB of VRAM: the top tier
    r = invoke("estimate", "nomic-embed-text", "--parallel", "4", "--format", "json", host=cmp_double.url)
    est = json.loads(r.stdout)["data"]["estimate"]
    assert est["parallel"] == 1 and any("embedding models always load with one slot" in a for a in est["assumptions"])
