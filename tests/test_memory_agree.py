"""One model on one server gets one memory figure, whichever command reports it.

`estimate` applies the rules of the server's Ollama version (e.g. flash attention off for
llama before 0.30); `show`, `build`'s report and `compare`'s table must apply the same ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_double import run_cli
from tests.ollama_double import OllamaDouble


def _data(*args: str, host: str, cwd: Path) -> Any:
    proc = run_cli(*args, "--format", "json", host=host, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["data"]


@pytest.mark.parametrize("version", ["0.12.6", "0.33.0"])
def test_show_build_compare_and_estimate_agree(ollama_double: OllamaDouble, tmp_path: Path, version: str) -> None:
    ollama_double.state.version = version
    ollama_double.install("llama3.2:3b")
    (tmp_path / "chef.yaml").write_text("from: llama3.2:3b\nparameters: {num_ctx: 8192}\n", encoding="utf-8")
    url = ollama_double.url
    built = _data("build", "chef.yaml", host=url, cwd=tmp_path)["builds"][0]["report"]["memory"]["total_bytes"]
    shown = _data("show", "chef", host=url, cwd=tmp_path)["memory"]["total_bytes"]
    rows = {r["key"]: r for r in _data("compare", "chef.yaml", host=url, cwd=tmp_path)["rows"]}
    tabled = rows["server.memory"]["cells"][0]["value"]
    estimated = _data("estimate", "chef", host=url, cwd=tmp_path)["estimate"]["total_bytes"]
    assert built == shown == tabled == estimated


def test_show_and_estimate_give_an_embedding_model_one_slot_on_a_parallel_host(
    ollama_double: OllamaDouble, tmp_path: Path
) -> None:
    ollama_double.install("nomic-embed-text")
    inv = tmp_path / "fleet.yaml"
    inv.write_text(
        f"hosts:\n  box:\n    url: {ollama_double.url}\n"
        "    facts: {OLLAMA_NUM_PARALLEL: 4, OLLAMA_CONTEXT_LENGTH: 2048}\n",
        encoding="utf-8",
    )
    where = ("--hosts", str(inv), "--host", "box")
    shown = _data("show", "nomic-embed-text", *where, host=ollama_double.url, cwd=tmp_path)["memory"]
    estimated = _data("estimate", "nomic-embed-text", *where, host=ollama_double.url, cwd=tmp_path)["estimate"]
    assert shown["parallel"] == estimated["parallel"] == 1  # sched.go: embedding models load with one slot
    assert shown["total_bytes"] == estimated["total_bytes"]


@pytest.mark.parametrize("version", ["0.12.6", "0.33.0"])
def test_a_hosts_declared_settings_count_alike_in_show_compare_and_estimate(
    ollama_double: OllamaDouble, tmp_path: Path, version: str
) -> None:
    ollama_double.state.version = version
    ollama_double.install("llama3.2:3b")
    (tmp_path / "chef.yaml").write_text("from: llama3.2:3b\nparameters: {num_ctx: 8192}\n", encoding="utf-8")
    inv = tmp_path / "fleet.yaml"
    inv.write_text(
        f"hosts:\n  box:\n    url: {ollama_double.url}\n"
        "    facts: {OLLAMA_NUM_PARALLEL: 2, OLLAMA_KV_CACHE_TYPE: q8_0, OLLAMA_FLASH_ATTENTION: true}\n",
        encoding="utf-8",
    )
    where = ("--hosts", str(inv), "--host", "box")
    url = ollama_double.url
    _data("build", "chef.yaml", *where, host=url, cwd=tmp_path)
    shown = _data("show", "chef", *where, host=url, cwd=tmp_path)["memory"]
    compared = _data("compare", "chef.yaml", *where, host=url, cwd=tmp_path)
    rows = {r["key"]: r for r in compared["rows"]}
    estimated = _data("estimate", "chef", *where, host=url, cwd=tmp_path)["estimate"]
    assert (shown["parallel"], shown["kv_type"]) == (estimated["parallel"], estimated["kv_type"]) == (2, "q8_0")
    plain = _data("show", "chef", host=url, cwd=tmp_path)["memory"]  # no declared settings: f16, one slot
    assert shown["total_bytes"] == estimated["total_bytes"] != plain["total_bytes"]
    assert rows["server.memory"]["cells"][0]["value"] == shown["total_bytes"]
