"""`modelctl build`: rendered Modelfile -> /api/create request -> blobs, pull, create -> report.

The request is assembled the way Ollama's own CLI does it (``parser.CreateRequest`` plus
``cmd.CreateHandler``): local FROM/ADAPTER paths are hashed (SHA-256, streaming) and sent
as ``files``/``adapters`` maps whose keys are the file's base name, or its path relative
to the files' common root when there are several; a FROM directory contributes the model
files Ollama's ``filesForModel`` would pick. A FROM that is not a local path is a model
name and goes to ``from``. Parameters are sent with their catalogue types only (a string
``num_ctx`` would break every later request to the model). Empty system/template are never
sent: the server would keep the inherited value anyway.

Before creating, a model that is already deployed and *matches* the request is reported
"up to date" (see :func:`differences` for the exact rule, and docs/build.md).
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from modelctl.errors import Diagnostic, InvalidInput, ModelctlError, ServerError
from modelctl.output import Result
from modelctl.params import BY_NAME, CLI_DEPRECATED, ORDER, REMOVED_BY_NAME
from modelctl.progress import NULL_PROGRESS, JobProgress, Progress
from modelctl.report import (
    Report,
    find_entry,
    modelfile_blobs,
    parse_parameters,
    same_value,
)

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.profile import LoadedProfile
    from modelctl.server import OllamaClient

BlobKind = Literal["files", "adapters"]
Status = Literal["created", "up_to_date", "planned"]

_HASH_CHUNK = 1 << 20

# -------------------------------------------------------------------------------------------
# Local files: Ollama's filesForModel, file keys, fs.ValidPath
# -------------------------------------------------------------------------------------------


def valid_path(key: str) -> bool:
    """Go's ``fs.ValidPath``: relative, ``/``-separated, no empty, ``.`` or ``..`` element."""
    if key == "" or key.startswith("/") or key.endswith("/"):
        return False
    return all(part not in ("", ".", "..") for part in key.split("/"))


