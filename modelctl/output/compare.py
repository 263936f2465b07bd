"""Writers for ``compare``: text, markdown, JUnit XML and a self-contained HTML report.

JSON goes through the common envelope (``ParamTable.to_dict`` / ``Matrix.to_dict``); the
shapes are documented in docs/compare.md. The HTML report loads nothing from the network:
inline CSS, inline SVG charts, no scripts.
"""

from __future__ import annotations

import html
import re
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence

from modelctl.errors import ExitCode, UsageProblem
from modelctl.fleet import Fleet
from modelctl.matrix import FLAG_HELP, FLAGS, Cell, Matrix, ProfileSummary
from modelctl.output import Result
from modelctl.output.summary import fleet_result, host_table
from modelctl.output.text import table as text_table
from modelctl.output.text import terminal_width
from modelctl.table import ParamTable, TableCell


def _fmt_num(x: float | None, nd: int = 1, unit: str = "") -> str:
    if x is None:
        return "-"
    return f"{x:.{nd}f}{unit}"


def _ms(x_ms: float | None) -> str:
    if x_ms is None:
        return "-"
    if x_ms >= 1000:
        return f"{x_ms / 1000:.2f} s"
    return f"{x_ms:.0f} ms" if x_ms >= 10 else f"{x_ms:.1f} ms"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.0f}%"


def _cell_text(c: TableCell) -> str:
    tag = c.tag()
    return f"{c.display} ({tag})" if tag else c.display


def _default_note(t: ParamTable) -> str:
    version = t.server.version
    if version:
        return f"(default) = Ollama {version}'s default (the server's version)"
    return "(default) = Ollama's current default (server version unknown; repeat_penalty was 1.1 before 0.32.10)"


def _legend(t: ParamTable) -> list[str]:
    lines = [
        "* = differs between profiles. No tag: set in the profile itself; (FILE) = inherited "
        "through `extends`; (--set) = command-line override; (base model) = stored with the "
        "base model on the server; inherited = the base model's own",
        _default_note(t),
    ]
    if any(r.key == "server.context_length" for r in t.rows):
        lines.append(
            "context length = trained (GGUF) / configured (num_ctx; auto = the server's default)"
            " / running (what the loaded model uses, from /api/ps)"
        )
    if not t.server.reachable:
        lines.append("server rows skipped: " + (t.server.reason or "no server"))
    return lines


# =========================================================================== parameter table


def table_text(t: ParamTable, width: int | None = None, *, color: bool = False) -> str:
    """The table fitted to ``width``; ``color`` (a TTY) makes differing rows bold."""
    width = width or terminal_width()
    headers = ["", *[c.label for c in t.columns]]
    rows = []
    for r in t.rows:
        mark = "* " if r.differs else "  "
        rows.append([mark + r.label, *[_cell_text(c) for c in r.cells]])
    out = text_table(headers, rows, max_width=width)
    if color:
        # After layout, so escape codes do not count towards the column widths.
        out = "".join(f"\033[1m{line}\033[0m\n" if line.startswith("* ") else line + "\n" for line in out.splitlines())
    legend = [textwrap.fill(x, width=width, subsequent_indent="  ") for x in _legend(t)]
    return out + "\n" + "\n".join(legend) + "\n"


def _md_escape(text: str) -> str:
    return html.escape(text, quote=False).replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def table_markdown(t: ParamTable) -> str:
    lines = ["| | " + " | ".join(_md_escape(c.label) for c in t.columns) + " |", "|---|" + "---|" * len(t.columns)]
    for r in t.rows:
        label = f"**{_md_escape(r.label)}** ≠" if r.differs else _md_escape(r.label)
        cells = []
        for c in r.cells:
            tag = c.tag()
            plain = c.display in ("-", "none", "inherited", "auto", "unset", "not built")
            val = _md_escape(c.display) if plain else f"`{_md_escape(c.display)}`"
            cells.append(f"{val} <sub>{_md_escape(tag)}</sub>" if tag else val)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- {_md_escape(x.replace('* =', '≠ =', 1))}" for x in _legend(t)]
    return "\n".join(lines) + "\n"


