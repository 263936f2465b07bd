"""The build/show scenarios against a real Ollama server (marked `live`; skipped when none answers).

Nothing is downloaded: the models are built from a tiny llama-architecture GGUF written
here with the ``gguf`` package. Every model created is deleted afterwards.

    pytest -m live --ollama-host http://127.0.0.1:11434
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_double import run_cli
from tests.fixtures_gguf import write_tiny_llama
from tests.fixtures_live import unique
from tests.test_show_e2e import CONTRACT_KEYS

pytestmark = pytest.mark.live

TRAINED = 2048


@pytest.fixture
def names(live_names: list[str]) -> list[str]:
    """Model names this test creates; deleted at the end."""
    return live_names


def profile(tmp_path: Path, name: str, extra: str = "") -> Path:
    if not (tmp_path / "tiny.gguf").exists():
        write_tiny_llama(tmp_path / "tiny.gguf", context_length=TRAINED)
    path = tmp_path / f"{name}.yaml"
    body = f"name: {name}\nfrom: ./tiny.gguf\n" + textwrap.dedent(extra)
    path.write_text(body, encoding="utf-8")
    return path


def build(live_host: str, tmp_path: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    env = {"MODELCTL_STATE_DIR": str(tmp_path / "state")}
    proc = run_cli("build", *args, "--format", "json", host=live_host, env=env, cwd=tmp_path, timeout=600)
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def test_live_build_from_tiny_gguf_then_up_to_date(live_host: str, tmp_path: Path, names: list[str]) -> None:
    name = unique("tiny")
    names.append(name)
    prof = profile(tmp_path, name, "parameters: {num_ctx: 1024, temperature: 0.5}\n")
    code, doc, err = build(live_host, tmp_path, str(prof))
    assert code == 0, err
    b = doc["data"]["builds"][0]
    assert b["status"] == "created"
    rep = b["report"]
    assert rep["architecture"] == "llama" and rep["quantization"] == "F16"
    assert rep["context_length"]["trained"] == TRAINED and rep["context_length"]["configured"] == 1024
    assert rep["parameters"]["temperature"] == pytest.approx(0.5)
    code, doc, err = build(live_host, tmp_path, str(prof))
    b = doc["data"]["builds"][0]
    assert code == 0 and b["status"] == "up_to_date" and b["uploaded_bytes"] == 0
    code, doc, err = build(live_host, tmp_path, str(prof), "--force")
    b = doc["data"]["builds"][0]
    assert code == 0 and b["status"] == "created" and b["uploaded_bytes"] == 0  # blob already there


def test_live_quantize(live_host: str, tmp_path: Path, names: list[str]) -> None:
    name = unique("q8")
    names.append(name)
    prof = profile(tmp_path, name, "quantize: q8_0\n")
    code, doc, err = build(live_host, tmp_path, str(prof))
    assert code == 0, err
    assert doc["data"]["builds"][0]["report"]["quantization"] == "Q8_0"


def test_live_dry_run_and_no_pull(live_host: str, tmp_path: Path) -> None:
    prof = profile(tmp_path, unique("dry"))
    code, doc, err = build(live_host, tmp_path, str(prof), "--dry-run")
    assert code == 0, err
    assert doc["data"]["builds"][0]["status"] == "planned"
    missing = tmp_path / "missing.yaml"
    missing.write_text(f"from: {unique('no-such-base')}:latest\n")
    code, doc, err = build(live_host, tmp_path, str(missing), "--no-pull")
    assert code == 5 and "--no-pull" in doc["errors"][0]["message"]


def test_live_verify_clamp_and_show(live_host: str, tmp_path: Path, names: list[str]) -> None:
    name = unique("clamp")
    names.append(name)
    prof = profile(tmp_path, name, f"parameters: {{num_ctx: {TRAINED * 4}}}\n")
    code, doc, err = build(live_host, tmp_path, str(prof), "--verify")
    rep = doc["data"]["builds"][0]["report"] if doc["data"] else None
    assert rep is not None, err
    runtime = rep["context_length"]["runtime"]
    assert runtime is not None
    if runtime != TRAINED * 4:
        assert code == 6 and "differs from the configured num_ctx" in doc["errors"][0]["message"]
    proc = run_cli("show", name, "--format", "json", host=live_host)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)["data"]
    assert data["context_length"]["trained"] == TRAINED and data["architecture"] == "llama"
    assert data["context_length"]["configured"] == TRAINED * 4


def test_live_jobs_and_json_contract(live_host: str, tmp_path: Path, names: list[str]) -> None:
    a, b = unique("job-a"), unique("job-b")
    names += [a, b]
    pa = profile(tmp_path, a, "parameters: {temperature: 0.1}\n")
    pb = profile(tmp_path, b, "parameters: {temperature: 0.9}\n")
    code, doc, err = build(live_host, tmp_path, str(pa), str(pb), "--jobs", "2")
    assert code == 0, err
    assert [x["name"] for x in doc["data"]["builds"]] == [a, b]
    proc = run_cli("show", a, "--format", "json", host=live_host)
    data = json.loads(proc.stdout)["data"]
    assert data.keys() >= CONTRACT_KEYS, sorted(CONTRACT_KEYS - data.keys())
    assert data["embedding_length"] == 64 and data["block_count"] == 2
    assert data["head_count"] == 4 and data["head_count_kv"] == 2
