"""Start-up as a user waits for it, whole processes run in turn every round:

* ``modelctl --help`` against ``python -c "import click"`` (target: median ratio <= 1.3);
* ``modelctl inspect`` of a small GGUF (a header, no server) against ``modelctl --help`` (target:
  median ratio <= 1.5: inspect imports only what reading a header needs) and against the gguf
  package's ``gguf-dump`` (the peer; target: ahead of it, ratio < 1).

Reported: minimum and median of the per-round ratios.

Run: python bench/bench_startup.py [runs]
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench._util import modelctl_cmd, paired, verdict  # noqa: E402


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 21
    py = sys.executable
    mc = modelctl_cmd()
    from tests.fixtures_gguf import write_tiny_llama

    with tempfile.TemporaryDirectory() as tmp:
        gguf = str(write_tiny_llama(Path(tmp) / "tiny.gguf"))
        cmds = {
            "python -c pass": [py, "-c", "pass"],
            "import click": [py, "-c", "import click"],
            "modelctl --help": [*mc, "--help"],
            "modelctl validate --help": [*mc, "validate", "--help"],
            "modelctl inspect tiny.gguf": [*mc, "inspect", gguf],
        }
        dump = shutil.which("gguf-dump") or os.path.join(os.path.dirname(py), "gguf-dump")
        if os.path.exists(dump):
            cmds["gguf-dump tiny.gguf"] = [dump, "--no-tensors", gguf]
        samples = paired(cmds, runs=runs)
    for name, t in samples.items():
        print(f"{name:28s} median {statistics.median(t) * 1000:7.1f} ms, min {min(t) * 1000:7.1f} ms")
    print(verdict("--help / import click", samples["modelctl --help"], samples["import click"], 1.3))
    inspect = samples["modelctl inspect tiny.gguf"]
    print(verdict("inspect / --help", inspect, samples["modelctl --help"], 1.5))
    if "gguf-dump tiny.gguf" in samples:
        print(verdict("inspect / gguf-dump", inspect, samples["gguf-dump tiny.gguf"], 1.0))
    else:
        print("gguf-dump not found (pip install gguf): no peer figure")


if __name__ == "__main__":
    main()
