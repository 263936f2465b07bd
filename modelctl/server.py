"""The one place that talks HTTP to an Ollama server.

Everything network-related lives here: host resolution (the official Python client's
rules, plus ``0.0.0.0`` -> loopback like Ollama's own CLI), credentials and extra
headers (sent, never printed), timeouts, NDJSON streaming, and the mapping of every
failure onto modelctl's error hierarchy:

* cannot connect / connect or read timeout  -> :class:`ServerUnreachable` (exit 4)
* an HTTP error status, an ``{"error": ...}`` line inside a 200 stream, a malformed
  NDJSON line, a stream that ends before its final object -> :class:`ServerError` (exit 5)
* 404 for a model -> :class:`ModelNotFound` (a ServerError)

All requests go through one ``httpx.Client`` (see docs/server.md for why the official
``ollama`` client is not used on the CLI path). This module imports httpx at module
level, so only commands that talk to a server import it, inside their body.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import math
import os
import re
import ssl
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from modelctl import __version__
from modelctl.errors import InvalidInput, ModelctlError, ServerError, ServerUnreachable
from modelctl.wire import MalformedAnswer, compare_versions, is_digest, parse_parameters, parse_version

if TYPE_CHECKING:  # pragma: no cover
    import ollama

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_HOST",
    "MIN_CREATE_VERSION",
    "ModelNotFound",
    "OllamaClient",
    "STREAM_TIMEOUT",
    "ServerInfo",
    "UNARY_TIMEOUT",
    "parse_headers",
    "parse_host",
    "redact",
]

DEFAULT_PORT = 11434
DEFAULT_HOST = f"http://127.0.0.1:{DEFAULT_PORT}"

#: Seconds to establish a TCP (and TLS) connection. A local server answers in
#: milliseconds; a long wait here only delays the "is ollama serve running?" hint.
CONNECT_TIMEOUT = 5.0
#: Default read timeout for short requests (version, tags, show, ps, blob HEAD, delete, copy).
UNARY_TIMEOUT = 30.0
#: Default read timeout for streams and uploads (create, pull, generate, chat, blob POST).
#: It bounds the silence *between* two NDJSON lines, not the whole request: loading a
#: large model or quantizing can take minutes before the next line arrives.
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


# --------------------------------------------------------------------------- host, redaction


def parse_host(value: str | None) -> str:
    """Normalise an Ollama host the way the official Python client does, keeping credentials.

    ``None``/empty -> ``http://127.0.0.1:11434``; a bare host gets port 11434; ``:PORT``
    alone means 127.0.0.1; ``http://`` without a port means 80 and ``https://`` 443; IPv6
    addresses are bracketed; a trailing ``/`` is stripped; a path is kept. Unlike the
    Python client (but like Ollama's Go CLI) the unspecified addresses ``0.0.0.0`` and
    ``::`` become loopback, since ``OLLAMA_HOST=0.0.0.0`` is how servers are told to
    *listen* on every interface. ``user:pass@`` is kept in the result (it is sent as
    HTTP basic auth); print :func:`redact` of it, never the value itself.
    """
    text = (value or "").strip()
    port = DEFAULT_PORT
    scheme, sep, hostport = text.partition("://")
    if not sep:
        scheme, hostport = "http", text
    else:
        scheme = scheme.lower()
        if scheme == "http":
            port = 80
        elif scheme == "https":
            port = 443
        else:
            raise InvalidInput(
                f"unsupported scheme {scheme!r} in Ollama host {_redact_host(text)!r} (use http:// or https://)",
                field="host",
            )
    try:  # a bare IPv6 address ("::1") is accepted, bracketed
        if ipaddress.ip_address(hostport).version == 6:
            hostport = f"[{hostport}]"
    except ValueError:
        pass
    try:
        split = urllib.parse.urlsplit(f"{scheme}://{hostport}")
        host = split.hostname or "127.0.0.1"
        port = split.port or port
        if "@" in hostport and split.username is None and split.password is None:
            # The @ ended up in the path, query or fragment: a user name or password with an
            # unescaped / ? or #. Connecting elsewhere (and printing the "path") would leak it.
            raise ValueError("credentials")
    except ValueError as exc:  # e.g. a port that is not a number or out of range
        if "@" in hostport:
            # urllib's message may quote a piece of the password (e.g. as the "port").
            raise InvalidInput(
                f"invalid Ollama host {_redact_host(text)!r}: percent-encode any / ? # @ : "
                "in its user name or password",
                field="host",
            ) from None
        raise InvalidInput(f"invalid Ollama host {_redact_host(text)!r}: {exc}", field="host") from None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None and ip.is_unspecified:
        host = "127.0.0.1" if ip.version == 4 else "::1"
    if ip is not None and ip.version == 6:
        host = f"[{host}]"
    userinfo = ""
    if split.username is not None or split.password is not None:
        userinfo = split.username or ""
        if split.password is not None:
            userinfo += ":" + split.password
        userinfo += "@"
    base = f"{scheme}://{userinfo}{host}:{port}"
    path = split.path.strip("/")
    return f"{base}/{path}" if path else base


# Greedy up to the last @ before a / or a space: a password may hold an unescaped @.
_USERINFO_RE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s]*)@")


def redact(url_or_text: str) -> str:
    """Replace the ``user:password@`` part of every URL in the text by ``***@``."""
    return _USERINFO_RE.sub(lambda m: f"{m.group('scheme')}***@", url_or_text)


def _redact_host(text: str) -> str:
    """Redact userinfo in a host as typed (the scheme may be missing)."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    if "@" in rest:
        # Everything before the last @ may be (a piece of) the credentials, even past a
        # / ? or # that the user forgot to percent-encode.
        return f"{scheme}{sep}***@{rest.rsplit('@', 1)[1]}"
    return f"{scheme}{sep}{rest}"


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


# --------------------------------------------------------------------------- the client


@functools.lru_cache(maxsize=1)
def _no_trust_context() -> ssl.SSLContext:
    """A client TLS context with no trusted CAs: any https connection through it fails."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _ndjson_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Split a byte stream at LF only.

    httpx's ``iter_lines`` splits like ``str.splitlines``, also at U+0085, U+2028 and
    U+2029, which Ollama's JSON encoder may leave unescaped inside strings (model output).
    """
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        start = 0
        while (end := buf.find(b"\n", start)) >= 0:
            yield bytes(buf[start:end])
            start = end + 1
        del buf[:start]
    if buf:
        yield bytes(buf)


# -- the shapes modelctl reads: anything else is the server's fault (exit 5), never a crash later

_SHOW_FIELDS: dict[str, type] = {
    "parameters": str, "template": str, "system": str, "license": str, "modelfile": str, "requires": str,
    "details": dict, "model_info": dict, "tensors": list, "capabilities": list, "messages": list,
}  # fmt: skip
_ENTRY_FIELDS: dict[str, type] = {
    "name": str, "model": str, "digest": str, "details": dict, "expires_at": str, "capabilities": list,
    "size": int, "size_vram": int, "context_length": int,
}  # fmt: skip
_CHUNK_FIELDS: dict[str, type] = {
    "response": str, "thinking": str, "message": dict, "done": bool, "done_reason": str,
    "total_duration": int, "load_duration": int, "prompt_eval_count": int, "prompt_eval_duration": int,
    "eval_count": int, "eval_duration": int,
}  # fmt: skip
_PROGRESS_FIELDS: dict[str, type] = {"status": str, "digest": str, "total": int, "completed": int}


def _wrong_field(obj: Mapping[str, Any], fields: Mapping[str, type]) -> str | None:
    """The first field whose value is not of the expected JSON type (null counts as absent)."""
    for key, kind in fields.items():
        value = obj.get(key)
        if value is None:
            continue
        if kind is int and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"{key!r} is {_json_type(value)}, expected a number"
        if kind is not int and not isinstance(value, kind):
            return f"{key!r} is {_json_type(value)}, expected {_json_type(kind())}"
    return None


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "a number" if isinstance(value, (int, float)) else "null"


def _check_show(obj: dict[str, Any]) -> str | None:
    problem = _wrong_field(obj, _SHOW_FIELDS)
    if problem is None:
        for m in obj.get("messages") or []:
            if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
                return "'messages' holds an entry that is not {role, content} strings"
    if problem is None:
        try:
            parse_parameters(obj.get("parameters"))
        except MalformedAnswer as exc:
            return f"'parameters' cannot be read: {exc}"
    return problem


def _check_listing(obj: dict[str, Any]) -> str | None:
    models = obj.get("models")
    if models is None:
        return None
    if not isinstance(models, list):
        return f"'models' is {_json_type(models)}, expected an array"
    for entry in models:
        if not isinstance(entry, dict):
            return "'models' holds an entry that is not an object"
        problem = _wrong_field(entry, _ENTRY_FIELDS)
        if problem is not None:
            return f"a model entry's {problem}"
    return None


def _check_chunk(obj: dict[str, Any]) -> str | None:
    problem = _wrong_field(obj, _CHUNK_FIELDS)
    message = obj.get("message")
    if problem is None and isinstance(message, dict):
        problem = _wrong_field(message, {"role": str, "content": str, "thinking": str})
    return problem


def _check_progress(obj: dict[str, Any]) -> str | None:
    return _wrong_field(obj, _PROGRESS_FIELDS)


def _is_final_progress(obj: dict[str, Any]) -> bool:
    return obj.get("status") == "success"


def _is_final_generation(obj: dict[str, Any]) -> bool:
    return obj.get("done") is True


@dataclass
class ServerInfo:
    """Who answered: the host (credentials redacted), whether it answered, its version, and why not."""

    host: str | None
    reachable: bool = False
    version: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "reachable": self.reachable, "version": self.version, "reason": self.reason}


