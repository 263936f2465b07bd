"""Fixtures for the ``run`` and ``compare`` tests: a chef family of profiles, builds on the
Ollama API double, and a tiny Chrome DevTools Protocol client for the HTML report.

* ``chef_dir``: a temporary directory with ``profiles/`` (base, creative, precise, wide,
  qwen, local, bad) and a ``prompts.yaml``; CLI subprocesses run with it as cwd.
* ``cmp_double``: the double with llama3.2:3b and qwen3:8b installed (see :func:`nodelay_double`).
* ``built_double``: ``cmp_double`` with creative, precise, wide and qwen built.
* :class:`Chromium`: headless Chromium driven over DevTools on a loopback port (no
  dependency beyond the stdlib); ``chromium_path()`` is None when it is not installed.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import ollama_double as od

PROFILES: dict[str, str] = {
    "base.yaml": """\
from: llama3.2:3b
system: |
  You are a helpful chef.
parameters:
  num_ctx: 2048
  repeat_penalty: 1.05
""",
    "creative.yaml": """\
name: chef-creative
extends: base.yaml
system: |
  You are a creative chef.
  Propose unexpected combinations.
parameters:
  temperature: 1.1
  top_k: 80
  seed: 42
messages:
  - {role: user, content: "Give me a dessert idea"}
  - {role: assistant, content: "Saffron panna cotta."}
""",
    "precise.yaml": """\
name: chef-precise
extends: base.yaml
parameters:
  temperature: 0.2
  top_p: 0.5
  seed: 7
""",
    "wide.yaml": """\
name: chef-wide
extends: base.yaml
parameters:
  num_ctx: 8192
  seed: 3
""",
    "qwen.yaml": """\
name: qwen-plain
from: qwen3:8b
parameters:
  temperature: 0.5
""",
    "local.yaml": """\
name: local-weights
from: ./weights.gguf
parameters:
  temperature: 0.3
""",
    "bad.yaml": """\
name: broken
from: llama3.2:3b
parameters:
  temperature: hot
""",
}

PROMPTS_YAML = """\
- name: dessert
  prompt: Give me a dessert idea
  expect:
    contains: "."
    max_tokens: 64
- prompt: Convert 350F to Celsius
  system: Answer with a number.
  expect:
    not_contains: "zzz"
    regex: '[a-z]+'
