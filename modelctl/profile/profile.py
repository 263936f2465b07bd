"""Profiles: YAML files (design.md §4) loaded with positions, `extends` resolved,
`--set` overrides applied, and validated by strict pydantic models built from the
parameter catalogue. Every error names ``file:line:column`` and the dotted field.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    create_model,
    field_validator,
)

from modelctl.common.files import confinement_root, not_regular, open_regular, outside
from modelctl.common.jsontypes import JSONObject
from modelctl.common.limits import EXTENDS_DEPTH, EXTENDS_FILES, PROFILE_DIR_FILES, PROFILE_TOTAL_BYTES
from modelctl.errors import Diagnostic, InvalidInput, ProfileError
from modelctl.modelfile.gotemplate import GoTemplateError, check, newer_functions, template_problems
from modelctl.modelfile.grammar import looks_like_modelfile
from modelctl.ollama.wire import as_sent, go_semver_valid
from modelctl.profile import params as P
from modelctl.profile import yamlio

TOP_LEVEL_KEYS = (
    "name",
    "abstract",
    "from",
    "projector",
    "extends",
    "description",
    "system",
    "template",
    "parameters",
    "messages",
    "adapters",
    "license",
    "requires",
    "renderer",
    "parser",
    "draft",
    "quantize",
    "draft_quantize",
)
#: Keys a profile does not pass on to the profiles that extend it.
NOT_INHERITED = ("abstract",)
QUANTIZE_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q4_K_S", "Q4_K_M", "Q4_K")
LOCAL_SUFFIXES = (".gguf", ".safetensors", ".bin", ".pth")
SET_SOURCE = "--set"

# Ollama's model-name rule (types/model/name.go): parts start with a letter, digit or `_`, then
# letters, digits, `_`, `-` or `.`; namespaces have no `.`; model and tag at most 80 characters.
_NAME_PART = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}"
_MODEL_NAME = re.compile(
    rf"^(?:(?:[A-Za-z0-9_.-]+(?::[0-9]+)?/)?(?:[A-Za-z0-9_][A-Za-z0-9_-]*/))?{_NAME_PART}(?::{_NAME_PART})?$"
)


def is_model_name(text: str) -> bool:
    """Whether ``text`` is a name Ollama accepts for a model (``types/model/name.go``)."""
    return _MODEL_NAME.match(text) is not None


def _range_checker(param: P.Param) -> Any:
    def check(value: Any) -> Any:
        problem = P.check_value(param, value)
        if problem:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


def _as_float(value: float) -> float:
    # A function, not the builtin ``float``: pydantic reads a validator's signature, and the
    # builtin's costs a tokenizer run (milliseconds) at every start.
    return float(value)


def _no_items() -> list[Any]:
    # The list fields' default: a function, not ``list``, for the same reason as _as_float.
    return []


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _stop_items(value: list[str]) -> list[str]:
    for i, s in enumerate(value):
        if s == "":
            raise ValueError(f"stop[{i}] is empty; Ollama cannot stop on an empty string")
    return value


def _param_annotation(param: P.Param) -> Any:
    if param.type == "int":
        return Annotated[StrictInt, _range_checker(param)]
    if param.type == "float":
        # int is accepted for a float (1 means 1.0); bools are not.
        return Annotated[StrictFloat | StrictInt, AfterValidator(_as_float), _range_checker(param)]
    if param.type == "bool":
        return StrictBool
    return Annotated[list[StrictStr], BeforeValidator(_as_list), AfterValidator(_stop_items)]


class _ParametersBase(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def as_dict(self) -> P.Params:
        """The parameters that are set, in catalogue order, typed (a fresh dict each call)."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self._set_values.items()}

    @cached_property
    def _set_values(self) -> P.Params:
        # The model is frozen, so this is computed once.
        return {p.name: getattr(self, p.name) for p in P.CATALOGUE if getattr(self, p.name) is not None}


Parameters: type[_ParametersBase] = create_model(  # type: ignore[call-overload]
    "Parameters",
    __base__=_ParametersBase,
    **{p.name: (_param_annotation(p) | None, Field(default=None, description=p.meaning)) for p in P.CATALOGUE},
)


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    role: Literal["system", "user", "assistant"]
    content: StrictStr


