"""Writers for ``compare``: text, markdown, JUnit XML and a self-contained HTML report.

JSON goes through the common envelope (``ParamTable.to_dict`` / ``Matrix.to_dict``); the
shapes are documented in docs/compare.md. The HTML report loads nothing from the network:
inline CSS, inline SVG charts, no scripts.
"""

from __future__ import annotations

import html
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from modelctl.common.events import Event, EventSink, Notice
from modelctl.common.jsontypes import JSONObject
from modelctl.errors import Diagnostic, ExitCode, UsageProblem
from modelctl.jobs.matrix import FLAG_HELP, FLAG_PROMPT_TRUNCATED, FLAGS, Cell, Matrix, ProfileSummary
from modelctl.jobs.table import ParamTable, TableCell, TableRow
from modelctl.memory.effective import KNOWN_VERSION
from modelctl.output import Result
from modelctl.output.html import render_page
from modelctl.output.junit import HEADER as _XML_HEADER
from modelctl.output.junit import xml_text as _xml_text
from modelctl.output.summary import fleet_result, host_table
from modelctl.output.term import print_diagnostic
from modelctl.output.text import Table, terminal_width

if TYPE_CHECKING:  # the prompts matrix runs on one server: the fleet job (and build, plan, lock) stays unloaded
    from modelctl.jobs.fleet import Fleet


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
    return f"(default) = Ollama {KNOWN_VERSION}'s default, assumed (no server answered; docs/explain.md)"


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


def table_blocks(t: ParamTable, width: int | None = None) -> list[str | Table]:
    """The table (fitted to ``width`` as plain text; on a terminal rich makes differing rows bold)
    and its legend."""
    width = width or terminal_width()
    headers = ["", *[c.label for c in t.columns]]
    rows = []
    for r in t.rows:
        mark = "* " if r.differs else "  "
        rows.append([mark + r.label, *[_cell_text(c) for c in r.cells]])
    differs = {i for i, r in enumerate(t.rows) if r.differs}
    legend = [textwrap.fill(x, width=width, subsequent_indent="  ") for x in _legend(t)]
    table = Table(headers, rows, max_width=width, bold_rows=differs, wrap=range(1, len(headers)))
    return [table, "\n" + "\n".join(legend) + "\n"]


def table_text(t: ParamTable, width: int | None = None) -> str:
    """The table fitted to ``width``, and its legend, as plain text."""
    return "".join(b if isinstance(b, str) else b.plain() for b in table_blocks(t, width))


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


def _stats(c: Cell) -> list[str]:
    """The measures of one cell: ``31 tok``, ``50.0 tok/s``, ``TTFT 1.6 ms``, ``load 0.1 ms``, ``stop``."""
    r = c.result
    if r is None:
        return []
    tps = _fmt_num(r.tokens_per_s, 1)
    ttft = _ms(None if r.ttft_s is None else r.ttft_s * 1000)
    load = _ms(None if r.load_s is None else r.load_s * 1000)
    count = r.eval_count if r.eval_count is not None else "-"
    return [f"{count} tok", f"{tps} tok/s", f"TTFT {ttft}", f"load {load}", r.done_reason or "-"]


def _stats_line(c: Cell) -> str:
    return " · ".join(_stats(c))


