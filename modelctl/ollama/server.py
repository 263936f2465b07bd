"""The one place that talks HTTP to an Ollama server.

Everything network-related lives here: host resolution (the official Python client's
rules, plus ``0.0.0.0`` -> loopback like Ollama's own CLI), credentials and extra
headers (sent, never printed), deadlines, size caps, NDJSON streaming, and the mapping
of every failure onto modelctl's error hierarchy:

* cannot connect / connect timeout -> :class:`ServerUnreachable` (exit 4)
* a short request not answered in full within the timeout, a stream or an upload that
  makes no progress within it -> :class:`ServerUnreachable` (exit 4)
* an HTTP error status, an ``{"error": ...}`` inside a 200, an answer of the wrong shape
  (modelctl/ollama/answers.py), an answer over a cap (modelctl/common/limits.py), a stream that ends
  before its final object -> :class:`ServerError` (exit 5)
* 404 for a model -> :class:`ModelNotFound` (a ServerError)
* 400 refusing a prompt longer than the context (``truncate: false``) -> :class:`PromptTooLong`
  (a ServerError; the refusal texts are modelctl/ollama/truncation.py's)

Every message names the host (credentials redacted) and the endpoint, and is scrubbed of
every form in which a credential is sent. All requests go through one ``httpx.Client``
(see docs/server.md for why the official ``ollama`` client is not used on the CLI path),
and every answer is read through one path: streamed, decompressed piece by piece, capped.
This module imports httpx at module level, so only commands that talk to a server import
it, inside their body.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import html
import json
import math
import os
import ssl
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from modelctl import __version__
from modelctl.common import escape
from modelctl.common.files import open_regular
from modelctl.common.jsontypes import JSONObject
from modelctl.common.limits import ANSWER_BYTES, GENERATED_BYTES, LINE_BYTES, STREAM_EVENTS, STREAM_STATUSES
from modelctl.common.units import human_bytes
from modelctl.errors import InvalidInput, ModelctlError, ServerError, ServerUnreachable
from modelctl.ollama._httpx import httpcore, httpx
from modelctl.ollama.answers import (
    ANY_OBJECT,
    CHUNK,
    PROGRESS,
    PS,
    SHOW,
    TAGS,
    VERSION,
    BadNumber,
    GenerationProgress,
    OverLimit,
    Shape,
    TransferProgress,
    is_final_generation,
    is_final_progress,
    json_type,
    loads,
    loads_line,
)
from modelctl.ollama.hosts import _USERINFO_RE, DEFAULT_HOST, parse_host, redact
from modelctl.ollama.truncation import Refusal, refusal
from modelctl.ollama.wire import compare_versions, is_digest, parse_version

if TYPE_CHECKING:  # pragma: no cover
    import ollama

    from modelctl.ollama.shapes import (
        ChatRequest,
        Chunk,
        CopyRequest,
        CreateRequest,
        DeleteRequest,
        GenerateRequest,
        ProgressLine,
        PsResponse,
        ShowRequest,
        ShowResponse,
        TagsResponse,
        TransferRequest,
    )

T = TypeVar("T")
R = TypeVar("R", bound=Mapping[str, object])

__all__ = [
    "CONNECT_TIMEOUT",
    "Caps",
    "DEFAULT_HOST",
    "MIN_CREATE_VERSION",
    "ModelNotFound",
    "OllamaClient",
    "PromptTooLong",
    "STREAM_TIMEOUT",
    "ServerInfo",
    "UNARY_TIMEOUT",
    "parse_headers",
    "parse_host",
    "redact",
]


#: Seconds to establish a TCP (and TLS) connection. A local server answers in
#: milliseconds; a long wait here only delays the "is ollama serve running?" hint.
CONNECT_TIMEOUT = 5.0
#: Default deadline of a short request (version, tags, show, ps, blob HEAD, delete, copy):
#: the whole answer, however slowly it arrives, within this many seconds.
UNARY_TIMEOUT = 30.0
#: Default progress deadline of streams and uploads (create, pull, generate, chat, blob POST):
#: each must make progress within this many seconds (a new status, more bytes completed, a
#: piece of answer, another MiB uploaded), not finish: loading a large model or quantizing
#: can take minutes before the next line arrives, a pull hours.
STREAM_TIMEOUT = 600.0

#: Servers before v0.5.5 do not accept the JSON form of /api/create.
MIN_CREATE_VERSION = "0.5.5"

_UNREACHABLE_HINT = 'is "ollama serve" running?'


class ModelNotFound(ServerError):
    """The server answered 404 for a model (``model '<x>' not found``)."""

    code = "model_not_found"

    def __init__(self, message: str, *, model: str | None = None, status: int | None = 404) -> None:
        super().__init__(message, status=status)
        self.model = model


class PromptTooLong(ServerError):
    """The server refused a prompt longer than the model's context (HTTP 400), as it does when
    the request says ``truncate: false``; ``refusal`` holds the token counts it named, if any."""

    code = "prompt_too_long"

    def __init__(self, message: str, *, refusal: Refusal, status: int | None = 400) -> None:
        super().__init__(message, status=status)
        self.refusal = refusal


# --------------------------------------------------------------------------- headers


def parse_headers(text: str | None) -> dict[str, str]:
    """Parse ``MODELCTL_HEADERS``: a JSON object, or ``Name: value`` entries one per line."""
    if not text or not text.strip():
        return {}
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"MODELCTL_HEADERS is not valid JSON: {exc.msg}", field="MODELCTL_HEADERS") from None
        if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
            raise InvalidInput("MODELCTL_HEADERS must map header names to strings", field="MODELCTL_HEADERS")
        return {str(k): v for k, v in obj.items()}
    headers: dict[str, str] = {}
    for n, line in enumerate(stripped.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, val = line.partition(":")
        if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
            # Never echo the line: it may carry a secret.
            raise InvalidInput(f"MODELCTL_HEADERS line {n} is not 'Name: value'", field="MODELCTL_HEADERS")
        headers[name.strip()] = val.strip()
    return headers


# --------------------------------------------------------------------------- secrets


def _secret_forms(secrets: Iterable[str]) -> list[str]:
    """Every form in which a secret may come back in an error text: as sent, percent-encoded,
    JSON-escaped (also Go's way, which escapes < > &) and HTML-escaped. Longest first."""
    forms: set[str] = set()
    for s in secrets:
        if len(s) < 3:  # too short to tell from ordinary text
            continue
        as_json = json.dumps(s, ensure_ascii=False)[1:-1]
        go_json = as_json.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        forms |= {
            s,
            as_json,
            go_json,
            json.dumps(s)[1:-1],
            urllib.parse.quote(s, safe=""),
            urllib.parse.quote_plus(s, safe=""),
            html.escape(s),
        }
    return sorted(forms, key=len, reverse=True)


def _credentials(split: urllib.parse.SplitResult) -> tuple[httpx.BasicAuth | None, list[str]]:
    """Basic auth from the URL's user info, and what of it is secret: the password as typed and
    decoded, and the ``Authorization: Basic`` value it becomes (the user name alone is not secret)."""
    if split.username is None and split.password is None:
        return None, []
    user = urllib.parse.unquote(split.username or "")
    password = urllib.parse.unquote(split.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")  # what httpx sends
    secrets = [f"Basic {token}", token] if password else []
    return httpx.BasicAuth(user, password), secrets + [s for s in (split.password, password) if s]


def _header_secrets(headers: Mapping[str, str]) -> list[str]:
    """Header values are secrets (tokens of gateways and proxies), and so is each credential
    after an auth scheme (``Bearer <key>``)."""
    out: list[str] = []
    for k, v in headers.items():
        if v and k.lower() not in ("user-agent", "accept", "accept-encoding", "content-type"):
            out.append(v)
            if " " in v.strip():
                out.append(v.strip().split(None, 1)[1])
    return out


def _one_line(text: str) -> str:
    """Server words made safe for one line of a terminal: line breaks become spaces, other
    control characters escapes."""
    if text.isprintable():
        return text
    return escape.line(text.replace("\t", " ").replace("\n", " ").replace("\r", " "))


# --------------------------------------------------------------------------- deadlines


class _Deadlines(threading.local):
    """The deadline (``time.monotonic()``) of the request this thread is reading or writing."""

    at: float | None = None


def _left(deadlines: _Deadlines, timeout: float | None, expired: type[Exception]) -> float | None:
    """A socket operation's timeout, cut to the time left before the request's deadline."""
    at = deadlines.at
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise expired("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the deadline of the request it serves.

    httpx's timeouts are per socket operation, so a server trickling one byte per second would
    never trip them; here each operation gets at most the time left.
    """

    def __init__(self, inner: httpcore.NetworkStream, deadlines: _Deadlines) -> None:
        self._inner = inner
        self._deadlines = deadlines

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(self._deadlines, timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(self._deadlines, timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        left = _left(self._deadlines, timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, left), self._deadlines)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend, deadlines: _Deadlines) -> None:
        self._inner = inner
        self._deadlines = deadlines

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(self._deadlines, timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._inner.connect_tcp(host, port, left, local_address, socket_options), self._deadlines
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        left = _left(self._deadlines, timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, left, socket_options), self._deadlines)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _install_deadlines(http: httpx.Client, deadlines: _Deadlines) -> int:
    """Route the connections of ``http`` (and of its proxy transports) through _DeadlineBackend.

    httpx has no public hook for the network backend of the connection pools it builds; they
    keep it in ``_network_backend``. Returns how many pools were changed (a test holds that it
    is not 0, so an httpx release that moves it cannot go unnoticed). Without it the deadline
    is still checked between reads, only less precisely.
    """
    transports = [getattr(http, "_transport", None), *getattr(http, "_mounts", {}).values()]
    changed = 0
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        inner = getattr(pool, "_network_backend", None)
        if isinstance(inner, httpcore.NetworkBackend) and not isinstance(inner, _DeadlineBackend):
            pool._network_backend = _DeadlineBackend(inner, deadlines)  # type: ignore[union-attr]
            changed += 1
    return changed


class _Clock:
    """One request's deadline. A short request has ``window`` seconds in all; a stream or an
    upload (``moving``) has ``window`` seconds from its last progress (:meth:`renew`)."""

    __slots__ = ("at", "moving", "window")

    def __init__(self, window: float, *, moving: bool) -> None:
        self.window = window
        self.moving = moving
        self.at = time.monotonic() + window

    def renew(self) -> None:
        self.at = time.monotonic() + self.window

    def check(self) -> None:
        if time.monotonic() >= self.at:
            raise _Expired


class _Expired(Exception):
    """A request's deadline passed."""


class _Unreadable(Exception):
    """An answer in an encoding modelctl does not read, or a broken compressed one."""


# --------------------------------------------------------------------------- bounded bodies

#: At most this many decompressed bytes come out of one step, so that a compression bomb is
#: stopped at the cap instead of being decoded whole.
_PIECE = 64 << 10
#: Of an error answer, only this much is read (its first 500 characters are shown).
_ERROR_BODY_BYTES = 64 << 10
_ENCODINGS = ("gzip", "x-gzip", "deflate")


class _Inflate:
    """gzip or deflate (with or without its zlib header), decoded piece by piece."""

    def __init__(self) -> None:
        self._z = zlib.decompressobj(zlib.MAX_WBITS | 32)  # a gzip or a zlib header
        self._started = False

    def run(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            yield from self._feed(chunk)
            if self._z.eof:  # anything after the end is ignored, as browsers and httpx do
                return
        tail = self._z.flush()
        if tail:
            yield tail

    def _feed(self, data: bytes) -> Iterator[bytes]:
        while data and not self._z.eof:
            try:
                out = self._z.decompress(data, _PIECE)
            except zlib.error as exc:
                if self._started:
                    raise _Unreadable(f"a compressed answer that cannot be decompressed ({exc})") from None
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)  # "deflate" sent without its header
                self._started = True
                continue
            self._started = True
            data = self._z.unconsumed_tail
            if out:
                yield out


def _decoders(headers: httpx.Headers) -> list[_Inflate]:
    codings = [c.lower() for c in headers.get_list("content-encoding", split_commas=True) if c]
    codings = [c for c in codings if c != "identity"]
    if len(codings) > 2 or any(c not in _ENCODINGS for c in codings):
        # Only gzip and deflate are asked for (Accept-Encoding); anything else cannot be capped.
        raise _Unreadable(f"an answer in an encoding modelctl does not read (Content-Encoding: {', '.join(codings)})")
    return [_Inflate() for _ in codings]


def _content_length(headers: httpx.Headers) -> int | None:
    try:
        return int(headers.get("content-length", ""))
    except ValueError:
        return None


def _ndjson_lines(chunks: Iterator[bytes], cap: int) -> Iterator[bytes]:
    """Split a byte stream at LF only, refusing a line longer than ``cap`` bytes.

    httpx's ``iter_lines`` splits like ``str.splitlines``, also at U+0085, U+2028 and
    U+2029, which Ollama's JSON encoder may leave unescaped inside strings (model output).
    """
    buf = bytearray()
    for chunk in chunks:
        scan = len(buf)  # the bytes before hold no LF
        buf += chunk
        start = 0
        while (end := buf.find(b"\n", scan)) >= 0:
            if end - start > cap:
                break
            yield bytes(buf[start:end])
            start = scan = end + 1
        del buf[:start]
        if len(buf) > cap:
            raise OverLimit(LINE_BYTES, f"a line longer than {human_bytes(cap)}")
    if buf:
        yield bytes(buf)


@dataclass(frozen=True)
class Caps:
    """The caps on what a server may send (modelctl/common/limits.py), read from the environment."""

    answer: int
    line: int
    generated: int
    events: int
    statuses: int

    @classmethod
    def from_env(cls) -> Caps:
        return cls(
            ANSWER_BYTES.value(),
            LINE_BYTES.value(),
            GENERATED_BYTES.value(),
            STREAM_EVENTS.value(),
            STREAM_STATUSES.value(),
        )


@dataclass(frozen=True)
class _StreamKind(Generic[T]):
    shape: Shape[T]
    is_final: Callable[[T], bool]
    final: str  # what the last line must say, for the message when it does not
    progress: Callable[[Caps], Callable[[T], bool]]  # a new stream's judge of progress


def _transfer_progress(caps: Caps) -> Callable[[ProgressLine], bool]:
    return TransferProgress(caps.events, caps.statuses).step


def _generation_progress(caps: Caps) -> Callable[[Chunk], bool]:
    return GenerationProgress(caps.generated).step


def _own(request: R) -> R:
    """A request as a dict of the call's own (the caller's mapping, any mapping, is never changed)."""
    return cast(R, dict(request))


_TRANSFER: _StreamKind[ProgressLine] = _StreamKind(PROGRESS, is_final_progress, "success", _transfer_progress)
_GENERATION: _StreamKind[Chunk] = _StreamKind(CHUNK, is_final_generation, "done", _generation_progress)


@functools.lru_cache(maxsize=1)
def _no_trust_context() -> ssl.SSLContext:
    """A client TLS context with no trusted CAs: any https connection through it fails."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


@dataclass
class ServerInfo:
    """Who answered: the host (credentials redacted), whether it answered, its version, and why not."""

    host: str | None
    reachable: bool = False
    version: str | None = None
    reason: str | None = None

    def to_dict(self) -> JSONObject:
        return {"host": self.host, "reachable": self.reachable, "version": self.version, "reason": self.reason}


class OllamaClient:
    """A small, typed client for the parts of Ollama's REST API modelctl uses.

    ``host``: ``--host`` value, else ``$OLLAMA_HOST``, else the default. ``timeout``: the
    deadline in seconds (``--timeout``): a short request must be answered in full within it, a
    stream or an upload must make progress within it; when ``None`` short requests get
    :data:`UNARY_TIMEOUT` and streams/uploads :data:`STREAM_TIMEOUT`. ``headers``: extra
    headers, merged over ``$MODELCTL_HEADERS``; ``$OLLAMA_API_KEY`` adds ``Authorization:
    Bearer`` unless an authorization header is given. ``caps`` (default: from the environment,
    see docs/limits.md) bounds what the server may send. ``transport`` is for tests.
    """

    def __init__(
        self,
        host: str | None = None,
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        caps: Caps | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
            raise InvalidInput(f"--timeout must be a finite number of seconds above 0, not {timeout}", field="timeout")
        full = parse_host(host if host else os.environ.get("OLLAMA_HOST"))
        split = urllib.parse.urlsplit(full)
        self._auth, secrets = _credentials(split)
        self.host: str = full
        self.display_host: str = redact(full)
        # Base URL without credentials: httpx gets them through `auth`, not the URL.
        self._base = _USERINFO_RE.sub(lambda m: m.group("scheme"), full)
        merged: dict[str, str] = parse_headers(os.environ.get("MODELCTL_HEADERS"))
        merged.update(headers or {})
        if not any(k.lower() == "authorization" for k in merged):
            key = os.environ.get("OLLAMA_API_KEY")
            if key:
                merged["Authorization"] = f"Bearer {key}"
        self._secrets = _secret_forms(secrets + _header_secrets(merged))
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.caps = caps if caps is not None else Caps.from_env()
        # Only what modelctl can decode piece by piece (not br or zstd, which httpx would offer
        # when their packages are installed).
        self._headers = {
            "User-Agent": f"modelctl/{__version__}",
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            **merged,
        }
        self._deadlines = _Deadlines()
        self._http = self._client(split.scheme == "http", transport)

    def _client(self, plain: bool, transport: httpx.BaseTransport | None) -> httpx.Client:
        # Redirects are never followed: httpx would send the MODELCTL_HEADERS values on to
        # wherever they point, and read a redirect's body whole. Plain-http hosts (the usual
        # local server) skip loading the CA bundle (~0.1 s per client): they get a TLS context
        # that trusts nothing.
        http = httpx.Client(
            base_url=self._base,
            headers=self._headers,
            auth=self._auth,
            timeout=self._timeout(UNARY_TIMEOUT),
            follow_redirects=False,
            verify=_no_trust_context() if plain else True,
            transport=transport,
        )
        _install_deadlines(http, self._deadlines)
        return http

    # -- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OllamaClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"OllamaClient({self.display_host!r})"

    @property
    def base_url(self) -> str:
        """The server's URL without credentials (what lock files key a host by)."""
        return self._base

    # -- messages -----------------------------------------------------------------------

    def _timeout(self, default_read: float) -> httpx.Timeout:
        read = self._window(default_read)
        return httpx.Timeout(connect=self.connect_timeout, read=read, write=read, pool=self.connect_timeout)

    def _window(self, default: float) -> float:
        return self.timeout if self.timeout is not None else default

    def scrub(self, text: str) -> str:
        """Remove credentials and header secrets, in every form they are sent, from a message."""
        for s in self._secrets:  # before redact(), which could cut a password with a / or @ in two
            if s in text:
                text = text.replace(s, "***")
        return redact(text)

    def _words(self, text: str, limit: int = 500) -> str:
        """The server's words for a message: scrubbed first (a cut must not leave half a secret),
        then cut to ``limit`` characters, on one line."""
        text = self.scrub(text.strip())
        if len(text) > limit:
            text = text[:limit] + "…"
        return _one_line(text)

    def _at(self, path: str) -> str:
        return f"Ollama at {self.display_host}: {path}"

    def _unreachable(self, exc: Exception, seconds: float) -> ServerUnreachable:
        where = self.display_host
        msg = f"cannot reach Ollama at {where} — {_UNREACHABLE_HINT}"
        detail = str(exc)
        if isinstance(exc, httpx.ConnectTimeout):
            msg += f" (connection timed out after {seconds:g} s)"
        elif "CERTIFICATE" in detail or "SSL" in detail or "TLS" in detail:
            msg += f" (TLS error: {self._words(detail, 200)})"
        elif "Name or service not known" in detail or "nodename nor servname" in detail or "getaddrinfo" in detail:
            msg += " (the host name does not resolve)"
        return ServerUnreachable(self.scrub(msg))

    def _expired(self, path: str, clock: _Clock) -> ServerUnreachable:
        if clock.moving:
            msg = (
                f"{self._at(path)} made no progress for {clock.window:g} s (timed out; raise the limit with --timeout)"
            )
        else:
            msg = f"{self._at(path)} timed out after {clock.window:g} s (raise the limit with --timeout)"
        return ServerUnreachable(msg)

    def _transport_error(self, exc: httpx.HTTPError, path: str, clock: _Clock) -> ModelctlError:
        if isinstance(exc, httpx.ConnectTimeout):
            return self._unreachable(exc, min(self.connect_timeout, clock.window))
        if isinstance(exc, httpx.TimeoutException):
            return self._expired(path, clock)
        if isinstance(exc, (httpx.ConnectError, httpx.UnsupportedProtocol)):
            return self._unreachable(exc, self.connect_timeout)
        at, detail = self._at(path), self._words(str(exc), 200)
        if isinstance(exc, httpx.RemoteProtocolError):
            if "peer closed" in detail or "disconnected" in detail:
                # Connected, then the server hung up mid-answer: it failed the request (exit 5).
                return ServerError(f"{at}: the connection was closed before the answer was complete ({detail})")
            return ServerError(f"{at}: the answer is not valid HTTP ({detail})")
        if isinstance(exc, httpx.NetworkError):  # ReadError/WriteError after connecting
            return ServerError(f"{at}: the connection failed mid-request ({type(exc).__name__}: {detail})")
        return ServerError(f"{at}: the request failed ({type(exc).__name__}: {detail})")

    def _http_error(self, resp: httpx.Response, path: str, body: bytes, model: str | None = None) -> ServerError:
        text = body.decode("utf-8", "replace").strip()
        detail = text
        from_server = False  # Ollama's own {"error": ...} answer (not a router's or a proxy's page)
        try:
            obj = loads(text)
        except (ValueError, RecursionError):
            obj = None
        if isinstance(obj, dict) and isinstance(obj.get("error"), str):
            detail = obj["error"]
            from_server = True
        if not detail.strip():
            detail = resp.reason_phrase or "no error message"
        msg = f"{self._at(path)} failed (HTTP {resp.status_code}): {self._words(detail)}"
        if resp.status_code == 404 and model is not None and from_server and "not found" in detail:
            return ModelNotFound(msg, model=model)
        too_long = refusal(detail) if resp.status_code == 400 and from_server else None
        if too_long is not None:
            return PromptTooLong(msg, refusal=too_long)
        if resp.status_code == 404 and not from_server:
            msg += self._no_api_hint(path)
        return ServerError(msg, status=resp.status_code)

    def _no_api_hint(self, path: str) -> str:
        """Gin's plain-text "404 page not found" (Ollama's router, server/routes.go): no such endpoint at
        this address. An address ending in /api (or /v1, the OpenAI-compatible API's) is the usual cause:
        modelctl, like Ollama's own client, adds ``/api/...`` itself."""
        base = self.display_host.rstrip("/")
        for suffix in ("/api", "/v1"):
            if base.endswith(suffix):
                return (
                    f" (the address ends in {suffix}, and modelctl adds {path} itself: use --host / OLLAMA_HOST "
                    f"{base.removesuffix(suffix)})"
                )
        return (
            f" (no Ollama API at {self.display_host}{path}: check the path part of --host / OLLAMA_HOST, "
            "or a proxy in between)"
        )

    def _redirect_error(self, resp: httpx.Response, path: str) -> ServerError:
        where = self._words(resp.headers.get("location", "?"), 200)
        return ServerError(
            f"{self._at(path)} answered with a redirect (HTTP {resp.status_code}) to {where}; "
            "use the final address as --host / OLLAMA_HOST",
            status=resp.status_code,
        )

    def _malformed(self, path: str, line: int | None, detail: str, status: int) -> ServerError:
        kind = "answer" if line is None else f"NDJSON line after {line} line(s)"
        return ServerError(f"{self._at(path)}: malformed {kind}: {detail}", status=status)

    def _object(self, text: str, path: str, status: int, shape: Shape[T], line: int | None) -> T:
        """One JSON answer (or stream line) of the shape ``shape`` expects; ServerError otherwise."""
        try:
            obj = loads(text) if line is None else loads_line(text)
        except BadNumber as exc:
            raise self._malformed(path, line, str(exc), status) from None
        except (ValueError, RecursionError):
            raise self._malformed(path, line, f"not JSON: '{self._words(text, 120)}'", status) from None
        if not isinstance(obj, dict):
            raise self._malformed(path, line, f"expected a JSON object, got {json_type(obj)}", status)
        err = obj.get("error")
        if err:
            # No successful Ollama answer carries "error": the server or a proxy said no.
            raise ServerError(f"{self._at(path)} failed: {self._words(str(err))}", status=status)
        problem = shape.problem(obj)
        if problem is not None:
            raise self._malformed(path, line, self._words(problem), status)
        return shape.read(obj)

    # -- one path for every request -------------------------------------------------------

    @contextlib.contextmanager
    def _guard(self, path: str, clock: _Clock) -> Iterator[None]:
        """Turn every way a request can fail into modelctl's errors, naming host and endpoint."""
        try:
            yield
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, path, clock) from None
        except _Expired:
            raise self._expired(path, clock) from None
        except OverLimit as exc:
            raise ServerError(
                f"{self._at(path)} sent {exc.what} (over the limit; raise it with {exc.limit.env})"
            ) from None
        except _Unreadable as exc:
            raise ServerError(f"{self._at(path)} sent {exc}") from None

    @contextlib.contextmanager
    def _exchange(
        self,
        method: str,
        path: str,
        clock: _Clock,
        *,
        json_body: object = None,
        content: Iterator[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        model: str | None = None,
        ok_statuses: tuple[int, ...] = (),
    ) -> Iterator[httpx.Response]:
        """Send a request and hold its response open (its body unread); errors mapped."""
        with self._guard(path, clock):
            request = self._http.build_request(
                method, path, json=json_body, content=content, headers=headers, timeout=self._timeout(clock.window)
            )
            self._deadlines.at = clock.at
            try:
                resp = self._http.send(request, stream=True)
            finally:
                self._deadlines.at = None
            try:
                if resp.status_code >= 400 and resp.status_code not in ok_statuses:
                    raise self._http_error(resp, path, self._error_body(resp, clock), model)
                if 300 <= resp.status_code < 400:
                    raise self._redirect_error(resp, path)
                yield resp
            finally:
                resp.close()

    def _raw(self, resp: httpx.Response, clock: _Clock) -> Iterator[bytes]:
        """The body as it arrives; no read goes past the deadline."""
        chunks = resp.iter_raw()
        deadlines = self._deadlines
        while True:
            clock.check()
            deadlines.at = clock.at
            try:
                chunk = next(chunks, None)
            finally:
                deadlines.at = None
            if chunk is None:
                return
            yield chunk

    def _body(self, resp: httpx.Response, clock: _Clock) -> Iterator[bytes]:
        """The body decompressed, at most _PIECE bytes at a time."""
        if resp.is_stream_consumed:  # a transport that read (and decoded) it already: httpx.MockTransport
            return iter([resp.content])
        chunks = self._raw(resp, clock)
        for decoder in _decoders(resp.headers):
            chunks = decoder.run(chunks)
        return chunks

    def _read(self, resp: httpx.Response, clock: _Clock) -> bytes:
        """A whole answer, at most ``caps.answer`` bytes after decompression."""
        cap = self.caps.answer
        over = OverLimit(ANSWER_BYTES, f"an answer larger than {human_bytes(cap)}")
        if (_content_length(resp.headers) or 0) > cap and not resp.headers.get("content-encoding"):
            raise over
        out = bytearray()
        for piece in self._body(resp, clock):
            out += piece
            if len(out) > cap:
                raise over
        return bytes(out)

    def _error_body(self, resp: httpx.Response, clock: _Clock) -> bytes:
        """The start of an error answer; what arrived if reading the rest fails."""
        out = bytearray()
        try:
            for piece in self._body(resp, clock):
                out += piece
                if len(out) >= _ERROR_BODY_BYTES:
                    break
        except (httpx.HTTPError, _Expired, _Unreadable):
            pass
        return bytes(out[:_ERROR_BODY_BYTES])

    def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: object = None,
        model: str | None = None,
        ok_statuses: tuple[int, ...] = (),
    ) -> tuple[int, bytes]:
        """A short request: its status and whole answer, within the deadline."""
        clock = _Clock(self._window(UNARY_TIMEOUT), moving=False)
        with self._exchange(method, path, clock, json_body=json_body, model=model, ok_statuses=ok_statuses) as resp:
            return resp.status_code, self._read(resp, clock)

    def _get_json(
        self,
        method: str,
        path: str,
        shape: Shape[T],
        *,
        json_body: object = None,
        model: str | None = None,
    ) -> T:
        status, body = self._call(method, path, json_body=json_body, model=model)
        return self._object(body.decode("utf-8", "replace"), path, status, shape, None)

    def _stream(
        self,
        path: str,
        body: CreateRequest | TransferRequest | GenerateRequest | ChatRequest,
        kind: _StreamKind[T],
        *,
        model: str | None = None,
    ) -> Iterator[T]:
        """POST and yield each NDJSON object of the shape ``kind.check`` expects, as long as the
        stream makes progress within the deadline; check the stream really finished at its end."""
        clock = _Clock(self._window(STREAM_TIMEOUT), moving=True)
        progress = kind.progress(self.caps)
        last: T | None = None
        count = 0
        with self._exchange("POST", path, clock, json_body=body, model=model) as resp:
            status = resp.status_code
            for raw in _ndjson_lines(self._body(resp, clock), self.caps.line):
                if not raw.strip():
                    continue
                obj = self._object(raw.decode("utf-8", "replace"), path, status, kind.shape, count)
                count += 1
                last = obj
                if progress(obj):
                    clock.renew()
                else:
                    clock.check()  # lines that repeat themselves do not keep a stream alive
                yield obj
        if last is None or not kind.is_final(last):
            raise ServerError(
                f"{self._at(path)}: the stream ended before the request finished ({count} line(s) received, "
                f"no final {kind.final} object)"
            )

    # -- endpoints ----------------------------------------------------------------------

    def version(self) -> str:
        """``GET /api/version`` -> e.g. ``"0.12.3"``."""
        return str(self._get_json("GET", "/api/version", VERSION)["version"])

    def require_version(self, minimum: str = MIN_CREATE_VERSION) -> str:
        """The server's version; ServerError asking to upgrade Ollama when it is older than ``minimum``.

        ``0.0.0`` (a development build) and unparseable versions count as new enough.
        """
        return self.check_minimum_version(self.version(), minimum)

    def check_minimum_version(self, v: str, minimum: str = MIN_CREATE_VERSION) -> str:
        """``v`` (this server's version) when it is ``minimum`` or newer; ServerError otherwise."""
        core = parse_version(v)
        if core is None or core == (0, 0, 0):
            return v
        if compare_versions(v, minimum) < 0:
            raise ServerError(
                f"Ollama at {self.display_host} is version {v}; modelctl needs {minimum} or newer "
                f"(the JSON /api/create API). Please upgrade Ollama: https://ollama.com/download"
            )
        return v

    def tags(self) -> TagsResponse:
        """``GET /api/tags``: ``{"models": [...]}`` (every field kept)."""
        return self._get_json("GET", "/api/tags", TAGS)

    def show(self, model: str, *, verbose: bool = False) -> ShowResponse:
        """``POST /api/show``, every field kept (system, messages, tensors...). 404 -> ModelNotFound."""
        body: ShowRequest = {"model": model}
        if verbose:
            body["verbose"] = True
        return self._get_json("POST", "/api/show", SHOW, json_body=body, model=model)

    def show_or_none(self, model: str) -> ShowResponse | None:
        """``show``, or None when the server has no such model."""
        try:
            return self.show(model)
        except ModelNotFound:
            return None

    def ps(self) -> PsResponse:
        """``GET /api/ps``: the loaded models (with ``context_length``, ``size_vram``, ``expires_at``)."""
        return self._get_json("GET", "/api/ps", PS)

    def info(self) -> ServerInfo:
        """Whether the server answers, and its version; never raises for an unreachable server."""
        try:
            return ServerInfo(self.display_host, True, self.version())
        except ModelctlError as exc:
            return ServerInfo(self.display_host, False, None, exc.message)

    def blob_exists(self, digest: str) -> bool:
        """``HEAD /api/blobs/<digest>``: True on 200, False on 404."""
        if not is_digest(digest):
            raise InvalidInput(f"not a blob digest (want sha256:<64 lowercase hex>): {digest!r}")
        status, _ = self._call("HEAD", f"/api/blobs/{digest}", ok_statuses=(404,))
        return status == 200

    def upload_blob(
        self,
        path: str | os.PathLike[str],
        digest: str,
        progress: Callable[[int], None] | None = None,
        *,
        chunk: int = 1 << 20,
    ) -> None:
        """``POST /api/blobs/<digest>`` streaming the file (constant memory).

        ``progress`` is called after each chunk with the number of bytes sent so far
        (cumulative). Each chunk must be sent within the timeout (the upload's progress
        deadline), however long the whole file takes. A digest mismatch (the file changed,
        or a wrong digest) is the server's 400 ``digest mismatch, ...`` -> ServerError.
        """
        if not is_digest(digest):
            raise InvalidInput(f"not a blob digest (want sha256:<64 lowercase hex>): {digest!r}")
        p = Path(path)
        # A regular file only, opened without blocking (a FIFO swapped in since the hash cannot
        # hang), then read buffered through its own descriptor.
        try:
            checked, size = open_regular(p, what="model file")
            with checked:
                f = open(os.dup(checked.fileno()), "rb")  # noqa: SIM115 - closed by the generator below
        except InvalidInput as exc:
            raise InvalidInput(f"cannot read {p}: {exc.message}", file=str(p)) from None
        clock = _Clock(self._window(STREAM_TIMEOUT), moving=True)
        deadlines = self._deadlines

        def body() -> Iterator[bytes]:
            sent = 0
            try:
                while block := f.read(chunk):
                    sent += len(block)
                    clock.renew()  # the previous chunk went out: that was progress
                    deadlines.at = clock.at
                    yield block
                    if progress is not None:
                        progress(sent)
                clock.renew()  # the last chunk went out: the answer has the whole window
                deadlines.at = clock.at
            finally:
                f.close()

        url = f"/api/blobs/{digest}"
        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        try:
            with self._exchange("POST", url, clock, content=body(), headers=headers) as resp:
                self._read(resp, clock)
        except OSError as exc:  # reading the file failed mid-upload
            raise InvalidInput(f"cannot read {p}: {exc.strerror or exc}", file=str(p)) from None
        finally:
            f.close()

    def pull(self, model: str, *, insecure: bool = False) -> Iterator[ProgressLine]:
        """``POST /api/pull`` streaming progress; finished only if the last line says ``success``."""
        body: TransferRequest = {"model": model, "stream": True}
        if insecure:
            body["insecure"] = True
        return self._stream("/api/pull", body, _TRANSFER, model=model)

    def push(self, model: str, *, insecure: bool = False) -> Iterator[ProgressLine]:
        """``POST /api/push`` streaming progress; finished only if the last line says ``success``."""
        body: TransferRequest = {"model": model, "stream": True}
        if insecure:
            body["insecure"] = True
        return self._stream("/api/push", body, _TRANSFER, model=model)

    def create(self, request: CreateRequest) -> Iterator[ProgressLine]:
        """``POST /api/create`` (JSON form) streaming progress.

        Completion is judged at the END of the stream: with an embedded pull of the base
        model ``success`` appears twice. With ``stream: false`` the single answer is yielded.
        """
        return self._stream("/api/create", _own(request), _TRANSFER)

    def generate(self, request: GenerateRequest) -> Iterator[Chunk]:
        """``POST /api/generate``; streams unless ``request["stream"]`` is false. 404 -> ModelNotFound."""
        body = _own(request)
        body.setdefault("stream", True)
        return self._stream("/api/generate", body, _GENERATION, model=body.get("model"))

    def chat(self, request: ChatRequest) -> Iterator[Chunk]:
        """``POST /api/chat``; streams unless ``request["stream"]`` is false. 404 -> ModelNotFound."""
        body = _own(request)
        body.setdefault("stream", True)
        return self._stream("/api/chat", body, _GENERATION, model=body.get("model"))

    def delete(self, model: str) -> None:
        """``DELETE /api/delete``. 404 -> ModelNotFound; a 200 with ``{"error": ...}`` -> ServerError."""
        body: DeleteRequest = {"model": model}
        self._no_answer("DELETE", "/api/delete", body, model)

    def copy(self, source: str, destination: str) -> None:
        """``POST /api/copy``. 404 -> ModelNotFound; a 200 with ``{"error": ...}`` -> ServerError."""
        body: CopyRequest = {"source": source, "destination": destination}
        self._no_answer("POST", "/api/copy", body, source)

    def _no_answer(self, method: str, path: str, body: DeleteRequest | CopyRequest, model: str) -> None:
        """A request whose success is an empty 200 (server/routes.go DeleteHandler, CopyHandler in
        ollama v0.9.3). A body, if any, is judged as every answer is: ``{"error": ...}`` is a
        failure, and what is not a JSON object is malformed (exit 5 either way)."""
        status, raw = self._call(method, path, json_body=body, model=model)
        text = raw.decode("utf-8", "replace")
        if text.strip():
            self._object(text, path, status, ANY_OBJECT, None)

    def official_client(self) -> ollama.Client:
        """An ``ollama.Client`` with this client's host, credentials, headers and timeouts.

        For library users who prefer the official types; modelctl itself does not use it
        (its show()/create() drop fields, see docs/server.md). Importing ``ollama`` costs
        about 0.4 s, hence the lazy import. Its errors are *not* mapped to modelctl's, and
        it has none of the deadlines and caps above.
        """
        import ollama

        return ollama.Client(
            host=self._base,
            headers={k: v for k, v in self._headers.items() if k.lower() not in ("user-agent", "accept-encoding")},
            timeout=self._timeout(STREAM_TIMEOUT),
            auth=self._auth,
        )
