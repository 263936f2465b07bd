"""End to end: `modelctl show MODEL|PROFILE` as a subprocess against the Ollama API double."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from modelctl.jobs.show import REPORT_KEYS
from tests.fixtures_double import run_cli
from tests.fixtures_gguf import write_tiny_llama
from tests.ollama_double import OllamaDouble

# The keys the report shares with `inspect` (the JSON contract).
CONTRACT_KEYS = {
    "name",
    "host",
    "base",
    "architecture",
    "parameter_count",
    "parameter_size",
    "quantization",
    "context_length",
    "embedding_length",
    "block_count",
    "head_count",
    "head_count_kv",
    "capabilities",
    "parameters",
    "size_bytes",
}


def show_json(double: OllamaDouble, *args: str, cwd: Path | None = None) -> tuple[int, dict[str, Any], str]:
    proc = run_cli("show", *args, "--format", "json", host=double.url, cwd=cwd)
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def test_json_contract_of_the_report(ollama_double: OllamaDouble) -> None:
    ollama_double.install("qwen3:8b")
    code, doc, err = show_json(ollama_double, "qwen3:8b")
    assert code == 0, err
    assert set(doc) == {"schema_version", "command", "ok", "data", "warnings", "errors"}
    assert doc["schema_version"] == 1 and doc["command"] == "show" and doc["ok"] is True
    data = doc["data"]
    assert set(data) >= CONTRACT_KEYS and set(REPORT_KEYS) == CONTRACT_KEYS
    assert set(data["context_length"]) == {"trained", "configured", "runtime"}
    assert data["name"] == "qwen3:8b" and data["host"] == ollama_double.url
    assert data["architecture"] == "qwen3" and data["quantization"] == "Q4_K_M"
    assert data["context_length"] == {"trained": 40960, "configured": None, "runtime": None}
    assert data["context_length_source"] == "server default"
    assert data["embedding_length"] == 4096 and data["block_count"] == 36
    assert data["head_count"] == 32 and data["head_count_kv"] == 8
    assert data["parameter_count"] > 8_000_000_000 and data["parameter_size"] == "8.2B"
    assert data["size_bytes"] == 5225376047
    assert data["capabilities"] == ["completion", "tools", "thinking"]
    # Stored parameters parsed from the Go-syntax text, typed, in catalogue order.
    assert data["parameters"] == {
        "top_k": 20,
        "top_p": 0.95,
        "temperature": 0.6,
        "repeat_penalty": 1.0,
        "stop": ["<|im_start|>", "<|im_end|>"],
    }
    assert data["system_set"] is False and data["template_set"] is True


def test_show_text_of_a_model(ollama_double: OllamaDouble) -> None:
    ollama_double.install("llama3.2:3b")
    proc = run_cli("show", "llama3.2:3b", host=ollama_double.url)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for needle in (
        "llama3.2:3b",
        "architecture",
        "llama",
        "3.2B (3,212,749,888)",
        "Q4_K_M",
        "context trained",
        "131,072",
        "not set: server default",
        "embedding length",
        "3,072",
        "24 (KV heads 8)",
        "completion, tools",
        "1.88 GiB",
        "stored parameters:",
        '"<|eot_id|>"',
    ):
        assert needle in out, needle


def test_show_of_a_profile_warns_where_the_server_differs(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    write_tiny_llama(tmp_path / "w" / "t.gguf", context_length=2048)
    prof = tmp_path / "tiny.yaml"
    prof.write_text(
        textwrap.dedent("""
        name: tiny-chef
        from: ./w/t.gguf
        parameters: {num_ctx: 8192, temperature: 0.7}
    """)
    )
    env = {"MODELCTL_STATE_DIR": str(tmp_path / "state")}
    assert run_cli("build", str(prof), host=ollama_double.url, env=env, cwd=tmp_path).returncode == 0
    # Someone changed the deployed model behind the profile's back.
    deployed = ollama_double.state.get("tiny-chef")
    assert deployed is not None
    deployed.parameters["temperature"] = 0.9
    deployed.parameters["top_k"] = 5
    code, doc, err = show_json(ollama_double, str(prof), cwd=tmp_path)
    assert code == 0, err
    assert doc["data"]["name"] == "tiny-chef"
    assert doc["data"]["context_length"] == {"trained": 2048, "configured": 8192, "runtime": None}
    by_code = {w["code"]: w["message"] for w in doc["warnings"]}
    assert "num_ctx 8192 is above the trained context 2048" in by_code["num_ctx_above_trained"]
    assert "temperature = 0.9, the profile says 0.7" in by_code["stored_differently"]
    assert "top_k=5" in by_code["inherited_parameters"]
    # By profile name (./profiles/<name>.yaml) too, with --verify: the clamp fails the check.
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "tiny.yaml").write_text(prof.read_text().replace("./w/", "../w/"))
    proc = run_cli("show", "tiny", "--verify", host=ollama_double.url, cwd=tmp_path)
    assert proc.returncode == 6
    assert "runtime context 2048 differs from the configured num_ctx 8192" in proc.stderr
    assert "clamped" in proc.stderr and "Traceback" not in proc.stderr
    assert "verify: FAILED" in proc.stdout


def test_show_verify_fills_runtime_and_unloads(ollama_double: OllamaDouble) -> None:
    m = ollama_double.install("llama3.2:1b")
    m.parameters["num_ctx"] = 8192
    ollama_double.state.vram_fraction = 0.5
    code, doc, err = show_json(ollama_double, "llama3.2:1b", "--verify")
    assert code == 0, err
    data = doc["data"]
    assert data["context_length"] == {"trained": 131072, "configured": 8192, "runtime": 8192}
    assert abs(data["runtime"]["size_vram"] * 2 - data["runtime"]["size"]) <= 1
    assert data["runtime"]["processor"] == "50%/50% CPU/GPU"
    assert data["verify"] == {"ok": True, "problem": None}
    assert ollama_double.state.runners == {}
    # Already loaded: show reports the runtime without --verify, and leaves it loaded.
    from modelctl.ollama.server import OllamaClient

    with OllamaClient(ollama_double.url) as client:
        list(client.generate({"model": "llama3.2:1b", "prompt": "", "keep_alive": "5m"}))
    code, doc, err = show_json(ollama_double, "llama3.2:1b")
    assert code == 0, err
    assert doc["data"]["context_length"]["runtime"] == 8192 and "verify" not in doc["data"]
    assert doc["data"]["runtime"]["loaded_before"] is True and len(ollama_double.state.runners) == 1


def test_show_missing_model_and_unreachable(ollama_double: OllamaDouble, closed_port_url: str, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    proc = run_cli("show", "nope:1b", "-o", str(out), host=ollama_double.url)
    assert proc.returncode == 5 and "nope:1b is not on the server" in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()
    proc = run_cli("show", "nope:1b", "-o", str(out), host=closed_port_url)
    assert proc.returncode == 4 and 'is "ollama serve" running?' in proc.stderr and not out.exists()


def test_show_verify_keeps_the_keep_alive_of_a_loaded_model(ollama_double: OllamaDouble) -> None:
    """--verify on a model someone loaded for 10 minutes must not cut that to its own 30 s."""
    from datetime import datetime, timedelta, timezone

    from modelctl.ollama.server import OllamaClient

    ollama_double.install("llama3.2:1b")
    with OllamaClient(ollama_double.url) as client:
        list(client.generate({"model": "llama3.2:1b", "prompt": "", "keep_alive": "10m"}))
    code, doc, err = show_json(ollama_double, "llama3.2:1b", "--verify")
    assert code == 0, err
    assert doc["data"]["runtime"]["loaded_before"] is True
    (runner,) = ollama_double.state.runners.values()
    left = runner.expires_at - datetime.now(timezone.utc)
    assert left > timedelta(minutes=9), left
    # Loaded "forever" (keep_alive -1): still forever afterwards.
    with OllamaClient(ollama_double.url) as client:
        list(client.generate({"model": "llama3.2:1b", "prompt": "", "keep_alive": -1}))
    code, doc, err = show_json(ollama_double, "llama3.2:1b", "--verify")
    assert code == 0, err
    (runner,) = ollama_double.state.runners.values()
    assert runner.expires_at - datetime.now(timezone.utc) > timedelta(days=365 * 100)


def test_find_tags_entry_matches_names_as_ollama_does() -> None:
    """Names match case-insensitively; a registry host's port is not a tag."""
    from modelctl.ollama.wire import find_entry as find_tags_entry

    entry = {"name": "reg.io:5000/ns/chef:latest", "model": "reg.io:5000/ns/chef:latest", "size": 7}
    tags = {"models": [entry]}
    assert find_tags_entry(tags, "reg.io:5000/ns/chef") is entry
    assert find_tags_entry(tags, "REG.io:5000/NS/Chef:Latest") is entry
    assert find_tags_entry(tags, "reg.io:5000/ns/chef:v2") is None


