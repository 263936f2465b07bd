"""Writers for the offline profile commands: ``render``, ``import`` and ``schema``."""

from __future__ import annotations

from typing import Any

from modelctl.importer import ImportedProfile
from modelctl.output import Result, dumps
from modelctl.render import Rendered


def render_result(rendered: Rendered, ref: str, output: str | None) -> Result:
    loaded = rendered.loaded
    data = {"profile": ref, "name": loaded.profile.name, "modelfile": rendered.text, "output": output}
    return Result(data=data, text=rendered.text, warnings=loaded.warnings)


def import_result(imported: ImportedProfile, output: str | None) -> Result:
    data = {"modelfile": str(imported.modelfile), "profile": imported.yaml, "output": output}
    return Result(data=data, text=imported.yaml, warnings=imported.warnings)


def schema_result(schema: dict[str, Any]) -> Result:
    return Result(data=schema, text=dumps(schema))
