"""Builds of many profiles: a line each and a summary, the full report only when asked (or for one),
the server asked once per run for what a run needs, the build records written once."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import modelctl.jobs.build
from modelctl import api
from modelctl.cli import cli
from modelctl.common.events import Status, Transfer
from tests.ollama_double import OllamaDouble


def profiles(tmp_path: Path, n: int) -> list[str]:
    refs = []
    for i in range(n):
        p = tmp_path / f"p{i}.yaml"
        p.write_text(f"name: chef-{i}\nfrom: llama3.2:3b\nparameters: {{temperature: 0.{i + 1}}}\n", encoding="utf-8")
        refs.append(str(p))
    return refs


def invoke(double: OllamaDouble, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = {"MODELCTL_STATE_DIR": str(tmp_path / "state"), "OLLAMA_HOST": double.url}
    res = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


def paths(double: OllamaDouble) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in double.state.requests:
        out[r["path"]] = out.get(r["path"], 0) + 1
    return out


def test_lines_summary_and_reports(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    refs = profiles(tmp_path, 3)
    code, out, err = invoke(ollama_double, tmp_path, "build", *refs)
    assert code == 0, err
    lines = out.splitlines()
    assert [re.sub(r"\d+\.\d s$", "T", line).split() for line in lines[:3]] == [
        ["chef-0", "created", "T"], ["chef-1", "created", "T"], ["chef-2", "created", "T"],
    ]  # fmt: skip
    assert re.fullmatch(r"3 built in \d+\.\d s", lines[3]) and len(lines) == 4
    # the pull said the model and its size, the first build waited for it
    assert paths(ollama_double)["/api/pull"] == 1
    # one profile: the full report, as always
    ollama_double.state.requests.clear()
    code, out, _ = invoke(ollama_double, tmp_path, "build", refs[0], "--force")
    assert out.startswith("chef-0: created\n  rebuilt because --force\nchef-0\n  host ") and "stored parameters:" in out
    # several with --report: the lines, every report, the summary
    with open(refs[1], "a", encoding="utf-8") as fh:
        fh.write("system: changed\n")
    code, out, _ = invoke(ollama_double, tmp_path, "build", *refs, "--report")
    assert re.search(r"^chef-1 +changed +\d+\.\d s$", out, re.M) and out.count("  stored parameters:") == 3
    assert re.search(r"^1 built, 2 up to date in \d+\.\d s$", out, re.M)
    # -q: only the summary
    code, out, err = invoke(ollama_double, tmp_path, "build", *refs, "-q", "--force")
    assert code == 0 and re.fullmatch(r"3 built in \d+\.\d s\n", out) and err == ""


def test_several_profiles_ask_what_the_run_needs_and_write_records_once(
    ollama_double: OllamaDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ollama_double.install("llama3.2:3b")
    refs = profiles(tmp_path, 4)
    writes: list[Any] = []
    real = modelctl.jobs.build.write_atomic
    monkeypatch.setattr(modelctl.jobs.build, "write_atomic", lambda p, t: (writes.append(p), real(p, t)))
    api.build(refs, host=ollama_double.url)
    assert len(writes) == 1  # four creates, one write of builds.json
    assert paths(ollama_double) == {
        "/api/version": 1, "/api/tags": 1, "/api/show": 5, "/api/create": 4,  # 4 models + the base; tags after
    }  # fmt: skip
    # --force: the models' own /api/show is not needed; the list says whether each is there
    ollama_double.state.requests.clear()
    writes.clear()
    result = api.build(refs, api.BuildOptions(force=True), host=ollama_double.url)
    assert [o.verb for o in result.outcomes] == ["changed"] * 4 and len(writes) == 1
    assert paths(ollama_double) == {"/api/version": 1, "/api/tags": 2, "/api/show": 1, "/api/create": 4}
    # JSON always has the reports (a script reads them); still one /api/ps for all
    ollama_double.state.requests.clear()
    code, out, _ = invoke(ollama_double, tmp_path, "build", *refs, "--format", "json")
    doc = json.loads(out)
    assert all(b["report"] is not None for b in doc["data"]["builds"]) and paths(ollama_double)["/api/ps"] == 1
    assert doc["data"]["summary"] == {"up_to_date": 4}


def test_a_pull_says_the_model_and_its_size(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    code, out, _ = invoke(ollama_double, tmp_path, "build", *profiles(tmp_path, 1))
    assert code == 0 and "  pulled the base model llama3.2:3b (2.0 GB)\n" in out
    events: list[Any] = []
    with OllamaDouble() as fresh:
        api.build(profiles(tmp_path, 1), api.BuildOptions(force=True), host=fresh.url, on_event=events.append)
    said = [i for i, e in enumerate(events) if isinstance(e, Status) and e.text == "pulling llama3.2:3b: 2.0 GB"]
    flowing = [i for i, e in enumerate(events) if isinstance(e, Transfer) and e.completed > 0]
    assert said and flowing and said[0] < flowing[0]  # before its bytes flow