class Profile(BaseModel):
    """A validated profile. ``from_`` is the `from` value as written; paths resolve against ``base_dir``.

    An ``abstract`` profile exists only to be extended: it may omit `from`, and build, plan and
    compare skip it.
    """

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    name: StrictStr
    abstract: StrictBool = False
    from_value: StrictStr | None = Field(default=None, alias="from")
    projector: Annotated[list[StrictStr], BeforeValidator(_as_list)] = Field(default_factory=_no_items)
    description: StrictStr | None = None
    system: StrictStr | None = None
    template: StrictStr | None = None
    parameters: Parameters = Field(default_factory=Parameters)
    messages: list[Message] = Field(default_factory=_no_items)
    adapters: Annotated[list[StrictStr], BeforeValidator(_as_list)] = Field(default_factory=_no_items)
    license: Annotated[list[StrictStr], BeforeValidator(_as_list)] = Field(default_factory=_no_items)
    requires: StrictStr | None = None
    renderer: StrictStr | None = None
    parser: StrictStr | None = None
    draft: StrictStr | None = None
    quantize: StrictStr | None = None
    draft_quantize: StrictStr | None = None
    base_dir: Path = Field(default=Path("."), exclude=True, repr=False)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not is_model_name(v):
            raise ValueError(
                f"'{v}' is not a valid Ollama model name (letters, digits, '_', '-', '.', an optional "
                "namespace/ and :tag, at most 80 characters a part)"
            )
        return v

    @field_validator("from_value", "renderer", "parser", "draft")
    @classmethod
    def _not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be empty")
        return v

    @field_validator("projector")
    @classmethod
    def _projector_paths(cls, v: list[str]) -> list[str]:
        for i, p in enumerate(v):
            if not p.strip():
                raise ValueError(f"projector[{i}] is empty")
        return v

    @field_validator("adapters")
    @classmethod
    def _one_adapter(cls, v: list[str]) -> list[str]:
        if len(v) > 1:
            raise ValueError(f"Ollama applies only one adapter (the last ADAPTER line); got {len(v)}")
        return v

    @field_validator("requires")
    @classmethod
    def _requires(cls, v: str | None) -> str | None:
        # Ollama's own rule (parser.go: a `v` is added, then semver.IsValid), so a value that
        # passes here also passes when the rendered Modelfile is read back.
        if v is not None and not go_semver_valid(v if v.startswith("v") else "v" + v):
            raise ValueError("requires must be a valid semver (e.g. 0.14.0)")
        return v

    @field_validator("quantize", "draft_quantize")
    @classmethod
    def _quantize(cls, v: str | None) -> str | None:
        if v is not None and v.upper() not in QUANTIZE_TYPES:
            raise ValueError(f"unsupported quantization type {v}; Ollama accepts {', '.join(QUANTIZE_TYPES)}")
        return v

    @property
    def from_(self) -> str:
        """The `from` value as written; an abstract profile without one is refused here."""
        if self.from_value is None:
            raise ProfileError(
                f"profile {self.name} is abstract and has no `from`: it only exists to be extended", field="from"
            )
        return self.from_value

    # -- paths (computed once: each costs file-system calls) --------------------------------------
    @cached_property
    def _base_path(self) -> Path | None:
        return local_path(self.from_value, self.base_dir) if self.from_value is not None else None

    @cached_property
    def _adapter_paths(self) -> tuple[Path, ...]:
        return tuple(resolve_path(a, self.base_dir) for a in self.adapters)

    def base_path(self) -> Path | None:
        """Absolute path when `from` names a local file or directory, else None (a model name)."""
        return self._base_path

    def adapter_paths(self) -> list[Path]:
        return list(self._adapter_paths)

    def projector_paths(self) -> list[Path]:
        """The extra FROM files (a vision model's projector), absolute, in order."""
        return [resolve_path(p, self.base_dir) for p in self.projector]

    def draft_path(self) -> Path | None:
        """The DRAFT model (a local file or directory), absolute; None without one."""
        return resolve_path(self.draft, self.base_dir) if self.draft is not None else None


def resolve_path(value: str, base_dir: Path) -> Path:
    """Resolve like Ollama's expandPath: absolute as is, `~` expanded, else joined to base_dir
    (lexically, like Go's filepath.Join: symbolic links are left alone)."""
    if value.startswith("~"):
        return Path(os.path.normpath(os.path.expanduser(value)))
    if os.path.isabs(value) or value.startswith(("/", "\\")):
        return Path(os.path.normpath(value))
    return Path(os.path.normpath(os.path.join(os.path.abspath(base_dir), value)))


def looks_like_path(value: str) -> bool:
    return (
        value.startswith(("./", "../", "/", "~", "\\", ".\\", "..\\"))
        or value in (".", "..")
        or value.lower().endswith(LOCAL_SUFFIXES)
    )


def local_path(value: str, base_dir: Path) -> Path | None:
    """Ollama treats FROM as a path when the file exists; modelctl also when it looks like one."""
    candidate = resolve_path(value, base_dir)
    if looks_like_path(value) or candidate.exists():
        return candidate
    return None


@dataclass(kw_only=True)
class ProfileSources:
    """The files a profile was read from and where each field came from."""

    path: Path
    origins: dict[str, str]  # dotted field -> the file (as displayed) or --set that set it
    documents: dict[str, yamlio.Document] = field(default_factory=dict, repr=False)

    def where(self, dotted_field: str, *, key: bool = False) -> tuple[str, int | None, int | None]:
        """Where a field was written: (file, line, column); the key's position with ``key``."""
        top = dotted_field.split(".")[0].split("[")[0]
        source = self.origins.get(dotted_field) or self.origins.get(top)
        if source == SET_SOURCE:
            return (SET_SOURCE, None, None)
        if source is None or source not in self.documents:
            return (_display(self.path), None, None)
        line, col = self.documents[source].position(_parse_dotted(dotted_field), prefer_key=key)
        return (source, line, col)


@dataclass(kw_only=True)
class LoadedProfile(ProfileSources):
    """A validated profile with its sources and the warnings its values deserve."""

    profile: Profile
    warnings: list[Diagnostic] = field(default_factory=list)
    unchecked: list[Diagnostic] = field(default_factory=list)  # local files not read (--no-local-files)


def _parse_dotted(dotted: str) -> tuple[str | int, ...]:
    out: list[str | int] = []
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", dotted):
        out.append(int(part[1:-1]) if part.startswith("[") else part)
    return tuple(out)


# -- finding profiles ----------------------------------------------------------------------------
PROFILE_SUFFIXES = (".yaml", ".yml")


def search_dirs() -> list[Path]:
    dirs = [Path(d) for d in os.environ.get("MODELCTL_PROFILES", "").split(os.pathsep) if d]
    dirs.append(Path("profiles"))
    return dirs


def _abs(p: Path) -> Path:
    return Path(os.path.normpath(os.path.abspath(p)))


