"""The ``live`` suite: tests marked ``@pytest.mark.live`` run against a real Ollama server.

The server is ``--ollama-host`` or ``$OLLAMA_HOST``; when nothing answers
``GET /api/version`` within 2 s, the ``live_host`` fixture skips the test and says why.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--ollama-host",
        action="store",
        default=None,
        help="Ollama server for tests marked `live` (default: $OLLAMA_HOST, else http://127.0.0.1:11434)",
    )


def probe(host: str | None, timeout: float = 2.0) -> tuple[str, str | None, str | None]:
    """(normalised url, version or None, error or None) for GET /api/version."""
    from modelctl.server import parse_host, redact

    url = parse_host(host)
    try:
        from modelctl.server import OllamaClient

        with OllamaClient(url, timeout=timeout, connect_timeout=timeout) as c:
            return url, c.version(), None
    except Exception as exc:  # any failure means: no usable server
        return url, None, redact(str(exc))


@pytest.fixture(scope="session")
def live_host(request: pytest.FixtureRequest) -> str:
    """The URL of a reachable Ollama server, or skip."""
    from tests.conftest import LIVE_OLLAMA_HOST

    host = request.config.getoption("--ollama-host") or LIVE_OLLAMA_HOST
    url, version, error = probe(host)
    if version is None:
        from modelctl.server import redact

        pytest.skip(f"no Ollama server answered at {redact(url)}: {error}")
    return url
