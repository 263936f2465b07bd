"""Writer for ``build``: what happened to each profile, then its report."""

from __future__ import annotations

import json

from modelctl.build import BuildOutcome, BuildPlan, BuildResult
from modelctl.errors import ExitCode
from modelctl.output import Result
from modelctl.output.show import report_text, verify_errors, verify_text


def blob_plan_text(plan: BuildPlan) -> str:
    if not plan.blobs:
        return "blobs: none (no local files)\n"
    lines = ["blobs:"]
    for b in plan.blobs:
        state = {None: "HEAD, upload if absent", True: "present", False: "upload"}[b.present]
        lines.append(f"  {b.kind}[{b.key}]  {b.digest}  {b.size} bytes  {b.path}  ({state})")
    return "\n".join(lines) + "\n"


def outcome_text(o: BuildOutcome) -> str:
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
        lines.append(f"  pulled the base model {plan.base_model}")
    if plan.blobs:
        sent = sum(b.uploaded_bytes for b in plan.blobs)
        lines.append(f"  blobs: {len(plan.blobs)} file(s), {sent} bytes uploaded")
    out = "\n".join(lines) + "\n"
    if o.report is not None:
        out += report_text(o.report.to_dict()) + verify_text(o.report)
    return out


def build_result(result: BuildResult, exit_code: ExitCode) -> Result:
    reports = [o.report for o in result.outcomes if o.report is not None]
    return Result(
        data=result.to_dict(),
        text=lambda: "\n".join(outcome_text(o) for o in result.outcomes),
        exit_code=exit_code,
        warnings=result.warnings,
        errors=verify_errors(reports) + [f.diagnostic() for f in result.failures],
    )
