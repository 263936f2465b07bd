"""Validation that fits CI: profiles whose weights are not committed, lints real profiles need,
what only a server can say (`validate --host`), and annotations (SARIF 2.1.0, GitHub)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from modelctl.cli import cli
from modelctl.modelfile.gotemplate import top_level_fields
from tests.ollama_double import OllamaDouble


def invoke(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


def write(directory: Path, name: str, body: str) -> Path:
    p = directory / name
    p.write_text(body, encoding="utf-8")
    return p


# ------------------------------------------------------------------------ --no-local-files


def test_no_local_files_checks_all_but_the_files(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    prof = write(tmp_path, "local.yaml", "from: ./weights/model.gguf\nadapters: ./lora.gguf\nparameters: {top_k: 9}\n")
    code, out, err = invoke("validate", str(prof))
    assert code == 1 and "local model not found" in err
    code, out, err = invoke("validate", str(prof), "--no-local-files", "--strict")
    assert code == 0, err
    assert "not read: weights/model.gguf, lora.gguf (--no-local-files)" in out.replace(str(tmp_path) + "/", "")
    code, out, _ = invoke("validate", str(prof), "--no-local-files", "--format", "json")
    unchecked = json.loads(out)["data"]["profiles"][0]["unchecked"]
    assert [(u["field"], u["line"]) for u in unchecked] == [("from", 1), ("adapters[0]", 2)]
    # the rest is still checked: a bad value fails
    bad = write(tmp_path, "bad.yaml", "from: ./weights/model.gguf\nparameters: {top_k: -1}\n")
    assert invoke("validate", str(bad), "--no-local-files")[0] == 1
    # render writes the Modelfile and says what it did not read
    code, out, err = invoke("render", str(prof), "--no-local-files")
    assert code == 0 and "FROM " in out and "not read (--no-local-files)" in err
    # plan compares everything but the weights
    ollama_double.install("llama3.2:3b")
    code, out, err = invoke("plan", str(prof), "--no-local-files", "--host", ollama_double.url, "--format", "json")
    doc = json.loads(out)
    assert code == 3 and doc["data"]["profiles"][0]["status"] == "missing"
    assert not ollama_double.state.calls("/api/blobs")


# ------------------------------------------------------------------------------ offline lints


def test_custom_stop_warning_quiet_with_an_own_template(tmp_path: Path) -> None:
    plain = write(tmp_path, "plain.yaml", "from: llama3.2:3b\nparameters: {stop: ['<|eot_id|>']}\n")
    own = write(
        tmp_path,
        "own.yaml",
        "from: llama3.2:3b\ntemplate: '{{ .System }} {{ .Prompt }}'\nparameters: {stop: ['<|eot_id|>']}\n",
    )
    code, _, err = invoke("validate", str(plain))
    assert code == 0 and "custom stop list" in err
    code, _, err = invoke("validate", str(own), "--strict")
    assert code == 0 and err == ""


def test_template_variables_ollama_no_longer_provides(tmp_path: Path) -> None:
    body = (
        "from: llama3.2:3b\ntemplate: |\n"
        "  {{ if .First }}{{ .System }}{{ end }}\n"
        "  {{ range .Messages }}{{ .Role }}: {{ .Content }}{{ $.system }}{{ end }}{{ .Prompt }}\n"
    )
    prof = write(tmp_path, "old.yaml", body)
    code, out, _ = invoke("validate", str(prof), "--format", "json")
    warnings = [w for w in json.loads(out)["data"]["profiles"][0]["warnings"] if w["code"] == "template_variable"]
    assert [(w["line"], w["field"]) for w in warnings] == [(2, "template"), (2, "template")]
    assert "TEMPLATE line 1: Ollama no longer provides .First" in warnings[0]["message"]
    assert "TEMPLATE line 2: Ollama gives a TEMPLATE no .system" in warnings[1]["message"]
    assert "(did you mean .System?)" in warnings[1]["message"]


@pytest.mark.parametrize(
    ("template", "fields"),
    [
        ("{{ .System }}{{ .Prompt }}", ["System", "Prompt"]),
        ("{{- range $i, $m := .Messages }}{{ $m.Role }}{{ .Content }}{{ end -}}", ["Messages"]),
        ("{{ with .Tools }}{{ .Function }}{{ else }}{{ .Prompt }}{{ end }}", ["Tools", "Prompt"]),
        ('{{ if eq .Think true }}"{{ .Fake }}"{{ end }}{{ "x .NotAField" }}', ["Think", "Fake"]),
        ("{{/* .First */}}{{ (index .Messages 0).Content }}", ["Messages"]),
    ],
)
def test_template_fields_read_at_the_top_level(template: str, fields: list[str]) -> None:
    assert [u.name for u in top_level_fields(template)] == fields


# ------------------------------------------------------------------------- validate --host

SERVER_PROFILES = {
    "typo.yaml": "from: llama3.2:3bb\n",
    "long.yaml": "from: llama3.2:3b\nparameters:\n  num_ctx: 262144\n",
    "drops.yaml": "from: llama3.2:3b\nparameters:\n  stop: ['<|eot_id|>', '</s>']\n",
    "keeps.yaml": (
        "from: llama3.2:3b\nparameters:\n  stop: ['<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>', '</s>']\n"
    ),
    "newer.yaml": "from: llama3.2:3b\nrequires: '0.30.0'\nparameters:\n  draft_num_predict: 4\n",
}


def server_warnings(doc: dict[str, Any]) -> dict[str, list[tuple[str, int | None, str]]]:
    out: dict[str, list[tuple[str, int | None, str]]] = {}
    for p in doc["data"]["profiles"]:
        out[Path(p["profile"]).name] = [(w["code"], w["line"], w["message"]) for w in p["warnings"]]
    return out


def test_validate_host_says_what_only_a_server_can(ollama_double: OllamaDouble, tmp_path: Path) -> None:
    ollama_double.install("llama3.2:3b")
    refs = [str(write(tmp_path, name, body)) for name, body in SERVER_PROFILES.items()]
    code, out, err = invoke("validate", *refs, "--host", ollama_double.url, "--format", "json")
    assert code == 0, err
    found = server_warnings(json.loads(out))
    where = ollama_double.url
    assert found["typo.yaml"] == [
        (
            "base_missing",
            1,
            f"{where}: the base model llama3.2:3bb is not on the server (did you mean llama3.2:3b?); "
            "`build` would pull it",
        )
    ]
    assert [(c, line) for c, line, _ in found["long.yaml"]] == [("num_ctx_above_trained", 3)]
    assert "exceeds the trained context 131072 of llama3.2:3b" in found["long.yaml"][0][2]
    drops = [w for w in found["drops.yaml"] if w[0] == "stop_drops_end_of_turn"]
    assert len(drops) == 1 and '"<|start_header_id|>", "<|end_header_id|>"' in drops[0][2]
    assert all(c != "custom_stop" for c, _, _ in found["drops.yaml"])  # the precise check replaces the vague one
    assert found["keeps.yaml"] == []  # its stop list keeps the base's own: nothing to say
    newer = {c: m for c, _, m in found["newer.yaml"]}
    assert "it ignores draft_num_predict, which Ollama 0.30.0 added" in newer["parameter_ignored"]
    assert "requires Ollama 0.30.0" in newer["requires_newer"]
    # each base model asked once, however many profiles share it
    shows = [r["json"]["model"] for r in ollama_double.state.calls("/api/show")]
    assert shows == ["llama3.2:3b"]
    # --strict: warnings are errors (num_ctx above the trained context fails the run)
    code, _, err = invoke("validate", refs[1], "--host", ollama_double.url, "--strict")
    assert code == 1 and "error: " in err and "exceeds the trained context" in err
    # a server that cannot be reached: its own exit code, the profiles still validated
    ollama_double.stop()
    code, out, err = invoke("validate", refs[3], "--host", ollama_double.url)
    assert code == 4 and out.startswith("ok ") and "cannot reach Ollama" in err


# ------------------------------------------------------------------------------- annotations


def sarif_of(tmp_path: Path) -> tuple[int, dict[str, Any]]:
    write(tmp_path, "good.yaml", "from: llama3.2:3b\nparameters: {stop: ['x']}\n")
    write(tmp_path, "bad.yaml", "from: llama3.2:3b\nparameters:\n  temprature: 0.5\n")
    res = CliRunner().invoke(cli, ["validate", "good.yaml", "bad.yaml", "--format", "sarif"], catch_exceptions=False)
    return res.exit_code, json.loads(res.stdout)


def test_sarif_has_what_sarif_2_1_0_requires(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, log = sarif_of(tmp_path)
    assert code == 1
    # sarifLog: version and $schema; runs, one run
    assert log["version"] == "2.1.0"
    assert log["$schema"].startswith("https://") and "sarif" in log["$schema"] and "2.1.0" in log["$schema"]
    assert isinstance(log["runs"], list) and len(log["runs"]) == 1
    run = log["runs"][0]
    # run.tool.driver: name (required), rules (each with an id)
    driver = run["tool"]["driver"]
    assert driver["name"] == "modelctl" and isinstance(driver["version"], str)
    rule_ids = [r["id"] for r in driver["rules"]]
    assert len(rule_ids) == len(set(rule_ids)) and {"unknown_parameter", "custom_stop"} <= set(rule_ids)
    assert all(
        isinstance(r["shortDescription"]["text"], str) and r["shortDescription"]["text"] for r in driver["rules"]
    )
    # results: ruleId / ruleIndex / level / message.text / locations[].physicalLocation
    results = {r["ruleId"]: r for r in run["results"]}
    assert set(results) == {"unknown_parameter", "custom_stop"}
    for r in run["results"]:
        assert driver["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
        assert r["level"] in ("none", "note", "warning", "error")
        assert isinstance(r["message"]["text"], str) and r["message"]["text"]
        (loc,) = r["locations"]
        phys = loc["physicalLocation"]
        assert not phys["artifactLocation"]["uri"].startswith("/")  # relative to %SRCROOT%, the repository
        assert phys["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert phys["region"]["startLine"] >= 1 and phys["region"]["startColumn"] >= 1
    bad = results["unknown_parameter"]
    assert bad["level"] == "error"
    assert (
        bad["message"]["text"] == "parameters.temprature: unknown parameter 'temprature' (did you mean 'temperature'?)"
    )
    region = bad["locations"][0]["physicalLocation"]
    assert region["artifactLocation"]["uri"] == "bad.yaml" and region["region"] == {"startLine": 3, "startColumn": 3}
    assert results["custom_stop"]["level"] == "warning"
    assert run["columnKind"] == "unicodeCodePoints"


def test_github_workflow_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "bad.yaml", "from: llama3.2:3b\nparameters:\n  temprature: 0.5\n")
    write(tmp_path, "w,eird.yaml", "name: weird\nfrom: llama3.2:3b\nparameters: {stop: ['x']}\n")
    res = CliRunner().invoke(cli, ["validate", "bad.yaml", "w,eird.yaml", "--format", "github"])
    assert res.exit_code == 1 and res.stderr == ""
    lines = res.stdout.splitlines()
    assert lines[0] == (
        "::error file=bad.yaml,line=3,col=3,title=modelctl unknown_parameter::parameters.temprature: "
        "unknown parameter 'temprature' (did you mean 'temperature'?)"
    )
    assert re.match(
        r"::warning file=w%2Ceird\.yaml,line=3,col=\d+,title=modelctl custom_stop::parameters\.stop: ", lines[1]
    )