# =========================================================================== matrix: text


def _groups(m: Matrix) -> list[tuple[int, int | None, int, list[Cell]]]:
    """(prompt index, seed, repeat, cells across profiles) in display order."""
    out = []
    for q in range(len(m.cases)):
        for s in m.seeds:
            for r in range(1, m.repeat + 1):
                cells = [c for c in m.cells if c.prompt == q and c.seed == s and c.repeat == r]
                cells.sort(key=lambda c: c.profile)
                out.append((q, s, r, cells))
    return out


def _group_title(m: Matrix, q: int, s: int | None, r: int) -> str:
    case = m.cases[q]
    bits = [case.label]
    if s is not None:
        bits.append(f"seed {s}")
    if m.repeat > 1:
        bits.append(f"run {r}/{m.repeat}")
    return " · ".join(bits)


def _stats_line(c: Cell) -> str:
    r = c.result
    if r is None:
        return ""
    tps = _fmt_num(r.tokens_per_s, 1)
    ttft = _ms(None if r.ttft_s is None else r.ttft_s * 1000)
    load = _ms(None if r.load_s is None else r.load_s * 1000)
    return (
        f"{r.eval_count if r.eval_count is not None else '-'} tok · {tps} tok/s · TTFT {ttft} · "
        f"load {load} · {r.done_reason or '-'}"
    )


def _assert_lines(c: Cell) -> list[str]:
    return [
        ("PASS " if a.passed else "FAIL ") + a.assertion.label() + ("" if a.passed else f": {a.message}")
        for a in c.assertions
    ]


def _cell_lines(c: Cell, width: int, max_lines: int) -> list[str]:
    lines: list[str] = []
    if c.status == "ok" and c.result is not None:
        text = c.result.text.strip("\n")
        wrapped: list[str] = []
        for para in text.splitlines() or [""]:
            wrapped += textwrap.wrap(para, width=width, replace_whitespace=False) or [""]
        if len(wrapped) > max_lines:
            extra = len(wrapped) - max_lines + 1
            wrapped = wrapped[: max_lines - 1] + [f"… ({extra} more lines)"]
        lines += wrapped
        lines.append("")
        lines += textwrap.wrap(_stats_line(c), width=width)
        for a in _assert_lines(c):
            lines += textwrap.wrap(a, width=width)
        if c.flags:
            lines += textwrap.wrap("FLAGS: " + ", ".join(f.replace("_", "-") for f in c.flags), width=width)
    elif c.status == "error":
        lines += textwrap.wrap("ERROR: " + (c.error.message if c.error else "failed"), width=width)
    else:
        lines.append("(not run)")
    return lines


def summary_rows(summaries: Sequence[ProfileSummary]) -> list[list[str]]:
    rows = []
    for s in summaries:
        flags = ", ".join(f"{k.replace('_', '-')} {v}" for k, v in s.flags.items() if v) or "-"
        rows.append(
            [
                s.label,
                f"{s.ok}/{s.cells}",
                _fmt_num(s.median_tokens_per_s, 1),
                _ms(s.median_ttft_ms),
                _ms(s.median_load_ms),
                f"{s.assertions_passed}/{s.assertions_total}" if s.assertions_total else "-",
                _pct(s.pass_rate),
                flags,
            ]
        )
    return rows


SUMMARY_HEADERS = [
    "profile",
    "ok",
    "tok/s (median)",
    "TTFT (median)",
    "load (median)",
    "assertions",
    "pass rate",
    "flags",
]


MIN_COLUMN = 24


