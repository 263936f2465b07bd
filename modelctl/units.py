"""How quantities and values are written for people: one home for each format.

Sizes in binary units (memory is counted in GiB), parameter counts as Ollama shows them
(``8B``, ``7.6B``, ``137M``), parameter values as Ollama stores them (floats at float32
precision), and durations as Go prints them (``ollama run --verbose``). Used by the core
where a display string is part of the data (the compare table) and by the writers.
"""

from __future__ import annotations

import json
import math
from typing import Any

from modelctl.wire import f32


def human_bytes(n: float | None) -> str:
    """Binary units, as memory is counted (GiB, not GB)."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    return f"{value:.2f} TiB"


def human_number(n: int | None) -> str | None:
    """Parameter count in Ollama's short form: 8B, 7.6B, 137M, 22.57M, 512K."""
    if n is None:
        return None
    for scale, unit, digits in ((1e9, "B", 1), (1e6, "M", 2), (1e3, "K", 0)):
        if n >= scale:
            v = n / scale
            if v == int(v):
                return f"{int(v)}{unit}"
            if digits == 0:
                return f"{round(v)}{unit}"
            return f"{v:.{digits}f}{unit}"
    return str(n)


def format_value(value: Any) -> str:
    """A parameter value: ``0.7`` (the shortest text of its float32), ``true``, ``["a", "b"]``,
    a string JSON-quoted; ``-`` for no value."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return short_float(value)
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def short_float(x: float) -> str:
    """The shortest text that reads back as the same float32 (0.7, not 0.699999988...)."""
    if not math.isfinite(x):
        return str(x)
    for digits in range(1, 18):
        text = f"{x:.{digits}g}"
        if f32(float(text)) == f32(x):
            return text
    return repr(x)


def go_duration(ns: float | None) -> str:
    """Nanoseconds the way Go's ``time.Duration.String`` writes them (``1.5s``, ``12.3ms``, ``1m2s``)."""
    if ns is None:
        return "-"
    n = int(ns)
    if n == 0:
        return "0s"
    sign = "-" if n < 0 else ""
    n = abs(n)
    if n < 1_000:
        return f"{sign}{n}ns"
    if n < 1_000_000:
        return f"{sign}{_trim(n / 1_000)}µs"
    if n < 1_000_000_000:
        return f"{sign}{_trim(n / 1_000_000)}ms"
    hours, rem = divmod(n, 3_600 * 10**9)
    minutes, rem = divmod(rem, 60 * 10**9)
    secs, frac = divmod(rem, 10**9)
    sec_text = str(secs) + (("." + f"{frac:09d}".rstrip("0")) if frac else "")
    if hours:
        return f"{sign}{hours}h{minutes}m{sec_text}s"
    if minutes:
        return f"{sign}{minutes}m{sec_text}s"
    return f"{sign}{sec_text}s"


def _trim(x: float) -> str:
    return f"{x:.9f}".rstrip("0").rstrip(".")
