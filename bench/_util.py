"""Shared helpers for the benchmark scripts: medians of repeated wall-clock runs."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable, Sequence


def wall(cmd: Sequence[str], *, runs: int, env: dict[str, str] | None = None) -> list[float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - t)
    return times


def interleaved(cmds: dict[str, Sequence[str]], *, runs: int) -> dict[str, float]:
    """Medians, running the commands in turn so that machine noise hits them alike."""
    samples: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(runs):
        for name, cmd in cmds.items():
            samples[name] += wall(cmd, runs=1)
    return {k: statistics.median(v) for k, v in samples.items()}


def timed(fn: Callable[[], object], *, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)
