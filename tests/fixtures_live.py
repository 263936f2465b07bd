"""The ``live`` suite: tests marked ``@pytest.mark.live`` run against a real Ollama server.

The server is ``--ollama-host`` or ``$OLLAMA_HOST``; when nothing answers
``GET /api/version`` within 2 s, the ``live_host`` fixture skips the test and says why.

* ``--ollama-log FILE``: the log of the server under test (``live_log``), so a test can read
  what the server did; by default the log of a server ``tests.real_ollama`` started on that port.
* ``second_live_host``: a second real server, started from the provisioned install
  (tests/real_ollama.py) on a free loopback port with its own models folder, for fleets.
* ``live_names``: model names a test creates on ``live_host``, deleted at its end;
  :func:`create_model` creates one from a local GGUF file through ``/api/create`` (a
  "library" base: a model under a library-like name that profiles name in ``from:``).

**Skips fail CI.** Under ``CI=true`` a run that selects live tests (``-m live``) turns every
skipped live test into a failure: a broken provisioning (no server, no log, no install) must
not pass silently. Plain ``pytest`` (no ``-m``) still passes, the live tests skipping with the
reason. The live tests share one server, so they run serially: pyproject's ``-n auto`` gives a
live run no workers, and ``-m live`` with an explicit ``-n N`` is a usage error.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import real_ollama

#: The provisioned server's install folder, read before any test isolates the environment.
REAL_OLLAMA_INSTALL = real_ollama.default_dir()

_STRICT_KEY = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--ollama-host",
        action="store",
        default=None,
        help="Ollama server for tests marked `live` (default: $OLLAMA_HOST, else http://127.0.0.1:11434)",
    )
    parser.addoption(
        "--ollama-log",
        action="store",
        default=None,
        metavar="FILE",
        help="the log of the --ollama-host server, for live tests that read what it did "
        "(default: the log of a server `python -m tests.real_ollama start` runs on that port)",
    )


def ci_strict() -> bool:
    """``CI`` is set to a true value (``true``, ``1``, ``yes``)."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def selects_live(markexpr: str) -> bool:
    """Whether ``-m MARKEXPR`` selects a test marked only ``live`` (``live``, ``live and not slow``)."""
    if not markexpr.strip():
        return False
    from _pytest.mark.expression import Expression

    try:
        return bool(Expression.compile(markexpr).evaluate(lambda name, **_: name == "live"))
    except Exception:  # an expression pytest itself rejects later; be strict only when it is plain
        return markexpr.strip() == "live"


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto`` (pyproject's addopts) gives a live run no workers: it shares one server."""
    return 0 if selects_live(config.getoption("markexpr", "") or "") else None


def pytest_configure(config: pytest.Config) -> None:
    live_run = selects_live(config.getoption("markexpr", "") or "")
    config.stash[_STRICT_KEY] = live_run and ci_strict()
    workers = getattr(config.option, "numprocesses", None)
    if live_run and workers and not hasattr(config, "workerinput"):
        raise pytest.UsageError("the live suite shares one server and runs serially: drop -n")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker("live") is not None
        and item.config.stash.get(_STRICT_KEY, False)
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"a live test skipped under CI=true in a live run (-m live): {reason}"
    return report


def probe(host: str | None, timeout: float = 2.0) -> tuple[str, str | None, str | None]:
    """(normalised url, version or None, error or None) for GET /api/version."""
    from modelctl.ollama.hosts import parse_host, redact

    url = parse_host(host)
    try:
        from modelctl.ollama.server import OllamaClient

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
        from modelctl.ollama.hosts import redact

        pytest.skip(f"no Ollama server answered at {redact(url)}: {error}")
    return url


def started_log(url: str, install: Path = REAL_OLLAMA_INSTALL) -> Path | None:
    """The log of the server ``tests.real_ollama`` started at ``url`` (its state file names it), or None."""
    from urllib.parse import urlsplit

    port = urlsplit(url).port
    state = install / "run" / str(port) / "server.json"
    try:
        server = json.loads(state.read_text())
    except (OSError, ValueError):
        return None
    return Path(server["log"]) if server.get("url") == url.rstrip("/") else None


@pytest.fixture(scope="session")
def live_log(request: pytest.FixtureRequest, live_host: str) -> Path:
    """The log file of the server under test (``--ollama-log``), or skip."""
    given = request.config.getoption("--ollama-log")
    log = Path(given) if given else started_log(live_host)
    if log is None:
        pytest.skip(f"no server log for {live_host}: pass --ollama-log FILE")
    if not log.is_file():
        pytest.skip(f"the server log {log} is not a file")
    return log


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def second_live_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[real_ollama.Server]:
    """A second real Ollama (the provisioned one, tests/real_ollama.py) on a free loopback port,
    with its own models folder and log; stopped at the end of the session. Skips when the
    server is not provisioned (``python -m tests.real_ollama provision``)."""
    install = REAL_OLLAMA_INSTALL
    if not real_ollama.is_provisioned(install):
        pytest.skip(f"no real Ollama provisioned in {install}: run `python -m tests.real_ollama provision`")
    with real_ollama.running(free_port(), tmp_path_factory.mktemp("second-ollama"), install=install) as server:
        yield server


def unique(prefix: str) -> str:
    """A model name no other test uses."""
    return f"modelctl-test-{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def live_names(live_host: str) -> Iterator[list[str]]:
    """Model names this test creates on ``live_host``; deleted at the end."""
    created: list[str] = []
    yield created
    delete_models(live_host, created)


def delete_models(host: str, names: list[str]) -> None:
    from modelctl.ollama.server import ModelNotFound, OllamaClient

    with OllamaClient(host) as client:
        for name in names:
            with contextlib.suppress(ModelNotFound):
                client.delete(name)


def create_model(host: str, name: str, gguf: Path, **fields: Any) -> None:
    """Create ``name`` from a local GGUF file as ``ollama create`` does: upload the blob, then
    ``/api/create`` with ``files`` and any other fields (system, template, parameters, messages)."""
    from modelctl.common.files import sha256_file
    from modelctl.ollama.server import OllamaClient

    digest = sha256_file(gguf)
    with OllamaClient(host) as client:
        if not client.blob_exists(digest):
            client.upload_blob(gguf, digest)
        answers = list(client.create({"model": name, "files": {gguf.name: digest}, **fields}))
    assert answers and answers[-1].get("status") == "success", answers[-1:]
