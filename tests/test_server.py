"""Unit tests of modelctl/ollama/server.py at the HTTP transport level (respx)."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

from modelctl.common.files import sha256_file
from modelctl.errors import ExitCode, InvalidInput, ServerError, ServerUnreachable
from modelctl.ollama.server import (
    CONNECT_TIMEOUT,
    STREAM_TIMEOUT,
    UNARY_TIMEOUT,
    ModelNotFound,
    OllamaClient,
    parse_headers,
    parse_host,
    redact,
)
from modelctl.ollama.wire import compare_versions

BASE = "http://ollama.test:11434"


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as m:
        yield m


@pytest.fixture
def client() -> Iterator[OllamaClient]:
    with OllamaClient(BASE) as c:
        yield c


def ndjson(*objs: object) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objs)


# --------------------------------------------------------------------------- host parsing

HOSTS = [
    (None, "http://127.0.0.1:11434"),
    ("", "http://127.0.0.1:11434"),
    ("1.2.3.4", "http://1.2.3.4:11434"),
    (":56789", "http://127.0.0.1:56789"),
    ("1.2.3.4:56789", "http://1.2.3.4:56789"),
    ("http://1.2.3.4", "http://1.2.3.4:80"),
    ("https://1.2.3.4", "https://1.2.3.4:443"),
    ("https://1.2.3.4:56789", "https://1.2.3.4:56789"),
    ("example.com", "http://example.com:11434"),
    ("example.com:56789", "http://example.com:56789"),
    ("http://example.com", "http://example.com:80"),
    ("https://example.com", "https://example.com:443"),
    ("example.com/", "http://example.com:11434"),
    ("example.com:56789/", "http://example.com:56789"),
    ("example.com/path", "http://example.com:11434/path"),
    ("example.com:56789/path/", "http://example.com:56789/path"),
    ("https://example.com:56789/path", "https://example.com:56789/path"),
    ("[0001:002:003:0004::1]", "http://[0001:002:003:0004::1]:11434"),
    ("[0001:002:003:0004::1]:56789", "http://[0001:002:003:0004::1]:56789"),
    ("http://[0001:002:003:0004::1]", "http://[0001:002:003:0004::1]:80"),
    ("https://[0001:002:003:0004::1]:56789/path/", "https://[0001:002:003:0004::1]:56789/path"),
    ("[0001:002:003:0004::1]/path", "http://[0001:002:003:0004::1]:11434/path"),
    # like Ollama's CLI (not the Python client): listen-everywhere addresses mean loopback
    ("0.0.0.0", "http://127.0.0.1:11434"),
    ("0.0.0.0:8080", "http://127.0.0.1:8080"),
    ("http://0.0.0.0", "http://127.0.0.1:80"),
    ("[::]:11434", "http://[::1]:11434"),
    ("::1", "http://[::1]:11434"),
    ("  example.com  ", "http://example.com:11434"),
    ("user:pw@example.com", "http://user:pw@example.com:11434"),
    ("https://user:pw@example.com/ollama/", "https://user:pw@example.com:443/ollama"),
]


@pytest.mark.parametrize(("value", "expected"), HOSTS)
def test_parse_host_table(value: str | None, expected: str) -> None:
    assert parse_host(value) == expected


def test_parse_host_agrees_with_official_client_where_defined() -> None:
    from ollama._client import _parse_host

    for value, expected in HOSTS:
        if value and ("0.0.0.0" in value or "[::]" in value or "@" in value or value in ("::1", "  example.com  ")):
            continue
        assert _parse_host(value) == expected == parse_host(value)


@pytest.mark.parametrize("bad", ["ftp://example.com", "example.com:notaport", "u:secret@h:99999999"])
def test_parse_host_rejects_bad_values_without_leaking(bad: str) -> None:
    with pytest.raises(InvalidInput) as ei:
        parse_host(bad)
    assert "secret" not in str(ei.value)
    assert ei.value.exit_code == ExitCode.INVALID


def test_client_reads_ollama_host_when_no_host_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:4321")
    with OllamaClient() as c:
        assert c.host == "http://127.0.0.1:4321"
    with OllamaClient("other:1") as c:  # --host wins over the environment
        assert c.host == "http://other:1"


# --------------------------------------------------------------------------- redaction, headers


def test_redact_urls_in_text() -> None:
    text = "failed at http://alice:s3cret@host:1/x and https://bob@h2 but not at http://h3"
    out = redact(text)
    assert "s3cret" not in out and "alice" not in out and "bob" not in out
    assert "http://***@host:1/x" in out and "https://***@h2" in out and "http://h3" in out


def test_display_host_is_redacted_and_credentials_are_sent(mock: respx.MockRouter) -> None:
    route = mock.get("/api/version").respond(json={"version": "0.12.0"})
    with OllamaClient("http://alice:s3cret@ollama.test:11434") as c:
        assert c.display_host == "http://***@ollama.test:11434"
        assert "s3cret" not in repr(c)
        assert c.version() == "0.12.0"
    sent = route.calls.last.request
    assert sent.headers["authorization"] == httpx.BasicAuth("alice", "s3cret")._auth_header
    assert "s3cret" not in str(sent.url)


def test_api_key_and_extra_headers_are_sent(mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", "key-123456")
    monkeypatch.setenv("MODELCTL_HEADERS", "X-Team: kitchen\nX-Trace: abc")
    route = mock.get("/api/tags").respond(json={"models": []})
    with OllamaClient(BASE, headers={"X-Extra": "1"}) as c:
        c.tags()
    h = route.calls.last.request.headers
    assert h["authorization"] == "Bearer key-123456"
    assert (h["x-team"], h["x-trace"], h["x-extra"]) == ("kitchen", "abc", "1")
    assert h["user-agent"].startswith("modelctl/")


def test_explicit_authorization_header_wins_over_api_key(
    mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", "key-123456")
    route = mock.get("/api/tags").respond(json={"models": []})
    with OllamaClient(BASE, headers={"Authorization": "Bearer mine"}) as c:
        c.tags()
    assert route.calls.last.request.headers["authorization"] == "Bearer mine"


def test_parse_headers_forms() -> None:
    assert parse_headers('{"A": "1", "B": "x: y"}') == {"A": "1", "B": "x: y"}
    assert parse_headers("A: 1\n\nB:x: y\n") == {"A": "1", "B": "x: y"}
    assert parse_headers(None) == {}
    with pytest.raises(InvalidInput) as ei:
        parse_headers("Authorization Bearer topsecret")
    assert "topsecret" not in str(ei.value)
    with pytest.raises(InvalidInput):
        parse_headers('{"A": 1}')


def test_secrets_never_appear_in_errors(mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", "key-abcdef")
    # a (hypothetical) server that echoes what it got must not make us print it
    mock.post("/api/show").respond(400, json={"error": "bad auth Bearer key-abcdef for alice:pw-9876"})
    with OllamaClient("http://alice:pw-9876@ollama.test:11434") as c, pytest.raises(ServerError) as ei:
        c.show("m")
    msg = str(ei.value)
    assert "key-abcdef" not in msg and "pw-9876" not in msg
    assert "***" in msg


def test_unreachable_message_is_redacted() -> None:
    with OllamaClient("http://alice:pw-9876@127.0.0.1:9") as c:
        c.connect_timeout = 0.5
        with pytest.raises(ServerUnreachable) as ei:
            c.version()
    assert str(ei.value) == 'cannot reach Ollama at http://***@127.0.0.1:9 — is "ollama serve" running?'


# --------------------------------------------------------------------------- unary endpoints


def test_version_and_require_version(mock: respx.MockRouter, client: OllamaClient) -> None:
    route = mock.get("/api/version")
    for v, ok in [
        ("0.5.5", True),
        ("0.12.10", True),
        ("0.0.0", True),
        ("1.0.0-rc1", True),
        ("0.5.4", False),
        ("0.4.10", False),
    ]:
        route.respond(json={"version": v})
        if ok:
            assert client.require_version() == v
        else:
            with pytest.raises(ServerError) as ei:
                client.require_version()
            assert "upgrade Ollama" in str(ei.value) and v in str(ei.value)
            assert ei.value.exit_code == ExitCode.SERVER


def test_compare_versions_is_numeric() -> None:
    assert compare_versions("0.10.0", "0.9.7") == 1
    assert compare_versions("v0.5.5", "0.5.5") == 0
    assert compare_versions("0.5", "0.5.1") == -1
    with pytest.raises(ValueError):
        compare_versions("dev", "0.5.5")


def test_tags_ps_show_keep_every_field(mock: respx.MockRouter, client: OllamaClient) -> None:
    tags = {
        "models": [
            {
                "name": "a:latest",
                "model": "a:latest",
                "capabilities": ["completion"],
                "details": {"context_length": 8192},
            }
        ]
    }
    ps = {
        "models": [
            {
                "name": "a:latest",
                "context_length": 4096,
                "size": 10,
                "size_vram": 5,
                "expires_at": "2026-01-01T00:00:00Z",
            }
        ]
    }
    show = {
        "system": "S",
        "messages": [{"role": "user", "content": "hi"}],
        "tensors": [],
        "requires": "0.14.0",
        "model_info": {"general.architecture": "llama"},
        "parameters": "num_ctx                        8192",
    }
    mock.get("/api/tags").respond(json=tags)
    mock.get("/api/ps").respond(json=ps)
    show_route = mock.post("/api/show").respond(json=show)
    assert client.tags() == tags
    assert client.ps() == ps
    assert client.show("a", verbose=True) == show
    assert json.loads(show_route.calls.last.request.content) == {"model": "a", "verbose": True}
    client.show("a")
    assert json.loads(show_route.calls.last.request.content) == {"model": "a"}


def test_show_404_is_model_not_found(mock: respx.MockRouter, client: OllamaClient) -> None:
    mock.post("/api/show").respond(404, json={"error": "model 'nope' not found"})
    with pytest.raises(ModelNotFound) as ei:
        client.show("nope")
    assert ei.value.model == "nope"
    assert ei.value.exit_code == ExitCode.SERVER
    assert "model 'nope' not found" in str(ei.value) and "404" in str(ei.value)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, {"error": "model is required"}, "model is required"),
        (
            500,
            {"error": 'option "num_ctx" must be of type integer'},
            'option "num_ctx" must be of type integer',
        ),
        (503, "server busy", "server busy"),
        (502, "", "Bad Gateway"),
    ],
)
def test_http_errors_carry_server_text_and_status(
    mock: respx.MockRouter, client: OllamaClient, status: int, body: object, expected: str
) -> None:
    if isinstance(body, dict):
        mock.post("/api/show").respond(status, json=body)
    else:
        mock.post("/api/show").respond(status, text=str(body))
    with pytest.raises(ServerError) as ei:
        client.show("m")
    assert not isinstance(ei.value, ModelNotFound)
    assert ei.value.status == status
    assert expected in str(ei.value) and f"HTTP {status}" in str(ei.value)


def test_non_json_success_is_a_server_error(mock: respx.MockRouter, client: OllamaClient) -> None:
    mock.get("/api/tags").respond(200, text="<html>proxy login</html>")
    with pytest.raises(ServerError, match="not JSON"):
        client.tags()


def test_delete_and_copy(mock: respx.MockRouter, client: OllamaClient) -> None:
    d = mock.delete("/api/delete").respond(200)
    c = mock.post("/api/copy").respond(200)
    client.delete("a:latest")
    client.copy("a", "b")
    assert json.loads(d.calls.last.request.content) == {"model": "a:latest"}
    assert json.loads(c.calls.last.request.content) == {"source": "a", "destination": "b"}
    d.respond(404, json={"error": "model 'a' not found"})
    with pytest.raises(ModelNotFound):
        client.delete("a")


# --------------------------------------------------------------------------- transport failures


def test_connect_error_is_unreachable(mock: respx.MockRouter, client: OllamaClient) -> None:
    mock.get("/api/version").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(ServerUnreachable) as ei:
        client.version()
    assert str(ei.value) == f'cannot reach Ollama at {BASE} — is "ollama serve" running?'
    assert ei.value.exit_code == ExitCode.UNREACHABLE


def test_read_timeout_is_unreachable_and_says_how_long(mock: respx.MockRouter) -> None:
    mock.post("/api/show").mock(side_effect=httpx.ReadTimeout("slow"))
    with OllamaClient(BASE, timeout=7) as c, pytest.raises(ServerUnreachable) as ei:
        c.show("m")
    assert "timed out after 7 s" in str(ei.value) and BASE in str(ei.value)
    assert ei.value.exit_code == ExitCode.UNREACHABLE


def test_connect_timeout_names_connect_timeout(mock: respx.MockRouter, client: OllamaClient) -> None:
    mock.get("/api/tags").mock(side_effect=httpx.ConnectTimeout("slow"))
    with pytest.raises(ServerUnreachable) as ei:
        client.tags()
    assert str(ei.value).startswith(f'cannot reach Ollama at {BASE} — is "ollama serve" running?')
    assert f"{CONNECT_TIMEOUT:g} s" in str(ei.value)


def test_timeouts_per_request_kind(mock: respx.MockRouter) -> None:
    seen: dict[str, dict[str, float]] = {}

    def record(request: httpx.Request) -> httpx.Response:
        seen[request.url.path] = request.extensions["timeout"]
        if request.url.path == "/api/version":
            return httpx.Response(200, json={"version": "1.0.0"})
        return httpx.Response(200, content=ndjson({"status": "success"}))

    mock.route().mock(side_effect=record)
    with OllamaClient(BASE) as c:
        c.version()
        list(c.pull("m"))
    assert seen["/api/version"]["read"] == UNARY_TIMEOUT
    assert seen["/api/pull"]["read"] == STREAM_TIMEOUT
    assert seen["/api/pull"]["connect"] == CONNECT_TIMEOUT
    with OllamaClient(BASE, timeout=3) as c:
        c.version()
        list(c.pull("m"))
    assert seen["/api/version"]["read"] == seen["/api/pull"]["read"] == 3


# --------------------------------------------------------------------------- streams


def test_create_stream_success_twice_judged_at_end(mock: respx.MockRouter, client: OllamaClient) -> None:
    lines = [
        {"status": "pulling manifest"},
        {"status": "success"},
        {"status": "using existing layer sha256:ab"},
        {"status": "writing manifest"},
        {"status": "success"},
    ]
    route = mock.post("/api/create").respond(200, content=ndjson(*lines))
    req = {"model": "x", "from": "llama3.2", "parameters": {"num_ctx": 8192}}
    assert list(client.create(req)) == lines
    assert json.loads(route.calls.last.request.content) == req


def test_create_stream_ending_after_embedded_pull_is_incomplete(mock: respx.MockRouter, client: OllamaClient) -> None:
    # the embedded pull said success, then the stream stopped: the create did not finish
    mock.post("/api/create").respond(
        200,
        content=ndjson({"status": "pulling manifest"}, {"status": "success"}, {"status": "writing manifest"}),
    )
    with pytest.raises(ServerError, match="ended before the request finished"):
        list(client.create({"model": "x", "from": "y"}))


def test_in_stream_error(mock: respx.MockRouter, client: OllamaClient) -> None:
    mock.post("/api/create").respond(
        200, content=ndjson({"status": "parsing GGUF"}, {"error": "supplied file was not in GGUF format"})
    )
    got = []
    with pytest.raises(ServerError) as ei:
        for obj in client.create({"model": "x", "files": {"a.gguf": "sha256:" + "0" * 64}}):
            got.append(obj)
    assert got == [{"status": "parsing GGUF"}]
    assert "supplied file was not in GGUF format" in str(ei.value)
    assert ei.value.exit_code == ExitCode.SERVER


def test_error_before_stream_is_http_status(mock: respx.MockRouter, client: OllamaClient) -> None:
    mock.post("/api/create").respond(400, json={"error": "neither 'from' or 'files' was specified"})
    with pytest.raises(ServerError) as ei:
        list(client.create({"model": "x"}))
    assert ei.value.status == 400 and "neither 'from' or 'files' was specified" in str(ei.value)


def test_malformed_ndjson_line(mock: respx.MockRouter, client: OllamaClient) -> None:
    mock.post("/api/pull").respond(200, content=b'{"status":"pulling manifest"}\n{"status": "pull\n')
    with pytest.raises(ServerError, match="malformed NDJSON line"):
        list(client.pull("m"))


def test_stream_cut_mid_way(mock: respx.MockRouter, client: OllamaClient) -> None:
    def cut() -> Iterator[bytes]:
        yield b'{"status":"pulling manifest"}\n'
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    mock.post("/api/pull").respond(200, stream=_Stream(cut()))
    with pytest.raises(ServerError, match="closed before the answer was complete") as ei:
        list(client.pull("m"))
    assert ei.value.exit_code == ExitCode.SERVER


class _Stream(httpx.SyncByteStream):
    def __init__(self, it: Iterator[bytes]) -> None:
        self._it = it

    def __iter__(self) -> Iterator[bytes]:
        yield from self._it


def test_read_timeout_mid_stream(mock: respx.MockRouter, client: OllamaClient) -> None:
    def slow() -> Iterator[bytes]:
        yield b'{"status":"pulling manifest"}\n'
        raise httpx.ReadTimeout("no data")

    mock.post("/api/pull").respond(200, stream=_Stream(slow()))
    with pytest.raises(ServerUnreachable, match=f"/api/pull made no progress for {STREAM_TIMEOUT:g} s"):
        list(client.pull("m"))


def test_generate_stream_and_done(mock: respx.MockRouter, client: OllamaClient) -> None:
    lines = [
        {"model": "m", "response": "Hel", "done": False},
        {"model": "m", "response": "lo", "done": False},
        {
            "model": "m",
            "response": "",
            "done": True,
            "done_reason": "stop",
            "eval_count": 2,
            "eval_duration": 1000,
        },
    ]
    route = mock.post("/api/generate").respond(200, content=ndjson(*lines))
    assert list(client.generate({"model": "m", "prompt": "hi"})) == lines
    assert json.loads(route.calls.last.request.content)["stream"] is True
    # stream: false -> one JSON object, kept as is
    route.respond(200, json=lines[-1])
    assert list(client.generate({"model": "m", "prompt": "hi", "stream": False})) == [lines[-1]]
    assert json.loads(route.calls.last.request.content)["stream"] is False


def test_generate_without_done_is_incomplete(mock: respx.MockRouter, client: OllamaClient) -> None:
    mock.post("/api/generate").respond(200, content=ndjson({"response": "a", "done": False}))
    with pytest.raises(ServerError, match="no final done object"):
        list(client.generate({"model": "m", "prompt": "hi"}))


def test_chat_stream_and_404(mock: respx.MockRouter, client: OllamaClient) -> None:
    lines = [
        {"message": {"role": "assistant", "content": "x"}, "done": False},
        {"message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "length"},
    ]
    route = mock.post("/api/chat").respond(200, content=ndjson(*lines))
    msgs = [{"role": "user", "content": "hi"}]
    assert list(client.chat({"model": "m", "messages": msgs})) == lines
    route.respond(404, json={"error": "model 'm' not found"})
    with pytest.raises(ModelNotFound):
        list(client.chat({"model": "m", "messages": msgs}))


def test_pull_stream(mock: respx.MockRouter, client: OllamaClient) -> None:
    lines = [
        {"status": "pulling manifest"},
        {"status": "pulling abc", "digest": "sha256:abc", "total": 10, "completed": 10},
        {"status": "verifying sha256 digest"},
        {"status": "success"},
    ]
    route = mock.post("/api/pull").respond(200, content=ndjson(*lines))
    assert list(client.pull("llama3.2")) == lines
    assert json.loads(route.calls.last.request.content) == {"model": "llama3.2", "stream": True}
    route.respond(200, content=ndjson(lines[0], {"error": "pull model manifest: file does not exist"}))
    with pytest.raises(ServerError, match="file does not exist"):
        list(client.pull("nope"))


def test_streams_are_lazy(mock: respx.MockRouter, client: OllamaClient) -> None:
    route = mock.post("/api/pull").respond(200, content=ndjson({"status": "success"}))
    it = client.pull("m")
    assert route.call_count == 0
    assert list(it) == [{"status": "success"}]
    assert route.call_count == 1


# --------------------------------------------------------------------------- blobs


def test_sha256_file_streams(tmp_path: Path) -> None:
    p = tmp_path / "w.gguf"
    data = b"GGUF" + bytes(range(256)) * 5000
    p.write_bytes(data)
    assert sha256_file(p) == "sha256:" + hashlib.sha256(data).hexdigest()
    assert sha256_file(p, chunk=7) == sha256_file(p)
    with pytest.raises(InvalidInput, match="cannot read"):
        sha256_file(tmp_path / "missing.gguf")


def test_sha256_file_memory_is_independent_of_size(tmp_path: Path) -> None:
    p = tmp_path / "big.bin"
    with open(p, "wb") as f:
        f.truncate(64 << 20)  # 64 MiB, sparse
    tracemalloc.start()
    sha256_file(p)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8 << 20  # about one 1 MiB chunk, not the file


def test_blob_exists(mock: respx.MockRouter, client: OllamaClient) -> None:
    digest = "sha256:" + "a" * 64
    route = mock.head(f"/api/blobs/{digest}").respond(200)
    assert client.blob_exists(digest) is True
    route.respond(404)
    assert client.blob_exists(digest) is False
    route.respond(500, json={"error": "disk on fire"})
    with pytest.raises(ServerError, match="disk on fire"):
        client.blob_exists(digest)
    with pytest.raises(InvalidInput):
        client.blob_exists("sha256:" + "A" * 64)


def test_upload_blob_streams_with_content_length(mock: respx.MockRouter, client: OllamaClient, tmp_path: Path) -> None:
    data = b"GGUF" + b"x" * (3 * (1 << 20) + 17)
    p = tmp_path / "m.gguf"
    p.write_bytes(data)
    digest = sha256_file(p)
    got: dict[str, object] = {}

    def receive(request: httpx.Request) -> httpx.Response:
        got["headers"] = request.headers
        got["body"] = b"".join(request.stream)  # type: ignore[union-attr]
        return httpx.Response(201)

    mock.post(f"/api/blobs/{digest}").mock(side_effect=receive)
    progress: list[int] = []
    client.upload_blob(p, digest, progress.append)
    assert got["body"] == data
    headers = got["headers"]
    assert isinstance(headers, httpx.Headers)
    assert headers["content-length"] == str(len(data))
    assert "transfer-encoding" not in headers
    assert progress[-1] == len(data) and progress == sorted(progress) and len(progress) == 4


def test_upload_blob_digest_mismatch(mock: respx.MockRouter, client: OllamaClient, tmp_path: Path) -> None:
    p = tmp_path / "m.gguf"
    p.write_bytes(b"GGUF-changed")
    digest = "sha256:" + "b" * 64
    msg = f'digest mismatch, expected "{digest}", got "{sha256_file(p)}"'
    mock.post(f"/api/blobs/{digest}").respond(400, json={"error": msg})
    with pytest.raises(ServerError) as ei:
        client.upload_blob(p, digest)
    assert ei.value.status == 400 and "digest mismatch" in str(ei.value)


def test_upload_blob_missing_file(client: OllamaClient, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read"):
        client.upload_blob(tmp_path / "nope.gguf", "sha256:" + "c" * 64)


def test_official_client_shares_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    with OllamaClient("http://u:p@ollama.test:11434", timeout=9, headers={"X-A": "1"}) as c:
        oc = c.official_client()
    inner = oc._client
    assert str(inner.base_url).rstrip("/") == "http://ollama.test:11434"
    assert inner.headers["x-a"] == "1"
    assert inner.timeout.read == 9


def test_redirect_on_plain_http_is_not_followed(mock: respx.MockRouter, client: OllamaClient) -> None:
    mock.get("/api/tags").respond(301, headers={"Location": "https://u:pw-1234@ollama.test/api/tags"})
    with pytest.raises(ServerError, match="redirect") as ei:
        client.tags()
    assert ei.value.status == 301 and "pw-1234" not in str(ei.value)
    mock.post("/api/pull").respond(308, headers={"Location": "https://ollama.test/api/pull"})
    with pytest.raises(ServerError, match="redirect"):
        list(client.pull("m"))


def test_redirects_are_never_followed() -> None:
    """httpx would send the MODELCTL_HEADERS values on to the redirect's target, and read its body whole."""
    for host in ("https://ollama.test", "http://ollama.test"):
        with OllamaClient(host) as c:
            assert c._http.follow_redirects is False


