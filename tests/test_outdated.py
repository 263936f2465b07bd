"""``modelctl outdated`` and the manifest lookup behind it: OCI and Ollama-registry answers (respx)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx
from click.testing import CliRunner

from modelctl.cli import cli
from modelctl.errors import ServerError, ServerUnreachable
from modelctl.ollama.manifests import manifest_digest, manifest_ref

OLD = "aa" * 32
NEW = "sha256:" + "bb" * 32
MANIFEST = b'{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}'


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as r:
        yield r


def test_names_read_as_ollama_reads_them() -> None:
    assert manifest_ref("llama3.2:3b").url(False) == "https://registry.ollama.ai/v2/library/llama3.2/manifests/3b"
    assert manifest_ref("me/m").url(False) == "https://registry.ollama.ai/v2/me/m/manifests/latest"
    assert manifest_ref("reg.lan:5000/team/m:v1").url(True) == "http://reg.lan:5000/v2/team/m/manifests/v1"


def test_oci_registry_digest_header(router: respx.MockRouter) -> None:
    route = router.head("http://reg.lan:5000/v2/team/m/manifests/v1").mock(
        return_value=httpx.Response(200, headers={"Docker-Content-Digest": NEW})
    )
    assert manifest_digest("reg.lan:5000/team/m:v1", insecure_registries=["reg.lan"]) == NEW
    assert "application/vnd.docker.distribution.manifest.v2+json" in route.calls[0].request.headers["accept"]


def test_ollama_registry_without_the_header_hashes_the_manifest(router: respx.MockRouter) -> None:
    url = "https://registry.ollama.ai/v2/library/llama3.2/manifests/3b"
    router.head(url).mock(return_value=httpx.Response(200))
    router.get(url).mock(return_value=httpx.Response(200, content=MANIFEST))
    assert manifest_digest("llama3.2:3b") == "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


@pytest.mark.parametrize(("status", "words"), [(404, "has no library/m:v1"), (401, "refused to show")])
def test_a_registry_that_refuses_is_a_server_error(router: respx.MockRouter, status: int, words: str) -> None:
    url = "https://registry.ollama.ai/v2/library/m/manifests/v1"
    router.head(url).mock(return_value=httpx.Response(status))
    router.get(url).mock(return_value=httpx.Response(status))
    with pytest.raises(ServerError, match=words):
        manifest_digest("m:v1")


def test_an_unreachable_registry(router: respx.MockRouter) -> None:
    router.head("https://reg.lan/v2/team/m/manifests/latest").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(ServerUnreachable, match="cannot be reached"):
        manifest_digest("reg.lan/team/m")


def write_lock(path: Path, base: str = "reg.lan:5000/team/base:v1", digest: str | None = OLD) -> Path:
    entry = {"base": {"name": base, "digest": digest, "blobs": []}, "profile": "p.yaml", "fingerprint": "x"}
    data = {"lock_version": 1, "hosts": {"http://gpu:11434": {"server_version": "0.9.3", "models": {"m": entry}}}}
    path.write_text(json.dumps(data))
    return path


def outdated(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    lock = write_lock(tmp_path / "m.lock")
    res = CliRunner().invoke(
        cli, ["outdated", "--lock", str(lock), "--insecure-registry", "reg.lan:5000", *args], catch_exceptions=False
    )
    return res.exit_code, res.stdout, res.stderr


def answer(router: respx.MockRouter, digest: str) -> None:
    router.head("http://reg.lan:5000/v2/team/base/manifests/v1").mock(
        return_value=httpx.Response(200, headers={"Docker-Content-Digest": digest})
    )


def test_unchanged_base_exit_0(router: respx.MockRouter, tmp_path: Path) -> None:
    answer(router, "sha256:" + OLD)
    code, out, _ = outdated(tmp_path)
    assert code == 0
    assert out.startswith("every base is current (1 checked")


def test_changed_base_exit_3_json(router: respx.MockRouter, tmp_path: Path) -> None:
    answer(router, NEW)
    code, out, _ = outdated(tmp_path, "--format", "json")
    assert code == 3
    doc = json.loads(out)
    assert doc["command"] == "outdated" and doc["ok"] is False
    assert doc["data"]["bases"] == [
        {"name": "reg.lan:5000/team/base:v1", "locked_digest": "sha256:" + OLD, "current_digest": NEW,
         "changed": True, "used_by": [{"host": "http://gpu:11434", "model": "m", "profile": "p.yaml"}]}
    ]  # fmt: skip


def test_changed_base_text_and_github(router: respx.MockRouter, tmp_path: Path) -> None:
    answer(router, NEW)
    code, out, _ = outdated(tmp_path)
    assert code == 3
    assert "~ base reg.lan:5000/team/base:v1 changed on its registry since the lock: aaaaaaaaaaaa → bbbbbbbbbbbb" in out
    code, out, _ = outdated(tmp_path, "--format", "github")
    assert code == 3
    (line,) = out.splitlines()
    assert line.startswith("::warning file=") and "m.lock" in line and "title=modelctl base_outdated" in line


def test_unreachable_registry_exit_4(router: respx.MockRouter, tmp_path: Path) -> None:
    router.head("http://reg.lan:5000/v2/team/base/manifests/v1").mock(side_effect=httpx.ConnectError("refused"))
    assert outdated(tmp_path)[0] == 4


def test_refusing_registry_exit_5(router: respx.MockRouter, tmp_path: Path) -> None:
    url = "http://reg.lan:5000/v2/team/base/manifests/v1"
    router.head(url).mock(return_value=httpx.Response(404))
    router.get(url).mock(return_value=httpx.Response(404))
    assert outdated(tmp_path)[0] == 5


def test_no_lock_file_is_invalid_input(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["outdated", "--lock", str(tmp_path / "none.lock")])
    assert res.exit_code == 1
    assert "no lock file" in res.stderr


def test_the_inventorys_insecure_registries_are_asked_over_http(router: respx.MockRouter, tmp_path: Path) -> None:
    answer(router, NEW)
    lock = write_lock(tmp_path / "m.lock")
    inv = tmp_path / "fleet.yaml"
    inv.write_text("hosts:\n  gpu:\n    url: http://gpu:11434\n    insecure_registries: [reg.lan:5000]\n")
    res = CliRunner().invoke(cli, ["outdated", "--lock", str(lock), "--hosts", str(inv)], catch_exceptions=False)
    assert res.exit_code == 3, res.stderr
