"""Benchmark: the `compare` run matrix against the Ollama API double.

1. **What a user waits for.** ``modelctl compare creative precise wide qwen --prompts P --parallel 4``
   as a whole command in a fresh process: 4 profiles x 10 prompts (40 cells), the double (a child
   process) sleeping ``--latency`` (200 ms) per request and serving at most 4 requests per model at
   once (OLLAMA_NUM_PARALLEL=4). Each round runs it in turn with ``python -c pass``; the ideal is a
   bare interpreter's start-up plus 40 x 0.2 s / 4 = 2.0 s. Reported: minimum and median of the
   per-round ratios whole command / ideal. Target: median <= 1.15. ``--parallel 1`` is shown once
   for reference (ideal 8 s + start-up).
2. **modelctl's own overhead per cell** (in this process, a diagnostic of the core). Latency 0,
   ``--parallel 1``: the matrix's wall
The double sets TCP_NODELAY (see tests/fixtures_compare.py).

    python bench/bench_compare.py
    python bench/bench_compare.py --rounds 5 --latency 0.2
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._util import bench_env, modelctl_cmd, paired, verdict  # noqa: E402
from modelctl.jobs.compare import Matrix, build_table, run_matrix  # noqa: E402
from modelctl.jobs.run import Target, build_request, resolve_target  # noqa: E402
from modelctl.ollama.server import OllamaClient, ServerInfo  # noqa: E402
from modelctl.output import compare as reports  # noqa: E402
from modelctl.output import dumps, envelope  # noqa: E402
from modelctl.profile.prompts import Assertion, PromptCase  # noqa: E402
from tests.fixtures_compare import PROFILES, build  # noqa: E402

REFS = ("creative", "precise", "wide", "qwen")

CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
from tests.fixtures_compare import nodelay_double
d = nodelay_double()
print(d.url, flush=True)
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "latency":
        d.state.latency = float(arg)
    elif cmd == "parallel":
        d.state.parallel = int(arg)
    elif cmd == "quit":
        break
    print("ok", flush=True)
d.close()
"""


