"""Benchmark: `modelctl plan` of 50 profiles against the Ollama API double with 50 ms latency on every
endpoint, timed as a user waits for it: the whole command in a fresh process.

The double runs in a child process with 50 deployed models built on one base. Every round runs
``modelctl plan p00.yaml ... p49.yaml --host URL --concurrency C`` and, in turn with it,
``python -c pass`` (a bare interpreter's start-up), then reads back from the double what it was
asked. Checked every round: at most one ``/api/show`` per model plus one for the base, one
``/api/version``, one ``/api/tags``, and never more requests in flight than the concurrency.

Ideal for concurrency C: a bare interpreter's start-up plus the requests in rounds of C,
ceil(requests / C) x latency (a perfect client doing nothing but start and wait). Reported: the
minimum and the median of the per-round ratios whole command / ideal. Target: median <= 1.5.

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
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._util import ChildProcess, bench_env, modelctl_cmd, paired, ratios, verdict  # noqa: E402

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


def run_env(tmp: Path) -> dict[str, str]:
    env = {**bench_env(), "MODELCTL_STATE_DIR": str(tmp / "state")}
    env.pop("OLLAMA_HOST", None)
    return env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profiles", type=int, default=50)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        refs = write_profiles(Path(tmp), args.profiles)
        child = Child(args.profiles, args.latency)
        counts: dict[str, Any] = {}

        def reset(name: str) -> None:
            child.ask("reset")

        def check(name: str) -> None:
            if name == "modelctl plan":
                counts.update(json.loads(child.ask("counts")))
                check_counts(counts, len(refs), concurrency)

        try:
            for concurrency in (args.concurrency, 1):
                cmd = [*modelctl_cmd(), "plan", *refs, "--host", child.url, "--concurrency", str(concurrency), "-q"]
                runs = args.rounds if concurrency != 1 else max(1, args.rounds // 2)
                cpu: dict[str, list[float]] = {}
                samples = paired(
                    {"modelctl plan": cmd, "python -c pass": [sys.executable, "-c", "pass"]},
                    runs=runs,
                    env=run_env(Path(tmp)),
                    before=reset,
                    after=check,
                    cpu=cpu,
                )
                requests = sum(counts["paths"].values())
                ideal = math.ceil(requests / concurrency) * args.latency
                start = samples["python -c pass"]
                walls = samples["modelctl plan"]
                rows.append((concurrency, requests, ideal, walls, [s + ideal for s in start], cpu["modelctl plan"]))
        finally:
            child.close()
    print(f"plan of {args.profiles} profiles, {args.latency * 1000:.0f} ms latency on every endpoint (whole command)")
    print(
        f"{'concurrency':>11}  {'requests':>8}  {'ideal s':>8}  {'median s':>8}  {'min x':>6}  {'median x':>8}  "
        f"{'CPU s':>6}"
    )
    for c, requests, ideal, walls, ideals, cpus in rows:
        lo, med = ratios(walls, ideals)
        print(
            f"{c:>11}  {requests:>8}  {ideal:>8.3f}  {statistics.median(walls):>8.3f}  {lo:>6.2f}  {med:>8.2f}  "
            f"{statistics.median(cpus):>6.3f}"
        )
    print("(ideal = the requests' latency in rounds of the concurrency; ratios against it plus python -c pass;")
    print(" CPU s = modelctl's own CPU seconds, user + system, median)")
    print(verdict(f"concurrency {args.concurrency}", rows[0][3], rows[0][4], 1.5))


if __name__ == "__main__":
    main()