def _pack(items: Sequence[str], width: int, sep: str = " · ") -> list[str]:
    """``items`` joined by ``sep`` in lines of ``width``, breaking only between items (a measure is
    never split across lines; one longer than the line is wrapped on its own)."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + len(sep) + len(item) <= width:
            lines[-1] += sep + item
        else:
            lines += textwrap.wrap(item, width=width) or [""]
    return lines


def _assert_lines(c: Cell) -> list[str]:
    return [
        ("PASS " if a.passed else "FAIL ") + a.assertion.label() + ("" if a.passed else f": {a.message}")
        for a in c.assertions
    ]


def _cell_parts(c: Cell, width: int, max_lines: int) -> tuple[list[str], list[str]]:
    """(the answer, then the measures, assertions and flags) of one cell in lines of ``width``."""
    if c.status == "ok" and c.result is not None:
        text = c.result.text.strip("\n")
        wrapped: list[str] = []
        for para in text.splitlines() or [""]:
            wrapped += textwrap.wrap(para, width=width, replace_whitespace=False) or [""]
        if len(wrapped) > max_lines:
            extra = len(wrapped) - max_lines + 1
            wrapped = wrapped[: max_lines - 1] + [f"… ({extra} more lines)"]
        tail = ["", *_pack(_stats(c), width)]
        for a in _assert_lines(c):
            tail += textwrap.wrap(a, width=width)
        if c.flags:
            tail += textwrap.wrap("FLAGS: " + ", ".join(flag_name(c, f) for f in c.flags), width=width)
        return wrapped, tail
    if c.status == "error":
        return textwrap.wrap("ERROR: " + (c.error.message if c.error else "failed"), width=width), []
    return ["(not run)"], []


def flag_name(c: Cell, flag: str) -> str:
    """A flag as reports show it, with the numbers for a cut prompt."""
    name = flag.replace("_", "-")
    if flag == FLAG_PROMPT_TRUNCATED and c.prompt_cut:
        return f"{name} (prompt_eval_count {c.prompt_cut['prompt_eval_count']} of num_ctx {c.prompt_cut['num_ctx']})"
    return name


def _cell_lines(c: Cell, width: int, max_lines: int) -> list[str]:
    body, tail = _cell_parts(c, width, max_lines)
    return body + tail


def _side_by_side(cells: Sequence[Cell], colw: int, max_lines: int) -> list[list[str]]:
    """Each cell's lines, the answers padded to one height so that the measures line up."""
    parts = [_cell_parts(c, colw, max_lines) for c in cells]
    height = max((len(body) for body, _tail in parts), default=0)
    return [body + [""] * (height - len(body)) + tail for body, tail in parts]


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
    return "".join(b if isinstance(b, str) else b.plain() for b in matrix_blocks(m, width, max_lines))


def matrix_blocks(m: Matrix, width: int | None = None, max_lines: int = 20) -> list[str | Table]:
    """The matrix as text, with its summary as a table (drawn by rich on a terminal)."""
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
        cols = _side_by_side(cells, colw, max_lines)
        height = max((len(c) for c in cols), default=0)
        for i in range(height):
            out.append(sep.join((col[i] if i < len(col) else "").ljust(colw) for col in cols).rstrip())
        out.append("")
    out.append("Summary")
    summary = Table(SUMMARY_HEADERS, summary_rows(m.summaries()), max_width=width, wrap={len(SUMMARY_HEADERS) - 1})
    after: list[str] = []
    used = [f for f in FLAGS if any(f in c.flags for c in m.cells)]
    if used:
        after.append("")
        for f in used:
            after.append(textwrap.fill(f"{f.replace('_', '-')}: {FLAG_HELP[f]}", width, subsequent_indent="  "))
    for w in m.warnings:
        after.append(textwrap.fill(f"note: {w.message}", width, subsequent_indent="  "))
    after.append("")
    after.append(textwrap.fill(_verdict(m), width))
    return ["\n".join(out) + "\n", summary, "\n".join(after) + "\n"]


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
        rows.append(("flags", [", ".join(f"⚠ {_md_escape(flag_name(c, f))}" for f in c.flags) or "-" for c in cells]))
    out += [f"| {label} | " + " | ".join(values) + " |" for label, values in rows]
    out.append("")
    return out


# =========================================================================== matrix: JUnit


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
            suite_time += _junit_cell(suite, m, c, f"modelctl.jobs.compare.{t.label}", counts)
        for key, count in counts.items():
            suite.set(key, str(count))
            totals[key] += count
        suite.set("time", f"{suite_time:.6f}")
    for key, count in totals.items():
        root.set(key, str(count))
    root.set("time", f"{m.wall_s:.6f}")
    ET.indent(root)
    return _XML_HEADER + ET.tostring(root, encoding="unicode") + "\n"


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
# The markup is modelctl/output/templates/compare.html.j2; here, the data it shows.

