"""A hostile server, class by class: servers that never finish, answers of any size, answers that
are wrong but look fine, secrets echoed back.

Each case runs against tests/hostile_server.py on loopback, through the client and, for each
class, through the real CLI in a subprocess: the documented exit code, one line on stderr that
names the host and the endpoint, no traceback, and an end long before the server would have
finished (the subprocess itself is the watchdog).
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import html
import itertools
import json
import tracemalloc
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelctl.errors import ExitCode, InvalidInput, ModelctlError, ServerError, ServerUnreachable
from modelctl.ollama.server import Caps, OllamaClient, _install_deadlines
from tests.fixtures_double import run_cli
from tests.hostile_server import (
    CLOSE,
    LAST_CHUNK,
    SHOW,
    Action,
    HostileServer,
    Request,
    bomb,
    chunk,
    chunked_head,
    compressed,
    forever,
    head,
    json_reply,
    ndjson,
    not_found,
    reply,
    sane,
    then,
    trickle,
)

WINDOW = 0.3  # the --timeout of these tests, in seconds
FOREVER = 60.0  # a pause no test waits out


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as srv:
        yield srv


def client(srv: HostileServer, **kw: Any) -> OllamaClient:
    return OllamaClient(srv.url, timeout=WINDOW, **kw)


def small_caps(**kw: int) -> Caps:
    return dataclasses.replace(Caps.from_env(), **kw)


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    return lines[0]


@functools.lru_cache(maxsize=8)
def cached_bomb(size: int, wbits: int = 31) -> bytes:
    return bomb(size, wbits)


# =========================================================================== class 2: deadlines


def padded(answer: bytes) -> bytes:
    """The answer with a 300-byte header, so that trickling it takes a while."""
    status, rest = answer.split(b"\r\n", 1)
    return status + b"\r\nX-Pad: " + b"p" * 300 + b"\r\n" + rest


def slow_sane(req: Request) -> Iterator[Action]:
    """A sane answer, one byte every 20 ms: 7 s or more in all."""
    answer = b"".join(a for a in sane(req) if isinstance(a, bytes))
    yield from trickle(padded(answer), 0.02)


SHORT_REQUESTS: list[tuple[str, Callable[[OllamaClient], object]]] = [
    ("/api/version", lambda c: c.version()),
    ("/api/tags", lambda c: c.tags()),
    ("/api/show", lambda c: c.show("m")),
    ("/api/ps", lambda c: c.ps()),
    ("/api/blobs", lambda c: c.blob_exists("sha256:" + "a" * 64)),
    ("/api/delete", lambda c: c.delete("m")),
    ("/api/copy", lambda c: c.copy("m", "n")),
]


@pytest.mark.parametrize(("path", "call"), SHORT_REQUESTS, ids=[p for p, _ in SHORT_REQUESTS])
def test_a_short_request_ends_at_its_deadline_however_the_server_trickles(
    server: HostileServer, path: str, call: Callable[[OllamaClient], object]
) -> None:
    server.routes[path] = slow_sane
    with client(server) as c, pytest.raises(ServerUnreachable) as info:
        call(c)
    shown = path if path != "/api/blobs" else "/api/blobs/sha256:" + "a" * 64
    assert info.value.message == (
        f"Ollama at {server.url}: {shown} timed out after 0.3 s (raise the limit with --timeout)"
    )
    assert info.value.exit_code == ExitCode.UNREACHABLE


@pytest.mark.parametrize(
    "script",
    [
        lambda req: [FOREVER],  # silence
        lambda req: trickle(b"HTTP/1.1 200 OK\r\n" + b"X-Slow: x\r\n" * 100, 0.01, size=3),  # a head without end
        lambda req: [head(200, [("Content-Length", "100")]), b"{", FOREVER],  # a body that stops
        lambda req: then(chunked_head(), itertools.islice(forever(chunk(b" "), 0.05), 400)),
    ],
    ids=["silence", "endless-head", "stopped-body", "chunked-spaces"],
)
def test_short_request_stalls_of_every_kind(server: HostileServer, script: Callable[[Request], Any]) -> None:
    server.routes["/api/tags"] = script
    with client(server) as c, pytest.raises(ServerUnreachable, match=r"/api/tags timed out after 0\.3 s"):
        c.tags()


def same_line_forever(req: Request) -> Iterator[Action]:
    """Ollama's pull line, repeated every 20 ms without the bytes moving."""
    req.body()
    return ndjson(itertools.repeat({"status": "pulling 6a0746a1ec1a", "total": 100, "completed": 40}), 0.02)


