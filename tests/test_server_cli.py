"""The server layer through the real CLI: credentials are sent but never printed; exit codes 4/5."""

from __future__ import annotations

import base64
import json

from tests.fixtures_double import run_cli
from tests.ollama_double import OllamaDouble, closed_port_url

SECRET = "pw-s3cret-4711"
KEY = "key-abcdef-0815"


def test_credentials_are_sent_and_never_printed(ollama_double: OllamaDouble) -> None:
    ollama_double.install("llama3.2:3b")
    host = f"http://alice:{SECRET}@127.0.0.1:{ollama_double.port}"
    proc = run_cli("show", "llama3.2:3b", "--format", "json", host=host)
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["data"]["host"] == f"http://***@127.0.0.1:{ollama_double.port}"
    auth = ollama_double.state.requests[-1]["headers"]["Authorization"]
    assert auth == "Basic " + base64.b64encode(f"alice:{SECRET}".encode()).decode()


def test_api_key_and_headers_are_sent_and_never_printed(ollama_double: OllamaDouble) -> None:
    ollama_double.state.faults.fail["/api/show"] = (401, f"unauthorized: Bearer {KEY}")  # an echoing proxy
    proc = run_cli(
        "show",
        "llama3.2:3b",
        "--format",
        "json",
        host=ollama_double.url,
        env={"OLLAMA_API_KEY": KEY, "MODELCTL_HEADERS": "X-Gateway-Token: tok-99887766"},
    )
    assert proc.returncode == 5
    assert KEY not in proc.stdout + proc.stderr and "tok-99887766" not in proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False and "HTTP 401" in doc["errors"][0]["message"]
    headers = ollama_double.state.calls("/api/show")[-1]["headers"]
    assert headers["Authorization"] == f"Bearer {KEY}" and headers["X-Gateway-Token"] == "tok-99887766"


def test_unreachable_with_credentials_is_exit_4_and_redacted() -> None:
    url = closed_port_url().replace("http://", f"http://bob:{SECRET}@")
    proc = run_cli("show", "llama3.2:3b", host=url)
    assert proc.returncode == 4
    assert SECRET not in proc.stdout + proc.stderr
    assert "cannot reach Ollama at http://***@127.0.0.1:" in proc.stderr
    assert '— is "ollama serve" running?' in proc.stderr and "Traceback" not in proc.stderr


def test_read_timeout_is_exit_4_and_names_the_limit(ollama_double: OllamaDouble) -> None:
    ollama_double.state.faults.delay["/api/show"] = 5.0
    proc = run_cli("show", "llama3.2:3b", "--timeout", "0.5", host=ollama_double.url)
    assert proc.returncode == 4
    assert "timed out after 0.5 s" in proc.stderr and "Traceback" not in proc.stderr


def test_zero_host_means_loopback(ollama_double: OllamaDouble) -> None:
    ollama_double.install("llama3.2:3b")
    proc = run_cli("show", "llama3.2:3b", "--format", "json", host=f"0.0.0.0:{ollama_double.port}")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["data"]["host"] == f"http://127.0.0.1:{ollama_double.port}"


def test_timeout_that_is_not_a_number_of_seconds_is_bad_input(ollama_double: OllamaDouble) -> None:
    """click's FloatRange lets nan and inf through; they must not become an internal error."""
    for value in ("nan", "inf"):
        proc = run_cli("show", "llama3.2:3b", "--timeout", value, host=ollama_double.url)
        assert proc.returncode == 1, (value, proc.stderr)
        assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
        assert "error: timeout: --timeout must be a finite number of seconds above 0" in proc.stderr, proc.stderr
