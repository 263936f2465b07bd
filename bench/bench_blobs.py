"""Benchmark: hash + upload of a large local model file, as `modelctl build` does it.

For each file size (default 256 MiB and 1 GiB, random bytes) and each round:

* ``openssl dgst -sha256 FILE`` (the reference: the fastest SHA-256 process here, 3.5 x
  ``sha256sum``), wall time of the whole process,
* modelctl's hash as a whole process (``modelctl.common.files.sha256_file`` in a fresh interpreter, start-up
  included), run in turn with it: minimum and median of the per-round ratios,
* a fresh Python process running modelctl's own path: streaming SHA-256
  (``modelctl.jobs.build.sha256_stream``), ``HEAD /api/blobs/<digest>`` and the streaming
  ``POST`` (``OllamaClient.upload_blob``) to the Ollama API double, timing each step and
  reporting its peak RSS,
* the same process again with the blob already on the server: it must send 0 bytes,
* the whole CLI, ``modelctl build`` of a profile whose ``from`` is a GGUF of that size
  (a tiny llama padded with random bytes), twice: peak RSS of the CLI process, and the
  blob bytes the second build sends (0: HEAD finds the blob, the model is up to date).

Prints medians, and ratios of pairs timed in the same round (throughput = size / time). The
double runs in this process's threads; the measured client runs in a child process so its peak RSS is its own.

    python bench/bench_blobs.py                 # 256 MiB and 1 GiB, 3 rounds
    python bench/bench_blobs.py --sizes 64 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._util import ratios  # noqa: E402

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from modelctl.common.files import sha256_file as sha256_stream
from modelctl.ollama.server import OllamaClient

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
# VmHWM is this process's own peak (ru_maxrss may include the parent's RSS at fork time).
hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        hwm = int(line.split()[1])
print(json.dumps({
    "digest": digest, "present": present, "sent": sent[0],
    "hash_s": t1 - t0, "head_s": t2 - t1, "upload_s": t3 - t2, "total_s": t3 - t0,
    "maxrss_kib": hwm,
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
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), url], capture_output=True, text=True, env=env, check=True
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def run_cli_build(profile: Path, url: str, state: Path) -> tuple[float, float, dict[str, object]]:
    """(seconds, peak RSS MiB, the build entry of the JSON envelope) for one `modelctl build`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OLLAMA_HOST": url, "MODELCTL_STATE_DIR": str(state)}
    cmd = [
        "/usr/bin/time",
        "-f",
        "MAXRSS_KIB %M",
        sys.executable,
        "-m",
        "modelctl",
        "build",
        str(profile),
        "--format",
        "json",
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"modelctl build failed ({proc.returncode}): {proc.stderr}")
    rss_lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("MAXRSS_KIB ")]
    rss = int(rss_lines[-1].split()[1]) / 1024 if rss_lines else float("nan")
    entry: dict[str, object] = json.loads(proc.stdout)["data"]["builds"][0]
    return seconds, rss, entry


def write_padded_gguf(path: Path, size: int) -> None:
    """A valid tiny llama GGUF followed by random bytes up to ``size`` (the double reads the header)."""
    from tests.fixtures_gguf import write_tiny_llama

    write_tiny_llama(path)
    with open(path, "ab") as fh:
        left = size - path.stat().st_size
        while left > 0:
            n = min(16 << 20, left)
            fh.write(os.urandom(n))
            left -= n


HASH = "import sys; from modelctl.common.files import sha256_file; print(sha256_file(sys.argv[1]))"


