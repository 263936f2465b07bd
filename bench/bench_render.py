"""Render throughput with loading included, and `modelctl render` as a user waits for it.

1. In this process: load (YAML, extends, validation) + render + round-trip check of N profiles,
   each profile loaded afresh (loading is two thirds of the cost; leaving it out flattered the
   figure). Target: >= 2,000 profiles/s.
2. The whole command in a fresh process, ``modelctl render p0.yaml``, in turn with ``modelctl
   --help`` (the CLI's own start-up floor) and ``python -c pass``: minimum and median of the
   per-round ratios render / --help.

Run: python bench/bench_render.py [N] [ROUNDS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _util import modelctl_cmd, paired, ratios  # noqa: E402
from bench_validate import TEMPLATE  # noqa: E402


def main() -> None:
    from modelctl.modelfile.render import render
    from modelctl.profile.profile import load_profile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 11
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for i in range(n):
            p = Path(d) / f"p{i}.yaml"
            p.write_text(TEMPLATE.format(i=i, t=0.7, k=40))
            paths.append(str(p))
        render(load_profile(paths[0]))  # compile the template once, as a long run would
        rates = []
        for _ in range(5):
            t = time.perf_counter()
            for path in paths:
                render(load_profile(path))
            rates.append(n / (time.perf_counter() - t))
        print(
            f"load + render + round-trip: median {statistics.median(rates):,.0f} profiles/s over 5 runs of {n} "
            "(target >= 2,000)"
        )
        mc = modelctl_cmd()
        samples = paired(
            {
                "modelctl render p0.yaml": [*mc, "render", paths[0]],
                "modelctl --help": [*mc, "--help"],
                "python -c pass": [sys.executable, "-c", "pass"],
            },
            runs=rounds,
        )
    for name, times in samples.items():
        print(f"{name:26s} median {statistics.median(times) * 1000:7.1f} ms, min {min(times) * 1000:7.1f} ms")
    lo, med = ratios(samples["modelctl render p0.yaml"], samples["modelctl --help"])
    print(f"whole render / modelctl --help: median {med:.2f} x, minimum {lo:.2f} x over {rounds} rounds")


if __name__ == "__main__":
    main()
