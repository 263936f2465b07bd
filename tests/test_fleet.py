"""Many hosts at once: `build`, `plan`, `show` and the compare table across three API doubles.

One double answers, one is stopped, one answers 500 on /api/show: the answering one completes,
the others are reported with their errors, one exit code comes out by the precedence of
design.md §6, and the request logs prove each host was asked once per model. Inventories:
per-host profile lists, server facts, the lock file keyed by host name, headers from the
environment (their values never printed).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelctl.cli import cli
from tests.fixtures_double import run_cli
from tests.ollama_double import OllamaDouble

PROFILES = {
    "creative": "name: chef-creative\nfrom: llama3.2:3b\nparameters: {temperature: 1.1, num_ctx: 8192}\n",
    "precise": "name: chef-precise\nfrom: llama3.2:3b\nparameters: {temperature: 0.2}\n",
}


@pytest.fixture
def fleet() -> Iterator[dict[str, OllamaDouble]]:
    """Three doubles with the base model: `good` answers, `down` is stopped, `broken` fails /api/show."""
    doubles = {name: OllamaDouble().start() for name in ("good", "down", "broken")}
    for d in doubles.values():
        d.install("llama3.2:3b")
    doubles["down"].stop()
    doubles["broken"].state.faults.fail["/api/show"] = (500, "llama runner process has terminated")
    try:
        yield doubles
    finally:
        for d in doubles.values():
            d.close()


def profiles(tmp_path: Path) -> list[str]:
    out = []
    for name, body in PROFILES.items():
        p = tmp_path / "profiles" / f"{name}.yaml"
        p.parent.mkdir(exist_ok=True)
        p.write_text(body, encoding="utf-8")
        out.append(str(p))
    return out


def inventory(tmp_path: Path, fleet: dict[str, OllamaDouble], extra: str = "") -> Path:
    lines = ["hosts:"] + [f"  {name}: {d.url}" for name, d in fleet.items()]
    path = tmp_path / "fleet.yaml"
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def invoke(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    full = {"MODELCTL_STATE_DIR": str(tmp_path / "state"), **(env or {})}
    res = CliRunner().invoke(cli, list(args), env=full, catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


def shows(d: OllamaDouble) -> Counter[str]:
    return Counter(str(r["json"]["model"]) for r in d.state.calls("/api/show"))


def test_plan_across_hosts_one_down_one_failing(fleet: dict[str, OllamaDouble], tmp_path: Path) -> None:
    refs = profiles(tmp_path)
    hosts = [a for d in fleet.values() for a in ("--host", d.url)]
    code, out, _ = invoke(tmp_path, "plan", *refs, *hosts, "--format", "json")
    doc = json.loads(out)
    assert code == 4  # unreachable (down) over server error (broken) over drift (good): design.md §6
    by_host = {h["url"]: h for h in doc["data"]["hosts"]}
    good = by_host[fleet["good"].url]
    assert good["ok"] and [p["status"] for p in good["result"]["profiles"]] == ["missing", "missing"]
    assert not by_host[fleet["down"].url]["ok"]
    assert "cannot reach Ollama" in by_host[fleet["down"].url]["error"]["message"]
    broken = by_host[fleet["broken"].url]["result"]["profiles"]
    assert [p["status"] for p in broken] == ["failed", "failed"]
    assert "llama runner process has terminated" in broken[0]["error"]["message"]
    matrix = {(c["host"], c["model"]): c["status"] for c in doc["data"]["matrix"]}
    assert matrix[(fleet["good"].url, "chef-creative")] == "missing"
    assert matrix[(fleet["broken"].url, "chef-precise")] == "failed"
    assert matrix[(fleet["down"].url, "*")] == "failed"
    # each host asked once per model: the two profiles, and the base they share
    assert shows(fleet["good"]) == {"chef-creative": 1, "chef-precise": 1, "llama3.2:3b": 1}
    assert len(fleet["good"].state.calls("/api/version")) == 1 and len(fleet["good"].state.calls("/api/tags")) == 1
    assert max(shows(fleet["broken"]).values()) == 1
    # without the stopped host: 5 (the server failed) over 3 (drift)
    code, out, err = invoke(tmp_path, "plan", *refs, "--host", fleet["good"].url, "--host", fleet["broken"].url)
    assert code == 5
    assert re.search(r"chef-creative +missing +failed", out), out
    assert "2 missing, 2 failed on 2 hosts" in out
    assert f"error: {fleet['broken'].url}: chef-creative: Ollama at" in err


def test_build_across_hosts_the_answering_one_completes(fleet: dict[str, OllamaDouble], tmp_path: Path) -> None:
    refs = profiles(tmp_path)
    inv = inventory(tmp_path, fleet)
    code, out, err = invoke(tmp_path, "build", *refs, "--hosts", str(inv), "--jobs", "2")
    assert code == 4
    assert fleet["good"].state.get("chef-creative") is not None and fleet["good"].state.get("chef-precise") is not None
    assert fleet["broken"].state.get("chef-creative") is None
    # a line per profile as it finished (host first), the host x profile table, the summary line
    assert re.search(r"^good +chef-creative +created +\d+\.\d s$", out, re.M), out
    assert re.search(r"^chef-creative +created +- +failed$", out, re.M), out
    assert re.search(r"^\(the host\) +- +failed +-$", out, re.M), out
    table = out[out.index("profile ") :]
    assert "good" in table and "down" in table and "broken" in table
    assert re.search(r"^2 built, 3 failed on 3 hosts in \d+\.\d s$", out, re.M), out
    assert "error: down: cannot reach Ollama at" in err
    assert "error: broken: chef-creative: " in err
    # one version call and one model list before, one after, per host; no report composed for several profiles
    good = fleet["good"].state
    assert len(good.calls("/api/version")) == 1 and len(good.calls("/api/tags")) == 2
    assert shows(fleet["good"]) == {"chef-creative": 1, "chef-precise": 1, "llama3.2:3b": 1}
    assert good.calls("/api/ps") == []


def test_show_and_compare_table_across_hosts(fleet: dict[str, OllamaDouble], tmp_path: Path) -> None:
    inv = inventory(tmp_path, fleet, "")
    code, out, err = invoke(tmp_path, "show", "llama3.2:3b", "--hosts", str(inv), "--format", "json")
    doc = json.loads(out)
    assert code == 4
    assert [h["ok"] for h in doc["data"]["hosts"]] == [True, False, False]
    assert doc["data"]["hosts"][0]["result"]["architecture"] == "llama"
    refs = profiles(tmp_path)
    del fleet["down"]  # every host's table is printed; a host whose server failed a request counts (5)
    inv = inventory(tmp_path, fleet)
    fleet["good"].state.requests.clear()
    code, out, err = invoke(tmp_path, "compare", *refs, "--hosts", str(inv))
    assert code == 5, err  # the 4-over-5 rule of docs/fleet.md (it was 0: the table never failed)
    assert "== good ==" in out and "== broken ==" in out
    assert re.search(r"chef-creative +not built +failed", out), out
    assert shows(fleet["good"]) == {"chef-creative": 1, "chef-precise": 1}


def test_inventory_profiles_facts_lock_and_headers(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    ollama_double.install("llama3.2:3b")
    other = OllamaDouble().start()
    try:
        other.install("llama3.2:3b")
        refs = profiles(tmp_path)
        token = "s3cr3t-t0ken-value"
        inv = tmp_path / "fleet.yaml"
        inv.write_text(
            "hosts:\n"
            f"  ws:\n    url: {ollama_double.url}\n    profiles: [profiles/creative.yaml]\n"
            f"  gpu:\n    url: {other.url}\n"
            '    headers: {Authorization: "Bearer ${GPU_TOKEN}"}\n'
            "    facts: {OLLAMA_CONTEXT_LENGTH: 8192, OLLAMA_KV_CACHE_TYPE: q8_0, OLLAMA_NUM_PARALLEL: 2,\n"
            "            gpu_memory: 24GiB}\n",
            encoding="utf-8",
        )
        env = {"GPU_TOKEN": token}
        lock = tmp_path / "modelctl.lock"
        code, out, err = invoke(tmp_path, "build", "--hosts", str(inv), *refs, "--lock", str(lock), env=env)
        assert code == 0, err
        # ws gets only the profile the inventory lists for it; gpu every profile given
        assert ollama_double.state.get("chef-creative") is not None and ollama_double.state.get("chef-precise") is None
        assert other.state.get("chef-precise") is not None
        assert sorted(json.loads(lock.read_text())["hosts"]) == ["gpu", "ws"]  # keyed by inventory name
        sent = {r["headers"].get("Authorization") for r in other.state.requests}
        assert sent == {f"Bearer {token}"}
        # the server facts shape show's memory line
        code, out, err = invoke(tmp_path, "show", "chef-precise", "--hosts", str(inv), "--host", "gpu", env=env)
        assert code == 0, err
        # (this server is older than 0.30 and leaves flash attention off, so q8_0 is counted as f16)
        assert "at num_ctx 8,192 (KV q8_0 as f16, 2 slots)" in out and "GPU (inventory)" in out and "fits" in out
        assert "not set: the host's OLLAMA_CONTEXT_LENGTH 8,192 (inventory)" in out
        # and estimate's defaults: an option given wins over the host's fact
        code, out, err = invoke(tmp_path, "estimate", refs[1], "--hosts", str(inv), "--host", "gpu", "--parallel", "1",
                                "--format", "json", env=env)  # fmt: skip
        data = json.loads(out)["data"]
        assert code == 0, err
        est = data["estimate"]
        assert (est["kv_type_requested"], est["parallel"], est["num_ctx"]) == ("q8_0", 1, 8192)
        assert data["gpu"]["gpu_memory_bytes"] == 24 << 30
        # a gateway that echoes the token in its error: scrubbed in every output
        other.state.faults.fail["/api/show"] = (500, f"denied: Authorization: Bearer {token}")
        for args in (
            ("plan", *refs, "--hosts", str(inv)),
            ("plan", *refs, "--hosts", str(inv), "--format", "json"),
            ("show", "chef-precise", "--hosts", str(inv), "--format", "json"),
            ("validate", *refs, "--hosts", str(inv), "--format", "sarif"),
            ("compare", *refs, "--hosts", str(inv), "--host", "gpu", "--format", "html"),
        ):
            code, out, err = invoke(tmp_path, *args, env=env)
            assert token not in out + err, args
            assert "denied" in out + err, args
    finally:
        other.close()


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        ("hosts:\n  a: http://x:1\n  a: http://y:1\n", "fleet.yaml:3:3", "duplicate key 'a'"),
        ("hosts:\n  a: ftp://x\n", "fleet.yaml:2:6", "unsupported scheme 'ftp'"),
        ("hosts:\n  a: {url: 'http://x:1', header: {}}\n", "fleet.yaml:2:26", "(did you mean 'headers'?)"),
        ("hots:\n  a: http://x:1\n", "fleet.yaml:1:1", "unknown key 'hots' (did you mean 'hosts'?)"),
        (
            'hosts:\n  a:\n    url: http://x:1\n    headers: {X-Token: "${FLEET_TOKEN_UNSET}"}\n',
            "fleet.yaml:4:24",
            "reads the environment variable FLEET_TOKEN_UNSET, which is not set",
        ),
        ("hosts:\n  a: http://x:1\n  b: http://x:1/\n", "fleet.yaml:3:3", "are the same server"),
        (
            "hosts:\n  a: {url: 'http://x:1', facts: {OLLAMA_NUM_PARALEL: 2}}\n",
            "fleet.yaml:2:34",
            "OLLAMA_NUM_PARALLEL",
        ),
    ],
)
def test_inventory_bad_input_names_file_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, where: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fleet.yaml").write_text(body, encoding="utf-8")
    (tmp_path / "p.yaml").write_text("from: llama3.2:3b\n", encoding="utf-8")
    code, out, err = invoke(tmp_path, "plan", "p.yaml", "--hosts", "fleet.yaml")
    assert code == 1, err
    assert any(line.startswith(f"error: {where}:") and message in line for line in err.splitlines()), err


def test_inventory_bad_input_in_a_subprocess(tmp_path: Path) -> None:
    """As a CLI user sees it: exit 1, one line naming file:line:column, no traceback, no secret."""
    (tmp_path / "p.yaml").write_text("from: llama3.2:3b\n", encoding="utf-8")
    (tmp_path / "fleet.yaml").write_text(
        'hosts:\n  a:\n    url: http://x:1\n    headers: {X-Token: "${FLEET_TOKEN_UNSET}", X-Key: "${FLEET_KEY}"}\n'
    )
    proc = run_cli("plan", "p.yaml", "--hosts", "fleet.yaml", cwd=tmp_path, env={"FLEET_KEY": "k3y-value-here"})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: fleet.yaml:4:24: hosts.a.headers.X-Token: header X-Token reads")
    assert "k3y-value-here" not in proc.stderr


def test_one_server_commands_refuse_several_hosts(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("from: llama3.2:3b\n", encoding="utf-8")
    res = CliRunner().invoke(cli, ["run", "p.yaml", "hi", "--host", "a:1", "--host", "b:1"])
    assert res.exit_code == 2 and "run talks to one server" in res.output
    res = CliRunner().invoke(cli, ["compare", "p.yaml", "--prompt", "hi", "--host", "a:1", "--host", "b:1"])
    assert res.exit_code == 2 and "prompts run on one server" in res.output
    (tmp_path / "fleet.yaml").write_text("hosts:\n  a: http://a:1\n  b: http://b:1\n", encoding="utf-8")
    code, out, err = invoke(tmp_path, "run", str(tmp_path / "p.yaml"), "hi", "--hosts", str(tmp_path / "fleet.yaml"))
    assert code == 2 and "pick one of the inventory's hosts with --host (a, b)" in err
