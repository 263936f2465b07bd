"""Benchmark: `build --hosts FILE --via-registry` of a profile with local weights of size S on N
real Ollama servers (tests/real_ollama.py) and a real registry (tests/real_registry.py), on loopback.

Each round starts N fresh servers (their own models folders) and writes a fresh GGUF of S bytes
(bench/_sparse_gguf.py; a new name, so new digests: nothing is cached anywhere), then times:

* ``plain``: ``modelctl build p.yaml --hosts fleet.yaml``: every host is sent the file;
* ``via``:   the same on N other fresh servers with ``--via-registry``;
* ``floor``: by hand on N more fresh servers, the least the registry route can take: ``modelctl
  build`` on the first host, ``/api/copy`` and ``/api/push`` there, then every host's
  ``/api/pull`` (the first's only fetches the manifest) run at once.

Reported: the bytes the client sent (the builds' ``uploaded_bytes``: S x N plain, S via), and the
minimum and median of via / floor over the rounds.

    python bench/bench_via_registry.py                      # N = 2 and 3, 64 MiB, 3 rounds
    python bench/bench_via_registry.py --hosts 3 --mib 256 --rounds 5

Needs the provisioned server (``python -m tests.real_ollama provision``) and Debian's
``docker-registry`` and ``nginx-light``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._sparse_gguf import Layout, write_sparse_gguf  # noqa: E402
from bench._util import modelctl_cmd  # noqa: E402
from tests import real_ollama, real_registry  # noqa: E402
from tests.fixtures_registry import free_port_run  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def layout(mib: int, name: str) -> Layout:
    """A llama whose weights are about ``mib`` MiB (F16: 2 bytes a weight)."""
    n_embd = 1024
    per_layer = (4 * n_embd * n_embd + 3 * n_embd * 2816) * 2
    layers = max(1, round(mib * 2**20 / per_layer))
    return Layout(name, "llama", layers, n_embd, 2816, 8, 8, 128, 256, 4096)


@contextlib.contextmanager
def servers(n: int, tmp: Path) -> Iterator[list[real_ollama.Server]]:
    with contextlib.ExitStack() as stack:
        out = []
        for i in range(n):
            folder = tmp / f"s{i}-{uuid.uuid4().hex[:6]}"
            out.append(stack.enter_context(real_ollama.running(free_port(), folder)))
        yield out


def inventory(path: Path, hosts: list[real_ollama.Server], registry: str | None) -> Path:
    lines = ["hosts:"] + [f"  h{i}: {s.url}" for i, s in enumerate(hosts)]
    if registry is not None:
        lines += ["registry:", f"  url: {registry}", "  insecure: true"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def build(folder: Path, inv: Path, *extra: str) -> tuple[float, int]:
    """Wall seconds and the bytes the client uploaded, over every host."""
    start = time.perf_counter()
    proc = subprocess.run(
        [*modelctl_cmd(), "build", "p.yaml", "--hosts", str(inv), "--format", "json", *extra],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"build failed ({proc.returncode}): {proc.stderr}")
    hosts = json.loads(proc.stdout)["data"]["hosts"]
    return took, sum(b["uploaded_bytes"] for h in hosts for b in h["result"]["builds"])


def floor(folder: Path, hosts: list[real_ollama.Server], name: str, ref: str) -> float:
    """One build, one copy and push, then every host's pull at once."""
    from modelctl.ollama.server import OllamaClient

    start = time.perf_counter()
    proc = subprocess.run(
        [*modelctl_cmd(), "build", "p.yaml", "--host", hosts[0].url], cwd=folder, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"build failed: {proc.stderr}")
    with OllamaClient(hosts[0].url) as first:
        first.copy(name, ref)
        list(first.push(ref, insecure=True))

    def pull(url: str) -> None:
        with OllamaClient(url, timeout=600) as c:
            list(c.pull(ref, insecure=True))

    with concurrent.futures.ThreadPoolExecutor(len(hosts)) as pool:
        list(pool.map(pull, [h.url for h in hosts]))
    return time.perf_counter() - start


def one_round(n: int, mib: int, registry: real_registry.Registry, tmp: Path) -> tuple[float, float, float, int, int]:
    folder = Path(tempfile.mkdtemp(dir=tmp))
    name = f"bench-{uuid.uuid4().hex[:8]}"
    gguf = write_sparse_gguf(folder / "w.gguf", layout(mib, name))
    (folder / "p.yaml").write_text(f"name: {name}\nfrom: ./w.gguf\nparameters: {{temperature: 0.4}}\n")
    ns = f"team{uuid.uuid4().hex[:6]}"
    with servers(n, tmp) as hosts:
        plain, plain_bytes = build(folder, inventory(folder / "plain.yaml", hosts, None))
    with servers(n, tmp) as hosts:
        inv = inventory(folder / "via.yaml", hosts, f"{registry.address}/{ns}")
        via, via_bytes = build(folder, inv, "--via-registry")
    with servers(n, tmp) as hosts:
        least = floor(folder, hosts, name, f"{registry.address}/{ns}f/{name}:latest")
    assert gguf.stat().st_size > 0
    return plain, via, least, plain_bytes, via_bytes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, action="append", help="N (repeatable; default 2 and 3)")
    ap.add_argument("--mib", type=int, default=64, help="the weights' size S in MiB (default 64)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    real_registry.check_installed()
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        with real_registry.running(free_port_run(), tmp / "registry") as registry:
            for n in args.hosts or [2, 3]:
                rows = [one_round(n, args.mib, registry, tmp) for _ in range(args.rounds)]
                size = rows[0][4]
                ratios = [via / least for _, via, least, _, _ in rows]
                print(f"N={n}, S={size / 2**20:.1f} MiB, {args.rounds} rounds")
                print(f"  client bytes: plain {rows[0][3]:,} (S x {rows[0][3] / size:.2f}), via {size:,} (S x 1)")
                print(f"  wall plain: median {statistics.median(r[0] for r in rows):.2f} s")
                print(
                    f"  wall via:   median {statistics.median(r[1] for r in rows):.2f} s; "
                    f"floor median {statistics.median(r[2] for r in rows):.2f} s"
                )
                print(f"  via / floor: min {min(ratios):.2f}, median {statistics.median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
