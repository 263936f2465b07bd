"""Registries Ollama pulls models from: a model name's registry, the ones served over plain http
(``--insecure-registry HOST[:PORT]``, the inventory's ``insecure_registries``), and the errors a
server gives when it asks an http registry over https.

Ollama asks every registry over https unless the request says ``insecure: true``
(server/images.go ``makeRequest`` at v0.9.3); modelctl sends that only for a registry the user
named. One rule decides which names it covers (:func:`is_insecure`): ``HOST:PORT`` covers that
port, ``HOST`` every port of the host; host names compare case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

#: The tag a model name without one has (types/model/name.go).
DEFAULT_TAG = "latest"

#: A registry as the user names it: a host name, an IPv4 address or a bracketed IPv6 one, then
#: an optional port. No scheme, no path.
_REGISTRY = re.compile(
    r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(?P<port>[0-9]{1,5}))?$"
)

#: What Go says when an https request reaches a plain http server: a Go server answers the TLS
#: hello with an HTTP 400 (``server gave HTTP response to HTTPS client``); another kind of server
#: answers something that is not TLS either (``first record does not look like a TLS handshake``).
_HTTP_REGISTRY_ERRORS = ("server gave http response to https client", "first record does not look like a tls handshake")


def parse_registry(text: str) -> tuple[str, int | None]:
    """``(host lower-cased, port or None)`` of ``HOST[:PORT]``; ValueError saying what is wrong."""
    value = text.strip()
    if "://" in value or "/" in value:
        raise ValueError(f"{text!r}: give the registry as HOST or HOST:PORT, without a scheme or a path")
    m = _REGISTRY.match(value)
    if m is None:
        raise ValueError(f"{text!r} is not a registry host: give HOST or HOST:PORT (e.g. 127.0.0.1:5000)")
    port = m.group("port")
    if port is not None and not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: the port must be from 1 to 65535")
    return m.group("host").lower(), int(port) if port is not None else None


def registry_of(model: str) -> str | None:
    """The registry ``HOST[:PORT]`` of a model name, as Ollama reads names (types/model/name.go
    ``ParseNameBare``: ``[scheme://][host/][namespace/]model[:tag]``, the host only with all three
    parts); None for a name on the default registry."""
    name = model.strip()
    tail = name.rsplit("/", 1)[-1]
    if ":" in tail:  # a tag (a host's port is never after the last slash)
        name = name[: len(name) - len(tail)] + tail.split(":", 1)[0]
    parts = name.split("/")
    if len(parts) < 3:
        return None
    host = "/".join(parts[:-2])
    return host.split("://", 1)[-1] or None


def is_insecure(model: str, registries: Iterable[str]) -> bool:
    """Whether ``model`` is on a registry named in ``registries`` (each ``HOST`` or ``HOST:PORT``):
    the pull then sends ``insecure: true``. ``HOST`` covers every port of that host."""
    where = registry_of(model)
    if where is None:
        return False
    try:
        host, port = parse_registry(where)
    except ValueError:
        return False
    for entry in registries:
        want_host, want_port = parse_registry(entry)
        if want_host == host and (want_port is None or want_port == port):
            return True
    return False


def http_registry_error(message: str) -> bool:
    """Whether a server's pull error says the registry answered plain http to its https request."""
    low = message.lower()
    return any(text in low for text in _HTTP_REGISTRY_ERRORS)


def http_registry_hint(registry: str, action: str = "pull from it") -> str:
    """What to do when a registry answers over plain http: name it with --insecure-registry."""
    return (
        f"the registry {registry} answers over plain http: pass --insecure-registry {registry} "
        f"(or list it under insecure_registries in the inventory) to {action}"
    )


def parse_destination(text: str) -> str:
    """``REGISTRY/NAMESPACE`` checked (a registry ``HOST[:PORT]`` and one namespace), trimmed;
    ValueError saying what is wrong. Models pushed there are ``REGISTRY/NAMESPACE/NAME:TAG``."""
    if "://" in text:
        raise ValueError("give REGISTRY/NAMESPACE without a scheme (e.g. 127.0.0.1:5000/team)")
    registry, _, namespace = text.strip().strip("/").partition("/")
    parse_registry(registry)
    if not namespace or "/" in namespace or ":" in namespace:
        raise ValueError("give REGISTRY/NAMESPACE (e.g. 127.0.0.1:5000/team)")
    return f"{registry}/{namespace}"


def reference_for(model: str, destination: str, tag: str | None = None) -> str:
    """``DESTINATION/NAME:TAG`` for a model named ``[...]/NAME[:TAG]`` (its own tag, else ``latest``)."""
    last = model.rsplit("/", 1)[-1]
    name, _, own_tag = last.partition(":")
    return f"{destination}/{name}:{tag or own_tag or DEFAULT_TAG}"


@dataclass(frozen=True)
class RegistrySpec:
    """An inventory's ``registry``: where a ``--via-registry`` build ships models
    (``destination`` is ``HOST[:PORT]/NAMESPACE``), and whether it is served over plain http."""

    destination: str
    insecure: bool = False

    @property
    def host(self) -> str:
        """``HOST[:PORT]``: the name ``insecure_registries`` lists."""
        return self.destination.split("/", 1)[0]

    def reference(self, model: str) -> str:
        """Where ``model`` goes on this registry (:func:`reference_for`)."""
        return reference_for(model, self.destination)
