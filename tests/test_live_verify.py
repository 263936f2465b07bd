"""``--verify``, bases on an http registry, and round trips, against a real Ollama (marked `live`).

Written against Ollama 0.9.3 (tests/real_ollama.py), whose ``/api/ps`` has no ``context_length``:
``--verify`` measures the runner's context there with one over-long prompt. Nothing is downloaded:
models come from the tiny GGUFs of tests/fixtures_gguf.py, a base on an http registry from a small
OCI registry served here on loopback. Every model created is deleted afterwards.

    pytest -m live --ollama-host http://127.0.0.1:11434 tests/test_live_verify.py
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from modelctl.jobs.probe import MEASURE_MAX_CONTEXT
from tests.fixtures_double import run_cli
from tests.fixtures_gguf import write_tiny_llama, write_tiny_lora
from tests.test_live import build, names, profile, unique

pytestmark = pytest.mark.live

__all__ = ["names"]  # the fixture, used by name

TRAINED = 2048


def version_of(host: str) -> str:
    from modelctl.ollama.server import OllamaClient

    with OllamaClient(host) as client:
        return client.version()


def ps_says_context(host: str) -> bool:
    from modelctl.ollama.wire import older_than

    return not older_than(version_of(host), "0.10.0")


def upload(client: Any, path: Path) -> str:
    data = path.read_bytes()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    if not client.blob_exists(digest):
        client.upload_blob(path, digest)
    return digest


def create(host: str, request: dict[str, Any]) -> None:
    from modelctl.ollama.server import OllamaClient

    with OllamaClient(host) as client:
        for _ in client.create({**request, "stream": True}):
            pass


def real_cli(host: str, *args: str) -> str | None:
    """The real Ollama CLI's output, when it is the server of tests/real_ollama.py; else None."""
    from tests.real_ollama import binary, default_dir

    exe = binary(default_dir())
    if not exe.is_file() or urlsplit(host).hostname not in ("127.0.0.1", "localhost"):
        return None
    env = {**os.environ, "OLLAMA_HOST": host, "LD_LIBRARY_PATH": str(exe.parent)}
    return subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, check=True, timeout=60).stdout


# ---------------------------------------------------------------------------------------- --verify


def test_live_verify_without_num_ctx_checks_nothing(live_host: str, tmp_path: Path, names: list[str]) -> None:
    name = unique("noctx")
    names.append(name)
    code, doc, err = build(live_host, tmp_path, str(profile(tmp_path, name)), "--verify")
    assert code == 0, err
    v = doc["data"]["builds"][0]["verify"]
    assert v["ok"] is None and "no num_ctx" in v["reason"]
    proc = run_cli("show", name, "--verify", host=live_host)
    assert proc.returncode == 0 and "verify: not checked" in proc.stdout
    assert "not loaded" not in proc.stdout


def test_live_verify_measures_num_ctx(live_host: str, tmp_path: Path, names: list[str]) -> None:
    name = unique("ctx")
    names.append(name)
    prof = profile(tmp_path, name, "parameters: {num_ctx: 1024}\n")
    code, doc, err = build(live_host, tmp_path, str(prof), "--verify")
    assert code == 0, err
    b = doc["data"]["builds"][0]
    assert b["verify"]["ok"] is True and b["report"]["context_length"]["runtime"] == 1024
    if not ps_says_context(live_host):
        # 0.9.3 cuts the over-long prompt to exactly the runner's context (runner/llamarunner/runner.go).
        assert b["verify"]["measured"]["prompt_eval_count"] == 1024 and b["verify"]["measured"]["cut"] is True
        assert b["report"]["runtime"]["context_length_source"] == "measured"
    proc = run_cli("show", name, "--verify", "--format", "json", host=live_host)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["data"]["verify"]["ok"] is True