def test_show_of_a_gguf_file_points_to_inspect(tmp_path: Path) -> None:
    write_tiny_llama(tmp_path / "tiny.gguf")
    proc = run_cli("show", "tiny.gguf", host="http://127.0.0.1:9", cwd=tmp_path)
    assert proc.returncode == 1
    assert "not UTF-8" not in proc.stderr and "Traceback" not in proc.stderr
    assert "modelctl inspect tiny.gguf" in proc.stderr, proc.stderr


def _first_loads_the_runner_second_shares(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    """Models `first` and `second` on one base with the same load-time options; `first` loaded."""
    ollama_double.install("llama3.2:3b")
    env = {"MODELCTL_STATE_DIR": str(tmp_path / "state")}
    for name in ("first", "second"):
        prof = tmp_path / f"{name}.yaml"
        prof.write_text("from: llama3.2:3b\nparameters: {num_ctx: 2048}\n")
        proc = run_cli("build", "-q", str(prof), host=ollama_double.url, env=env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    proc = run_cli("run", "first", "hello", "--format", "json", host=ollama_double.url)
    assert proc.returncode == 0, proc.stderr


def test_verify_reads_a_runner_shared_with_another_model_and_leaves_it_loaded(
    ollama_double: OllamaDouble, tmp_path: Path
) -> None:
    """Ollama keys runners by weights: a model on the same base with the same load-time options
    reuses the runner another model loaded, and /api/ps lists it under that other model."""
    _first_loads_the_runner_second_shares(ollama_double, tmp_path)
    runner = ollama_double.state.runner_of("first")
    assert runner is not None and ollama_double.state.runner_of("second") is runner
    code, doc, err = show_json(ollama_double, "second", "--verify")
    assert code == 0, err
    assert doc["data"]["context_length"]["runtime"] == 2048
    assert doc["data"]["verify"] == {"ok": True, "problem": None}
    assert ollama_double.state.runner_of("first") is not None  # not unloaded: it belongs to `first`


def test_verify_reads_a_shared_runner_listed_under_a_deleted_model(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    """Ollama keeps listing a runner under the model that loaded it after that model is deleted
    (seen on a real 0.9.3): the one such entry with our details is our runner, not a failed check."""
    _first_loads_the_runner_second_shares(ollama_double, tmp_path)
    proc = run_cli("rm", "first", host=ollama_double.url)
    assert proc.returncode == 0, proc.stderr
    code, doc, err = show_json(ollama_double, "second", "--verify")
    assert code == 0, err
    assert doc["data"]["context_length"]["runtime"] == 2048
    assert doc["data"]["verify"] == {"ok": True, "problem": None}


def test_verify_measures_when_ps_lists_the_runner_under_no_model_it_can_tie_to(
    ollama_double: OllamaDouble, tmp_path: Path
) -> None:
    """No /api/ps entry can be tied to the model (several runners on a real server keep the names of
    deleted models): it answered, so the context is measured, the runner left loaded, and a warning
    says why its size is unknown, never a failed check."""
    _first_loads_the_runner_second_shares(ollama_double, tmp_path)
    assert run_cli("rm", "first", host=ollama_double.url).returncode == 0
    runner = ollama_double.state.runner_of("second")
    assert runner is not None
    runner.details = {**runner.details, "family": "another"}  # no longer ours to recognise
    code, doc, err = show_json(ollama_double, "second", "--verify")
    assert code == 0, err
    assert doc["data"]["verify"]["ok"] is True
    assert doc["data"]["context_length"]["runtime"] == 2048
    assert any(w["code"] == "runner_unnamed" for w in doc["warnings"]), doc["warnings"]
    assert ollama_double.state.runner_of("second") is runner  # left loaded
