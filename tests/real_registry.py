"""A real OCI distribution registry on loopback, that Ollama can push to and pull from.

Debian's ``docker-registry`` (the CNCF distribution registry) stores what ``ollama push``
sends, but a filesystem-backed registry answers a blob ``GET`` with ``200`` and the bytes,
while Ollama downloads a blob only by following a redirect (server/download.go at v0.9.3
takes ``resp.Location()`` of the blob request and fails with ``http: no Location header in
response`` otherwise). So nginx (Debian's ``nginx-light``) stands in front:

* ``127.0.0.1:PORT`` (the registry's address for Ollama and modelctl): a blob ``GET``
  answers ``307 http://localhost:PORT+1/<same path>``; everything else (pushes, manifests,
  ``HEAD``) is proxied to the registry as it is;
* ``localhost:PORT+1``: proxied to the registry (the redirect's target: another host name);
* the registry itself on ``127.0.0.1:PORT+2``, its storage in a temporary folder.

From the shell::

    python -m tests.real_registry start --port 5010   # prints the address; state in a run folder
    OLLAMA_HOST=127.0.0.1:11610 ollama-lib push --insecure 127.0.0.1:5010/ns/model:tag
    python -m tests.real_registry stop --port 5010

:class:`RegistryMissing` (a RuntimeError) says which Debian package is absent
(``apt-get install docker-registry nginx-light``); the fixture turns it into a skip.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.real_ollama import stop_pid

REGISTRY_BIN = "/usr/bin/docker-registry"
NGINX_BIN = "/usr/sbin/nginx"


class RegistryMissing(RuntimeError):
    """A Debian package the registry needs is not installed."""


_REGISTRY_CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{backend}
"""

# The redirect rule: a blob GET on the front answers 307 to another host name (localhost), as
# Ollama's download (server/download.go, v0.9.3) requires; the rest passes straight through.
_NGINX_CONFIG = """\
{user}
worker_processes 1;
pid {run}/nginx.pid;
error_log {run}/nginx-error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log {run}/nginx-access.log;
  client_body_temp_path {run}/client_body;
  proxy_temp_path {run}/proxy;
  client_max_body_size 0;
  proxy_request_buffering off;
  proxy_buffering off;
  proxy_http_version 1.1;
  server {{
    listen 127.0.0.1:{front};
    location ~ ^/v2/.+/blobs/sha256:[0-9a-f]+$ {{
      if ($request_method = GET) {{ return 307 http://localhost:{blobs}$request_uri; }}
      proxy_pass http://127.0.0.1:{backend};
      proxy_set_header Host $http_host;
    }}
    location / {{
      proxy_pass http://127.0.0.1:{backend};
      proxy_set_header Host $http_host;
    }}
  }}
  server {{
    listen 127.0.0.1:{blobs};
    {listen6}
    location / {{
      proxy_pass http://127.0.0.1:{backend};
      proxy_set_header Host $http_host;
    }}
  }}
}}
"""


def run_dir() -> Path:
    return Path(os.environ.get("MODELCTL_REAL_REGISTRY_DIR") or Path(tempfile.gettempdir()) / "modelctl-real-registry")


def check_installed() -> None:
    for path, package in ((REGISTRY_BIN, "docker-registry"), (NGINX_BIN, "nginx-light")):
        if not os.access(path, os.X_OK):
            raise RegistryMissing(f"{path} is missing: apt-get install -y {package} (Debian)")


@dataclass
class Registry:
    """A registry and its nginx front started by :func:`start`."""

    address: str  # HOST:PORT, as a model name carries it (127.0.0.1:PORT)
    port: int
    registry_pid: int
    nginx_pid: int
    storage: str
    run: str

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def stop(self) -> None:
        stop_pid(self.nginx_pid)
        stop_pid(self.registry_pid)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/v2/", timeout=1) as resp:  # noqa: S310 (loopback)
            return int(resp.status) == 200
    except (OSError, urllib.error.URLError):
        return False


def _ipv6_loopback() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def _spawn(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )


def _wait(url: str, procs: list[subprocess.Popen[bytes]], logs: list[Path], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _answers(url):
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            for p in procs:
                stop_pid(p.pid)
            tails = "\n".join(f"{log}:\n{log.read_text(errors='replace')[-1500:]}" for log in logs if log.exists())
            raise RuntimeError(f"the registry did not start at {url}\n{tails}")
        time.sleep(0.05)


def start(port: int, *, storage: Path | None = None, run: Path | None = None, timeout: float = 20.0) -> Registry:
    """Start the registry (``PORT+2``), nginx (``PORT`` and ``PORT+1``) and wait until ``/v2/`` answers."""
    check_installed()
    run = run or run_dir() / str(port)
    run.mkdir(parents=True, exist_ok=True)
    storage = storage or run / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    front, blobs, backend = port, port + 1, port + 2
    url = f"http://127.0.0.1:{front}"
    if _answers(url):
        raise RuntimeError(f"something already answers at {url}")
    (run / "registry.yml").write_text(_REGISTRY_CONFIG.format(storage=storage, backend=backend))
    (run / "nginx.conf").write_text(
        _NGINX_CONFIG.format(
            user="user root;" if os.geteuid() == 0 else "",
            run=run,
            front=front,
            blobs=blobs,
            backend=backend,
            listen6=f"listen [::1]:{blobs};" if _ipv6_loopback() else "",
        )
    )
    reg_log, nginx_log = run / "registry.log", run / "nginx.log"
    registry = _spawn([REGISTRY_BIN, "serve", str(run / "registry.yml")], reg_log)
    nginx = _spawn([NGINX_BIN, "-p", str(run), "-c", str(run / "nginx.conf"), "-g", "daemon off;"], nginx_log)
    _wait(url, [registry, nginx], [reg_log, nginx_log, run / "nginx-error.log"], timeout)
    reg = Registry(f"127.0.0.1:{front}", front, registry.pid, nginx.pid, str(storage), str(run))
    (run / "registry.json").write_text(json.dumps(asdict(reg)))
    return reg


def stop(port: int) -> bool:
    state = run_dir() / str(port) / "registry.json"
    if not state.is_file():
        return False
    data = json.loads(state.read_text())
    stop_pid(int(data["nginx_pid"]))
    stop_pid(int(data["registry_pid"]))
    state.unlink()
    return True


@contextlib.contextmanager
def running(port: int, tmp: Path) -> Iterator[Registry]:
    """A registry for the length of a ``with`` block, its storage and logs under ``tmp``."""
    reg = start(port, storage=tmp / "storage", run=tmp / "run")
    try:
        yield reg
    finally:
        reg.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.real_registry", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("start", help="start a registry on PORT (and PORT+1, PORT+2); prints its address")
    st.add_argument("--port", type=int, default=5000)
    st.add_argument("--storage", type=Path, default=None)
    sp = sub.add_parser("stop", help="stop the registry started on PORT")
    sp.add_argument("--port", type=int, default=5000)
    args = ap.parse_args(argv)
    if args.cmd == "start":
        try:
            reg = start(args.port, storage=args.storage)
        except RegistryMissing as exc:
            print(f"real-registry: {exc}", file=sys.stderr)
            return 1
        print(f"real-registry: {reg.address} (storage {reg.storage}, logs in {reg.run})")
    else:
        done = stop(args.port)
        print("real-registry: stopped" if done else f"real-registry: nothing started on {args.port}")
        if done:
            shutil.rmtree(run_dir() / str(args.port), ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
