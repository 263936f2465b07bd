"""One run's conversation with one Ollama server: every question asked once, several at a time.

A :class:`HostSession` wraps one :class:`~modelctl.ollama.server.OllamaClient` (httpx's client is
safe to share between threads) and remembers, for the length of a run, what the server
said: its version, its model list (``/api/tags``) and each model's ``/api/show`` (a 404 is
remembered as ``None``, an error as that error). Concurrent askers of the same question
wait for the one request in flight ("single flight"), so ``plan`` and ``build`` ask each
host at most once per model however many profiles share a base. At most ``concurrency``
of these requests run at once; :meth:`prefetch` starts them in the background while the
caller goes on (loading and rendering the next profile, say).

``build`` forgets a model it has just created (:meth:`forget`) and refreshes the model
list once after its creates (:meth:`tags` with ``refresh=True``). ``name`` is the host's
name in an inventory (docs/fleet.md); without one the key of the host in lock files is
its URL without credentials (:attr:`key`).

A :class:`HostSpec` is one server as the command line or an inventory names it: its URL,
headers (sent, never printed), inventory name and the server facts a profile cannot see
through the API. Every job that talks to one server takes a :data:`HostRef` (a URL, a
HostSpec, or None for ``$OLLAMA_HOST``) and opens its client with :func:`client_for`.
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from modelctl.ollama.hosts import HostFacts, HostRef, HostSpec
from modelctl.ollama.server import MIN_CREATE_VERSION, OllamaClient
from modelctl.ollama.wire import model_key

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.ollama.shapes import ShowResponse, TagsResponse

T = TypeVar("T")

#: Requests a session sends to one server at once (``--concurrency``).
DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 64


class _Flight:
    """One question's answer, or its error, once someone has fetched it."""

    __slots__ = ("done", "value", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class _Workers:
    """A few daemon threads running queued calls (daemon: Ctrl-C never waits for them)."""

    def __init__(self, size: int, name: str) -> None:
        self._tasks: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._size = size
        self._name = name

    def submit(self, task: Callable[[], None]) -> None:
        if len(self._threads) < self._size:
            t = threading.Thread(target=self._loop, name=f"{self._name}-{len(self._threads)}", daemon=True)
            self._threads.append(t)
            t.start()
        self._tasks.put(task)

    def _loop(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None:
                return
            try:
                task()
            except BaseException:  # noqa: S110 - the flight keeps the error for whoever waits on it
                pass

    def close(self) -> None:
        for _ in self._threads:
            self._tasks.put(None)


class HostSession:
    """What one server said during one run; see the module docstring."""

    def __init__(
        self,
        host: str | None = None,
        *,
        timeout: float | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        headers: Mapping[str, str] | None = None,
        name: str | None = None,
        client: OllamaClient | None = None,
        facts: HostFacts | None = None,
    ) -> None:
        self.client = client if client is not None else OllamaClient(host, timeout=timeout, headers=headers)
        self.name = name
        self.facts = facts if facts is not None else HostFacts()  # what the inventory declares of the server
        self.concurrency = max(1, min(int(concurrency), MAX_CONCURRENCY))
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}
        self._workers = _Workers(self.concurrency, "modelctl-session")

    # -- identity -------------------------------------------------------------------------

    @property
    def display_host(self) -> str:
        """The server's URL as printed (credentials replaced by ``***``)."""
        return self.client.display_host

    @property
    def key(self) -> str:
        """The host's key in lock files: its inventory name, else its URL without credentials."""
        return self.name or self.client.base_url

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        self._workers.close()
        self.client.close()

    def __enter__(self) -> HostSession:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- single flight ----------------------------------------------------------------------

    def _once(self, key: str, fetch: Callable[[], T]) -> T:
        with self._lock:
            flight = self._flights.get(key)
            owner = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if owner:
            try:
                with self._slots:
                    flight.value = fetch()
            except BaseException as exc:
                flight.error = exc
            finally:
                flight.done.set()
        else:
            flight.done.wait()
        if flight.error is not None:
            raise flight.error
        return flight.value  # type: ignore[no-any-return]

    def _drop(self, key: str) -> None:
        with self._lock:
            self._flights.pop(key, None)

    def asked(self, key: str) -> bool:
        """Whether the question ``key`` (``version``, ``tags``, ``show:<model>``) was asked."""
        with self._lock:
            return key in self._flights

    # -- the questions ------------------------------------------------------------------------

    def version(self) -> str:
        """``/api/version``, once per run."""
        return self._once("version", self.client.version)

    def require_version(self, minimum: str = MIN_CREATE_VERSION) -> str:
        """The version; ServerError when the server is too old for modelctl's create API."""
        return self.client.check_minimum_version(self.version(), minimum)

    def tags(self, *, refresh: bool = False) -> TagsResponse:
        """``/api/tags``, once per run (``refresh`` asks again, e.g. after creating models)."""
        if refresh:
            self._drop("tags")
        return self._once("tags", self.client.tags)

    def show(self, model: str) -> ShowResponse | None:
        """``/api/show`` of ``model`` once per run; None when the server has no such model."""
        return self._once(f"show:{model_key(model)}", lambda: self.client.show_or_none(model))

    def forget(self, model: str) -> None:
        """Forget what was said about ``model`` (it was just created or changed)."""
        self._drop(f"show:{model_key(model)}")

    def prefetch(self, models: Iterable[str | None], *, basics: bool = False) -> None:
        """Start asking for these models' /api/show in the background (and for the version and
        model list with ``basics``); a later :meth:`show` waits for the answer instead of asking."""
        tasks: list[Callable[[], Any]] = [self.version, self.tags] if basics else []
        for m in models:
            if m and not self.asked(f"show:{model_key(m)}"):
                tasks.append(functools.partial(self.show, m))
        for task in tasks:
            self._workers.submit(task)


def client_for(host: HostRef, timeout: float | None = None) -> OllamaClient:
    """The HTTP client of one server (an inventory host's headers included)."""
    if isinstance(host, HostSpec):
        return OllamaClient(host.url, timeout=timeout, headers=dict(host.headers))
    return OllamaClient(host, timeout=timeout)


def session_for(host: HostRef, *, timeout: float | None = None, concurrency: int = DEFAULT_CONCURRENCY) -> HostSession:
    """A :class:`HostSession` on one server (an inventory host keeps its name: lock files key by it)."""
    if isinstance(host, HostSpec):
        return HostSession(
            host.url,
            timeout=timeout,
            concurrency=concurrency,
            headers=dict(host.headers),
            name=host.name,
            facts=host.facts,
        )
    return HostSession(host, timeout=timeout, concurrency=concurrency)


def host_facts(host: HostRef) -> HostFacts:
    return host.facts if isinstance(host, HostSpec) else HostFacts()
