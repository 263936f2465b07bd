"""``modelctl run``: request building, streaming, --verbose, --format json, errors, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelctl.common.units import go_duration
from modelctl.jobs.run import RunResult, Target, build_request
from modelctl.output.run import verbose_lines
from tests.fixtures_compare import invoke
from tests.fixtures_double import cli_env, run_cli
from tests.ollama_double import OllamaDouble, closed_port_url


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (999, "999ns"),
        (1_500, "1.5µs"),
        (250_000_000, "250ms"),
        (12_345_678, "12.345678ms"),
        (1_000_000_000, "1s"),
        (1_500_000_000, "1.5s"),
        (61_000_000_000, "1m1s"),
        (3_723_500_000_000, "1h2m3.5s"),
    ],
)
def test_go_duration(ns: int, text: str) -> None:
    assert go_duration(ns) == text


def test_verbose_lines_match_ollama() -> None:
    res = RunResult(
        "generate",
        "m",
        done=True,
        done_reason="stop",
        ttft_s=0.05,
        metrics={
            "total_duration": 1_500_000_000,
            "load_duration": 250_000_000,
            "prompt_eval_count": 20,
            "prompt_eval_duration": 10_000_000,
            "eval_count": 50,
            "eval_duration": 1_000_000_000,
        },
    )
    assert verbose_lines(res) == [
        "total duration:       1.5s",
        "load duration:        250ms",
        "prompt eval count:    20 token(s)",
        "prompt eval duration: 10ms",
        "prompt eval rate:     2000.00 tokens/s",
        "eval count:           50 token(s)",
        "eval duration:        1s",
        "eval rate:            50.00 tokens/s",
        "time to first token:  50ms",
        "done reason:          stop",
    ]
    assert res.tokens_per_s == pytest.approx(50.0)


def test_build_request_generate_and_chat() -> None:
    gen = Target("m", "m", "m", False, False, options={"temperature": 0.1})
    assert build_request(gen, "hi", seed=3) == {
        "model": "m",
        "stream": True,
        "prompt": "hi",
        "options": {"temperature": 0.1, "seed": 3},
    }
    chat = Target(
        "p",
        "p",
        "base",
        True,
        True,
        system="S",
        template="T",
        messages=[{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}],
    )
    body = build_request(chat, "hi", system="override")
    assert body["messages"] == [
        {"role": "system", "content": "override"},
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": "hi"},
    ]
    assert "template" not in body  # /api/chat takes no template
    # a history that opens with a system message keeps it (no second system prompt) ...
    hist = Target(
        "p",
        "p",
        "base",
        True,
        True,
        system="S",
        messages=[{"role": "system", "content": "H"}, {"role": "user", "content": "u"}],
    )
    assert [m["content"] for m in build_request(hist, "hi")["messages"]] == ["H", "u", "hi"]
    # ... unless the prompt brings its own, which replaces it
    assert [m["content"] for m in build_request(hist, "hi", system="O")["messages"]] == ["O", "u", "hi"]


def _last(double: OllamaDouble, path: str) -> dict:  # type: ignore[type-arg]
    calls = double.state.calls(path)
    assert calls, f"no request to {path}"
    return calls[-1]["json"]  # type: ignore[no-any-return]


def test_run_built_profile_streams_and_uses_chat_for_messages(built_double: OllamaDouble, chef_dir: Path) -> None:
    r = run_cli("run", "creative", "Soup?", host=built_double.url, cwd=chef_dir)
    assert r.returncode == 0, r.stderr
    req = _last(built_double, "/api/chat")
    # A built model: its settings live on the server; only the prompt travels.
    assert req["model"] == "chef-creative" and req["messages"] == [{"role": "user", "content": "Soup?"}]
    assert "options" not in req
    j = run_cli("run", "creative", "Soup?", "--format", "json", host=built_double.url, cwd=chef_dir)
    data = json.loads(j.stdout)["data"]
    assert r.stdout == data["response"] + "\n"  # same seed, same text; streamed then a newline
    assert data["endpoint"] == "chat" and data["done_reason"] == "stop"


def test_run_generate_with_overrides_and_stdin(built_double: OllamaDouble, chef_dir: Path) -> None:
    r = invoke(
        "run",
        "precise",
        "--set",
        "temperature=0.3",
        "--seed",
        "5",
        "--set",
        "system=Terse.",
        host=built_double.url,
        cwd=chef_dir,
        input="Convert 350F\n",
    )
    assert r.returncode == 0, r.stderr
    req = _last(built_double, "/api/generate")
    assert req["model"] == "chef-precise" and req["prompt"] == "Convert 350F\n"
    assert req["options"] == {"temperature": 0.3, "seed": 5}
    assert req["system"] == "Terse."


def test_run_verbose_prints_ollama_stats_to_stderr(built_double: OllamaDouble, chef_dir: Path) -> None:
    r = invoke("run", "precise", "Hi", "--verbose", host=built_double.url, cwd=chef_dir)
    assert r.returncode == 0, r.stderr
    for label in (
        "total duration:",
        "load duration:",
        "prompt eval count:",
        "prompt eval duration:",
        "prompt eval rate:",
        "eval count:",
        "eval duration:",
        "eval rate:",
        "time to first token:",
        "done reason:          stop",
    ):
        assert label in r.stderr
    assert "eval count" not in r.stdout


def test_run_json_shape(built_double: OllamaDouble, chef_dir: Path) -> None:
    built_double.state.latency = 0.05
    r = run_cli("run", "precise", "Hi", "--format", "json", host=built_double.url, cwd=chef_dir)
    assert r.returncode == 0, r.stderr
    env = json.loads(r.stdout)
    assert env["command"] == "run" and env["ok"] is True and env["schema_version"] == 1
    d = env["data"]
    assert set(d) >= {
        "target",
        "request",
        "model",
        "endpoint",
        "response",
        "done_reason",
        "metrics",
        "ttft_ms",
        "tokens_per_s",
        "prompt_tokens_per_s",
        "wall_ms",
    }
    m = d["metrics"]
    assert m["eval_count"] > 0 and m["eval_duration"] > 0 and m["load_duration"] > 0
    assert d["tokens_per_s"] == pytest.approx(m["eval_count"] / m["eval_duration"] * 1e9, rel=1e-3)
    # TTFT is measured from the request start, so it includes the server's latency.
    assert d["ttft_ms"] >= 50.0
    assert d["response"]


def test_run_ephemeral_sends_the_profile(cmp_double: OllamaDouble, chef_dir: Path) -> None:
    r = invoke("run", "creative", "Soup?", "--ephemeral", "--seed", "9", host=cmp_double.url, cwd=chef_dir)
    assert r.returncode == 0, r.stderr
    req = _last(cmp_double, "/api/chat")
    assert req["model"] == "llama3.2:3b"
    assert req["messages"][0] == {
        "role": "system",
        "content": "You are a creative chef.\nPropose unexpected combinations.\n",
    }
    assert req["messages"][1:] == [
        {"role": "user", "content": "Give me a dessert idea"},
        {"role": "assistant", "content": "Saffron panna cotta."},
        {"role": "user", "content": "Soup?"},
    ]
    assert req["options"] == {"num_ctx": 2048, "seed": 9, "temperature": 1.1, "top_k": 80, "repeat_penalty": 1.05}
    r = invoke("run", "precise", "Hi", "--ephemeral", host=cmp_double.url, cwd=chef_dir)
    req = _last(cmp_double, "/api/generate")
    assert req["system"] == "You are a helpful chef.\n" and req["options"]["seed"] == 7


def test_run_ephemeral_refuses_a_local_file_base(cmp_double: OllamaDouble, chef_dir: Path) -> None:
    r = invoke("run", "local", "Hi", "--ephemeral", host=cmp_double.url, cwd=chef_dir)
    assert r.returncode == 1
    assert "local file" in r.stderr and "modelctl build local" in r.stderr
    assert "Traceback" not in r.stderr
    assert not cmp_double.state.calls("/api/generate")


def test_run_not_built_suggests_build_or_ephemeral(cmp_double: OllamaDouble, chef_dir: Path) -> None:
    r = invoke("run", "precise", "Hi", host=cmp_double.url, cwd=chef_dir)
    assert r.returncode == 5
    assert "not built" in r.stderr and "modelctl build precise" in r.stderr and "--ephemeral" in r.stderr


def test_run_plain_model_and_bad_inputs(cmp_double: OllamaDouble, chef_dir: Path) -> None:
    r = invoke("run", "llama3.2:3b", "Hi", "--set", "top_k=5", host=cmp_double.url, cwd=chef_dir)
    assert r.returncode == 0, r.stderr
    assert _last(cmp_double, "/api/generate")["options"] == {"top_k": 5}
    r = invoke("run", "llama3.2:3b", "Hi", "--set", "top_kk=5", host=cmp_double.url, cwd=chef_dir)
    assert r.returncode == 1 and "did you mean 'top_k'" in r.stderr
    r = invoke("run", "nope:1b", "Hi", host=cmp_double.url, cwd=chef_dir)
    assert r.returncode == 5 and "not found" in r.stderr
    r = invoke("run", "bad", "Hi", host=cmp_double.url, cwd=chef_dir)
    assert r.returncode == 1 and "bad.yaml:4" in r.stderr
    r = invoke("run", "precise", "Hi", host=closed_port_url(), cwd=chef_dir)
    assert r.returncode == 4 and "cannot reach Ollama" in r.stderr
    r = invoke("run", "precise", host=cmp_double.url, cwd=chef_dir, input="  \n")
    assert r.returncode == 1 and "empty" in r.stderr


def test_run_truncated_warns(built_double: OllamaDouble, chef_dir: Path) -> None:
    r = invoke("run", "precise", "Hi", "--set", "num_predict=3", host=built_double.url, cwd=chef_dir)
    assert r.returncode == 0
    assert "done_reason=length" in r.stderr


def test_ctrl_c_stops_the_stream_cleanly(built_double: OllamaDouble, chef_dir: Path) -> None:
    built_double.state.token_delay = 0.2  # 12-40 tokens: several seconds of streaming
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelctl", "run", "precise", "Tell me a long story"],
        cwd=chef_dir,
        env=cli_env(built_double.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not any(r.get("path") == "/api/generate" for r in built_double.state.requests):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        time.sleep(0.5)  # a few tokens arrive
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "Traceback" not in err and "interrupted" in err
    assert out.strip()  # what arrived was printed
