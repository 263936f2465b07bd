"""Writers for ``compare --sweep``: the run matrix of the settings (output/compare.py), then the
settings ranked, the best one and where it was saved; in HTML, pass rate against median
latency for every setting as a chart with the frontier marked (templates/sweep.html.j2).

JSON is the matrix's ``data`` with a ``sweep`` key (``SweepResult.to_dict``, docs/compare.md).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence
from typing import TypedDict

from modelctl.common.jsontypes import JSONObject, json_of
from modelctl.jobs.sweep import Setting, SweepResult
from modelctl.output import Result
from modelctl.output.chat import saved_line
from modelctl.output.compare import matrix_blocks, matrix_data, matrix_junit, matrix_markdown, page_context
from modelctl.output.html import render_page
from modelctl.output.text import Table, terminal_width

HEADERS = ["rank", "setting", "ok", "passed", "pass rate", "eval tok/s", "latency (median)", "frontier"]


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.0f}%"


def _ms(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 1000:
        return f"{x / 1000:.2f} s"
    return f"{x:.0f} ms" if x >= 10 or x == 0 else f"{x:.1f} ms"


def ranking_rows(settings: Sequence[Setting]) -> list[list[str]]:
    return [
        [
            str(s.rank),
            s.label,
            f"{s.ok}/{s.cells}",
            f"{s.assertions_passed}/{s.assertions_total}" if s.assertions_total else "-",
            _pct(s.pass_rate),
            "-" if s.eval_rate is None else f"{s.eval_rate:.1f}",
            _ms(s.median_latency_ms),
            "*" if s.frontier else "",
        ]
        for s in settings
    ]


def verdict(r: SweepResult) -> list[str]:
    """The best setting and where it was saved (or why not)."""
    best = r.best
    lines = [f"best: {best.label}" if best is not None else "best: none (no setting ran)"]
    if r.saved is not None:
        lines.append(saved_line(r.saved_as or str(r.saved.path), r.saved))
    return lines


_LEGEND = (
    "ranked by assertion pass rate (a cell the server failed counts its assertions as failed), then eval rate "
    "(eval_count / eval_duration over all the setting's answers); * = on the frontier: no other setting has "
    "both a higher pass rate and a lower median latency (request start to last chunk)"
)


def sweep_blocks(r: SweepResult, width: int | None = None) -> list[str | Table]:
    width = width or terminal_width()
    table = Table(HEADERS, ranking_rows(r.ranking), wrap={1})  # settings whole: they are the answer
    after = [textwrap.fill(_LEGEND, width, subsequent_indent="  "), "", *verdict(r)]
    return [*matrix_blocks(r.matrix, width), "\nSettings\n", table, "\n" + "\n".join(after) + "\n"]


def sweep_markdown(r: SweepResult) -> str:
    lines = ["## Settings", "", "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(x.replace("|", "\\|") for x in row) + " |" for row in ranking_rows(r.ranking)]
    lines += ["", _LEGEND, "", *[f"**{x}**" for x in verdict(r)], ""]
    return matrix_markdown(r.matrix) + "\n" + "\n".join(lines)


# =========================================================================== HTML chart

_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 560, 320, 56, 24, 24, 44


def _ticks(top: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values from 0, the last at or above ``top``."""
    top = top if top > 0 else 1.0
    mag = 10 ** math.floor(math.log10(top / n))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= top / n)
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


class _Point(TypedDict):
    x: float
    y: float
    rank: int
    frontier: bool
    title: str


def chart(settings: Sequence[Setting]) -> JSONObject:
    """Pass rate (y) against median latency (x), a point per setting, the frontier joined."""
    timed = [s for s in settings if s.median_latency_ms is not None]
    top = max([s.median_latency_ms or 0.0 for s in timed] or [1.0]) * 1.1
    xticks = _ticks(top)
    xmax = xticks[-1]
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(ms: float) -> float:
        return round(_LEFT + plot_w * ms / xmax, 1)

    def y(rate: float) -> float:
        return round(_TOP + plot_h * (1 - rate), 1)

    points: list[_Point] = [
        {
            "x": x(s.median_latency_ms or 0.0),
            "y": y(s.pass_rate or 0.0),
            "rank": s.rank,
            "frontier": s.frontier,
            "title": f"#{s.rank} {s.label}: pass rate {_pct(s.pass_rate)}, median latency {_ms(s.median_latency_ms)}",
        }
        for s in timed
    ]
    front = sorted((p for p in points if p["frontier"]), key=lambda p: (p["x"], -p["y"]))
    return {
        "width": _W,
        "height": _H,
        "left": _LEFT,
        "right": _W - _RIGHT,
        "top": _TOP,
        "bottom": _H - _BOTTOM,
        "xticks": [{"x": x(t), "label": _ms(t)} for t in xticks],
        "yticks": [{"y": y(f), "label": f"{f * 100:.0f}%"} for f in (0.0, 0.25, 0.5, 0.75, 1.0)],
        "points": [json_of(p) for p in points],
        "frontier": " ".join(f"{p['x']},{p['y']}" for p in front),
        "no_assertions": all(s.pass_rate is None for s in settings),
    }


def sweep_html(r: SweepResult) -> str:
    m = r.matrix
    sweep = {
        "chart": chart(r.settings),
        "headers": HEADERS,
        "rows": ranking_rows(r.ranking),
        "legend": _LEGEND,
        "verdict": verdict(r),
        "axes": [f"{a.name} = {', '.join(str(v) for v in a.values)}" for a in r.axes],
    }
    return render_page("sweep.html.j2", **page_context(m, errors=r.errors()), matrix=matrix_data(m), sweep=sweep)


# =========================================================================== result


def sweep_result(r: SweepResult, fmt: str) -> Result:
    m = r.matrix
    exit_code = r.exit_code()
    data = {**m.to_dict(), "sweep": r.to_dict()}
    warnings = [w for t in m.targets[:1] for w in t.warnings] + m.warnings + r.warnings
    if fmt == "text":
        return Result(
            data=data, blocks=lambda: sweep_blocks(r), exit_code=exit_code, warnings=warnings, errors=r.errors()
        )
    writers: dict[str, Callable[[], str]] = {
        "markdown": lambda: sweep_markdown(r),
        "html": lambda: sweep_html(r),
        "junit": lambda: matrix_junit(m),
        "json": lambda: "",
    }
    return Result(data=data, text=writers[fmt], exit_code=exit_code, warnings=warnings, errors=r.errors())