@pytest.mark.parametrize(
    ("path", "script"),
    [
        ("/api/pull", same_line_forever),
        ("/api/create", lambda req: then(chunked_head(), forever(chunk(b"\n"), 0.02))),
        ("/api/generate", lambda req: ndjson(itertools.repeat({"response": "", "done": False}), 0.02)),
        ("/api/chat", lambda req: ndjson(itertools.repeat({"message": {"role": "assistant", "content": ""}}), 0.02)),
        ("/api/pull", lambda req: then(chunked_head(), trickle(b'{"status": "pulling manifest"}' * 1000, 0.02))),
    ],
    ids=["repeated-line", "blank-lines", "empty-tokens", "empty-chat", "a-line-never-ending"],
)
def test_a_stream_must_make_progress(server: HostileServer, path: str, script: Callable[[Request], Any]) -> None:
    server.routes[path] = script
    with client(server) as c, pytest.raises(ServerUnreachable) as info:
        if path == "/api/pull":
            list(c.pull("m"))
        elif path == "/api/create":
            list(c.create({"model": "m", "from": "b"}))
        elif path == "/api/generate":
            list(c.generate({"model": "m", "prompt": "x"}))
        else:
            list(c.chat({"model": "m", "messages": []}))
    assert info.value.message == (
        f"Ollama at {server.url}: {path} made no progress for 0.3 s (timed out; raise the limit with --timeout)"
    )


def test_a_slow_stream_that_makes_progress_may_take_longer_than_the_window(server: HostileServer) -> None:
    pull = [{"status": "pulling manifest"}]
    pull += [{"status": "pulling abc", "total": 20, "completed": i} for i in range(20)]
    pull += [{"status": "success"}]
    server.routes["/api/pull"] = lambda req: ndjson(pull, 0.03)  # 0.66 s in all, with a window of 0.3 s
    tokens = [{"response": f"t{i}", "done": False} for i in range(20)] + [{"done": True}]
    server.routes["/api/generate"] = lambda req: ndjson(tokens, 0.03)
    with client(server) as c:
        assert list(c.pull("m")) == pull
        assert "".join(o.get("response", "") for o in c.generate({"model": "m", "prompt": "x"})) == "".join(
            f"t{i}" for i in range(20)
        )


def test_an_upload_to_a_server_that_never_reads_stalls(server: HostileServer, tmp_path: Path) -> None:
    blob = tmp_path / "big.gguf"
    with open(blob, "wb") as f:
        f.truncate(64 << 20)  # more than the socket buffers hold
    server.routes["/api/blobs"] = lambda req: [FOREVER]
    with client(server) as c, pytest.raises(ServerUnreachable) as info:
        c.upload_blob(blob, "sha256:" + "b" * 64)
    assert info.value.message.startswith(f"Ollama at {server.url}: /api/blobs/sha256:{'b' * 64} made no progress")


def test_an_upload_slower_than_the_window_in_total_is_fine(server: HostileServer, tmp_path: Path) -> None:
    blob = tmp_path / "m.gguf"
    with open(blob, "wb") as f:
        f.truncate(64 << 20)

    def slow_reader(req: Request) -> Iterator[Action]:
        left = int(req.headers["content-length"])
        for _ in range(150):  # 64 KiB every 10 ms for 1.5 s (a MiB in 0.16 s), then the rest at once
            left -= len(req.rfile.read(1 << 16))
            yield 0.01
        while left > 0:
            left -= len(req.rfile.read(min(1 << 20, left)))
        yield reply(201)

    server.routes["/api/blobs"] = slow_reader
    sent: list[int] = []
    with OllamaClient(server.url, timeout=1.0) as c:  # each MiB within 1 s, the whole file in more
        c.upload_blob(blob, "sha256:" + "c" * 64, sent.append)
    assert sent[-1] == blob.stat().st_size


