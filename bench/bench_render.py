"""In-process render + round-trip check throughput (target: >= 2,000 profiles/s).

Run: python bench/bench_render.py [N]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_validate import TEMPLATE  # noqa: E402


def main() -> None:
    from modelctl.modelfile.render import render
    from modelctl.profile.profile import load_profile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as d:
        loaded = []
        for i in range(n):
            p = Path(d) / f"p{i}.yaml"
            p.write_text(TEMPLATE.format(i=i, t=0.7, k=40))
            loaded.append(load_profile(str(p)))
        render(loaded[0])  # compile the template once, as a long run would
        rates = []
        for _ in range(5):
            t = time.perf_counter()
            for lp in loaded:
                render(lp)
            rates.append(n / (time.perf_counter() - t))
    print(
        f"render + round-trip: median {statistics.median(rates):,.0f} profiles/s over 5 runs of {n} (target >= 2,000)"
    )


if __name__ == "__main__":
    main()
