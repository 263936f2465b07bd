"""HostSession: each question asked once per run (single flight), a bounded number at once."""

from __future__ import annotations

import threading

import pytest

from modelctl.errors import ServerError
from modelctl.ollama.session import HostSession
from tests.ollama_double import OllamaDouble


def shows(double: OllamaDouble) -> list[str]:
    return [r["json"]["model"] for r in double.state.calls("/api/show")]


def test_one_show_per_model_however_many_ask(ollama_double: OllamaDouble) -> None:
    ollama_double.install("llama3.2:3b")
    ollama_double.state.api_latency = 0.05
    with HostSession(ollama_double.url, concurrency=4) as s:
        results: list[object] = []
        threads = [threading.Thread(target=lambda: results.append(s.show("llama3.2:3b"))) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 12 and all(r is results[0] for r in results)
        assert s.show("LLAMA3.2:3b") is results[0]  # Ollama's name matching: case, :latest
        assert s.show("nope") is None and s.show("nope:latest") is None  # a 404 is remembered too
        s.version()
        s.version()
        s.tags()
        s.tags()
    assert shows(ollama_double) == ["llama3.2:3b", "nope"]
    assert len(ollama_double.state.calls("/api/version")) == 1 and len(ollama_double.state.calls("/api/tags")) == 1


def test_errors_are_remembered_and_forget_asks_again(ollama_double: OllamaDouble) -> None:
    ollama_double.install("llama3.2:3b")
    ollama_double.state.faults.fail["/api/show"] = (500, "boom")
    with HostSession(ollama_double.url) as s:
        for _ in range(2):
            with pytest.raises(ServerError, match="boom"):
                s.show("llama3.2:3b")
        assert len(shows(ollama_double)) == 1
        ollama_double.state.faults.clear()
        s.forget("llama3.2:3b")
        assert s.show("llama3.2:3b") is not None
        s.tags()
        s.tags(refresh=True)
    assert len(shows(ollama_double)) == 2 and len(ollama_double.state.calls("/api/tags")) == 2


def test_prefetch_runs_in_the_background_with_a_bound(ollama_double: OllamaDouble) -> None:
    for m in ("llama3.2:3b", "llama3.2:1b", "qwen3:8b"):
        ollama_double.install(m)
    ollama_double.state.api_latency = 0.1
    names = [f"model-{i}" for i in range(9)] + ["llama3.2:3b", "llama3.2:1b", "qwen3:8b"]
    with HostSession(ollama_double.url, concurrency=3) as s:
        s.prefetch(names, basics=True)
        assert [s.show(n) is not None for n in names] == [False] * 9 + [True] * 3
    assert ollama_double.state.max_active <= 3
    assert sorted(shows(ollama_double)) == sorted(names)


def test_the_lock_key_is_the_url_without_credentials(ollama_double: OllamaDouble) -> None:
    with HostSession(f"http://user:secret@127.0.0.1:{ollama_double.port}") as s:
        assert s.key == f"http://127.0.0.1:{ollama_double.port}" and "secret" not in s.display_host
    with HostSession(ollama_double.url, name="gpu-box") as s:
        assert s.key == "gpu-box"
