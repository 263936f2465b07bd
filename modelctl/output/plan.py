"""Writer for ``plan``: a diff a reviewer reads at a glance, or the JSON of every difference.

One block per profile: a head line (model, profile, status), then one line per difference
(``+`` the model will get it, ``-`` it will lose it, ``~`` it changes: ``found → wanted``),
then the parameters the model inherits from its base (in force, not drift). A summary line
ends the text.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from modelctl.common.units import format_value
from modelctl.errors import Diagnostic
from modelctl.jobs.drift import Difference
from modelctl.jobs.fleet import Fleet
from modelctl.jobs.plan import PlanResult, ProfilePlan
from modelctl.output import Result
from modelctl.output.prune import removals_text
from modelctl.output.summary import fleet_result, host_table, summary_line

_DIGEST = re.compile(r"sha256:([0-9a-f]{12})[0-9a-f]{52}")
_HEAD = {"in_sync": "in sync", "changed": "changed", "missing": "missing", "failed": "failed"}
WIDTH = 60  # a value longer than this is cut (the JSON has it whole)


def value_text(value: Any) -> str:
    """One line for a wanted or found value: digests shortened, long or multi-line text cut."""
    if value is None or value == [] or value == "":
        return "(none)"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        text = "; ".join(f"{v.get('role')}: {v.get('content')}" for v in value)
        return _cut(f"{len(value)} message(s): {text}")
    text = format_value(value)
    text = _DIGEST.sub(lambda m: "sha256:" + m.group(1), text)
    if isinstance(value, str) and "\n" in value:
        return _cut(format_value(value.split("\n", 1)[0])) + f" ({value.count(chr(10)) + 1} lines)"
    return _cut(text)


def _cut(text: str) -> str:
    return text if len(text) <= WIDTH else text[: WIDTH - 1] + "…"


def difference_line(d: Difference, width: int) -> str:
    name = d.field.ljust(width)
    if d.action == "+":
        body = value_text(d.wanted)
    elif d.action == "-":
        body = value_text(d.found)
    else:
        body = f"{value_text(d.found)} → {value_text(d.wanted)}"
    note = f"  ({d.note})" if d.note else ""
    return f"  {d.action} {name}  {body}{note}".rstrip()


def _display(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:  # pragma: no cover - another drive on Windows
        return str(path)
    return rel if not rel.startswith("..") else str(path)


def profile_text(p: ProfilePlan) -> str:
    where = f" ({_display(p.profile)})" if p.profile is not None else ""
    head = _HEAD[p.status]
    if p.error is not None:
        head = f"failed: {p.error.message}"
    lines = [f"{p.model}{where}: {head}"]
    diffs = p.differences + p.upstream
    width = max((len(d.field) for d in diffs), default=0)
    lines += [difference_line(d, width) for d in diffs]
    if p.inherited:
        listing = ", ".join(f"{k}={format_value(v)}" for k, v in p.inherited.items())
        lines.append(f"    inherited from the base (not drift): {listing}")
    return "\n".join(lines) + "\n"


def summary_text(result: PlanResult) -> str:
    counts: dict[str, int] = {}
    for p in result.profiles:
        counts[p.status] = counts.get(p.status, 0) + 1
    parts = [f"{counts[s]} {_HEAD[s]}" for s in ("in_sync", "changed", "missing", "failed") if counts.get(s)]
    if result.skipped:
        parts.append(f"{len(result.skipped)} skipped (abstract)")
    upstream = sum(1 for p in result.profiles if p.upstream)
    if upstream:
        parts.append(f"{upstream} with upstream drift")
    if result.removals:
        parts.append(f"{len(result.removals)} to remove (lock)")
    total = len(result.profiles)
    verdict = "drift" if result.drift else "no drift"
    return f"{total} profile(s) on {result.host}: {', '.join(parts) or 'nothing to plan'} — {verdict}\n"


def plan_text(result: PlanResult) -> str:
    version = f" (Ollama {result.server_version})" if result.server_version else ""
    out = [f"plan against {result.host}{version}" + (f", lock {result.lock}" if result.lock else "") + "\n"]
    if result.version_changed:
        consequence = "drift (--strict)" if result.strict else "reported, not drift without --strict"
        out.append(
            f"~ server version changed since the lock: {result.locked_version} → {result.server_version} "
            f"({consequence})\n"
        )
    out += [profile_text(p) for p in result.profiles]
    if result.removals:
        out.append(removals_text(result.removals))
    out.append(summary_text(result))
    return "\n".join(out)


def plan_errors(result: PlanResult) -> list[Diagnostic]:
    """One error per model that failed, and the drift line."""
    errors = []
    for p in result.failures:
        if p.error is not None:
            d = p.error.diagnostic()
            d.message = f"{p.model}: {d.message}"
            errors.append(d)
    drifted = [p.model for p in result.profiles if p.drift and p.error is None]
    parts = []
    if drifted:
        parts.append(
            f"{len(drifted)} of {len(result.profiles)} model(s) differ from their profiles ({', '.join(drifted)})"
        )
    elif result.strict and result.version_changed:
        parts.append("the server's version changed since the lock (--strict)")
    if result.removals:
        gone = ", ".join(r.model for r in result.removals)
        parts.append(f"{len(result.removals)} locked model(s) that no profile makes any more ({gone})")
    if parts:
        errors.append(Diagnostic("drift", f"drift on {result.host}: {'; '.join(parts)}"))
    return errors


def plan_result(result: PlanResult) -> Result:
    return Result(
        data=result.to_dict(),
        text=lambda: plan_text(result),
        exit_code=result.exit_code(),
        warnings=result.warnings,
        errors=plan_errors(result),
    )


def plan_fleet_result(fleet: Fleet[PlanResult]) -> Result:
    """One host: :func:`plan_result`. Several: each host's diff under its name, then the host x
    profile table and one summary line; JSON: every host's plan and the matrix (docs/fleet.md)."""

    def text() -> str:
        parts = []
        for run in fleet.runs:
            if run.result is not None and (run.result.profiles or run.result.removals):
                parts.append(f"== {run.label} ==\n" + plan_text(run.result))
            elif run.error is not None:
                parts.append(f"== {run.label} ==\nfailed: {run.error.message}\n")
        parts.append(host_table(fleet.cells, [r.label for r in fleet.runs]))
        drift = " — drift" if _drift(fleet) else ""
        parts[-1] += summary_line(fleet.counts(), seconds=fleet.elapsed, hosts=len(fleet.runs)) + drift + "\n"
        return "\n".join(parts)

    result = fleet_result(fleet, plan_result, text)
    if fleet.many:
        result.data["drift"] = _drift(fleet)
    return result


def _drift(fleet: Fleet[PlanResult]) -> bool:
    return any(r.result is not None and r.result.drift for r in fleet.runs)
