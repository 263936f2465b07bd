"""``build --hosts FILE --via-registry`` on three doubles sharing one registry (the doubles' pull
registry; the registry's manifest answers are mocked with respx): the profile is built and its
local file uploaded on the first host only, pushed once, pulled and copied everywhere else; every
host ends with one digest; a second run does nothing; plan compares digests with the registry's.
The real registry and servers: tests/test_live_registry.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx
from click.testing import CliRunner

from modelctl.cli import cli
from modelctl.ollama.registry import RegistrySpec, parse_destination, reference_for
from tests.fixtures_gguf import write_tiny_llama
from tests.ollama_double import OllamaDouble, parse_name

REG = "registry.test:5000"
REF = f"{REG}/team/tiny-chef:latest"


@pytest.fixture
def hosts() -> Iterator[dict[str, OllamaDouble]]:
    """Three doubles pushing to and pulling from one registry served over http."""
    doubles = {name: OllamaDouble().start() for name in ("a", "b", "c")}
    shared = doubles["a"].state.registry
    for d in doubles.values():
        d.state.registry = shared
        d.state.http_registries.add(REG)
    try:
        yield doubles
    finally:
        for d in doubles.values():
            d.close()


@pytest.fixture
def registry(hosts: dict[str, OllamaDouble]) -> Iterator[respx.MockRouter]:
    """The registry's manifest answers: the digest of what was pushed (404 before)."""
    shared = hosts["a"].state.registry

    def manifest(request: httpx.Request) -> httpx.Response:
        repo, tag = request.url.path.removeprefix("/v2/").split("/manifests/")
        model = shared.get(parse_name(f"{REG}/{repo}:{tag}").key)  # type: ignore[union-attr]
        if model is None:
            return httpx.Response(404)
        return httpx.Response(200, headers={"Docker-Content-Digest": "sha256:" + model.digest})

    with respx.mock(assert_all_called=False) as router:
        router.route(host="127.0.0.1").pass_through()
        router.route(host="registry.test").mock(side_effect=manifest)
        yield router


def setup(tmp_path: Path, hosts: dict[str, OllamaDouble], registry: str | None = None) -> Path:
    write_tiny_llama(tmp_path / "tiny.gguf")
    (tmp_path / "chef.yaml").write_text("name: tiny-chef\nfrom: ./tiny.gguf\nparameters: {temperature: 0.3}\n")
    reg = registry if registry is not None else f"registry:\n  url: {REG}/team\n  insecure: true\n"
    lines = ["hosts:"] + [f"  {n}: {d.url}" for n, d in hosts.items()]
    inv = tmp_path / "fleet.yaml"
    inv.write_text("\n".join(lines) + "\n" + reg, encoding="utf-8")
    return inv