def profile_files(dirs: Sequence[Path] | None = None) -> list[Path]:
    """The ``*.yaml``/``*.yml`` files of the profile folders (``search_dirs()`` by default), sorted
    within each folder, each file once; at most PROFILE_DIR_FILES entries read per folder."""
    cap = PROFILE_DIR_FILES.value()
    out: list[Path] = []
    seen: set[Path] = set()
    for d in dirs if dirs is not None else search_dirs():
        found: list[Path] = []
        try:
            with os.scandir(d) as entries:
                for n, entry in enumerate(entries, 1):
                    if n > cap:
                        why = f"more than {cap:,} entries in a profiles folder ({PROFILE_DIR_FILES.env})"
                        raise InvalidInput(f"{d}: {why}", file=str(d))
                    if entry.name.lower().endswith(PROFILE_SUFFIXES) and entry.is_file():
                        found.append(Path(d) / entry.name)
        except OSError:
            continue
        for f in sorted(found):
            if _abs(f) not in seen:
                seen.add(_abs(f))
                out.append(f)
    return out


def profile_names() -> list[str]:
    """The profile names ``resolve_ref`` finds (file stems in ./profiles and $MODELCTL_PROFILES)."""
    names: list[str] = []
    try:
        files = profile_files()
    except InvalidInput:
        return names
    for f in files:
        stem = f.name.rsplit(".", 1)[0]
        if stem not in names:
            names.append(stem)
    return names


def resolve_ref(ref: str) -> Path:
    """A profile by path, or by name: ``creative`` -> $MODELCTL_PROFILES/creative.yaml or ./profiles/.

    A file name that is not in the current folder (``creative.yaml``) is looked up there too;
    what is not found gets a did-you-mean and the folders that were searched.
    """
    p = Path(ref).expanduser()
    if p.is_file():
        return _abs(p)
    bare = "/" not in ref and os.sep not in ref and not ref.startswith("~")
    with_suffix = ref.lower().endswith(PROFILE_SUFFIXES)
    if p.exists() and not (bare and not with_suffix):  # a directory: loading says "is a directory"
        return _abs(p)
    if bare:
        names = [ref] if with_suffix else [f"{ref}{ext}" for ext in PROFILE_SUFFIXES]
        for d in search_dirs():
            for n in names:
                if (d / n).is_file():
                    return _abs(d / n)
    raise ProfileError(_not_found(ref, bare, with_suffix), file=ref, code="profile_not_found")


def _looked_in(with_cwd: bool) -> str:
    """The folders searched, in the order searched: ``the current folder and ./profiles;
    $MODELCTL_PROFILES is not set``."""
    env = os.environ.get("MODELCTL_PROFILES", "")
    places = ["the current folder"] if with_cwd else []
    if any(env.split(os.pathsep)):
        places.append(f"$MODELCTL_PROFILES={env}")
    places.append("./profiles")
    text = places[0] if len(places) == 1 else ", ".join(places[:-1]) + " and " + places[-1]
    return text if any(env.split(os.pathsep)) else text + "; $MODELCTL_PROFILES is not set"


def _not_found(ref: str, bare: bool, with_suffix: bool) -> str:
    """'no profile named ...' with where it looked, and the closest profile when there is one."""
    if bare:
        try:
            files = profile_files([Path("."), *search_dirs()] if with_suffix else None)
        except InvalidInput:
            files = []
        pool = [f.name for f in files] if with_suffix else [f.name.rsplit(".", 1)[0] for f in files]
        head = f"profile file not found: {ref}" if with_suffix else f"no profile named '{ref}'"
        msg = f"{head} (looked in {_looked_in(with_suffix)})"
        here = [f"./{ref}{ext}" for ext in PROFILE_SUFFIXES if not with_suffix and Path(f"{ref}{ext}").is_file()]
        if here:  # a name is looked up in the profile folders only (design.md §4); the file beside is a path
            return f"{msg}; did you mean '{here[0]}'?"
    else:
        parent = os.path.dirname(ref)
        try:
            files = profile_files([Path(parent).expanduser()])
        except InvalidInput:
            files = []
        pool = [os.path.join(parent, f.name) for f in files]
        msg = "profile file not found"
    hint = P.suggest(ref, pool)
    return msg + (f"; did you mean '{hint}'?" if hint else "")


def is_profile_ref(ref: str) -> bool:
    """Whether ``ref`` names a profile rather than a model on a server or a GGUF file.

    A ``.yaml``/``.yml`` path, an existing file that is not a GGUF, or a bare name found among
    the profiles (``./profiles``, ``$MODELCTL_PROFILES``). ``namespace/model`` and ``model:tag``
    are model names.
    """
    low = ref.lower()
    if low.endswith((".yaml", ".yml")):
        return True
    path = Path(ref).expanduser()
    if path.is_file():
        return not low.endswith(".gguf") and not _has_gguf_magic(path)
    if "/" in ref or ":" in ref or os.sep in ref:
        return False
    try:
        resolve_ref(ref)
    except ProfileError:
        return False
    return True


def _has_gguf_magic(path: Path) -> bool:
    try:
        fh, _size = open_regular(path, what="file")
        with fh:
            return fh.read(4) == b"GGUF"
    except (InvalidInput, OSError):
        return False


