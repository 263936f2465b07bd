"""Writer for ``explain``: every option with its value and origin, the server settings, Ollama's changes."""

from __future__ import annotations

import os
from pathlib import Path

from modelctl.common.units import format_value
from modelctl.jobs.explain import Explanation
from modelctl.memory.effective import ASSUMED, DECLARED, Resolved, Source, display, reload_rules, runner_args
from modelctl.output import Result
from modelctl.output.text import Table

SETTING_LABELS = {
    "parallel": "parallel slots",
    "kv_cache_type": "KV cache type",
    "flash_attention": "flash attention",
    "runner_context": "runner context",
}
VALUE_WIDTH = 32
LEGEND = (
    "(declared) = from the inventory's facts or a command-line flag; (assumed) = what no API says and "
    "nobody declared (docs/explain.md); no mark = the profile, the server's answers or the version's code"
)


def _mark(basis: str) -> str:
    return f" ({basis})" if basis in (DECLARED, ASSUMED) else ""


def _origin(src: Source) -> str:
    kind = {"extends": " (extends)", "base": "", "set": "", "request": ""}.get(src.kind, "")
    return f"{src.text}{kind}{_mark(src.basis)}"


def _over(r: Resolved) -> str:
    """The values the top layer overrides (not Ollama's plain built-in default)."""
    below = [layer for layer in reversed(r.layers[:-1]) if layer.source.kind != "ollama"]
    return "; ".join(f"over {display(layer.value, r.name)} from {_origin(layer.source)}" for layer in below)


def _notes(r: Resolved) -> str:
    parts = [f"{display(a.before, r.name)} -> {display(a.after, r.name)} (below)" for a in r.adjustments]
    parts += [p for p in (_over(r), r.note) if p]
    return "; ".join(parts)


def _short(text: str, width: int = VALUE_WIDTH) -> str:
    """A long value (a stop list) cut for the table; the JSON keeps it whole."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _path(path: Path) -> str:
    """A profile's path as written for people: relative to the working directory when below it."""
    rel = os.path.relpath(path)
    return str(path) if rel.startswith("..") else rel


def _header(e: Explanation) -> list[str]:
    s, res = e.subject, e.resolution
    srv = res.server
    where = srv.host or "no server"
    lines = [
        f"{s.label}"
        + (f" ({_path(s.profile.path)})" if s.profile is not None else "")
        + f" on {where}: Ollama {srv.version}{_mark(srv.version_basis)}"
    ]
    base = res.model
    facts = [base.family or "architecture unknown"]
    if base.trained_context:
        facts.append(f"trained context {base.trained_context:,}")
    if base.capabilities:
        facts.append(", ".join(base.capabilities))
    what = "base model" if s.profile is not None else "model"
    lines.append(f"{what} {base.name}: " + ("; ".join(facts) if base.known else base.where))
    if s.profile is not None and s.built is not None:
        state = "built" if s.built else "not built (these are the options it will run with once built)"
        lines.append(f"model {s.model}: {state}")
    if e.running is not None:
        ctx = e.running.get("context_length")
        lines.append(f"running now: context {format_value(ctx)} (/api/ps)")
    return lines


def _adjustments(e: Explanation) -> list[str]:
    rows = [*e.resolution.options.values(), *e.resolution.settings.values()]
    out = []
    for r in rows:
        for a in r.adjustments:
            mark = " (assumed)" if a.assumed else ""
            out.append(
                f"  {r.name} {display(a.before, r.name)} -> {display(a.after, r.name)}: {a.reason}{mark} ({a.cite})"
            )
    return out


def explain_text(e: Explanation) -> list[str | Table]:
    res = e.resolution
    blocks: list[str | Table] = ["\n".join(_header(e)) + "\n\n"]
    rows = [(o.name, _short(display(o.value, o.name)), _origin(o.source), _notes(o)) for o in res.options.values()]
    blocks.append(Table(("option", "value", "from", "notes"), rows, wrap=(2, 3)))
    settings = [
        (SETTING_LABELS.get(s.name, s.name), display(s.value, s.name), _origin(s.source), _notes(s))
        for s in res.settings.values()
    ]
    blocks.append("\nserver settings\n")
    blocks.append(Table(("setting", "value", "from", "notes"), settings, wrap=(2, 3)))
    adjusted = _adjustments(e)
    if adjusted:
        blocks.append("\nOllama's adjustments\n" + "\n".join(adjusted) + "\n")
    cmd = runner_args(res)
    blocks.append(f"\nthe runner is started as ({cmd['cite']}):\n  {' '.join(cmd['argv'])}\n")
    reload = reload_rules(res.server.version)
    blocks.append("\nthe runner is loaded again when a request differs in (server/sched.go needsReload):\n")
    blocks.append("".join(f"  - {r}\n" for r in reload))
    blocks.append("\n" + LEGEND + "\n")
    return blocks


def explain_result(e: Explanation) -> Result:
    blocks = explain_text(e)
    return Result(data=e.to_dict(), blocks=lambda: blocks, warnings=e.warnings)