def time_process(cmd: list[str]) -> float:
    """Wall time of a whole process (start-up, imports and reading the file included)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - t0


def time_openssl(path: Path) -> float:
    return time_process(["openssl", "dgst", "-sha256", str(path)])


def time_modelctl_hash(path: Path) -> float:
    return time_process([sys.executable, "-c", HASH, str(path)])


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
            ref, hashes, uploads, rss, second, whole_hash, whole_upload = [], [], [], [], [], [], []
            for _ in range(args.rounds):
                ref.append(time_openssl(path))
                whole_hash.append(time_modelctl_hash(path))
                for f in Path(double.state.blob_dir).glob("sha256-*"):
                    f.unlink()  # so that the upload really happens
                t0 = time.perf_counter()
                r = run_child(path, double.url)
                whole_upload.append(time.perf_counter() - t0)
                assert not r["present"] and r["sent"] == size, r
                hashes.append(r["hash_s"])
                uploads.append(r["upload_s"])
                rss.append(r["maxrss_kib"] / 1024)
                again = run_child(path, double.url)  # the second build: blob already there
                second.append(again["sent"])
                assert again["present"], again
            med = statistics.median
            hash_min, hash_med = ratios(whole_hash, ref)
            up_min, up_med = ratios(whole_upload, ref)
            row = {
                "size_mib": mib,
                "openssl_s": med(ref),
                "hash_process_s": med(whole_hash),
                "hash_in_process_s": med(hashes),
                "upload_s": med(uploads),
                "hash_upload_process_s": med(whole_upload),
                "openssl_MiB_s": mib / med(ref),
                "hash_process_MiB_s": mib / med(whole_hash),
                "hash_upload_process_MiB_s": mib / med(whole_upload),
                "ratio_hash_process_vs_openssl_median": hash_med,
                "ratio_hash_process_vs_openssl_min": hash_min,
                "ratio_hash_upload_process_vs_openssl_median": up_med,
                "ratio_hash_upload_process_vs_openssl_min": up_min,
                "peak_rss_mib": max(rss),
                "second_build_bytes_sent": max(second),
            }
            gguf = tmp / f"model-{mib}MiB.gguf"
            write_padded_gguf(gguf, size)
            profile = tmp / f"p{mib}.yaml"
            profile.write_text(f"name: bench-{mib}\nfrom: ./{gguf.name}\nparameters: {{num_ctx: 2048}}\n")
            state = tmp / "state"
            s1, rss1, first = run_cli_build(profile, double.url, state)
            s2, rss2, second_build = run_cli_build(profile, double.url, state)
            assert first["uploaded_bytes"] == size and second_build["status"] == "up_to_date", second_build
            row.update(
                {
                    "cli_build_s": s1,
                    "cli_build_peak_rss_mib": rss1,
                    "cli_second_build_s": s2,
                    "cli_second_build_status": second_build["status"],
                    "cli_second_build_bytes_sent": second_build["uploaded_bytes"],
                    "cli_second_build_peak_rss_mib": rss2,
                }
            )
            gguf.unlink()
            summary.append(row)
            print(
                f"{mib:5d} MiB  openssl dgst -sha256 {row['openssl_MiB_s']:7.0f} MiB/s | modelctl hash (process) "
                f"{row['hash_process_MiB_s']:7.0f} MiB/s, time ratio median {hash_med:.2f} x, min {hash_min:.2f} x | "
                f"hash+HEAD+upload (process) {row['hash_upload_process_MiB_s']:7.0f} MiB/s, time ratio median "
                f"{up_med:.2f} x, min {up_min:.2f} x | peak RSS {row['peak_rss_mib']:.1f} MiB | "
                f"second build sent {row['second_build_bytes_sent']} B",
                flush=True,
            )
            print(
                f"{'':5s}      modelctl build (CLI): {row['cli_build_s']:.2f} s, peak RSS "
                f"{row['cli_build_peak_rss_mib']:.1f} MiB | second build: {row['cli_second_build_status']}, "
                f"{row['cli_second_build_bytes_sent']} blob bytes sent, peak RSS "
                f"{row['cli_second_build_peak_rss_mib']:.1f} MiB",
                flush=True,
            )
            path.unlink()
    if len(summary) >= 2:
        growth = summary[-1]["peak_rss_mib"] - summary[0]["peak_rss_mib"]
        cli_growth = summary[-1]["cli_build_peak_rss_mib"] - summary[0]["cli_build_peak_rss_mib"]
        first, last = summary[0]["size_mib"], summary[-1]["size_mib"]
        print(
            f"peak RSS growth from {first} to {last} MiB files: hash+upload {growth:+.1f} MiB, "
            f"modelctl build {cli_growth:+.1f} MiB"
        )
    print(json.dumps(summary, indent=1))
    shutil.rmtree(tmp, ignore_errors=True)  # profiles and the build-state folder written above


if __name__ == "__main__":
    main()