"""


def nodelay_double() -> od.OllamaDouble:
    """A started double with llama3.2:3b and qwen3:8b, TCP_NODELAY on.

    The double writes the response head and each NDJSON chunk as separate small writes;
    with Nagle's algorithm on, the second write waits for the client's delayed ACK
    (~40 ms on Linux), which would swamp time-to-first-token and modelctl's per-cell
    overhead. Real Ollama (Go's net/http) sets TCP_NODELAY; the double now does too, and
    this keeps it so for the benchmark whatever the double's default.
    """
    od._Handler.disable_nagle_algorithm = True
    d = od.OllamaDouble().start()
    d.install("llama3.2:3b")
    d.install("qwen3:8b")
    return d


@pytest.fixture
def cmp_double() -> Iterator[od.OllamaDouble]:
    d = nodelay_double()
    try:
        yield d
    finally:
        d.close()


@pytest.fixture
def chef_dir(tmp_path: Path) -> Path:
    prof = tmp_path / "profiles"
    prof.mkdir()
    for name, text in PROFILES.items():
        (prof / name).write_text(text, encoding="utf-8")
    (tmp_path / "prompts.yaml").write_text(PROMPTS_YAML, encoding="utf-8")
    from tests.fixtures_gguf import write_tiny_llama

    write_tiny_llama(prof / "weights.gguf")
    return tmp_path


def build(double: od.OllamaDouble, workdir: Path, *refs: str) -> None:
    """Create each profile's model on the double through /api/create (structured fields)."""
    from modelctl.ollama.server import OllamaClient
    from modelctl.profile.profile import load_profile

    with OllamaClient(double.url) as client:
        for ref in refs:
            p = load_profile(str(workdir / "profiles" / f"{ref}.yaml")).profile
            req: dict[str, Any] = {"model": p.name, "from": p.from_, "parameters": p.parameters.as_dict()}
            if p.system:
                req["system"] = p.system
            if p.messages:
                req["messages"] = [{"role": m.role, "content": m.content} for m in p.messages]
            list(client.create(req))


@pytest.fixture
def built_double(cmp_double: od.OllamaDouble, chef_dir: Path) -> od.OllamaDouble:
    build(cmp_double, chef_dir, "creative", "precise", "wide", "qwen")
    return cmp_double


class CliResult:
    def __init__(self, exit_code: int, stdout: str, stderr: str) -> None:
        self.returncode = exit_code
        self.stdout = stdout
        self.stderr = stderr


def invoke(
    *args: str,
    host: str | None = None,
    input: str | None = None,  # noqa: A002
    cwd: Path | None = None,
) -> CliResult:
    """Run the CLI in-process (CliRunner) in ``cwd`` with ``--host``-free OLLAMA_HOST=host.

    Faster than a subprocess (no interpreter start, no pydantic model rebuild); the
    subprocess tests cover the real entry point and every output format.
    """
    from click.testing import CliRunner

    from modelctl.cli import cli

    env = {"OLLAMA_HOST": host} if host else {}
    old = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        res = CliRunner().invoke(cli, list(args), input=input, env=env, catch_exceptions=False)
    finally:
        os.chdir(old)
    return CliResult(res.exit_code, res.stdout, res.stderr)


# --------------------------------------------------------------------------- headless Chromium


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class _WebSocket:
    """Just enough of RFC 6455 for a loopback DevTools connection (text frames, masking)."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        assert url.startswith("ws://")
        hostport, _, path = url[len("ws://") :].partition("/")
        host, _, port = hostport.partition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("websocket handshake failed")
            head += chunk
        status_line = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status_line:
            raise ConnectionError(f"websocket handshake refused: {status_line!r}")
        accept = base64.b64encode(
            hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        ).decode()
        if accept.encode() not in head:
            raise ConnectionError("bad Sec-WebSocket-Accept")
        self.buf = head.split(b"\r\n\r\n", 1)[1]

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("websocket closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, text: str) -> None:
        data = text.encode()
        header = bytearray([0x81])
        n = len(data)
        if n < 126:
            header.append(0x80 | n)
        elif n < 1 << 16:
            header.append(0x80 | 126)
            header += struct.pack(">H", n)
        else:
            header.append(0x80 | 127)
            header += struct.pack(">Q", n)
        mask = os.urandom(4)
        header += mask
        self.sock.sendall(bytes(header) + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def recv(self) -> str:
        parts: list[bytes] = []
        while True:
            b0, b1 = self._read(2)
            opcode = b0 & 0x0F
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else b""
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:
                raise ConnectionError("websocket closed by peer")
            if opcode == 0x9:  # ping -> ignore (Chromium does not require pong on loopback)
                continue
            parts.append(payload)
            if b0 & 0x80:
                return b"".join(parts).decode()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class Chromium:
    """Headless Chromium with DevTools on a loopback port; records console errors and requests."""

    FLAGS = (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--hide-scrollbars",
        "--disable-dev-shm-usage",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
    )

    def __init__(self, binary: str, *, width: int = 1280, height: int = 900) -> None:
        self.tmp = tempfile.mkdtemp(prefix="modelctl-chromium-")
        self.proc = subprocess.Popen(
            [binary, *self.FLAGS, f"--user-data-dir={self.tmp}", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = Path(self.tmp) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        pages: list[dict[str, Any]] = []
        while not pages:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
                pages = [p for p in json.load(resp) if p.get("type") == "page"]
            if not pages:
                time.sleep(0.05)
        self.ws = _WebSocket(pages[0]["webSocketDebuggerUrl"])
        self._id = 0
        self.events: list[dict[str, Any]] = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        my_id = self._id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                result: dict[str, Any] = msg.get("result", {})
                return result
            self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 20.0) -> dict[str, Any]:
        for ev in self.events:
            if ev.get("method") == method:
                return ev
        self.ws.sock.settimeout(timeout)
        while True:
            msg: dict[str, Any] = json.loads(self.ws.recv())
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == method:
                    return msg

    def open(self, url: str) -> None:
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        time.sleep(0.2)  # let late console messages arrive
        self.call("Runtime.evaluate", expression="1")

    def text(self) -> str:
        r = self.call("Runtime.evaluate", expression="document.body.innerText", returnByValue=True)
        return str(r["result"]["value"])

    def console_errors(self) -> list[str]:
        out = []
        for ev in self.events:
            m, p = ev.get("method"), ev.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(json.dumps(p.get("args")))
            elif m == "Runtime.exceptionThrown":
                out.append(json.dumps(p.get("exceptionDetails")))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(p["entry"].get("text", ""))
        return out

    def requests(self) -> list[str]:
        return [ev["params"]["request"]["url"] for ev in self.events if ev.get("method") == "Network.requestWillBeSent"]

    def screenshot(self, path: Path, *, full_page: bool = True) -> None:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = self.call("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 2400), "scale": 1}
            params["captureBeyondViewport"] = True
        data = self.call("Page.captureScreenshot", **params)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture
def chromium() -> Iterator[Chromium]:
    binary = chromium_path()
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install chromium); CI installs it")
    browser = Chromium(binary)
    try:
        yield browser
    finally:
        browser.close()


# --------------------------------------------------------------------------- documented JSON shapes
# docs/compare.md documents these; a type is a type, a tuple of types, a nested dict
# (an object with exactly these keys), or a one-element list (an array of that shape).

_N = type(None)
NUM = (int, float)
SERVER_SHAPE = {"host": (str, _N), "reachable": bool, "version": (str, _N), "reason": (str, _N)}
TABLE_SHAPE: dict[str, Any] = {
    "kind": str,
    "server": SERVER_SHAPE,
    "columns": [
        {
            "label": str,
            "ref": str,
            "profile": (str, _N),
            "model": str,
            "base": (str, _N),
            "built": (bool, _N),
            "ephemeral": bool,
        }
    ],
    "rows": [
        {
            "key": str,
            "label": str,
            "group": str,
            "differs": bool,
            "cells": [{"value": object, "display": str, "origin": str, "source": (str, _N)}],
        }
    ],
}
MATRIX_SHAPE: dict[str, Any] = {
    "kind": str,
    "server": SERVER_SHAPE,
    "profiles": [
        {
            "ref": str,
            "label": str,
            "model": str,
            "profile": (str, _N),
            "ephemeral": bool,
            "endpoint": str,
            "options": dict,
        }
    ],
    "prompts": [
        {
            "index": int,
            "name": (str, _N),
            "label": str,
            "prompt": str,
            "system": (str, _N),
            "expect": [{"kind": str, "value": object}],
            "file": (str, _N),
            "line": (int, _N),
        }
    ],
    "seeds": list,
    "repeat": int,
    "parallel": int,
    "wall_ms": NUM,
    "pass_rate": (*NUM, _N),
    "min_pass_rate": NUM,
    "complete": bool,
    "cells": [
        {
            "id": int,
            "profile": str,
            "prompt": int,
            "prompt_label": str,
            "seed": (int, _N),
            "repeat": int,
            "status": str,
            "output": (str, _N),
            "eval_count": (int, _N),
            "prompt_eval_count": (int, _N),
            "tokens_per_s": (*NUM, _N),
            "ttft_ms": (*NUM, _N),
            "load_ms": (*NUM, _N),
            "total_ms": (*NUM, _N),
            "wall_ms": (*NUM, _N),
            "done_reason": (str, _N),
            "assertions": [{"kind": str, "value": object, "label": str, "passed": bool, "message": str}],
            "passed": (bool, _N),
            "flags": list,
            "prompt_cut": (dict, _N),  # {"prompt_eval_count", "num_ctx", "num_keep"} when prompt_truncated
            "loaded": bool,
            "error": (dict, _N),
            "order": (int, _N),
            "started_ms": (*NUM, _N),
        }
    ],
    "summary": [
        {
            "profile": str,
            "cells": int,
            "ok": int,
            "errors": int,
            "skipped": int,
            "median_tokens_per_s": (*NUM, _N),
            "median_ttft_ms": (*NUM, _N),
            "median_load_ms": (*NUM, _N),
            "assertions_passed": int,
            "assertions_total": int,
            "pass_rate": (*NUM, _N),
            "flags": {
                "non_deterministic": int,
                "reloaded": int,
                "length": int,
                "prompt_truncated": int,
                "truncated": int,
            },
        }
    ],
    "flags": {"non_deterministic": str, "reloaded": str, "length": str, "prompt_truncated": str, "truncated": str},
    "table": (dict, _N),
}


def check_shape(obj: Any, shape: Any, where: str = "data") -> None:
    """Assert that ``obj`` has exactly the documented ``shape`` (keys and types)."""
    if isinstance(shape, dict):
        assert isinstance(obj, dict), f"{where}: expected an object, got {type(obj).__name__}"
        assert set(obj) == set(shape), f"{where}: keys {sorted(obj)} != documented {sorted(shape)}"
        for k, sub in shape.items():
            check_shape(obj[k], sub, f"{where}.{k}")
    elif isinstance(shape, list):
        assert isinstance(obj, list), f"{where}: expected an array"
        for i, item in enumerate(obj):
            check_shape(item, shape[0], f"{where}[{i}]")
    elif shape is object:
        return
    else:
        types = shape if isinstance(shape, tuple) else (shape,)
        ok = isinstance(obj, types) and not (isinstance(obj, bool) and bool not in types)
        assert ok, f"{where}: {obj!r} is not {types}"


def check_junit(xml_text: str) -> Any:
    """Parse JUnit XML and check the documented structure; returns the root element.

    <testsuites name tests failures errors skipped time> holding one <testsuite> per profile
    (same attributes, counts that add up), each holding <testcase classname name time> with at
    most one of <failure message type="assertion">, <error message type="server">, <skipped>,
    optional <properties><property name value/></properties> and <system-out>.
    """
    import xml.etree.ElementTree as ET

    root = ET.fromstring(xml_text)
    assert root.tag == "testsuites" and root.get("name") == "modelctl compare"
    counts = ("tests", "failures", "errors", "skipped")
    totals = dict.fromkeys(counts, 0)
    for suite in root:
        assert suite.tag == "testsuite" and suite.get("name")
        float(suite.get("time") or "x")
        seen = dict.fromkeys(counts, 0)
        for case in suite:
            assert case.tag == "testcase", case.tag
            assert case.get("classname") == f"modelctl.jobs.compare.{suite.get('name')}"
            assert case.get("name") and float(case.get("time") or "x") >= 0
            seen["tests"] += 1
            outcome = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
            assert len(outcome) <= 1
            for child in case:
                assert child.tag in ("failure", "error", "skipped", "properties", "system-out"), child.tag
                if child.tag == "failure":
                    assert child.get("type") == "assertion" and child.get("message") is not None
                    seen["failures"] += 1
                elif child.tag == "error":
                    assert child.get("type") == "server" and child.get("message")
                    seen["errors"] += 1
                elif child.tag == "skipped":
                    seen["skipped"] += 1
                elif child.tag == "properties":
                    assert all(p.tag == "property" and p.get("name") and p.get("value") is not None
                               for p in child)  # fmt: skip
        for k in counts:
            assert suite.get(k) == str(seen[k]), (suite.get("name"), k)
            totals[k] += seen[k]
    for k in counts:
        assert root.get(k) == str(totals[k]), k
    float(root.get("time") or "x")
    return root
