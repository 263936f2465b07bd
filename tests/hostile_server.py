"""A hostile HTTP server on loopback: each answer is a script of raw bytes, pauses and hang-ups.

Unlike the Ollama double (tests/ollama_double.py), which answers as Ollama does, this server
answers however a test says, down to the byte: status lines that are not HTTP, a body
trickled one byte at a time, a stream that never ends, a gzip bomb, a redirect, a connection
dropped mid-answer. A route is a function of the request returning an iterable of actions:

* ``bytes``: send them;
* a ``float``: pause that many seconds (cut short when the server closes);
* ``CLOSE``: hang up now.

After the script the connection is closed. Scripts are consumed lazily, so an endless
generator is an endless answer; it ends when the client hangs up or the server closes.

    with HostileServer({"/api/show": lambda req: trickle(json_reply({}), 0.05)}) as srv:
        OllamaClient(srv.url).show("m")
"""

from __future__ import annotations

import itertools
import json
import socketserver
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

CLOSE = object()
SMALL_BODY = 1 << 16
Action = Any  # bytes | float | CLOSE
Route = Callable[["Request"], Iterable[Action]]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    rfile: Any = field(repr=False)
    body_read: bool = False
    small_body: bytes | None = None  # read on arrival when at most SMALL_BODY bytes

    def body(self) -> bytes:
        """The request body (Content-Length bytes). A large one (an upload) is read only when a
        route calls this or :meth:`drain`."""
        if self.small_body is not None:
            return self.small_body
        self.body_read = True
        n = int(self.headers.get("content-length", "0") or 0)
        return self.rfile.read(n) if n else b""

    def drain(self, piece: int = 1 << 16) -> int:
        """Read and drop the body; how many bytes it had."""
        if self.small_body is not None:
            return len(self.small_body)
        self.body_read = True
        left = int(self.headers.get("content-length", "0") or 0)
        got = 0
        while left > 0:
            block = self.rfile.read(min(piece, left))
            if not block:
                break
            got += len(block)
            left -= len(block)
        return got


# --------------------------------------------------------------------------- answers