def test_deadlines_reach_the_sockets() -> None:
    """httpx keeps its network backend private; if a release moves it, this says so."""
    with OllamaClient("http://127.0.0.1:9") as c:
        assert _install_deadlines(c._http, c._deadlines) == 0  # already installed by the client
    with OllamaClient("https://127.0.0.1:9") as c:
        assert type(c._http._transport._pool._network_backend).__name__ == "_DeadlineBackend"  # type: ignore[attr-defined]


def test_cli_short_request_that_never_finishes_is_exit_4(server: HostileServer) -> None:
    server.routes["/api/show"] = slow_sane
    proc = run_cli("show", "m", "--timeout", "0.3", host=server.url, timeout=30)
    assert proc.returncode == 4
    assert one_error_line(proc.stderr) == (
        f"error: Ollama at {server.url}: /api/show timed out after 0.3 s (raise the limit with --timeout)"
    )


def test_cli_generation_that_makes_no_progress_is_exit_4(server: HostileServer) -> None:
    server.routes["/api/generate"] = lambda req: ndjson(itertools.repeat({"response": "", "done": False}), 0.02)
    proc = run_cli("run", "m", "hello", "--timeout", "0.3", host=server.url, timeout=30)
    assert proc.returncode == 4
    assert one_error_line(proc.stderr) == (
        f"error: Ollama at {server.url}: /api/generate made no progress for 0.3 s "
        "(timed out; raise the limit with --timeout)"
    )


def test_cli_build_whose_pull_stalls_is_exit_4(server: HostileServer, tmp_path: Path) -> None:
    (tmp_path / "chef.yaml").write_text("from: llama3.2:3b\n", encoding="utf-8")
    server.routes["/api/show"] = lambda req: [not_found(json.loads(req.body())["model"])]
    server.routes["/api/pull"] = same_line_forever
    env = {"MODELCTL_STATE_DIR": str(tmp_path / "state")}
    proc = run_cli("build", "chef.yaml", "--timeout", "0.3", host=server.url, env=env, cwd=tmp_path, timeout=30)
    assert proc.returncode == 4, proc.stderr
    line = one_error_line(proc.stderr)
    assert f"Ollama at {server.url}: /api/pull made no progress for 0.3 s" in line


# =========================================================================== class 3: sizes


def show_answer(body: bytes, *headers: tuple[str, str]) -> Callable[[Request], list[Action]]:
    return lambda req: [reply(200, body, [("Content-Type", "application/json"), *headers])]


def test_an_answer_announced_over_the_cap_is_refused_unread(server: HostileServer) -> None:
    server.routes["/api/show"] = lambda req: [head(200, [("Content-Length", str(10 << 30))]), FOREVER]
    with client(server) as c, pytest.raises(ServerError) as info:
        c.show("m")
    assert info.value.message == (
        f"Ollama at {server.url}: /api/show sent an answer larger than 32.00 MiB "
        "(over the limit; raise it with MODELCTL_MAX_ANSWER_BYTES)"
    )


def test_a_chunked_answer_over_the_cap(server: HostileServer) -> None:
    server.routes["/api/tags"] = lambda req: then(chunked_head(), itertools.islice(forever(chunk(b" " * 65536)), 100))
    with client(server, caps=small_caps(answer=1 << 20)) as c, pytest.raises(ServerError) as info:
        c.tags()
    assert "/api/tags sent an answer larger than 1.00 MiB" in info.value.message
    assert info.value.exit_code == ExitCode.SERVER


