"""``estimate --format html``: total memory against num_ctx for each KV type, as one
self-contained page (inline SVG and CSS, no script, nothing fetched), with the breakdown at the
estimate's num_ctx and the table under the chart. The markup is
``modelctl/output/templates/estimate.html.j2``; here, the numbers and the chart's geometry."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypedDict

from modelctl.common.jsontypes import JSONObject
from modelctl.common.units import human_bytes
from modelctl.memory.memory import TABLE_KV_TYPES, EstimateRow, MemoryEstimate, row_cell, row_num_ctx
from modelctl.output.html import render_page

if TYPE_CHECKING:  # `inspect` imports this module through output/facts.py: the estimate stays unloaded
    from modelctl.jobs.estimate import EstimateReport

COLORS = {"f16": "#3867d6", "q8_0": "#20bf6b", "q4_0": "#fa8231"}
_W, _H = 820, 440  # the chart
_L, _R, _T, _B = 74, 170, 52, 50  # margins: left (y labels), right (line labels), top (legend), bottom (x labels)


def _short(n: int) -> str:
    """num_ctx as an axis label: 2K, 128K, 1M, or the number when it is not a round size."""
    for unit, size in (("M", 1 << 20), ("K", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return f"{n:,}"


def _y_step(top: float) -> float:
    """A round step (in bytes) giving about five gridlines up to ``top``."""
    gib = top / (1 << 30)
    raw = max(gib / 5, 1 / 1024)
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag * (1 << 30)
    return 10 * mag * (1 << 30)


class _Axes:
    """num_ctx on a log2 axis; bytes on a linear one from a round floor (0 unless the curves sit
    high above it, so that the differences between KV types stay visible)."""

    def __init__(self, sizes: Sequence[int], low: float, high: float) -> None:
        lo, hi = min(sizes), max(sizes)
        self.lo, self.hi = math.log2(lo), math.log2(hi) if hi > lo else math.log2(lo) + 1
        self.step = _y_step(high - low if low > 0.4 * high else high)
        self.floor = math.floor(low * 0.95 / self.step) * self.step if low > 0.4 * high else 0.0
        self.top = self.floor + math.ceil((high * 1.04 - self.floor) / self.step) * self.step

    def x(self, n: float) -> float:
        span = self.hi - self.lo
        return _L + (math.log2(n) - self.lo) / span * (_W - _L - _R)

    def y(self, b: float) -> float:
        return _T + (1 - (b - self.floor) / (self.top - self.floor)) * (_H - _T - _B)


def _n(x: float) -> str:
    return f"{x:.1f}"


def _grid(ax: _Axes) -> list[dict[str, str]]:
    out = []
    v = ax.floor
    while v <= ax.top + 1:
        y = ax.y(v)
        out.append({"y": _n(y), "label_y": _n(y + 4), "label": human_bytes(v)})
        v += ax.step
    return out


def _series(ax: _Axes, rows: Sequence[EstimateRow], kv: str, i: int) -> JSONObject:
    pts = [(ax.x(row_num_ctx(r)), ax.y(row_cell(r, kv)["total_bytes"]), r) for r in rows]
    dots: list[JSONObject] = [
        {
            "x": _n(x),
            "y": _n(y),
            "title": f"{kv}, num_ctx {row_num_ctx(r):,}: {human_bytes(row_cell(r, kv)['total_bytes'])}",
        }
        for x, y, r in pts
    ]
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in pts)
    return {"kv": kv, "color": COLORS[kv], "points": points, "dots": dots, "legend_x": _L + i * 110}


def _mark(ax: _Axes, n: int, cls: str, label: str, color: str, dy: int) -> JSONObject:
    x = ax.x(n)
    return {"cls": cls, "x": _n(x), "label_x": _n(x + 4), "label": label, "color": color, "dy": dy}


def _marks(ax: _Axes, report: EstimateReport, sizes: Sequence[int]) -> list[JSONObject]:
    out = []
    lo, hi = min(sizes), max(sizes)
    trained = report.facts.context_trained
    if trained and lo <= trained <= hi:
        out.append(_mark(ax, trained, "trained", f"trained {trained:,}", "#5f6b7a", 12))
    gpu = report.gpu
    if gpu is not None and gpu.max_num_ctx is not None and lo <= gpu.max_num_ctx <= hi:
        kv = report.memory.kv_type
        label = f"GPU {human_bytes(gpu.gpu_memory_bytes)}, {kv} KV: all layers up to {gpu.max_num_ctx:,}"
        out.append(_mark(ax, gpu.max_num_ctx, "gpu", label, "#8854d0", 28))
    return out


def chart_data(report: EstimateReport) -> JSONObject:
    """Total memory against num_ctx, one line per KV type, the budget and the trained context:
    the geometry the template draws."""
    rows = report.table or []
    sizes = [row_num_ctx(r) for r in rows] or [report.memory.num_ctx]
    totals = [row_cell(r, kv)["total_bytes"] for r in rows for kv in TABLE_KV_TYPES]
    marks = [report.budget.budget_bytes] if report.budget is not None else []
    values = totals + marks or [1]
    ax = _Axes(sizes, min(values), max(values))
    budget = None
    if report.budget is not None:
        y = ax.y(report.budget.budget_bytes)
        budget = {"y": _n(y), "label_y": _n(y + 4), "label": f"budget {human_bytes(report.budget.budget_bytes)}"}
    return {
        "width": _W,
        "height": _H,
        "left": _L,
        "right": _W - _R,
        "top": _T,
        "bottom": _H - _B,
        "axis_label_x": f"{(_L + _W - _R) / 2:.0f}",
        "grid": _grid(ax),
        "ticks": [{"x": _n(ax.x(n)), "label": _short(n)} for n in sizes],
        "budget": budget,
        "marks": _marks(ax, report, sizes),
        "series": [_series(ax, rows, kv, i) for i, kv in enumerate(TABLE_KV_TYPES)],
    }


class _TableRow(TypedDict):
    num_ctx: str
    cells: list[_TableCell]


class _TableCell(TypedDict):
    text: str
    over: bool


def _table_rows(report: EstimateReport) -> list[_TableRow]:
    budget = report.budget.budget_bytes if report.budget is not None else None
    out: list[_TableRow] = []
    for r in report.table or []:
        cells: list[_TableCell] = []
        for kv in TABLE_KV_TYPES:
            c = row_cell(r, kv)
            total = c["total_bytes"]
            note = f" (as {c['kv_type']})" if c.get("kv_type", kv) != kv else ""
            cells.append({"text": human_bytes(total) + note, "over": budget is not None and total > budget})
        out.append({"num_ctx": f"{row_num_ctx(r):,}", "cells": cells})
    return out


def _breakdown(est: MemoryEstimate) -> list[tuple[str, str]]:
    items = [
        ("weights", est.weights_bytes),
        ("projector", est.projector_bytes),
        ("adapters", est.adapter_bytes),
        ("KV cache", est.kv_cache_bytes),
        ("recurrent state", est.recurrent_state_bytes),
        ("compute buffer", est.compute_bytes),
        ("output buffer", est.output_bytes),
        ("extra allowance", est.overhead_bytes),
        ("total", est.total_bytes),
    ]
    return [(k, human_bytes(v)) for k, v in items if v or k == "total"]


def _profile(report: EstimateReport) -> str | None:
    """The profile estimated, as the text names it: its file, and the model it makes."""
    src = report.source
    if src.profile is None:
        return None
    rel = os.path.relpath(src.profile.path)
    where = rel if not rel.startswith("..") else str(src.profile.path)
    return f"{where} (model {src.profile.profile.name}, from {src.profile.profile.from_})"


def _over_note(report: EstimateReport, table: Sequence[_TableRow]) -> str | None:
    """What a red cell means, when the table has one."""
    if report.budget is None or not any(c["over"] for row in table for c in row["cells"]):
        return None
    return f"in red: over the budget of {human_bytes(report.budget.budget_bytes)} (--budget)"


def estimate_html(report: EstimateReport, budget: Sequence[str] = ()) -> str:
    """The page; ``budget``: the budget's lines as the text prints them (the largest num_ctx that fits)."""
    est = report.memory
    facts = report.facts
    meta = (
        f"{facts.architecture or '?'}, {facts.parameter_size or '?'} parameters, {facts.quantization or '?'} · "
        f"{est.parallel} slot(s) · flash attention {'on' if est.flash_attention else 'off'} · "
        f"{est.rule.describe()}"
    )
    g = report.gpu
    gpu = {"memory": human_bytes(g.gpu_memory_bytes), "answer": g.answer, "rule": g.rule_description} if g else None
    table = _table_rows(report)
    lines = [line.strip() for line in budget if line.strip()]
    head = lines[0][:1].upper() + lines[0][1:].rstrip(":") if lines else None
    return render_page(
        "estimate.html.j2",
        title=f"modelctl estimate — {facts.name or facts.path or 'model'}",
        meta=meta,
        profile=_profile(report),
        c=chart_data(report),
        num_ctx=f"{report.memory.num_ctx:,}",
        kv_type=est.kv_type,
        breakdown=_breakdown(est),
        gpu=gpu,
        kv_types=TABLE_KV_TYPES,
        table=table,
        over_note=_over_note(report, table),
        budget_head=head,
        budget=lines[1:],
        assumptions=list(est.assumptions),
    )
