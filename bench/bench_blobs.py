"""Benchmark: hash + upload of a large local model file, as `modelctl build` does it.

For each file size (default 256 MiB and 1 GiB, random bytes) and each round:

* ``sha256sum FILE`` (the reference; wall time),
* a fresh Python process running modelctl's own path: streaming SHA-256
  (``modelctl.build.sha256_stream``), ``HEAD /api/blobs/<digest>`` and the streaming
  ``POST`` (``OllamaClient.upload_blob``) to the Ollama API double, timing each step and
  reporting its peak RSS,
* the same process again with the blob already on the server: it must send 0 bytes.

Prints medians and ratios (throughput = size / time). The double runs in this process's
threads; the measured client runs in a child process so its peak RSS is its own.

    python bench/bench_blobs.py                 # 256 MiB and 1 GiB, 3 rounds
    python bench/bench_blobs.py --sizes 64 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from modelctl.build import sha256_stream
from modelctl.server import OllamaClient

path, host = Path(sys.argv[1]), sys.argv[2]
sent = [0]
t0 = time.perf_counter()
digest = sha256_stream(path)
t1 = time.perf_counter()
with OllamaClient(host) as client:
    present = client.blob_exists(digest)
    t2 = time.perf_counter()
    if not present:
        client.upload_blob(path, digest, lambda n: sent.__setitem__(0, n))
    t3 = time.perf_counter()
print(json.dumps({
    "digest": digest, "present": present, "sent": sent[0],
    "hash_s": t1 - t0, "head_s": t2 - t1, "upload_s": t3 - t2, "total_s": t3 - t0,
    "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
}))
"""


def write_random(path: Path, size: int) -> None:
    chunk = 16 << 20
    with open(path, "wb") as fh:
        left = size
        while left > 0:
            n = min(chunk, left)
            fh.write(os.urandom(n))
            left -= n


def run_child(path: Path, url: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), url], capture_output=True, text=True,
                         env=env, check=True)
    result: dict[str, float] = json.loads(out.stdout)
    return result


def time_sha256sum(path: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(["sha256sum", str(path)], check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 1024], help="file sizes in MiB")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default=None, help="where to write the test files (default: a temp dir)")
    args = ap.parse_args()

    from tests.ollama_double import OllamaDouble

    tmp = Path(tempfile.mkdtemp(prefix="bench-blobs-", dir=args.dir))
    summary = []
    with OllamaDouble() as double:
        for mib in args.sizes:
            size = mib << 20
            path = tmp / f"model-{mib}MiB.bin"
            write_random(path, size)
            subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
            ref, hashes, uploads, totals, rss, second = [], [], [], [], [], []
            for _ in range(args.rounds):
                ref.append(time_sha256sum(path))
                for f in Path(double.state.blob_dir).glob("sha256-*"):
                    f.unlink()  # so that the upload really happens
                r = run_child(path, double.url)
                assert not r["present"] and r["sent"] == size, r
                hashes.append(r["hash_s"])
                uploads.append(r["upload_s"])
                totals.append(r["total_s"])
                rss.append(r["maxrss_kib"] / 1024)
                again = run_child(path, double.url)  # the second build: blob already there
                second.append(again["sent"])
                assert again["present"], again
            med = statistics.median
            row = {
                "size_mib": mib,
                "sha256sum_s": med(ref),
                "hash_s": med(hashes),
                "upload_s": med(uploads),
                "hash_upload_s": med(totals),
                "sha256sum_MiB_s": mib / med(ref),
                "hash_MiB_s": mib / med(hashes),
                "hash_upload_MiB_s": mib / med(totals),
                "ratio_hash_vs_sha256sum": med(ref) / med(hashes),
                "ratio_hash_upload_vs_sha256sum": med(ref) / med(totals),
                "peak_rss_mib": max(rss),
                "second_build_bytes_sent": max(second),
            }
            summary.append(row)
            print(
                f"{mib:5d} MiB  sha256sum {row['sha256sum_MiB_s']:7.0f} MiB/s | modelctl hash "
                f"{row['hash_MiB_s']:7.0f} MiB/s (x{row['ratio_hash_vs_sha256sum']:.2f}) | "
                f"hash+HEAD+upload {row['hash_upload_MiB_s']:7.0f} MiB/s "
                f"(x{row['ratio_hash_upload_vs_sha256sum']:.2f}) | peak RSS {row['peak_rss_mib']:.1f} MiB | "
                f"second build sent {row['second_build_bytes_sent']} B",
                flush=True,
            )
            path.unlink()
    if len(summary) >= 2:
        growth = summary[-1]["peak_rss_mib"] - summary[0]["peak_rss_mib"]
        first, last = summary[0]["size_mib"], summary[-1]["size_mib"]
        print(f"peak RSS growth from {first} to {last} MiB files: {growth:+.1f} MiB")
    print(json.dumps(summary, indent=1))
    tmp.rmdir()


if __name__ == "__main__":
    main()
