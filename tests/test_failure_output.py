"""A run that fails after its options were read still writes its report: ``--format json|junit|sarif
-o FILE`` writes FILE for every exit code but usage (2) — the envelope with ``ok: false``, JUnit with an
``<error>`` case per problem, SARIF with the errors — and stderr says the error in one line. CI uploads
these reports ``when: always`` (docs/ci.md); a missing file hides why the job failed.

One scenario per exit code and format, through the one rule in ``cli_common`` (``_failed`` for a run
that raised, ``emit`` for a result that failed)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_double import run_cli
from tests.ollama_double import OllamaDouble

CHEF = "name: chef\nfrom: llama3.2:3b\nparameters:\n  temperature: 0.3\n"
FAILING_PROMPTS = "- name: never\n  prompt: Say hello\n  expect: {contains: 'zzz-not-said'}\n"

Setup = Callable[[OllamaDouble, Path], str]  # prepares the double and folder; returns the host URL


def _chef(tmp: Path) -> None:
    (tmp / "profiles").mkdir(exist_ok=True)
    (tmp / "profiles" / "chef.yaml").write_text(CHEF, encoding="utf-8")


def _profiles_only(d: OllamaDouble, tmp: Path) -> str:
    _chef(tmp)
    return d.url


def _built(d: OllamaDouble, tmp: Path) -> str:
    _chef(tmp)
    d.install("llama3.2:3b")
    r = run_cli("build", "chef", "-q", host=d.url, cwd=tmp)
    assert r.returncode == 0, r.stderr
    return d.url


def _not_built(d: OllamaDouble, tmp: Path) -> str:
    _chef(tmp)
    d.install("llama3.2:3b")
    return d.url


def _gone(d: OllamaDouble, tmp: Path) -> str:
    _chef(tmp)
    d.stop()
    return d.url


def _cells_fail(d: OllamaDouble, tmp: Path) -> str:
    url = _built(d, tmp)
    d.state.faults.fail["/api/generate"] = (500, "llama runner process has terminated: exit status 2")
    return url


def _tags_fail(d: OllamaDouble, tmp: Path) -> str:
    _chef(tmp)
    d.state.faults.fail["/api/tags"] = (500, "internal server error")
    d.state.faults.fail["/api/show"] = (500, "internal server error")
    return d.url


def _broken_prompts(d: OllamaDouble, tmp: Path) -> str:
    url = _built(d, tmp)
    (tmp / "prompts.yaml").write_text("- prompt: [unclosed\n", encoding="utf-8")
    return url


def _failing_prompts(d: OllamaDouble, tmp: Path) -> str:
    url = _built(d, tmp)
    (tmp / "prompts.yaml").write_text(FAILING_PROMPTS, encoding="utf-8")
    return url


def _broken_inventory(d: OllamaDouble, tmp: Path) -> str:
    _chef(tmp)
    (tmp / "inv.yaml").write_text("hosts: [\n", encoding="utf-8")
    return d.url


# (id, setup, args, exit code, a word stderr's error line holds)
CASES: list[tuple[str, Setup, list[str], int, str]] = [
    # exit 1: broken input
    ("json-1", _profiles_only, ["plan", "nosuch"], 1, "nosuch"),
    ("junit-1", _broken_prompts, ["compare", "chef", "--prompts", "prompts.yaml"], 1, "prompts.yaml"),
    ("sarif-1", _broken_inventory, ["validate", "chef", "--hosts", "inv.yaml"], 1, "inv.yaml"),
    # exit 3: drift
    ("json-3", _not_built, ["plan", "chef"], 3, "drift"),
    # exit 4: unreachable
    ("json-4", _gone, ["show", "chef"], 4, "cannot reach"),
    ("junit-4", _gone, ["compare", "chef", "--prompt", "hi"], 4, "cannot reach"),
    ("sarif-4", _gone, ["validate", "chef", "--host", "{url}"], 4, "cannot reach"),
    # exit 5: the server refused or failed
    ("json-5", _not_built, ["show", "chef"], 5, "chef"),
    ("junit-5-not-built", _not_built, ["compare", "chef", "--prompt", "hi"], 5, "not built"),
    ("junit-5-cells", _cells_fail, ["compare", "chef", "--prompt", "hi"], 5, "runner process"),
    ("sarif-5", _tags_fail, ["validate", "chef", "--host", "{url}"], 5, "internal server error"),
    # exit 6: a check on the model failed
    ("json-6", _failing_prompts, ["compare", "chef", "--prompts", "prompts.yaml"], 6, "assertions failed"),
    ("junit-6", _failing_prompts, ["compare", "chef", "--prompts", "prompts.yaml"], 6, "assertions failed"),
]


def _read(fmt: str, text: str) -> Any:
    if fmt == "json":
        return json.loads(text)
    if fmt == "junit":
        return ET.fromstring(text)
    return json.loads(text)


def _says_it_failed(fmt: str, doc: Any, code: int) -> None:
    if fmt == "json":
        assert doc["schema_version"] == 1 and doc["ok"] is False
        assert code == 3 or doc["errors"], doc  # drift is data; every other failure names its error
    elif fmt == "junit":
        assert doc.tag == "testsuites"
        kind = "failure" if code == 6 else "error"
        bad = doc.findall(f".//testcase/{kind}")
        assert bad and int(doc.get("errors" if kind == "error" else "failures", "0")) == len(bad)
        assert all(e.get("message") for e in bad)
    else:
        (run,) = doc["runs"]
        assert doc["version"] == "2.1.0" and any(r["level"] == "error" for r in run["results"]), run


@pytest.mark.parametrize(("case", "setup", "args", "code", "word"), CASES, ids=[c[0] for c in CASES])
def test_a_failed_run_writes_its_report_and_says_why(
    case: str, setup: Setup, args: list[str], code: int, word: str, tmp_path: Path, ollama_double: OllamaDouble
) -> None:
    fmt = case.split("-")[0]
    url = setup(ollama_double, tmp_path)
    argv = [a.replace("{url}", url) for a in args]
    r = run_cli(*argv, "--format", fmt, "-o", "report.out", host=url, cwd=tmp_path)
    assert r.returncode == code, (r.returncode, r.stderr)
    assert r.stdout == ""  # the report went to the file
    report = tmp_path / "report.out"
    assert report.is_file(), f"{case}: -o FILE not written (stderr: {r.stderr})"
    _says_it_failed(fmt, _read(fmt, report.read_text(encoding="utf-8")), code)
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert errors and any(word in line for line in errors), r.stderr
    assert "Traceback" not in r.stderr


def test_junit_names_the_model_that_is_not_built(tmp_path: Path, ollama_double: OllamaDouble) -> None:
    url = _not_built(ollama_double, tmp_path)
    r = run_cli("compare", "chef", "--prompt", "hi", "-o", "junit.xml", host=url, cwd=tmp_path)  # format from .xml
    assert r.returncode == 5
    root = ET.fromstring((tmp_path / "junit.xml").read_text(encoding="utf-8"))
    (err,) = root.findall(".//testcase/error")
    assert "model 'chef' is not built" in (err.get("message") or "") and err.get("type") == "model_not_found"
    assert root.get("errors") == "1" and root.get("tests") == "1"


def test_json_to_stdout_on_failure_and_the_error_on_stderr(tmp_path: Path, ollama_double: OllamaDouble) -> None:
    url = _gone(ollama_double, tmp_path)
    r = run_cli("show", "chef", "--format", "json", host=url, cwd=tmp_path)
    assert r.returncode == 4
    assert json.loads(r.stdout)["ok"] is False
    (line,) = r.stderr.splitlines()
    assert line.startswith("error: cannot reach Ollama")


def test_a_usage_error_writes_nothing(tmp_path: Path) -> None:
    _chef(tmp_path)
    r = run_cli("compare", "chef", "--format", "junit", "-o", "junit.xml", cwd=tmp_path)  # junit needs prompts
    assert r.returncode == 2 and not (tmp_path / "junit.xml").exists()


def test_an_internal_error_still_writes_the_envelope(tmp_path: Path) -> None:
    """A bug in modelctl (exit 1) is a failure like any other: the envelope says so."""
    import subprocess
    import sys

    from tests.fixtures_double import cli_env

    script = (
        "import sys\n"
        "from modelctl.cli_common import execute\n"
        "def body():\n"
        "    raise RuntimeError('boom')\n"
        "execute('params', 'json', body, output=sys.argv[1])\n"
    )
    out = tmp_path / "out.json"
    r = subprocess.run(
        [sys.executable, "-c", script, str(out)], capture_output=True, text=True, env=cli_env(None), check=False
    )
    assert r.returncode == 1
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["ok"] is False and doc["errors"][0]["code"] == "internal"
    assert r.stderr.startswith("error: internal error: RuntimeError: boom")
