"""Base models on a registry served over plain http: ``--insecure-registry HOST[:PORT]`` and the
inventory's ``insecure_registries`` make build's pull say ``insecure: true``; without them the
error names the option. The matching rule (modelctl.ollama.registry) and the double's http registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelctl.ollama.registry import http_registry_error, is_insecure, parse_registry, registry_of
from tests.fixtures_double import invoke_in as cli
from tests.ollama_double import OllamaDouble, parse_name

REG = "127.0.0.1:5000"
BASE = f"{REG}/team/chef:v1"


@pytest.fixture
def http_registry(ollama_double: OllamaDouble, tmp_path: Path) -> OllamaDouble:
    """The double with ``BASE`` on a registry that answers only plain http, and a profile on it."""
    st = ollama_double.state
    name = parse_name(BASE)
    assert name is not None
    st.registry[name.key] = st.registry[parse_name("llama3.2:1b").key].copy_as(name)  # type: ignore[union-attr]
    st.http_registries.add(REG)
    (tmp_path / "chef.yaml").write_text(f"from: {BASE}\nparameters: {{temperature: 0.5}}\n", encoding="utf-8")
    return ollama_double


def pulls(double: OllamaDouble) -> list[dict[str, Any]]:
    return [r["json"] for r in double.state.calls("/api/pull")]


def test_registry_of_reads_names_as_ollama_does() -> None:
    assert registry_of("127.0.0.1:5000/team/chef:v1") == "127.0.0.1:5000"
    assert registry_of("registry.lan/team/chef") == "registry.lan"
    assert registry_of("http://registry.lan:80/team/chef") == "registry.lan:80"
    assert registry_of("team/chef:v1") is None and registry_of("llama3.2:3b") is None


def test_matching_rule() -> None:
    assert is_insecure(BASE, [REG]) and is_insecure(BASE, ["127.0.0.1"])  # no port: every port
    assert not is_insecure(BASE, ["127.0.0.1:5001"]) and not is_insecure(BASE, ["localhost"])
    assert is_insecure("Registry.LAN:5000/team/chef", ["registry.lan"])  # host names: any case
    assert is_insecure("registry.lan:5000/team/chef", ["REGISTRY.lan:5000"])
    assert not is_insecure("team/chef", ["registry.lan"]) and not is_insecure(BASE, [])
    assert is_insecure("[::1]:5000/team/chef", ["[::1]"])
    assert parse_registry(" Reg.Lan:5000 ") == ("reg.lan", 5000)
    for bad in ("http://reg:5000", "reg:5000/ns", "reg:99999", "", "a b"):
        with pytest.raises(ValueError):
            parse_registry(bad)


def test_http_registry_errors_are_recognised() -> None:
    go_registry = (
        'pull model manifest: Get "https://r:5000/v2/a/b/manifests/c": http: server gave HTTP response to HTTPS client'
    )
    other = 'pull model manifest: Get "https://127.0.0.1:11545/v2/ns/m/manifests/tag": tls: first record does not look like a TLS handshake'  # noqa: E501 (what 0.9.3 said to Python's http.server)
    assert http_registry_error(go_registry) and http_registry_error(other)
    assert not http_registry_error("pull model manifest: file does not exist")


def test_without_the_option_the_error_names_it(http_registry: OllamaDouble, tmp_path: Path) -> None:
    code, out, err = cli(http_registry, tmp_path, "build", "chef.yaml")
    assert code == 5
    assert "server gave HTTP response to HTTPS client" in err
    assert f"pass --insecure-registry {REG}" in err and "insecure_registries" in err
    assert pulls(http_registry) == [{"model": BASE, "stream": True}]


@pytest.mark.parametrize("value", [REG, "127.0.0.1", "127.0.0.1:5000"])
def test_the_option_makes_the_pull_insecure(http_registry: OllamaDouble, tmp_path: Path, value: str) -> None:
    code, out, err = cli(
        http_registry, tmp_path, "build", "chef.yaml", "--insecure-registry", value, "--format", "json"
    )
    assert code == 0, err
    assert json.loads(out)["data"]["builds"][0]["pulled"] is True
    assert pulls(http_registry) == [{"model": BASE, "stream": True, "insecure": True}]


def test_another_registry_is_not_made_insecure(http_registry: OllamaDouble, tmp_path: Path) -> None:
    code, out, err = cli(http_registry, tmp_path, "build", "chef.yaml", "--insecure-registry", "127.0.0.1:5001")
    assert code == 5 and "--insecure-registry 127.0.0.1:5000" in err
    assert "insecure" not in pulls(http_registry)[0]


def test_a_bad_option_value_is_a_usage_error(http_registry: OllamaDouble, tmp_path: Path) -> None:
    code, out, err = cli(http_registry, tmp_path, "build", "chef.yaml", "--insecure-registry", "http://r:5000")
    assert code == 2 and "without a scheme" in err and "Traceback" not in err
    assert pulls(http_registry) == []


@pytest.mark.parametrize("where", ["top", "host"])
def test_the_inventory_key(http_registry: OllamaDouble, tmp_path: Path, where: str) -> None:
    entry = "insecure_registries: [127.0.0.1]\n"
    inv = f"{entry}hosts:\n  lab: {http_registry.url}\n"
    if where == "host":
        inv = f"hosts:\n  lab:\n    url: {http_registry.url}\n    {entry}"
    (tmp_path / "fleet.yaml").write_text(inv, encoding="utf-8")
    code, out, err = cli(http_registry, tmp_path, "build", "chef.yaml", "--hosts", "fleet.yaml")
    assert code == 0, err
    assert pulls(http_registry)[0]["insecure"] is True


def test_the_inventory_key_is_checked_with_its_place(http_registry: OllamaDouble, tmp_path: Path) -> None:
    inv = f"hosts:\n  lab:\n    url: {http_registry.url}\n    insecure_registries: [ok.lan, 'ftp://x']\n"
    (tmp_path / "fleet.yaml").write_text(inv, encoding="utf-8")
    code, out, err = cli(http_registry, tmp_path, "build", "chef.yaml", "--hosts", "fleet.yaml")
    assert code == 1 and "fleet.yaml:4:35: hosts.lab.insecure_registries[1]" in err
    assert pulls(http_registry) == []


def test_several_hosts_each_get_their_own(http_registry: OllamaDouble, tmp_path: Path) -> None:
    other = OllamaDouble().start()
    try:
        st = other.state
        name = parse_name(BASE)
        assert name is not None
        st.registry[name.key] = st.registry[parse_name("llama3.2:1b").key].copy_as(name)  # type: ignore[union-attr]
        st.http_registries.add(REG)
        inv = f"hosts:\n  a:\n    url: {http_registry.url}\n    insecure_registries: ['{REG}']\n  b: {other.url}\n"
        (tmp_path / "fleet.yaml").write_text(inv, encoding="utf-8")
        code, out, err = cli(http_registry, tmp_path, "build", "chef.yaml", "--hosts", "fleet.yaml")
        assert code == 5 and "--insecure-registry" in err
        assert pulls(http_registry)[0]["insecure"] is True and "insecure" not in pulls(other)[0]
    finally:
        other.close()