@pytest.mark.parametrize(
    ("encoding", "wbits"),
    [("gzip", 31), ("x-gzip", 31), ("deflate", 15), ("deflate", -15)],
    ids=["gzip", "x-gzip", "deflate", "raw-deflate"],
)
def test_a_compression_bomb_is_stopped_at_the_cap(server: HostileServer, encoding: str, wbits: int) -> None:
    server.routes["/api/show"] = show_answer(cached_bomb(64 << 20, wbits), ("Content-Encoding", encoding))
    with client(server, caps=small_caps(answer=1 << 20)) as c:
        tracemalloc.start()
        try:
            with pytest.raises(ServerError, match=r"answer larger than 1\.00 MiB .*MODELCTL_MAX_ANSWER_BYTES"):
                c.show("m")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 8 << 20  # the cap and a few pieces, not the 64 MiB inside


def test_a_bomb_inside_a_bomb(server: HostileServer) -> None:
    inner = cached_bomb(64 << 20)
    server.routes["/api/show"] = show_answer(compressed([inner]), ("Content-Encoding", "gzip, gzip"))
    with client(server, caps=small_caps(answer=1 << 20)) as c, pytest.raises(ServerError, match="larger than 1.00"):
        c.show("m")


def test_compressed_answers_are_read(server: HostileServer) -> None:
    body = json.dumps(SHOW).encode()
    server.routes["/api/show"] = show_answer(compressed([body]), ("Content-Encoding", "gzip"))
    server.routes["/api/tags"] = show_answer(compressed([b'{"models": []}'], -15), ("Content-Encoding", "deflate"))
    lines = b"".join(json.dumps(o).encode() + b"\n" for o in ({"status": "a"}, {"status": "success"}))
    server.routes["/api/pull"] = lambda req: [
        chunked_head(headers=[("Content-Encoding", "gzip")]),
        *(chunk(compressed([lines])[i : i + 7]) for i in range(0, len(compressed([lines])), 7)),
        LAST_CHUNK,
    ]
    with client(server) as c:
        assert c.show("m") == SHOW
        assert c.tags() == {"models": []}
        assert list(c.pull("m")) == [{"status": "a"}, {"status": "success"}]


@pytest.mark.parametrize(
    ("headers", "body", "words"),
    [
        ([("Content-Encoding", "br")], b"\x1b\x00", "an answer in an encoding modelctl does not read"),
        ([("Content-Encoding", "gzip, gzip, gzip")], b"", "Content-Encoding: gzip, gzip, gzip"),
        ([("Content-Encoding", "gzip")], b"\x1f\x8b\x08\x00garbage" * 10, "cannot be decompressed"),
    ],
)
def test_answers_that_cannot_be_decoded(
    server: HostileServer, headers: list[tuple[str, str]], body: bytes, words: str
) -> None:
    server.routes["/api/show"] = show_answer(body, *headers)
    with client(server) as c, pytest.raises(ServerError) as info:
        c.show("m")
    assert info.value.message.startswith(f"Ollama at {server.url}: /api/show sent ") and words in info.value.message


def test_a_stream_line_that_never_ends(server: HostileServer) -> None:
    server.routes["/api/generate"] = lambda req: then(chunked_head(), forever(chunk(b"a" * 65536)))
    with client(server, caps=small_caps(line=1 << 20)) as c, pytest.raises(ServerError) as info:
        list(c.generate({"model": "m", "prompt": "x"}))
    assert info.value.message == (
        f"Ollama at {server.url}: /api/generate sent a line longer than 1.00 MiB "
        "(over the limit; raise it with MODELCTL_MAX_LINE_BYTES)"
    )


def test_a_compressed_stream_line_that_never_ends(server: HostileServer) -> None:
    packed = cached_bomb(64 << 20)
    server.routes["/api/pull"] = lambda req: [
        chunked_head(headers=[("Content-Encoding", "gzip")]),
        *(chunk(packed[i : i + 4096]) for i in range(0, len(packed), 4096)),
        LAST_CHUNK,
    ]
    with client(server, caps=small_caps(line=1 << 20)) as c, pytest.raises(ServerError, match="MODELCTL_MAX_LINE"):
        list(c.pull("m"))