def invoke(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = {"MODELCTL_STATE_DIR": str(tmp_path / "state")}
    res = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


def digest(d: OllamaDouble, name: str) -> str:
    model = d.state.models.get(parse_name(name).key)  # type: ignore[union-attr]
    assert model is not None, f"{name} is not on {d.url}"
    return model.digest


def via(tmp_path: Path, inv: Path, *extra: str) -> tuple[int, str, str]:
    return invoke(tmp_path, "build", str(tmp_path / "chef.yaml"), "--hosts", str(inv), "--via-registry", *extra)


def test_built_once_pushed_once_pulled_everywhere_else(
    hosts: dict[str, OllamaDouble], registry: respx.MockRouter, tmp_path: Path
) -> None:
    inv = setup(tmp_path, hosts)
    code, out, err = via(tmp_path, inv, "--lock", str(tmp_path / "m.lock"), "--format", "json")
    assert code == 0, err
    a, b, c = hosts["a"], hosts["b"], hosts["c"]
    # The local file went to a only; a created, pushed and pulled back; b and c only pulled and copied.
    assert len(a.state.calls("/api/create")) == 1 and a.state.calls("/api/push")
    assert [r["json"]["model"] for r in a.state.calls("/api/pull")] == [REF]
    for d in (b, c):
        assert not d.state.calls("/api/create") and not d.state.calls("/api/push")
        assert not [r for r in d.state.requests if r["path"].startswith("/api/blobs")]
        assert [r["json"]["model"] for r in d.state.calls("/api/pull")] == [REF]
        assert [r["json"] for r in d.state.calls("/api/copy")] == [{"source": REF, "destination": "tiny-chef"}]
    assert digest(a, "tiny-chef") == digest(b, "tiny-chef") == digest(c, "tiny-chef") == digest(a, REF)
    builds = {h["host"]: h["result"]["builds"][0] for h in json.loads(out)["data"]["hosts"]}
    shipped = {host: b["registry"] for host, b in builds.items()}
    pushed = {"reference": REF, "digest": "sha256:" + digest(a, REF), "built_here": True, "pushed_here": True}
    assert shipped["a"] == pushed
    assert shipped["b"] == shipped["c"] == {**shipped["a"], "built_here": False, "pushed_here": False}
    assert builds["a"]["uploaded_bytes"] > 0 and builds["b"]["uploaded_bytes"] == 0
    lock = json.loads((tmp_path / "m.lock").read_text())
    assert {k: h["models"]["tiny-chef"]["via"] for k, h in lock["hosts"].items()} == dict.fromkeys("abc", REF)
    assert lock["hosts"]["a"]["pushed"][REF]["source"] == "tiny-chef"


def test_a_second_run_finds_every_host_current(
    hosts: dict[str, OllamaDouble], registry: respx.MockRouter, tmp_path: Path
) -> None:
    inv = setup(tmp_path, hosts)
    assert via(tmp_path, inv)[0] == 0
    for d in hosts.values():
        d.state.requests.clear()
    code, out, err = via(tmp_path, inv)
    assert code == 0, err
    assert "3 up to date on 3 hosts" in out and "shipped" not in out
    for d in hosts.values():
        assert not [r for r in d.state.requests if r["path"] in ("/api/create", "/api/push", "/api/pull", "/api/copy")]


def test_a_new_host_pulls_the_registrys_copy_and_nothing_is_rebuilt(
    hosts: dict[str, OllamaDouble], registry: respx.MockRouter, tmp_path: Path
) -> None:
    inv = setup(tmp_path, hosts)
    assert via(tmp_path, inv)[0] == 0
    hosts["a"].state.models.pop(parse_name("tiny-chef").key)  # type: ignore[union-attr]
    for d in hosts.values():
        d.state.requests.clear()
    code, out, err = via(tmp_path, inv)
    assert code == 0, err
    assert not any(d.state.calls("/api/create") or d.state.calls("/api/push") for d in hosts.values())
    assert [r["json"]["model"] for r in hosts["a"].state.calls("/api/pull")] == [REF]
    assert "the registry's copy is current, pulled on a" in out


def test_a_failed_build_fails_that_profile_on_every_host_that_needed_it(
    hosts: dict[str, OllamaDouble], registry: respx.MockRouter, tmp_path: Path
) -> None:
    inv = setup(tmp_path, hosts)
    hosts["a"].state.faults.fail["/api/create"] = (500, "boom")
    code, out, err = via(tmp_path, inv, "--format", "json")
    assert code == 5, err
    failed = {h["host"]: h["result"]["failed"] for h in json.loads(out)["data"]["hosts"]}
    assert "boom" in failed["a"][0]["error"]["message"]
    assert failed["b"][0]["error"]["message"].startswith("not pulled: its build on a failed:")
    assert not hosts["b"].state.calls("/api/pull")


def test_via_registry_needs_an_inventory_naming_a_registry(
    hosts: dict[str, OllamaDouble], registry: respx.MockRouter, tmp_path: Path
) -> None:
    inv = setup(tmp_path, hosts, registry="")
    code, _, err = via(tmp_path, inv)
    assert code == 2 and "names none" in err and "registry" in err
    code, _, err = invoke(tmp_path, "build", str(tmp_path / "chef.yaml"), "--via-registry")
    assert code == 2 and "--hosts FILE" in err


def test_an_unreachable_registry_stops_the_run_before_any_build(
    hosts: dict[str, OllamaDouble], registry: respx.MockRouter, tmp_path: Path
) -> None:
    registry.route(host="registry.test").mock(side_effect=httpx.ConnectError("refused"))
    inv = setup(tmp_path, hosts)
    code, _, err = via(tmp_path, inv)
    assert code == 4 and "registry" in err
    assert not any(d.state.calls("/api/create") for d in hosts.values())


@pytest.mark.parametrize(
    ("registry", "message"),
    [
        ("registry: {url: 'http://r:5000/team'}\n", "without a scheme"),
        ("registry: {url: 'r:5000'}\n", "REGISTRY/NAMESPACE"),
        ("registry: {url: 'r:5000/team', insecure: 'yes'}\n", "expected true or false"),
        ("registry: {url: 'r:5000/team', secure: true}\n", "unknown key 'secure'"),
        ("registry: [r]\n", "`registry` is {url:"),
    ],
)
def test_a_bad_registry_in_the_inventory_is_reported_at_its_place(
    hosts: dict[str, OllamaDouble], tmp_path: Path, registry: str, message: str
) -> None:
    inv = setup(tmp_path, hosts, registry=registry)
    code, _, err = invoke(tmp_path, "plan", str(tmp_path / "chef.yaml"), "--hosts", str(inv))
    assert code == 1 and message in err and f"{inv}:5:" in err


def test_plan_reports_a_digest_other_than_the_registrys_as_drift(
    hosts: dict[str, OllamaDouble], registry: respx.MockRouter, tmp_path: Path
) -> None:
    inv = setup(tmp_path, hosts)
    assert via(tmp_path, inv)[0] == 0
    code, out, err = invoke(tmp_path, "plan", str(tmp_path / "chef.yaml"), "--hosts", str(inv))
    assert code == 0, err
    other = "sha256:" + "0" * 64
    answer = httpx.Response(200, headers={"Docker-Content-Digest": other})
    registry.route(host="registry.test").mock(return_value=answer)
    code, out, err = invoke(tmp_path, "plan", str(tmp_path / "chef.yaml"), "--hosts", str(inv), "--format", "json")
    assert code == 3, err
    for h in json.loads(out)["data"]["hosts"]:
        (profile,) = h["result"]["profiles"]
        assert profile["status"] == "in_sync" and profile["drift"] is True
        assert [u["field"] for u in profile["upstream"]] == ["digest"]


def test_the_registry_spec_and_references() -> None:
    spec = RegistrySpec(parse_destination(" 127.0.0.1:5000/team/ "), insecure=True)
    assert spec.host == "127.0.0.1:5000" and spec.reference("ns/chef:v2") == "127.0.0.1:5000/team/chef:v2"
    assert reference_for("chef", spec.destination) == "127.0.0.1:5000/team/chef:latest"


def test_without_the_registry_each_host_reports_its_own_upload(hosts: dict[str, OllamaDouble], tmp_path: Path) -> None:
    """A plain fleet build sends the file to every host that lacks it, and each host's JSON says
    what that host got (the hosts build one plan at once: nothing of one leaks into another's)."""
    setup(tmp_path, hosts)
    a, b = hosts["a"], hosts["b"]
    assert invoke(tmp_path, "build", str(tmp_path / "chef.yaml"), "--host", a.url)[0] == 0
    (tmp_path / "chef.yaml").write_text("name: tiny-chef\nfrom: ./tiny.gguf\nparameters: {temperature: 0.5}\n")
    code, out, err = invoke(
        tmp_path, "build", str(tmp_path / "chef.yaml"), "--host", a.url, "--host", b.url, "--format", "json"
    )
    assert code == 0, err
    builds = {h["url"]: h["result"]["builds"][0] for h in json.loads(out)["data"]["hosts"]}
    size = (tmp_path / "tiny.gguf").stat().st_size
    assert builds[a.url]["uploaded_bytes"] == 0 and builds[a.url]["blobs"][0]["present"] is True
    assert builds[b.url]["uploaded_bytes"] == size and builds[b.url]["blobs"][0]["present"] is False


def test_several_profiles_with_jobs(hosts: dict[str, OllamaDouble], registry: respx.MockRouter, tmp_path: Path) -> None:
    """Two profiles, --jobs 2: each built once on the first host, each pulled by the others."""
    inv = setup(tmp_path, hosts)
    write_tiny_llama(tmp_path / "other.gguf", name="other")
    (tmp_path / "other.yaml").write_text("name: other-chef\nfrom: ./other.gguf\n")
    refs = [str(tmp_path / "chef.yaml"), str(tmp_path / "other.yaml")]
    code, out, err = invoke(tmp_path, "build", *refs, "--hosts", str(inv), "--via-registry", "--jobs", "2")
    assert code == 0, err
    assert "6 built on 3 hosts" in out
    assert sorted(r["json"]["model"] for r in hosts["a"].state.calls("/api/create")) == ["other-chef", "tiny-chef"]
    for d in (hosts["b"], hosts["c"]):
        assert not d.state.calls("/api/create")
        assert sorted(r["json"]["model"] for r in d.state.calls("/api/pull")) == [f"{REG}/team/other-chef:latest", REF]
        assert digest(d, "other-chef") == digest(hosts["a"], "other-chef")


def test_the_lock_keeps_via_while_the_digest_stays_and_plan_holds_hosts_to_it(
    hosts: dict[str, OllamaDouble], registry: respx.MockRouter, tmp_path: Path
) -> None:
    """A second run (every host up to date) keeps each entry's `via`; an entry whose digest no
    longer matches the host's is `~ digest` drift for `plan --lock`, even where the registry agrees."""
    inv = setup(tmp_path, hosts)
    lock = tmp_path / "m.lock"
    assert via(tmp_path, inv, "--lock", str(lock))[0] == 0
    assert via(tmp_path, inv, "--lock", str(lock))[0] == 0
    doc = json.loads(lock.read_text())
    assert {k: h["models"]["tiny-chef"].get("via") for k, h in doc["hosts"].items()} == dict.fromkeys("abc", REF)
    doc["hosts"]["b"]["models"]["tiny-chef"]["model_digest"] = "f" * 64
    lock.write_text(json.dumps(doc))
    code, out, err = invoke(
        tmp_path, "plan", str(tmp_path / "chef.yaml"), "--hosts", str(inv), "--lock", str(lock), "--format", "json"
    )
    assert code == 3, err
    upstream = {h["host"]: h["result"]["profiles"][0]["upstream"] for h in json.loads(out)["data"]["hosts"]}
    assert upstream["a"] == upstream["c"] == []
    assert [u["field"] for u in upstream["b"]] == ["digest"] and REF in upstream["b"][0]["note"]