def test_live_verify_at_the_bound(live_host: str, tmp_path: Path, names: list[str]) -> None:
    name = unique("bound")
    names.append(name)
    write_tiny_llama(tmp_path / "tiny.gguf", context_length=MEASURE_MAX_CONTEXT * 2)
    prof = profile(tmp_path, name, f"parameters: {{num_ctx: {MEASURE_MAX_CONTEXT}}}\n")
    start = time.monotonic()
    code, doc, err = build(live_host, tmp_path, str(prof), "--verify")
    took = time.monotonic() - start
    assert code == 0, err
    b = doc["data"]["builds"][0]
    assert b["verify"]["ok"] is True and b["report"]["context_length"]["runtime"] == MEASURE_MAX_CONTEXT
    print(f"build --verify at num_ctx {MEASURE_MAX_CONTEXT}: {took:.1f} s; measured {b['verify'].get('measured')}")


def test_live_verify_above_the_bound(live_host: str, tmp_path: Path, names: list[str]) -> None:
    if ps_says_context(live_host):
        pytest.skip("this server's /api/ps says the context: nothing is measured")
    name = unique("above")
    names.append(name)
    write_tiny_llama(tmp_path / "tiny.gguf", context_length=MEASURE_MAX_CONTEXT * 4)
    prof = profile(tmp_path, name, f"parameters: {{num_ctx: {MEASURE_MAX_CONTEXT * 2}}}\n")
    code, doc, err = build(live_host, tmp_path, str(prof), "--verify")
    assert code == 0, err
    v = doc["data"]["builds"][0]["verify"]
    assert v["ok"] is None and "not checked" in v["reason"]
    assert any(w["code"] == "verify_not_checked" for w in doc["warnings"])


@pytest.mark.parametrize("num_ctx", [TRAINED * 2, 131072])  # the second above the bound: the clamp is below it
def test_live_verify_clamp_fails(live_host: str, tmp_path: Path, names: list[str], num_ctx: int) -> None:
    """llm/server.go (v0.9.3) NewLlamaServer: num_ctx per slot above the trained length is clamped to it."""
    name = unique("clamp")
    names.append(name)
    prof = profile(tmp_path, name, f"parameters: {{num_ctx: {num_ctx}}}\n")
    code, doc, err = build(live_host, tmp_path, str(prof), "--verify")
    assert code == 6, err
    b = doc["data"]["builds"][0]
    assert b["verify"]["ok"] is False and b["report"]["context_length"]["runtime"] == TRAINED
    assert "clamped it to the model's trained context length" in doc["errors"][0]["message"]
    proc = run_cli("show", name, "--verify", host=live_host)
    assert proc.returncode == 6 and "verify: FAILED" in proc.stdout


# ---------------------------------------------------------------------------------------- round trips


def test_live_show_modelfile_matches_the_real_cli(live_host: str, tmp_path: Path, names: list[str]) -> None:
    from modelctl.ollama.server import OllamaClient

    base, kid = unique("base"), unique("kid")
    names += [kid, base]
    write_tiny_llama(tmp_path / "tiny.gguf", context_length=TRAINED)
    write_tiny_lora(tmp_path / "lora.gguf")
    with OllamaClient(live_host) as client:
        weights, lora = upload(client, tmp_path / "tiny.gguf"), upload(client, tmp_path / "lora.gguf")
    create(live_host, {"model": base, "files": {"tiny.gguf": weights}, "license": "Base terms"})
    licenses = ["MIT text", "Apache text"]
    create(live_host, {"model": kid, "from": base, "adapters": {"lora.gguf": lora}, "license": licenses,
                       "parameters": {"num_ctx": 1024, "temperature": 0.5}, "system": "Be brief."})  # fmt: skip
    proc = run_cli("show", kid, "--modelfile", host=live_host)
    assert proc.returncode == 0, proc.stderr
    ours = proc.stdout.splitlines()
    with OllamaClient(live_host) as client:
        theirs = client.show(kid)["modelfile"].splitlines()
    cli_text = real_cli(live_host, "show", "--modelfile", kid)
    if cli_text is not None:  # the real CLI prints the server's Modelfile as it is
        assert cli_text.splitlines() == theirs
    adapters = [x for x in theirs if x.startswith("ADAPTER ")]
    assert len(adapters) == 1 and "sha256-" + lora[7:] in adapters[0]
    assert [x for x in ours if x.startswith("ADAPTER ")] == adapters
    assert ours[1] == f"FROM {base}:latest" and ours[2] == adapters[0]
    lic = [x for x in theirs if x.startswith("LICENSE ")]
    assert lic == ["LICENSE Base terms", "LICENSE MIT text", "LICENSE Apache text"]
    assert [x for x in ours if x.startswith("LICENSE ")] == lic[1:]  # the base's comes with FROM
    for line in ("SYSTEM Be brief.", "PARAMETER num_ctx 1024", "PARAMETER temperature 0.5"):
        assert line in ours and line in theirs


