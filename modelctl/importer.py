"""Modelfile -> profile YAML (`modelctl import`).

The Modelfile is read with Ollama's grammar and semantics (last ADAPTER wins, stop
accumulates, deprecated parameters dropped with a warning). What a profile cannot hold
(several FROM lines, RENDERER, PARSER, DRAFT) is refused rather than silently lost.
The YAML written renders back to an equivalent Modelfile (tests check the round trip).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelctl.errors import Diagnostic, ModelfileError
from modelctl.files import read_bounded
from modelctl.limits import MODELFILE_BYTES
from modelctl.modelfile import Command, ModelSpec, parse, to_spec
from modelctl.profile import local_path
from modelctl.yamlio import reads_as_string

#: Ollama's text when a FROM folder holds no model (``parser.ErrModelNotFound``).
EMPTY_FROM = "no Modelfile or safetensors files found"


def spec_to_profile_data(
    spec: ModelSpec,
    *,
    modelfile_dir: Path,
    output_dir: Path | None,
    name: str | None = None,
    filename: str | None = None,
) -> dict[str, Any]:
    if len(spec.froms) != 1:
        raise ModelfileError(
            f"a profile has one `from`; this Modelfile has {len(spec.froms)} FROM lines",
            file=filename,
            field="from",
        )
    for key in ("renderer", "parser", "draft"):
        if getattr(spec, key):
            raise ModelfileError(
                f"{key.upper()} is not supported in profiles yet; remove it or keep this Modelfile as is",
                file=filename,
                field=key,
            )

    def rel(value: str) -> str:
        path = local_path(value, modelfile_dir)
        if path is None:
            return value
        if output_dir is None:
            return str(path)
        r = os.path.relpath(path, output_dir)
        return r if r.startswith("..") else "./" + r

    data: dict[str, Any] = {}
    if name:
        data["name"] = name
    data["from"] = rel(spec.froms[0])
    if spec.system:
        data["system"] = spec.system
    if spec.template:
        data["template"] = spec.template
    if spec.parameters:
        data["parameters"] = dict(spec.parameters)
    if spec.messages:
        data["messages"] = [dict(m) for m in spec.messages]
    if spec.adapters:
        data["adapters"] = [rel(spec.adapters[-1])]
    if spec.license:
        data["license"] = list(spec.license) if len(spec.license) > 1 else spec.license[0]
    if spec.requires:
        data["requires"] = spec.requires
    return data


def dump_yaml(data: dict[str, Any], *, header: str | None = None) -> str:
    """YAML that our YAML 1.2 loader reads back to exactly ``data``.

    PyYAML quotes every string its YAML 1.1 resolver could mistake for something else,
    which is a superset of what YAML 1.2 needs; multi-line strings use block style when
    that is lossless, else a double-quoted scalar with escapes.
    """
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def str_rep(dumper: Any, value: str) -> Any:
        if "\n" in value and _block_safe(value):
            return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
        if any(ch in "\r\x85\u2028\u2029\ufeff" or not (ch.isprintable() or ch in "\n\t") for ch in value):
            # YAML folds these line breaks in plain and single-quoted scalars: only escapes keep them
            return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
        if not reads_as_string(value):
            # PyYAML quotes what YAML 1.1 would misread; YAML 1.2 also reads e.g. 0o17 as a number
            return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
        return dumper.represent_scalar("tag:yaml.org,2002:str", value)

    Dumper.add_representer(str, str_rep)
    text = yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False)
    return (header or "") + str(text)


def _block_safe(value: str) -> bool:
    """A literal block (|) keeps the text exactly unless it has CR, leading whitespace,
    trailing spaces on a line or non-printable characters; PyYAML double-quotes those."""
    if "\r" in value or value[:1] in (" ", "\t", "\n"):
        return False
    if any(line.endswith((" ", "\t")) for line in value.split("\n")):
        return False
    return all(ch in "\n\t" or ch.isprintable() for ch in value)


def _refuse_empty_from(commands: list[Command], filename: str) -> None:
    """``FROM`` with nothing after it: Ollama's parser takes it, its create then reads the
    Modelfile's own folder as the model and fails (``parser.ErrModelNotFound``)."""
    for cmd in commands:
        if cmd.name == "model" and not cmd.args.strip():
            raise ModelfileError(
                f"{EMPTY_FROM} (FROM is empty, which `ollama create` reads as the Modelfile's own folder)",
                file=filename,
                line=cmd.line,
                column=cmd.column,
                field="from",
            )


@dataclass
class ImportedProfile:
    """A Modelfile turned into profile YAML."""

    modelfile: Path
    yaml: str
    data: dict[str, Any]
    warnings: list[Diagnostic] = field(default_factory=list)


def import_modelfile(path: Path, *, output: Path | None = None, name: str | None = None) -> ImportedProfile:
    """Read a Modelfile as ``ollama create`` does and write it as a profile.

    Local paths are written relative to ``output``'s folder (absolute without ``output``).
    """
    raw = read_bounded(path, MODELFILE_BYTES, what="Modelfile", error=ModelfileError)
    if b"\x00" in raw and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ModelfileError("binary data (a NUL byte): not a Modelfile", file=str(path))
    commands = parse(raw, filename=str(path))
    _refuse_empty_from(commands, str(path))
    spec = to_spec(commands, filename=str(path))
    data = spec_to_profile_data(
        spec,
        modelfile_dir=path.resolve().parent,
        output_dir=output.resolve().parent if output else None,
        name=name,
        filename=str(path),
    )
    header = f"# Imported by modelctl from {path.name}\n"
    return ImportedProfile(path, dump_yaml(data, header=header), data, list(spec.warnings))
