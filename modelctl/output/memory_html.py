"""``estimate --format html``: total memory against num_ctx for each KV type, as one
self-contained page (inline SVG and CSS, no script, nothing fetched), with the breakdown at the
estimate's num_ctx and the table under the chart."""

from __future__ import annotations

import html
import math
import time
from collections.abc import Sequence
from typing import Any

from modelctl.estimate import EstimateReport
from modelctl.memory import TABLE_KV_TYPES
from modelctl.units import human_bytes

COLORS = {"f16": "#3867d6", "q8_0": "#20bf6b", "q4_0": "#fa8231"}
_W, _H = 820, 440  # the chart
_L, _R, _T, _B = 74, 170, 52, 50  # margins: left (y labels), right (line labels), top (legend), bottom (x labels)

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2330;margin:24px;max-width:1100px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.meta{color:#5f6b7a;font-size:12px;margin-bottom:16px}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #dde3ea;padding:4px 10px;text-align:right}
th:first-child,td:first-child{text-align:left}.over{color:#c0392b}
ul{margin:4px 0;padding-left:20px;color:#3c4656}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


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


def _grid(ax: _Axes, sizes: Sequence[int]) -> list[str]:
    parts = []
    step = ax.step
    v = ax.floor
    while v <= ax.top + 1:
        y = ax.y(v)
        parts.append(f'<line x1="{_L}" y1="{y:.1f}" x2="{_W - _R}" y2="{y:.1f}" stroke="#e6eaf0"/>')
        parts.append(f'<text x="{_L - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{_e(human_bytes(v))}</text>')
        v += step
    for n in sizes:
        x = ax.x(n)
        parts.append(f'<line x1="{x:.1f}" y1="{_H - _B}" x2="{x:.1f}" y2="{_H - _B + 4}" stroke="#5f6b7a"/>')
        parts.append(f'<text x="{x:.1f}" y="{_H - _B + 17}" font-size="11" text-anchor="middle">{_e(_short(n))}</text>')
    parts.append(f'<text x="{(_L + _W - _R) / 2:.0f}" y="{_H - 8}" font-size="12" text-anchor="middle">num_ctx</text>')
    return parts


def _series(ax: _Axes, rows: Sequence[dict[str, Any]], kv: str) -> list[str]:
    color = COLORS[kv]
    pts = [(ax.x(r["num_ctx"]), ax.y(r[kv]["total_bytes"]), r) for r in rows]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in pts)
    parts = [f'<polyline class="series" data-kv="{kv}" points="{path}" fill="none" stroke="{color}" stroke-width="2"/>']
    for x, y, r in pts:
        label = f"{kv}, num_ctx {r['num_ctx']:,}: {human_bytes(r[kv]['total_bytes'])}"
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{color}"><title>{_e(label)}</title></circle>')
    return parts


def _vline(ax: _Axes, n: int, cls: str, label: str, color: str, dy: int) -> str:
    x = ax.x(n)
    return (
        f'<line class="{cls}" x1="{x:.1f}" y1="{_T}" x2="{x:.1f}" y2="{_H - _B}" stroke="{color}" '
        f'stroke-dasharray="3 3"/><text x="{x + 4:.1f}" y="{_T + dy}" font-size="11" fill="{color}">{_e(label)}</text>'
    )


def _markers(ax: _Axes, report: EstimateReport, sizes: Sequence[int]) -> list[str]:
    parts = []
    if report.budget is not None:
        b = report.budget.budget_bytes
        y = ax.y(b)
        parts.append(
            f'<line class="budget" x1="{_L}" y1="{y:.1f}" x2="{_W - _R}" y2="{y:.1f}" stroke="#c0392b" '
            f'stroke-dasharray="6 4" stroke-width="1.5"/>'
            f'<text x="{_W - _R + 4}" y="{y + 4:.1f}" font-size="11" fill="#c0392b">budget {_e(human_bytes(b))}</text>'
        )
    lo, hi = min(sizes), max(sizes)
    trained = report.facts.context_trained
    if trained and lo <= trained <= hi:
        parts.append(_vline(ax, trained, "trained", f"trained {trained:,}", "#5f6b7a", 12))
    gpu = report.gpu
    if gpu is not None and gpu.max_num_ctx is not None and lo <= gpu.max_num_ctx <= hi:
        kv = report.memory.kv_type
        label = f"GPU {human_bytes(gpu.gpu_memory_bytes)}, {kv} KV: all layers up to {gpu.max_num_ctx:,}"
        parts.append(_vline(ax, gpu.max_num_ctx, "gpu", label, "#8854d0", 28))
    return parts


def chart_svg(report: EstimateReport) -> str:
    """Total memory against num_ctx, one line per KV type, the budget and the trained context."""
    rows = report.table or []
    sizes = [r["num_ctx"] for r in rows] or [report.memory.num_ctx]
    totals = [r[kv]["total_bytes"] for r in rows for kv in TABLE_KV_TYPES]
    marks = [report.budget.budget_bytes] if report.budget is not None else []
    values = totals + marks or [1]
    ax = _Axes(sizes, min(values), max(values))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" role="img" '
        f'aria-label="total memory against num_ctx" font-family="system-ui,sans-serif" fill="#1d2330">',
        *_grid(ax, sizes),
        f'<line x1="{_L}" y1="{_H - _B}" x2="{_W - _R}" y2="{_H - _B}" stroke="#5f6b7a"/>',
        *_markers(ax, report, sizes),
    ]
    for i, kv in enumerate(TABLE_KV_TYPES):
        parts += _series(ax, rows, kv)
        x = _L + i * 110
        parts.append(
            f'<rect x="{x}" y="14" width="18" height="4" fill="{COLORS[kv]}"/>'
            f'<text class="legend" x="{x + 24}" y="20" font-size="12">{_e(kv)} KV</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table_html(report: EstimateReport) -> str:
    budget = report.budget.budget_bytes if report.budget is not None else None
    out = ["<table><thead><tr><th>num_ctx</th>", *(f"<th>{_e(kv)} KV</th>" for kv in TABLE_KV_TYPES), "</tr></thead>"]
    for r in report.table or []:
        out.append(f"<tr><td>{r['num_ctx']:,}</td>")
        for kv in TABLE_KV_TYPES:
            total = r[kv]["total_bytes"]
            over = budget is not None and total > budget
            note = f" (as {r[kv]['kv_type']})" if r[kv].get("kv_type", kv) != kv else ""
            out.append(f"<td{' class=over' if over else ''}>{_e(human_bytes(total) + note)}</td>")
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def _breakdown_html(est: dict[str, Any]) -> str:
    items = [
        ("weights", est["weights_bytes"]),
        ("projector", est["projector_bytes"]),
        ("adapters", est["adapter_bytes"]),
        ("KV cache", est["kv_cache_bytes"]),
        ("recurrent state", est["recurrent_state_bytes"]),
        ("compute buffer", est["compute_bytes"]),
        ("output buffer", est["output_bytes"]),
        ("extra allowance", est["overhead_bytes"]),
        ("total", est["total_bytes"]),
    ]
    rows = "".join(f"<tr><td>{_e(k)}</td><td>{_e(human_bytes(v))}</td></tr>" for k, v in items if v or k == "total")
    return f"<table><tbody>{rows}</tbody></table>"


def estimate_html(report: EstimateReport) -> str:
    est = report.memory.to_dict()
    facts = report.facts
    title = f"modelctl estimate — {facts.name or facts.path or 'model'}"
    meta = (
        f"{_e(facts.architecture or '?')}, {_e(facts.parameter_size or '?')} parameters, "
        f"{_e(facts.quantization or '?')} · {report.memory.parallel} slot(s) · flash attention "
        f"{'on' if est['flash_attention'] else 'off'} · {_e(est['ollama']['description'])} · generated "
        f"{_e(time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()))}"
    )
    body = [f"<h1>{_e(title)}</h1>", f'<div class="meta">{meta}</div>', chart_svg(report)]
    body += [f"<h2>At num_ctx {report.memory.num_ctx:,}, {_e(est['kv_type'])} KV</h2>", _breakdown_html(est)]
    if report.gpu is not None:
        g = report.gpu
        body.append(
            f"<p>GPU {_e(human_bytes(g.gpu_memory_bytes))}: <b>{_e(g.answer)}</b> ({_e(g.rule_description)})</p>"
        )
    body += ["<h2>Total memory by num_ctx and KV type</h2>", _table_html(report)]
    body += ["<h2>Assumptions</h2><ul>", *(f"<li>{_e(a)}</li>" for a in est["assumptions"]), "</ul>"]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        # Forbid every fetch: the page must stay self-contained even if edited later.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
