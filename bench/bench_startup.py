"""`modelctl --help` wall time against `python -c "import click"` (target: ratio <= 1.3).

Run: python bench/bench_startup.py [runs]
"""

from __future__ import annotations

import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _util import interleaved  # noqa: E402


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 21
    py = sys.executable
    med = interleaved(
        {
            "python -c pass": [py, "-c", "pass"],
            "import click": [py, "-c", "import click"],
            "modelctl --help": [py, "-m", "modelctl", "--help"],
            "modelctl validate --help": [py, "-m", "modelctl", "validate", "--help"],
        },
        runs=runs,
    )
    for name, t in med.items():
        print(f"{name:28s} median {t * 1000:7.1f} ms")
    ratio = med["modelctl --help"] / med["import click"]
    print(f"ratio --help / import click: {ratio:.2f} (target <= 1.30), {runs} runs each, interleaved")


if __name__ == "__main__":
    main()