def _sniff(path: Path) -> str:
    """A rough ``http.DetectContentType`` for the only question filesForModel asks: text or binary."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}", file=str(path)) from None
    if head.startswith(b"PK\x03\x04"):
        return "application/zip"
    if any(b < 0x20 and b not in (0x09, 0x0A, 0x0C, 0x0D, 0x1B) for b in head):
        return "application/octet-stream"
    return "text/plain"


def _glob(directory: Path, pattern: str) -> list[Path]:
    """``filepath.Glob`` for one directory level per ``/`` in ``pattern`` (sorted, like Go)."""
    parts = pattern.split("/")
    current = [directory]
    for i, part in enumerate(parts):
        nxt: list[Path] = []
        for d in current:
            try:
                names = sorted(os.listdir(d))
            except OSError:
                continue
            for name in names:
                if fnmatch.fnmatchcase(name, part):
                    p = d / name
                    if i < len(parts) - 1:
                        if p.is_dir():
                            nxt.append(p)
                    else:
                        nxt.append(p)
        current = nxt
    return current


def files_for_model(directory: Path) -> list[Path]:
    """The files Ollama's CLI takes from a FROM directory (``parser/parser.go`` filesForModel).

    Weights, first kind found wins: ``model*.safetensors`` (plus ``*/model*.safetensors``),
    ``consolidated*.safetensors``, ``pytorch_model*.bin``, ``consolidated*.pth``, ``*.gguf``,
    ``*.bin``; then ``*.json`` and ``*/*.json``, ``chat_template.jinja`` and ``tokenizer.model``
    (or ``*/tokenizer.model``). Symlinks that leave the directory are refused.
    """
    weights: list[Path] = []
    st = _glob(directory, "model*.safetensors")
    if st:
        weights = st + _glob(directory, "*/model*.safetensors")
    else:
        for pattern, want in (
            ("consolidated*.safetensors", None),
            ("pytorch_model*.bin", "application/zip"),
            ("consolidated*.pth", "application/zip"),
            ("*.gguf", "application/octet-stream"),
            ("*.bin", "application/octet-stream"),
        ):
            found = _glob(directory, pattern)
            if found and want is not None and any(_sniff(p) != want for p in found):
                # Ollama's glob fails on a content-type mismatch and the caller then moves
                # on to the next kind of weights.
                found = []
            if found:
                weights = found
                break
    if not weights:
        raise InvalidInput(
            f"no model files found in {directory} (looked for *.safetensors, *.bin, *.pth, *.gguf)",
            file=str(directory),
            field="from",
        )
    extra = _glob(directory, "*.json") + _glob(directory, "*/*.json")
    extra += _glob(directory, "chat_template.jinja")
    tok = _glob(directory, "tokenizer.model") or _glob(directory, "*/tokenizer.model")
    files: list[Path] = []
    seen: set[Path] = set()
    root = directory.resolve()
    for f in [*weights, *extra, *tok]:
        real = f.resolve()
        try:
            real.relative_to(root)
        except ValueError:
            hint = ""
            if ".cache" in real.parts:
                # Hugging Face's cache keeps snapshot files as links into its blobs/ folder.
                hint = (
                    " (the files are links into a download cache; download the model into a "
                    "plain folder, e.g. `hf download ... --local-dir DIR`, and use that)"
                )
            raise InvalidInput(
                f"insecure path: {f} points outside {directory}{hint}", file=str(f), field="from"
            ) from None
        if real not in seen:
            seen.add(real)
            files.append(real)
    return files


def request_file_names(paths: Sequence[Path]) -> dict[Path, str]:
    """File keys as Ollama's CLI names them (``cmd.createRequestFileNames``).

    One file: its base name. Several: the path relative to the deepest directory holding
    them all (so ``model.safetensors`` and ``sub/config.json`` keep their layout).
    """
    absolute = [Path(os.path.abspath(p)) for p in paths]
    root: Path | None = None
    if len(absolute) >= 2:
        root = Path(os.path.commonpath([str(p.parent) for p in absolute]))
    names: dict[Path, str] = {}
    for original, p in zip(paths, absolute, strict=True):
        name = p.name
        if root is not None:
            rel = os.path.relpath(p, root)
            if rel not in (".", "..") and not rel.startswith(".." + os.sep):
                name = rel
        names[Path(original)] = Path(name).as_posix()
    return names


# -------------------------------------------------------------------------------------------
# Hashing (streaming)
# -------------------------------------------------------------------------------------------


def sha256_stream(path: Path, progress: Callable[[int], None] | None = None) -> str:
    """``sha256:<hex>`` of a file read in 1 MiB chunks into one reused buffer (flat memory)."""
    h = hashlib.sha256()
    buf = bytearray(_HASH_CHUNK)
    view = memoryview(buf)
    done = 0
    try:
        with open(path, "rb", buffering=0) as fh:
            if hasattr(os, "posix_fadvise"):
                with contextlib.suppress(OSError):
                    os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
            while True:
                n = fh.readinto(view)
                if not n:
                    break
                h.update(view[:n])
                done += n
                if progress is not None:
                    progress(done)
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}", file=str(path)) from None
    return "sha256:" + h.hexdigest()


# -------------------------------------------------------------------------------------------
# The plan: request + blobs
# -------------------------------------------------------------------------------------------


@dataclass
class Blob:
    """A local file the request refers to by digest."""

    kind: BlobKind
    key: str
    path: Path
    size: int
    digest: str = ""
    present: bool | None = None  # on the server before we uploaded; None = not checked (dry run)
    uploaded_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "path": str(self.path),
            "size": self.size,
            "digest": self.digest,
            "present": self.present,
            "uploaded_bytes": self.uploaded_bytes,
        }


@dataclass
class BuildPlan:
    """What `build` will send for one profile."""

    name: str
    profile_path: Path | None
    modelfile: str
    request: dict[str, Any]
    blobs: list[Blob]
    base_model: str | None
    profile_parameters: dict[str, Any]
    warnings: list[Diagnostic] = field(default_factory=list)

    def blob_plan_text(self) -> str:
        if not self.blobs:
            return "blobs: none (no local files)\n"
        lines = ["blobs:"]
        for b in self.blobs:
            state = {None: "HEAD, upload if absent", True: "present", False: "upload"}[b.present]
            lines.append(f"  {b.kind}[{b.key}]  {b.digest}  {b.size} bytes  {b.path}  ({state})")
        return "\n".join(lines) + "\n"


def typed_parameters(params: Mapping[str, Any], warnings: list[Diagnostic] | None = None) -> dict[str, Any]:
    """Catalogue-typed values only: ints as ints, floats as floats, bools, ``stop`` as a list.

    Names the Ollama CLI drops are dropped with a warning; unknown or removed names and
    values of the wrong type are refused (the server would store them and fail later).
    """
    out: dict[str, Any] = {}
    for name, value in params.items():
        param = BY_NAME.get(name)
        if param is None:
            if name in CLI_DEPRECATED:
                if warnings is not None:
                    warnings.append(
                        Diagnostic(
                            "deprecated_parameter",
                            f"parameter {name} is deprecated; not sent",
                            field=f"parameters.{name}",
                        )
                    )
                continue
            if name in REMOVED_BY_NAME:
                raise InvalidInput(f"unknown parameter '{name}' (removed from Ollama)", field=f"parameters.{name}")
            raise InvalidInput(f"unknown parameter '{name}'", field=f"parameters.{name}")
        where = f"parameters.{name}"
        if param.type == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    raise InvalidInput(f"invalid int value [{value}]", field=where)
            out[name] = int(value)
        elif param.type == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidInput(f"invalid float value [{value}]", field=where)
            out[name] = float(value)
        elif param.type == "bool":
            if not isinstance(value, bool):
                raise InvalidInput(f"invalid bool value [{value}]", field=where)
            out[name] = value
        else:
            items = [value] if isinstance(value, str) else list(value)
            if not all(isinstance(s, str) for s in items):
                raise InvalidInput("stop must be a list of strings", field=where)
            out[name] = items
    return {k: out[k] for k in sorted(out, key=lambda k: ORDER[k])}


def _is_local(value: str, base_dir: Path) -> Path | None:
    from modelctl.profile import local_path

    return local_path(value, base_dir)


def _spec_get(spec: Any, name: str, default: Any = None) -> Any:
    if isinstance(spec, Mapping):
        return spec.get(name, default)
    return getattr(spec, name, default)


def assemble(
    spec: Any,
    *,
    name: str,
    base_dir: Path,
    quantize: str | None = None,
    profile_path: Path | None = None,
    modelfile: str = "",
    hash_progress: Callable[[Path, int, int], None] | None = None,
) -> BuildPlan:
    """Turn a parsed Modelfile (ModelSpec) into the /api/create request and its blob plan.

    ``base_dir`` is where relative paths resolve (the profile's directory). Local files
    are hashed here, streaming. Nothing is sent.
    """
    warnings: list[Diagnostic] = []
    from_name: str | None = None
    model_files: list[Path] = []
    for value in _spec_get(spec, "froms", []) or []:
        local = _is_local(str(value), base_dir)
        if local is None:
            from_name = str(value)  # the last name wins, like Ollama's CLI
            continue
        if not local.exists():
            raise InvalidInput(f"local model not found: {local}", file=str(profile_path or ""), field="from")
        # A single file keeps the path as given (Ollama's fileDigestMap), so a link into a
        # download cache is sent under its own name, not the cache's hash-named target.
        model_files += files_for_model(local) if local.is_dir() else [Path(os.path.abspath(local))]
    adapter_files: list[Path] = []
    for value in _spec_get(spec, "adapters", []) or []:
        local = _is_local(str(value), base_dir) or (base_dir / str(value))
        if not local.exists():
            raise InvalidInput(f"adapter not found: {local}", file=str(profile_path or ""), field="adapters")
        # Each ADAPTER line replaces the previous one (Ollama's CLI), so only the last counts.
        adapter_files = files_for_model(local) if local.is_dir() else [Path(os.path.abspath(local))]
    if _spec_get(spec, "draft"):
        raise InvalidInput("DRAFT models are not supported by modelctl build", field="draft")
    if from_name is not None and model_files:
        warnings.append(
            Diagnostic(
                "from_and_files",
                f"both a model name ({from_name}) and local files are given; "
                "the server uses the model name and ignores the files",
                field="from",
            )
        )

    blobs: list[Blob] = []
    for kind, paths in (("files", model_files), ("adapters", adapter_files)):
        names = request_file_names(paths)
        for p in paths:
            key = names[p]
            if not valid_path(key):
                raise InvalidInput(f"file key '{key}' for {p} is not a valid relative path", file=str(p))
            try:
                size = p.stat().st_size
            except OSError as exc:
                raise InvalidInput(f"cannot read {p}: {exc.strerror or exc}", file=str(p)) from None
            blobs.append(Blob(kind, key, p, size))  # type: ignore[arg-type]
    for b in blobs:
        cb = None
        if hash_progress is not None:

            def cb(done: int, _b: Blob = b) -> None:
                hash_progress(_b.path, done, _b.size)

        b.digest = sha256_stream(b.path, cb)

    params = typed_parameters(_spec_get(spec, "parameters", {}) or {}, warnings)
    request: dict[str, Any] = {"model": name}
    if from_name is not None:
        request["from"] = from_name
    files = {b.key: b.digest for b in blobs if b.kind == "files"}
    adapters = {b.key: b.digest for b in blobs if b.kind == "adapters"}
    if files:
        request["files"] = files
    if adapters:
        request["adapters"] = adapters
    for key in ("template", "system"):
        value = _spec_get(spec, key)
        if value:
            request[key] = value
        elif value == "":
            warnings.append(
                Diagnostic(
                    "empty_inherits",
                    f"an empty {key} is not sent and cannot clear the one inherited from the base model",
                    field=key,
                )
            )
    if params:
        request["parameters"] = params
    messages = [
        {"role": _spec_get(m, "role"), "content": _spec_get(m, "content")}
        for m in (_spec_get(spec, "messages", []) or [])
    ]
    if messages:
        request["messages"] = messages
    licenses = [str(x) for x in (_spec_get(spec, "license", []) or [])]
    if licenses:
        request["license"] = licenses
    if quantize:
        request["quantize"] = quantize
    for key in ("requires", "renderer", "parser"):
        value = _spec_get(spec, key)
        if value:
            request[key] = str(value)[1:] if key == "requires" and str(value).startswith("v") else value
    request["stream"] = True
    if "from" not in request and "files" not in request:
        raise InvalidInput("no FROM: neither a model name nor local model files", field="from")
    return BuildPlan(
        name=name,
        profile_path=profile_path,
        modelfile=modelfile,
        request=request,
        blobs=blobs,
        base_model=from_name,
        profile_parameters=params,
        warnings=warnings,
    )


def plan_profile(
    loaded: LoadedProfile,
    *,
    template: str | None = None,
    progress: JobProgress | None = None,
    rendered: Any = None,
) -> BuildPlan:
    """Render and check the profile (foundation), then assemble the request and blob plan.

    ``rendered``: the profile's render.Rendered when the caller already rendered it.
    """
    if rendered is None:
        from modelctl.render import render

        rendered = render(loaded, template=template, paths="absolute")
    prof = loaded.profile
    job = progress

    def hashing(path: Path, done: int, total: int) -> None:
        if job is not None:
            job.bar(f"hash:{path}", f"hashing {path.name}", done, total)

    plan = assemble(
        rendered.spec,
        name=prof.name,
        base_dir=loaded.path.parent,
        quantize=prof.quantize,
        profile_path=loaded.path,
        modelfile=rendered.text,
        hash_progress=hashing,
    )
    seen = {(w.code, w.field) for w in loaded.warnings}
    plan.warnings = list(loaded.warnings) + [w for w in plan.warnings if (w.code, w.field) not in seen]
    spec_warnings = _spec_get(rendered.spec, "warnings", []) or []
    for w in spec_warnings:
        if isinstance(w, Diagnostic):
            plan.warnings.append(w)
    return plan


# -------------------------------------------------------------------------------------------
# "Up to date": the exact rule
# -------------------------------------------------------------------------------------------

QUANT_ALIASES = {"Q4_K": "Q4_K_M"}


def _messages(show: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    return [
        (str(m.get("role")), str(m.get("content") or ""))
        for m in ((show or {}).get("messages") or [])
        if isinstance(m, Mapping)
    ]


def expected_parameters(request: Mapping[str, Any], base: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the server stores: the base's parameters, then ours key by key (lists replace)."""
    merged: dict[str, Any] = {}
    if request.get("from") and base is not None:
        merged.update(parse_parameters(base.get("parameters")))
    merged.update(request.get("parameters") or {})
    return merged


def differences(
    request: Mapping[str, Any],
    deployed: Mapping[str, Any],
    base: Mapping[str, Any] | None,
) -> list[str]:
    """Why the deployed model (its /api/show) does not match ``request``; empty = it matches.

    The rule (docs/build.md, "up to date"):

    * weights: for ``from``, the deployed FROM blob(s) equal the base model's current ones
      (a re-pulled base changes them); for local files, the deployed FROM blobs are exactly
      the uploaded digests. With ``quantize`` or converted files the server rewrites the
      weights, so only a build record (see :class:`BuildRecords`) can prove a match.
    * quantization level equals the requested ``quantize`` (Q4_K means Q4_K_M);
    * adapters: the deployed ADAPTER blobs are the base's plus ours;
    * parameters: the stored set equals the base's merged with ours, key by key, floats
      compared at float32 precision, ints exactly, ``stop`` as a set;
    * system, template: ours when set, else the base's (an empty value cannot clear it);
    * messages: ours when any, else the base's, in order;
    * license: the base's followed by ours; requires: equal when set.
    """
    diffs: list[str] = []
    from_name = request.get("from")
    dep_froms, dep_adapters = modelfile_blobs(deployed)
    base_froms, base_adapters = modelfile_blobs(base or {})
    quantize = request.get("quantize")
    if from_name:
        if base is None:
            diffs.append(f"the base model {from_name} is not on the server: the weights cannot be compared")
        elif quantize:
            diffs.append("the server quantized the weights: they cannot be compared with the base's")
        elif not dep_froms or sorted(dep_froms) != sorted(base_froms):
            diffs.append(f"the weights differ from the base model {from_name}'s (was the base updated?)")
    else:
        want = sorted(request.get("files", {}).values())
        if quantize:
            diffs.append("the server quantized the weights: they cannot be compared with the files")
        elif sorted(dep_froms) != want:
            diffs.append("the deployed weights are not the local files (changed, or rewritten by the server)")
    if quantize:
        want_q = QUANT_ALIASES.get(str(quantize).upper(), str(quantize).upper())
        have_q = str(((deployed.get("details") or {}).get("quantization_level")) or "").upper()
        if have_q != want_q:
            diffs.append(f"quantization is {have_q or 'unknown'}, the profile asks for {want_q}")
    ours = list((request.get("adapters") or {}).values())
    want_adapters = sorted((base_adapters if from_name else []) + ours)
    if sorted(dep_adapters) != want_adapters:
        diffs.append("the adapters differ")

    stored = parse_parameters(deployed.get("parameters"))
    expected = expected_parameters(request, base)
    for key in sorted(set(stored) | set(expected)):
        if key not in stored:
            diffs.append(f"parameter {key} is not stored (expected {expected[key]!r})")
        elif key not in expected:
            diffs.append(f"parameter {key} is stored ({stored[key]!r}) but not in the profile")
        elif not same_value(key, stored[key], expected[key]):
            diffs.append(f"parameter {key} is {stored[key]!r}, the profile says {expected[key]!r}")

    for key in ("system", "template"):
        want_text: str | None = request.get(key) or ((base or {}).get(key) if from_name else None)
        have = deployed.get(key) or ""
        if want_text is None:
            continue  # file-based model, nothing set: the server's choice
        if want_text != have and not (key == "template" and _modelfile_template(deployed) == want_text):
            diffs.append(f"the {key} differs")

    want_msgs = [(m["role"], m["content"]) for m in request.get("messages") or []] or (
        _messages(base) if from_name else []
    )
    if _messages(deployed) != want_msgs:
        diffs.append("the messages differ")

    base_license = str((base or {}).get("license") or "") if from_name else ""
    want_license = "\n".join([x for x in [base_license] if x] + list(request.get("license") or []))
    if str(deployed.get("license") or "") != want_license:
        diffs.append("the license differs")
    if request.get("requires") and str(deployed.get("requires") or "").lstrip("v") != request["requires"]:
        diffs.append("requires differs")
    return diffs


def _modelfile_template(show: Mapping[str, Any]) -> str | None:
    """The TEMPLATE of /api/show's generated Modelfile (the one that may differ from ``template``)."""
    text = show.get("modelfile")
    if not isinstance(text, str):
        return None
    try:
        from modelctl.modelfile import parse_modelfile

        spec = parse_modelfile(text)
    except Exception:  # a generated Modelfile may be unparseable (ollama.md §1.12): no match then
        return None
    value = _spec_get(spec, "template")
    return value if isinstance(value, str) else None


# -------------------------------------------------------------------------------------------
# Build records: proof that a manifest came from a request (when the server rewrote weights)
# -------------------------------------------------------------------------------------------


def request_fingerprint(request: Mapping[str, Any]) -> str:
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def state_dir() -> Path:
    explicit = os.environ.get("MODELCTL_STATE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "modelctl"


class BuildRecords:
    """``builds.json``: manifest digest (from /api/tags) -> the request that created it.

    A manifest digest changes whenever anything about the model changes, so a record
    proves the deployed model is exactly what modelctl created from that request, even
    when the server rewrote the weights (quantize, GGUF re-validation, conversion).
    """

    MAX_ENTRIES = 1000
    _lock = threading.Lock()

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or state_dir() / "builds.json"

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, manifest_digest: str | None) -> dict[str, Any] | None:
        if not manifest_digest:
            return None
        with self._lock:
            entry = self._read().get(manifest_digest)
        return entry if isinstance(entry, dict) else None

    def put(self, manifest_digest: str | None, entry: dict[str, Any]) -> None:
        if not manifest_digest:
            return
        from modelctl.output import write_atomic

        def age(k: str) -> float:
            try:
                return float(data[k].get("recorded_at", 0))
            except (TypeError, ValueError):
                return 0.0

        with self._lock:
            # Entries that are not records (a damaged or hand-edited file) are dropped.
            data = {k: v for k, v in self._read().items() if isinstance(v, dict)}
            data[manifest_digest] = {**entry, "recorded_at": time.time()}
            if len(data) > self.MAX_ENTRIES:
                oldest = sorted(data, key=age)
                for k in oldest[: len(data) - self.MAX_ENTRIES]:
                    del data[k]
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n")
            except OSError:
                pass  # a record only saves a rebuild later; never fail a build for it


# -------------------------------------------------------------------------------------------
# Running a build
# -------------------------------------------------------------------------------------------


@dataclass
class BuildOutcome:
    plan: BuildPlan
    status: Status
    reasons: list[str] = field(default_factory=list)
    pulled: bool = False
    statuses: list[str] = field(default_factory=list)  # pull/create status lines, repeats collapsed
    report: Report | None = None
    verify_problem: str | None = None
    verified: bool = False  # --verify ran (loaded the model and read /api/ps)
    host: str = ""

    @property
    def warnings(self) -> list[Diagnostic]:
        out = list(self.plan.warnings)
        seen = {(w.code, w.field) for w in out}
        if self.report is not None:
            # The profile already warned about the same thing (with its file:line): say it once.
            out += [w for w in self.report.warnings if (w.code, w.field) not in seen]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": str(self.plan.profile_path) if self.plan.profile_path else None,
            "name": self.plan.name,
            "host": self.host,
            "status": self.status,
            "reasons": self.reasons,
            "pulled": self.pulled,
            "statuses": self.statuses,
            "request": self.plan.request,
            "blobs": [b.to_dict() for b in self.plan.blobs],
            "uploaded_bytes": sum(b.uploaded_bytes for b in self.plan.blobs),
            "report": self.report.data if self.report is not None else None,
            "verify": {"ok": self.verify_problem is None, "problem": self.verify_problem} if self.verified else None,
        }

    def text(self) -> str:
        if self.status == "planned":
            return (
                f"# {self.plan.name}: dry run, nothing sent\n"
                + f"POST /api/create\n{json.dumps(self.plan.request, indent=2, ensure_ascii=False)}\n"
                + self.plan.blob_plan_text()
            )
        head = {"created": "created", "up_to_date": "up to date"}[self.status]
        lines = [f"{self.plan.name}: {head}"]
        if self.status == "created" and self.reasons:
            lines += [f"  rebuilt because {r}" for r in self.reasons]
        if self.pulled:
            lines.append(f"  pulled the base model {self.plan.base_model}")
        if self.plan.blobs:
            sent = sum(b.uploaded_bytes for b in self.plan.blobs)
            lines.append(f"  blobs: {len(self.plan.blobs)} file(s), {sent} bytes uploaded")
        out = "\n".join(lines) + "\n"
        if self.report is not None:
            out += self.report.text()
        if self.verify_problem:
            out += f"  verify: FAILED: {self.verify_problem}\n"
        elif self.verified:
            out += "  verify: ok\n"
        return out


