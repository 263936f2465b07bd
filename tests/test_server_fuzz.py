"""Fuzz of the server layer against a hostile server on loopback, bounded in count and time.

Each case draws, from a seeded random generator, a way to answer (a status line, real or not;
headers with wrong lengths, encodings, redirects; a body that is valid, truncated, garbage,
oversized, a gzip bomb, an NDJSON stream of odd lines, endless; delivered at once, chunked,
trickled, cut, stalled) and an endpoint of the client to drive against it. Every call must
either return what it should or raise a ModelctlError with exit code 4 or 5: never another
exception, never a hang (a watchdog thread per case), never memory that grows with what the
server sends (small caps; the process's peak RSS is checked at the end).

``MODELCTL_FUZZ_CASES`` and ``MODELCTL_FUZZ_SEED`` run more cases or other ones; a failure
prints the seed and the case.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import random
import resource
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from modelctl.errors import ExitCode, ModelctlError
from modelctl.ollama.server import Caps, OllamaClient
from tests.hostile_server import (
    CLOSE,
    LAST_CHUNK,
    Action,
    HostileServer,
    Request,
    bomb,
    chunk,
    forever,
    sane,
)

CASES = int(os.environ.get("MODELCTL_FUZZ_CASES", "160"))
SEED = int(os.environ.get("MODELCTL_FUZZ_SEED", "20251129"))
WINDOW = 0.25  # --timeout of every case
WATCHDOG = 15.0  # seconds a case may take before it counts as a hang
CAPS = Caps(answer=256 << 10, line=64 << 10, generated=16 << 10, events=300, statuses=50)
STALL = 3.0  # a pause longer than the window

# --------------------------------------------------------------------------- the calls


@dataclass(frozen=True)
class Call:
    name: str
    kind: str  # what a sane answer looks like: "json", "empty", "head", "progress", "tokens", "upload"
    run: Callable[[OllamaClient, Path], Any]
    ok: Callable[[Any], bool]


def _drain(events: Iterable[Any]) -> int:
    n = 0
    for e in events:
        assert isinstance(e, dict), e
        n += 1
    return n


CALLS = [
    Call("version", "json", lambda c, _: c.version(), lambda r: isinstance(r, str)),
    Call("tags", "json", lambda c, _: c.tags(), lambda r: isinstance(r, dict)),
    Call("ps", "json", lambda c, _: c.ps(), lambda r: isinstance(r, dict)),
    Call("show", "json", lambda c, _: c.show("m"), lambda r: isinstance(r, dict)),
    Call("blob_exists", "head", lambda c, _: c.blob_exists("sha256:" + "e" * 64), lambda r: isinstance(r, bool)),
    Call("delete", "empty", lambda c, _: c.delete("m"), lambda r: r is None),
    Call("copy", "empty", lambda c, _: c.copy("m", "n"), lambda r: r is None),
    Call("pull", "progress", lambda c, _: _drain(c.pull("m")), lambda r: r > 0),
    Call("create", "progress", lambda c, _: _drain(c.create({"model": "m", "from": "b"})), lambda r: r > 0),
    Call("generate", "tokens", lambda c, _: _drain(c.generate({"model": "m", "prompt": "x"})), lambda r: r > 0),
    Call("chat", "tokens", lambda c, _: _drain(c.chat({"model": "m", "messages": []})), lambda r: r > 0),
    Call("upload", "upload", lambda c, p: c.upload_blob(p, "sha256:" + "f" * 64), lambda r: r is None),
]

# --------------------------------------------------------------------------- answers

_BOMB: list[bytes] = []


def big_bomb() -> bytes:
    """256 MiB of zeros in 256 KB: decoded whole, it would show in the peak RSS."""
    if not _BOMB:
        _BOMB.append(bomb(256 << 20))
    return _BOMB[0]


FIELDS = [
    "models", "name", "model", "size", "size_vram", "context_length", "expires_at", "details", "status", "digest",
    "total", "completed", "done", "response", "thinking", "message", "content", "role", "version", "error",
    "parameters", "tensors", "shape", "model_info", "messages", "eval_count", "capabilities", "license",
]  # fmt: skip
SCALARS: list[Any] = [
    None, True, False, 0, -1, 1, 4096, 4096.5, -0.0, 1e308, (1 << 63), (1 << 63) - 1, "", "x", "success",
    "pulling abc", "2024-06-04T14:38:31.83753-07:00", "tomorrow", "\u2028\x1b[2J", "é" * 3, "num_ctx 4096",
]  # fmt: skip
RAW_JSON = [
    b'{"version": NaN}', b'{"models": [{"size": Infinity}]}', b'{"total": 1e999}',
    b'{"size": 1' + b"0" * 5000 + b"}", b"[" * 5000 + b"]" * 5000, b'{"a": ' * 3000 + b"1" + b"}" * 3000,
    b'{"status": "ok"} trailing', b'{"x": "\xff\xfe"}', b'{"error": {"nested": ["not", "a", "string"]}}',
    b"null", b"42", b'"text"', b"{", b'{"done": true',
]  # fmt: skip


def rand_json(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth > 3 or r < 0.45:
        return rng.choice(SCALARS)
    if r < 0.8:
        return {rng.choice(FIELDS): rand_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return [rand_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def sane_body(call: Call) -> tuple[int, bytes]:
    """Status and body of what a healthy server answers to ``call``."""
    path = {"version": "/api/version", "tags": "/api/tags", "ps": "/api/ps", "show": "/api/show"}.get(call.name)
    if path is None:
        return 200, b""
    req = Request("GET", path, {}, None, small_body=b"")
    raw = b"".join(a for a in sane(req) if isinstance(a, bytes))
    return 200, raw.split(b"\r\n\r\n", 1)[1]


def stream_lines(rng: random.Random, call: Call) -> Iterator[bytes]:
    """NDJSON lines: real ones and odd ones, maybe endless."""
    real: list[Any]
    if call.kind == "progress":
        real = [{"status": "pulling abc", "total": 9, "completed": i} for i in range(5)] + [{"status": "success"}]
    else:
        real = [{"response": "a", "done": False}, {"message": {"role": "assistant", "content": "b"}}, {"done": True}]
    choice = rng.random()
    if choice < 0.15:  # endless, looking like progress (the caps end it)
        yield from (
            json.dumps({"status": "pulling", "response": "t", "completed": i}).encode() for i in itertools.count()
        )
    if choice < 0.25:  # endless, repeating itself (the stall deadline ends it)
        yield from forever(json.dumps(real[0]).encode())
    lines = [json.dumps(x).encode() for x in real]
    for _ in range(rng.randint(0, 4)):
        odd = rng.choice(
            [json.dumps(rand_json(rng)).encode(), rng.choice(RAW_JSON), b"", b"   ", b'{"error": "boom"}',
             b"x" * rng.choice([10, 70_000]), rng.randbytes(rng.randint(1, 200))]
        )  # fmt: skip
        lines.insert(rng.randint(0, len(lines)), odd)
    yield from lines


@dataclass
class Answer:
    """One hostile answer, and what it was made of (printed when a case fails)."""

    status: bytes = b"HTTP/1.1 200 OK"
    headers: list[bytes] = field(default_factory=list)
    body: Iterable[bytes] = ()
    chunked: bool = False
    delivery: str = "at once"
    notes: list[str] = field(default_factory=list)

    def script(self, rng: random.Random) -> Iterator[Action]:
        head = self.status + b"\r\n" + b"".join(h + b"\r\n" for h in self.headers) + b"\r\n"
        yield from self._deliver(rng, itertools.chain([head], self._framed()))

    def _framed(self) -> Iterator[bytes]:
        if not self.chunked:
            yield from self.body
            return
        for piece in self.body:
            if piece:
                yield chunk(piece)
        yield LAST_CHUNK

    def _deliver(self, rng: random.Random, pieces: Iterator[bytes]) -> Iterator[Action]:
        budget = 0.4  # seconds of trickling pauses at most
        for i, piece in enumerate(pieces):
            if self.delivery == "cut" and i == 2:
                yield piece[: len(piece) // 2]
                yield CLOSE
            if self.delivery == "stall" and i == 2:
                yield STALL
            if self.delivery == "trickle" and budget > 0:
                for j in range(0, len(piece), 16):
                    yield piece[j : j + 16]
                    budget -= 0.01
                    yield 0.01
            else:
                yield piece


def rand_status(rng: random.Random, answer: Answer) -> int:
    r = rng.random()
    if r < 0.12:
        answer.status = rng.choice(
            [b"HTTP/1.1 abc OK", b"HTTP/9.9 200 OK", b"garbage", b"", b"\x00\xff\xfe", b"HTTP/1.1 200",
             b"HTTP/1.0 200 OK", b"ICY 200 OK", b"HTTP/1.1 99999 Big"]
        )  # fmt: skip
        return 200
    status = 200 if r < 0.6 else rng.choice([201, 204, 301, 302, 307, 308, 400, 401, 404, 418, 500, 502, 503, 599])
    answer.status = f"HTTP/1.1 {status} {rng.choice(['OK', 'Nope', '', 'x' * 300])}".encode()
    return status


def rand_body(rng: random.Random, call: Call, status: int, answer: Answer) -> bytes | Iterator[bytes]:
    r = rng.random()
    if call.kind in ("progress", "tokens") and 200 <= status < 300 and r < 0.7:
        answer.notes.append("ndjson")
        return (line + b"\n" for line in stream_lines(rng, call))
    if r < 0.3:
        return sane_body(call)[1]
    if r < 0.45:
        return json.dumps(rand_json(rng)).encode()
    if r < 0.6:
        return rng.choice(RAW_JSON)
    if r < 0.7:
        return rng.randbytes(rng.randint(0, 3000))
    if r < 0.8:
        whole = sane_body(call)[1] or b'{"status": "success"}'
        return whole[: rng.randint(0, len(whole))]
    if r < 0.9:
        answer.notes.append("oversized")
        return b" " * (CAPS.answer + 1) + b"{}"
    answer.notes.append("gzip bomb")
    answer.headers.append(b"Content-Encoding: gzip")
    return big_bomb()


def rand_headers(rng: random.Random, answer: Answer, body: bytes | Iterator[bytes], status: int) -> None:
    """Framing and the odd header; a body that is an iterator is always chunked."""
    if isinstance(body, (bytes, bytearray)) and rng.random() < 0.6:
        length = rng.choice([len(body)] * 8 + [len(body) + 10, max(0, len(body) - 5), -1, 10 << 30])
        answer.headers.append(b"Content-Length: " + str(length).encode())
        answer.body = [body]
    elif isinstance(body, (bytes, bytearray)) and rng.random() < 0.3:
        answer.body = [body]  # no length: the body ends when the connection does
    else:
        answer.chunked = True
        answer.headers.append(b"Transfer-Encoding: chunked")
        answer.body = (
            [body[i : i + rng.randint(1, 9000)] for i in range(0, len(body), 4000)] if isinstance(body, bytes) else body
        )
    extras = [
        b"Content-Encoding: " + rng.choice([b"gzip", b"deflate", b"br", b"identity", b"gzip, gzip", b"zstd", b"x"]),
        b"Content-Type: " + rng.choice([b"application/json", b"text/html", b"application/x-ndjson"]),
        b"Location: " + rng.choice([b"https://u:pw-LEAK@evil/api", b"/elsewhere", b"", b"\xff"]),
        b"X-Big: " + b"h" * rng.choice([100, 20_000]),
        b"Transfer-Encoding: " + rng.choice([b"chunked", b"gzip, chunked", b"bogus"]),
        b"Content-Length: " + rng.choice([b"abc", b"5, 6", b"-3", b"99999999999999999999999"]),
        b"Bad Header Without Colon",
    ]
    for extra in rng.sample(extras, k=rng.choice([0] * 6 + [1, 1, 2])):
        answer.headers.append(extra)
    if 300 <= status < 400 and rng.random() < 0.7:
        answer.headers.append(b"Location: https://127.0.0.1:1/api/show")


def rand_answer(rng: random.Random, call: Call) -> Answer:
    answer = Answer()
    status = rand_status(rng, answer)
    body = rand_body(rng, call, status, answer)
    if isinstance(body, bytes) and rng.random() < 0.1:
        answer.headers.append(b"Content-Encoding: gzip")
        body = gzip.compress(body)
    rand_headers(rng, answer, body, status)
    answer.delivery = rng.choice(["at once"] * 6 + ["trickle", "cut", "stall"])
    return answer


# --------------------------------------------------------------------------- the run


@dataclass
class Outcome:
    result: Any = None
    error: BaseException | None = None
    done: bool = False


def run_case(call: Call, server: HostileServer, blob: Path) -> Outcome:
    outcome = Outcome()

    def target() -> None:
        try:
            with OllamaClient(server.url, timeout=WINDOW, caps=CAPS) as c:
                outcome.result = call.run(c, blob)
        except BaseException as exc:  # noqa: BLE001 - every exception is judged below
            outcome.error = exc
        outcome.done = True

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(WATCHDOG)
    return outcome


def judge(outcome: Outcome, call: Call) -> str | None:
    """Why the outcome is wrong, or None."""
    if not outcome.done:
        return f"hang: still running after {WATCHDOG} s"
    exc = outcome.error
    if exc is None:
        return None if call.ok(outcome.result) else f"returned {outcome.result!r}"
    if not isinstance(exc, ModelctlError):
        return f"raised {type(exc).__name__}: {exc}"
    if exc.exit_code not in (ExitCode.UNREACHABLE, ExitCode.SERVER):
        return f"exit code {int(exc.exit_code)}: {exc.message}"
    if "\n" in exc.message or "pw-LEAK" in exc.message:
        return f"message not one clean line: {exc.message!r}"
    return None


def script_of(answer: Answer, seed: int) -> Callable[[Request], Iterator[Action]]:
    return lambda req: answer.script(random.Random(seed))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_hostile_server_fuzz(tmp_path: Path) -> None:
    blob = tmp_path / "small.gguf"
    blob.write_bytes(b"GGUF" + bytes(100_000))
    big_bomb()
    before = peak_rss_mib()
    failures: list[str] = []
    seen: dict[str, int] = {}
    with HostileServer() as server:
        for i in range(CASES):
            rng = random.Random(SEED + i)
            call = rng.choice(CALLS)
            answer = rand_answer(rng, call)
            server.default = script_of(answer, SEED + i + 1)
            outcome = run_case(call, server, blob)
            problem = judge(outcome, call)
            kind = "ok" if outcome.error is None else type(outcome.error).__name__
            seen[kind] = seen.get(kind, 0) + 1
            if problem is not None:
                failures.append(
                    f"case {i} (MODELCTL_FUZZ_SEED={SEED}): {call.name} against {answer.status!r} "
                    f"{answer.headers!r} {answer.delivery} {answer.notes}: {problem}"
                )
    grown = peak_rss_mib() - before
    assert not failures, "\n".join(failures)
    assert grown < 200, f"peak RSS grew by {grown:.0f} MiB"
    # The generator reaches every outcome: success, a server error and a timeout.
    assert {"ok", "ServerError", "ServerUnreachable"} <= set(seen), seen


@pytest.mark.parametrize("seed", range(3))
def test_answers_are_deterministic(seed: int) -> None:
    """A failing case can be replayed: the same seed makes the same answer."""
    a = rand_answer(random.Random(seed), CALLS[seed])
    b = rand_answer(random.Random(seed), CALLS[seed])
    assert (a.status, a.headers, a.delivery, a.notes) == (b.status, b.headers, b.delivery, b.notes)
