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
    from modelctl.ollama.server import OllamaClient
    from modelctl.ollama.wire import find_entry

    with OllamaClient(host) as client:
        return str((find_entry(client.tags(), name) or {})["digest"])


def test_push_pull_run_through_the_registry(
    live_host: str, second_live_host: Server, live_registry: Registry, tmp_path: Path
) -> None:
    """Created on server A, copied and pushed (insecure) to the registry, pulled on server B and
    run there; B's /api/tags digest is the registry's manifest digest (A's local one is not)."""
    from modelctl.ollama.server import OllamaClient

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


def run_cli(*args: str, cwd: Path) -> tuple[int, str, str]:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "modelctl", *args], cwd=cwd, capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


def test_push_prints_the_registry_digest(live_host: str, live_registry: Registry, tmp_path: Path) -> None:
    import json

    base = unique("pushsrc")
    create_model(live_host, base, write_tiny_llama(tmp_path / "tiny.gguf"))
    ref = f"{live_registry.address}/team/{base}:v3"
    try:
        code, out, err = run_cli(
            "push", base, "--to", f"{live_registry.address}/team", "--tag", "v3", "--host", live_host,
            "--insecure-registry", live_registry.address, "--format", "json", cwd=tmp_path,
        )  # fmt: skip
        assert code == 0, err
        pushed = json.loads(out)["data"]["models"][0]
        assert pushed["reference"] == ref
        assert pushed["digest"] == registry_digest(live_registry, f"team/{base}", "v3")
    finally:
        delete_models(live_host, [base, ref])


def test_outdated_after_a_new_push_of_the_base_tag(
    live_host: str, second_live_host: Server, live_registry: Registry, tmp_path: Path
) -> None:
    """A base on the insecure registry, pulled and built on a real server with --lock: outdated
    says 0; after another model is pushed under the same tag, 3 naming the base and its user."""
    import json

    from modelctl.ollama.server import OllamaClient

    src, other = unique("obase"), unique("onew")
    ref = f"{live_registry.address}/team/{src}:v1"
    create_model(live_host, src, write_tiny_llama(tmp_path / "tiny.gguf"))
    create_model(live_host, other, write_tiny_llama(tmp_path / "tiny.gguf"), system="a new version")
    derived = unique("oderived")
    (tmp_path / "p.yaml").write_text(f"name: {derived}\nfrom: {ref}\nparameters:\n  temperature: 0.3\n")
    reg = ("--insecure-registry", live_registry.address)
    try:
        with OllamaClient(live_host) as a:
            a.copy(src, ref)
            assert list(a.push(ref, insecure=True))[-1]["status"] == "success"
        code, _, err = run_cli(
            "build", "p.yaml", "--host", second_live_host.url, *reg, "--lock", "m.lock", cwd=tmp_path
        )
        assert code == 0, err
        code, out, err = run_cli("outdated", "--lock", "m.lock", *reg, cwd=tmp_path)
        assert (code, out) == (0, "every base is current (1 checked in m.lock)\n"), err
        with OllamaClient(live_host) as a:
            a.delete(ref)
            a.copy(other, ref)
            assert list(a.push(ref, insecure=True))[-1]["status"] == "success"
        code, out, err = run_cli("outdated", "--lock", "m.lock", *reg, "--format", "json", cwd=tmp_path)
        assert code == 3, err
        (base,) = json.loads(out)["data"]["bases"]
        assert base["changed"] is True and base["name"] == ref
        assert base["current_digest"] == registry_digest(live_registry, f"team/{src}", "v1")
        assert base["used_by"] == [{"host": second_live_host.url, "model": derived, "profile": "p.yaml"}]
    finally:
        delete_models(live_host, [src, other, ref])
        delete_models(second_live_host.url, [ref, derived])


def test_via_registry_builds_once_and_every_host_has_the_registrys_digest(
    live_host: str, second_live_host: Server, live_registry: Registry, tmp_path: Path
) -> None:
    """`build --hosts --via-registry` of a profile with local weights on two real servers: built
    (and its file uploaded) on the first only, pulled by the second (its own log shows no blob
    upload), one digest on both, the registry's. A model made again by hand on the second is
    drift for plan; the next via-registry build brings it back to the registry's manifest."""
    import json

    name = unique("via")
    write_tiny_llama(tmp_path / "tiny.gguf", name=name)  # weights no server has yet: the upload is seen
    (tmp_path / "p.yaml").write_text(f"name: {name}\nfrom: ./tiny.gguf\nparameters:\n  temperature: 0.4\n")
    (tmp_path / "fleet.yaml").write_text(
        f"hosts:\n  one: {live_host}\n  two: {second_live_host.url}\n"
        f"registry:\n  url: {live_registry.address}/team\n  insecure: true\n"
    )
    ref = f"{live_registry.address}/team/{name}:latest"
    log = Path(second_live_host.log)
    mark = log.stat().st_size
    fleet = ("--hosts", "fleet.yaml")
    try:
        code, out, err = run_cli(
            "build", "p.yaml", *fleet, "--via-registry", "--lock", "m.lock", "--format", "json", cwd=tmp_path
        )
        assert code == 0, err
        builds = {h["host"]: h["result"]["builds"][0] for h in json.loads(out)["data"]["hosts"]}
        assert builds["one"]["uploaded_bytes"] > 0 and builds["one"]["registry"]["built_here"] is True
        assert builds["two"]["uploaded_bytes"] == 0 and builds["two"]["registry"]["built_here"] is False
        seen = log.read_bytes()[mark:].decode("utf-8", "replace")
        assert '"/api/pull"' in seen and "/api/blobs" not in seen and '"/api/create"' not in seen
        want = registry_digest(live_registry, f"team/{name}", "latest")
        assert "sha256:" + tags_digest(live_host, name) == "sha256:" + tags_digest(second_live_host.url, name) == want
        assert builds["two"]["registry"]["digest"] == want
        assert run_cli("plan", "p.yaml", *fleet, "--lock", "m.lock", cwd=tmp_path)[0] == 0

        code, _, err = run_cli("build", "p.yaml", "--host", second_live_host.url, "--force", cwd=tmp_path)
        assert code == 0, err  # the same content, made again by hand: another manifest
        assert "sha256:" + tags_digest(second_live_host.url, name) != want
        code, out, err = run_cli("plan", "p.yaml", *fleet, "--lock", "m.lock", "--format", "json", cwd=tmp_path)
        assert code == 3, err
        two = next(h for h in json.loads(out)["data"]["hosts"] if h["host"] == "two")["result"]["profiles"][0]
        assert two["status"] == "in_sync" and [u["field"] for u in two["upstream"]] == ["digest"]

        code, out, err = run_cli("build", "p.yaml", *fleet, "--via-registry", "--lock", "m.lock", cwd=tmp_path)
        assert code == 0, err
        assert f"shipped {ref} ({want}): the registry's copy is current, pulled on two" in out
        assert "sha256:" + tags_digest(second_live_host.url, name) == want
        assert run_cli("plan", "p.yaml", *fleet, "--lock", "m.lock", cwd=tmp_path)[0] == 0
    finally:
        delete_models(live_host, [name, ref])
        delete_models(second_live_host.url, [name, ref])