REQUIRES_SINCE = "0.14.0"  # the first Ollama that stores REQUIRES (reference/ollama.md §8)


def _older(version: str, minimum: str) -> bool:
    from modelctl.server import compare_versions

    try:
        return version not in ("", "0.0.0") and compare_versions(version, minimum) < 0
    except ValueError:
        return False


def _show_or_none(client: OllamaClient, model: str) -> dict[str, Any] | None:
    from modelctl.server import ModelNotFound

    try:
        return client.show(model)
    except ModelNotFound:
        return None


def _drain(events: Iterator[dict[str, Any]], job: JobProgress, statuses: list[str]) -> None:
    for event in events:
        job.stream_event(event)
        status = event.get("status")
        if isinstance(status, str) and status and (not statuses or statuses[-1] != status):
            statuses.append(status)


class Builder:
    """Runs plans against one server. Each job uses its own HTTP client (thread safety)."""

    def __init__(
        self,
        host: str | None,
        timeout: float | None,
        *,
        force: bool = False,
        no_pull: bool = False,
        verify: bool = False,
        progress: Progress = NULL_PROGRESS,
        records: BuildRecords | None = None,
    ) -> None:
        self.host = host
        self.timeout = timeout
        self.force = force
        self.no_pull = no_pull
        self.verify = verify
        self.progress = progress
        self.records = records if records is not None else BuildRecords()

    def client(self) -> OllamaClient:
        from modelctl.server import OllamaClient

        return OllamaClient(self.host, timeout=self.timeout)

    def run(self, plan: BuildPlan, job: JobProgress | None = None) -> BuildOutcome:
        job = job or self.progress.job(None)
        with self.client() as client:
            return self._run(client, plan, job)

    def _run(self, client: OllamaClient, plan: BuildPlan, job: JobProgress) -> BuildOutcome:
        outcome = BuildOutcome(plan, "created", host=client.display_host)
        version = client.require_version()
        requires = plan.request.get("requires")
        if requires and _older(version, str(requires)):
            # Ollama stores REQUIRES but does not enforce it; say so rather than fail.
            plan.warnings.append(
                Diagnostic(
                    "requires_newer",
                    f"the profile requires Ollama {requires}, the server at {client.display_host} is {version}",
                    field="requires",
                )
            )
        name = plan.name
        deployed = _show_or_none(client, name)
        base_show: dict[str, Any] | None = None
        if plan.base_model:
            base_show = _show_or_none(client, plan.base_model)

        tags: dict[str, Any] | None = None
        if deployed is not None:
            tags = client.tags()
            if not self.force:
                reasons = self._mismatch(plan, deployed, base_show, tags, version)
                if not reasons:
                    outcome.status = "up_to_date"
                    job.status("up to date")
                    outcome.report = self._report(client, plan, deployed, tags, base_show, job, outcome)
                    return outcome
                outcome.reasons = reasons
            else:
                outcome.reasons = ["--force"]

        if plan.base_model and base_show is None:
            if self.no_pull:
                raise ServerError(
                    f"base model {plan.base_model} is not on the server at {client.display_host} and "
                    f"--no-pull was given (pull it with `ollama pull {plan.base_model}`, or drop --no-pull)",
                    code="base_missing",
                )
            job.status(f"pulling {plan.base_model}")
            try:
                _drain(client.pull(plan.base_model), job, outcome.statuses)
            except ServerError as exc:
                raise ServerError(
                    f"cannot pull the base model {plan.base_model}: {exc.message}",
                    status=exc.status,
                    code="pull_failed",
                ) from None
            outcome.pulled = True
            base_show = client.show(plan.base_model)

        for blob in plan.blobs:
            self._ensure_blob(client, blob, job)

        job.status("creating model")
        _drain(client.create(plan.request), job, outcome.statuses)
        job.status("success")

        deployed = client.show(name)
        tags = client.tags()
        entry = find_entry(tags, name)
        self.records.put(
            (entry or {}).get("digest"),
            {
                "name": name,
                "host": client.display_host,
                "fingerprint": request_fingerprint(plan.request),
                "base_blobs": modelfile_blobs(base_show)[0] if base_show else [],
            },
        )
        outcome.report = self._report(client, plan, deployed, tags, base_show, job, outcome)
        return outcome

    def _mismatch(
        self,
        plan: BuildPlan,
        deployed: dict[str, Any],
        base_show: dict[str, Any] | None,
        tags: dict[str, Any],
        version: str = "0.0.0",
    ) -> list[str]:
        entry = find_entry(tags, plan.name)
        record = self.records.get((entry or {}).get("digest"))
        if record is not None and record.get("fingerprint") == request_fingerprint(plan.request):
            # Exactly what we created. Only a base model re-pulled since then makes it stale.
            if base_show is None or not plan.base_model:
                return []
            if sorted(record.get("base_blobs") or []) == sorted(modelfile_blobs(base_show)[0]):
                return []
            return [f"the base model {plan.base_model} changed since the last build"]
        request: Mapping[str, Any] = plan.request
        if _older(version, REQUIRES_SINCE):
            # Servers before REQUIRES existed drop the field: comparing it would rebuild forever.
            request = {k: v for k, v in request.items() if k != "requires"}
        return differences(request, deployed, base_show)

    def _ensure_blob(self, client: OllamaClient, blob: Blob, job: JobProgress) -> None:
        blob.present = client.blob_exists(blob.digest)
        if blob.present:
            job.status(f"using existing blob {blob.key} ({blob.digest[:19]})")
            return
        label = f"uploading {blob.key}"

        def sent(n: int) -> None:
            blob.uploaded_bytes = n
            job.bar(f"upload:{blob.digest}", label, n, blob.size)

        client.upload_blob(blob.path, blob.digest, sent)
        blob.uploaded_bytes = max(blob.uploaded_bytes, blob.size)

    def _report(
        self,
        client: OllamaClient,
        plan: BuildPlan,
        deployed: dict[str, Any],
        tags: dict[str, Any] | None,
        base_show: dict[str, Any] | None,
        job: JobProgress,
        outcome: BuildOutcome,
    ) -> Report:
        from modelctl.report import build_report, runtime_if_loaded, verify_runtime

        report = build_report(
            deployed,
            name=plan.name,
            host=client.display_host,
            tags_entry=find_entry(tags, plan.name),
            profile_parameters=plan.request.get("parameters") or {},
            base_show=base_show if plan.base_model else None,
            profile_known=True,
        )
        if self.verify:
            job.status("loading the model to verify")
            outcome.verify_problem = verify_runtime(client, report)
            outcome.verified = True
        else:
            runtime_if_loaded(client, report)
        return report