def test_live_two_licenses_survive_import_and_rebuild(live_host: str, tmp_path: Path, names: list[str]) -> None:
    from modelctl.ollama.server import OllamaClient

    base, two, again = unique("lbase"), unique("two"), unique("again")
    names += [again, two, base]
    write_tiny_llama(tmp_path / "tiny.gguf", context_length=TRAINED)
    with OllamaClient(live_host) as client:
        weights = upload(client, tmp_path / "tiny.gguf")
    create(live_host, {"model": base, "files": {"tiny.gguf": weights}})
    create(live_host, {"model": two, "from": base, "license": ["MIT text", "Apache text"]})
    env = {"MODELCTL_STATE_DIR": str(tmp_path / "state")}
    proc = run_cli("import", "--model", two, "-o", "two.yaml", host=live_host, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "two.yaml").read_text(encoding="utf-8")
    assert "license:\n- MIT text\n- Apache text\n" in text
    (tmp_path / "again.yaml").write_text(text.replace(f"name: {two}", f"name: {again}"), encoding="utf-8")
    code, doc, err = build(live_host, tmp_path, "again.yaml")
    assert code == 0, err
    with OllamaClient(live_host) as client:
        lines = client.show(again)["modelfile"].splitlines()
    assert [x for x in lines if x.startswith("LICENSE ")] == ["LICENSE MIT text", "LICENSE Apache text"]


