"""``import --model NAME``: a deployed model -> the profile ``plan`` reports in sync with it.

The base is the model's ``details.parent_model``; a model without one (built from files, or
whose weights the server rewrote) builds on itself, as the ``# FROM`` hint of ``ollama show
--modelfile`` says. Only what the model does not inherit from its base is written:
parameters (read from ``/api/show``'s Go-syntax text, floats at float32 precision),
system, template, messages, the licenses after the base's, requires, renderer and parser
(from the generated Modelfile's lines), adapters and a draft. The last two are files on the
server; the profile names local files with the same SHA-256 (looked for under ``--files``)
and never a path into the server's blob store.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from modelctl.common.files import not_regular, sha256_file
from modelctl.common.jsontypes import JSONObject
from modelctl.errors import Diagnostic, ServerError
from modelctl.jobs.drift import read_deployed
from modelctl.modelfile.importer import ImportedProfile, dump_yaml, is_blob_path
from modelctl.ollama.hosts import HostRef
from modelctl.ollama.server import ModelNotFound
from modelctl.ollama.session import HostSession, session_for
from modelctl.ollama.wire import as_sent, parse_parameters, same_model_name, same_value
from modelctl.profile.names import model_hint
from modelctl.profile.params import BY_NAME, stored_value_problem
from modelctl.profile.profile import is_model_name, local_path

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.ollama.shapes import ShowResponse
    from modelctl.profile.params import Params, ParamValue

_LOCAL_SUFFIXES = (".gguf", ".safetensors", ".bin")


def _local_index(dirs: Sequence[str | os.PathLike[str]]) -> dict[str, Path]:
    """``sha256:<hex>`` -> path of every model-like file under ``dirs`` (for blobs to find locally)."""
    found: dict[str, Path] = {}
    for d in dirs:
        for root, _subdirs, names in os.walk(d):
            for n in sorted(names):
                if n.lower().endswith(_LOCAL_SUFFIXES):
                    p = Path(root) / n
                    if not_regular(p, what="model file") is None:  # a FIFO or device is never opened
                        found.setdefault(sha256_file(p), p)
    return found


@dataclass
class _Deployed:
    """A model's /api/show, as import needs it."""

    show: ShowResponse

    @property
    def parameters(self) -> Params:
        return parse_parameters(self.show.get("parameters"))

    def text(self, key: Literal["system", "template", "license", "requires"]) -> str:
        return str(self.show.get(key) or "")

    @property
    def messages(self) -> list[dict[str, str]]:
        return [
            {"role": str(m.get("role")), "content": str(m.get("content") or "")}
            for m in self.show.get("messages") or []
        ]


def _own_name(model: str, show: ShowResponse) -> str:
    """The name the generated Modelfile's ``# FROM`` hint gives the model (``model`` without one)."""
    text = show.get("modelfile") or ""
    m = re.search(r"^# FROM (\S+)\s*$", text, re.MULTILINE)
    return m.group(1) if m and same_model_name(m.group(1), model) else model


def _base_name(model: str, show: ShowResponse, *, at: str, base_dir: Path) -> str | None:
    """``details.parent_model`` when it names another model; None otherwise: a file key (newer
    servers), or the path of the weights blob (Ollama 0.9.3 gives that for a model from files).

    The server's answer never becomes a local path: a ``from`` that is not a valid model name
    (``types/model/name.go``), or that a profile would read as a file (``./x``, ``/x``, ``x.pth``,
    a file that exists beside the profile), would make ``build`` hash that file and upload it to
    whoever answered. Such an answer is malformed: ServerError (exit 5) naming the server.
    """
    parent = str((show.get("details") or {}).get("parent_model") or "")
    if not parent or parent.lower().endswith(_LOCAL_SUFFIXES) or same_model_name(parent, model):
        return None
    if is_blob_path(parent):  # 0.9.3 answers its weights blob's path for a model made from files: no base
        return None
    if not is_model_name(parent) or local_path(parent, base_dir) is not None:
        shown = parent if len(parent) <= 120 else parent[:120] + "…"
        raise ServerError(
            f"Ollama at {at}: /api/show: malformed answer: details.parent_model {shown!r} of model {model} is "
            "not a model name (or names a local file): refused, a server's answer never becomes a local path"
        )
    return parent


@dataclass(kw_only=True, frozen=True)
class ImportOptions:
    """Every setting of ``import_model`` (``import --model``), once."""

    name: str | None = None  # the profile's `name` (default: the model's)
    output: Path | None = None  # where the YAML goes: relative paths in it are relative to its folder
    files: Sequence[str | os.PathLike[str]] = ()  # folders holding the model's adapter or draft files


def import_model(
    model: str,
    options: ImportOptions | None = None,
    *,
    host: HostRef = None,
    timeout: float | None = None,
    session: HostSession | None = None,
) -> ImportedProfile:
    """The profile of a deployed model, such that ``plan`` reports it in sync with that model.

    The base is ``details.parent_model`` (the model's own name when there is none: a model
    from files, or one whose weights the server rewrote, builds on itself). Only what differs
    from the base is written: parameters, system, template, messages, the licenses after the
    base's, adapters and draft (found by digest among the files under ``files``; the server's
    blobs are never named), requires, renderer, parser.
    """
    o = options or ImportOptions()
    own = session is None
    s = session if session is not None else session_for(host, timeout=timeout)
    try:
        return _import(s, model, output=o.output, name=o.name, files=o.files)
    finally:
        if own:
            s.close()