def run_builds(
    plans: Sequence[BuildPlan],
    builder: Builder,
    *,
    jobs: int = 1,
) -> list[BuildOutcome | ModelctlError]:
    """Run several builds, ``jobs`` at a time; results (or errors) in input order.

    Workers are daemon threads, so Ctrl-C stops the command at once instead of waiting for
    running uploads or creates to finish.
    """
    multi = len(plans) > 1
    results: list[BuildOutcome | ModelctlError | BaseException | None] = [None] * len(plans)

    def one(i: int, plan: BuildPlan) -> None:
        job = builder.progress.job(plan.name if multi else None)
        try:
            results[i] = builder.run(plan, job)
        except ModelctlError as exc:
            results[i] = exc
        except Exception as exc:  # a bug: re-raised in the main thread (one line, exit 1)
            results[i] = exc

    try:
        if jobs <= 1 or len(plans) <= 1:
            for i, plan in enumerate(plans):
                one(i, plan)
        else:
            slots = threading.Semaphore(jobs)

            def worker(i: int, plan: BuildPlan) -> None:
                with slots:
                    one(i, plan)

            threads = [
                threading.Thread(target=worker, args=(i, p), name=f"modelctl-build-{i}", daemon=True)
                for i, p in enumerate(plans)
            ]
            for t in threads:
                t.start()
            for t in threads:
                while t.is_alive():
                    t.join(0.2)
    finally:
        builder.progress.close()
    out: list[BuildOutcome | ModelctlError] = []
    for r in results:
        if isinstance(r, (BuildOutcome, ModelctlError)):
            out.append(r)
        elif isinstance(r, BaseException):
            raise r
        else:  # pragma: no cover - every worker stores a result
            raise RuntimeError("a build produced no result")
    return out