_BAR_H, _BAR_GAP, _LABEL_W, _CHART_W, _PAD = 22, 8, 150, 260, 60


def _bar_chart(
    title: str, labels: Sequence[str], values: Sequence[float | None], *, maximum: float | None, fmt: str, color: str
) -> JSONObject:
    """A horizontal bar chart's geometry (the template draws it as inline SVG)."""
    top = maximum if maximum else max([v for v in values if v is not None] or [1.0]) or 1.0
    bars: list[JSONObject] = []
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        w = max(1.0, _CHART_W * min(v / top, 1.0)) if v is not None and top else 1.0
        bars.append(
            {
                "y": 26 + i * (_BAR_H + _BAR_GAP),
                "short": label if len(label) <= 20 else label[:19] + "…",
                "label": label,
                "w": w,
                "value": fmt.format(v) if v is not None else None,
            }
        )
    return {
        "title": title,
        "color": color,
        "bars": bars,
        "bar_h": _BAR_H,
        "label_w": _LABEL_W,
        "chart_w": _CHART_W,
        "width": _LABEL_W + _CHART_W + _PAD,
        "height": 30 + len(labels) * (_BAR_H + _BAR_GAP),
    }


def _blank(text: str) -> bool:
    return text.strip() in ("", "-")


def _table_data(t: ParamTable, seeds: Sequence[int | None] = ()) -> JSONObject:
    """The parameter table for the page: rows with nothing to show in any column are left out.
    ``seeds``: the run matrix's --seeds; the seed row and the legend say they replaced the profiles'."""
    forced = [s for s in seeds if s is not None]
    override = "replaced by --seeds in the runs"

    def tag(r: TableRow, c: TableCell) -> str:
        if forced and r.key == "parameters.seed":
            return f"{c.tag()}; {override}" if c.tag() else override
        return c.tag()

    rows: list[JSONObject] = [
        {
            "label": r.label,
            "differs": r.differs,
            "cells": [{"display": c.display, "tag": tag(r, c), "source": c.source} for c in r.cells],
        }
        for r in t.rows
        if not all(_blank(c.display) and not c.tag() for c in r.cells)
    ]
    legend = [x.replace("* =", "≠ =", 1) for x in _legend(t)]
    if forced:
        legend.append(
            f"seed: every run used --seeds {', '.join(map(str, forced))}, not the profiles' own seed shown here"
        )
    return {"columns": [c.label for c in t.columns], "rows": rows, "legend": legend}


def table_html(t: ParamTable) -> str:
    return render_page(
        "compare.html.j2",
        title="modelctl compare — parameters",
        heading="modelctl compare — parameters",
        verdict=None,
        host=t.server.host,
        version=t.server.version,
        errors=[],
        table=_table_data(t),
        matrix=None,
    )


def _cell_data(m: Matrix, c: Cell) -> JSONObject:
    return {
        "label": m.targets[c.profile].label,
        "text": c.result.text if c.result is not None else None,
        "stats": _stats_line(c),
        "assertions": [
            {"passed": a.passed, "text": a.assertion.label() + ("" if a.passed else f": {a.message}")}
            for a in c.assertions
        ],
        "flags": [{"name": flag_name(c, f), "help": FLAG_HELP[f]} for f in c.flags],
        "error": (c.error.message if c.error else "failed") if c.status == "error" else None,
    }


def matrix_data(m: Matrix) -> JSONObject:
    sums = m.summaries()
    labels = [t.label for t in m.targets]
    rates = [None if s.pass_rate is None else s.pass_rate * 100 for s in sums]
    charts = [
        _bar_chart(
            "Median tokens/s",
            labels,
            [s.median_tokens_per_s for s in sums],
            maximum=None,
            fmt="{:.1f}",
            color="#3867d6",
        ),
        _bar_chart("Assertion pass rate", labels, rates, maximum=100.0, fmt="{:.0f}%", color="#20a39e"),
    ]
    groups = [
        {
            "id": f"p{q + 1}-{s}-{r}",
            "title": _group_title(m, q, s, r),
            "prompt": m.cases[q].prompt,
            "system": m.cases[q].system,
            "cells": [_cell_data(m, c) for c in cells],
        }
        for q, s, r, cells in _groups(m)
    ]
    used = [f for f in FLAGS if any(f in c.flags for c in m.cells)]
    notes: list[dict[str, str | None]] = [{"name": f.replace("_", "-"), "text": FLAG_HELP[f]} for f in used]
    notes += [{"name": None, "text": w.message} for w in m.warnings]
    return {
        "charts": charts,
        "summary_headers": SUMMARY_HEADERS,
        "summary": summary_rows(sums),
        "groups": groups,
        "columns": len(m.targets),
        "notes": notes,
    }


