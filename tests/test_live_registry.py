"""Live: a real OCI registry (tests/real_registry.py) between two real Ollama servers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from tests.fixtures_gguf import write_tiny_llama
from tests.fixtures_live import create_model, delete_models, unique
from tests.real_ollama import Server
from tests.real_registry import Registry

pytestmark = pytest.mark.live

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def registry_digest(reg: Registry, repo: str, tag: str) -> str:
    resp = httpx.get(f"{reg.url}/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST_V2})
    resp.raise_for_status()
    assert resp.headers["Docker-Content-Digest"] == "sha256:" + hashlib.sha256(resp.content).hexdigest()
    return str(resp.headers["Docker-Content-Digest"])


def tags_digest(host: str, name: str) -> str:
    from modelctl.server import OllamaClient
    from modelctl.wire import find_entry

    with OllamaClient(host) as client:
        return str((find_entry(client.tags(), name) or {})["digest"])


def test_push_pull_run_through_the_registry(
    live_host: str, second_live_host: Server, live_registry: Registry, tmp_path: Path
) -> None:
    """Created on server A, copied and pushed (insecure) to the registry, pulled on server B and
    run there; B's /api/tags digest is the registry's manifest digest (A's local one is not)."""
    from modelctl.server import OllamaClient

    base, repo = unique("regsrc"), f"team/{unique('m')}"
    ref = f"{live_registry.address}/{repo}:v1"
    create_model(live_host, base, write_tiny_llama(tmp_path / "tiny.gguf"))
    try:
        with OllamaClient(live_host) as a:
            a.copy(base, ref)
            assert list(a.push(ref, insecure=True))[-1]["status"] == "success"
        with OllamaClient(second_live_host.url) as b:
            assert list(b.pull(ref, insecure=True))[-1]["status"] == "success"
            out = list(b.generate({"model": ref, "prompt": "hi", "options": {"num_predict": 2}}))
            assert out[-1]["done"] is True
        assert "sha256:" + tags_digest(second_live_host.url, ref) == registry_digest(live_registry, repo, "v1")
    finally:
        delete_models(live_host, [base, ref])
        delete_models(second_live_host.url, [ref])
