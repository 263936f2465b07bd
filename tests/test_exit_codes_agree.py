"""Exit codes that match docs/exit-codes.md: what the server holds and modelctl cannot write is the
server's (5), a probe check the server cannot answer fails (6), and runs over several hosts or
models take errors.PRECEDENCE (4 over 5), never the largest code."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pytest

from modelctl.errors import ExitCode, ServerError, ServerUnreachable
from modelctl.jobs.housekeeping import Removal, RemoveResult, ServerModel
from tests import ollama_double
from tests.fixtures_compare import build, invoke
from tests.hostile_server import CLOSE, HostileServer, Request, json_reply
from tests.ollama_double import OllamaDouble, closed_port_url


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("template", '{{ .Prompt }} """\nmore', "its template cannot be written as a Modelfile: line 1 of the value"),
        ("template", "{{ .Prompt }}\x07", "its template cannot be written as a Modelfile: U+0007"),
        ("system", 'a """\nb', "its system cannot be written as a Modelfile"),
    ],
)
def test_show_modelfile_of_what_cannot_be_written_is_the_servers_exit_5(
    cmp_double: OllamaDouble, tmp_path: Path, field: str, value: str, says: str
) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "cc.yaml").write_text("name: cc\nfrom: llama3.2:3b\nsystem: hi\n", encoding="utf-8")
    build(cmp_double, tmp_path, "cc")
    model = cmp_double.state.get("cc")
    assert model is not None
    setattr(model, field, value)
    r = invoke("show", "cc", "--modelfile", host=cmp_double.url, cwd=tmp_path)
    assert r.returncode == 5, r.stderr
    assert r.stderr.startswith(f"error: the model cc on {cmp_double.url}: {says}"), r.stderr
    assert "cc.yaml" not in r.stderr and len(r.stderr.splitlines()) == 1  # no file that does not exist


def test_probe_min_context_fails_against_a_server_that_never_refuses(
    cmp_double: OllamaDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "mid.yaml").write_text("name: mid\nfrom: llama3.2:3b\nparameters:\n  num_ctx: 8192\n")
    build(cmp_double, tmp_path, "mid")
    # A server that takes any prompt whole, past its context, asked not to truncate: it never refuses.
    monkeypatch.setattr(ollama_double, "fit_prompt", lambda _s, n, *_a: n)
    r = invoke("probe", "mid", "--min-context", "4000", "--format", "json", host=cmp_double.url, cwd=tmp_path)
    env = json.loads(r.stdout)
    assert r.returncode == 6, r.stderr
    assert env["data"]["passed"] is False and env["data"]["bounded"] is True
    (error,) = env["errors"]
    assert error["code"] == "check_failed" and "--min-context 4,000 cannot be checked" in error["message"]
    assert "never refused" in error["message"]
    # without --min-context the run is a measurement, with the warning
    r = invoke("probe", "mid", "--format", "json", host=cmp_double.url, cwd=tmp_path)
    env = json.loads(r.stdout)
    assert r.returncode == 0 and env["data"]["passed"] is None
    assert [w["code"] for w in env["warnings"]] == ["never_refused"]


def test_probe_min_context_bounded_by_max_context_still_passes(cmp_double: OllamaDouble, tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "mid.yaml").write_text("name: mid\nfrom: llama3.2:3b\nparameters:\n  num_ctx: 8192\n")
    build(cmp_double, tmp_path, "mid")
    r = invoke("probe", "mid", "--max-context", "3000", "--min-context", "2000", host=cmp_double.url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr


@pytest.fixture
def refusing() -> Iterable[OllamaDouble]:
    d = OllamaDouble().start()
    d.install("llama3.2:3b")
    d.state.faults.fail["/api/version"] = (500, "llama runner process has terminated")
    try:
        yield d
    finally:
        d.close()


def test_compare_table_across_hosts_takes_4_over_5(
    cmp_double: OllamaDouble, refusing: OllamaDouble, tmp_path: Path
) -> None:
    (tmp_path / "m.yaml").write_text("name: m\nfrom: llama3.2:3b\n", encoding="utf-8")
    down = closed_port_url()
    r = invoke("compare", "m.yaml", "--host", cmp_double.url, "--host", refusing.url, cwd=tmp_path)
    assert r.returncode == 5, r.stderr
    assert f"error: {refusing.url}: server rows skipped: Ollama at {refusing.url}: /api/version failed" in r.stderr
    r = invoke("compare", "m.yaml", "--host", cmp_double.url, "--host", refusing.url, "--host", down, cwd=tmp_path)
    assert r.returncode == 4, r.stderr
    assert f"error: {down}: server rows skipped: cannot reach Ollama" in r.stderr
    assert "== " + cmp_double.url + " ==" in r.stdout  # every table is still printed
    r = invoke("compare", "m.yaml", "--host", cmp_double.url, "--host", down, "--no-server", cwd=tmp_path)
    assert r.returncode == 0, r.stderr  # nothing asked, nothing failed
    # One server: the one-host table, an unreachable server a note (docs/compare.md)
    assert invoke("compare", "m.yaml", "--host", down, cwd=tmp_path).returncode == 0


def test_rm_takes_the_precedence_rule_not_the_largest_code() -> None:
    model = ServerModel("a:latest", 1, None, "sha256:a")
    result = RemoveResult(
        "http://h",
        False,
        [
            Removal("a", model, error=ServerError("refused", status=500)),
            Removal("b", model, error=ServerUnreachable("gone")),
        ],
    )
    assert result.exit_code() == ExitCode.UNREACHABLE  # 4 over 5 (max would say 5)


def test_rm_of_two_models_one_delete_refused_one_hung_up_is_exit_4(tmp_path: Path) -> None:
    tags = {"models": [{"name": f"{m}:latest", "model": f"{m}:latest", "size": 1, "digest": m * 8} for m in "ab"]}

    def delete(req: Request) -> list[object]:
        if b'"a' in req.body():
            return [json_reply({"error": "permission denied"}, 500)]
        return [30.0, CLOSE]  # no answer within --timeout: the server is gone (4)

    routes = {"/api/tags": lambda _r: [json_reply(tags)], "/api/version": lambda _r: [json_reply({"version": "0.9.3"})]}
    with HostileServer({**routes, "/api/delete": delete}) as srv:
        r = invoke("rm", "a", "b", "--timeout", "0.5", host=srv.url, cwd=tmp_path)
    assert r.returncode == 4, (r.stdout, r.stderr)