# -- loading -------------------------------------------------------------------------------------
def _display(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return rel if not rel.startswith("..") else str(path)


@dataclass
class _Resolved:
    """One file with everything it extends, merged; ``height``: files in its longest chain below it."""

    merged: dict[str, Any]
    origins: dict[str, str]
    height: int


class _Loader:
    """Reads a profile and everything it extends, each file once however many files extend it
    (a wide fan-out costs one read and one merge per file), within the caps of limits.py, and
    inside the confinement root when there is one (--confine)."""

    def __init__(self, top: Path, texts: dict[Path, str] | None = None) -> None:
        self.texts = texts or {}  # files whose text is in memory (not written yet)
        self.docs: dict[str, yamlio.Document] = {}
        self.done: dict[Path, _Resolved] = {}
        self.total = 0
        self.max_depth = EXTENDS_DEPTH.value()
        self.max_files = EXTENDS_FILES.value()
        self.max_total = PROFILE_TOTAL_BYTES.value()
        self.confine = confinement_root(top.parent)

    def read(self, path: Path, name: str) -> dict[str, Any]:
        text = self.texts[path] if path in self.texts else yamlio.read_text(path)
        self.total += len(text) if text.isascii() else len(text.encode("utf-8"))
        if self.total > self.max_total:
            raise ProfileError(
                f"the profile and the files it extends pass {self.max_total:,} bytes together "
                f"({PROFILE_TOTAL_BYTES.env})",
                file=name,
            )
        try:
            doc = yamlio.load(text, name)
        except ProfileError:
            _refuse_modelfile(text, name)
            raise
        self.docs[name] = doc
        data = doc.data
        if data is None:
            raise ProfileError("empty profile: expected a mapping with at least `from`", file=name, line=1, column=1)
        if not isinstance(data, dict):
            _refuse_modelfile(text, name)
            kind = "a list" if isinstance(data, list) else "a single value"
            raise ProfileError(f"a profile must be a mapping of keys, not {kind}", file=name, line=1, column=1)
        return data

    def resolve(self, path: Path, chain: tuple[Path, ...]) -> _Resolved:
        """Load one file and everything it extends; the merged mapping (later wins)."""
        name = _display(path)
        data = self.read(path, name)
        doc = self.docs[name]
        merged: dict[str, Any] = {}
        origins: dict[str, str] = {}
        height = 0
        for ref, where in _extends_entries(data.get("extends"), doc, name):
            parent = self.parent(resolve_path(ref, path.parent), ref, (*chain, path), where)
            # `abstract` and the like describe the file itself: never passed on through extends
            _merge(merged, {k: v for k, v in parent.merged.items() if k not in NOT_INHERITED}, origins, None)
            for key, source in parent.origins.items():
                if key in NOT_INHERITED:
                    continue
                if key == "parameters":
                    origins.setdefault(key, source)
                else:
                    origins[key] = source
            height = max(height, parent.height + 1)
        own = {k: v for k, v in data.items() if k != "extends"}
        _merge(merged, own, origins, name)
        resolved = _Resolved(merged, origins, height)
        self.done[path] = resolved
        return resolved

    def parent(self, target: Path, ref: str, chain: tuple[Path, ...], where: _Where) -> _Resolved:
        """The resolved file ``target`` extended from the last file of ``chain``."""
        if target in chain:
            cycle = " -> ".join(_display(p) for p in (*chain, target))
            raise ProfileError(f"extends cycle: {cycle}", **where)
        done = self.done.get(target)
        if len(chain) + 1 + (done.height if done else 0) > self.max_depth:
            raise ProfileError(f"extends nests deeper than {self.max_depth} files ({EXTENDS_DEPTH.env})", **where)
        if done is not None:
            return done
        if self.confine is not None and (why := outside(target, self.confine)) is not None:
            raise ProfileError(why, code="confined", **where)
        if not target.exists():
            raise ProfileError(_extends_not_found(ref, target), **where)
        if len(self.docs) >= self.max_files:
            raise ProfileError(
                f"extends reaches more than {self.max_files} files ({EXTENDS_FILES.env})",
                **where,
            )
        return self.resolve(target, chain)


def _extends_not_found(ref: str, target: Path) -> str:
    """``extended profile not found: bse.yaml (looked for profiles/bse.yaml; did you mean 'base.yaml'?)``:
    extends paths are relative to the extending file, so the hint is among that folder's profiles."""
    folder = target.parent
    try:
        files = profile_files([folder]) if folder.is_dir() else []
    except InvalidInput:
        files = []
    prefix = os.path.dirname(ref)
    hint = P.suggest(ref, [os.path.join(prefix, f.name) for f in files])
    msg = f"extended profile not found: {ref} (looked for {_display(target)}, relative to the extending file)"
    return msg + (f"; did you mean '{hint}'?" if hint else "")


def _refuse_modelfile(text: str, name: str) -> None:
    """A Modelfile given where a profile goes: say what it is and how to make a profile of it."""
    if looks_like_modelfile(text):
        stem = Path(name).stem
        target = "profile" if stem.lower() == "modelfile" else stem
        raise ProfileError(
            f"this is a Modelfile, not a profile: `modelctl import {name} -o {target}.yaml` turns it into one",
            file=name,
            line=1,
            column=1,
            code="modelfile_not_profile",
        )


class _Where(TypedDict):
    """Where an `extends` reference is written: keyword arguments for ProfileError."""

    file: str
    line: int | None
    column: int | None
    field: str


def _extends_entries(ext: Any, doc: yamlio.Document, name: str) -> list[tuple[str, _Where]]:
    """The `extends` references with where each is written."""
    if ext is None:
        return []
    out: list[tuple[str, _Where]] = []
    for i, ref in enumerate(ext if isinstance(ext, list) else [ext]):
        line, col = doc.position(("extends", i) if isinstance(ext, list) else ("extends",))
        where: _Where = {"file": name, "line": line, "column": col, "field": "extends"}
        if not isinstance(ref, str) or not ref:
            raise ProfileError("extends must be a path or a list of paths", **where)
        out.append((ref, where))
    return out


def _merge(into: dict[str, Any], src: dict[str, Any], origins: dict[str, str], source: str | None) -> None:
    """`parameters` merge key by key; every other key (lists included) is replaced whole."""
    for key, value in src.items():
        if key == "parameters" and isinstance(value, dict) and isinstance(into.get(key), dict):
            into[key] = {**into[key], **value}
        else:
            into[key] = value
        if source is not None:
            if key == "parameters" and isinstance(value, dict):
                for pk in value:
                    origins[f"parameters.{pk}"] = source
                origins.setdefault("parameters", source)
            else:
                origins[key] = source


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """``key=value`` -> (path, value). ``temperature=0.2`` is short for ``parameters.temperature``."""
    if "=" not in text:
        raise ProfileError(f"expected KEY=VALUE, got '{text}'", file=SET_SOURCE)
    key, raw = text.split("=", 1)
    key = key.strip()
    parts = tuple(key.split("."))
    if len(parts) == 1 and (parts[0] in P.BY_NAME or parts[0] in P.REMOVED_BY_NAME):
        parts = ("parameters", parts[0])
    if not all(parts):
        raise ProfileError(f"bad key '{key}'", file=SET_SOURCE)
    if parts[0] not in TOP_LEVEL_KEYS or parts[0] == "extends":
        hint = P.suggest(parts[0], [*TOP_LEVEL_KEYS, *P.BY_NAME])
        extra = f" (did you mean '{hint}'?)" if hint else ""
        raise ProfileError(f"unknown key '{key}'{extra}", file=SET_SOURCE, field=key)
    if len(parts) > 2 or (len(parts) == 2 and parts[0] != "parameters"):
        raise ProfileError(f"cannot set '{key}': only top-level keys and parameters.NAME", file=SET_SOURCE)
    try:
        doc = yamlio.load(raw, SET_SOURCE) if raw.strip() else None
    except ProfileError:
        value: Any = raw
    else:
        value = doc.data if doc is not None else ""
        if isinstance(value, dict):
            value = raw
    return parts, value


def _apply_overrides(merged: dict[str, Any], overrides: Sequence[str], origins: dict[str, str]) -> None:
    for text in overrides:
        parts, value = parse_override(text)
        if len(parts) == 2:
            params = merged.setdefault("parameters", {})
            if not isinstance(params, dict):
                params = merged["parameters"] = {}
            params[parts[1]] = value
            origins[f"parameters.{parts[1]}"] = SET_SOURCE
        else:
            merged[parts[0]] = value
            origins[parts[0]] = SET_SOURCE


def load_profile(
    ref: str, overrides: Sequence[str] = (), *, text: str | None = None, local_files: bool = True
) -> LoadedProfile:
    """Load, resolve and check the profile ``ref`` (a path or a name, see :func:`resolve_ref`).

    With ``text``, the profile is that text as if it were the file at the path ``ref`` (paths
    and ``extends`` relative to its folder): a profile is checked before it is written.
    ``local_files=False`` (``--no-local-files``, for repositories that do not commit weights)
    checks everything but the presence and kind of the local files it names, and lists them in
    ``unchecked``.
    """
    path = resolve_ref(ref) if text is None else _abs(Path(ref))
    loader = _Loader(path, {path: text} if text is not None else None)
    top = loader.resolve(path, ())
    docs = loader.docs
    origins = dict(top.origins)
    merged = dict(top.merged)
    if isinstance(merged.get("parameters"), dict):
        merged["parameters"] = dict(merged["parameters"])  # --set below must not touch the shared mapping
    _apply_overrides(merged, overrides, origins)
    own_name = _display(path)
    merged.setdefault("name", _default_name(path))
    origins.setdefault("name", own_name)
    sources = ProfileSources(path=path, origins=origins, documents=docs)
    _precheck(merged, sources)
    try:
        profile = Profile.model_validate({**merged, "base_dir": path.parent})
    except ValidationError as exc:
        raise _validation_error(exc, sources) from None
    loaded = LoadedProfile(path=path, profile=profile, origins=origins, documents=docs)
    _post_checks(loaded, local_files)
    loaded.warnings = collect_warnings(loaded)
    return loaded


def split_abstract(loaded: Sequence[LoadedProfile]) -> tuple[list[LoadedProfile], list[Diagnostic]]:
    """(the profiles that make models, a note for each abstract one): build, plan and compare
    skip profiles that exist only to be extended."""
    keep: list[LoadedProfile] = []
    notes: list[Diagnostic] = []
    for lp in loaded:
        if lp.profile.abstract:
            f, line, col = lp.where("abstract")
            notes.append(
                Diagnostic(
                    "abstract_skipped",
                    f"{_display(lp.path)} is abstract (only extended by other profiles): skipped",
                    f,
                    line,
                    col,
                    "abstract",
                )
            )
        else:
            keep.append(lp)
    return keep, notes


def _validation_error(exc: ValidationError, sources: ProfileSources) -> ProfileError:
    """pydantic's errors as one ProfileError listing each problem once, in file order."""
    diags = []
    seen: set[tuple[str | None, int | None, int | None, str | None]] = set()
    for err in exc.errors(include_url=False):
        d = _diagnostic_for(err, sources)
        key = (d.file, d.line, d.column, d.field)
        if key not in seen:  # a float field is int | float: one problem, not one per member
            seen.add(key)
            diags.append(d)
    diags.sort(key=lambda d: (d.file or "", d.line or 0, d.column or 0))
    head = diags[0]
    return ProfileError(
        head.message, file=head.file, line=head.line, column=head.column, field=head.field, diagnostics=diags
    )


def _default_name(path: Path) -> str:
    stem = path.stem
    return stem


def _precheck(merged: dict[str, Any], loaded: ProfileSources) -> None:
    """Unknown and removed keys, with did-you-mean, before pydantic sees the data."""
    problems: list[Diagnostic] = []
    for key in merged:
        if key not in TOP_LEVEL_KEYS:
            f, line, col = loaded.where(str(key), key=True)
            problems.append(Diagnostic("unknown_key", unknown_key_message(str(key)), f, line, col, str(key)))
    params = merged.get("parameters")
    if isinstance(params, dict):
        for pk in params:
            dotted_field = f"parameters.{pk}"
            f, line, col = loaded.where(dotted_field, key=True)
            if pk in P.REMOVED_BY_NAME:
                problems.append(Diagnostic("removed_parameter", P.removed_message(pk), f, line, col, dotted_field))
            elif pk not in P.BY_NAME:
                hint = P.suggest(str(pk))
                msg = f"unknown parameter '{pk}'" + (f" (did you mean '{hint}'?)" if hint else "")
                problems.append(Diagnostic("unknown_parameter", msg, f, line, col, dotted_field))
    meant_from = any(p.code == "unknown_key" and "'from'" in p.message for p in problems)  # `model:`, `FROM:`
    if "from" not in merged and merged.get("abstract") is not True and not meant_from:
        f = _display(loaded.path)
        problems.append(
            Diagnostic("missing", "`from` is required (a model name or a path to a .gguf file)", f, 1, 1, "from")
        )
    if problems:
        h = problems[0]
        raise ProfileError(
            h.message, file=h.file, line=h.line, column=h.column, field=h.field, code=h.code, diagnostics=problems
        )


#: What people write for a top-level key (Modelfile habits, other tools' presets) -> the profile's key.
KEY_ALIASES = {
    "model": "from",
    "base": "from",
    "base_model": "from",
    "parent": "from",
    "params": "parameters",
    "parameter": "parameters",
    "options": "parameters",
    "system_prompt": "system",
    "adapter": "adapters",
    "message": "messages",
    "quantization": "quantize",
    "inherits": "extends",
}


def unknown_key_message(key: str) -> str:
    """Why a top-level key is unknown, and what was meant: ``model``/``FROM`` -> ``from``; a
    parameter written at the top level belongs under ``parameters:``."""
    folded = key.casefold()
    if key in P.BY_NAME or key in P.REMOVED_BY_NAME or (folded in P.BY_NAME and folded not in TOP_LEVEL_KEYS):
        name = key if key in P.BY_NAME or key in P.REMOVED_BY_NAME else folded
        removed = f" ({P.removed_message(name)})" if name in P.REMOVED_BY_NAME else ""
        return f"unknown key '{key}': '{name}' is a parameter and belongs under `parameters:`{removed}"
    hint = KEY_ALIASES.get(folded) or P.suggest(key, TOP_LEVEL_KEYS)
    return f"unknown key '{key}'" + (f" (did you mean '{hint}'?)" if hint else "")


_TYPE_WORDS = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value!r}"
    if isinstance(value, str):
        return f"string {value!r}" if len(value) < 40 else "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "null"
    return type(value).__name__


