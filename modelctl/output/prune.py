"""The text and JSON of pruning: ``plan --lock``'s removals, ``build --prune``'s outcome."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from modelctl.common.jsontypes import JSONObject
from modelctl.errors import Diagnostic, overall_exit_code
from modelctl.output import Result

if TYPE_CHECKING:
    from modelctl.jobs.fleet_prune import PruneRun
    from modelctl.jobs.prune import Removal


def removal_line(r: Removal, *, dry_run: bool = False, planned: bool = False) -> str:
    """``- remove MODEL: REASON`` (plan, --dry-run), else what became of it."""
    if planned or dry_run:
        verb = "- remove"
        if r.on_server and r.changed:
            verb = "- remove (needs --force)"
    else:
        verb = {"removed": "- removed", "dropped": "- dropped", "kept": "= kept", "failed": "! failed"}.get(
            r.status, r.status
        )
    note = r.note() if (planned or dry_run or r.status != "removed") else ""
    tail = f"; {note}" if note else ""
    error = f": {r.error}" if r.error else ""
    return f"{verb} {r.model}{error} ({r.reason}{tail})"


def removals_text(removals: Sequence[Removal], *, host: str | None = None) -> str:
    """plan's removal block (empty when there is none)."""
    if not removals:
        return ""
    where = f" on {host}" if host else ""
    head = f"lock entries whose profile no longer makes them{where} (`build --prune` removes them):\n"
    return head + "".join(f"  {removal_line(r, planned=True)}\n" for r in removals)


def prune_text(run: PruneRun, *, dry_run: bool) -> str:
    parts: list[str] = []
    for host in run.runs:
        if host.error is not None:
            parts.append(f"prune {host.label}: failed: {host.error.message}\n")
            continue
        result = host.result
        if result is None:
            continue
        lines = [removal_line(r, dry_run=dry_run) for r in result.removals]
        head = f"prune {result.host}" + (" (dry run: nothing removed)" if dry_run else "")
        count = f"{len(lines)} stale lock entr{'y' if len(lines) == 1 else 'ies'}" if lines else "nothing to prune"
        parts.append(f"\n{head}: {count}\n")
        parts += [f"  {line}\n" for line in lines]
    return "".join(parts)


def prune_data(run: PruneRun, *, dry_run: bool) -> JSONObject:
    return {
        "dry_run": dry_run,
        "hosts": [
            {
                "host": h.label,
                "ok": h.error is None,
                "error": h.error.diagnostic().to_dict() if h.error is not None else None,
                "removals": [r.to_dict() for r in h.result.removals] if h.result is not None else [],
            }
            for h in run.runs
        ],
        "removals": [r.to_dict() for res in run.results for r in res.removals],
    }


def with_prune(result: Result | None, run: PruneRun, *, dry_run: bool, command: str = "build") -> Result:
    """``result`` (build's, None when only pruning) with the pruning added: its lines after the
    build's text, ``data.prune`` in JSON, its warnings, a failed removal's error and exit code."""
    warnings = list(run.warnings) + [n for r in run.results for n in r.notes]
    errors = [
        Diagnostic("prune_failed", f"cannot remove {x.model} from {res.host}: {x.error}")
        for res in run.results
        for x in res.removals
        if x.status == "failed"
    ]
    errors += [h.error.diagnostic() for h in run.runs if h.error is not None]
    data = prune_data(run, dry_run=dry_run)
    text = prune_text(run, dry_run=dry_run)
    if result is None:
        return Result(
            data={"prune": data}, text=text.lstrip("\n"), exit_code=run.exit_code(), warnings=warnings, errors=errors
        )
    before, blocks = result.text, result.blocks
    result.text = lambda: (before() if callable(before) else before) + text
    if blocks is not None:
        result.blocks = lambda: [*blocks(), text]
    if isinstance(result.data, dict):
        result.data["prune"] = data
    result.warnings += warnings
    result.errors += errors
    result.exit_code = overall_exit_code([result.exit_code, run.exit_code()])
    return result
