"""Compare `modelctl estimate` with what llama.cpp itself allocates, model layout by layout.

    python bench/bench_memory_llamacpp.py [--python /tmp/llamavenv/bin/python] [--keep DIR]

For each case it writes a GGUF of the layout (bench/_sparse_gguf.py: the real header and
tensor shapes over a sparse data region, so a Llama-3.1-8B-wide file costs a few KiB), loads it
with llama-cpp-python in a child process (bench/_llamacpp_probe.py: n_ctx, n_seq_max,
type_k/type_v, flash_attn and the batch set as Ollama's llama-server sets them), reads the
KV cache (cells per slot and MiB per cache), compute and output buffer sizes from llama.cpp's
log, and prints them beside modelctl's estimate of the same file, with the ratios.

llama-cpp-python is not a dependency of modelctl: install it into a separate virtualenv
(`CMAKE_ARGS="-DGGML_NATIVE=off" pip install llama-cpp-python`, it compiles llama.cpp) and
pass its interpreter with --python (or LLAMA_CPP_PYTHON). Without one the script says so and
exits 0. Not part of CI.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from _sparse_gguf import Q4_K, Layout, write_sparse_gguf  # noqa: E402

from modelctl.memory.facts import facts_from_gguf  # noqa: E402
from modelctl.memory.memory import MiB, Runtime, cells_per_layer, estimate_for_facts  # noqa: E402

LLAMA_31_8B = Layout(
    "llama-3.1-8b-shape", "llama", 2, 4096, 14336, 32, 8, 128, 128256, 131072, weight_type=Q4_K
)  # 2 of its 32 layers: the compute buffer does not depend on the layer count
QWEN_25_7B = Layout("qwen2.5-7b-shape", "qwen2", 2, 3584, 18944, 28, 4, 128, 152064, 32768, weight_type=Q4_K)
LLAMA = Layout("llama-gqa", "llama", 4, 1024, 2816, 8, 2, 128, 32000, 32768)
QWEN = Layout("qwen2", "qwen2", 4, 896, 4864, 14, 2, 64, 32000, 32768)
GEMMA2 = Layout("gemma2-window-1024", "gemma2", 4, 2304, 9216, 8, 4, 256, 256000, 8192, window=1024)
GEMMA2_NO_WINDOW = Layout("gemma2-no-window", "gemma2", 4, 2304, 9216, 8, 4, 256, 256000, 8192)
GEMMA3 = Layout("gemma3-period-6", "gemma3", 12, 2560, 10240, 8, 4, 256, 262144, 131072, window=1024)
GEMMA3_PATTERN = Layout(
    "gemma3-pattern", "gemma3", 6, 1152, 6912, 4, 1, 256, 262144, 32768, window=512,
    pattern=[True, False, True, True, False, True],
)  # fmt: skip
DECI = Layout("deci-per-layer-kv", "deci", 4, 1024, 2816, [8, 8, 0, 8], [2, 8, 0, 4], 128, 32000, 32768)

# (layout, num_ctx per slot, slots, KV type, flash attention, micro-batch)
CASES: list[tuple[Layout, int, int, str, str, int]] = [
    (LLAMA_31_8B, 8192, 1, "f16", "on", 512),
    (LLAMA_31_8B, 8192, 1, "f16", "off", 512),
    (QWEN_25_7B, 32768, 1, "f16", "on", 512),
    (QWEN_25_7B, 32768, 1, "f16", "off", 512),
    (LLAMA, 5000, 1, "f16", "on", 512),
    (LLAMA, 5000, 3, "f16", "on", 512),
    (LLAMA, 8192, 1, "q8_0", "on", 512),
    (QWEN, 3000, 2, "q4_0", "on", 512),
    (QWEN, 3000, 2, "f16", "off", 512),
    (GEMMA2, 8192, 1, "f16", "on", 512),
    (GEMMA2, 8192, 4, "f16", "on", 512),
    (GEMMA2_NO_WINDOW, 8192, 1, "f16", "off", 512),
    (GEMMA3, 16384, 4, "f16", "on", 512),
    (GEMMA3, 16384, 4, "q8_0", "on", 256),
    (GEMMA3_PATTERN, 4096, 2, "f16", "on", 512),
    (DECI, 4096, 1, "f16", "on", 512),
    (DECI, 5000, 2, "f16", "off", 512),
]

_SIZE = re.compile(r"size = +([\d.]+) MiB \( *(\d+) cells, +(\d+) layers, +(\d+)/(\d+) seqs\)")
_COMPUTE = re.compile(r"CPU compute buffer size = +([\d.]+) MiB")
_OUTPUT = re.compile(r"output buffer size = +([\d.]+) MiB")


@dataclass
class Measured:
    ok: bool
    version: str = "?"
    kv_mib: float = 0.0
    caches: list[tuple[int, int]] = field(default_factory=list)  # (cells per slot, layers) per cache
    compute_mib: float = 0.0
    output_mib: float = 0.0
    error: str = ""


def find_python(given: str | None) -> str | None:
    for candidate in (given, os.environ.get("LLAMA_CPP_PYTHON"), sys.executable):
        if not candidate:
            continue
        probe = subprocess.run([candidate, "-c", "import llama_cpp"], capture_output=True, check=False)
        if probe.returncode == 0:
            return candidate
    return None


def measure(python: str, path: Path, n_ctx: int, slots: int, kv: str, fa: str, ubatch: int) -> Measured:
    args = {"path": str(path), "n_ctx": n_ctx, "n_seq_max": slots, "kv": kv, "fa": fa, "n_batch": ubatch}
    out = subprocess.run(
        [python, str(HERE / "_llamacpp_probe.py"), json.dumps(args)], capture_output=True, text=True, check=False
    )
    try:
        d = json.loads(out.stdout)
    except json.JSONDecodeError:
        return Measured(False, error=(out.stderr or out.stdout).strip().splitlines()[-1:][0] if out.stderr else "?")
    m = Measured(bool(d["ok"]), d.get("version", "?"))
    for line in d["log"].splitlines():
        if s := _SIZE.search(line):
            m.kv_mib += float(s.group(1))
            m.caches.append((int(s.group(2)), int(s.group(3))))
        elif c := _COMPUTE.search(line):
            m.compute_mib = float(c.group(1))
        elif o := _OUTPUT.search(line):
            m.output_mib = float(o.group(1))
    if not m.ok:
        m.error = next((ln for ln in d["log"].splitlines() if "error" in ln.lower()), "load failed")
    return m


def estimate(path: Path, n_ctx: int, slots: int, kv: str, fa: str, ubatch: int) -> tuple[Any, list[tuple[int, int]]]:
    facts = facts_from_gguf(path)
    est = estimate_for_facts(facts, n_ctx, kv, slots, runtime=Runtime(flash_attention=fa == "on", n_batch=ubatch))
    assert est.layout is not None
    cells = cells_per_layer(est.plan, est.layout)
    caches: dict[int, int] = {}
    for c in cells:
        if c:
            caches[c] = caches.get(c, 0) + 1
    return est, sorted(caches.items(), reverse=True)


def run(python: str, work: Path) -> int:
    rows = []
    ratios: dict[str, list[float]] = {"kv": [], "compute": [], "output": []}
    cells_ok = 0
    version = "?"
    for layout, n_ctx, slots, kv, fa, ubatch in CASES:
        path = work / f"{layout.name}.gguf"
        if not path.exists():
            write_sparse_gguf(path, layout)
        m = measure(python, path, n_ctx, slots, kv, fa, ubatch)
        version = m.version
        label = f"{layout.name} {n_ctx:,}x{slots} {kv} fa={fa} ub={ubatch}"
        if not m.ok:
            rows.append(f"{label:<52} llama.cpp refused: {m.error}")
            continue
        est, caches = estimate(path, n_ctx, slots, kv, fa, ubatch)
        mine_kv = est.kv_cache_bytes / MiB
        same_cells = sorted(m.caches, reverse=True) == caches
        cells_ok += same_cells
        r_kv = mine_kv / m.kv_mib if m.kv_mib else float("nan")
        r_cmp = est.compute_bytes / MiB / m.compute_mib
        r_out = est.output_bytes / MiB / m.output_mib if m.output_mib else float("nan")
        for k, r in (("kv", r_kv), ("compute", r_cmp), ("output", r_out)):
            if r == r:  # not NaN
                ratios[k].append(r)
        rows.append(
            f"{label:<52} cells {'same' if same_cells else f'{m.caches} vs {caches}':<5}"
            f"  KV {m.kv_mib:9.2f} / {mine_kv:9.2f} = {r_kv:6.4f}"
            f"  compute {m.compute_mib:8.2f} / {est.compute_bytes / MiB:8.2f} = {r_cmp:6.3f}"
            f"  output {m.output_mib:5.2f} / {est.output_bytes / MiB:5.2f}"
        )
    print(f"llama-cpp-python {version}. Each column: llama.cpp's MiB / modelctl's MiB = modelctl / llama.cpp")
    print("(llama.cpp logs MiB with two decimals, so small caches differ in the last digit)")
    print("\n".join(rows))
    for k, v in ratios.items():
        if v:
            med, lo, hi = statistics.median(v), min(v), max(v)
            print(f"{k:8} ratio (modelctl / llama.cpp): median {med:.4f}, min {lo:.4f}, max {hi:.4f}")
    print(f"cells per cache identical in {cells_ok} of {len(CASES)} cases")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", help="an interpreter with llama-cpp-python (else LLAMA_CPP_PYTHON, else this one)")
    ap.add_argument("--keep", type=Path, help="write the GGUF files here and keep them")
    args = ap.parse_args()
    python = find_python(args.python)
    if python is None:
        print("skipped: no interpreter with llama-cpp-python (pass --python or set LLAMA_CPP_PYTHON)")
        return 0
    work = args.keep or Path(tempfile.mkdtemp(prefix="modelctl-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return run(python, work)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