def _diagnostic_for(err: Any, loaded: ProfileSources) -> Diagnostic:
    loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "lax-", "strict-")))]
    # pydantic adds union-member names to the loc (e.g. 'int', 'float', 'list[str]'); keep real keys.
    cleaned: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and (
            part in ("int", "float", "str", "bool") or "[" in part or part in ("constrained-int", "constrained-float")
        ):
            continue
        cleaned.append("from" if part in ("from_", "from_value") else part)
    dotted_field = yamlio.dotted(tuple(cleaned))
    etype = err["type"]
    if etype == "list_type" and cleaned[-1:] == ["stop"]:
        msg = f"expected a string or a list of strings, got {_describe(err.get('input'))}"
    elif etype in _TYPE_WORDS:
        msg = f"expected {_TYPE_WORDS[etype]}, got {_describe(err.get('input'))}"
        if etype == "int_from_float":
            msg = f"expected an integer, got {err.get('input')!r} (Ollama rejects fractions for integers)"
        if cleaned and cleaned[0] == "requires" and etype == "string_type":
            msg += ' (quote the version, e.g. "0.14.0")'
    elif etype == "value_error":
        msg = str(err.get("ctx", {}).get("error", err["msg"]))
    elif etype == "literal_error":
        msg = f"{err['msg'].replace('Input should be', 'must be')}; got {_describe(err.get('input'))}"
    elif etype == "missing":
        msg = "required key is missing"
    elif etype == "extra_forbidden":
        msg = f"unknown key '{cleaned[-1] if cleaned else ''}'"
    else:
        msg = err["msg"]
    f, line, col = loaded.where(dotted_field, key=etype in ("extra_forbidden", "missing"))
    return Diagnostic(etype, msg, f, line, col, dotted_field or None)


