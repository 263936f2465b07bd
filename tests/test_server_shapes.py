"""Server answers that are wrong but look fine end as ServerError (exit 5) with the server's words.

Every endpoint's answer is checked against what modelctl reads (modelctl/ollama/answers.py); the
message names the host, the endpoint and the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from modelctl.errors import ExitCode, ServerError
from modelctl.ollama.server import OllamaClient

BASE = "http://ollama.test:11434"


@pytest.fixture
def client() -> Iterator[OllamaClient]:
    with OllamaClient(BASE) as c:
        yield c


def ndjson(*objs: object) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objs)


def _server_error(info: pytest.ExceptionInfo[ServerError], path: str) -> str:
    msg = info.value.message
    assert msg.startswith(f"Ollama at {BASE}: {path}"), msg
    assert info.value.exit_code == ExitCode.SERVER
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ({"error": "model is being deleted"}, "/api/show failed: model is being deleted"),  # an error inside a 200
        ({"parameters": ["temperature 1"]}, "'parameters' is an array, expected a string"),
        ({"parameters": 'stop                           "unterminated'}, "'parameters' cannot be read"),
        ({"parameters": 'stop                           "\\q"'}, "unknown escape"),
        ({"parameters": "num_ctx                        NaN"}, "'parameters' sets 'num_ctx' to nan"),
        ({"parameters": "temperature                    1e+999"}, "'parameters' sets 'temperature' to inf"),
        ({"parameters": "num_ctx                        1e+30"}, "which no Ollama option holds"),
        ({"details": "gguf"}, "'details' is a string, expected an object"),
        ({"details": {"context_length": -1}}, "'details.context_length' is -1, expected a whole number of 0 or more"),
        ({"details": {"families": "llama"}}, "'details.families' is a string, expected an array"),
        ({"model_info": [1, 2]}, "'model_info' is an array, expected an object"),
        ({"model_info": {"general.architecture": 5}}, "'model_info.general.architecture' is a number"),
        ({"messages": [{"role": "user"}]}, "'messages[0].content' is missing"),
        ({"messages": ["hi"]}, "'messages[0]' is a string, expected an object"),
        ({"template": 7}, "'template' is a number, expected a string"),
        ({"license": ["MIT"]}, "'license' is an array, expected a string"),
        ({"capabilities": ["completion", 3]}, "'capabilities[1]' is a number, expected a string"),
        ({"tensors": {"x": 1}}, "'tensors' is an object, expected an array"),
        ({"tensors": [{"name": "t", "shape": [1.5]}]}, "'tensors[0].shape[0]' is 1.5, expected a whole number"),
        ({"tensors": [{"name": "t", "shape": [1] * 9}]}, "'tensors[0].shape' has 9 entries, expected at most 8"),
        ({"tensors": [{"name": ["t"]}]}, "'tensors[0].name' is an array, expected a string"),
    ],
)
def test_malformed_show_is_a_server_error(client: OllamaClient, answer: dict[str, Any], words: str) -> None:
    with respx.mock(base_url=BASE) as mock:
        mock.post("/api/show").mock(return_value=httpx.Response(200, json=answer))
        with pytest.raises(ServerError) as info:
            client.show("m")
    assert words in _server_error(info, "/api/show")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"details": {"context_length": 1' + b"0" * 5000 + b"}}", "a number of 5,001 digits"),
        (b'{"model_info": {"x": -' + b"9" * 30 + b"}}", "a number of 30 digits"),
        (b'{"details": {"context_length": 18446744073709551616}}', "does not fit in 64 bits"),
        (b'{"model_info": {"llama.rope.freq_base": NaN}}', "NaN is not a JSON number"),
        (b'{"model_info": {"x": Infinity}}', "Infinity is not a JSON number"),
        (b'{"model_info": {"x": -Infinity}}', "-Infinity is not a JSON number"),
        (b'{"model_info": {"x": 1e999}}', "the number 1e999 is out of range"),
        (b"[" * 100_000 + b"]" * 100_000, "malformed answer: not JSON"),
        (b"[1, 2]", "expected a JSON object, got an array"),
        (b'"ok"', "expected a JSON object, got a string"),
        (b"\xff\xfe{}", "not JSON"),
        (b"", "not JSON: ''"),
        (b"<html>\n<body>proxy login</body>\n</html>", "not JSON: '<html> <body>proxy login</body> </html>'"),
    ],
)
def test_numbers_and_bodies_no_go_server_sends(client: OllamaClient, body: bytes, words: str) -> None:
    with respx.mock(base_url=BASE) as mock:
        mock.post("/api/show").mock(return_value=httpx.Response(200, content=body))
        with pytest.raises(ServerError) as info:
            client.show("m")
    assert words in _server_error(info, "/api/show")


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ({}, "'version' is missing"),
        ({"version": None}, "'version' is missing"),
        ({"version": 12}, "'version' is a number, expected a string"),
        ({"version": ""}, "'version' is '', expected a version such as 0.12.3"),
        ({"version": "0.12.3\n\x1b[31mred"}, "expected a version such as 0.12.3"),
        ({"version": "0.12.3 beta"}, "expected a version such as 0.12.3"),
        ({"version": "0." + "9" * 5000}, "expected a version such as 0.12.3"),
        ({"version": "0.12.3", "error": "unauthorized"}, "/api/version failed: unauthorized"),
    ],
)
def test_version_oddities_are_server_errors(client: OllamaClient, answer: dict[str, Any], words: str) -> None:
    with respx.mock(base_url=BASE) as mock:
        mock.get("/api/version").mock(return_value=httpx.Response(200, json=answer))
        with pytest.raises(ServerError) as info:
            client.require_version()
    assert words in _server_error(info, "/api/version")


@pytest.mark.parametrize("version", ["0.12.3", "0.0.0", "v0.5.5", "0.13.0-rc1", "0.12.3-4-gabcdef0", "dev"])
def test_versions_that_pass(client: OllamaClient, version: str) -> None:
    with respx.mock(base_url=BASE) as mock:
        mock.get("/api/version").mock(return_value=httpx.Response(200, json={"version": version}))
        assert client.require_version() == version


@pytest.mark.parametrize(
    ("path", "answer", "words"),
    [
        ("/api/tags", {"models": {"name": "x"}}, "'models' is an object, expected an array"),
        ("/api/tags", {"models": ["x"]}, "'models[0]' is a string, expected an object"),
        ("/api/tags", {"models": [{"size": 1 << 63}]}, f"'models[0].size' is {1 << 63}, expected a whole number"),
        ("/api/tags", {"models": [{"capabilities": "completion"}]}, "'models[0].capabilities' is a string"),
        ("/api/tags", {"models": [{"details": {"embedding_length": 4096.0}}]}, "'models[0].details.embedding_length'"),
        ("/api/ps", {"models": [{"name": "x", "size": "big"}]}, "'models[0].size' is a string, expected a number"),
        ("/api/ps", {"models": [{"name": 5}]}, "'models[0].name' is a number, expected a string"),
        ("/api/ps", {"models": [{"context_length": 4096.5}]}, "'models[0].context_length' is 4096.5, expected a whole"),
        ("/api/ps", {"models": [{"context_length": 4096.0}]}, "'models[0].context_length' is 4096.0, expected a whole"),
        ("/api/ps", {"models": [{"context_length": -1}]}, "'models[0].context_length' is -1, expected a whole"),
        ("/api/ps", {"models": [{"context_length": "NaN"}]}, "'models[0].context_length' is a string"),
        ("/api/ps", {"models": [{"size_vram": True}]}, "'models[0].size_vram' is a boolean, expected a number"),
        ("/api/ps", {"models": [{"expires_at": "tomorrow"}]}, "'models[0].expires_at' is 'tomorrow', expected an RFC"),
        ("/api/ps", {"models": [{"expires_at": 1717}]}, "'models[0].expires_at' is a number, expected an RFC 3339"),
        ("/api/ps", {"models": [{"expires_at": "2024-13-45T99:00:00Z"}]}, "expected an RFC 3339 time"),
    ],
)
def test_malformed_listings_are_server_errors(client: OllamaClient, path: str, answer: Any, words: str) -> None:
    with respx.mock(base_url=BASE) as mock:
        mock.get(path).mock(return_value=httpx.Response(200, json=answer))
        with pytest.raises(ServerError) as info:
            client.tags() if path == "/api/tags" else client.ps()
    assert words in _server_error(info, path)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ({"message": "hello", "done": False}, "'message' is a string, expected an object"),
        ({"message": {"role": "assistant", "content": 3}, "done": False}, "'message.content' is a number"),
        ({"message": {"content": "x", "tool_calls": {}}, "done": False}, "'message.tool_calls' is an object"),
        ({"response": ["a"], "done": False}, "'response' is an array"),
        ({"response": "a", "done": "yes"}, "'done' is a string, expected a boolean"),
        ({"response": "", "done": True, "eval_count": "12"}, "'eval_count' is a string, expected a number"),
        ({"response": "", "done": True, "eval_duration": -5}, "'eval_duration' is -5, expected a whole number"),
        ({"response": "", "done": True, "context": "1 2 3"}, "'context' is a string, expected an array"),
    ],
)
def test_malformed_stream_lines_are_server_errors(client: OllamaClient, line: dict[str, Any], words: str) -> None:
    with respx.mock(base_url=BASE) as mock:
        mock.post("/api/chat").mock(return_value=httpx.Response(200, content=ndjson(line)))
        with pytest.raises(ServerError) as info:
            list(client.chat({"model": "m", "messages": []}))
    msg = _server_error(info, "/api/chat")
    assert words in msg and "after 0 line(s)" in msg


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ({"status": "pulling x", "total": "1 GB"}, "'total' is a string, expected a number"),
        ({"status": "pulling x", "completed": -5}, "'completed' is -5, expected a whole number"),
        ({"status": "pulling x", "completed": 2.5}, "'completed' is 2.5, expected a whole number"),
        ({"status": "x" * 5000}, "'status' is 5,000 characters long"),
        ({"status": 200}, "'status' is a number, expected a string"),
        ({"status": "pulling", "digest": ["sha256:ab"]}, "'digest' is an array, expected a string"),
    ],
)
def test_malformed_progress_lines_are_server_errors(client: OllamaClient, line: dict[str, Any], words: str) -> None:
    with respx.mock(base_url=BASE) as mock:
        mock.post("/api/pull").mock(return_value=httpx.Response(200, content=ndjson({"status": "ok"}, line)))
        with pytest.raises(ServerError) as info:
            list(client.pull("m"))
    msg = _server_error(info, "/api/pull")
    assert words in msg and "after 1 line(s)" in msg


def test_a_number_no_go_server_sends_in_a_stream(client: OllamaClient) -> None:
    with respx.mock(base_url=BASE) as mock:
        body = b'{"response": "a", "done": false}\n{"response": "", "done": true, "eval_count": NaN}\n'
        mock.post("/api/generate").mock(return_value=httpx.Response(200, content=body))
        with pytest.raises(ServerError) as info:
            list(client.generate({"model": "m", "prompt": "x"}))
    assert "malformed NDJSON line after 1 line(s): NaN is not a JSON number" in _server_error(info, "/api/generate")


def test_well_formed_answers_pass(client: OllamaClient) -> None:
    show = {
        "parameters": 'stop                           "<|eot_id|>"\nnum_ctx                        1e+06',
        "details": {"family": "llama", "families": ["llama"], "parameter_size": "8.0B", "quantization_level": "Q4_K_M"},
        "model_info": {"general.architecture": "llama", "llama.rope.freq_base": 500000.0, "general.parameter_count": 8},
        "messages": [{"role": "user", "content": "hi"}],
        "tensors": [{"name": "token_embd.weight", "type": "Q4_K", "shape": [4096, 128256]}],
        "capabilities": ["completion", "tools"],
        "modified_at": "2025-01-01T00:00:00.123456789+01:00",
        "some_new_field": {"kept": [1, "as", None]},
    }
    ps = {
        "models": [
            {"name": "m", "size": 1, "size_vram": 0, "context_length": 4096, "expires_at": "0001-01-01T00:00:00Z"},
            {"name": "n", "expires_at": "2317-09-03T14:00:00.837539841-07:00", "context_length": None},
        ]
    }
    with respx.mock(base_url=BASE) as mock:
        mock.post("/api/show").mock(return_value=httpx.Response(200, json=show))
        mock.get("/api/ps").mock(return_value=httpx.Response(200, json=ps))
        mock.get("/api/tags").mock(return_value=httpx.Response(200, json={"models": [{"name": "m", "size": 10}]}))
        assert client.show("m") == show
        assert client.ps() == ps
        assert client.tags()["models"][0]["size"] == 10