@pytest.mark.parametrize(
    ("path", "lines", "caps", "words"),
    [
        ("/api/generate", ({"response": "token ", "done": False} for _ in itertools.count()), {"generated": 4096},
         "more than 4.00 KiB of generated text (over the limit; raise it with MODELCTL_MAX_GENERATED_BYTES)"),
        ("/api/chat", ({"message": {"thinking": "hmm "}} for _ in itertools.count()), {"generated": 4096},
         "MODELCTL_MAX_GENERATED_BYTES"),
        ("/api/pull", ({"status": "pulling x", "completed": i} for i in itertools.count()), {"events": 1000},
         "more than 1,000 lines (over the limit; raise it with MODELCTL_MAX_STREAM_EVENTS)"),
        ("/api/create", ({"status": f"step {i % 2}"} for i in itertools.count()), {"statuses": 100},
         "more than 100 status changes (over the limit; raise it with MODELCTL_MAX_STREAM_STATUSES)"),
    ],
    ids=["tokens", "thinking", "progress", "alternating-statuses"],
)  # fmt: skip
def test_endless_streams_that_look_like_progress_are_capped(
    server: HostileServer, path: str, lines: Iterable[Any], caps: dict[str, int], words: str
) -> None:
    server.routes[path] = lambda req: ndjson(lines)
    with client(server, caps=small_caps(**caps)) as c, pytest.raises(ServerError) as info:
        if path == "/api/generate":
            list(c.generate({"model": "m", "prompt": "x"}))
        elif path == "/api/chat":
            list(c.chat({"model": "m", "messages": []}))
        elif path == "/api/pull":
            list(c.pull("m"))
        else:
            list(c.create({"model": "m", "from": "b"}))
    assert info.value.message.startswith(f"Ollama at {server.url}: {path} sent ") and words in info.value.message


def test_an_error_answer_of_any_size_is_read_in_part(server: HostileServer) -> None:
    text = b'{"error": "' + b"x" * (8 << 20) + b'"}'
    server.routes["/api/show"] = lambda req: [reply(500, text)]
    with client(server) as c, pytest.raises(ServerError) as info:
        c.show("m")
    msg = info.value.message
    assert msg.startswith(f'Ollama at {server.url}: /api/show failed (HTTP 500): {{"error": "xxx') and msg.endswith(
        "x…"
    )
    assert info.value.status == 500 and len(msg) < 700


def test_cli_answer_over_the_cap_is_exit_5(server: HostileServer) -> None:
    server.routes["/api/show"] = show_answer(json.dumps({**SHOW, "license": "x" * (1 << 20)}).encode())
    proc = run_cli("show", "m", host=server.url, env={"MODELCTL_MAX_ANSWER_BYTES": "64KiB"}, timeout=30)
    assert proc.returncode == 5
    assert one_error_line(proc.stderr) == (
        f"error: Ollama at {server.url}: /api/show sent an answer larger than 64.00 KiB "
        "(over the limit; raise it with MODELCTL_MAX_ANSWER_BYTES)"
    )
    proc = run_cli("show", "m", host=server.url, env={"MODELCTL_MAX_ANSWER_BYTES": "2MiB"}, timeout=30)
    assert proc.returncode == 0, proc.stderr  # raised, the same answer is fine


def test_cli_gzip_bomb_is_exit_5(server: HostileServer) -> None:
    server.routes["/api/show"] = show_answer(cached_bomb(64 << 20), ("Content-Encoding", "gzip"))
    proc = run_cli("show", "m", host=server.url, env={"MODELCTL_MAX_ANSWER_BYTES": "1MiB"}, timeout=30)
    assert proc.returncode == 5
    assert f"Ollama at {server.url}: /api/show sent an answer larger than 1.00 MiB" in one_error_line(proc.stderr)