# -------------------------------------------------------------------------------------------
# The command body (click-free, so library users and tests can call it)
# -------------------------------------------------------------------------------------------


def run_build(
    refs: Sequence[str],
    *,
    dry_run: bool = False,
    force: bool = False,
    no_pull: bool = False,
    jobs: int = 1,
    verify: bool = False,
    overrides: Sequence[str] = (),
    template: str | None = None,
    host: str | None = None,
    timeout: float | None = None,
    fmt: str = "text",
    quiet: bool = False,
) -> Result:
    """Everything `modelctl build` does; returns an output.Result. Raises ModelctlError on failure."""
    from modelctl.profile import load_profile
    from modelctl.progress import should_show

    progress = Progress(should_show(fmt, quiet))
    loaded = [load_profile(ref, overrides) for ref in refs]
    names = [lp.profile.name for lp in loaded]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput(f"several profiles create the same model: {', '.join(dupes)}", field="name")
    from modelctl.render import render

    # Every profile is rendered and checked first (exit 1 names the problem), then the server
    # is asked for its version, failing fast (exit 4) before gigabytes of local files are hashed.
    rendered = [render(lp, template=template, paths="absolute") for lp in loaded]
    if not dry_run:
        from modelctl.server import OllamaClient

        with OllamaClient(host, timeout=timeout) as client:
            client.require_version()
    plans = [
        plan_profile(lp, template=template, progress=progress.job(None), rendered=r)
        for lp, r in zip(loaded, rendered, strict=True)
    ]

    if dry_run:
        outcomes: list[BuildOutcome] = [BuildOutcome(p, "planned") for p in plans]
    else:
        builder = Builder(host, timeout, force=force, no_pull=no_pull, verify=verify, progress=progress)
        results = run_builds(plans, builder, jobs=jobs)
        failures = [(p, r) for p, r in zip(plans, results, strict=True) if isinstance(r, ModelctlError)]
        outcomes = [r for r in results if isinstance(r, BuildOutcome)]
        if failures and not outcomes:
            raise _combined_failure(failures, [], fmt, quiet)

    warnings: list[Diagnostic] = []
    for o in outcomes:
        prefix = f"{o.plan.name}: " if len(outcomes) > 1 else ""
        for w in o.warnings:
            warnings.append(Diagnostic(w.code, prefix + w.message, w.file, w.line, w.column, w.field))
    problems = [o for o in outcomes if o.verify_problem]
    errors = [
        Diagnostic("verify_failed", f"{o.plan.name}: {o.verify_problem}", field="parameters.num_ctx") for o in problems
    ]
    failed: list[dict[str, Any]] = []
    if not dry_run:
        # Some builds failed while others finished: report both, so CI knows what is deployed.
        for plan, err in failures:
            d = err.diagnostic()
            errors.append(Diagnostic(d.code, f"{plan.name}: {d.message}", d.file, d.line, d.column, d.field))
            failed.append(
                {
                    "name": plan.name,
                    "profile": str(plan.profile_path) if plan.profile_path else None,
                    "error": d.to_dict(),
                }
            )

    def text() -> str:
        return "\n".join(o.text() for o in outcomes)

    from modelctl.errors import ExitCode

    if failed:  # noqa: SIM108 - a nested conditional expression reads worse
        exit_code = failures[0][1].exit_code
    else:
        exit_code = ExitCode.INVALID if problems else ExitCode.OK
    return Result(
        data={"dry_run": dry_run, "builds": [o.to_dict() for o in outcomes], "failed": failed},
        text=text,
        ok=not problems and not failed,
        exit_code=exit_code,
        warnings=warnings,
        errors=errors,
    )


def _combined_failure(
    failures: list[tuple[BuildPlan, ModelctlError]],
    successes: list[BuildOutcome],
    fmt: str,
    quiet: bool,
) -> ModelctlError:
    """One error for the command: the first failure's exit code, a line per failed profile."""
    import sys

    first = failures[0][1]
    if len(failures) == 1 and not successes:
        return first
    if fmt == "text" and not quiet:
        for o in successes:
            sys.stderr.write(f"{o.plan.name}: {'up to date' if o.status == 'up_to_date' else 'created'}\n")
    diags = []
    for plan, err in failures:
        d = err.diagnostic()
        diags.append(Diagnostic(d.code, f"{plan.name}: {d.message}", d.file, d.line, d.column, d.field))
    combined = ModelctlError(diags[0].message, diagnostics=diags)
    combined.exit_code = first.exit_code
    combined.code = first.code
    return combined
