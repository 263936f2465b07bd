"""End to end: `modelctl plan`, `build --only-changed` and `--lock` as subprocesses against the
Ollama API double — the drift scenarios, exit codes, and the requests the server sees."""

from __future__ import annotations

import json
import struct
import textwrap
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from modelctl.cli import cli
from tests.fixtures_double import run_cli
from tests.ollama_double import OllamaDouble, closed_port_url

TRICKY_STOP = 'say "hi"\n"""end'

PROFILES = {
    # nothing changed: 0.1 is stored as the float32 0.10000000149011612 and is still 0.1
    "same": "from: llama3.2:3b\nparameters: {temperature: 0.1, top_p: 0.9}\n",
    # a parameter the profile changes after the build
    "param": "from: llama3.2:3b\nparameters: {temperature: 0.7}\n",
    # a stop string with quotes, a newline and three quotes; and a second one (order does not matter)
    "stop": "from: llama3.2:3b\nparameters:\n  stop: [" + json.dumps(TRICKY_STOP) + ", '<x>']\n",
    # num_ctx 1048576 is shown by the server as 1.048576e+06
    "bigctx": "from: llama3.2:3b\nparameters: {num_ctx: 1048576}\n",
    # only a temperature: the base's stop list is inherited, not drift
    "inherit": "from: llama3.2:3b\nparameters: {temperature: 0.3}\n",
    # the system prompt changes after the build
    "system": "from: llama3.2:3b\nsystem: You are a chef.\n",
    # a base model that is re-pulled with new weights after the build
    "base": "from: llama3.2:1b\nparameters: {temperature: 0.5}\n",
    # an adapter file that changes on disk after the build
    "adapter": "from: llama3.2:3b\nadapters: [./lora.gguf]\n",
}


def write(directory: Path, name: str, body: str) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


def cli_json(double: OllamaDouble | str, tmp_path: Path, *args: str, state: str = "state") -> tuple[int, Any, str]:
    host = double if isinstance(double, str) else double.url
    env = {"MODELCTL_STATE_DIR": str(tmp_path / state)}
    proc = run_cli(*args, "--format", "json", host=host, env=env, cwd=tmp_path)
    doc = json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc.returncode, doc, proc.stderr


def runner_json(double: OllamaDouble, tmp_path: Path, *args: str) -> tuple[int, Any]:
    """The same command through click's runner, in this process (for the checks that need no subprocess)."""
    env = {"MODELCTL_STATE_DIR": str(tmp_path / "state"), "OLLAMA_HOST": double.url}
    res = CliRunner().invoke(cli, [*args, "--format", "json"], env=env, catch_exceptions=False)
    return res.exit_code, json.loads(res.stdout)


def by_model(doc: Any) -> dict[str, Any]:
    return {p["model"]: p for p in doc["data"]["profiles"]}


def diffs(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["field"]: d for d in plan["differences"]}


def setup_drift(double: OllamaDouble, tmp_path: Path) -> list[str]:
    """Build every profile but `missing`, then move things on both sides."""
    double.install("llama3.2:3b")
    double.install("llama3.2:1b")
    (tmp_path / "lora.gguf").write_bytes(b"GGUF\x03\x00\x00\x00lora-v1")
    paths = [str(write(tmp_path, n, body)) for n, body in PROFILES.items()]
    code, doc, err = cli_json(double, tmp_path, "build", *paths, "-q")
    assert code == 0, err
    write(tmp_path, "param", "from: llama3.2:3b\nparameters: {temperature: 0.8}\n")
    write(tmp_path, "system", "from: llama3.2:3b\nsystem: You are a baker.\n")
    (tmp_path / "lora.gguf").write_bytes(b"GGUF\x03\x00\x00\x00lora-v2")
    double.state.repull("llama3.2:1b")
    # the server holds 0.1 as a float32: Go prints it back as 0.10000000149011612, still 0.1
    same = double.state.get("same")
    assert same is not None
    same.parameters["temperature"] = struct.unpack("<f", struct.pack("<f", 0.1))[0]
    # the server keeps the stop strings in another order: still the same set
    stop_model = double.state.get("stop")
    assert stop_model is not None
    stop_model.parameters["stop"] = list(reversed(stop_model.parameters["stop"]))
    return [*paths, str(write(tmp_path, "missing", "from: llama3.2:3b\n"))]


