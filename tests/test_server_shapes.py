"""Server answers that are wrong but look fine end as ServerError (exit 5) with the server's words."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from modelctl.errors import ExitCode, ServerError
from modelctl.server import OllamaClient

BASE = "http://ollama.test:11434"


@pytest.fixture
def client() -> Iterator[OllamaClient]:
    with OllamaClient(BASE) as c:
        yield c


def ndjson(*objs: object) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objs)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ({"error": "model is being deleted"}, "model is being deleted"),  # an error inside a 200
        ({"parameters": ["temperature 1"]}, "'parameters' is an array, expected a string"),
        ({"parameters": 'stop                           "unterminated'}, "'parameters' cannot be read"),
        ({"parameters": 'stop                           "\\q"'}, "unknown escape"),
        ({"details": "gguf"}, "'details' is a string, expected an object"),
        ({"model_info": [1, 2]}, "'model_info' is an array, expected an object"),
        ({"messages": [{"role": "user"}]}, "'messages' holds an entry that is not {role, content} strings"),
        ({"template": 7}, "'template' is a number, expected a string"),
    ],
)
def test_malformed_show_is_a_server_error(client: OllamaClient, answer: dict[str, Any], words: str) -> None:
    with respx.mock(base_url=BASE) as mock:
        mock.post("/api/show").mock(return_value=httpx.Response(200, json=answer))
        with pytest.raises(ServerError) as info:
            client.show("m")
    assert words in info.value.message and info.value.message.startswith("/api/show")
    assert info.value.exit_code == ExitCode.SERVER


@pytest.mark.parametrize(
    ("path", "answer", "words"),
    [
        ("/api/tags", {"models": {"name": "x"}}, "'models' is an object, expected an array"),
        ("/api/tags", {"models": ["x"]}, "an entry that is not an object"),
        ("/api/ps", {"models": [{"name": "x", "size": "big"}]}, "'size' is a string, expected a number"),
        ("/api/ps", {"models": [{"name": 5}]}, "'name' is a number, expected a string"),
    ],
)
def test_malformed_listings_are_server_errors(client: OllamaClient, path: str, answer: Any, words: str) -> None:
    with respx.mock(base_url=BASE) as mock:
        mock.get(path).mock(return_value=httpx.Response(200, json=answer))
        with pytest.raises(ServerError) as info:
            client.tags() if path == "/api/tags" else client.ps()
    assert words in info.value.message


def test_deeply_nested_json_is_a_server_error(client: OllamaClient) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    with respx.mock(base_url=BASE) as mock:
        mock.post("/api/show").mock(return_value=httpx.Response(200, content=body))
        with pytest.raises(ServerError, match="not JSON"):
            client.show("m")


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ({"message": "hello", "done": False}, "'message' is a string, expected an object"),
        ({"message": {"role": "assistant", "content": 3}, "done": False}, "'content' is a number"),
        ({"response": ["a"], "done": False}, "'response' is an array"),
        ({"response": "a", "done": "yes"}, "'done' is a string, expected a boolean"),
        ({"response": "", "done": True, "eval_count": "12"}, "'eval_count' is a string, expected a number"),
    ],
)
def test_malformed_stream_lines_are_server_errors(client: OllamaClient, line: dict[str, Any], words: str) -> None:
    with respx.mock(base_url=BASE) as mock:
        mock.post("/api/chat").mock(return_value=httpx.Response(200, content=ndjson(line)))
        with pytest.raises(ServerError) as info:
            list(client.chat({"model": "m", "messages": []}))
    assert words in info.value.message and "after 0 line(s)" in info.value.message


def test_malformed_progress_lines_are_server_errors(client: OllamaClient) -> None:
    with respx.mock(base_url=BASE) as mock:
        mock.post("/api/pull").mock(
            return_value=httpx.Response(200, content=ndjson({"status": "pulling x", "total": "1 GB"}))
        )
        with pytest.raises(ServerError, match="'total' is a string, expected a number"):
            list(client.pull("m"))


def test_well_formed_answers_pass(client: OllamaClient) -> None:
    show = {
        "parameters": 'stop                           "<|eot_id|>"\nnum_ctx                        1e+06',
        "details": {"family": "llama"},
        "model_info": {"general.architecture": "llama"},
        "messages": [{"role": "user", "content": "hi"}],
        "tensors": [],
    }
    with respx.mock(base_url=BASE) as mock:
        mock.post("/api/show").mock(return_value=httpx.Response(200, json=show))
        mock.get("/api/ps").mock(return_value=httpx.Response(200, json={"models": [{"name": "m", "size": 1.0}]}))
        assert client.show("m") == show
        assert client.ps()["models"][0]["name"] == "m"
