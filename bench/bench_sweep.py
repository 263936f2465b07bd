"""Benchmark: ``probe`` and ``compare --sweep`` against the Ollama API double.

1. **probe's requests.** A profile with num_ctx 131072 probed on the double as Ollama 0.12.6
   (Go runners: a refusal without numbers) and as 0.33.0 (llama-server: the refusal counts the
   prompt): the generate requests the search sends, and every HTTP request of the probe
   (version, show, ps too). Target: at most ~20. Then the search alone (no server) when the
   expectation is wrong: a runner that takes half, or 200 tokens more, of what was expected.
2. **A 3 x 2 sweep, as a user waits for it.** ``modelctl compare PROFILE --sweep
   temperature=0.2,0.7,1.0 --sweep top_p=0.5,0.9`` over 10 prompts with ``--parallel 4``, the whole
   command in a fresh process, the double (in a child process) sleeping ``--latency`` (200 ms) per
   request and serving 4 requests per model at once: 60 cells. Each round runs it in turn with
   ``python -c pass``; the ideal is that start-up plus 60 x 0.2 s / 4 = 3.0 s. Reported: minimum and
   median of the per-round ratios. Target: median <= 1.15.

    python bench/bench_sweep.py
    python bench/bench_sweep.py --rounds 5 --latency 0.2
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._util import bench_env, modelctl_cmd, paired, verdict  # noqa: E402
from bench.bench_compare import ChildDouble  # noqa: E402
from modelctl.jobs.compare import CompareOptions  # noqa: E402
from modelctl.jobs.probe import CALIBRATION_WORDS, SLOT_PADDING, ProbeStep, Search, probe  # noqa: E402
from modelctl.jobs.sweep import sweep  # noqa: E402
from tests.fixtures_compare import build  # noqa: E402
from tests.ollama_double import RAW_OVERHEAD, OllamaDouble  # noqa: E402

PROFILE = "name: sweepme\nfrom: llama3.2:3b\nparameters:\n  num_ctx: 131072\n  temperature: 0.7\n  top_p: 0.9\n"


def in_dir(work: Path):  # type: ignore[no-untyped-def]
    class _Cd:
        def __enter__(self) -> None:
            self.old = os.getcwd()
            os.chdir(work)

        def __exit__(self, *exc: object) -> None:
            os.chdir(self.old)

    return _Cd()


def bench_probe(work: Path) -> None:
    print("probe of a profile with num_ctx 131072 (the double):")
    with OllamaDouble() as double:
        double.install("llama3.2:3b")
        build(double, work, "sweepme")
        for version in ("0.12.6", "0.33.0"):
            double.state.version = version
            before = len(double.state.requests)
            t0 = time.perf_counter()
            with in_dir(work):
                report = probe("sweepme", host=double.url)
            wall = time.perf_counter() - t0
            http = len(double.state.requests) - before
            verdict = "PASS (<= 20)" if report.requests <= 20 else "FAIL (> 20)"
            print(
                f"  Ollama {version}: largest prompt {report.largest:,} tokens; {report.requests} generate requests "
                f"({http} HTTP requests in all) in {wall:.2f} s  {verdict}"
            )
    print("the search alone, the runner taking other than expected (131071 expected):")
    for label, limit, counted in (
        ("half, refusals uncounted", 65_536, False),
        ("half, refusals naming the context (llama-server)", 65_536, True),
        ("200 tokens more (slot padding)", 131_271, False),
    ):

        def send(words: int, limit: int = limit, counted: bool = counted) -> ProbeStep:
            tokens = RAW_OVERHEAD + words
            if tokens <= limit:
                return ProbeStep(words, tokens, True)
            # llama-server's refusal names the prompt's tokens and its context (it takes one less)
            return ProbeStep(words, tokens, False, context=limit + 1) if counted else ProbeStep(words, None, False)

        s = Search(send, ceiling=131_071 + SLOT_PADDING + 1, expected=131_071)
        s.record(send(CALIBRATION_WORDS))
        s.run()
        found = s.lo.tokens if s.lo is not None else None
        print(f"  {label}: {len(s.steps)} requests, found {found:,} (limit {limit:,})")


def bench_sweep(work: Path, rounds: int, latency: float, n_prompts: int) -> None:
    double = ChildDouble()  # the double in a child process, as bench_compare runs it
    url = double.url
    try:
        double.set("parallel", 4)
        build(type("D", (), {"url": url})(), work, "sweepme")  # type: ignore[arg-type]
        prompts = work / "prompts.yaml"
        prompts.write_text(
            "".join(
                f"- prompt: Question {i + 1}, a recipe idea?\n  expect: {{contains: '.'}}\n" for i in range(n_prompts)
            )
        )
        options = CompareOptions(prompts_file=str(prompts), parallel=4)
        specs = ("temperature=0.2,0.7,1.0", "top_p=0.5,0.9")
        with in_dir(work):
            result = sweep("sweepme", specs, options, host=url)  # the cells' count; the runner loaded
        cells = len(result.matrix.cells)
        double.set("latency", latency)
        env = {**bench_env(), "MODELCTL_STATE_DIR": str(work / "state")}
        env.pop("OLLAMA_HOST", None)
        cmd = [*modelctl_cmd(), "compare", str(work / "profiles" / "sweepme.yaml")]
        cmd += [arg for spec in specs for arg in ("--sweep", spec)]
        cmd += ["--prompts", str(prompts), "--parallel", "4", "--host", url, "-q"]
        cpu: dict[str, list[float]] = {}
        samples = paired(
            {"modelctl compare --sweep": cmd, "python -c pass": [sys.executable, "-c", "pass"]},
            runs=rounds,
            env=env,
            cpu=cpu,
        )
        walls, start = samples["modelctl compare --sweep"], samples["python -c pass"]
        ideal = cells * latency / 4
        print(
            f"sweep 3 x 2 x {n_prompts} prompts = {cells} cells, --parallel 4, {latency * 1000:.0f} ms per answer, "
            f"4 requests per model at once (whole command):"
        )
        print(
            f"  wall median {statistics.median(walls):.3f} s (min {min(walls):.3f}, max {max(walls):.3f}); "
            f"ideal {ideal:.3f} s + python -c pass {statistics.median(start):.3f} s"
        )
        print(f"  modelctl's own CPU time: median {statistics.median(cpu['modelctl compare --sweep']):.3f} s")
        print("  " + verdict("whole command / (ideal + start-up)", walls, [s + ideal for s in start], 1.15))
    finally:
        double.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--latency", type=float, default=0.2, help="seconds the double sleeps per request")
    ap.add_argument("--prompts", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        work = Path(tmp)
        (work / "profiles").mkdir()
        (work / "profiles" / "sweepme.yaml").write_text(PROFILE, encoding="utf-8")
        bench_probe(work)
        bench_sweep(work, args.rounds, args.latency, args.prompts)


if __name__ == "__main__":
    main()