def matrix_text(m: Matrix, width: int | None = None, max_lines: int = 20) -> str:
    """Outputs side by side, one column per profile; stacked when the columns would be too narrow."""
    width = width or terminal_width()
    n = len(m.targets)
    sep = " │ "
    side_by_side = n * MIN_COLUMN + len(sep) * (n - 1) <= width
    colw = (width - len(sep) * (n - 1)) // n if side_by_side else width
    out: list[str] = []
    header = sep.join(t.label[:colw].ljust(colw) for t in m.targets).rstrip()
    for q, s, r, cells in _groups(m):
        title = _group_title(m, q, s, r)
        out.append(f"━━ {title} " + "━" * max(0, min(width, 100) - len(title) - 4))
        prompt_preview = m.cases[q].prompt.strip().splitlines()[0] if m.cases[q].prompt.strip() else ""
        if len(prompt_preview) >= width - 4:
            prompt_preview = prompt_preview[: width - 5] + "…"
        out.append("   " + prompt_preview)
        if not side_by_side:
            for c in cells:
                out.append(f"── {m.targets[c.profile].label}")
                out += _cell_lines(c, width, max_lines)
            out.append("")
            continue
        out.append(header)
        out.append(sep.join("─" * colw for _ in m.targets))
        cols = [_cell_lines(c, colw, max_lines) for c in cells]
        height = max((len(c) for c in cols), default=0)
        for i in range(height):
            out.append(sep.join((col[i] if i < len(col) else "").ljust(colw) for col in cols).rstrip())
        out.append("")
    out.append("Summary")
    out.append(text_table(SUMMARY_HEADERS, summary_rows(m.summaries()), max_width=width).rstrip("\n"))
    used = [f for f in FLAGS if any(f in c.flags for c in m.cells)]
    if used:
        out.append("")
        for f in used:
            out.append(textwrap.fill(f"{f.replace('_', '-')}: {FLAG_HELP[f]}", width, subsequent_indent="  "))
    for w in m.warnings:
        out.append(textwrap.fill(f"note: {w.message}", width, subsequent_indent="  "))
    out.append("")
    out.append(textwrap.fill(_verdict(m), width))
    return "\n".join(out) + "\n"


def _verdict(m: Matrix) -> str:
    ran = sum(1 for c in m.cells if c.status == "ok")
    failed = m.failed_assertions
    total = sum(len(c.assertions) for c in m.cells)
    bits = [f"{ran}/{len(m.cells)} cells ran in {m.wall_s:.2f} s (parallel {m.parallel})"]
    if total:
        bits.append(f"{total - failed}/{total} assertions passed")
    errs = sum(1 for c in m.cells if c.status == "error")
    if errs:
        bits.append(f"{errs} cell(s) failed on the server")
    skipped = sum(1 for c in m.cells if c.status == "skipped")
    if skipped:
        bits.append(f"{skipped} cell(s) not run")
    return "; ".join(bits)


# =========================================================================== matrix: markdown


def _md_output(text: str, limit: int = 2000) -> str:
    t = text.strip()
    if len(t) > limit:
        t = t[:limit] + "…"
    return _md_escape(t) if t else "*(empty)*"


def matrix_markdown(m: Matrix) -> str:
    out = ["# modelctl compare", "", _verdict(m), "", "## Summary", ""]
    out.append("| " + " | ".join(SUMMARY_HEADERS) + " |")
    out.append("|" + "---|" * len(SUMMARY_HEADERS))
    for row in summary_rows(m.summaries()):
        out.append("| " + " | ".join(_md_escape(x) for x in row) + " |")
    out.append("")
    for q, s, r, cells in _groups(m):
        out += _md_group(m, q, s, r, cells)
    used = [f for f in FLAGS if any(f in c.flags for c in m.cells)]
    if used or m.warnings:
        out += ["## Notes", ""]
        out += [f"- **{f.replace('_', '-')}**: {FLAG_HELP[f]}" for f in used]
        out += [f"- {_md_escape(w.message)}" for w in m.warnings]
        out.append("")
    if m.table is not None:
        out += ["## Parameters", "", table_markdown(m.table)]
    return "\n".join(out)


def _md_value(c: Cell, fn: str) -> str:
    res = c.result
    if res is None:
        return "-"
    values = {
        "tps": lambda: _fmt_num(res.tokens_per_s, 1),
        "ttft": lambda: _ms(None if res.ttft_s is None else res.ttft_s * 1000),
        "load": lambda: _ms(None if res.load_s is None else res.load_s * 1000),
        "eval": lambda: str(res.eval_count) if res.eval_count is not None else "-",
        "done": lambda: _md_escape(res.done_reason or "-"),
    }
    return values[fn]()