def _fail(loaded: ProfileSources, dotted_field: str, message: str) -> ProfileError:
    f, line, col = loaded.where(dotted_field)
    return ProfileError(message, file=f, line=line, column=col, field=dotted_field)


def _post_checks(loaded: LoadedProfile, local_files: bool = True) -> None:
    prof = loaded.profile
    _check_confined(loaded)  # first: nothing is said about files outside the repository
    _check_projectors(loaded)
    _check_draft(loaded)
    _check_template(loaded)
    if not local_files:
        for dotted_field, path in _local_paths(prof):
            f, line, col = loaded.where(dotted_field)
            note = f"{_display(path)} not read (--no-local-files): its presence and digest are not checked"
            loaded.unchecked.append(Diagnostic("local_file_unchecked", note, f, line, col, dotted_field))
        return
    base = prof.base_path()
    if base is not None and not base.exists():
        raise _fail(loaded, "from", f"local model not found: {base}")
    for i, adapter in enumerate(prof.adapter_paths()):
        if not adapter.exists():
            raise _fail(loaded, f"adapters[{i}]", f"adapter not found: {adapter}")
    for i, p in enumerate(prof.projector_paths()):
        if not p.exists():
            raise _fail(loaded, f"projector[{i}]", f"projector not found: {p}")
    draft = prof.draft_path()
    if draft is not None and not draft.exists():
        raise _fail(loaded, "draft", f"draft model not found: {draft}")
    for dotted_field, path in _local_paths(prof):
        if (why := not_regular(path, what="model file")) is not None:  # a FIFO would hang the build
            raise _fail(loaded, dotted_field, f"{path}: {why}")


