"""Shared helpers for the benchmark scripts: medians of repeated wall-clock runs."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence


def bench_env() -> dict[str, str]:
    """The environment of an installed tool: bytecode caches allowed (pip compiles them at install;
    PYTHONDONTWRITEBYTECODE would make every run recompile every module and measure the compiler)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall(cmd: Sequence[str], *, runs: int, env: dict[str, str] | None = None) -> list[float]:
    times = []
    env = env if env is not None else bench_env()
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - t)
    return times


def interleaved(cmds: dict[str, Sequence[str]], *, runs: int) -> dict[str, float]:
    """Medians, running the commands in turn so that machine noise hits them alike."""
    samples: dict[str, list[float]] = {k: [] for k in cmds}
    for cmd in cmds.values():  # warm-up: bytecode caches and the page cache
        wall(cmd, runs=1)
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
