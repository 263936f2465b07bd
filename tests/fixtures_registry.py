"""``live_registry``: a real OCI registry (tests/real_registry.py: Debian's docker-registry behind
nginx's blob redirect) on free loopback ports for the session, or a skip naming the missing
package (under ``CI=true`` a skipped live test fails the run: tests/fixtures_live.py)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests import real_registry


def free_port_run(count: int = 3) -> int:
    """A port P with P..P+count-1 free on loopback (the front, the redirect target, the registry)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + count > 65535:
            continue
        try:
            socks = []
            for p in range(port, port + count):
                sk = socket.socket()
                socks.append(sk)
                sk.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            for sk in socks:
                sk.close()
        return port
    raise RuntimeError("no run of free loopback ports")


@pytest.fixture(scope="session")
def live_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[real_registry.Registry]:
    """A registry Ollama pushes to and pulls from (``insecure``: plain http on 127.0.0.1)."""
    try:
        real_registry.check_installed()
    except real_registry.RegistryMissing as exc:
        pytest.skip(str(exc))
    with real_registry.running(free_port_run(), tmp_path_factory.mktemp("registry")) as reg:
        yield reg