def test_drift_scenarios(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    paths = setup_drift(ollama_double, tmp_path)
    before = len(ollama_double.state.requests)
    code, doc, err = cli_json(ollama_double, tmp_path, "plan", *paths, state="ci")  # no build records: CI
    assert code == 3, err
    assert "Traceback" not in err
    shown = ollama_double.state.get("same")
    assert shown is not None and repr(shown.parameters["temperature"]) == "0.10000000149011612"
    plans = by_model(doc)
    for name in ("same", "stop", "bigctx", "inherit"):
        assert plans[name]["status"] == "in_sync", (name, plans[name]["differences"])
    assert plans["inherit"]["inherited"] == {"stop": ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]}
    t = diffs(plans["param"])["parameters.temperature"]
    assert (t["action"], t["wanted"], t["found"], t["model"]) == ("~", 0.8, 0.7, "param")
    assert t["profile"].endswith("param.yaml")
    s = diffs(plans["system"])["system"]
    assert (s["action"], s["wanted"], s["found"]) == ("~", "You are a baker.", "You are a chef.")
    assert plans["missing"]["status"] == "missing" and diffs(plans["missing"])["model"]["action"] == "+"
    assert "weights differ from the base model llama3.2:1b" in diffs(plans["base"])["from"]["note"]
    assert diffs(plans["adapter"])["adapters"]["action"] == "~"
    assert doc["data"]["drift"] is True and doc["data"]["summary"]["in_sync"] == 4
    assert {d["model"] for d in doc["data"]["differences"]} == {"param", "system", "missing", "base", "adapter"}
    # asked once: one version, one model list, one show per model and per distinct base
    asked = ollama_double.state.requests[before:]
    shows = [r["json"]["model"] for r in asked if r["path"] == "/api/show"]
    assert sorted(shows) == sorted({*PROFILES, "missing", "llama3.2:3b", "llama3.2:1b"})
    assert [r["path"] for r in asked].count("/api/version") == 1
    assert [r["path"] for r in asked].count("/api/tags") == 1
    assert {r["path"] for r in asked} <= {"/api/version", "/api/tags", "/api/show"}


