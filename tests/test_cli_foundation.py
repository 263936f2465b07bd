"""The offline commands through click's runner and through a real subprocess:
validate, render, import, params, schema — output, exit codes, and nothing half-written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelctl.cli import cli

REPO = Path(__file__).resolve().parent.parent


def invoke(*args: str, input: str | None = None) -> tuple[int, str, str]:
    runner = CliRunner()
    res = runner.invoke(cli, list(args), input=input, catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


def subprocess_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MODELCTL_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "modelctl", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=60
    )


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# -- validate ------------------------------------------------------------------------------------
def test_validate_example_profiles_ok() -> None:
    code, out, err = invoke("validate", *(str(p) for p in sorted((REPO / "profiles").glob("*.yaml"))))
    assert code == 0, err
    assert out.count("ok ") == len(list((REPO / "profiles").glob("*.yaml")))


def test_validate_reports_every_invalid_profile_and_exits_1(tmp_path: Path) -> None:
    good = write(tmp_path, "good.yaml", "from: llama3\n")
    bad = write(tmp_path, "bad.yaml", "from: llama3\nparameters:\n  top_p: 1.5\n")
    code, out, err = invoke("validate", str(good), str(bad))
    assert code == 1
    assert "ok      " in out and "invalid " in out
    assert "bad.yaml:3:10: parameters.top_p: must be <= 1" in err
    assert "Traceback" not in err


def test_validate_json_envelope(tmp_path: Path) -> None:
    p = write(tmp_path, "p.yaml", "from: llama3\nparameters: {temperature: 3}\n")
    code, out, _ = invoke("validate", "--format", "json", str(p))
    assert code == 0
    env = json.loads(out)
    assert list(env) == ["schema_version", "command", "ok", "data", "warnings", "errors"]
    assert env["schema_version"] == 1 and env["command"] == "validate" and env["ok"] is True
    w = env["warnings"][0]
    assert set(w) == {"code", "message", "file", "line", "column", "field"}
    assert w["field"] == "parameters.temperature" and w["line"] == 2
    assert env["data"]["profiles"][0]["name"] == "p"


def test_validate_json_on_error(tmp_path: Path) -> None:
    p = write(tmp_path, "p.yaml", "from: llama3\nparameters: {temprature: 3}\n")
    code, out, _ = invoke("validate", "--format", "json", str(p))
    assert code == 1
    env = json.loads(out)
    assert env["ok"] is False
    assert env["errors"][0]["field"] == "parameters.temprature"
    assert "did you mean 'temperature'" in env["errors"][0]["message"]


def test_validate_strict_makes_warnings_fail(tmp_path: Path) -> None:
    p = write(tmp_path, "p.yaml", "from: llama3\nparameters: {stop: [x]}\n")
    assert invoke("validate", str(p))[0] == 0
    assert invoke("validate", "--strict", str(p))[0] == 1


def test_validate_checks_the_render(tmp_path: Path) -> None:
    p = write(tmp_path, "p.yaml", 'from: llama3\nsystem: "non\\u00a0breaking"\n')
    code, _, err = invoke("validate", str(p))
    assert code == 1
    assert "p.yaml:2:9: system:" in err and "U+00A0" in err


# -- render ---------------------------------------------------------------------------------------
def test_render_creative_to_stdout() -> None:
    code, out, _ = invoke("render", str(REPO / "profiles" / "creative.yaml"))
    assert code == 0
    assert "\nFROM llama3.2:3b\n" in out
    assert "PARAMETER temperature 1.1\n" in out
    assert "MESSAGE user Give me a dessert idea\n" in out
    # catalogue order: num_ctx (load-time) before sampling parameters
    assert out.index("PARAMETER num_ctx") < out.index("PARAMETER temperature")
    assert "\r" not in out


def test_render_by_name_from_profiles_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    code, out, _ = invoke("render", "precise")
    assert code == 0 and "PARAMETER min_p 0.05" in out


def test_render_to_file_uses_relative_paths_and_is_atomic(tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "tiny.gguf").write_bytes(b"GGUF")
    prof = write(tmp_path, "p.yaml", "from: ./weights/tiny.gguf\nsystem: hi\n")
    outdir = tmp_path / "out"
    outdir.mkdir()
    code, out, err = invoke("render", str(prof), "-o", str(outdir / "Modelfile"))
    assert code == 0, err
    assert out == ""
    text = (outdir / "Modelfile").read_text()
    assert "FROM ../weights/tiny.gguf\n" in text
    code, out, _ = invoke("render", str(prof))
    assert f"FROM {(tmp_path / 'weights' / 'tiny.gguf').resolve()}\n" in out
    assert [p.name for p in outdir.iterdir()] == ["Modelfile"]  # no temporary file left behind


def test_render_refusal_writes_nothing(tmp_path: Path) -> None:
    prof = write(tmp_path, "p.yaml", 'from: x\nsystem: "zero\\u200dwidth"\n')
    target = tmp_path / "Modelfile"
    code, out, err = invoke("render", str(prof), "-o", str(target))
    assert code == 1
    assert not target.exists()
    assert "U+200D" in err and "system" in err


def test_user_template_undefined_variable_names_the_line(tmp_path: Path) -> None:
    prof = write(tmp_path, "p.yaml", "from: x\n")
    tpl = write(tmp_path, "t.j2", "FROM {{ from_ }}\n# ok\nSYSTEM {{ nosuchthing }}\n")
    code, _, err = invoke("render", str(prof), "--template", str(tpl))
    assert code == 1
    assert f"{tpl}:3: undefined variable: 'nosuchthing' is undefined" in err


def test_user_template_syntax_error_names_the_line(tmp_path: Path) -> None:
    prof = write(tmp_path, "p.yaml", "from: x\n")
    tpl = write(tmp_path, "t.j2", "FROM {{ from_ }}\n{% if %}\n")
    code, _, err = invoke("render", str(prof), "--template", str(tpl))
    assert code == 1
    assert f"{tpl}:2: template syntax error" in err


def test_user_template_cannot_reach_python_internals(tmp_path: Path) -> None:
    prof = write(tmp_path, "p.yaml", "from: x\n")
    tpl = write(tmp_path, "t.j2", "FROM {{ from_.__class__.__mro__[1].__subclasses__() }}\n")
    code, out, err = invoke("render", str(prof), "--template", str(tpl))
    assert code == 1
    assert "template refused" in err or "unsafe" in err
    assert "subclass" not in out


def test_user_template_that_drops_a_field_fails_the_round_trip(tmp_path: Path) -> None:
    prof = write(tmp_path, "p.yaml", "from: x\nsystem: keep me\n")
    tpl = write(tmp_path, "t.j2", "FROM {{ from_ | q('from') }}\n")
    code, _, err = invoke("render", str(prof), "--template", str(tpl))
    assert code == 1
    assert "p.yaml:2:9: system: round-trip check failed" in err


# -- import ---------------------------------------------------------------------------------------
def test_import_then_render_is_equivalent(tmp_path: Path) -> None:
    mf = write(
        tmp_path,
        "Modelfile",
        (
            'FROM llama3.2\nPARAMETER temperature 0.7\nPARAMETER stop <end>\nPARAMETER stop "<eot>"\n'
            'SYSTEM """Multi\nline "quoted"\n  indented"""\nMESSAGE user yes\nMESSAGE assistant no\n'
            "LICENSE MIT\nREQUIRES v0.14.0\nPARAMETER num_ctx 1048576\n"
        ),
    )
    out_profile = tmp_path / "imported.yaml"
    code, _, err = invoke("import", str(mf), "-o", str(out_profile))
    assert code == 0, err
    from modelctl.modelfile.grammar import parse_modelfile

    code, rendered, err = invoke("render", str(out_profile))
    assert code == 0, err
    a, b = parse_modelfile(mf.read_text()), parse_modelfile(rendered)
    assert (a.froms, a.parameters, a.system, a.messages, a.license, a.requires) == (
        b.froms,
        b.parameters,
        b.system,
        b.messages,
        b.license,
        b.requires,
    )


def test_import_rejected_modelfile_gives_ollamas_message(tmp_path: Path) -> None:
    mf = write(tmp_path, "Modelfile", "FROM base\nOOPS x\n")
    target = tmp_path / "p.yaml"
    code, _, err = invoke("import", str(mf), "-o", str(target))
    assert code == 1
    assert (
        '(line 2): command must be one of "from", "license", "template", "system", "adapter", "draft", '
        '"renderer", "parser", "parameter", "message", or "requires"' in err
    )
    assert not target.exists()


def test_import_unknown_parameter(tmp_path: Path) -> None:
    mf = write(tmp_path, "Modelfile", "FROM base\nPARAMETER Temperature 1\n")
    code, _, err = invoke("import", str(mf))
    assert code == 1 and "unknown parameter 'Temperature'" in err


def test_import_refuses_what_a_profile_cannot_hold(tmp_path: Path) -> None:
    (tmp_path / "w.gguf").write_bytes(b"GGUF")
    mf = write(tmp_path, "Modelfile", "FROM a\nFROM ./w.gguf\n")
    code, _, err = invoke("import", str(mf))
    assert code == 1 and "mix a model name (a) and local files" in err
    mf = write(tmp_path, "Modelfile", "FROM a\nFROM b\n")
    code, out, err = invoke("import", str(mf))
    assert code == 0 and "from: b" in out and "Ollama uses the last one, b" in err


# -- params and schema ----------------------------------------------------------------------------
def test_params_table_lists_all_twenty() -> None:
    from modelctl.profile import params as P

    code, out, _ = invoke("params", "--format", "json")
    assert code == 0
    data = json.loads(out)["data"]
    assert [d["name"] for d in data] == [p.name for p in P.CATALOGUE]
    assert len(data) == 20
    code, out, _ = invoke("params")
    assert all(p.name in out for p in P.CATALOGUE)


def test_params_one_and_removed_and_unknown() -> None:
    code, out, _ = invoke("params", "num_ctx")
    assert code == 0 and "load-time" in out
    code, out, _ = invoke("params", "mirostat")
    assert code == 0 and "0.6.9" in out
    code, _, err = invoke("params", "temprature")
    assert code == 1 and "did you mean 'temperature'" in err


def test_schema_validates_the_examples_and_rejects_typos(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from modelctl.profile import yamlio

    code, out, _ = invoke("schema")
    assert code == 0
    schema = json.loads(out)
    validator = jsonschema.Draft202012Validator(schema)
    for p in (REPO / "profiles").glob("*.yaml"):
        validator.validate(yamlio.load_file(p).data)
    errors = list(validator.iter_errors({"from": "x", "parameters": {"temprature": 1}}))
    assert errors


# -- through a real subprocess --------------------------------------------------------------------
BAD_INPUTS = {
    "malformed.yaml": "from: x\nparameters: [1, 2\n",
    "list.yaml": "- a\n",
    "unknown.yaml": "from: x\nparameters: {temprature: 1}\n",
    "type.yaml": "from: x\nparameters: {num_ctx: lots}\n",
    "range.yaml": "from: x\nparameters: {top_p: 1.5}\n",
    "removed.yaml": "from: x\nparameters: {mirostat: 1}\n",
    "nofrom.yaml": "system: x\n",
    "empty.yaml": "",
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_subprocess_one_line_exit_1_nothing_written(tmp_path: Path, name: str) -> None:
    prof = write(tmp_path, name, BAD_INPUTS[name])
    target = tmp_path / "Modelfile"
    proc = subprocess_cli("render", str(prof), "-o", str(target))
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: {prof}:")
    assert "Traceback" not in proc.stderr
    assert not target.exists()


def test_usage_error_is_exit_2() -> None:
    proc = subprocess_cli("render")
    assert proc.returncode == 2


def test_python_m_and_version() -> None:
    proc = subprocess_cli("--version")
    assert proc.returncode == 0 and "modelctl, version" in proc.stdout


def test_installed_template_is_found_from_any_directory(tmp_path: Path) -> None:
    prof = write(tmp_path, "p.yaml", "from: llama3\nsystem: hi\n")
    proc = subprocess_cli("render", str(prof), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "SYSTEM hi\n" in proc.stdout
