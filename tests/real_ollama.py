"""A real Ollama server (0.9.3, CPU) assembled from registry packages, for the ``live`` suite.

No Ollama release can be downloaded on the machines this project is tested on, but Intel's
``bigdl-core-cpp`` wheel on PyPI carries Ollama 0.9.3's server (``ollama-lib``) and its
llama.cpp libraries. This module:

* ``provision``: downloads the four pinned wheels (hashes checked by pip), extracts only the
  files the CPU server needs, and replaces the SYCL backend with a no-device stub compiled
  here (the real one aborts without an Intel GPU; the binary calls only three of its
  functions). The wrapper executable named ``ollama`` is left out: the runner looks for a
  library *folder* of that name beside itself and aborts when it finds a file.
* ``start``: runs ``ollama-lib serve`` on a loopback port with its own models folder, its
  log in a file, and ``HTTP(S)_PROXY`` pointing at a closed loopback port, so that a pull of
  a name the server lacks fails at once instead of reaching ollama.com (Go never proxies
  loopback addresses, so a registry on 127.0.0.1 still works).
* ``stop``: ends a server started by ``start``.

From the shell::

    python -m tests.real_ollama provision            # once; about 10 s, cached
    python -m tests.real_ollama start --port 11500   # prints the URL; state in the run folder
    pytest -m live --ollama-host http://127.0.0.1:11500
    python -m tests.real_ollama stop --port 11500

The install folder is ``$MODELCTL_REAL_OLLAMA_DIR`` or ``~/.cache/modelctl/real-ollama-0.9.3``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

VERSION = "0.9.3"

#: The four wheels, pinned by version and hash (pip checks the hashes).
WHEELS = {
    "bigdl-core-cpp==2.7.0b20260110": "0e99cb840d69c53add9a9500feba14b68f45c51ca2544845788de7a110653d73",
    "intel-sycl-rt==2025.0.2": "1cda5ca7a90d84b7a3edc0179a811607005c1f20257deefeecf06aa3b857495e",
    "intel-cmplr-lib-rt==2025.0.2": "59971f4efad708705af23de25dfc2c9f88b9e643211a0ec42274ce30d7a74a2d",
    "intel-cmplr-lib-ur==2025.0.2": "9e95958abba62a50a016e23e5132ccb1152158e2cd710ddf3549372db14dd18d",
}

#: Files taken from the wheels (by base name), all into one folder; the binary's RPATH is $ORIGIN.
_OLLAMA_FILES = {
    "ollama-lib",
    "libggml-base.so",
    "libggml.so",
    "libllama.so",
    "libllava_shared.so",
    "libmtmd_shared.so",
    "libsample.so",
}
_RUNTIME_FILES = {"libsycl.so.8", "libur_loader.so.0", "libsvml.so", "libimf.so", "libirng.so", "libintlc.so.5"}

#: The SYCL backend without a device: the CPU backends take over.
_SYCL_STUB = """\
#include <stddef.h>
int ggml_backend_sycl_get_device_count(void) { return 0; }
void *ggml_backend_sycl_init(int device) { (void)device; return NULL; }
void *ggml_backend_sycl_buffer_type(int device) { (void)device; return NULL; }
"""

#: A loopback port nothing listens on: proxied (non-loopback) requests fail at once.
CLOSED_PROXY = "http://127.0.0.1:9"


def default_dir() -> Path:
    env = os.environ.get("MODELCTL_REAL_OLLAMA_DIR")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "modelctl" / f"real-ollama-{VERSION}"


def binary(install: Path) -> Path:
    return install / "lib" / "ollama-lib"


def is_provisioned(install: Path) -> bool:
    return (install / "lib" / ".complete").is_file()


def _wanted(member: str) -> bool:
    base = member.rsplit("/", 1)[-1]
    if "/libs/ollama/" in member:
        return base in _OLLAMA_FILES or (base.startswith("libggml-cpu-") and base.endswith(".so"))
    return "/data/lib/" in member and base in _RUNTIME_FILES


def _download(dest: Path) -> list[Path]:
    req = dest / "requirements.txt"
    req.write_text("".join(f"{spec} --hash=sha256:{digest}\n" for spec, digest in WHEELS.items()))
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes", "-q", "-r", str(req)]
    subprocess.run([*cmd, "-d", str(dest)], check=True, stdout=subprocess.DEVNULL)
    return sorted(dest.glob("*.whl"))


def _extract(wheels: list[Path], lib: Path) -> None:
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                if info.is_dir() or not _wanted(info.filename):
                    continue
                target = lib / info.filename.rsplit("/", 1)[-1]
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                target.chmod(0o755)


def provision(install: Path | None = None, *, quiet: bool = False) -> Path:
    """Download, extract and stub once; later calls return the cached install."""
    install = install or default_dir()
    if is_provisioned(install):
        return install
    started = time.monotonic()
    install.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=install) as tmp:
        work = Path(tmp)
        lib = work / "lib"
        lib.mkdir()
        _extract(_download(work), lib)
        stub = work / "sycl_stub.c"
        stub.write_text(_SYCL_STUB)
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(lib / "libggml-sycl.so"), str(stub)], check=True)
        missing = sorted(n for n in _OLLAMA_FILES | _RUNTIME_FILES if not (lib / n).exists())
        if missing:
            raise RuntimeError(f"the wheels lacked {', '.join(missing)}")
        (lib / ".complete").write_text(VERSION + "\n")
        if (install / "lib").exists():
            shutil.rmtree(install / "lib")
        lib.rename(install / "lib")
    if not quiet:
        print(f"real-ollama: provisioned Ollama {VERSION} in {install} ({time.monotonic() - started:.1f} s)")
    return install


@dataclass
class Server:
    """A running ``ollama-lib serve`` started by :func:`start`."""

    url: str
    port: int
    pid: int
    models: str
    log: str

    def stop(self) -> None:
        stop_pid(self.pid)


def server_env(install: Path, port: int, models: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OLLAMA_") and k.lower() != "no_proxy"}
    env.update(
        OLLAMA_HOST=f"127.0.0.1:{port}",
        OLLAMA_MODELS=str(models),
        LD_LIBRARY_PATH=str(install / "lib"),
        HTTPS_PROXY=CLOSED_PROXY,
        HTTP_PROXY=CLOSED_PROXY,
        NO_PROXY="127.0.0.1,localhost",
    )
    for k in ("https_proxy", "http_proxy"):
        env.pop(k, None)
    env.update(extra or {})
    return env


def _answers(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url + "/api/version", timeout=1) as resp:  # noqa: S310 (loopback)
            return str(json.loads(resp.read())["version"])
    except (OSError, ValueError, KeyError, urllib.error.URLError):
        return None


def start(
    port: int,
    *,
    install: Path | None = None,
    models: Path | None = None,
    log: Path | None = None,
    extra_env: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Server:
    """Start a server on 127.0.0.1:PORT (provisioning first if needed) and wait until it answers."""
    install = provision(install, quiet=True)
    run = install / "run" / str(port)
    models = models or run / "models"
    log = log or run / "serve.log"
    for folder in (run, models, log.parent):  # run holds server.json even when models and log live elsewhere
        folder.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    if _answers(url):
        raise RuntimeError(f"something already answers at {url}")
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(binary(install)), "serve"],
            env=server_env(install, port, models, extra_env),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while _answers(url) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_pid(proc.pid)
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"Ollama did not start on {url}; log {log}:\n{tail}")
        time.sleep(0.05)
    server = Server(url=url, port=port, pid=proc.pid, models=str(models), log=str(log))
    (run / "server.json").write_text(json.dumps(asdict(server)))
    return server


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """End the server's process group (the server and its runners)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not our child: poll for existence
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            done = 0
        if done:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def stop(port: int, install: Path | None = None) -> bool:
    state = (install or default_dir()) / "run" / str(port) / "server.json"
    if not state.is_file():
        return False
    stop_pid(int(json.loads(state.read_text())["pid"]))
    state.unlink()
    return True


@contextlib.contextmanager
def running(port: int, tmp: Path, **kw: object) -> Iterator[Server]:
    """A server for the length of a ``with`` block, its models and log under ``tmp``."""
    server = start(port, models=tmp / "models", log=tmp / "serve.log", **kw)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.real_ollama", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=None, help="install folder (default: %(default)s)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("provision", help="download and assemble the server (cached)")
    st = sub.add_parser("start", help="start a server; prints its URL")
    st.add_argument("--port", type=int, default=11434)
    st.add_argument("--models", type=Path, default=None)
    st.add_argument("--log", type=Path, default=None)
    sp = sub.add_parser("stop", help="stop the server started on PORT")
    sp.add_argument("--port", type=int, default=11434)
    args = ap.parse_args(argv)
    if args.cmd == "provision":
        provision(args.dir)
    elif args.cmd == "start":
        t0 = time.monotonic()
        provision(args.dir)
        server = start(args.port, install=args.dir, models=args.models, log=args.log)
        print(f"real-ollama: {server.url} (pid {server.pid}, log {server.log}, up in {time.monotonic() - t0:.1f} s)")
    else:
        print("real-ollama: stopped" if stop(args.port, args.dir) else f"real-ollama: nothing started on {args.port}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
