"""How quantities and values are written for people (and read back): one home for each format.

Sizes in binary units (memory is counted in GiB), parameter counts as Ollama shows them
(``8B``, ``7.6B``, ``137M``), parameter values as Ollama stores them (floats at float32
precision), and durations as Go prints them (``ollama run --verbose``). Used by the core
where a display string is part of the data (the compare table) and by the writers.
"""

from __future__ import annotations

import math
import re
import struct
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from modelctl.errors import InvalidInput

_F32 = struct.Struct("<f")


def f32(x: float) -> float:
    """``x`` rounded to the nearest float32 (IEEE, ties to even), as the server keeps a parameter;
    +-inf beyond the range."""
    try:
        return float(_F32.unpack(_F32.pack(float(x)))[0])
    except OverflowError:
        return math.copysign(math.inf, x)


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


def human_duration(seconds: float) -> str:
    """``About a minute``, ``4 hours``, ``3 weeks``: Ollama's rounding for ``ls`` and ``ps``."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s < 60:
        return "1 second" if s == 1 else f"{s} seconds"
    minutes = int(seconds // 60)
    if minutes < 60:
        return "About a minute" if minutes == 1 else f"{minutes} minutes"
    hours = round(seconds / 3600)
    if hours == 1:
        return "About an hour"
    for limit, size, unit in ((48, 1, "hours"), (24 * 14, 24, "days"), (24 * 60, 24 * 7, "weeks")):
        if hours < limit:
            return f"{hours // size} {unit}"
    if hours < 24 * 365 * 2:
        return f"{hours // (24 * 30)} months"
    return f"{hours // (24 * 365)} years"


def human_time(when: datetime | None, now: datetime, *, zero: str = "Never") -> str:
    """``4 minutes from now``, ``2 hours ago``, ``Forever`` (more than 20 years ahead), as ``ollama
    ls``/``ps`` write times; ``zero`` when there is none."""
    if when is None:
        return zero
    delta = (now - when).total_seconds()
    if delta < -20 * 365 * 24 * 3600:
        return "Forever"
    return human_duration(-delta) + " from now" if delta < 0 else human_duration(delta) + " ago"


def download_size(n: int) -> str:
    """Decimal units as Ollama's CLI and ollama.com show a model's size (``4.9 GB``, ``270 MB``), so a
    pull reads the same as ``ollama pull`` (format.HumanBytes: one decimal below 10, none above)."""
    value, unit = float(n), "B"
    for scale, name in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "KB")):
        if n >= scale:
            value, unit = n / scale, name
            break
    if unit == "B" or value >= 10 or value == int(value):
        return f"{int(value)} {unit}"
    return f"{value:.1f} {unit}"


def elapsed(seconds: float) -> str:
    """A run's or a step's wall time: ``0.4 s``, ``9.8 s``, ``2 min 5 s``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    mins, secs = divmod(int(round(seconds)), 60)
    return f"{mins} min {secs} s"


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
        import json  # here: `inspect` imports this module and writes no JSON

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


# --- sizes people write ----------------------------------------------------------------------

_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*$")
_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    # binary; a bare K/M/G/T is read as binary too, as memory sizes usually are (documented)
    "k": 1 << 10,
    "ki": 1 << 10,
    "kib": 1 << 10,
    "m": 1 << 20,
    "mi": 1 << 20,
    "mib": 1 << 20,
    "g": 1 << 30,
    "gi": 1 << 30,
    "gib": 1 << 30,
    "t": 1 << 40,
    "ti": 1 << 40,
    "tib": 1 << 40,
    # decimal, only when spelled with B
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
}
SIZE_HELP = "e.g. 12GiB, 12G (read as GiB), 12000MiB, 16GB (10^9 bytes) or 8e9 (bytes)"


def parse_size(text: str, *, what: str = "--budget", allow_zero: bool = False) -> int:
    """Bytes from a size: binary units (KiB/MiB/GiB/TiB, and bare K/M/G/T), decimal KB/MB/GB/TB, or bytes."""
    m = _SIZE.match(text or "")
    if not m:
        raise InvalidInput(f"cannot read {text!r} as a size; {SIZE_HELP}", field=what)
    number, unit = m.group(1), m.group(2).lower()
    if unit not in _UNITS:
        raise InvalidInput(f"unknown unit {m.group(2)!r} in {text!r}; {SIZE_HELP}", field=what)
    try:
        value = Decimal(number) * _UNITS[unit]
    except InvalidOperation:
        raise InvalidInput(f"cannot read {text!r} as a size; {SIZE_HELP}", field=what) from None
    n = int(value)  # whole bytes, rounded down
    if n < 0 or (n == 0 and not allow_zero):
        raise InvalidInput(f"{text!r} is not a positive size", field=what)
    return n