class OllamaClient:
    """A small, typed client for the parts of Ollama's REST API modelctl uses.

    ``host``: ``--host`` value, else ``$OLLAMA_HOST``, else the default. ``timeout``: the
    read timeout in seconds for every request (``--timeout``); when ``None`` short
    requests get :data:`UNARY_TIMEOUT` and streams/uploads :data:`STREAM_TIMEOUT`.
    ``headers``: extra headers, merged over ``$MODELCTL_HEADERS``; ``$OLLAMA_API_KEY``
    adds ``Authorization: Bearer`` unless an authorization header is given.
    ``transport`` is for tests.
    """

    def __init__(
        self,
        host: str | None = None,
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
            raise InvalidInput(f"--timeout must be a finite number of seconds above 0, not {timeout}", field="timeout")
        raw = host if host else os.environ.get("OLLAMA_HOST")
        full = parse_host(raw)
        split = urllib.parse.urlsplit(full)
        self._auth: httpx.BasicAuth | None = None
        self._secrets: list[str] = []
        if split.username is not None or split.password is not None:
            user = urllib.parse.unquote(split.username or "")
            password = urllib.parse.unquote(split.password or "")
            self._auth = httpx.BasicAuth(user, password)
            # Scrub the password from free text; the user name is not secret (and too common a word).
            self._secrets += [s for s in (split.password, password) if s]
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
        for k, v in merged.items():
            if v and k.lower() not in ("user-agent", "accept", "content-type"):
                self._secrets.append(v)
                if k.lower() == "authorization" and " " in v:
                    self._secrets.append(v.split(" ", 1)[1])
        self._secrets = sorted({s for s in self._secrets if len(s) >= 3}, key=len, reverse=True)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._headers = {"User-Agent": f"modelctl/{__version__}", "Accept": "application/json", **merged}
        # Plain-http hosts (the usual local server) skip loading the CA bundle (~0.1 s per
        # client): they get a TLS context that trusts nothing and redirects are not
        # followed, so a redirect to https fails loudly instead of going out unverified.
        plain = split.scheme == "http"
        self._http = httpx.Client(
            base_url=self._base,
            headers=self._headers,
            auth=self._auth,
            timeout=self._timeout(UNARY_TIMEOUT),
            follow_redirects=not plain,
            verify=_no_trust_context() if plain else True,
            transport=transport,
        )

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

    # -- helpers ------------------------------------------------------------------------

    def _timeout(self, default_read: float) -> httpx.Timeout:
        read = self.timeout if self.timeout is not None else default_read
        return httpx.Timeout(connect=self.connect_timeout, read=read, write=read, pool=self.connect_timeout)

    def _read_seconds(self, default_read: float) -> float:
        return self.timeout if self.timeout is not None else default_read

    def scrub(self, text: str) -> str:
        """Remove credentials and header secrets from a message before anyone sees it."""
        text = redact(text)
        for s in self._secrets:
            text = text.replace(s, "***")
        return text

    def _unreachable(self, exc: Exception, seconds: float) -> ServerUnreachable:
        where = self.display_host
        if isinstance(exc, httpx.ConnectTimeout):
            msg = (
                f'cannot reach Ollama at {where} — is "ollama serve" running? '
                f"(connection timed out after {seconds:g} s)"
            )
        elif isinstance(exc, httpx.TimeoutException):
            msg = f"Ollama at {where} timed out after {seconds:g} s without answering (raise the limit with --timeout)"
        else:
            msg = f"cannot reach Ollama at {where} — {_UNREACHABLE_HINT}"
            detail = str(exc)
            if "CERTIFICATE" in detail or "SSL" in detail or "TLS" in detail:
                msg += f" (TLS error: {detail[:200]})"
            elif (
                "Name or service not known" in detail or "nodename nor servname" in detail or ("getaddrinfo" in detail)
            ):
                msg += " (the host name does not resolve)"
        return ServerUnreachable(self.scrub(msg))

    def _transport_error(self, exc: httpx.HTTPError, path: str, default_read: float) -> Exception:
        if isinstance(exc, httpx.ConnectTimeout):
            return self._unreachable(exc, self.connect_timeout)
        if isinstance(exc, httpx.TimeoutException):
            return self._unreachable(exc, self._read_seconds(default_read))
        if isinstance(exc, (httpx.ConnectError, httpx.UnsupportedProtocol)):
            return self._unreachable(exc, self.connect_timeout)
        if isinstance(exc, httpx.RemoteProtocolError):
            # Connected, then the server hung up mid-answer: it failed the request (exit 5).
            return ServerError(
                self.scrub(
                    f"{path}: the connection to Ollama at {self.display_host} was closed "
                    f"before the answer was complete ({exc})"
                ),
            )
        if isinstance(exc, httpx.NetworkError):  # ReadError/WriteError after connecting
            return ServerError(
                self.scrub(
                    f"{path}: the connection to Ollama at {self.display_host} failed "
                    f"mid-request ({type(exc).__name__}: {exc})"
                ),
            )
        return ServerError(self.scrub(f"{path}: request to Ollama failed ({type(exc).__name__}: {exc})"))

    def _http_error(self, resp: httpx.Response, path: str, body: bytes, model: str | None = None) -> ServerError:
        text = body.decode("utf-8", "replace").strip()
        detail = text
        from_server = False  # Ollama's own {"error": ...} answer (not a router's or a proxy's page)
        try:
            obj = json.loads(text)
            if isinstance(obj, dict) and isinstance(obj.get("error"), str):
                detail = obj["error"]
                from_server = True
        except json.JSONDecodeError:
            pass
        if not detail:
            detail = resp.reason_phrase or "no error message"
        if len(detail) > 500:
            detail = detail[:500] + "…"
        msg = f"{path} failed (HTTP {resp.status_code}): {detail}"
        if resp.status_code == 404 and model is not None and from_server and "not found" in detail:
            return ModelNotFound(self.scrub(msg), model=model)
        if resp.status_code == 404 and not from_server:
            # Gin's plain "404 page not found": no such endpoint at this address.
            msg += (
                f" (no Ollama API at {self.display_host}{path}: check the path part of "
                "--host / OLLAMA_HOST, or a proxy in between)"
            )
        return ServerError(self.scrub(msg), status=resp.status_code)

    def _redirect_error(self, resp: httpx.Response, path: str) -> ServerError:
        where = resp.headers.get("location", "?")
        return ServerError(
            self.scrub(
                f"{path}: Ollama at {self.display_host} answered with a redirect (HTTP {resp.status_code}) "
                f"to {where}; use the final address as --host / OLLAMA_HOST"
            ),
            status=resp.status_code,
        )

    def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        model: str | None = None,
        ok_statuses: tuple[int, ...] = (),
        default_read: float = UNARY_TIMEOUT,
    ) -> httpx.Response:
        try:
            resp = self._http.request(method, path, json=json_body, timeout=self._timeout(default_read))
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, path, default_read) from None
        if resp.status_code >= 400 and resp.status_code not in ok_statuses:
            raise self._http_error(resp, path, resp.content, model)
        if resp.is_redirect:
            raise self._redirect_error(resp, path)
        return resp

    def _json(
        self, resp: httpx.Response, path: str, check: Callable[[dict[str, Any]], str | None] | None = None
    ) -> dict[str, Any]:
        """The answer as a JSON object of the shape ``check`` expects; ServerError otherwise."""
        try:
            obj = json.loads(resp.content)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise ServerError(
                self.scrub(f"{path}: Ollama answered with something that is not JSON: {resp.text[:200]!r}"),
                status=resp.status_code,
            ) from None
        if not isinstance(obj, dict):
            raise ServerError(f"{path}: expected a JSON object from Ollama, got {_json_type(obj)}")
        err = obj.get("error")
        if err:
            # No successful Ollama answer carries "error": a proxy or a broken server said no.
            raise ServerError(self.scrub(f"{path} failed: {str(err)[:500]}"), status=resp.status_code)
        problem = check(obj) if check is not None else None
        if problem is not None:
            raise ServerError(self.scrub(f"{path}: malformed answer from Ollama: {problem}"), status=resp.status_code)
        return obj

    def _stream(
        self,
        path: str,
        body: dict[str, Any],
        is_final: Callable[[dict[str, Any]], bool],
        *,
        check: Callable[[dict[str, Any]], str | None],
        model: str | None = None,
        default_read: float = STREAM_TIMEOUT,
    ) -> Iterator[dict[str, Any]]:
        """POST and yield each NDJSON object of the shape ``check`` expects; check the stream
        really finished at its end."""
        last: dict[str, Any] | None = None
        count = 0
        try:
            with self._http.stream("POST", path, json=body, timeout=self._timeout(default_read)) as resp:
                if resp.status_code >= 400:
                    raise self._http_error(resp, path, resp.read(), model)
                if resp.is_redirect:
                    raise self._redirect_error(resp, path)
                for raw in _ndjson_lines(resp.iter_bytes()):
                    line = raw.decode("utf-8", "replace")
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except (json.JSONDecodeError, RecursionError):
                        shown = line if len(line) <= 120 else line[:120] + "…"
                        raise ServerError(
                            self.scrub(f"{path}: malformed NDJSON line from Ollama after {count} line(s): {shown!r}"),
                            status=resp.status_code,
                        ) from None
                    if not isinstance(obj, dict):
                        raise ServerError(
                            self.scrub(f"{path}: Ollama sent a non-object NDJSON line: {line[:120]!r}"),
                            status=resp.status_code,
                        )
                    err = obj.get("error")
                    if err:
                        raise ServerError(self.scrub(f"{path} failed: {err}"), status=resp.status_code)
                    problem = check(obj)
                    if problem is not None:
                        raise ServerError(
                            self.scrub(f"{path}: malformed line from Ollama after {count} line(s): {problem}"),
                            status=resp.status_code,
                        )
                    count += 1
                    last = obj
                    yield obj
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, path, default_read) from None
        if last is None or not is_final(last):
            raise ServerError(
                self.scrub(
                    f"{path}: the stream from Ollama at {self.display_host} ended before the request "
                    f"finished ({count} line(s) received, no final "
                    f"{'done' if is_final is _is_final_generation else 'success'} object)"
                )
            )

    # -- endpoints ----------------------------------------------------------------------

    def version(self) -> str:
        """``GET /api/version`` -> e.g. ``"0.12.3"``."""
        obj = self._json(self._request("GET", "/api/version"), "/api/version")
        v = obj.get("version")
        if not isinstance(v, str):
            raise ServerError("/api/version: the answer has no version string")
        return v

    def require_version(self, minimum: str = MIN_CREATE_VERSION) -> str:
        """The server's version; ServerError asking to upgrade Ollama when it is older than ``minimum``.

        ``0.0.0`` (a development build) and unparseable versions count as new enough.
        """
        return self.check_version(self.version(), minimum)

    def check_version(self, v: str, minimum: str = MIN_CREATE_VERSION) -> str:
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

    def tags(self) -> dict[str, Any]:
        """``GET /api/tags``: ``{"models": [...]}`` (every field kept)."""
        return self._json(self._request("GET", "/api/tags"), "/api/tags", _check_listing)

    def show(self, model: str, *, verbose: bool = False) -> dict[str, Any]:
        """``POST /api/show``, every field kept (system, messages, tensors...). 404 -> ModelNotFound."""
        body: dict[str, Any] = {"model": model}
        if verbose:
            body["verbose"] = True
        return self._json(self._request("POST", "/api/show", json_body=body, model=model), "/api/show", _check_show)

    def show_or_none(self, model: str) -> dict[str, Any] | None:
        """``show``, or None when the server has no such model."""
        try:
            return self.show(model)
        except ModelNotFound:
            return None

    def ps(self) -> dict[str, Any]:
        """``GET /api/ps``: the loaded models (with ``context_length``, ``size_vram``, ``expires_at``)."""
        return self._json(self._request("GET", "/api/ps"), "/api/ps", _check_listing)

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
        resp = self._request("HEAD", f"/api/blobs/{digest}", ok_statuses=(404,))
        return resp.status_code == 200

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
        (cumulative). A digest mismatch (the file changed, or a wrong digest) is the
        server's 400 ``digest mismatch, ...`` -> ServerError.
        """
        if not is_digest(digest):
            raise InvalidInput(f"not a blob digest (want sha256:<64 lowercase hex>): {digest!r}")
        p = Path(path)
        try:
            size = p.stat().st_size
            f = open(p, "rb")  # noqa: SIM115 - closed by the generator below
        except OSError as exc:
            raise InvalidInput(f"cannot read {p}: {exc.strerror or exc}", file=str(p)) from None

        def body() -> Iterator[bytes]:
            sent = 0
            try:
                while True:
                    block = f.read(chunk)
                    if not block:
                        break
                    sent += len(block)
                    yield block
                    if progress is not None:
                        progress(sent)
            finally:
                f.close()

        url = f"/api/blobs/{digest}"
        try:
            resp = self._http.post(
                url,
                content=body(),
                headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
                timeout=self._timeout(STREAM_TIMEOUT),
            )
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, url, STREAM_TIMEOUT) from None
        except OSError as exc:  # reading the file failed mid-upload
            raise InvalidInput(f"cannot read {p}: {exc.strerror or exc}", file=str(p)) from None
        finally:
            f.close()
        if resp.status_code >= 400:
            raise self._http_error(resp, url, resp.content)
        if resp.is_redirect:
            raise self._redirect_error(resp, url)

    def pull(self, model: str, *, insecure: bool = False) -> Iterator[dict[str, Any]]:
        """``POST /api/pull`` streaming progress; finished only if the last line says ``success``."""
        body: dict[str, Any] = {"model": model, "stream": True}
        if insecure:
            body["insecure"] = True
        return self._stream("/api/pull", body, _is_final_progress, check=_check_progress, model=model)

    def create(self, request: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """``POST /api/create`` (JSON form) streaming progress.

        Completion is judged at the END of the stream: with an embedded pull of the base
        model ``success`` appears twice. With ``stream: false`` the single answer is yielded.
        """
        return self._stream("/api/create", dict(request), _is_final_progress, check=_check_progress)

    def generate(self, request: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """``POST /api/generate``; streams unless ``request["stream"]`` is false. 404 -> ModelNotFound."""
        body = dict(request)
        body.setdefault("stream", True)
        return self._stream("/api/generate", body, _is_final_generation, check=_check_chunk, model=body.get("model"))

    def chat(self, request: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """``POST /api/chat``; streams unless ``request["stream"]`` is false. 404 -> ModelNotFound."""
        body = dict(request)
        body.setdefault("stream", True)
        return self._stream("/api/chat", body, _is_final_generation, check=_check_chunk, model=body.get("model"))

    def delete(self, model: str) -> None:
        """``DELETE /api/delete``. 404 -> ModelNotFound."""
        self._request("DELETE", "/api/delete", json_body={"model": model}, model=model)

    def copy(self, source: str, destination: str) -> None:
        """``POST /api/copy``. 404 -> ModelNotFound."""
        self._request("POST", "/api/copy", json_body={"source": source, "destination": destination}, model=source)

    def official_client(self) -> ollama.Client:
        """An ``ollama.Client`` with this client's host, credentials, headers and timeouts.

        For library users who prefer the official types; modelctl itself does not use it
        (its show()/create() drop fields, see docs/server.md). Importing ``ollama`` costs
        about 0.4 s, hence the lazy import. Its errors are *not* mapped to modelctl's.
        """
        import ollama

        return ollama.Client(
            host=self._base,
            headers={k: v for k, v in self._headers.items() if k.lower() != "user-agent"},
            timeout=self._timeout(STREAM_TIMEOUT),
            auth=self._auth,
        )
