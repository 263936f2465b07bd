"""End to end: `modelctl build` as a subprocess against the Ollama API double."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_double import REPO_ROOT, run_cli, run_on_tty
from tests.fixtures_gguf import write_tiny_llama
from tests.ollama_double import OllamaDouble


def write_profile(directory: Path, name: str, body: str) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


def build(double: OllamaDouble, tmp_path: Path, *args: str, host: str | None = None, state: str = "state") -> Any:
    """Run `modelctl build ... --format json`; return (completed process, parsed envelope or None)."""
    env = {"MODELCTL_STATE_DIR": str(tmp_path / state)}
    proc = run_cli("build", *args, "--format", "json", host=host or double.url, env=env, cwd=tmp_path)
    try:
        doc = json.loads(proc.stdout) if proc.stdout.strip() else None
    except json.JSONDecodeError:
        doc = None
    return proc, doc


def blob_posts(double: OllamaDouble) -> list[dict[str, Any]]:
    return [r for r in double.state.requests if r["method"] == "POST" and r["path"].startswith("/api/blobs/")]


def creates(double: OllamaDouble) -> list[dict[str, Any]]:
    return double.state.calls("/api/create")


NAME_PROFILE = """
    name: chef
    from: llama3.2:3b
    system: You are a chef.
    parameters:
      temperature: 1.1
      num_ctx: 8192
      seed: 42
      stop: ["<|eot_id|>"]
    messages:
      - {role: user, content: "Give me a dessert idea"}
      - {role: assistant, content: "Saffron panna cotta."}
    license: MIT