def test_cli_cap_that_is_not_a_size_is_exit_1(server: HostileServer) -> None:
    proc = run_cli("show", "m", host=server.url, env={"MODELCTL_MAX_LINE_BYTES": "lots"}, timeout=30)
    assert proc.returncode == 1
    assert "MODELCTL_MAX_LINE_BYTES" in one_error_line(proc.stderr)


def test_caps_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELCTL_MAX_STREAM_EVENTS", "12")
    monkeypatch.setenv("MODELCTL_MAX_GENERATED_BYTES", "1KiB")
    with OllamaClient("http://127.0.0.1:9") as c:
        assert (c.caps.events, c.caps.generated) == (12, 1024)
    monkeypatch.setenv("MODELCTL_MAX_STREAM_STATUSES", "0")
    with pytest.raises(InvalidInput, match="MODELCTL_MAX_STREAM_STATUSES must be above 0"):
        OllamaClient("http://127.0.0.1:9")


# =========================================================================== class 4: shapes (CLI)


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("/api/show", b'{"model_info": {"general.architecture": "llama", "llama.context_length": NaN}}',
         "/api/show: malformed answer: NaN is not a JSON number"),
        ("/api/show", json.dumps({"error": "model is being deleted"}).encode(),
         "/api/show failed: model is being deleted"),
        ("/api/show", json.dumps({**SHOW, "details": {"context_length": 4096.5}}).encode(),
         "/api/show: malformed answer: 'details.context_length' is 4096.5, expected a whole number of 0 or more"),
        ("/api/tags", json.dumps({"models": [{"name": "m:latest", "size": -1}]}).encode(),
         "/api/tags: malformed answer: 'models[0].size' is -1"),
        ("/api/show", b'{"tensors": [{"shape": [1' + b"0" * 400 + b"]}]}", "a number of 401 digits"),
    ],
)  # fmt: skip
def test_cli_wrong_answers_are_exit_5_with_the_servers_words(
    server: HostileServer, path: str, body: bytes, words: str
) -> None:
    server.routes[path] = show_answer(body)
    proc = run_cli("show", "m", host=server.url, timeout=30)
    assert proc.returncode == 5, proc.stdout
    assert proc.stdout == ""  # no report full of "-"
    assert one_error_line(proc.stderr).startswith(f"error: Ollama at {server.url}: ")
    assert words in proc.stderr


def test_cli_version_that_is_not_one_is_exit_5(server: HostileServer, tmp_path: Path) -> None:
    (tmp_path / "chef.yaml").write_text("from: llama3.2:3b\n", encoding="utf-8")
    server.routes["/api/version"] = lambda req: [json_reply({"version": "\x1b[2J0.12.0"})]
    proc = run_cli("build", "chef.yaml", host=server.url, cwd=tmp_path, timeout=30)
    assert proc.returncode == 5
    line = one_error_line(proc.stderr)
    assert f"Ollama at {server.url}: /api/version: malformed answer: 'version' is" in line and "\x1b" not in line


# =========================================================================== class 7: secrets

USER, PASSWORD = "alice", "p@ss/w0rd&<s3cret>"
KEY, GATEWAY = "key-abcdef-0815", "tok-99887766"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
SECRETS = [
    PASSWORD,
    urllib.parse.quote(PASSWORD, safe=""),
    BASIC,
    KEY,
    GATEWAY,
    json.dumps(PASSWORD)[1:-1],
    html.escape(PASSWORD),
    "w0rd",  # no piece of it either
]


def host_with_password(srv: HostileServer) -> str:
    return f"http://{USER}:{urllib.parse.quote(PASSWORD, safe='')}@127.0.0.1:{srv.port}"


def echoed(req: Request) -> str:
    return "; ".join(f"{k}: {v}" for k, v in req.headers.items())


