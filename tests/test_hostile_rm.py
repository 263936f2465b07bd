"""`rm` against a server that lies: an HTTP 200 carrying `{"error": ...}` is a failure (exit 5), as
every other answer is judged, and `rm NAME` deletes the entry whose name is NAME, never another
entry whose `model` field happens to say NAME.

A real Ollama (server/routes.go DeleteHandler, v0.9.3) answers a delete with an empty 200.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures_double import run_cli
from tests.fixtures_hostile import HANG, assert_refused
from tests.hostile_server import HostileServer, Request, json_reply, reply

DIGEST = "0" * 64


def entry(name: str, model: str) -> dict[str, object]:
    return {"name": name, "model": model, "size": 1, "digest": DIGEST, "modified_at": "2026-01-01T00:00:00Z"}


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as srv:
        yield srv


def deleted(server: HostileServer) -> list[str]:
    return [json.loads(r.small_body or b"{}")["model"] for r in server.requests if r.path == "/api/delete"]


def test_a_200_with_an_error_is_a_failed_delete(server: HostileServer, tmp_path: Path) -> None:
    server.routes["/api/tags"] = lambda req: [json_reply({"models": [entry("victim:latest", "victim:latest")]})]
    server.routes["/api/delete"] = lambda req: [json_reply({"error": "permission denied"})]
    proc = run_cli("rm", "victim", host=server.url, cwd=tmp_path, timeout=HANG)
    assert proc.returncode == 5, (proc.stdout, proc.stderr)
    assert "removed victim" not in proc.stdout
    assert "permission denied" in proc.stderr and server.url in proc.stderr


def test_a_200_that_is_not_json_is_malformed(server: HostileServer, tmp_path: Path) -> None:
    server.routes["/api/tags"] = lambda req: [json_reply({"models": [entry("victim:latest", "victim:latest")]})]
    server.routes["/api/delete"] = lambda req: [reply(200, b"<html>maintenance</html>")]
    proc = run_cli("rm", "victim", host=server.url, cwd=tmp_path, timeout=HANG)
    assert proc.returncode == 5 and "malformed answer" in proc.stderr, proc.stderr


def test_an_empty_200_is_a_delete(server: HostileServer, tmp_path: Path) -> None:
    server.routes["/api/tags"] = lambda req: [json_reply({"models": [entry("victim:latest", "victim:latest")]})]
    proc = run_cli("rm", "victim", host=server.url, cwd=tmp_path, timeout=HANG)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("removed victim:latest") and deleted(server) == ["victim:latest"]


def test_rm_never_deletes_an_entry_whose_model_field_alone_matches(server: HostileServer, tmp_path: Path) -> None:
    def tags(req: Request) -> list[bytes]:
        # the first entry says `model: victim` but is the model `important`
        return [json_reply({"models": [entry("important:latest", "victim:latest"), entry("victim:latest", "v")]})]

    server.routes["/api/tags"] = tags
    proc = run_cli("rm", "victim", host=server.url, cwd=tmp_path, timeout=HANG)
    assert proc.returncode == 0, proc.stderr
    assert deleted(server) == ["victim:latest"]

    server.routes["/api/tags"] = lambda req: [json_reply({"models": [entry("important:latest", "victim:latest")]})]
    server.requests.clear()
    proc = run_cli("rm", "victim", host=server.url, cwd=tmp_path, timeout=HANG)
    assert_refused(proc, 5, "model 'victim' is not on the server", "nothing removed")
    assert deleted(server) == []