class ChildDouble:
    """The Ollama API double in a child process, steered through its stdin."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(REPO)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()

    def set(self, what: str, value: object) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{what} {value}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=10)


def cases(n: int) -> list[PromptCase]:
    return [
        PromptCase(i + 1, f"Question {i + 1}: give me a recipe idea", assertions=[Assertion("contains", ".")])
        for i in range(n)
    ]


def targets(client: OllamaClient, workdir: Path) -> list[Target]:
    old = os.getcwd()
    os.chdir(workdir)
    try:
        return [resolve_target(r, client) for r in REFS]
    finally:
        os.chdir(old)


def one(client: OllamaClient, ts: list[Target], cs: list[PromptCase], parallel: int) -> Matrix:
    m = run_matrix(client, ts, cs, parallel=parallel)
    bad = [c for c in m.cells if c.status != "ok"]
    if bad:
        raise SystemExit(f"{len(bad)} cell(s) failed: {bad[0].error}")
    return m


def raw_per_request(url: str, requests: list[tuple[str, dict[str, Any]]]) -> float:
    """Seconds per request for the leanest client: raw HTTP/1.1 on one socket, nothing parsed."""
    u = urllib.parse.urlsplit(url)
    sock = socket.create_connection((u.hostname, u.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.perf_counter()
    for path, body in requests:
        data = json.dumps(body).encode()
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {u.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
        buf = b""
        while not buf.endswith(b"\r\n0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit("the double closed the connection")
            buf += chunk
    dt = time.perf_counter() - t0
    sock.close()
    return dt / len(requests)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--latency", type=float, default=0.2, help="seconds the double sleeps per request")
    ap.add_argument("--prompts", type=int, default=10)
    args = ap.parse_args()

    double = ChildDouble()
    double.set("parallel", 4)
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        work = Path(tmp)
        (work / "profiles").mkdir()
        for name, text in PROFILES.items():
            if name in ("base.yaml", *(f"{r}.yaml" for r in REFS)):
                (work / "profiles" / name).write_text(text, encoding="utf-8")
        build(SimpleNamespace(url=double.url), work, *REFS)  # type: ignore[arg-type]
        client = OllamaClient(double.url)
        ts = targets(client, work)
        cs = cases(args.prompts)
        n = len(ts) * len(cs)
        one(client, ts, cs, 4)  # warm up: runners loaded, connections open, code paths imported

        prompts = work / "prompts.yaml"
        prompts.write_text(
            "".join(
                f"- prompt: \"Question {c.index}: give me a recipe idea\"\n  expect: {{contains: '.'}}\n" for c in cs
            ),
            encoding="utf-8",
        )
        print(
            f"compare matrix: {len(ts)} profiles x {len(cs)} prompts = {n} cells; "
            f"double latency {args.latency * 1000:.0f} ms/request, at most 4 requests per model at once"
        )
        double.set("latency", args.latency)
        env = {**bench_env(), "MODELCTL_STATE_DIR": str(work / "state")}
        env.pop("OLLAMA_HOST", None)
        refs = [str(work / "profiles" / f"{r}.yaml") for r in REFS]
        for parallel in (4, 1):
            ideal = n * args.latency / parallel
            cmd = [*modelctl_cmd(), "compare", *refs, "--prompts", str(prompts), "--parallel", str(parallel)]
            cpu: dict[str, list[float]] = {}
            samples = paired(
                {
                    "modelctl compare": [*cmd, "--host", double.url, "-q"],
                    "python -c pass": [sys.executable, "-c", "pass"],
                },
                runs=args.rounds if parallel == 4 else 1,
                env=env,
                cpu=cpu,
            )
            walls, start = samples["modelctl compare"], samples["python -c pass"]
            ideals = [s + ideal for s in start]
            print(
                f"  --parallel {parallel} (whole command): wall median {statistics.median(walls):.3f} s, "
                f"min {min(walls):.3f} s; ideal {ideal:.3f} s + python -c pass {statistics.median(start):.3f} s"
            )
            print(f"  modelctl compare's own CPU time: median {statistics.median(cpu['modelctl compare']):.3f} s")
            if parallel == 4:
                print("  " + verdict("whole command / (ideal + start-up)", walls, ideals, 1.15))

        double.set("latency", 0)
        bodies = [
            ("/api/chat" if t.use_chat else "/api/generate", {**build_request(t, c.prompt)}) for t in ts for c in cs
        ]
        overheads, raws, cells, cpus = [], [], [], []
        last: Matrix | None = None
        for _ in range(args.rounds):
            # Interleave the two clients so machine noise hits both alike.
            raw = raw_per_request(double.url, bodies)
            cpu0 = time.process_time()
            last = one(client, ts, cs, 1)
            cpus.append((time.process_time() - cpu0) / n)
            per_cell = last.wall_s / n
            raws.append(raw)
            cells.append(per_cell)
            overheads.append(per_cell - raw)
        med_over = statistics.median(overheads)
        med_cpu = statistics.median(cpus)
        try:
            load = os.getloadavg()[0]
        except OSError:
            load = float("nan")
        print(
            f"latency 0, --parallel 1: modelctl {statistics.median(cells) * 1000:.2f} ms/cell; the double "
            f"alone (raw-socket client) {statistics.median(raws) * 1000:.2f} ms/request "
            f"[{os.cpu_count()} CPUs, load average {load:.1f}]"
        )
        print(
            f"  modelctl overhead (wall): {med_over * 1000:.2f} ms/cell (median of {args.rounds}; min "
            f"{min(overheads) * 1000:.2f}, max {max(overheads) * 1000:.2f})"
            f"  {'PASS (<= 5 ms)' if med_over <= 0.005 else 'FAIL (> 5 ms)'}"
        )
        print(
            f"  modelctl CPU time: {med_cpu * 1000:.2f} ms/cell (all threads of this process; the double "
            f"runs in another)  {'PASS (<= 5 ms)' if med_cpu <= 0.005 else 'FAIL (> 5 ms)'}"
        )

        assert last is not None
        last.table = build_table(ts, server=ServerInfo(client.display_host, True, "x"))
        renderers: tuple[tuple[str, Callable[[], str]], ...] = (
            ("text", lambda: reports.matrix_text(last, width=120)),
            ("markdown", lambda: reports.matrix_markdown(last)),
            ("json", lambda: dumps(envelope("compare", last.to_dict()))),
            ("junit", lambda: reports.matrix_junit(last)),
            ("html", lambda: reports.matrix_html(last)),
        )
        for name, fn in renderers:
            times = []
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            med = statistics.median(times)
            print(f"  render {name:<8} {med * 1000:7.2f} ms  ({med / n * 1000:.3f} ms/cell)")
        client.close()
    double.close()


if __name__ == "__main__":
    main()
