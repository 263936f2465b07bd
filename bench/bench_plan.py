"""Benchmark: `plan` of 50 profiles against the Ollama API double with 50 ms latency on every endpoint.

The double runs in a child process (so it does not compete with modelctl for the GIL) with
50 deployed models built on one base. Each round runs ``modelctl.api.plan`` in this process
and reads back, from the double, what it was asked. Checked every round: at most one
``/api/show`` per model plus one for the base, one ``/api/version``, one ``/api/tags``, and
never more requests in flight than the chosen concurrency.

Ideal wall time for concurrency C: the requests in rounds of C, ceil(requests / C) x latency
(the time a perfect client would need, doing nothing but waiting). Target: the median wall
time (loading, rendering and comparing 50 profiles included) <= 1.5 x that ideal. The
sequential run (C = 1) is shown for reference.

    python bench/bench_plan.py
    python bench/bench_plan.py --profiles 50 --latency 0.05 --concurrency 8 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._util import ChildProcess  # noqa: E402
from modelctl import api  # noqa: E402

CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from tests.ollama_double import OllamaDouble, parse_name
n, latency = int(sys.argv[2]), float(sys.argv[3])
d = OllamaDouble().start()
base = d.install("llama3.2:3b")
for i in range(n):
    m = base.copy_as(parse_name(f"p{i:02d}"))
    m.parameters = {**m.parameters, "temperature": 0.5 + i / 100, "num_ctx": 4096}
    m.system = f"You are assistant {i}."
    m.details["parent_model"] = "llama3.2:3b"
    d.state.add_model(m)
d.state.api_latency = latency
print(d.url, flush=True)
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "reset":
        with d.state.lock:
            d.state.requests.clear()
            d.state.max_active = 0
        print("ok", flush=True)
    elif cmd == "counts":
        reqs = list(d.state.requests)
        shows = {}
        for r in reqs:
            if r["path"] == "/api/show":
                shows[r["json"]["model"]] = shows.get(r["json"]["model"], 0) + 1
        paths = {}
        for r in reqs:
            paths[r["path"]] = paths.get(r["path"], 0) + 1
        print(json.dumps({"paths": paths, "shows": shows, "max_active": d.state.max_active}), flush=True)
    elif cmd == "quit":
        break
d.close()
"""


def write_profiles(directory: Path, n: int) -> list[str]:
    refs = []
    for i in range(n):
        p = directory / f"p{i:02d}.yaml"
        p.write_text(
            f"name: p{i:02d}\nfrom: llama3.2:3b\nsystem: You are assistant {i}.\n"
            f"parameters: {{temperature: {0.5 + i / 100}, num_ctx: 4096}}\n",
            encoding="utf-8",
        )
        refs.append(str(p))
    return refs


class Child(ChildProcess):
    """The double with ``n`` deployed models on one base and ``latency`` on every endpoint."""

    def __init__(self, n: int, latency: float) -> None:
        super().__init__(CHILD, str(REPO), str(n), str(latency))
        self.url = self.first


def check_counts(counts: dict[str, Any], n: int, concurrency: int) -> None:
    """One /api/show per model and one for the base, one version, one model list, within the concurrency."""
    assert max(counts["shows"].values()) == 1, counts["shows"]
    assert len(counts["shows"]) == n + 1  # every model, and the one base
    assert counts["paths"].get("/api/version") == 1 and counts["paths"].get("/api/tags") == 1
    assert counts["max_active"] <= concurrency, counts["max_active"]


def one_round(child: Child, refs: list[str], concurrency: int) -> tuple[float, dict[str, Any]]:
    child.ask("reset")
    t = time.perf_counter()
    result = api.plan(refs, api.PlanOptions(concurrency=concurrency), host=child.url)
    wall = time.perf_counter() - t
    counts = json.loads(child.ask("counts"))
    assert not result.drift, [p.differences for p in result.profiles if p.drift][:2]
    check_counts(counts, len(refs), concurrency)
    return wall, counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profiles", type=int, default=50)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        refs = write_profiles(Path(tmp), args.profiles)
        child = Child(args.profiles, args.latency)
        try:
            one_round(child, refs, args.concurrency)  # warm-up: imports, caches
            rows = []
            for c in (args.concurrency, 1):
                walls, counts = [], {}
                for _ in range(args.rounds if c != 1 else max(1, args.rounds // 2)):
                    wall, counts = one_round(child, refs, c)
                    walls.append(wall)
                requests = sum(counts["paths"].values())
                ideal = math.ceil(requests / c) * args.latency
                median = statistics.median(walls)
                rows.append((c, requests, ideal, median, median / ideal, counts["max_active"]))
        finally:
            child.close()
    print(f"plan of {args.profiles} profiles, {args.latency * 1000:.0f} ms latency on every endpoint")
    print(f"{'concurrency':>11}  {'requests':>8}  {'ideal s':>8}  {'median s':>8}  {'ratio':>6}  {'max in flight':>13}")
    for c, requests, ideal, median, ratio, active in rows:
        print(f"{c:>11}  {requests:>8}  {ideal:>8.3f}  {median:>8.3f}  {ratio:>6.2f}  {active:>13}")
    ratio = rows[0][4]
    verdict = "OK" if ratio <= 1.5 else "ABOVE TARGET"
    print(f"target: wall <= 1.5 x ideal at concurrency {args.concurrency}: {ratio:.2f} x ({verdict})")


if __name__ == "__main__":
    main()