def test_live_import_of_a_value_no_profile_can_hold(live_host: str, tmp_path: Path, names: list[str]) -> None:
    from modelctl.ollama.server import OllamaClient

    base, big = unique("bbase"), unique("big")
    names += [big, base]
    write_tiny_llama(tmp_path / "tiny.gguf", context_length=TRAINED)
    with OllamaClient(live_host) as client:
        weights = upload(client, tmp_path / "tiny.gguf")
        create(live_host, {"model": base, "files": {"tiny.gguf": weights}})
        create(live_host, {"model": big, "from": base, "parameters": {"num_ctx": "big", "temperature": 0.3}})
        assert 'num_ctx                        "big"' in client.show(big)["parameters"]  # stored as sent
    proc = run_cli("import", "--model", big, "-o", "big.yaml", host=live_host, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "stored parameter num_ctx = 'big' is not a value a profile can hold" in proc.stderr
    text = (tmp_path / "big.yaml").read_text(encoding="utf-8")
    assert "num_ctx" not in text and "temperature: 0.3" in text
    proc = run_cli("validate", "big.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---------------------------------------------------------------------------------------- http registry


class _Registry(http.server.BaseHTTPRequestHandler):
    """A minimal OCI distribution registry over plain http: one manifest and its blobs. Ollama takes
    a blob only through a redirect to another host name (server/download.go), so a blob GET on
    127.0.0.1 answers 307 to ``localhost``, which serves it (ranges included). A TLS hello gets a
    plain HTTP 400, as a registry written in Go answers it."""

    protocol_version = "HTTP/1.1"
    manifests: dict[str, bytes] = {}
    blobs: dict[str, bytes] = {}
    seen: list[str] = []

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def handle_one_request(self) -> None:
        first = self.connection.recv(1, socket.MSG_PEEK)
        if first == b"\x16":  # a TLS hello: this registry speaks http only
            self.seen.append("tls")
            self.connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.close_connection = True
            return
        super().handle_one_request()

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None, *, head: bool = False) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_GET(self) -> None:
        self._route(head=False)

    def _route(self, *, head: bool) -> None:
        self.seen.append(f"{self.command} {self.headers.get('Host')}{self.path}")
        path = self.path.split("?", 1)[0]
        host = (self.headers.get("Host") or "").split(":")[0]
        if "/manifests/" in path and path in self.manifests:
            mt = "application/vnd.docker.distribution.manifest.v2+json"
            return self._send(200, self.manifests[path], {"Content-Type": mt}, head=head)
        digest = path.rsplit("/", 1)[-1]
        if digest not in self.blobs:
            return self._send(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}', head=head)
        data = self.blobs[digest]
        if "/blobs/" in path and host == "127.0.0.1" and not head:
            port = self.server.server_address[1]
            return self._send(307, b"", {"Location": f"http://localhost:{port}/direct/{digest}"})
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            lo, _, hi = rng[6:].partition("-")
            part = data[int(lo) : int(hi) + 1 if hi else len(data)]
            end = int(lo) + len(part) - 1
            return self._send(206, part, {"Content-Range": f"bytes {lo}-{end}/{len(data)}"}, head=head)
        return self._send(200, data, head=head)


@pytest.fixture
def http_registry(tmp_path: Path) -> Iterator[tuple[str, type[_Registry]]]:
    """A registry on 127.0.0.1 holding ``team/base:v1`` (the tiny llama); yields ``127.0.0.1:PORT``."""
    write_tiny_llama(tmp_path / "reg.gguf", context_length=TRAINED)
    weights = (tmp_path / "reg.gguf").read_bytes()
    config = json.dumps({"model_format": "gguf", "model_family": "llama", "model_families": ["llama"],
                         "model_type": "107K", "file_type": "F16", "architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()  # fmt: skip

    def sha(b: bytes) -> str:
        return "sha256:" + hashlib.sha256(b).hexdigest()

    handler = type("Registry", (_Registry,), {"manifests": {}, "blobs": {sha(weights): weights, sha(config): config},
                                              "seen": []})  # fmt: skip
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": sha(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.ollama.image.model", "digest": sha(weights), "size": len(weights)}],
    }  # fmt: skip
    handler.manifests["/v2/team/base/manifests/v1"] = json.dumps(manifest).encode()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_live_base_on_an_http_registry(
    live_host: str, tmp_path: Path, names: list[str], http_registry: tuple[str, type[_Registry]]
) -> None:
    if urlsplit(live_host).hostname not in ("127.0.0.1", "localhost"):
        pytest.skip("the registry runs on this machine's loopback: the server must too")
    registry, handler = http_registry
    base = f"{registry}/team/base:v1"
    name = unique("onhttp")
    names += [name, base]
    (tmp_path / f"{name}.yaml").write_text(f"name: {name}\nfrom: {base}\nparameters: {{temperature: 0.4}}\n")
    code, doc, err = build(live_host, tmp_path, f"{name}.yaml")
    assert code == 5
    message = doc["errors"][0]["message"]
    assert "server gave HTTP response to HTTPS client" in message, message
    assert f"pass --insecure-registry {registry}" in message
    assert handler.seen and handler.seen[0] == "tls"
    # The host without its port covers every port of it.
    code, doc, err = build(live_host, tmp_path, f"{name}.yaml", "--insecure-registry", "127.0.0.1")
    assert code == 0, err
    b = doc["data"]["builds"][0]
    assert b["pulled"] is True and b["status"] == "created"
    assert any(s.startswith("GET localhost:") for s in handler.seen)  # the blob came through the redirect
