"""Ollama host addresses, with no network import: ``OLLAMA_HOST`` parsed the way the official client
does (:func:`parse_host`), credentials redacted for printing (:func:`redact`), and a server as the command
line or an inventory names it (:class:`HostSpec`: URL, headers, inventory name, :class:`HostFacts`) or a
job takes it (:data:`HostRef`). Profiles and inventories use this module; ``server`` and ``session``
connect to what it describes.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from modelctl.common.jsontypes import JSONObject
from modelctl.errors import InvalidInput

DEFAULT_PORT = 11434
DEFAULT_HOST = f"http://127.0.0.1:{DEFAULT_PORT}"


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
_USERINFO_RE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,31}://)(?P<userinfo>[^/\s]*)@")


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


@dataclass(frozen=True)
class HostFacts:
    """What a server is configured with that its API does not say (an inventory's ``facts``)."""

    context_length: int | None = None  # OLLAMA_CONTEXT_LENGTH: num_ctx of a model that sets none
    num_parallel: int | None = None  # OLLAMA_NUM_PARALLEL: slots per loaded model
    kv_cache_type: str | None = None  # OLLAMA_KV_CACHE_TYPE
    gpu_memory: int | None = None  # bytes of GPU memory
    gpu_backend: str | None = None  # cuda | rocm | metal
    gpu_overhead: int | None = None  # OLLAMA_GPU_OVERHEAD, bytes
    flash_attention: bool | None = None  # OLLAMA_FLASH_ATTENTION (None: not set, Ollama decides)
    max_loaded_models: int | None = None  # OLLAMA_MAX_LOADED_MODELS (0: automatic, 3 per GPU)

    def to_dict(self) -> JSONObject:
        return {
            "OLLAMA_CONTEXT_LENGTH": self.context_length,
            "OLLAMA_NUM_PARALLEL": self.num_parallel,
            "OLLAMA_KV_CACHE_TYPE": self.kv_cache_type,
            "OLLAMA_FLASH_ATTENTION": self.flash_attention,
            "OLLAMA_MAX_LOADED_MODELS": self.max_loaded_models,
            "OLLAMA_GPU_OVERHEAD": self.gpu_overhead,
            "gpu_memory": self.gpu_memory,
            "gpu_backend": self.gpu_backend,
        }


@dataclass(frozen=True)
class HostSpec:
    """One server: ``url`` (None: ``$OLLAMA_HOST``, else the default), headers (secret: never in
    ``repr`` or output), its inventory ``name`` and ``facts``, and the profiles the inventory gives it
    (``profiles``: names and globs as written, relative to ``base_dir``; None: every profile given)."""

    url: str | None = None
    name: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    facts: HostFacts = field(default_factory=HostFacts)
    profiles: tuple[str, ...] | None = None
    base_dir: str | None = None  # the inventory's folder
    insecure_registries: tuple[str, ...] = ()  # registries it pulls from over http (modelctl.ollama.registry)


#: A server as a job takes it: a URL (``--host``), a HostSpec (an inventory's host), or None.
HostRef = str | HostSpec | None