def _check_projectors(loaded: LoadedProfile) -> None:
    """Extra FROM files go with local weights: with a model name the server ignores files."""
    prof = loaded.profile
    if prof.projector and prof.from_value is not None and prof.base_path() is None:
        raise _fail(
            loaded,
            "projector",
            f"a projector needs `from` to be a local file too: with the model name {prof.from_value} "
            "the server ignores files (build the vision model from its weights and projector files)",
        )


def _check_template(loaded: LoadedProfile) -> None:
    """TEMPLATE parses as Ollama's create parses it (Go's text/template with Ollama's functions)."""
    template = loaded.profile.template
    if not template or "{{" not in template:
        return  # no action: plain text, which Go always accepts
    try:
        check(template)
    except GoTemplateError as exc:
        f, line, col = _template_position(loaded, template, exc.line, exc.column)
        raise ProfileError(
            f"Ollama would refuse this TEMPLATE (Go's text/template): {exc.message}",
            file=f,
            line=line,
            column=col,
            field="template",
            code="go_template",
        ) from None


def _template_position(
    loaded: ProfileSources, template: str, t_line: int, t_col: int
) -> tuple[str, int | None, int | None]:
    """The file position of the template's line and column: the value's own position moved by the
    offset, when the file holds the value where the YAML position says (a literal block ``|`` or a
    one-line value); else the value's position."""
    f, line, col = loaded.where("template")
    if line is None or col is None:
        return f, line, col
    try:
        lines = Path(f).read_text(encoding="utf-8").split("\n")
        head = lines[line - 1][col - 1 :]
    except (OSError, UnicodeError, IndexError):
        return f, line, col
    want = template.split("\n")[t_line - 1]
    if head[:1] == "|" and line + t_line <= len(lines):
        text = lines[line + t_line - 1]
        indent = len(text) - len(text.lstrip(" "))
        if text[indent:].rstrip("\r") == want:
            return f, line + t_line, indent + t_col
    elif t_line == 1 and "\n" not in template:
        skip = 1 if head[:1] in ("'", '"') else 0
        if head[skip : skip + len(want)] == want:
            return f, line, col + skip + t_col - 1
    return f, line, col


def _check_draft(loaded: LoadedProfile) -> None:
    """DRAFT: a local file or directory, never one of the FROM paths (Ollama's own rule)."""
    prof = loaded.profile
    draft = prof.draft_path()
    if draft is None:
        if prof.draft_quantize is not None:
            raise _fail(loaded, "draft_quantize", "draft_quantize needs a `draft` model")
        return
    froms = [p for p in [prof.base_path(), *prof.projector_paths()] if p is not None]
    if any(same_local_path(draft, p) for p in froms):
        raise _fail(loaded, "draft", f"DRAFT must not reference the same local path as FROM: {draft}")


def same_local_path(a: Path, b: Path) -> bool:
    """Ollama's sameLocalPath: equal after making absolute and resolving symbolic links."""
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except OSError:
        return False


def _local_paths(prof: Profile) -> list[tuple[str, Path]]:
    """Every local file or folder a profile names, with its dotted field."""
    base = prof.base_path()
    local = [("from", base)] if base is not None else []
    local += [(f"adapters[{i}]", a) for i, a in enumerate(prof.adapter_paths())]
    local += [(f"projector[{i}]", p) for i, p in enumerate(prof.projector_paths())]
    draft = prof.draft_path()
    return local + ([("draft", draft)] if draft is not None else [])


def _check_confined(loaded: LoadedProfile) -> None:
    """With --confine, every local file the profile names stays inside the repository."""
    root = confinement_root(loaded.path.parent)
    if root is None:
        return
    for dotted_field, path in _local_paths(loaded.profile):
        if (why := outside(path, root)) is not None:
            f, line, col = loaded.where(dotted_field)
            raise ProfileError(why, file=f, line=line, column=col, field=dotted_field, code="confined")


def collect_warnings(loaded: LoadedProfile) -> list[Diagnostic]:
    """Legal but risky values: warnings, never errors."""
    prof = loaded.profile
    out: list[Diagnostic] = []

    def warn(code: str, dotted_field: str, message: str) -> None:
        f, line, col = loaded.where(dotted_field)
        out.append(Diagnostic(code, message, f, line, col, dotted_field))

    _parameter_warnings(prof, warn)
    _template_warnings(prof, warn)
    for key in ("system", "template"):
        if getattr(prof, key) == "":
            warn(
                "empty_inherits",
                key,
                f"an empty {key} cannot clear the one inherited from the base model; Ollama keeps the base's",
            )
    if prof.quantize and prof.base_path() is None:
        warn(
            "quantize_from_name",
            "quantize",
            "quantize only works on F16/BF16/F32 weights; a library model is usually already quantized",
        )
    # num_ctx above a local GGUF's trained context: modelctl.memory.facts.trained_context_warnings, added
    # where the jobs load profiles (modelctl.jobs.profiles): reading a GGUF header is not the profile's job.
    return out