def test_ndjson_split_only_at_line_feeds(mock: respx.MockRouter, client: OllamaClient) -> None:
    # Go's encoder leaves U+0085 and (in some versions) U+2028 unescaped inside strings.
    text = "a\u0085b\u2028c\u2029d\x1c"
    body = (
        '{"response": "' + text[:4] + '", "done": false}\n'
        '{"response": "' + text[4:-1] + '\\u001c", "done": true, "done_reason": "stop"}\n'
    ).encode()
    mock.post("/api/generate").respond(200, stream=_Stream(iter([body[:7], body[7:20], body[20:]])))
    out = list(client.generate({"model": "m", "prompt": "x"}))
    assert "".join(o["response"] for o in out) == text


@pytest.mark.parametrize(
    ("error", "suffix"),
    [
        ("[Errno 111] Connection refused", ""),
        ("[Errno -2] Name or service not known", " (the host name does not resolve)"),
        (
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed",
            " (TLS error: [SSL: CERTIFICATE_VERIFY_FAILED]",
        ),
    ],
)
def test_connect_error_details(mock: respx.MockRouter, client: OllamaClient, error: str, suffix: str) -> None:
    mock.get("/api/version").mock(side_effect=httpx.ConnectError(error))
    with pytest.raises(ServerUnreachable) as ei:
        client.version()
    assert str(ei.value).startswith(f'cannot reach Ollama at {BASE} — is "ollama serve" running?{suffix}')