def _md_cell_output(c: Cell) -> str:
    if c.result is not None:
        return _md_output(c.result.text)
    return "**error:** " + _md_escape(c.error.message) if c.error else "*(not run)*"


def _md_assertions(c: Cell) -> str:
    items = [
        ("✅ " if a.passed else "❌ ") + _md_escape(a.assertion.label() + ("" if a.passed else f": {a.message}"))
        for a in c.assertions
    ]
    return "<br>".join(items) or "-"


def _md_group(m: Matrix, q: int, s: int | None, r: int, cells: list[Cell]) -> list[str]:
    """One prompt (x seed x repeat): the prompt quoted, then a row per measure, a column per profile."""
    out = [f"## {_md_escape(_group_title(m, q, s, r))}", ""]
    out += [f"> {_md_escape(line)}" for line in m.cases[q].prompt.strip().splitlines()]
    out += ["", "| | " + " | ".join(_md_escape(t.label) for t in m.targets) + " |"]
    out.append("|---|" + "---|" * len(m.targets))
    rows: list[tuple[str, list[str]]] = [
        ("output", [_md_cell_output(c) for c in cells]),
        ("eval count", [_md_value(c, "eval") for c in cells]),
        ("tokens/s", [_md_value(c, "tps") for c in cells]),
        ("TTFT", [_md_value(c, "ttft") for c in cells]),
        ("load", [_md_value(c, "load") for c in cells]),
        ("done", [_md_value(c, "done") for c in cells]),
    ]
    if any(c.assertions for c in cells):
        rows.append(("assertions", [_md_assertions(c) for c in cells]))
    if any(c.flags for c in cells):
        rows.append(("flags", [", ".join(f"⚠ {f.replace('_', '-')}" for f in c.flags) or "-" for c in cells]))
    out += [f"| {label} | " + " | ".join(values) + " |" for label, values in rows]
    out.append("")
    return out


# =========================================================================== matrix: JUnit

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _XML_BAD.sub("\ufffd", text)