def page_context(m: Matrix, errors: Sequence[Diagnostic] | None = None) -> JSONObject:
    """What the page around a run matrix shows: the verdict, the server, the errors, the table."""
    return {
        "title": "modelctl compare",
        "heading": "modelctl compare",
        "verdict": _verdict(m),
        "host": m.server.host or "",
        "version": m.server.version,
        "errors": [d.message for d in (m.errors() if errors is None else errors)],
        "table": _table_data(m.table, m.seeds) if m.table is not None else None,
    }


def matrix_html(m: Matrix) -> str:
    """The run matrix, with the parameter table first (what was compared, then how it answered)."""
    return render_page("compare.html.j2", **page_context(m), matrix=matrix_data(m))


# =========================================================================== results


def table_result(t: ParamTable, fmt: str) -> Result:
    """The parameter table; its exit code: what its server did, when it counts (a host of several)."""
    exit_code = t.exit_code()
    errors = (
        [Diagnostic(exit_code.name.lower(), f"server rows skipped: {t.server.reason}")]
        if (exit_code != ExitCode.OK and not t.server.reachable and t.server.reason)
        else []
    )
    if fmt == "text":
        return Result(
            data=t.to_dict(), blocks=lambda: table_blocks(t), exit_code=exit_code, warnings=t.warnings, errors=errors
        )
    writers: dict[str, Callable[[], str]] = {
        "markdown": lambda: table_markdown(t),
        "html": lambda: table_html(t),
        "json": lambda: "",
    }
    return Result(data=t.to_dict(), text=writers[fmt], exit_code=exit_code, warnings=t.warnings, errors=errors)


def matrix_result(m: Matrix, fmt: str) -> Result:
    exit_code = m.exit_code()
    warnings = [w for t in m.targets for w in t.warnings] + m.warnings
    if fmt == "text":
        return Result(
            data=m.to_dict(), blocks=lambda: matrix_blocks(m), exit_code=exit_code, warnings=warnings, errors=m.errors()
        )
    writers: dict[str, Callable[[], str]] = {
        "markdown": lambda: matrix_markdown(m),
        "html": lambda: matrix_html(m),
        "junit": lambda: matrix_junit(m),
        "json": lambda: "",
    }
    return Result(data=m.to_dict(), text=writers[fmt], exit_code=exit_code, warnings=warnings, errors=m.errors())


def table_fleet_result(fleet: Fleet[ParamTable], fmt: str) -> Result:
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
                body = table_markdown(run.result) if fmt == "markdown" else table_text(run.result)
                parts.append(head.format(run.label) + body)
        parts.append(host_table(fleet.cells, [r.label for r in fleet.runs]))
        return "\n".join(parts)

    return fleet_result(fleet, lambda t: table_result(t, fmt), text)


class NoticesFirst:
    """``compare``'s event sink: a notice (the warning that profiles will reload one model) goes to
    stderr as it comes, before the first cell runs; every other event to ``inner`` (the progress bars).
    :meth:`drop_shown` keeps it from being printed a second time with the report's warnings."""

    def __init__(self, inner: EventSink, *, show: bool) -> None:
        self.inner = inner
        self.show = show
        self.shown: list[Diagnostic] = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, Notice):
            if self.show:
                print_diagnostic("warning", event.diagnostic.format())
                self.shown.append(event.diagnostic)
            return
        self.inner(event)

    def drop_shown(self, result: Result) -> Result:
        result.warnings = [w for w in result.warnings if not any(w is s for s in self.shown)]
        return result
