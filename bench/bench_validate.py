"""Marginal cost of `modelctl validate` per profile: (t(N) - t(1)) / (N - 1), target <= 2 ms.

Run: python bench/bench_validate.py [N] [runs]
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _util import interleaved  # noqa: E402

TEMPLATE = """# profile {i}
name: bench-{i}
from: llama3.2:3b
description: benchmark profile {i}
system: |
  You are assistant number {i}. Answer briefly.
  Second line of the system prompt.
parameters:
  temperature: {t}
  top_p: 0.9
  top_k: {k}
  repeat_penalty: 1.1
  num_ctx: 8192
  seed: {i}
  stop: ["<|eot_id|>", "###"]
messages:
  - {{role: user, content: "ping {i}"}}
  - {{role: assistant, content: "pong {i}"}}
"""


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    rnd = random.Random(1)
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for i in range(n):
            p = Path(d) / f"p{i}.yaml"
            p.write_text(TEMPLATE.format(i=i, t=round(rnd.uniform(0, 1.5), 2), k=rnd.randint(1, 100)))
            paths.append(str(p))
        py = sys.executable
        med = interleaved(
            {
                "1": [py, "-m", "modelctl", "validate", "-q", paths[0]],
                str(n): [py, "-m", "modelctl", "validate", "-q", *paths],
            },
            runs=runs,
        )
    marginal = (med[str(n)] - med["1"]) / (n - 1)
    print(
        f"validate 1 profile: {med['1'] * 1000:.0f} ms; {n} profiles: {med[str(n)] * 1000:.0f} ms (medians of {runs})"
    )
    print(f"marginal cost per profile: {marginal * 1000:.3f} ms (target <= 2 ms)")


if __name__ == "__main__":
    main()