def _import(
    s: HostSession, model: str, *, output: Path | None, name: str | None, files: Sequence[str | os.PathLike[str]]
) -> ImportedProfile:
    show = s.show(model)
    if show is None:
        near = model_hint(s.client, model)
        hint = f"; {near}" if near is not None else ""
        raise ModelNotFound(f"model {model} is not on the server at {s.display_host}{hint}", model=model)
    warnings: list[Diagnostic] = []
    base_dir = output.resolve().parent if output is not None else Path.cwd()
    base = _base_name(model, show, at=s.display_host, base_dir=base_dir)
    base_show = s.show(base) if base else None
    if base and base_show is None:
        warnings.append(
            Diagnostic("base_missing", f"the base model {base} is not on the server: the profile builds on {model}")
        )
        base = None
    me, parent = _Deployed(show), _Deployed(base_show or show)
    data: JSONObject = {"name": name or model, "from": base or _own_name(model, show)}
    _differing(me, parent, data, warnings)
    if base is not None:
        _local_layers(show, base_show or {}, data, files, output, warnings)
    text = dump_yaml(data, header=f"# Imported by modelctl from the model {model} on {s.display_host}\n")
    return ImportedProfile(None, text, data, warnings, model=model, host=s.display_host)


def _differing(me: _Deployed, parent: _Deployed, data: JSONObject, warnings: list[Diagnostic]) -> None:
    """Parameters, texts, messages, licenses, requires, renderer, parser that the base does not give."""
    base_params = parent.parameters
    params = {k: v for k, v in me.parameters.items() if k not in base_params or not same_value(k, v, base_params[k])}
    texts: tuple[Literal["system"], Literal["template"]] = ("system", "template")
    for key in texts:
        if me.text(key) and me.text(key) != parent.text(key):
            data[key] = me.text(key)
    if params:
        data["parameters"] = _representable(params, warnings)
    if me.messages and me.messages != parent.messages:
        data["messages"] = me.messages
    _licenses(me, parent, data, warnings)
    if me.text("requires") and me.text("requires") != parent.text("requires"):
        data["requires"] = me.text("requires")
    mine, theirs = read_deployed(me.show), read_deployed(parent.show)
    for named in ("renderer", "parser"):
        if getattr(mine, named) and getattr(mine, named) != getattr(theirs, named):
            data[named] = getattr(mine, named)
    if "parameters" in data and not data["parameters"]:
        del data["parameters"]


def _representable(params: Mapping[str, ParamValue], warnings: list[Diagnostic]) -> Params:
    """The stored parameters a profile can hold. Any other (a name modelctl does not know; a value
    ``/api/create`` stored without checking it, such as ``num_ctx "big"``, which a profile could
    not pass ``validate`` with) is left out with a warning naming it: ``plan`` then reports it."""
    out: Params = {}
    for k, v in params.items():
        if k not in BY_NAME:
            warnings.append(
                Diagnostic("unknown_parameter", f"stored parameter {k} is not one modelctl knows: left out")
            )
            continue
        problem = stored_value_problem(k, v)
        if problem is not None:
            warnings.append(
                Diagnostic(
                    "invalid_stored_parameter",
                    f"stored parameter {k} = {v!r} is not a value a profile can hold ({problem}): left out",
                    field=f"parameters.{k}",
                )
            )
            continue
        out[k] = as_sent(v)
    return out


def _licenses(me: _Deployed, parent: _Deployed, data: JSONObject, warnings: list[Diagnostic]) -> None:
    """The licenses the model adds after its base's, one per LICENSE layer (the generated Modelfile has
    a LICENSE line each; ``/api/show``'s ``license`` joins them with line breaks, and is read only when
    that Modelfile cannot be)."""
    mine, theirs = read_deployed(me.show).licenses, read_deployed(parent.show).licenses
    if mine is None or theirs is None:
        lic, base_lic = me.text("license"), parent.text("license")
        mine = [lic] if lic else []
        theirs = [base_lic] if base_lic else []
        if base_lic and lic.startswith(base_lic + "\n"):
            mine = [base_lic, lic[len(base_lic) + 1 :]]
    if mine == theirs:
        return
    if mine[: len(theirs)] != theirs:
        warnings.append(Diagnostic("license", "the model's licenses do not start with its base's: left out"))
        return
    added = mine[len(theirs) :]
    data["license"] = added if len(added) > 1 else added[0]


def _local_layers(
    show: ShowResponse,
    base_show: ShowResponse,
    data: JSONObject,
    files: Sequence[str | os.PathLike[str]],
    output: Path | None,
    warnings: list[Diagnostic],
) -> None:
    """Adapters and draft the model adds to its base: local files with the same digest, or a warning."""
    mine, theirs = read_deployed(show), read_deployed(base_show)
    extra = {
        "adapters": [d for d in mine.adapters if d not in theirs.adapters],
        "draft": [d for d in mine.drafts if d not in theirs.drafts],
    }
    if not any(extra.values()):
        return
    index = _local_index(files)
    out_dir = output.resolve().parent if output is not None else None
    for key, digests in extra.items():
        for digest in digests:
            path = index.get(digest)
            if path is None:
                warnings.append(
                    Diagnostic(
                        "blob_only_on_server",
                        f"{key}: {digest} is only on the server (no file with that digest under --files): "
                        "not in the profile, so `plan` reports it",
                        field=key,
                    )
                )
                continue
            form = str(path.resolve())
            if out_dir is not None:  # relative to the profile's folder, as `render -o` writes paths
                rel = os.path.relpath(path.resolve(), out_dir)
                form = rel if rel.startswith("..") else "./" + rel
            data[key] = [form] if key == "adapters" else form
