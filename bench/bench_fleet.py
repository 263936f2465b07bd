"""Benchmark: `plan` of 50 profiles on 3 hosts at once, each an Ollama API double with 50 ms latency
on every endpoint.

Each double runs in a child process of its own (bench/bench_plan.py's), with 50 deployed models
on one base. Each round runs ``modelctl.api.plan_hosts`` in this process and reads back, from
every double, what it was asked. Checked every round: per host one ``/api/version``, one
``/api/tags``, one ``/api/show`` per model and one for the base, and never more requests in
flight than the concurrency per host.

Ideal wall time: the hosts are asked in parallel, each host's requests in rounds of the
concurrency C: ceil(requests per host / C) x latency. Target: the median wall time (loading,
rendering and comparing the 50 profiles, once, included) <= 1.5 x that ideal.

    python bench/bench_fleet.py
    python bench/bench_fleet.py --profiles 50 --hosts 3 --latency 0.05 --concurrency 8 --rounds 5
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

from bench.bench_plan import Child, check_counts, write_profiles  # noqa: E402
from modelctl import api  # noqa: E402


def one_round(children: list[Child], refs: list[str], concurrency: int) -> tuple[float, list[dict[str, Any]]]:
    for c in children:
        c.ask("reset")
    t = time.perf_counter()
    fleet = api.plan_hosts(refs, api.PlanOptions(concurrency=concurrency), hosts=[c.url for c in children])
    wall = time.perf_counter() - t
    counts = [json.loads(c.ask("counts")) for c in children]
    assert not fleet.failed_hosts, [r.error for r in fleet.failed_hosts]
    assert fleet.exit_code() == 0, fleet.counts()
    for c in counts:
        check_counts(c, len(refs), concurrency)
    return wall, counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profiles", type=int, default=50)
    ap.add_argument("--hosts", type=int, default=3)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        refs = write_profiles(Path(tmp), args.profiles)
        children = [Child(args.profiles, args.latency) for _ in range(args.hosts)]
        try:
            one_round(children, refs, args.concurrency)  # warm-up: imports, caches
            walls = []
            counts: list[dict[str, Any]] = []
            for _ in range(args.rounds):
                wall, counts = one_round(children, refs, args.concurrency)
                walls.append(wall)
        finally:
            for c in children:
                c.close()
    per_host = max(sum(c["paths"].values()) for c in counts)
    ideal = math.ceil(per_host / args.concurrency) * args.latency
    median = statistics.median(walls)
    print(
        f"plan of {args.profiles} profiles on {args.hosts} hosts, {args.latency * 1000:.0f} ms latency on every "
        f"endpoint, concurrency {args.concurrency} per host"
    )
    print(f"requests per host: {per_host} (one version, one model list, {args.profiles} models, one base)")
    print(f"ideal {ideal:.3f} s (hosts in parallel), median {median:.3f} s over {args.rounds} rounds")
    ratio = median / ideal
    verdict = "OK" if ratio <= 1.5 else "ABOVE TARGET"
    print(f"target: wall <= 1.5 x ideal: {ratio:.2f} x ({verdict})")


if __name__ == "__main__":
    main()
