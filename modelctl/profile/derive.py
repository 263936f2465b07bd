"""A profile derived from another: it ``extends`` the base and sets only what differs from it.

:func:`derive_profile` is the one way modelctl writes a profile from changed settings: the
chat's ``/save FILE.yaml`` (the session's parameters and system prompt) uses it, and so does
anything else that turns settings found at run time into a profile. The result is checked
as the file it will be (loaded and validated from its text, at its path) before anything is
written, and :meth:`DerivedProfile.save` writes it atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from modelctl.common.files import write_atomic
from modelctl.common.jsontypes import JSONObject
from modelctl.errors import Diagnostic, InvalidInput, JobResult, too_long_name
from modelctl.modelfile.importer import dump_yaml
from modelctl.ollama.wire import same_value
from modelctl.profile.params import Params, ParamValue
from modelctl.profile.profile import LoadedProfile, is_model_name, load_profile, same_local_path


@dataclass
class DerivedProfile(JobResult):
    """A profile that extends ``base`` (or builds on ``from``) with only the changed values."""

    path: Path  # where it is to be written
    text: str  # the YAML
    data: JSONObject  # what it sets, as the YAML holds it
    loaded: LoadedProfile  # the profile as it will load from ``path``
    changed: JSONObject = field(default_factory=dict)  # dotted field -> the new value

    @property
    def warnings(self) -> list[Diagnostic]:
        return self.loaded.warnings

    def save(self) -> None:
        """Write the profile atomically (a reader never sees half of it)."""
        write_atomic(self.path, self.text)

    def to_dict(self) -> JSONObject:
        return {"path": str(self.path), "profile": self.text, "changed": self.changed}


def _relative(target: Path, folder: Path) -> str:
    return os.path.relpath(os.path.abspath(target), os.path.abspath(folder)).replace(os.sep, "/")


def _local(target: Path, folder: Path) -> str:
    """A local file as a profile in ``folder`` names it (``./x.gguf``, ``../models/x.gguf``)."""
    rel = _relative(target, folder)
    return rel if rel.startswith("../") else "./" + rel


def _local_fields(base: LoadedProfile, folder: Path) -> JSONObject:
    """The base's local files written relative to ``folder``: ``extends`` does not rebase the
    paths of the files it reads, so a profile in another folder names them itself."""
    prof = base.profile
    out: JSONObject = {}
    base_path = prof.base_path()
    if base_path is not None:
        out["from"] = _local(base_path, folder)
    if prof.projector:
        out["projector"] = [_local(p, folder) for p in prof.projector_paths()]
    if prof.adapters:
        out["adapters"] = [_local(p, folder) for p in prof.adapter_paths()]
    draft = prof.draft_path()
    if draft is not None:
        out["draft"] = _local(draft, folder)
    return out


def _changed_parameters(base: LoadedProfile | None, parameters: Mapping[str, ParamValue]) -> Params:
    have = base.profile.parameters.as_dict() if base is not None else {}
    return {k: v for k, v in parameters.items() if k not in have or not same_value(k, v, have[k])}


def derive_profile(
    base: LoadedProfile | None,
    path: str | os.PathLike[str],
    *,
    parameters: Mapping[str, ParamValue] | None = None,
    system: str | None = None,
    name: str | None = None,
    from_model: str | None = None,
    replace: bool = False,
    replace_hint: str = "--force",
) -> DerivedProfile:
    """The profile at ``path`` that extends ``base`` and sets only what differs from it:
    ``parameters`` whose value differs (floats compared as the server stores them), ``system``
    when it differs. Without a base (a plain model), it builds on ``from_model``.

    ``name`` (the model it makes) defaults to the file's stem; it must be a valid model name and
    differ from the base's, so that building it never replaces the base's model. Raises
    :class:`InvalidInput` (nothing written) when the result would not load, and when ``path``
    exists unless ``replace`` (the refusal names ``replace_hint``, the way to replace it): an
    existing profile of that name would be replaced, and a later build would replace its model.
    """
    if too_long_name(str(path)):
        raise InvalidInput("the name is longer than a file name may be", file=str(path))
    target = Path(os.path.abspath(path))
    if target.suffix.lower() not in (".yaml", ".yml"):
        raise InvalidInput(f"{path}: a profile is a .yaml (or .yml) file", file=str(path))
    if base is not None and same_local_path(target, base.path):
        raise InvalidInput(f"{path} is the profile it would extend: choose another file", file=str(path))
    if not replace and os.path.lexists(target):
        raise InvalidInput(f"{path} exists: not replaced (to replace it: {replace_hint})", file=str(path))
    model = name or target.stem
    if not is_model_name(model):
        raise InvalidInput(f"'{model}' is not a valid Ollama model name: choose another file name", file=str(path))
    if base is not None and model == base.profile.name:
        raise InvalidInput(f"{path} would make the model {model} that {base.path.name} makes", file=str(path))
    data: JSONObject = {"name": model}
    changed: JSONObject = {}
    if base is not None:
        data["extends"] = _relative(base.path, target.parent)
        if target.parent != base.path.parent:
            data.update(_local_fields(base, target.parent))
    elif from_model:
        data["from"] = from_model
    else:
        raise InvalidInput("a derived profile needs a base profile or a model to build on", file=str(path))
    if system is not None and (base is None or system != (base.profile.system or "")):
        data["system"] = changed["system"] = system
    params = _changed_parameters(base, parameters or {})
    if params:
        data["parameters"] = params
        changed.update({f"parameters.{k}": v for k, v in params.items()})
    origin = f"the profile {base.path.name}" if base is not None else f"the model {from_model}"
    text = dump_yaml(data, header=f"# Derived by modelctl from {origin}: only what differs from it.\n")
    loaded = load_profile(str(target), text=text)
    return DerivedProfile(target, text, data, loaded, changed)