def test_text_diff_reads_at_a_glance(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    ollama_double.install("llama3.2:3b")
    prof = write(tmp_path, "chef", "from: llama3.2:3b\nsystem: Hi.\nparameters: {temperature: 0.7, top_k: 10}\n")
    env = {"MODELCTL_STATE_DIR": str(tmp_path / "s")}
    assert run_cli("build", str(prof), "-q", host=ollama_double.url, env=env, cwd=tmp_path).returncode == 0
    proc = run_cli("plan", str(prof), host=ollama_double.url, env=env, cwd=tmp_path)
    assert proc.returncode == 0 and "chef (chef.yaml): in sync" in proc.stdout
    assert "inherited from the base (not drift): stop=" in proc.stdout and "— no drift" in proc.stdout
    write(tmp_path, "chef", "from: llama3.2:3b\nparameters: {temperature: 0.9, top_p: 0.5}\n")
    proc = run_cli("plan", str(prof), host=ollama_double.url, env=env, cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    lines = proc.stdout.splitlines()
    assert "chef (chef.yaml): changed" in lines
    assert any(ln.split() == ["~", "parameters.temperature", "0.7", "→", "0.9"] for ln in lines), proc.stdout
    assert any(ln.split() == ["+", "parameters.top_p", "0.5"] for ln in lines), proc.stdout
    assert any(ln.split() == ["-", "parameters.top_k", "10"] for ln in lines), proc.stdout
    assert any(ln.split()[:3] == ["-", "system", '"Hi."'] for ln in lines)  # the base's (none) replaces it
    assert proc.stdout.rstrip().endswith("— drift")


def test_server_trouble_exit_codes(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    prof = write(tmp_path, "p", "from: llama3.2:3b\n")
    code, doc = runner_json(ollama_double, tmp_path, "plan", str(prof), "--host", closed_port_url())
    assert code == 4 and "cannot reach Ollama" in doc["errors"][0]["message"] and doc["ok"] is False
    ollama_double.install("llama3.2:3b")
    other = write(tmp_path, "q", "from: llama3.2:3b\n")
    ollama_double.state.faults.fail["/api/show"] = (500, "boom")
    code, doc = runner_json(ollama_double, tmp_path, "plan", str(prof), str(other))
    assert code == 5
    plans = by_model(doc)
    assert plans["p"]["status"] == "failed" and "boom" in plans["p"]["error"]["message"]
    assert doc["errors"][0]["message"].startswith("p: ") and "boom" in doc["errors"][0]["message"]
    proc = run_cli("plan", str(prof), host=ollama_double.url, cwd=tmp_path)
    assert proc.returncode == 5 and proc.stderr.startswith("error: p: Ollama at ")
    assert ": /api/show failed (HTTP 500): boom" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_build_only_changed_touches_nothing_in_sync(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    ollama_double.install("llama3.2:3b")
    (tmp_path / "lora.gguf").write_bytes(b"GGUF\x03\x00\x00\x00lora")
    a = write(tmp_path, "a", "from: llama3.2:3b\nadapters: [./lora.gguf]\nparameters: {temperature: 0.2}\n")
    b = write(tmp_path, "b", "from: llama3.2:1b\nparameters: {temperature: 0.4}\n")
    code, _, err = cli_json(ollama_double, tmp_path, "build", str(a), str(b), "-q")
    assert code == 0, err
    write(tmp_path, "a", "from: llama3.2:3b\nadapters: [./lora.gguf]\nparameters: {temperature: 0.3}\n")
    code, doc, err = cli_json(ollama_double, tmp_path, "plan", str(a), str(b))
    assert code == 3 and [p["status"] for p in doc["data"]["profiles"]] == ["changed", "in_sync"]
    before = len(ollama_double.state.requests)
    code, doc, err = cli_json(ollama_double, tmp_path, "build", str(a), str(b), "--only-changed")
    assert code == 0, err
    builds = {x["name"]: x for x in doc["data"]["builds"]}
    assert builds["a"]["status"] == "created" and builds["b"]["status"] == "up_to_date"
    assert builds["b"]["report"] is None and builds["a"]["report"] is not None
    assert [d["field"] for d in builds["a"]["differences"]] == ["parameters.temperature"]
    asked = ollama_double.state.requests[before:]
    creates = [r["json"]["model"] for r in asked if r["path"] == "/api/create"]
    assert creates == ["a"]
    assert not [r for r in asked if r["path"] == "/api/pull"]
    assert not [r for r in asked if r["path"].startswith("/api/blobs/") and r["method"] == "POST"]
    shows = [r["json"]["model"] for r in asked if r["path"] == "/api/show"]
    assert shows.count("b") == 1 and shows.count("llama3.2:1b") == 1  # the verdict only: no report for b
    assert [r["path"] for r in asked].count("/api/version") == 1
    assert [r["path"] for r in asked].count("/api/tags") == 2  # one before, one after the create
    code, doc, _ = cli_json(ollama_double, tmp_path, "plan", str(a), str(b))
    assert code == 0


def test_abstract_profiles_are_skipped_but_validated(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    ollama_double.install("llama3.2:3b")
    base = write(tmp_path, "base", "abstract: true\nparameters: {num_ctx: 4096}\n")  # no `from`: allowed
    child = write(tmp_path, "child", "extends: base.yaml\nfrom: llama3.2:3b\n")
    code, doc, err = cli_json(ollama_double, tmp_path, "plan", str(base), str(child))
    assert code == 3 and [p["model"] for p in doc["data"]["profiles"]] == ["child"]  # abstract is not inherited
    assert doc["data"]["skipped"][0]["profile"].endswith("base.yaml")
    assert doc["warnings"][0]["code"] == "abstract_skipped" and doc["warnings"][0]["line"] == 1
    code, doc, err = cli_json(ollama_double, tmp_path, "build", str(base), str(child), "-q")
    assert code == 0 and [x["name"] for x in doc["data"]["builds"]] == ["child"]
    assert [r["json"]["model"] for r in ollama_double.state.calls("/api/create")] == ["child"]
    code, doc = runner_json(ollama_double, tmp_path, "validate", str(base), str(child))
    assert code == 0 and [p["abstract"] for p in doc["data"]["profiles"]] == [True, False]
    code, doc = runner_json(ollama_double, tmp_path, "compare", str(base), str(child), "--no-server")
    assert code == 0 and any(w["code"] == "abstract_skipped" for w in doc["warnings"])
    code, doc = runner_json(ollama_double, tmp_path, "render", str(base))
    assert code == 1 and "abstract and has no `from`" in doc["errors"][0]["message"]


def test_lock_reports_a_re_pulled_base(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    ollama_double.install("llama3.2:3b")
    prof = write(tmp_path, "chef", "from: llama3.2:3b\nparameters: {temperature: 0.2}\n")
    lock = tmp_path / "modelctl.lock"
    code, doc, err = cli_json(ollama_double, tmp_path, "build", str(prof), "--lock", str(lock), "-q")
    assert code == 0, err
    data = json.loads(lock.read_text(encoding="utf-8"))
    entry = data["hosts"][ollama_double.url]["models"]["chef"]
    assert data["hosts"][ollama_double.url]["server_version"] == "0.12.6"
    assert entry["base"]["name"] == "llama3.2:3b" and len(entry["base"]["digest"]) == 64
    assert entry["parameters"]["temperature"] == 0.2 and entry["profile"] == "chef.yaml"
    assert entry["quantization"] == "Q4_K_M" and entry["context"]["trained"] == 131072
    assert lock.read_text(encoding="utf-8") == json.dumps(data, indent=2, sort_keys=True) + "\n"  # sorted, stable
    code, doc = runner_json(ollama_double, tmp_path, "plan", str(prof), "--lock", str(lock))
    assert code == 0
    ollama_double.state.repull("llama3.2:3b")
    code, doc = runner_json(ollama_double, tmp_path, "plan", str(prof), "--lock", str(lock))
    assert code == 3
    up = doc["data"]["profiles"][0]["upstream"][0]
    assert up["field"] == "base" and "llama3.2:3b changed on the server since the lock" in up["note"]
    proc = run_cli("plan", str(prof), "--lock", str(lock), host=ollama_double.url, cwd=tmp_path)
    assert proc.returncode == 3 and "llama3.2:3b changed on the server since the lock" in proc.stdout


def test_lock_server_version_is_drift_only_when_strict(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    ollama_double.install("llama3.2:3b")
    prof = write(tmp_path, "chef", "from: llama3.2:3b\n")
    lock = tmp_path / "m.lock"
    assert cli_json(ollama_double, tmp_path, "build", str(prof), "--lock", str(lock), "-q")[0] == 0
    ollama_double.state.version = "0.13.1"
    code, doc = runner_json(ollama_double, tmp_path, "plan", str(prof), "--lock", str(lock))
    assert code == 0 and doc["data"]["server_version_changed"] is True
    code, doc = runner_json(ollama_double, tmp_path, "plan", str(prof), "--lock", str(lock), "--strict")
    assert code == 3 and doc["data"]["locked_server_version"] == "0.12.6"
    # a damaged lock file is invalid input, with the file named
    lock.write_text("{not json", encoding="utf-8")
    proc = run_cli("plan", str(prof), "--lock", str(lock), host=ollama_double.url, cwd=tmp_path)
    assert proc.returncode == 1 and "m.lock:1:2: the lock file is not valid JSON" in proc.stderr


def test_older_servers_are_gated(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    from tests.fixtures_gguf import write_tiny_llama

    ollama_double.install("llama3.2:3b")
    ollama_double.state.version = "0.11.0"  # before RENDERER/PARSER (0.12) and DRAFT (0.30)
    write_tiny_llama(tmp_path / "draft.gguf")
    drafted = write(tmp_path, "drafted", "from: llama3.2:3b\ndraft: ./draft.gguf\n")
    rendered = write(tmp_path, "rendered", "from: llama3.2:3b\nrenderer: qwen3\n")
    code, doc, err = cli_json(ollama_double, tmp_path, "build", str(drafted))
    assert code == 5 and "DRAFT needs Ollama 0.30.0 or newer; the server at" in doc["errors"][0]["message"]
    assert not ollama_double.state.calls("/api/create")
    code, doc = runner_json(ollama_double, tmp_path, "build", str(rendered), "-q")
    assert code == 0 and any("RENDERER needs Ollama 0.12.0" in w["message"] for w in doc["warnings"])
    code, doc = runner_json(ollama_double, tmp_path, "plan", str(rendered), str(drafted))
    assert [p["status"] for p in doc["data"]["profiles"]] == ["in_sync", "missing"]
    codes = [(w["code"], w["field"]) for w in doc["warnings"]]
    assert ("unsupported_field", "renderer") in codes and ("unsupported_field", "draft") in codes


def test_a_lock_file_not_written_yet_is_no_lock_yet(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    """A fresh checkout has no lock until `build --lock` writes one: `plan --lock` says so and its exit
    code is its own result (0 in sync, 3 drift), not broken input (1); on several hosts too."""
    ollama_double.install("llama3.2:3b")
    prof = write(tmp_path, "chef", "from: llama3.2:3b\nparameters: {temperature: 0.7}\n")
    lock = tmp_path / "modelctl.lock"
    code, doc, _ = cli_json(ollama_double, tmp_path, "plan", str(prof), "--lock", str(lock))
    assert code == 3 and doc["data"]["profiles"][0]["status"] == "missing"
    (note,) = [w for w in doc["warnings"] if w["code"] == "lock_missing"]
    assert note["message"].startswith(f"no lock yet: {lock} does not exist") and note["file"] == str(lock)
    assert run_cli("build", str(prof), "-q", host=ollama_double.url, cwd=tmp_path,
                   env={"MODELCTL_STATE_DIR": str(tmp_path / "state")}).returncode == 0  # fmt: skip
    code, doc, _ = cli_json(ollama_double, tmp_path, "plan", str(prof), "--lock", str(lock))
    assert code == 0 and not lock.exists() and [w["code"] for w in doc["warnings"]] == ["lock_missing"]
    with OllamaDouble() as other:
        other.install("llama3.2:3b")
        code, doc, _ = cli_json(ollama_double, tmp_path, "plan", str(prof), "--lock", str(lock),
                                "--host", ollama_double.url, "--host", other.url)  # fmt: skip
    assert code == 3, doc  # chef is missing on the second host: drift, not broken input
    assert any(w["code"] == "lock_missing" for w in doc["warnings"]), doc["warnings"]
