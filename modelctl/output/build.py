"""Writer for ``build``: what happened to each profile (one line each, the summary line), the
full report for one profile or with ``--report``, and the host x profile table across hosts."""

from __future__ import annotations

import json

from modelctl.common.units import download_size
from modelctl.jobs.build import BuildOutcome, BuildPlan, BuildResult
from modelctl.jobs.fleet import Fleet
from modelctl.output import Result
from modelctl.output.show import report_text, verify_errors, verify_text
from modelctl.output.summary import fleet_result, host_table, profile_line, summary_line


def blob_plan_text(plan: BuildPlan) -> str:
    if not plan.blobs:
        return "blobs: none (no local files)\n"
    lines = ["blobs:"]
    for b in plan.blobs:
        state = {None: "HEAD, upload if absent", True: "present", False: "upload"}[b.present]
        lines.append(f"  {b.kind}[{b.key}]  {b.digest}  {b.size} bytes  {b.path}  ({state})")
    return "\n".join(lines) + "\n"


def outcome_text(o: BuildOutcome) -> str:
    """One profile in full: what happened, why, and the model's report."""
    plan = o.plan
    if o.status == "planned":
        request = json.dumps(plan.request, indent=2, ensure_ascii=False)
        return f"# {plan.name}: dry run, nothing sent\nPOST /api/create\n{request}\n" + blob_plan_text(plan)
    head = {"created": "created", "up_to_date": "up to date"}[o.status]
    if o.status == "up_to_date" and o.report is None:
        head = "up to date (in sync with the profile: not rebuilt)"
    lines = [f"{plan.name}: {head}"]
    if o.status == "created":
        lines += [f"  rebuilt because {r}" for r in o.reasons]
    if o.pulled:
        size = f" ({download_size(o.pull_bytes)})" if o.pull_bytes else ""
        lines.append(f"  pulled the base model {plan.base_model}{size}")
    if plan.blobs:
        lines.append(f"  blobs: {len(plan.blobs)} file(s), {o.uploaded_bytes} bytes uploaded")
    if o.shipped is not None:
        s = o.shipped
        how = "built here, pushed to" if s.built_here else "pushed to" if s.pushed_here else "pulled from"
        how += " and pulled back from" if s.pushed_here else ""
        lines.append(f"  {how} the registry as {s.reference} ({s.digest or 'digest unknown'})")
    out = "\n".join(lines) + "\n"
    if o.report is not None:
        out += report_text(o.report.to_dict()) + verify_text(o.report)
    return out


def _lines(result: BuildResult, host: str | None = None) -> list[str]:
    """One line per profile, in the order given (failures where they failed)."""
    done = [(o.plan.name, o.verb, o.elapsed) for o in result.outcomes]
    done += [(f.name, "failed", f.elapsed) for f in result.failures]
    order = {o.plan.name: i for i, o in enumerate(result.outcomes)}
    return [profile_line(name, verb, took, host) for name, verb, took in sorted(done, key=lambda d: order.get(d[0], 0))]


def build_text(result: BuildResult, *, printed: bool = False, report: bool = False, quiet: bool = False) -> str:
    """One profile (or a dry run): the full text. Several: a line each (unless they were printed
    while building), the reports with ``report``, and the summary line; ``quiet``: the summary only."""
    count = len(result.outcomes) + len(result.failures)
    if result.dry_run or (count == 1 and not result.failures):
        return "\n".join(outcome_text(o) for o in result.outcomes)
    parts: list[str] = []
    if not printed and not quiet:
        parts += [line + "\n" for line in _lines(result)]
    if report:
        parts += ["\n" + outcome_text(o) for o in result.outcomes]
    parts.append(summary_line(result.counts(), seconds=result.elapsed, built=True, skipped=len(result.skipped)) + "\n")
    return "".join(parts)


def build_result(result: BuildResult, *, printed: bool = False, report: bool = False, quiet: bool = False) -> Result:
    reports = [o.report for o in result.outcomes if o.report is not None]
    return Result(
        data=result.to_dict(),
        text=lambda: build_text(result, printed=printed, report=report, quiet=quiet),
        exit_code=result.exit_code(),
        warnings=result.warnings,
        errors=verify_errors(reports) + [f.diagnostic() for f in result.failures],
    )


def build_fleet_result(
    fleet: Fleet[BuildResult], *, printed: bool = False, report: bool = False, quiet: bool = False
) -> Result:
    """One host: :func:`build_result`. Several: the lines (host first), the host x profile table and
    the summary line; one error line per failed host and per failed build, named by host."""

    def one(result: BuildResult) -> Result:
        return build_result(result, printed=printed, report=report, quiet=quiet)

    def text() -> str:
        parts: list[str] = []
        for run in fleet.runs:
            if run.result is None:
                continue
            if not printed and not quiet:
                parts += [line + "\n" for line in _lines(run.result, run.label)]
            if report or run.result.dry_run:
                parts += [f"\n# {run.label}\n" + outcome_text(o) for o in run.result.outcomes]
        labels = [r.label for r in fleet.runs]
        if not quiet:
            parts.append(("\n" if parts or printed else "") + host_table(fleet.cells, labels))
            parts += shipped_lines(fleet)
        skipped = max((len(r.result.skipped) for r in fleet.runs if r.result is not None), default=0)
        line = summary_line(fleet.counts(), seconds=fleet.elapsed, hosts=len(labels), built=True, skipped=skipped)
        parts.append(line + "\n")
        return "".join(parts)

    return fleet_result(fleet, one, text)


def shipped_lines(fleet: Fleet[BuildResult]) -> list[str]:
    """``--via-registry``: each reference shipped, its digest, where it was pushed from and pulled."""
    built: dict[str, tuple[str, list[str]]] = {}  # reference -> (digest, the host it was pushed from)
    pulled: dict[str, list[str]] = {}
    for run in fleet.runs:
        for o in run.result.outcomes if run.result is not None else []:
            s = o.shipped
            if s is None:
                continue
            built.setdefault(s.reference, (s.digest or "digest unknown", []))
            (built[s.reference][1] if s.pushed_here else pulled.setdefault(s.reference, [])).append(run.label)
    lines = []
    for ref, (digest, on) in built.items():
        where = f"pushed from {', '.join(on)}" if on else "the registry's copy is current"
        where += f", pulled on {', '.join(pulled[ref])}" if ref in pulled else ""
        lines.append(f"shipped {ref} ({digest}): {where}\n")
    return lines
