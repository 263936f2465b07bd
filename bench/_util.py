"""Shared helpers for the benchmark scripts: medians of repeated wall-clock runs."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
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


def interleaved(cmds: dict[str, Sequence[str]], *, runs: int, env: dict[str, str] | None = None) -> dict[str, float]:
    """Medians, running the commands in turn so that machine noise hits them alike."""
    samples: dict[str, list[float]] = {k: [] for k in cmds}
    for cmd in cmds.values():  # warm-up: bytecode caches and the page cache
        wall(cmd, runs=1, env=env)
    for _ in range(runs):
        for name, cmd in cmds.items():
            samples[name] += wall(cmd, runs=1, env=env)
    return {k: statistics.median(v) for k, v in samples.items()}


class ChildProcess:
    """A Python child running ``code`` (an API double, say) that prints one line when ready and answers
    one line per command sent on its stdin; ``quit`` ends it."""

    def __init__(self, code: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.first = self.proc.stdout.readline().strip()

    def ask(self, cmd: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self) -> None:
        self.ask("quit")
        self.proc.wait(timeout=10)


def timed(fn: Callable[[], object], *, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)
