"""``compare`` without prompts: the parameter table, its provenance and every output format."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from modelctl.jobs.run import resolve_target
from modelctl.jobs.table import build_table
from modelctl.memory.effective import builtin_default
from modelctl.ollama.server import ServerInfo
from modelctl.profile import params as P
from tests.fixtures_compare import TABLE_SHAPE, check_shape, invoke
from tests.fixtures_double import run_cli
from tests.ollama_double import OllamaDouble, closed_port_url


def _rows(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in data["rows"]}


def _cell(data: dict[str, Any], key: str, label: str) -> dict[str, Any]:
    col = [c["label"] for c in data["columns"]].index(label)
    return _rows(data)[key]["cells"][col]  # type: ignore[no-any-return]


def test_ollama_default_follows_the_server_version() -> None:
    # the table's defaults come from the resolver (modelctl.memory.effective), the one home of the rule
    assert builtin_default("repeat_penalty", "0.32.9")[0] == 1.1
    assert builtin_default("repeat_penalty", "0.32.10")[0] == 1.0
    value, note = builtin_default("repeat_penalty", None)
    assert value == 1.0 and "1.1 before" in note
    assert builtin_default("temperature", "0.12.6") == (0.8, "Ollama 0.12.6 default")
    assert builtin_default("num_ctx", "0.12.6")[0] is None
    assert "not in Ollama 0.20.0" in builtin_default("draft_num_predict", "0.20.0")[1]


def test_table_provenance_against_built_models(built_double: OllamaDouble, chef_dir: Path) -> None:
    r = invoke(
        "compare",
        "creative",
        "precise",
        "wide",
        "qwen",
        "--format",
        "json",
        host=built_double.url,
        cwd=chef_dir,
    )
    assert r.returncode == 0, r.stderr
    env = json.loads(r.stdout)
    assert env["command"] == "compare" and env["ok"] is True
    data = env["data"]
    check_shape(data, TABLE_SHAPE)
    assert data["server"] == {
        "host": built_double.url,
        "reachable": True,
        "version": "0.12.6",
        "reason": None,
    }
    assert [c["label"] for c in data["columns"]] == [
        "chef-creative",
        "chef-precise",
        "chef-wide",
        "qwen-plain",
    ]
    assert all(c["built"] is True for c in data["columns"])

    base = _cell(data, "from", "chef-creative")
    assert base["value"] == "llama3.2:3b" and base["origin"] == "extends" and base["source"].endswith("base.yaml")
    assert _cell(data, "from", "qwen-plain")["origin"] == "profile"
    # temperature: set by every profile except wide (Ollama's default for the server's version there)
    assert _cell(data, "parameters.temperature", "chef-creative")["value"] == 1.1
    assert _cell(data, "parameters.temperature", "chef-creative")["origin"] == "profile"
    wide_t = _cell(data, "parameters.temperature", "chef-wide")
    assert (wide_t["value"], wide_t["origin"], wide_t["source"]) == (0.8, "default", "Ollama 0.12.6 default")
    # num_ctx always listed; inherited through extends, or overridden, or the server's choice
    assert _cell(data, "parameters.num_ctx", "chef-creative")["origin"] == "extends"
    assert _cell(data, "parameters.num_ctx", "chef-wide")["value"] == 8192
    q_ctx = _cell(data, "parameters.num_ctx", "qwen-plain")
    assert (q_ctx["value"], q_ctx["display"], q_ctx["origin"]) == (None, "auto", "default")
    # qwen3:8b stores top_k 20 with the model: inherited from the base model on the server
    q_topk = _cell(data, "parameters.top_k", "qwen-plain")
    assert (q_topk["value"], q_topk["origin"]) == (20, "base")
    assert _rows(data)["parameters.temperature"]["differs"] is True
    assert _rows(data)["template"]["differs"] is False
    # rows are only the parameters somebody sets (+ num_ctx), in catalogue order
    keys = [r["key"].split(".", 1)[1] for r in data["rows"] if r["group"] == "parameters"]
    assert keys == sorted(keys, key=P.ORDER.__getitem__)
    assert "num_batch" not in keys and "min_p" not in keys
    system = _cell(data, "system", "chef-creative")
    assert system["display"] == "You are a creative chef. (58 chars)"
    assert _cell(data, "messages", "chef-creative")["display"] == "2 (user, assistant)"
    assert _cell(data, "messages", "chef-precise")["display"] == "none"
    assert _cell(data, "template", "chef-precise")["display"] == "inherited"
    # what the server made
    assert _cell(data, "server.quantization", "chef-creative")["value"] == "Q4_K_M"
    ctx = _cell(data, "server.context_length", "chef-creative")
    assert ctx["value"] == {"trained": 131072, "configured": 2048, "runtime": None}
    assert ctx["display"] == "131072 / 2048"
    assert _cell(data, "server.context_length", "qwen-plain")["display"] == "40960 / auto"
    assert _cell(data, "server.embedding_length", "qwen-plain")["value"] == 4096
    assert _cell(data, "server.parameter_size", "chef-wide")["value"] == "3.2B"
    # memory estimate at the configured num_ctx: llama3.2:3b has 28 layers x 8 KV heads x (128 + 128)
    # f16 elements = 114,688 bytes per token, so 2048 tokens are 224 MiB over weights + 512 MiB overhead
    mem = _cell(data, "server.memory", "chef-creative")
    assert mem["display"].endswith("at num_ctx 2048")
    assert mem["value"] > 2048 * 114_688 + 512 * 2**20
    # num_ctx auto: no estimate, and the cell says why (it said only "-")
    no_figure = _cell(data, "server.memory", "qwen-plain")
    assert no_figure["value"] is None and no_figure["display"].startswith("- (no num_ctx: the model stores none")


def test_version_specific_default_in_the_table(chef_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(chef_dir)
    t = resolve_target("qwen", None, check_built=False)
    old = build_table([t], server=ServerInfo("h", True, "0.32.9"), shows=[None], all_params=True)
    cell = _cell(old.to_dict(), "parameters.repeat_penalty", "qwen-plain")
    assert (cell["value"], cell["origin"]) == (1.1, "default") and "0.32.9" in cell["source"]
    new = build_table([t], server=ServerInfo("h", True, "0.33.0"), shows=[None], all_params=True)
    assert _cell(new.to_dict(), "parameters.repeat_penalty", "qwen-plain")["value"] == 1.0


def test_set_all_and_no_server(chef_dir: Path) -> None:
    # --no-server never connects: a closed port is fine.
    r = invoke(
        "compare",
        "creative",
        "precise",
        "--set",
        "top_k=5",
        "--all",
        "--no-server",
        "--format",
        "json",
        host=closed_port_url(),
        cwd=chef_dir,
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)["data"]
    check_shape(data, TABLE_SHAPE)
    assert data["server"]["reachable"] is False and data["server"]["reason"] == "--no-server"
    assert {c["built"] for c in data["columns"]} == {None}
    assert _cell(data, "parameters.top_k", "chef-precise")["origin"] == "set"
    params = [r["key"] for r in data["rows"] if r["group"] == "parameters"]
    assert params == [f"parameters.{p.name}" for p in P.CATALOGUE]
    assert not [r for r in data["rows"] if r["group"] == "server"]


def test_unreachable_server_still_gives_the_table(chef_dir: Path) -> None:
    r = invoke("compare", "creative", "precise", host=closed_port_url(), cwd=chef_dir)
    assert r.returncode == 0, r.stderr
    assert "server rows skipped: cannot reach Ollama" in r.stdout


def test_not_built_models_say_so(cmp_double: OllamaDouble, chef_dir: Path) -> None:
    r = invoke("compare", "creative", "precise", "--format", "json", host=cmp_double.url, cwd=chef_dir)
    data = json.loads(r.stdout)["data"]
    assert [c["built"] for c in data["columns"]] == [False, False]
    # nothing built: no server rows at all
    assert not [row for row in data["rows"] if row["group"] == "server"]


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_table_formats(built_double: OllamaDouble, chef_dir: Path, fmt: str) -> None:
    r = run_cli(
        "compare",
        "creative",
        "precise",
        "wide",
        "qwen",
        "--format",
        fmt,
        host=built_double.url,
        cwd=chef_dir,
        env={"COLUMNS": "100"},
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for label in ("chef-creative", "chef-precise", "chef-wide", "qwen-plain"):
        assert label in out
    if fmt == "text":
        lines = out.splitlines()
        assert max(len(x) for x in lines) <= 100  # fits the terminal
        assert lines[0].split() == ["chef-creative", "chef-precise", "chef-wide", "qwen-plain"]
        temp = next(x for x in lines if "temperature" in x)
        assert temp.startswith("* temperature") and "0.8 (default)" in temp
        assert next(x for x in lines if " template " in f" {x} ").startswith("  template")
        assert "(base.yaml)" in out and "Ollama 0.12.6's default" in out
    elif fmt == "markdown":
        assert out.startswith("| | chef-creative | chef-precise | chef-wide | qwen-plain |\n|---|")
        assert "| **temperature** ≠ |" in out and "<sub>default</sub>" in out
    else:
        assert out.startswith("<!DOCTYPE html>") and 'class="differs"' in out
        assert "http://" not in out.replace(built_double.url, "") and "https://" not in out


def test_invalid_profile_names_file_and_line(chef_dir: Path) -> None:
    r = invoke("compare", "creative", "bad", "--no-server", cwd=chef_dir)
    assert r.returncode == 1
    assert "bad.yaml:4:16: parameters.temperature" in r.stderr
    assert "Traceback" not in r.stderr


def test_usage_errors(chef_dir: Path) -> None:
    r = invoke("compare", "creative", "precise", "--format", "junit", "--no-server", cwd=chef_dir)
    assert r.returncode == 2 and "junit needs prompts" in r.stderr
    r = invoke("compare", "creative", "--seeds", "1,x", "--prompt", "hi", cwd=chef_dir)
    assert r.returncode == 2 and "not an integer" in r.stderr
    r = invoke("compare", "creative", "--prompt", "hi", "--no-server", cwd=chef_dir)
    assert r.returncode == 2


def test_output_file_and_format_from_suffix(chef_dir: Path) -> None:
    out = chef_dir / "table.md"
    r = invoke("compare", "creative", "precise", "--no-server", "-o", str(out), cwd=chef_dir)
    assert r.returncode == 0 and r.stdout == ""
    assert out.read_text().startswith("| | chef-creative | chef-precise |")
    assert not [p for p in os.listdir(chef_dir) if p.startswith(".table.md")]  # no temp file left


def test_running_context_comes_from_ps(built_double: OllamaDouble, chef_dir: Path) -> None:
    built_double.state.default_num_ctx = 4096
    assert invoke("run", "qwen", "Hi", host=built_double.url, cwd=chef_dir).returncode == 0
    assert invoke("run", "wide", "Hi", host=built_double.url, cwd=chef_dir).returncode == 0
    r = invoke("compare", "wide", "qwen", "precise", "--format", "json", host=built_double.url, cwd=chef_dir)
    data = json.loads(r.stdout)["data"]
    # loaded: the context the runner really uses (qwen: the server's default, as nothing set num_ctx)
    assert _cell(data, "server.context_length", "qwen-plain")["value"] == {
        "trained": 40960,
        "configured": None,
        "runtime": 4096,
    }
    assert _cell(data, "server.context_length", "qwen-plain")["display"] == "40960 / auto / 4096 running"
    assert _cell(data, "server.context_length", "chef-wide")["value"]["runtime"] == 8192
    assert _cell(data, "server.context_length", "chef-precise")["value"]["runtime"] is None  # not loaded
