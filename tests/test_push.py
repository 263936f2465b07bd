"""``modelctl push``: copy to REGISTRY/NAMESPACE/NAME:TAG, push, print the registry's digest.

The server is the double (its /api/copy and /api/push); the registry's manifest answer is mocked
with respx (loopback traffic to the double passes through)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from click.testing import CliRunner

from modelctl.cli import cli
from modelctl.jobs.push import parse_destination, reference_for
from tests.ollama_double import OllamaDouble

REG = "registry.test:5000"
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def registry() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        router.route(host="127.0.0.1").pass_through()
        yield router


def run(host: str, *args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli, ["push", "--host", host, *args], catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


def manifest(router: respx.MockRouter, repo: str, tag: str, **kw: Any) -> respx.Route:
    url = f"http://{REG}/v2/{repo}/manifests/{tag}"
    return router.head(url).mock(return_value=httpx.Response(200, headers={"Docker-Content-Digest": DIGEST}, **kw))


def test_reference_takes_the_models_tag_else_latest() -> None:
    assert reference_for("llama3.2:3b", "r:5000/team", None) == "r:5000/team/llama3.2:3b"
    assert reference_for("chef", "r:5000/team", None) == "r:5000/team/chef:latest"
    assert reference_for("ns/chef:v1", "r:5000/team", "v2") == "r:5000/team/chef:v2"


@pytest.mark.parametrize("bad", ["registry.test:5000", "http://r/team", "r/a/b", "r:99999/team"])
def test_a_bad_destination_is_invalid_input(bad: str) -> None:
    from modelctl.errors import InvalidInput

    with pytest.raises(InvalidInput):
        parse_destination(bad)


def test_push_copies_pushes_and_prints_the_registry_digest(
    ollama_double: OllamaDouble, registry: respx.MockRouter, tmp_path: Path
) -> None:
    ollama_double.state.http_registries.add(REG)
    ollama_double.install("llama3.2:3b")
    route = manifest(registry, "team/llama3.2", "3b")
    lock = tmp_path / "modelctl.lock"
    code, out, err = run(
        ollama_double.url, "llama3.2:3b", "--to", f"{REG}/team", "--insecure-registry", REG,
        "--lock", str(lock), "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    assert doc["command"] == "push" and doc["ok"] is True
    assert doc["data"]["models"] == [
        {"source": "llama3.2:3b", "reference": f"{REG}/team/llama3.2:3b", "profile": None, "digest": DIGEST,
         "insecure": True}
    ]  # fmt: skip
    assert route.called
    from tests.ollama_double import parse_name

    kept = parse_name(f"{REG}/team/llama3.2:3b")
    assert kept is not None and kept.key in ollama_double.state.models  # the registry name stays on the host
    pushed = json.loads(lock.read_text())["hosts"][ollama_double.url]["pushed"]
    assert pushed == {f"{REG}/team/llama3.2:3b": {"source": "llama3.2:3b", "digest": DIGEST}}


def test_text_output_and_tag(ollama_double: OllamaDouble, registry: respx.MockRouter) -> None:
    ollama_double.state.http_registries.add(REG)
    ollama_double.install("llama3.2:3b")
    manifest(registry, "team/llama3.2", "v9")
    code, out, _ = run(
        ollama_double.url, "llama3.2:3b", "--to", f"{REG}/team", "--tag", "v9", "--insecure-registry", REG
    )
    assert code == 0
    assert out == f"pushed llama3.2:3b as {REG}/team/llama3.2:v9\n  digest {DIGEST}\n"


def test_http_registry_without_the_option_names_it(ollama_double: OllamaDouble, registry: respx.MockRouter) -> None:
    ollama_double.state.http_registries.add(REG)
    ollama_double.install("llama3.2:3b")
    code, _, err = run(ollama_double.url, "llama3.2:3b", "--to", f"{REG}/team")
    assert code == 5
    assert f"pass --insecure-registry {REG}" in err and "to push to it" in err


def test_a_missing_model_pushes_nothing(ollama_double: OllamaDouble, registry: respx.MockRouter) -> None:
    code, _, err = run(ollama_double.url, "nosuch", "--to", f"{REG}/team")
    assert code == 5
    assert "model 'nosuch' is not on the server" in err and "nothing pushed" in err
    assert not ollama_double.state.registry.keys() & {"registry.test:5000/team/nosuch:latest"}


def test_an_unreachable_host_is_exit_4(closed_port_url: str) -> None:
    code, _, err = run(closed_port_url, "m", "--to", f"{REG}/team")
    assert code == 4, err


def test_a_registry_that_cannot_be_asked_is_exit_4(ollama_double: OllamaDouble, registry: respx.MockRouter) -> None:
    ollama_double.state.http_registries.add(REG)
    ollama_double.install("llama3.2:3b")
    registry.head(f"http://{REG}/v2/team/llama3.2/manifests/3b").mock(side_effect=httpx.ConnectError("refused"))
    code, _, err = run(ollama_double.url, "llama3.2:3b", "--to", f"{REG}/team", "--insecure-registry", REG)
    assert code == 4
    assert f"the registry {REG} cannot be reached" in err


def test_the_lock_keeps_pushed_names_through_other_writes(tmp_path: Path) -> None:
    from modelctl.jobs.lock import LockEntry, read_lock

    path = tmp_path / "m.lock"
    lock = read_lock(path, missing_ok=True)
    lock.put_push("h", "0.9.3", f"{REG}/team/m:v1", "m", DIGEST)
    lock.write()
    again = read_lock(path)  # a later build writes its entry: the pushed name stays
    again.put("h", "0.9.3", LockEntry.from_dict("m", {"fingerprint": "f"}))
    again.write()
    data = json.loads(path.read_text())["hosts"]["h"]
    assert data["pushed"] == {f"{REG}/team/m:v1": {"source": "m", "digest": DIGEST}}
    assert data["server_version"] == "0.9.3" and "m" in data["models"]


def test_a_damaged_pushed_mapping_is_invalid_input(tmp_path: Path) -> None:
    from modelctl.errors import InvalidInput
    from modelctl.jobs.lock import read_lock

    path = tmp_path / "m.lock"
    path.write_text(json.dumps({"lock_version": 1, "hosts": {"h": {"models": {}, "pushed": {"x": [1]}}}}))
    with pytest.raises(InvalidInput, match="not a mapping of mappings") as info:
        read_lock(path)
    assert info.value.field == "hosts.h.pushed"


def test_a_profile_pushes_its_model(
    ollama_double: OllamaDouble, registry: respx.MockRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ollama_double.state.http_registries.add(REG)
    ollama_double.install("llama3.2:3b", as_name="chef")
    (tmp_path / "chef.yaml").write_text("name: chef\nfrom: llama3.2:3b\nparameters:\n  temperature: 0.7\n")
    monkeypatch.chdir(tmp_path)
    manifest(registry, "team/chef", "latest")
    code, out, err = run(ollama_double.url, "chef.yaml", "--to", f"{REG}/team", "--insecure-registry", REG)
    assert code == 0, err
    assert out.splitlines()[0] == f"pushed chef (the model of chef.yaml) as {REG}/team/chef:latest"


def test_an_inventorys_insecure_registries_push_over_http(
    ollama_double: OllamaDouble, registry: respx.MockRouter, tmp_path: Path
) -> None:
    """The inventory key is the same spelling as the flag: `push --hosts` reads it as build does."""
    ollama_double.state.http_registries.add(REG)
    ollama_double.install("llama3.2:3b")
    manifest(registry, "team/llama3.2", "3b")
    inventory = tmp_path / "fleet.yaml"
    inventory.write_text(f"hosts:\n  local:\n    url: {ollama_double.url}\ninsecure_registries: [{REG}]\n")
    res = CliRunner().invoke(
        cli, ["push", "--hosts", str(inventory), "llama3.2:3b", "--to", f"{REG}/team", "--format", "json"],
        catch_exceptions=False,
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["data"]["models"][0]["insecure"] is True
