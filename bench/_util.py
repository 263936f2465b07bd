"""Shared helpers for the benchmark scripts: medians of repeated wall-clock runs."""

from __future__ import annotations

import os
import resource
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


def modelctl_cmd() -> list[str]:
    """The installed ``modelctl`` script beside this interpreter (what a user runs), else ``python -m modelctl``."""
    script = os.path.join(os.path.dirname(sys.executable), "modelctl")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "modelctl"]


def paired(
    cmds: dict[str, Sequence[str]],
    *,
    runs: int,
    env: dict[str, str] | None = None,
    before: Callable[[str], None] | None = None,
    after: Callable[[str], None] | None = None,
    cpu: dict[str, list[float]] | None = None,
) -> dict[str, list[float]]:
    """Wall times of whole processes, one list per command, the commands run in turn every round (after one
    warm-up each) so that sample i of every list saw the same machine. ``before``/``after`` run around each
    process (not timed): resetting or checking a server, say. ``cpu``, if given, receives each process's CPU
    seconds (user + system): on a loaded machine the figure that says what the command itself costs."""
    samples: dict[str, list[float]] = {k: [] for k in cmds}
    for rnd in range(runs + 1):
        for name, cmd in cmds.items():
            if before is not None:
                before(name)
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = wall(cmd, runs=1, env=env)[0]
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            if after is not None:
                after(name)
            if rnd:
                samples[name].append(t)
                if cpu is not None:
                    used = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
                    cpu.setdefault(name, []).append(used)
    return samples


def ratios(num: Sequence[float], den: Sequence[float]) -> tuple[float, float]:
    """(minimum, median) of the per-round ratios num[i] / den[i]: pairs, not medians of each side."""
    r = [a / b for a, b in zip(num, den, strict=True)]
    return min(r), statistics.median(r)


def verdict(label: str, num: Sequence[float], den: Sequence[float], target: float) -> str:
    lo, med = ratios(num, den)
    ok = "OK" if med <= target else "ABOVE TARGET"
    try:
        load = f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    except OSError:
        load = ""
    rounds = f"over {len(num)} rounds"
    return f"{label}: median ratio {med:.2f} x, minimum {lo:.2f} x {rounds} (target <= {target:g}: {ok}{load})"