def _template_warnings(prof: Profile, warn: Callable[[str, str, str], None]) -> None:
    if not prof.template or "{{" not in prof.template:
        return
    for use, problem in template_problems(prof.template):
        warn("template_variable", "template", f"TEMPLATE line {use.line}: {problem}")
    for name, since in newer_functions(prof.template, prof.requires):
        warn(
            "template_function_version",
            "template",
            f"TEMPLATE calls {name}, which Ollama defines from {since} on: an older server refuses the template "
            f'(function "{name}" not defined); say so with requires: "{since}"',
        )


def _parameter_warnings(prof: Profile, warn: Callable[[str, str, str], None]) -> None:
    values = prof.parameters.as_dict()
    for name, value in values.items():
        r = P.risk(P.BY_NAME[name], value)
        if r:
            warn("risky_value", f"parameters.{name}", r)
        stored = as_sent(value)
        if isinstance(value, float) and stored != value:
            warn(
                "float32_precision",
                f"parameters.{name}",
                f"Ollama keeps parameters as 32-bit floats: {value!r} is stored as {stored!r}",
            )
    if "stop" in values and not prof.template:
        # With its own TEMPLATE the profile defines the turns, and its stop list goes with them.
        warn(
            "custom_stop",
            "parameters.stop",
            "a custom stop list replaces the model's own stop tokens; include them if you still need them "
            "(`validate --host` checks it against the base model's)",
        )
    num_ctx = values.get("num_ctx")
    if isinstance(num_ctx, int) and num_ctx < 4:
        warn("risky_value", "parameters.num_ctx", "Ollama raises num_ctx to at least 4")


def json_schema() -> JSONObject:
    """JSON Schema of the profile format, for editors' YAML language servers."""
    props: JSONObject = {}
    for p in P.CATALOGUE:
        if p.type == "int":
            s: JSONObject = {"type": "integer"}
        elif p.type == "float":
            s = {"type": "number"}
        elif p.type == "bool":
            s = {"type": "boolean"}
        else:
            s = {
                "oneOf": [
                    {"type": "string", "minLength": 1},
                    {"type": "array", "items": {"type": "string", "minLength": 1}},
                ]
            }
        if p.minimum is not None and p.type in ("int", "float") and abs(p.minimum) < 2**62:
            s["minimum"] = p.minimum if p.type == "float" else int(p.minimum)
        if p.maximum is not None and p.type in ("int", "float") and abs(p.maximum) < 2**62:
            s["maximum"] = p.maximum if p.type == "float" else int(p.maximum)
        default = "" if p.default is None else f" Ollama's default: {p.default_note}."
        s["description"] = f"{p.meaning}{default} ({'load-time' if p.level == 'load' else 'per request'})"
        props[p.name] = s
    str_or_list: JSONObject = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    quantize: JSONObject = {"type": "string", "pattern": "^([Ff]32|[Ff]16|[Bb][Ff]16|[Qq]8_0|[Qq]4_[Kk](_[SsMm])?)$"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://modelctl.dev/schema/profile-v1.json",
        "title": "modelctl profile",
        "type": "object",
        "additionalProperties": False,
        # `from` is required after `extends` is resolved, so a file that extends another may omit it.
        "properties": {
            "name": {"type": "string", "description": "Model name to create; default: the file's stem."},
            "abstract": {
                "type": "boolean",
                "description": "Only extended by other profiles: never built, planned or compared; "
                "may omit `from`. Not inherited.",
            },
            "from": {
                "type": "string",
                "description": "Base model name, or a path to a .gguf file or "
                "safetensors directory relative to this file.",
            },
            "projector": {
                **str_or_list,
                "description": "More FROM files after `from` (a vision model's projector): local paths.",
            },
            "extends": {**str_or_list, "description": "Profile(s) this one builds on; later wins."},
            "description": {"type": "string", "description": "Free text; never sent to the server."},
            "system": {"type": ["string", "null"], "description": "System prompt (SYSTEM)."},
            "template": {
                "type": ["string", "null"],
                "description": "Go template (TEMPLATE); null inherits the base model's.",
            },
            "parameters": {"type": "object", "additionalProperties": False, "properties": props},
            "messages": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["role", "content"],
                    "properties": {"role": {"enum": ["system", "user", "assistant"]}, "content": {"type": "string"}},
                },
            },
            "adapters": {**str_or_list, "description": "LoRA adapter path (Ollama applies one)."},
            "license": {**str_or_list, "description": "License text(s); appended to the base's."},
            "requires": {"type": "string", "description": "Minimum Ollama version (semver)."},
            "renderer": {"type": "string", "description": "A built-in prompt renderer (RENDERER, Ollama 0.12+)."},
            "parser": {"type": "string", "description": "A built-in output parser (PARSER, Ollama 0.12+)."},
            "draft": {
                "type": "string",
                "description": "A draft model for speculative decoding (DRAFT, Ollama 0.30+): a local path.",
            },
            "quantize": {**quantize, "description": "Quantize F16/BF16/F32 weights at build time (case-insensitive)."},
            "draft_quantize": {**quantize, "description": "Quantize the draft model at build time (Ollama 0.30+)."},
        },
    }
