"""Benchmark: `modelctl plan` of 50 profiles on 3 hosts at once, each an Ollama API double with 50 ms latency
on every endpoint, timed as a user waits for it: the whole command in a fresh process.

Each double runs in a child process of its own (bench/bench_plan.py's), with 50 deployed models
on one base. Every round runs ``modelctl plan p00.yaml ... --host A --host B --host C`` and, in turn
with it, ``python -c pass``, then reads back from every double what it was asked. Checked every
round: per host one ``/api/version``, one ``/api/tags``, one ``/api/show`` per model and one for the
base, and never more requests in flight than the concurrency per host.

Ideal: a bare interpreter's start-up plus, the hosts being asked in parallel, each host's requests
in rounds of the concurrency C: ceil(requests per host / C) x latency. Reported: the minimum and
the median of the per-round ratios whole command / ideal. Target: median <= 1.5.

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
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._util import modelctl_cmd, paired, verdict  # noqa: E402
from bench.bench_plan import Child, check_counts, run_env, write_profiles  # noqa: E402


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
        counts: list[dict[str, Any]] = []

        def reset(name: str) -> None:
            for c in children:
                c.ask("reset")

        def check(name: str) -> None:
            if name == "modelctl plan":
                counts[:] = [json.loads(c.ask("counts")) for c in children]
                for c in counts:
                    check_counts(c, len(refs), args.concurrency)

        cpu: dict[str, list[float]] = {}
        try:
            hosts = [arg for c in children for arg in ("--host", c.url)]
            cmd = [*modelctl_cmd(), "plan", *refs, *hosts, "--concurrency", str(args.concurrency), "-q"]
            samples = paired(
                {"modelctl plan": cmd, "python -c pass": [sys.executable, "-c", "pass"]},
                runs=args.rounds,
                env=run_env(Path(tmp)),
                before=reset,
                after=check,
                cpu=cpu,
            )
        finally:
            for c in children:
                c.close()
    per_host = max(sum(c["paths"].values()) for c in counts)
    ideal = math.ceil(per_host / args.concurrency) * args.latency
    walls, start = samples["modelctl plan"], samples["python -c pass"]
    print(
        f"plan of {args.profiles} profiles on {args.hosts} hosts, {args.latency * 1000:.0f} ms latency on every "
        f"endpoint, concurrency {args.concurrency} per host (whole command)"
    )
    print(f"requests per host: {per_host} (one version, one model list, {args.profiles} models, one base)")
    print(
        f"ideal {ideal:.3f} s (hosts in parallel) + python -c pass {statistics.median(start):.3f} s; "
        f"modelctl plan median {statistics.median(walls):.3f} s, min {min(walls):.3f} s over {args.rounds} rounds"
    )
    print(f"modelctl plan's own CPU time: median {statistics.median(cpu['modelctl plan']):.3f} s (user + system)")
    print(verdict("plan on hosts in parallel", walls, [s + ideal for s in start], 1.5))


if __name__ == "__main__":
    main()