ECHOES: dict[str, Callable[[Request], Iterable[Action]]] = {
    "json": lambda req: [json_reply({"error": f"unauthorized, you sent {req.headers}"}, 401)],
    "go-json": lambda req: [
        reply(401, json.dumps({"error": echoed(req)}).replace("&", "\\u0026").replace("<", "\\u003c").encode())
    ],
    "text": lambda req: [reply(403, echoed(req).encode())],
    "html": lambda req: [reply(502, f"<html><body><pre>{html.escape(echoed(req))}</pre></body></html>".encode())],
    "url-encoded": lambda req: [reply(400, urllib.parse.urlencode(req.headers).encode())],
    "json-in-html": lambda req: [reply(400, json.dumps(req.headers).encode() + b"<br>" * 10)],
    "cut-at-500": lambda req: [reply(500, ("x" * 480 + echoed(req)).encode())],
    "reason-phrase": lambda req: [reply(401, b"", reason=echoed(req).replace("\r", " ")[:900])],
    "in-a-200": lambda req: [json_reply({"error": echoed(req)})],
    "in-a-stream": lambda req: ndjson([{"status": "pulling"}, {"error": echoed(req)}]),
    "broken-line": lambda req: [chunked_head(), chunk(b'{"status": "ok"}\n{"status": ' + echoed(req).encode() + b"\n")],
    "redirect": lambda req: [reply(307, b"", [("Location", f"https://evil/?{urllib.parse.urlencode(req.headers)}")])],
    "not-http": lambda req: [f"HTTP/1.1 twohundred {echoed(req)}\r\n\r\n".encode(), CLOSE],
}


@pytest.mark.parametrize("style", list(ECHOES))
def test_no_echo_of_a_credential_reaches_a_message(
    server: HostileServer, monkeypatch: pytest.MonkeyPatch, style: str
) -> None:
    monkeypatch.setenv("MODELCTL_HEADERS", f"X-Gateway-Token: {GATEWAY}")
    server.default = ECHOES[style]
    messages = []
    for auth in ("basic", "bearer"):
        if auth == "bearer":
            monkeypatch.setenv("OLLAMA_API_KEY", KEY)
        host = host_with_password(server) if auth == "basic" else server.url
        with OllamaClient(host, timeout=WINDOW) as c, pytest.raises(ModelctlError) as info:
            list(c.pull("m")) if style in ("in-a-stream", "broken-line") else c.show("m")
        messages.append(info.value.message)
    sent = [r.headers.get("authorization") for r in server.requests]
    assert sent == [f"Basic {BASIC}", f"Bearer {KEY}"]
    for msg in messages:
        assert msg.startswith("Ollama at http://") and "\n" not in msg
        for secret in SECRETS:
            assert secret not in msg, (style, secret, msg)
    assert any("***" in m for m in messages), messages


def test_cli_json_envelope_carries_no_credential(server: HostileServer) -> None:
    server.default = ECHOES["json"]
    proc = run_cli(
        "show", "m", "--format", "json", host=host_with_password(server),
        env={"MODELCTL_HEADERS": json.dumps({"X-Gateway-Token": GATEWAY})}, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 5
    for secret in SECRETS:
        assert secret not in proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False
    msg = doc["errors"][0]["message"]
    assert msg.startswith(f"Ollama at http://***@127.0.0.1:{server.port}: /api/show failed (HTTP 401): ")
    assert "'authorization': '***'" in msg and "'x-gateway-token': '***'" in msg


def test_cli_text_message_carries_no_credential(server: HostileServer) -> None:
    server.default = ECHOES["text"]
    proc = run_cli(
        "show", "m", host=server.url, env={"OLLAMA_API_KEY": KEY, "MODELCTL_HEADERS": f"X-Gateway-Token: {GATEWAY}"},
        timeout=30,
    )  # fmt: skip
    assert proc.returncode == 5
    line = one_error_line(proc.stderr)
    assert line.startswith(f"error: Ollama at {server.url}: /api/show failed (HTTP 403): ")
    assert "authorization: ***" in line and "x-gateway-token: ***" in line
    for secret in SECRETS:
        assert secret not in proc.stdout + proc.stderr
