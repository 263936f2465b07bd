"""A model tag's current manifest digest, asked of the registry it comes from.

A model name reads as Ollama reads it (types/model/name.go ``ParseNameBare`` at v0.9.3):
``[host/][namespace/]model[:tag]``, the host ``registry.ollama.ai``, the namespace ``library``
and the tag ``latest`` when left out. The registry is asked as any OCI distribution registry:
``HEAD /v2/<namespace>/<model>/manifests/<tag>`` with Ollama's manifest media type
(``application/vnd.docker.distribution.manifest.v2+json``, server/images.go), its
``Docker-Content-Digest`` the answer; a registry that gives no such header (Ollama's own has
answered without one) is asked ``GET`` and the digest is the SHA-256 of the manifest's bytes.

That digest is what Ollama's ``/api/tags`` reports for the model on a server that pulled it: a
pull writes the manifest it received (server/images.go ``PullModel``), so the two agree
(tests/test_live_registry.py checks it on a real registry). On the server that *pushed* it the
local digest differs: compare a pulled copy's digest with the registry's, never a pushing one's.

An https registry is asked over https; one named by ``--insecure-registry`` over http. A
registry that cannot be reached is :class:`ServerUnreachable` (exit 4); one that answers with
an error (no such tag, authentication wanted) is :class:`ServerError` (exit 5).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from modelctl.errors import InvalidInput, ServerError, ServerUnreachable
from modelctl.ollama._httpx import httpx
from modelctl.ollama.registry import DEFAULT_TAG, http_registry_hint, is_insecure

DEFAULT_REGISTRY = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
#: Media types a registry may hold a manifest under (OCI's beside Docker's).
ACCEPT = f"{MANIFEST_V2}, application/vnd.oci.image.manifest.v1+json"


@dataclass(frozen=True)
class ManifestRef:
    """Where a model tag's manifest is: registry ``host[:port]``, ``namespace/model`` and tag."""

    registry: str
    repository: str
    tag: str

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"

    def url(self, insecure: bool) -> str:
        scheme = "http" if insecure else "https"
        return f"{scheme}://{self.registry}/v2/{self.repository}/manifests/{self.tag}"


def manifest_ref(model: str) -> ManifestRef:
    """The manifest's place for a model name (Ollama's defaults filled in); InvalidInput for a name
    with more parts than ``host/namespace/model``."""
    name = model.strip().split("://", 1)[-1]
    tag = DEFAULT_TAG
    head, _, tail = name.rpartition("/")
    if ":" in tail:
        tail, tag = tail.split(":", 1)
    parts = [*(head.split("/") if head else []), tail]
    if len(parts) > 3 or not all(parts) or not tag:
        raise InvalidInput(f"{model!r} is not a model name of the form [host/][namespace/]model[:tag]")
    if len(parts) == 1:
        parts = [DEFAULT_NAMESPACE, *parts]
    if len(parts) == 2:
        parts = [DEFAULT_REGISTRY, *parts]
    return ManifestRef(parts[0].lower(), f"{parts[1]}/{parts[2]}", tag)


def normal_digest(digest: str | None) -> str | None:
    """``sha256:<hex>`` for a digest given with or without its algorithm (``/api/tags`` gives bare hex)."""
    if not digest:
        return None
    return digest if ":" in digest else f"sha256:{digest}"


def registry_client(timeout: float = 30.0) -> httpx.Client:
    """One connection pool for several :func:`manifest_digest` questions (thread-safe)."""
    return httpx.Client(timeout=timeout, follow_redirects=True)


def manifest_digest(
    model: str, *, insecure_registries: Iterable[str] = (), timeout: float = 30.0, client: httpx.Client | None = None
) -> str:
    """The registry's current manifest digest (``sha256:<hex>``) for ``model``'s tag."""
    ref = manifest_ref(model)
    insecure = is_insecure(ref.name, insecure_registries)
    url = ref.url(insecure)
    owned = client is None
    http = client if client is not None else registry_client(timeout)
    try:
        headers = {"Accept": ACCEPT}
        try:
            resp = http.head(url, headers=headers)
            digest = resp.headers.get("Docker-Content-Digest") if resp.status_code == 200 else None
            if digest is None:
                resp = http.get(url, headers=headers)
                _check(resp.status_code, ref, url)
                digest = "sha256:" + hashlib.sha256(resp.content).hexdigest()
        except httpx.TransportError as exc:
            hint = f" ({http_registry_hint(ref.registry, 'ask it')})" if not insecure and _tls_refused(exc) else ""
            raise ServerUnreachable(f"the registry {ref.registry} cannot be reached ({url}): {exc}{hint}") from None
        return str(digest)
    finally:
        if owned:
            http.close()


def _tls_refused(exc: Exception) -> bool:
    """Whether an https request failed because the registry speaks plain http."""
    text = str(exc).lower()
    return "wrong_version_number" in text or "wrong version number" in text or "record layer failure" in text


def _check(status: int, ref: ManifestRef, url: str) -> None:
    if status == 200:
        return
    if status == 404:
        raise ServerError(f"the registry {ref.registry} has no {ref.repository}:{ref.tag} ({url}: 404)", status=404)
    if status in (401, 403):
        raise ServerError(
            f"the registry {ref.registry} refused to show {ref.repository}:{ref.tag} ({url}: {status}; "
            "modelctl asks registries without credentials)",
            status=status,
        )
    raise ServerError(f"the registry {ref.registry} answered {status} for {url}", status=status)
