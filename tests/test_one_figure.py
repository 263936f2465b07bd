"""One memory figure everywhere: compare's memory row is `show`'s estimate, through one function
(``show.deployed_memory``), on any server `show` can estimate for — also one whose ``/api/show``
lists no tensors (an independent server, not the project's double: the model's size comes from
``/api/tags`` then, as `show` reads it). Where there is no figure, both say why; the HTML keeps the row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_double import run_cli
from tests.hostile_server import HostileServer, Request, json_reply

SIZE = 2_019_393_189  # llama3.2:3b Q4_K_M on disk

SHOW_NO_TENSORS: dict[str, Any] = {
    "parameters": 'num_ctx                        2048\nstop                           "<|eot_id|>"',
    "template": "{{ .Prompt }}",
    "details": {"family": "llama", "parameter_size": "3.2B", "quantization_level": "Q4_K_M", "format": "gguf"},
    "model_info": {
        "general.architecture": "llama",
        "general.file_type": 15,
        "general.parameter_count": 3_212_749_888,
        "llama.context_length": 131072,
        "llama.embedding_length": 3072,
        "llama.block_count": 28,
        "llama.feed_forward_length": 8192,
        "llama.attention.head_count": 24,
        "llama.attention.head_count_kv": 8,
        "llama.attention.key_length": 128,
        "llama.attention.value_length": 128,
        "llama.vocab_size": 128256,
    },
    "capabilities": ["completion"],
}


def _server(*, size: int | None) -> HostileServer:
    entry: dict[str, Any] = {"name": "chef:latest", "model": "chef:latest", "digest": "ab" * 32,
                             "details": SHOW_NO_TENSORS["details"]}  # fmt: skip
    if size is not None:
        entry["size"] = size

    def answer(obj: Any) -> Any:
        def route(req: Request) -> list[bytes]:
            req.body()
            return [json_reply(obj)]

        return route

    return HostileServer(
        {
            "/api/version": answer({"version": "0.9.3"}),
            "/api/tags": answer({"models": [entry]}),
            "/api/show": answer(SHOW_NO_TENSORS),
            "/api/ps": answer({"models": []}),
        }
    )


def _folder(tmp_path: Path) -> Path:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "chef.yaml").write_text(
        "name: chef\nfrom: llama3.2:3b\nparameters:\n  num_ctx: 2048\n", encoding="utf-8"
    )
    return tmp_path


def _memory_cell(doc: dict[str, Any]) -> dict[str, Any]:
    (row,) = [r for r in doc["data"]["rows"] if r["key"] == "server.memory"]
    (cell,) = row["cells"]
    return cell  # type: ignore[no-any-return]


def test_compare_counts_as_show_without_a_tensor_list(tmp_path: Path) -> None:
    cwd = _folder(tmp_path)
    with _server(size=SIZE) as srv:
        show = run_cli("show", "chef", "--format", "json", host=srv.url, cwd=cwd)
        table = run_cli("compare", "chef", "--format", "json", host=srv.url, cwd=cwd)
        text = run_cli("compare", "chef", host=srv.url, cwd=cwd)
    assert show.returncode == 0 and table.returncode == 0, (show.stderr, table.stderr)
    total = json.loads(show.stdout)["data"]["memory"]["total_bytes"]
    assert isinstance(total, int) and total > SIZE
    cell = _memory_cell(json.loads(table.stdout))
    assert cell["value"] == total  # the same figure, byte for byte
    assert cell["display"].endswith("at num_ctx 2048")
    line = next(ln for ln in text.stdout.splitlines() if ln.strip().startswith("memory (estimate)"))
    assert cell["display"] in line


def test_where_there_is_no_figure_both_say_why(tmp_path: Path) -> None:
    cwd = _folder(tmp_path)
    with _server(size=None) as srv:  # no tensor list and no size: the weights are unknown
        show = run_cli("show", "chef", "--format", "json", host=srv.url, cwd=cwd)
        show_text = run_cli("show", "chef", host=srv.url, cwd=cwd)
        table = run_cli("compare", "chef", "--format", "json", host=srv.url, cwd=cwd)
        html = run_cli("compare", "chef", "-o", "report.html", host=srv.url, cwd=cwd)
    data = json.loads(show.stdout)["data"]
    assert data["memory"] is None and data["memory_unknown"] == "the size of the weights is unknown"
    assert "memory (estimate)   - (the size of the weights is unknown)" in show_text.stdout
    cell = _memory_cell(json.loads(table.stdout))
    assert cell["value"] is None and cell["display"] == "- (the size of the weights is unknown)"
    assert html.returncode == 0, html.stderr
    page = (cwd / "report.html").read_text(encoding="utf-8")
    assert "memory (estimate)" in page and "the size of the weights is unknown" in page


@pytest.mark.live
def test_compare_counts_as_show_on_a_real_ollama(live_host: str, tmp_path: Path) -> None:
    """Real Ollama 0.9.3 lists tensors in /api/show: the same figure there too (a model built here)."""
    from tests.fixtures_gguf import write_tiny_llama

    write_tiny_llama(tmp_path / "tiny.gguf")
    (tmp_path / "tiny.yaml").write_text("name: one-figure-tiny\nfrom: ./tiny.gguf\nparameters: {num_ctx: 1024}\n")
    assert run_cli("build", "tiny.yaml", "-q", host=live_host, cwd=tmp_path).returncode == 0
    try:
        show = json.loads(run_cli("show", "one-figure-tiny", "--format", "json", host=live_host, cwd=tmp_path).stdout)
        table = json.loads(run_cli("compare", "tiny.yaml", "--format", "json", host=live_host, cwd=tmp_path).stdout)
        assert _memory_cell(table)["value"] == show["data"]["memory"]["total_bytes"]
    finally:
        run_cli("rm", "one-figure-tiny", host=live_host, cwd=tmp_path)
