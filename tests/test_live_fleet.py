"""A fleet of two real Ollama servers (the one under test and a second one started from the
provisioned install), and what the server's own log says about pulls (marked ``live``).

Nothing is pulled: both servers run behind a closed loopback proxy (tests/real_ollama.py), so a
pull of a name the server lacks fails at once, and the log shows that it never left loopback.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import real_ollama
from tests.fixtures_live import create_model, delete_models, unique
from tests.live_helpers import TRAINED, cli, ollama_create, tiny_gguf, write_profile

pytestmark = pytest.mark.live


def test_a_missing_base_is_pulled_through_the_closed_proxy_and_fails_fast(
    live_host: str, live_log: Path, tmp_path: Path
) -> None:
    """Without --no-pull, build asks the server to pull a base it lacks; the pull fails at once
    (exit 5, one clear line), and the server's log shows the proxy refusing it: no pull left
    loopback."""
    missing = f"library-name-that-does-not-exist-{uuid.uuid4().hex[:6]}:latest"
    write_profile(tmp_path, unique("orphan"), f"from: {missing}\n")
    seen = live_log.stat().st_size
    r = cli(live_host, tmp_path, "build", *(p.name for p in tmp_path.glob("*.yaml")), json_out=False)
    assert r.code == 5, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot pull the base model {missing}:"), lines
    with open(live_log, "rb") as f:
        f.seek(seen)
        log = f.read().decode("utf-8", "replace")
    name = missing.split(":")[0]
    assert f"/v2/library/{name}/manifests/latest" in log and "proxyconnect tcp: dial tcp 127.0.0.1:9" in log, log
    dialled = set(re.findall(r"dial tcp ([^:\s]+):", log))
    assert dialled == {"127.0.0.1"}, dialled  # the closed proxy only, never a registry host


@pytest.fixture(scope="module")
def fleet(
    live_host: str, second_live_host: real_ollama.Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, str]]:
    """(first URL, second URL, base): the same "library" base created on both servers."""
    base = unique("fleetlib") + ":tiny"
    gguf = tiny_gguf(tmp_path_factory.mktemp("fleet"))
    hosts = (live_host, second_live_host.url)
    for host in hosts:
        create_model(host, base, gguf)
    yield live_host, second_live_host.url, base
    for host in hosts:
        delete_models(host, [base])


def test_the_second_server_is_its_own_real_ollama(
    live_host: str, second_live_host: real_ollama.Server, tmp_path: Path
) -> None:
    assert second_live_host.url != live_host
    r = cli(second_live_host.url, tmp_path, "ls")
    assert r.code == 0, r.stderr
    assert r.data["host"] == second_live_host.url and r.data["profiles"] == []
    assert Path(second_live_host.models).is_dir() and Path(second_live_host.log).is_file()
    assert "Listening on 127.0.0.1:" in Path(second_live_host.log).read_text(errors="replace")


def test_a_fleet_builds_plans_and_shows_on_two_servers(fleet: tuple[str, str, str], tmp_path: Path) -> None:
    first, second, base = fleet
    a, b = unique("fa"), unique("fb")
    write_profile(tmp_path, a, f"from: {base}\nparameters: {{temperature: 0.2}}\n")
    write_profile(tmp_path, b, f"from: {base}\nparameters: {{num_ctx: 512}}\n")
    (tmp_path / "fleet.yaml").write_text(
        f"hosts:\n  one: {first}\n  two:\n    url: {second}\n    profiles: [{b}.yaml]\n", encoding="utf-8"
    )
    try:
        r = cli(None, tmp_path, "build", f"{a}.yaml", f"{b}.yaml", "--hosts", "fleet.yaml")
        assert r.code == 0, r.stdout + r.stderr
        cells = {(m["host"], m["model"]): m["status"] for m in r.data["matrix"]}
        assert cells == {("one", a): "created", ("one", b): "created", ("two", b): "created"}, r.data["matrix"]
        both = (f"{a}.yaml", f"{b}.yaml", "--hosts", "fleet.yaml")
        plan = cli(None, tmp_path, "plan", *both)
        assert plan.code == 0, plan.stdout + plan.stderr
        # drift on the second server only, made with the real Ollama CLI
        ollama_create(second, tmp_path, b, f"FROM {base}\nPARAMETER num_ctx 1024\n")
        drift = cli(None, tmp_path, "plan", *both)
        assert drift.code == 3, drift.stdout + drift.stderr
        statuses = {(m["host"], m["model"]): m["status"] for m in drift.data["matrix"]}
        assert statuses == {("one", a): "in_sync", ("one", b): "in_sync", ("two", b): "changed"}, statuses
        show = cli(None, tmp_path, "show", b, "--hosts", "fleet.yaml", "--host", "two")
        assert show.code == 0, show.stderr
        data = show.data["hosts"][0]["result"] if "hosts" in show.data else show.data
        assert data["context_length"] == {**data["context_length"], "trained": TRAINED, "configured": 1024}
    finally:
        delete_models(first, [a, b])
        delete_models(second, [b])