def test_upload_read_error_mid_file_is_invalid_input(
    mock: respx.MockRouter, client: OllamaClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = tmp_path / "m.gguf"
    p.write_bytes(b"x" * 100)

    def consume(request: httpx.Request) -> httpx.Response:
        b"".join(request.stream)  # type: ignore[union-attr]
        return httpx.Response(201)

    mock.post(f"/api/blobs/sha256:{'d' * 64}").mock(side_effect=consume)
    real_open = open

    class Failing:
        def __init__(self, f: object) -> None:
            self.f = f

        def read(self, n: int) -> bytes:
            raise OSError(5, "Input/output error")

        def close(self) -> None:
            self.f.close()  # type: ignore[attr-defined]

    monkeypatch.setattr("builtins.open", lambda *a, **k: Failing(real_open(*a, **k)))
    with pytest.raises(InvalidInput, match="Input/output error"):
        client.upload_blob(p, "sha256:" + "d" * 64)


@pytest.mark.parametrize(
    "host",
    [
        "http://alice:Qz/wv-91@127.0.0.1:11590",
        "alice:Qz/wv-91@127.0.0.1:11590",
        "http://alice:Qz#wv-91@127.0.0.1:11590",
        "http://alice:Qz?wv-91@127.0.0.1:11590",
        "http://alice:12/wv-91@127.0.0.1:11590",
        "http://alice:Qz:wv-91@127.0.0.1:x",
    ],
)
def test_unparseable_host_with_credentials_leaks_no_part_of_them(host: str) -> None:
    """A password with an unescaped / # ? makes the host unparseable: say so, print none of it."""
    with pytest.raises(InvalidInput) as ei:
        parse_host(host)
    msg = str(ei.value)
    assert "Qz" not in msg and "wv-91" not in msg and "alice" not in msg and ":12" not in msg, msg
    assert "127.0.0.1" in msg


def test_password_with_an_unescaped_at_sign(mock: respx.MockRouter) -> None:
    """``user:p@ss@host``: the host is after the last @, and no piece of the password is shown or put in the URL."""
    route = mock.get("/api/version").respond(json={"version": "0.12.0"})
    with OllamaClient("http://alice:pw@rd-77@ollama.test:11434") as c:
        assert c.display_host == "http://***@ollama.test:11434"
        assert c.version() == "0.12.0"
    sent = route.calls.last.request
    assert sent.headers["authorization"] == httpx.BasicAuth("alice", "pw@rd-77")._auth_header
    assert "rd-77" not in str(sent.url) and sent.url.host == "ollama.test"
    assert redact("at http://alice:pw@rd-77@h:1/x now") == "at http://***@h:1/x now"


def test_404_page_not_found_is_not_a_missing_model(mock: respx.MockRouter) -> None:
    """Gin's plain-text 404 (a wrong path in the host, a proxy) is not "model not found"."""
    mock.post("/ollama/api/show").respond(404, text="404 page not found")
    with OllamaClient("http://ollama.test:11434/ollama") as c, pytest.raises(ServerError) as ei:
        c.show("m")
    assert not isinstance(ei.value, ModelNotFound)
    assert ei.value.status == 404
    msg = str(ei.value)
    assert "/api/show failed (HTTP 404): 404 page not found" in msg
    assert "http://ollama.test:11434/ollama" in msg and "path" in msg
    # The server's JSON answer for a missing model still is one.
    mock.post("/api/show").respond(404, json={"error": "model 'm' not found"})
    with OllamaClient("http://ollama.test:11434") as c, pytest.raises(ModelNotFound):
        c.show("m")
