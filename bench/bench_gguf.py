"""Benchmark `modelctl inspect`: header-only reading, flat memory, whole-process figures.

    python bench/bench_gguf.py [--runs 5] [--keep DIR] [--compare-gguf-package]

Measures, each as a fresh process (`python -m modelctl inspect FILE --format json`), the
median wall time and the peak RSS (from wait4's rusage, so it is the child's own figure):

1. a 1 MiB GGUF and an 8 GiB sparse GGUF with the same header -> wall-time ratio (target
   <= 1.2) and peak RSS (target <= 60 MB for both);
2. a Llama-3-8B-like header (128,256 tokens with their types, 280,147 merges, 291 tensor
   infos, sparse data region) -> wall time (target <= 1 s) and peak RSS (target <= 100 MB).

With --compare-gguf-package it also times the gguf package's GGUFReader on the big header
(slow: tens of seconds). The generators are shared with the tests (tests/fixtures_gguf.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# The files are generated in a child process: Linux keeps a process's peak RSS across
# fork + exec, so a parent that had built the 400K-string header in memory would inflate
# every measurement that follows. The measuring parent stays small.


def generate(d: Path) -> None:
    sys.path.insert(0, str(REPO))
    from tests.fixtures_gguf import write_big_header_gguf, write_tiny_llama

    small = write_tiny_llama(d / "small-1mib.gguf")
    with open(small, "r+b") as fh:
        fh.truncate(1 << 20)
    sparse = d / "sparse-8gib.gguf"
    sparse.write_bytes(small.read_bytes())
    with open(sparse, "r+b") as fh:
        fh.truncate(8 << 30)
    write_big_header_gguf(d / "llama3-8b-header.gguf")


def measure(cmd: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB (10^6 bytes), exit status) of one fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss_bytes = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return wall, rss_bytes / 1e6, proc.returncode


def parent_rss() -> float:
    import resource

    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e6


def bench(paths: list[Path], runs: int) -> list[tuple[float, float, float]]:
    """(median wall, min wall, max peak RSS) per file; the files' runs are interleaved so that a
    noisy machine affects them alike."""
    cmds = [[sys.executable, "-m", "modelctl", "inspect", str(p), "--format", "json"] for p in paths]
    walls: list[list[float]] = [[] for _ in paths]
    rss: list[list[float]] = [[] for _ in paths]
    for cmd in cmds:
        measure(cmd)  # warm the page cache and the bytecode cache
    for _ in range(runs):
        for i, cmd in enumerate(cmds):
            w, r, code = measure(cmd)
            if code != 0:
                raise SystemExit(f"inspect failed on {paths[i]} (exit {code})")
            walls[i].append(w)
            rss[i].append(r)
    return [(statistics.median(w), min(w), max(r)) for w, r in zip(walls, rss, strict=True)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", type=Path, default=None, help="write the files here and keep them")
    ap.add_argument("--compare-gguf-package", action="store_true")
    ap.add_argument("--generate", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate is not None:
        generate(args.generate)
        return

    tmp = tempfile.TemporaryDirectory() if args.keep is None else None
    d = Path(tmp.name) if tmp else args.keep
    d.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--generate", str(d)], check=True)
        gen = time.perf_counter() - t0
        small, sparse, big = d / "small-1mib.gguf", d / "sparse-8gib.gguf", d / "llama3-8b-header.gguf"
        header_mib = (big.stat().st_blocks * 512) / (1 << 20)

        base = [measure([sys.executable, "-c", "pass"]) for _ in range(args.runs)]
        w_base = statistics.median(w for w, _, _ in base)
        (w_small, m_small, r_small), (w_sparse, m_sparse, r_sparse), (w_big, m_big, r_big) = bench(
            [small, sparse, big], args.runs
        )
        ratio = w_sparse / w_small
        print(f"runs per file: {args.runs}, interleaved (median and min wall, max peak RSS; whole process)")
        print(f"python -c pass        wall {w_base:.3f} s   (interpreter start-up on this machine)")
        print(f"1 MiB GGUF            wall {w_small:.3f} s (min {m_small:.3f})   peak RSS {r_small:.1f} MB")
        print(f"8 GiB sparse GGUF     wall {w_sparse:.3f} s (min {m_sparse:.3f})   peak RSS {r_sparse:.1f} MB")
        print(
            f"  wall ratio 8 GiB / 1 MiB = {ratio:.3f} (of minima {m_sparse / m_small:.3f})"
            "   (target <= 1.2; RSS target <= 60 MB)"
        )
        print(
            f"Llama-3-8B header     wall {w_big:.3f} s (min {m_big:.3f})   peak RSS {r_big:.1f} MB   "
            f"(target <= 1 s, <= 100 MB; file {big.stat().st_size / (1 << 30):.2f} GiB apparent, "
            f"{header_mib:.1f} MiB on disk)"
        )
        print(f"(files generated in {gen:.2f} s; parent peak RSS {parent_rss():.1f} MB)")
        ok = ratio <= 1.2 and max(r_small, r_sparse) <= 60 and w_big <= 1.0 and r_big <= 100
        if args.compare_gguf_package:
            code = (
                "import sys,time; t=time.perf_counter(); from gguf import GGUFReader; "
                "r=GGUFReader(sys.argv[1]); n=len(r.tensors); print(time.perf_counter()-t)"
            )
            w, r, rc = measure([sys.executable, "-c", code, str(big)])
            print(f"gguf.GGUFReader       wall {w:.3f} s   peak RSS {r:.1f} MB   (exit {rc}; for comparison)")
        print("targets met" if ok else "TARGETS MISSED")
        if not ok:
            sys.exit(1)
    finally:
        if tmp:
            tmp.cleanup()


if __name__ == "__main__":
    main()
