"""The live suite's own rules (tests/fixtures_live.py), offline: under ``CI=true`` a run that
selects live tests fails when one skips; plain ``pytest`` still passes with them skipping;
the live suite refuses ``-n``. Each case runs pytest on a tiny test file in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.fixtures_double import REPO_ROOT
from tests.fixtures_live import selects_live
from tests.ollama_double import closed_port_url

TINY_SUITE = textwrap.dedent(
    """
    import pytest

    @pytest.mark.live
    def test_needs_a_server(live_host):
        pass

    @pytest.mark.live
    def test_skips_itself():
        pytest.skip("the install is not provisioned")

    @pytest.mark.live
    def test_live_and_fine():
        pass

    def test_offline_skip():
        pytest.skip("an offline reason")
    """
)


def run_pytest(tmp_path: Path, *args: str, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_tiny.py").write_text(TINY_SUITE, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    live: a real server\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS", "PYTEST_XDIST_AUTO_NUM_WORKERS")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    if ci is not None:
        env["CI"] = ci
    argv = [sys.executable, "-m", "pytest", "-p", "tests.fixtures_live", "-p", "no:cacheprovider", "-rs"]
    argv += ["--ollama-host", closed_port_url(), *args, str(tmp_path / "test_tiny.py")]
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False)


def test_under_ci_a_live_run_fails_on_every_skipped_live_test(tmp_path: Path) -> None:
    proc = run_pytest(tmp_path, "-m", "live", ci="true")
    out = proc.stdout
    assert proc.returncode == 1, out
    assert "1 failed, 1 passed, 1 deselected, 1 error" in out, out  # the fixture's skip is an error at setup
    assert out.count("a live test skipped under CI=true in a live run (-m live)") >= 2, out
    assert "no Ollama server answered at" in out and "the install is not provisioned" in out, out


def test_under_ci_plain_pytest_passes_and_says_why_live_tests_skip(tmp_path: Path) -> None:
    proc = run_pytest(tmp_path, ci="true")
    out = proc.stdout
    assert proc.returncode == 0, out
    assert "1 passed, 3 skipped" in out, out
    assert "no Ollama server answered at" in out and "the install is not provisioned" in out, out


@pytest.mark.parametrize(("ci", "markexpr"), [(None, "live"), ("false", "live"), ("true", "not live")])
def test_outside_ci_or_without_live_selected_skips_stay_skips(tmp_path: Path, ci: str | None, markexpr: str) -> None:
    proc = run_pytest(tmp_path, "-m", markexpr, ci=ci)
    assert proc.returncode == 0, proc.stdout
    assert "skipped" in proc.stdout and "failed" not in proc.stdout and "error" not in proc.stdout, proc.stdout


def test_the_live_suite_refuses_parallel_workers(tmp_path: Path) -> None:
    pytest.importorskip("xdist")
    proc = run_pytest(tmp_path, "-m", "live", "-n", "2", ci=None)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "the live suite shares one server and runs serially: drop -n" in proc.stderr


@pytest.mark.parametrize(
    ("markexpr", "expected"),
    [("live", True), ("live and not slow", True), ("slow or live", True), ("not live", False), ("slow", False),
     ("", False)],
)  # fmt: skip
def test_which_mark_expressions_select_the_live_suite(markexpr: str, expected: bool) -> None:
    assert selects_live(markexpr) is expected


def test_the_log_of_a_server_tests_real_ollama_started_is_found_by_its_url(tmp_path: Path) -> None:
    from tests.fixtures_live import started_log

    run = tmp_path / "run" / "11999"
    run.mkdir(parents=True)
    (run / "server.json").write_text(
        '{"url": "http://127.0.0.1:11999", "port": 11999, "pid": 1, "models": "m", "log": "/x/serve.log"}'
    )
    assert started_log("http://127.0.0.1:11999", tmp_path) == Path("/x/serve.log")
    assert started_log("http://127.0.0.1:11999/", tmp_path) == Path("/x/serve.log")
    assert started_log("http://127.0.0.1:11998", tmp_path) is None  # nothing started there
    assert started_log("http://localhost:11999", tmp_path) is None  # another server on that port
