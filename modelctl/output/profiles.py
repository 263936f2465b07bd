"""Writers for the offline profile commands: ``render``, ``import`` and ``schema``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelctl.common.jsontypes import JSONObject
from modelctl.errors import Diagnostic
from modelctl.modelfile.render import RenderCheck, Rendered
from modelctl.output import Result, dumps

if TYPE_CHECKING:  # render's writer: the Modelfile importer (and YAML writing) loads for `import` only
    from modelctl.modelfile.importer import ImportedProfile


def render_result(rendered: Rendered, ref: str, output: str | None) -> Result:
    loaded = rendered.loaded
    data: JSONObject = {"profile": ref, "name": loaded.profile.name, "modelfile": rendered.text, "output": output}
    data["unchecked"] = [d.to_dict() for d in loaded.unchecked]
    return Result(data=data, text=rendered.text, warnings=loaded.warnings + loaded.unchecked, raw=True)


def import_result(imported: ImportedProfile, output: str | None) -> Result:
    return Result(data=imported.to_dict(output), text=imported.yaml, warnings=imported.warnings, raw=True)


def schema_result(schema: JSONObject) -> Result:
    return Result(data=schema, text=dumps(schema), raw=True)


def check_text(result: RenderCheck) -> str:
    out = []
    for c in result.checks:
        if c.equal:
            out.append(f"{c.modelfile}: up to date with {c.profile}\n")
        elif c.note:
            out.append(f"{c.modelfile}: {c.note}\n")
        else:
            out.append(c.diff)
    n = sum(1 for c in result.checks if not c.equal)
    out.append(f"{len(result.checks)} Modelfile(s) checked, {n} differ{'s' if n == 1 else ''} from the profiles\n")
    return "".join(out)


def check_result(result: RenderCheck) -> Result:
    """``render --check``: exit 3 (drift) when a committed Modelfile differs from its rendering."""
    errors = [
        Diagnostic("drift", c.note or f"differs from what {c.profile} renders", str(c.modelfile))
        for c in result.checks
        if not c.equal
    ]
    return Result(
        data=result.to_dict(),
        text=lambda: check_text(result),
        exit_code=result.exit_code(),
        warnings=result.skipped,
        errors=errors,
    )