def matrix_junit(m: Matrix) -> str:
    """One testsuite per profile; one testcase per cell assertion (a cell without assertions
    is one ``completes`` testcase; a failed cell is an ``<error>``; a cell not run is ``<skipped>``)."""
    root = ET.Element("testsuites", name="modelctl compare")
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for p, t in enumerate(m.targets):
        suite = ET.SubElement(root, "testsuite", name=_xml_text(t.label))
        counts = dict.fromkeys(totals, 0)
        suite_time = 0.0
        for c in (c for c in m.cells if c.profile == p):
            suite_time += _junit_cell(suite, m, c, f"modelctl.compare.{t.label}", counts)
        for key, count in counts.items():
            suite.set(key, str(count))
            totals[key] += count
        suite.set("time", f"{suite_time:.6f}")
    for key, count in totals.items():
        root.set(key, str(count))
    root.set("time", f"{m.wall_s:.6f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _junit_entries(c: Cell, base: str) -> list[tuple[str, str | None, str | None]]:
    """(test name, kind, message) per testcase of one cell; kind None is a pass."""
    if c.status == "error":
        return [(f"{base}: completes", "error", c.error.message if c.error else "failed")]
    if c.status == "skipped":
        return [(f"{base}: completes", "skipped", "not run")]
    if not c.assertions:
        return [(f"{base}: completes", None, None)]
    return [(f"{base}: {a.assertion.label()}", None if a.passed else "failure", a.message) for a in c.assertions]


def _junit_properties(c: Cell) -> list[tuple[str, str]]:
    r = c.result
    if r is None:
        return []
    return [
        ("eval_count", str(r.eval_count)),
        ("tokens_per_s", _fmt_num(r.tokens_per_s, 2)),
        ("ttft_ms", _fmt_num(None if r.ttft_s is None else r.ttft_s * 1000, 1)),
        ("done_reason", str(r.done_reason)),
        ("flags", ",".join(c.flags)),
    ]


def _junit_cell(suite: ET.Element, m: Matrix, c: Cell, classname: str, counts: dict[str, int]) -> float:
    """The testcases of one cell; returns its seconds."""
    case = m.cases[c.prompt]
    base = (
        case.label
        + (f" [seed {c.seed}]" if c.seed is not None else "")
        + (f" [run {c.repeat}]" if m.repeat > 1 else "")
    )
    secs = c.result.wall_s if c.result is not None else 0.0
    props = _junit_properties(c)
    entries = _junit_entries(c, base)
    share = secs / len(entries)
    for name, kind, message in entries:
        tc = ET.SubElement(suite, "testcase", classname=_xml_text(classname), name=_xml_text(name), time=f"{share:.6f}")
        counts["tests"] += 1
        if props:
            pe = ET.SubElement(tc, "properties")
            for k, v in props:
                ET.SubElement(pe, "property", name=k, value=_xml_text(v))
        if kind == "failure":
            counts["failures"] += 1
            fe = ET.SubElement(tc, "failure", message=_xml_text(message or ""), type="assertion")
            output = c.result.text if c.result else ""
            fe.text = _xml_text(f"prompt ({case.where()}): {case.prompt}\n\noutput:\n" + output)
        elif kind == "error":
            counts["errors"] += 1
            ET.SubElement(tc, "error", message=_xml_text(message or ""), type="server")
        elif kind == "skipped":
            counts["skipped"] += 1
            ET.SubElement(tc, "skipped", message="not run")
        if c.result is not None:
            ET.SubElement(tc, "system-out").text = _xml_text(c.result.text)
    return secs


# =========================================================================== HTML

_CSS = """
:root{--fg:#1d2330;--muted:#5f6b7a;--line:#d9dee5;--bg:#fff;--soft:#f5f7fa;--ok:#1a7f37;--bad:#c62828;
--warn:#9a6700;--accent:#3867d6;--accent2:#20a39e}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);
margin:0;padding:24px 32px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:var(--muted);margin-bottom:16px}
table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{border:1px solid var(--line);padding:6px 8px;vertical-align:top;text-align:left}
th{background:var(--soft);font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.differs th{background:#fff4d6}
.origin{display:block;color:var(--muted);font-size:11px}
pre{white-space:pre-wrap;word-break:break-word;margin:0;
font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
.prompt{background:var(--soft);border-left:3px solid var(--accent);padding:8px 12px;margin:6px 0 10px}
.grid{display:grid;gap:12px}
.cell{border:1px solid var(--line);border-radius:6px;padding:10px;min-width:0;background:#fff}
.cell h3{font-size:13px;margin:0 0 6px;color:var(--accent)}
.stats{color:var(--muted);font-size:12px;margin-top:8px}
.pass{color:var(--ok)}.fail{color:var(--bad);font-weight:600}
.flag{display:inline-block;background:#fff4d6;color:var(--warn);border-radius:10px;padding:0 8px;
font-size:11px;margin:4px 4px 0 0}
.error{color:var(--bad)}
.charts{display:flex;flex-wrap:wrap;gap:24px}
.legend{color:var(--muted);font-size:12px}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _bar_chart(
    title: str, labels: Sequence[str], values: Sequence[float | None], *, maximum: float | None, fmt: str, color: str
) -> str:
    """A horizontal bar chart as inline SVG (no script, no external resource)."""
    bar_h, gap, label_w, chart_w, pad = 22, 8, 150, 260, 60
    height = 30 + len(labels) * (bar_h + gap)
    width = label_w + chart_w + pad
    top = maximum if maximum else max([v for v in values if v is not None] or [1.0]) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{_e(title)}" viewBox="0 0 {width} {height}">',
        f'<text x="0" y="16" font-size="13" font-weight="600" fill="#1d2330">{_e(title)}</text>',
    ]
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        y = 26 + i * (bar_h + gap)
        short = label if len(label) <= 20 else label[:19] + "…"
        parts.append(f'<text x="0" y="{y + 15}" font-size="12" fill="#1d2330">{_e(short)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{chart_w}" height="{bar_h}" fill="#f5f7fa"/>')
        if v is not None:
            w = max(1.0, chart_w * min(v / top, 1.0)) if top else 1.0
            parts.append(
                f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{color}">'
                f"<title>{_e(label)}: {_e(fmt.format(v))}</title></rect>"
            )
            parts.append(
                f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" font-size="12" fill="#1d2330">{_e(fmt.format(v))}</text>'
            )
        else:
            parts.append(f'<text x="{label_w + 4}" y="{y + 15}" font-size="12" fill="#5f6b7a">n/a</text>')
    parts.append("</svg>")
    return "".join(parts)


def _html_table(t: ParamTable) -> str:
    out = ['<table class="params"><thead><tr><th></th>']
    out += [f"<th>{_e(c.label)}</th>" for c in t.columns]
    out.append("</tr></thead><tbody>")
    for r in t.rows:
        cls = ' class="differs"' if r.differs else ""
        out.append(f"<tr{cls}><th>{_e(r.label)}{' ≠' if r.differs else ''}</th>")
        for c in r.cells:
            tag = c.tag()
            origin = f'<span class="origin">{_e(tag)}</span>' if tag else ""
            title = f' title="{_e(c.source)}"' if c.source else ""
            out.append(f"<td{title}>{_e(c.display)}{origin}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    legend = [x.replace("* =", "≠ =", 1) for x in _legend(t)]
    out.append('<p class="legend">' + "<br>".join(_e(x) for x in legend) + "</p>")
    return "".join(out)


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        # Forbid every fetch: the report must stay self-contained even if edited later.
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>\n{body}\n</body></html>\n"
    )


def table_html(t: ParamTable) -> str:
    meta = f"server: {_e(t.server.host or 'none')}"
    if t.server.version:
        meta += f" (Ollama {_e(t.server.version)})"
    body = (
        f'<h1>modelctl compare — parameters</h1><div class="meta">{meta} · generated '
        f"{_e(time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()))}</div>" + _html_table(t)
    )
    return _page("modelctl compare — parameters", body)


def matrix_html(m: Matrix) -> str:
    sums = m.summaries()
    labels = [t.label for t in m.targets]
    body: list[str] = ["<h1>modelctl compare</h1>"]
    host = m.server.host or ""
    version = m.server.version
    body.append(
        f'<div class="meta">{_e(_verdict(m))}<br>server {_e(host)}'
        f"{' (Ollama ' + _e(version) + ')' if version else ''} · generated "
        f"{_e(time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()))}</div>"
    )
    errors = m.errors()
    if errors:
        body.append("".join(f'<p class="error">⚠ {_e(d.message)}</p>' for d in errors))
    body.append('<h2>Summary</h2><div class="charts">')
    body.append(
        _bar_chart(
            "Median tokens/s",
            labels,
            [s.median_tokens_per_s for s in sums],
            maximum=None,
            fmt="{:.1f}",
            color="#3867d6",
        )
    )
    body.append(
        _bar_chart(
            "Assertion pass rate",
            labels,
            [None if s.pass_rate is None else s.pass_rate * 100 for s in sums],
            maximum=100.0,
            fmt="{:.0f}%",
            color="#20a39e",
        )
    )
    body.append("</div>")
    body.append(
        '<table class="summary"><thead><tr>'
        + "".join(f"<th>{_e(h)}</th>" for h in SUMMARY_HEADERS)
        + "</tr></thead><tbody>"
    )
    for row in summary_rows(sums):
        nums = "".join(f'<td class="num">{_e(x)}</td>' for x in row[1:-1])
        body.append(f"<tr><th>{_e(row[0])}</th>{nums}<td>{_e(row[-1])}</td></tr>")
    body.append("</tbody></table>")

    cols = len(m.targets)
    for q, s, r, cells in _groups(m):
        body.append(f'<h2 id="p{q + 1}-{s}-{r}">{_e(_group_title(m, q, s, r))}</h2>')
        case = m.cases[q]
        sys_note = f'<div class="legend">system: {_e(case.system)}</div>' if case.system else ""
        body.append(f'<div class="prompt"><pre>{_e(case.prompt)}</pre>{sys_note}</div>')
        body.append(f'<div class="grid" style="grid-template-columns:repeat({cols},minmax(0,1fr))">')
        for c in cells:
            body.append(f'<div class="cell"><h3>{_e(m.targets[c.profile].label)}</h3>')
            if c.result is not None:
                body.append(f"<pre>{_e(c.result.text)}</pre>")
                body.append(f'<div class="stats">{_e(_stats_line(c))}</div>')
                for a in c.assertions:
                    cls = "pass" if a.passed else "fail"
                    mark = "✓" if a.passed else "✗"
                    msg = "" if a.passed else f": {a.message}"
                    body.append(f'<div class="{cls}">{mark} {_e(a.assertion.label() + msg)}</div>')
                for f in c.flags:
                    name = f.replace("_", "-")
                    body.append(f'<span class="flag" title="{_e(FLAG_HELP[f])}">{_e(name)}</span>')
            elif c.status == "error":
                body.append(f'<div class="error">error: {_e(c.error.message if c.error else "failed")}</div>')
            else:
                body.append('<div class="legend">not run</div>')
            body.append("</div>")
        body.append("</div>")
    used = [f for f in FLAGS if any(f in c.flags for c in m.cells)]
    if used or m.warnings:
        body.append("<h2>Notes</h2><ul>")
        body += [f"<li><b>{_e(f.replace('_', '-'))}</b>: {_e(FLAG_HELP[f])}</li>" for f in used]
        body += [f"<li>{_e(w.message)}</li>" for w in m.warnings]
        body.append("</ul>")
    if m.table is not None:
        body.append("<h2>Parameters</h2>")
        body.append(_html_table(m.table))
    return _page("modelctl compare", "\n".join(body))


# =========================================================================== results


def table_result(t: ParamTable, fmt: str, *, color: bool = False) -> Result:
    writers: dict[str, Callable[[], str]] = {
        "text": lambda: table_text(t, color=color),
        "markdown": lambda: table_markdown(t),
        "html": lambda: table_html(t),
        "json": lambda: "",
    }
    return Result(data=t.to_dict(), text=writers[fmt], warnings=t.warnings)


def matrix_result(m: Matrix, fmt: str, exit_code: ExitCode) -> Result:
    writers: dict[str, Callable[[], str]] = {
        "text": lambda: matrix_text(m),
        "markdown": lambda: matrix_markdown(m),
        "html": lambda: matrix_html(m),
        "junit": lambda: matrix_junit(m),
        "json": lambda: "",
    }
    warnings = [w for t in m.targets for w in t.warnings] + m.warnings
    return Result(data=m.to_dict(), text=writers[fmt], exit_code=exit_code, warnings=warnings, errors=m.errors())


def table_fleet_result(fleet: Fleet[ParamTable], fmt: str, *, color: bool = False) -> Result:
    """The parameter table of every host: one table each under the host's name (text, markdown),
    or every host's table in JSON; then the host x profile table of what each host has built."""
    if fleet.many and fmt in ("html", "junit"):
        raise UsageProblem(f"--format {fmt} draws one server's table: give one --host (text, markdown, json take many)")

    def text() -> str:
        if fmt == "json":
            return ""
        head = "## {}\n\n" if fmt == "markdown" else "== {} ==\n"
        parts = []
        for run in fleet.runs:
            if run.result is not None:
                body = table_markdown(run.result) if fmt == "markdown" else table_text(run.result, color=color)
                parts.append(head.format(run.label) + body)
        parts.append(host_table(fleet.cells, [r.label for r in fleet.runs]))
        return "\n".join(parts)

    return fleet_result(fleet, lambda t, _code: table_result(t, fmt, color=color), text)
