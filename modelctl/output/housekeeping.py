"""Writers for ``ls``, ``ps`` and ``rm``: tables of models, with the profile each comes from."""

from __future__ import annotations

from typing import Any

from modelctl.common.units import human_bytes, human_time
from modelctl.errors import Diagnostic
from modelctl.jobs.housekeeping import STATE_TEXT, LoadedModels, ModelList, ProfileModel, RemoveResult
from modelctl.output import Result
from modelctl.output.text import Table


def _changes(row: ProfileModel) -> str:
    if row.error is not None:
        return row.error.message.splitlines()[0]
    return ", ".join(dict.fromkeys(d.field for d in row.differences)) if row.state == "changed" else ""


def list_blocks(result: ModelList) -> list[Any]:
    blocks: list[Any] = []
    if result.profiles:
        rows = [
            (
                r.profile,
                r.model or "-",
                STATE_TEXT[r.state],
                human_bytes(r.deployed.size) if r.deployed else "-",
                human_time(r.deployed.modified_at, result.now, zero="-") if r.deployed else "-",
                _changes(r),
            )
            for r in result.profiles
        ]
        blocks.append(Table(("profile", "model", "state", "size", "modified", "what differs"), rows, wrap={5}))
    else:
        blocks.append("no profiles (looked in ./profiles and $MODELCTL_PROFILES)\n")
    if result.unprofiled:
        others = [
            (m.name, human_bytes(m.size), human_time(m.modified_at, result.now, zero="-")) for m in result.unprofiled
        ]
        blocks += [f"\non {result.host}, made by no profile:\n", Table(("model", "size", "modified"), others)]
    return blocks


def list_result(result: ModelList) -> Result:
    return Result(data=result.to_dict(), blocks=lambda: list_blocks(result), warnings=result.warnings)


def _until(m: Any, result: LoadedModels) -> str:
    if m.expires_at is not None and m.expires_at <= result.now:
        return "Stopping..."
    return human_time(m.expires_at, result.now)


def loaded_blocks(result: LoadedModels) -> list[Any]:
    if not result.models:
        return [f"no model is loaded on {result.host}\n"]
    rows = [
        (
            m.name,
            m.digest[:12] if m.digest else "-",
            human_bytes(m.size),
            m.processor or "-",
            m.context_length if m.context_length is not None else "-",
            _until(m, result),
            ", ".join(m.profiles) or "-",
        )
        for m in result.models
    ]
    return [Table(("name", "id", "size", "processor", "context", "until", "profile"), rows)]


def loaded_result(result: LoadedModels) -> Result:
    return Result(data=result.to_dict(), blocks=lambda: loaded_blocks(result))


def remove_result(result: RemoveResult) -> Result:
    lines = []
    errors: list[Diagnostic] = []
    for r in result.models:
        size = f" ({human_bytes(r.model.size)})" if r.model.size is not None else ""
        via = f", the model of {r.profile}" if r.profile else ""
        if result.dry_run:
            lines.append(f"would remove {r.model.name}{size}{via}")
        elif r.removed:
            lines.append(f"removed {r.model.name}{size}{via}")
        elif r.error is not None:
            errors.append(Diagnostic(r.error.code, f"{r.model.name}: {r.error.message}"))
    text = "".join(line + "\n" for line in lines)
    return Result(data=result.to_dict(), text=text, exit_code=result.exit_code(), errors=errors)