"""


def test_build_from_model_name_pulls_missing_base_and_reports(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    prof = write_profile(tmp_path, "chef", NAME_PROFILE)
    proc, doc = build(ollama_double, tmp_path, str(prof))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    b = doc["data"]["builds"][0]
    assert b["status"] == "created" and b["pulled"] is True
    assert "pulling manifest" in b["statuses"] and b["statuses"][-1] == "success"
    assert ollama_double.state.calls("/api/pull")[0]["json"]["model"] == "llama3.2:3b"
    sent = creates(ollama_double)[0]["json"]
    assert sent == {
        "model": "chef",
        "from": "llama3.2:3b",
        "system": "You are a chef.",
        "parameters": {"num_ctx": 8192, "seed": 42, "temperature": 1.1, "stop": ["<|eot_id|>"]},
        "messages": [
            {"role": "user", "content": "Give me a dessert idea"},
            {"role": "assistant", "content": "Saffron panna cotta."},
        ],
        "license": ["MIT"],
        "stream": True,
    }
    rep = b["report"]
    assert rep["name"] == "chef" and rep["architecture"] == "llama" and rep["quantization"] == "Q4_K_M"
    assert rep["context_length"] == {"trained": 131072, "configured": 8192, "runtime": None}
    assert rep["embedding_length"] == 3072 and rep["block_count"] == 28
    assert rep["head_count"] == 24 and rep["head_count_kv"] == 8
    assert rep["parameter_count"] == 3212749888 and rep["parameter_size"] == "3.2B"
    assert rep["size_bytes"] == 2019393189 and rep["capabilities"] == ["completion", "tools"]
    assert rep["base"] == "llama3.2:3b"
    # stop is set by the profile, so nothing is inherited silently here; the stored values match.
    assert rep["parameters"]["temperature"] == pytest.approx(1.1)
    assert rep["memory"]["num_ctx"] == 8192 and rep["memory"]["kv_cache_bytes"] > 0
    codes = {w["code"] for w in doc["warnings"]}
    assert "stored_differently" not in codes


def test_no_pull_makes_a_missing_base_an_error(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    prof = write_profile(tmp_path, "chef", NAME_PROFILE)
    env = {"MODELCTL_STATE_DIR": str(tmp_path / "state")}
    proc = run_cli("build", str(prof), "--no-pull", host=ollama_double.url, env=env, cwd=tmp_path)
    assert proc.returncode == 5
    assert "llama3.2:3b is not on the server" in proc.stderr and "--no-pull" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not ollama_double.state.calls("/api/pull") and not creates(ollama_double)


def test_a_missing_base_near_a_model_on_the_server_gets_a_did_you_mean(
    ollama_double: OllamaDouble, tmp_path: Path
) -> None:
    ollama_double.install("llama3.2:3b")
    prof = write_profile(tmp_path, "typo", "name: typo\nfrom: llama3.2:3bb\n")
    env = {"MODELCTL_STATE_DIR": str(tmp_path / "state")}
    proc = run_cli("build", str(prof), "--no-pull", host=ollama_double.url, env=env, cwd=tmp_path)
    assert proc.returncode == 5 and "did you mean 'llama3.2:3b'?" in proc.stderr, proc.stderr
    assert not ollama_double.state.calls("/api/pull")
    proc = run_cli("build", str(prof), host=ollama_double.url, env=env, cwd=tmp_path)  # the registry lacks it too
    assert proc.returncode == 5 and "cannot pull the base model llama3.2:3bb" in proc.stderr, proc.stderr
    assert "did you mean 'llama3.2:3b'?" in proc.stderr and not creates(ollama_double)


def test_inherited_parameters_are_warned(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    ollama_double.install("llama3.2:3b")
    prof = write_profile(
        tmp_path,
        "plain",
        """
        from: llama3.2:3b
        parameters: {temperature: 0.2}
    """,
    )
    proc, doc = build(ollama_double, tmp_path, str(prof))
    assert proc.returncode == 0, proc.stderr
    assert doc["data"]["builds"][0]["pulled"] is False
    inherited = [w for w in doc["warnings"] if w["code"] == "inherited_parameters"]
    assert inherited and "stop=" in inherited[0]["message"]


def test_requires_newer_than_the_server_is_a_warning(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    ollama_double.install("llama3.2:3b")
    prof = write_profile(tmp_path, "req", 'from: llama3.2:3b\nrequires: "0.99.0"\n')
    proc, doc = build(ollama_double, tmp_path, str(prof))
    assert proc.returncode == 0, proc.stderr
    assert creates(ollama_double)[0]["json"]["requires"] == "0.99.0"
    req = [w for w in doc["warnings"] if w["code"] == "requires_newer"]
    assert req and "requires Ollama 0.99.0" in req[0]["message"] and "is 0.12.6" in req[0]["message"]


def test_requires_on_a_server_that_predates_it_does_not_rebuild_forever(
    ollama_double: OllamaDouble, tmp_path: Path
) -> None:
    ollama_double.state.version = "0.13.5"  # REQUIRES is stored from 0.14.0 on; older servers drop it
    ollama_double.install("llama3.2:3b")
    prof = write_profile(tmp_path, "req", 'from: llama3.2:3b\nrequires: "0.14.0"\n')
    proc, doc = build(ollama_double, tmp_path, str(prof))
    assert proc.returncode == 0, proc.stderr
    assert any(w["code"] == "requires_newer" for w in doc["warnings"])
    # Without a build record (another machine, CI) the field-by-field rule must not see a difference
    proc, doc = build(ollama_double, tmp_path, str(prof), state="another-machine")
    assert doc["data"]["builds"][0]["status"] == "up_to_date", doc["data"]["builds"][0].get("reasons")
    ollama_double.state.version = "0.14.0"  # a server that stores it: a missing value is a difference
    proc, doc = build(ollama_double, tmp_path, str(prof), state="third")
    assert doc["data"]["builds"][0]["status"] == "created"
    assert build(ollama_double, tmp_path, str(prof), state="fourth")[1]["data"]["builds"][0]["status"] == "up_to_date"


def test_up_to_date_and_force(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    ollama_double.install("llama3.2:3b")
    prof = write_profile(tmp_path, "chef", NAME_PROFILE)
    assert build(ollama_double, tmp_path, str(prof))[0].returncode == 0
    proc, doc = build(ollama_double, tmp_path, str(prof))
    assert proc.returncode == 0, proc.stderr
    assert doc["data"]["builds"][0]["status"] == "up_to_date"
    assert len(creates(ollama_double)) == 1
    # Without the build record the field-by-field rule still proves it (another machine, CI).
    proc, doc = build(ollama_double, tmp_path, str(prof), state="another-machine")
    assert doc["data"]["builds"][0]["status"] == "up_to_date"
    # A changed value is not up to date, and the reason names it.
    proc, doc = build(ollama_double, tmp_path, str(prof), "--set", "temperature=0.3")
    b = doc["data"]["builds"][0]
    assert b["status"] == "created" and any("temperature" in r for r in b["reasons"])
    assert creates(ollama_double)[-1]["json"]["parameters"]["temperature"] == 0.3
    proc, doc = build(ollama_double, tmp_path, str(prof), "--set", "temperature=0.3", "--force")
    forced = doc["data"]["builds"][0]
    assert forced["status"] == "created" and forced["reasons"] == ["--force"]
    assert len(creates(ollama_double)) == 3


def test_local_gguf_upload_then_second_build_sends_no_blob_bytes(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    model = write_tiny_llama(tmp_path / "weights" / "tiny.gguf", context_length=4096)
    prof = write_profile(
        tmp_path,
        "tiny",
        """
        name: tiny
        from: ./weights/tiny.gguf
        parameters: {num_ctx: 2048, temperature: 0.5}
    """,
    )
    proc, doc = build(ollama_double, tmp_path, str(prof))
    assert proc.returncode == 0, proc.stderr
    b = doc["data"]["builds"][0]
    size = model.stat().st_size
    assert b["uploaded_bytes"] == size and b["blobs"][0]["key"] == "tiny.gguf"
    assert b["blobs"][0]["present"] is False
    assert creates(ollama_double)[0]["json"]["files"] == {"tiny.gguf": b["blobs"][0]["digest"]}
    assert "from" not in creates(ollama_double)[0]["json"]
    posts = blob_posts(ollama_double)
    assert len(posts) == 1
    rep = b["report"]
    assert rep["architecture"] == "llama" and rep["quantization"] == "F16"
    assert rep["context_length"]["trained"] == 4096 and rep["context_length"]["configured"] == 2048

    # Second build: up to date, 0 blob bytes, no create.
    proc, doc = build(ollama_double, tmp_path, str(prof))
    b = doc["data"]["builds"][0]
    assert b["status"] == "up_to_date" and b["uploaded_bytes"] == 0
    assert len(blob_posts(ollama_double)) == 1 and len(creates(ollama_double)) == 1
    # Forced: created again, but the blob is already on the server (HEAD), so still 0 bytes sent.
    proc, doc = build(ollama_double, tmp_path, str(prof), "--force")
    b = doc["data"]["builds"][0]
    assert b["status"] == "created" and b["uploaded_bytes"] == 0 and b["blobs"][0]["present"] is True
    assert len(blob_posts(ollama_double)) == 1 and len(creates(ollama_double)) == 2


def test_dry_run_sends_nothing(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    write_tiny_llama(tmp_path / "tiny.gguf")
    prof = write_profile(
        tmp_path,
        "tiny",
        """
        from: ./tiny.gguf
        system: hi
        parameters: {num_ctx: 1024}
    """,
    )
    proc, doc = build(ollama_double, tmp_path, str(prof), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    b = doc["data"]["builds"][0]
    assert doc["data"]["dry_run"] is True and b["status"] == "planned"
    assert b["request"]["files"]["tiny.gguf"].startswith("sha256:")
    assert b["request"]["parameters"] == {"num_ctx": 1024} and b["request"]["stream"] is True
    assert ollama_double.state.requests == []
    text = run_cli("build", str(prof), "--dry-run", host=ollama_double.url, cwd=tmp_path)
    assert text.returncode == 0
    assert "POST /api/create" in text.stdout and '"tiny.gguf": "sha256:' in text.stdout
    assert "HEAD, upload if absent" in text.stdout
    assert ollama_double.state.requests == []


def test_jobs_builds_profiles_concurrently(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    ollama_double.install("llama3.2:3b")
    ollama_double.state.faults.delay["/api/create"] = 0.3
    a = write_profile(tmp_path, "a", "from: llama3.2:3b\nparameters: {temperature: 0.1}\n")
    b = write_profile(tmp_path, "b", "from: llama3.2:3b\nparameters: {temperature: 0.9}\n")
    proc, doc = build(ollama_double, tmp_path, str(a), str(b), "--jobs", "2")
    assert proc.returncode == 0, proc.stderr
    assert [x["name"] for x in doc["data"]["builds"]] == ["a", "b"]
    assert all(x["status"] == "created" for x in doc["data"]["builds"])
    assert ollama_double.state.get("a") is not None and ollama_double.state.get("b") is not None
    # Both creates were in flight at once: the second create was sent before the first job's
    # post-create /api/show (sequential builds would show the first model before creating the second).
    reqs = ollama_double.state.requests
    c1, c2 = [i for i, r in enumerate(reqs) if r["path"] == "/api/create"]
    first = reqs[c1]["json"]["model"]
    after = [i for i, r in enumerate(reqs) if i > c1 and r["path"] == "/api/show" and r["json"]["model"] == first]
    assert c2 < after[0]


def test_one_failed_profile_among_several(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    ollama_double.install("llama3.2:3b")
    good = write_profile(tmp_path, "good", "from: llama3.2:3b\n")
    bad = write_profile(tmp_path, "bad", "from: qwen3:8b\n")
    out = tmp_path / "out.txt"
    env = {"MODELCTL_STATE_DIR": str(tmp_path / "state")}
    proc = run_cli(
        "build",
        str(good),
        str(bad),
        "--no-pull",
        "--jobs",
        "2",
        "-o",
        str(out),
        host=ollama_double.url,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 5
    assert "error: bad: base model qwen3:8b is not on the server" in proc.stderr
    assert "Traceback" not in proc.stderr
    # what finished is still reported (a CI job must know what is deployed), and the exit code says one failed:
    # a line per profile, then the summary line
    text = out.read_text()
    assert re.match(r"good +created +\d+\.\d s\n", text) and re.search(r"\nbad +failed +\d+\.\d s\n", text), text
    assert re.search(r"\n1 built, 1 failed in \d+\.\d s\n$", text), text
    assert ollama_double.state.get("good") is not None and ollama_double.state.get("bad") is None
    proc = run_cli(
        "build", str(good), str(bad), "--no-pull", "--format", "json", host=ollama_double.url, env=env, cwd=tmp_path
    )
    assert proc.returncode == 5
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False
    assert [b["name"] for b in doc["data"]["builds"]] == ["good"]
    assert [f["name"] for f in doc["data"]["failed"]] == ["bad"]
    assert doc["errors"][0]["message"].startswith("bad: base model qwen3:8b")


def test_quantize(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    write_tiny_llama(tmp_path / "tiny.gguf")
    prof = write_profile(tmp_path, "q", "from: ./tiny.gguf\nquantize: q4_K_M\n")
    proc, doc = build(ollama_double, tmp_path, str(prof))
    assert proc.returncode == 0, proc.stderr
    b = doc["data"]["builds"][0]
    assert creates(ollama_double)[0]["json"]["quantize"] == "q4_K_M"
    assert "quantizing F16 model to Q4_K_M" in b["statuses"]
    assert b["report"]["quantization"] == "Q4_K_M"
    # The server rewrote the weights; the build record still proves the model is up to date.
    proc, doc = build(ollama_double, tmp_path, str(prof))
    assert doc["data"]["builds"][0]["status"] == "up_to_date"


def test_adapter_is_uploaded_and_referenced(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    write_tiny_llama(tmp_path / "tiny.gguf")
    (tmp_path / "lora").mkdir()
    adapter = write_tiny_llama(tmp_path / "lora" / "chef.gguf", seed=3)
    prof = write_profile(tmp_path, "ad", "from: ./tiny.gguf\nadapters: [./lora/chef.gguf]\n")
    proc, doc = build(ollama_double, tmp_path, str(prof))
    assert proc.returncode == 0, proc.stderr
    sent = creates(ollama_double)[0]["json"]
    assert list(sent["adapters"]) == ["chef.gguf"] and list(sent["files"]) == ["tiny.gguf"]
    assert len(blob_posts(ollama_double)) == 2
    deployed = ollama_double.state.get("ad")
    assert deployed is not None and deployed.adapters == [sent["adapters"]["chef.gguf"]]
    assert adapter.exists()
    assert build(ollama_double, tmp_path, str(prof))[1]["data"]["builds"][0]["status"] == "up_to_date"


def test_verify_with_clamp_fails_with_the_reason(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    write_tiny_llama(tmp_path / "tiny.gguf", context_length=2048)
    prof = write_profile(tmp_path, "long", "from: ./tiny.gguf\nparameters: {num_ctx: 8192}\n")
    proc, doc = build(ollama_double, tmp_path, str(prof), "--verify")
    assert proc.returncode == 6, proc.stderr
    rep = doc["data"]["builds"][0]["report"]
    assert rep["context_length"] == {"trained": 2048, "configured": 8192, "runtime": 2048}
    assert rep["runtime"]["size"] > 0 and rep["runtime"]["processor"] == "100% GPU"
    assert doc["ok"] is False
    assert "clamped it to the model's trained context length 2048" in doc["errors"][0]["message"]
    assert any(w["code"] == "num_ctx_above_trained" for w in doc["warnings"])
    assert ollama_double.state.runners == {}  # unloaded again: it was not loaded before
    text = run_cli(
        "build",
        str(prof),
        "--verify",
        host=ollama_double.url,
        cwd=tmp_path,
        env={"MODELCTL_STATE_DIR": str(tmp_path / "state")},
    )
    assert text.returncode == 6 and "Traceback" not in text.stderr
    assert "verify: FAILED" in text.stdout and "clamped" in text.stderr


def test_verify_ok_keeps_a_loaded_model_loaded(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    write_tiny_llama(tmp_path / "tiny.gguf", context_length=4096)
    prof = write_profile(tmp_path, "short", "from: ./tiny.gguf\nparameters: {num_ctx: 1024}\n")
    proc, doc = build(ollama_double, tmp_path, str(prof), "--verify")
    assert proc.returncode == 0, proc.stderr
    assert doc["data"]["builds"][0]["report"]["context_length"]["runtime"] == 1024
    assert doc["data"]["builds"][0]["verify"] == {"ok": True, "problem": None}


# ------------------------------------------------------------------------------------------
# Faults: each gives its exit code and one message, no traceback, and no -o file.

FAULTS = [
    ("refused", None, 4, "cannot reach Ollama"),
    ("cut", ("cut_after", "/api/create", 2), 5, "/api/create"),
    ("malformed", ("malformed_at", "/api/create", 1), 5, "malformed NDJSON"),
    ("slow", ("delay", "/api/show", 3.0), 4, "timed out"),
    ("http500", ("fail", "/api/create", (500, "boom: out of disk")), 5, "boom: out of disk"),
    ("in-stream", ("create_error", None, "quantization failed"), 5, "quantization failed"),
]


@pytest.mark.parametrize(("label", "fault", "code", "needle"), FAULTS, ids=[f[0] for f in FAULTS])
def test_faults(
    ollama_double: OllamaDouble,
    tmp_path: Path,
    closed_port_url: str,
    label: str,
    fault: Any,
    code: int,
    needle: str,
) -> None:
    ollama_double.install("llama3.2:3b")
    prof = write_profile(tmp_path, "chef", NAME_PROFILE)
    host = ollama_double.url
    if fault is None:
        host = closed_port_url
    else:
        kind, path, value = fault
        if kind == "create_error":
            ollama_double.state.faults.create_error = value
        else:
            getattr(ollama_double.state.faults, kind)[path] = value
    out = tmp_path / "report.txt"
    env = {"MODELCTL_STATE_DIR": str(tmp_path / "state")}
    proc = run_cli("build", str(prof), "--timeout", "1", "-o", str(out), host=host, env=env, cwd=tmp_path)
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".report")] == []
    if label not in ("refused", "http500", "cut"):
        return
    # JSON mode: the envelope says why, with the same exit code. (--force: a create whose answer was
    # broken may still have finished on the server, and then the model would be up to date.)
    proc = run_cli(
        "build", str(prof), "--force", "--timeout", "1", "--format", "json", host=host, env=env, cwd=tmp_path
    )
    assert proc.returncode == code
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False and needle in doc["errors"][0]["message"]


def test_readme_quick_start_without_a_server(closed_port_url: str) -> None:
    proc = run_cli("build", "profiles/creative.yaml", host=closed_port_url, cwd=REPO_ROOT)
    assert proc.returncode == 4
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and 'is "ollama serve" running?' in lines[0]
    assert proc.stdout == ""


def test_invalid_input_is_reported_before_the_server_is_asked(tmp_path: Path, closed_port_url: str) -> None:
    prof = write_profile(tmp_path, "chef", NAME_PROFILE)
    broken = tmp_path / "broken.j2"
    broken.write_text("FROM {{ from_ }\n")
    proc = run_cli("build", str(prof), "--template", str(broken), host=closed_port_url, cwd=tmp_path)
    assert proc.returncode == 1 and "broken.j2" in proc.stderr and "Traceback" not in proc.stderr


def test_progress_on_a_tty_only(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    prof = write_profile(tmp_path, "chef", NAME_PROFILE)
    env = {"MODELCTL_STATE_DIR": str(tmp_path / "state")}
    code, out, tty = run_on_tty(["build", str(prof)], ollama_double.url, tmp_path, env)
    assert code == 0, tty
    assert "pulling llama3.2:3b" in tty and "pulling manifest" in tty
    assert "pulling llama3.2:3b: 2.0 GB" in tty  # the model and its size, before its bytes flow
    assert "━" in tty and "GiB" in tty  # rich's byte bar for the pulled layers
    assert "creating model" in tty and "success" in tty
    assert "chef: created" in out
    # Not a TTY (captured), or JSON: no progress at all.
    proc = run_cli("build", str(prof), "--force", host=ollama_double.url, env=env, cwd=tmp_path)
    assert "pulling" not in proc.stderr and "creating model" not in proc.stderr
    code, out, tty = run_on_tty(["build", str(prof), "--force", "--format", "json"], ollama_double.url, tmp_path, env)
    assert code == 0 and "creating model" not in tty