def head(status: int = 200, headers: Iterable[tuple[str, str]] = (), reason: str | None = None) -> bytes:
    """A status line and headers (with ``Connection: close``), ending the head."""
    lines = [f"HTTP/1.1 {status} {reason if reason is not None else _REASONS.get(status, 'Whatever')}"]
    lines += [f"{k}: {v}" for k, v in headers] + ["Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


def reply(
    status: int = 200, body: bytes = b"", headers: Iterable[tuple[str, str]] = (), reason: str | None = None
) -> bytes:
    return head(status, [("Content-Length", str(len(body))), *headers], reason) + body


def json_reply(obj: Any, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    body = json.dumps(obj).encode()
    return reply(status, body, [("Content-Type", "application/json; charset=utf-8"), *headers])


def chunk(data: bytes) -> bytes:
    """One chunk of a ``Transfer-Encoding: chunked`` body."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


LAST_CHUNK = b"0\r\n\r\n"


def chunked_head(status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    return head(status, [("Content-Type", "application/x-ndjson"), ("Transfer-Encoding", "chunked"), *headers])


def ndjson(objs: Iterable[Any], pause: float = 0.0) -> Iterator[Action]:
    """A chunked NDJSON stream, one object per chunk, ``pause`` seconds apart."""
    yield chunked_head()
    for obj in objs:
        yield chunk(json.dumps(obj).encode() + b"\n")
        if pause:
            yield pause
    yield LAST_CHUNK


def trickle(data: bytes, every: float, size: int = 1) -> Iterator[Action]:
    """``data`` ``size`` bytes at a time, ``every`` seconds apart."""
    for i in range(0, len(data), size):
        yield data[i : i + size]
        yield every


def forever(*actions: Action) -> Iterator[Action]:
    """The actions again and again (lazily: never put this in a list)."""
    while True:
        yield from actions


def then(first: Action, rest: Iterable[Action]) -> Iterator[Action]:
    yield first
    yield from rest


def compressed(data_blocks: Iterable[bytes], wbits: int = 31) -> bytes:
    """gzip (31), zlib (15) or raw deflate (-15) of the concatenated blocks."""
    z = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return b"".join(z.compress(b) for b in data_blocks) + z.flush()


def bomb(size: int, wbits: int = 31) -> bytes:
    """``size`` zero bytes compressed (about 1/1000 of it)."""
    block = bytes(1 << 20)
    return compressed(itertools.repeat(block, size >> 20), wbits)


def not_found(model: str = "m") -> bytes:
    return json_reply({"error": f"model '{model}' not found"}, 404)


# --------------------------------------------------------------------------- what a sane server says

SHOW = {
    "parameters": "num_ctx                        4096",
    "template": "{{ .Prompt }}",
    "details": {"family": "llama", "parameter_size": "3.2B", "quantization_level": "Q4_K_M", "format": "gguf"},
    "model_info": {"general.architecture": "llama", "llama.context_length": 131072},
    "capabilities": ["completion"],
}


def sane(req: Request) -> Iterable[Action]:
    """What a healthy Ollama says (enough for show, run, build and the client's endpoints)."""
    if req.method == "HEAD" and req.path.startswith("/api/blobs/"):
        return [reply(404)]
    if req.path.startswith("/api/blobs/"):
        req.drain()
        return [reply(201)]
    if req.path in ("/api/pull", "/api/create"):
        req.body()
        return ndjson([{"status": "pulling manifest"}, {"status": "success"}])
    if req.path in ("/api/generate", "/api/chat"):
        req.body()
        piece = {"message": {"role": "assistant", "content": "hi"}} if req.path == "/api/chat" else {"response": "hi"}
        return ndjson([{**piece, "done": False}, {"done": True, "done_reason": "stop", "eval_count": 1}])
    req.body()
    answers: dict[str, Any] = {
        "/api/version": {"version": "0.12.0"},
        "/api/tags": {"models": []},
        "/api/ps": {"models": []},
        "/api/show": SHOW,
        "/api/delete": None,
        "/api/copy": None,
    }
    if req.path not in answers:
        return [reply(404, b"404 page not found", [("Content-Type", "text/plain")])]
    answer = answers[req.path]
    return [reply(200) if answer is None else json_reply(answer)]


# --------------------------------------------------------------------------- the server


class _Handler(socketserver.StreamRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        owner = self.server.owner
        req = self._read_request()
        if req is None:
            return
        owner.requests.append(req)
        try:
            for action in owner.route_for(req)(req):
                if not self._act(action, owner):
                    return
        except (OSError, ValueError):  # the client hung up (or the script gave up)
            return

    def _act(self, action: Action, owner: HostileServer) -> bool:
        if action is CLOSE or owner.stopped.is_set():
            return False
        if isinstance(action, (int, float)):
            return not owner.stopped.wait(float(action))
        self.wfile.write(action)
        self.wfile.flush()
        return True

    def _read_request(self) -> Request | None:
        line = self.rfile.readline(65537)
        parts = line.decode("latin-1").split()
        if len(parts) < 2:
            return None
        headers: dict[str, str] = {}
        while True:
            h = self.rfile.readline(65537)
            if h in (b"\r\n", b"\n", b""):
                break
            name, _, value = h.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        req = Request(parts[0], parts[1].split("?", 1)[0], headers, self.rfile)
        if int(headers.get("content-length", "0") or 0) <= SMALL_BODY:
            # Read now: closing a socket with unread data makes the kernel reset the connection,
            # and the client would not see the answer.
            req.small_body = req.body()
        return req


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: HostileServer


class HostileServer:
    """Answers each request by the route for its path (exact, or ``/api/blobs`` for any blob),
    else by ``default`` (a sane Ollama). ``requests`` records what arrived."""

    def __init__(self, routes: Mapping[str, Route] | None = None, default: Route = sane) -> None:
        self.routes: dict[str, Route] = dict(routes or {})
        self.default = default
        self.requests: list[Request] = []
        self.stopped = threading.Event()
        self._server = _TCPServer(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def route_for(self, req: Request) -> Route:
        if req.path in self.routes:
            return self.routes[req.path]
        if req.path.startswith("/api/blobs/") and "/api/blobs" in self.routes:
            return self.routes["/api/blobs"]
        return self.default

    def start(self) -> HostileServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self.stopped.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


_REASONS = {
    200: "OK", 201: "Created", 301: "Moved Permanently", 302: "Found", 307: "Temporary Redirect",
    308: "Permanent Redirect", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
}  # fmt: skip
