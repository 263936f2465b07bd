"""``build``: rendered Modelfile -> /api/create request -> blobs, pull, create -> report.

The request is assembled the way Ollama's own CLI does it (``parser.CreateRequest`` plus
``cmd.CreateHandler``): local FROM/ADAPTER paths are hashed (SHA-256, streaming) and sent
as ``files``/``adapters`` maps whose keys are the file's base name, or its path relative
to the files' common root when there are several; a FROM directory contributes the model
files Ollama's ``filesForModel`` would pick. A FROM that is not a local path is a model
name and goes to ``from``. Parameters are sent with their catalogue types only (a string
``num_ctx`` would break every later request to the model). Empty system/template are never
sent: the server would keep the inherited value anyway.

Before creating, a model that is already deployed and *matches* the request is reported
"up to date" (see :func:`differences` for the exact rule, and docs/build.md). Progress is
reported as :mod:`modelctl.events`; the result is a :class:`BuildResult`.
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
from typing import Any, Literal

from modelctl.errors import Diagnostic, ErrorGroup, InvalidInput, ModelctlError, ModelfileError, ServerError
from modelctl.events import EventSink, Status, Transfer, ignore, progress_event
from modelctl.files import check_regular, confinement_root, locked, open_regular, outside, sha256_file, write_atomic
from modelctl.modelfile import ModelSpec, parse_modelfile
from modelctl.params import typed_parameters
from modelctl.profile import LoadedProfile, load_profile, local_path
from modelctl.render import Rendered, render
from modelctl.server import OllamaClient
from modelctl.show import ModelReport, Verification, build_report, runtime_if_loaded, verify_runtime
from modelctl.wire import find_entry, modelfile_blobs, older_than, parse_parameters, same_value

BlobKind = Literal["files", "adapters"]
Status_ = Literal["created", "up_to_date", "planned"]

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
    fh, _size = open_regular(path, what="model file")  # a FIFO named *.gguf must not block the read
    try:
        with fh:
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
            check_regular(real, what="model file")  # a FIFO or device among the files would never end
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


HashProgress = Callable[[Path, int, int], None]


def _local_files(
    spec: ModelSpec, base_dir: Path, profile_path: Path | None
) -> tuple[str | None, list[Path], list[Path]]:
    """(the FROM model name, the model files, the adapter files) as Ollama's CLI resolves them."""
    from_name: str | None = None
    model_files: list[Path] = []
    root = confinement_root(base_dir)
    for value in spec.froms:
        local = local_path(value, base_dir)
        if local is None:
            from_name = value  # the last name wins, like Ollama's CLI
            continue
        if not local.exists():
            raise InvalidInput(f"local model not found: {local}", file=str(profile_path or ""), field="from")
        # A single file keeps the path as given (Ollama's fileDigestMap), so a link into a
        # download cache is sent under its own name, not the cache's hash-named target.
        model_files += _local_model_files(local, root, "from")
    adapter_files: list[Path] = []
    for value in spec.adapters:
        local = local_path(value, base_dir) or (base_dir / value)
        if not local.exists():
            raise InvalidInput(f"adapter not found: {local}", file=str(profile_path or ""), field="adapters")
        # Each ADAPTER line replaces the previous one (Ollama's CLI), so only the last counts.
        adapter_files = _local_model_files(local, root, "adapters")
    return from_name, model_files, adapter_files


def _local_model_files(local: Path, root: Path | None, field_name: str) -> list[Path]:
    """A FROM/ADAPTER/DRAFT path's files: a folder's model files, or the file itself (a regular
    file: never a FIFO or a device), all inside ``root`` when confined (--confine)."""
    if local.is_dir():
        files = files_for_model(local)
    else:
        check_regular(local, what="model file")
        files = [Path(os.path.abspath(local))]
    for f in files:
        if root is not None and (why := outside(f, root)) is not None:
            raise InvalidInput(why, file=str(f), field=field_name, code="confined")
    return files


def _hashed_blobs(groups: Mapping[BlobKind, list[Path]], progress: HashProgress | None) -> list[Blob]:
    blobs: list[Blob] = []
    for kind, paths in groups.items():
        names = request_file_names(paths)
        for p in paths:
            key = names[p]
            if not valid_path(key):
                raise InvalidInput(f"file key '{key}' for {p} is not a valid relative path", file=str(p))
            try:
                size = p.stat().st_size
            except OSError as exc:
                raise InvalidInput(f"cannot read {p}: {exc.strerror or exc}", file=str(p)) from None
            blobs.append(Blob(kind, key, p, size))
    for b in blobs:
        b.digest = sha256_file(b.path, _hash_callback(b, progress) if progress is not None else None)
    return blobs


def _hash_callback(blob: Blob, progress: HashProgress) -> Callable[[int], None]:
    return lambda done: progress(blob.path, done, blob.size)


def _create_request(
    spec: ModelSpec, name: str, from_name: str | None, blobs: list[Blob], quantize: str | None,
    warnings: list[Diagnostic],
) -> dict[str, Any]:  # fmt: skip
    """The /api/create JSON, field by field as Ollama's CLI fills it."""
    request: dict[str, Any] = {"model": name}
    if from_name is not None:
        request["from"] = from_name
    for kind in ("files", "adapters"):
        digests = {b.key: b.digest for b in blobs if b.kind == kind}
        if digests:
            request[kind] = digests
    for key in ("template", "system"):
        value = getattr(spec, key)
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
    params = typed_parameters(spec.parameters, warnings)
    if params:
        request["parameters"] = params
    if spec.messages:
        request["messages"] = [{"role": m["role"], "content": m["content"]} for m in spec.messages]
    if spec.license:
        request["license"] = list(spec.license)
    if quantize:
        request["quantize"] = quantize
    if spec.requires:
        request["requires"] = spec.requires.removeprefix("v")
    for key in ("renderer", "parser"):
        if getattr(spec, key):
            request[key] = getattr(spec, key)
    request["stream"] = True
    return request


def assemble(
    spec: ModelSpec,
    *,
    name: str,
    base_dir: Path,
    quantize: str | None = None,
    profile_path: Path | None = None,
    modelfile: str = "",
    hash_progress: HashProgress | None = None,
) -> BuildPlan:
    """Turn a parsed Modelfile into the /api/create request and its blob plan.

    ``base_dir`` is where relative paths resolve (the profile's directory). Local files
    are hashed here, streaming. Nothing is sent.
    """
    if spec.draft:
        raise InvalidInput("DRAFT models are not supported by modelctl build", field="draft")
    warnings: list[Diagnostic] = []
    from_name, model_files, adapter_files = _local_files(spec, base_dir, profile_path)
    if from_name is not None and model_files:
        warnings.append(
            Diagnostic(
                "from_and_files",
                f"both a model name ({from_name}) and local files are given; "
                "the server uses the model name and ignores the files",
                field="from",
            )
        )
    blobs = _hashed_blobs({"files": model_files, "adapters": adapter_files}, hash_progress)
    request = _create_request(spec, name, from_name, blobs, quantize, warnings)
    if "from" not in request and "files" not in request:
        raise InvalidInput("no FROM: neither a model name nor local model files", field="from")
    return BuildPlan(
        name=name,
        profile_path=profile_path,
        modelfile=modelfile,
        request=request,
        blobs=blobs,
        base_model=from_name,
        profile_parameters=dict(request.get("parameters") or {}),
        warnings=warnings,
    )


def plan_profile(loaded: LoadedProfile, rendered: Rendered, *, on_event: EventSink = ignore) -> BuildPlan:
    """Assemble the request and blob plan of a rendered (and round-trip checked) profile."""
    prof = loaded.profile

    def hashing(path: Path, done: int, total: int) -> None:
        on_event(Transfer(f"hash:{path}", f"hashing {path.name}", done, total))

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
    plan.warnings += rendered.spec.warnings
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
    return (
        _weight_differences(request, deployed, base)
        + _parameter_differences(request, deployed, base)
        + _text_differences(request, deployed, base)
    )


def _weight_differences(
    request: Mapping[str, Any], deployed: Mapping[str, Any], base: Mapping[str, Any] | None
) -> list[str]:
    from_name = request.get("from")
    dep_froms, dep_adapters = modelfile_blobs(deployed)
    base_froms, base_adapters = modelfile_blobs(base or {})
    quantize = request.get("quantize")
    weights = _weights_difference(request, dep_froms, base_froms if base is not None else None)
    diffs = [weights] if weights else []
    if quantize:
        want_q = QUANT_ALIASES.get(str(quantize).upper(), str(quantize).upper())
        have_q = str(((deployed.get("details") or {}).get("quantization_level")) or "").upper()
        if have_q != want_q:
            diffs.append(f"quantization is {have_q or 'unknown'}, the profile asks for {want_q}")
    ours = list((request.get("adapters") or {}).values())
    if sorted(dep_adapters) != sorted((base_adapters if from_name else []) + ours):
        diffs.append("the adapters differ")
    return diffs


def _weights_difference(request: Mapping[str, Any], deployed: list[str], base: list[str] | None) -> str | None:
    """Why the deployed FROM blobs are not the ones the request makes (None when they are)."""
    from_name, quantize = request.get("from"), request.get("quantize")
    if from_name:
        if base is None:
            return f"the base model {from_name} is not on the server: the weights cannot be compared"
        if quantize:
            return "the server quantized the weights: they cannot be compared with the base's"
        if not deployed or sorted(deployed) != sorted(base):
            return f"the weights differ from the base model {from_name}'s (was the base updated?)"
        return None
    if quantize:
        return "the server quantized the weights: they cannot be compared with the files"
    if sorted(deployed) != sorted(request.get("files", {}).values()):
        return "the deployed weights are not the local files (changed, or rewritten by the server)"
    return None


def _parameter_differences(
    request: Mapping[str, Any], deployed: Mapping[str, Any], base: Mapping[str, Any] | None
) -> list[str]:
    diffs: list[str] = []
    stored = parse_parameters(deployed.get("parameters"))
    expected = expected_parameters(request, base)
    for key in sorted(set(stored) | set(expected)):
        if key not in stored:
            diffs.append(f"parameter {key} is not stored (expected {expected[key]!r})")
        elif key not in expected:
            diffs.append(f"parameter {key} is stored ({stored[key]!r}) but not in the profile")
        elif not same_value(key, stored[key], expected[key]):
            diffs.append(f"parameter {key} is {stored[key]!r}, the profile says {expected[key]!r}")
    return diffs


def _text_differences(
    request: Mapping[str, Any], deployed: Mapping[str, Any], base: Mapping[str, Any] | None
) -> list[str]:
    diffs: list[str] = []
    from_name = request.get("from")
    for key in ("system", "template"):
        want_text: str | None = request.get(key) or ((base or {}).get(key) if from_name else None)
        if want_text is None:
            continue  # file-based model, nothing set: the server's choice
        have = deployed.get(key) or ""
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
        return parse_modelfile(text).template
    except ModelfileError:  # a generated Modelfile may be unparseable (ollama.md §1.12): no match then
        return None


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

        def age(k: str) -> float:
            try:
                return float(data[k].get("recorded_at", 0))
            except (TypeError, ValueError):
                return 0.0

        # Read, change and write under a lock file beside builds.json, so that two `modelctl
        # build` processes at once never drop each other's records (the thread lock covers
        # builds running in threads of this process).
        with self._lock, contextlib.suppress(OSError):  # a record only saves a rebuild later
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with locked(self.path.with_name(self.path.name + ".lock")):
                # Entries that are not records (a damaged or hand-edited file) are dropped.
                data = {k: v for k, v in self._read().items() if isinstance(v, dict)}
                data[manifest_digest] = {**entry, "recorded_at": time.time()}
                if len(data) > self.MAX_ENTRIES:
                    oldest = sorted(data, key=age)
                    for k in oldest[: len(data) - self.MAX_ENTRIES]:
                        del data[k]
                write_atomic(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n")


# -------------------------------------------------------------------------------------------
# Running a build
# -------------------------------------------------------------------------------------------


@dataclass
class BuildOutcome:
    plan: BuildPlan
    status: Status_
    reasons: list[str] = field(default_factory=list)
    pulled: bool = False
    statuses: list[str] = field(default_factory=list)  # pull/create status lines, repeats collapsed
    report: ModelReport | None = None
    host: str = ""

    @property
    def verification(self) -> Verification | None:
        return self.report.verification if self.report is not None else None

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
            "report": self.report.to_dict() if self.report is not None else None,
            "verify": self.verification.to_dict() if self.verification is not None else None,
        }


REQUIRES_SINCE = "0.14.0"  # the first Ollama that stores REQUIRES (reference/ollama.md §8)


@dataclass
class BuildOptions:
    force: bool = False  # re-create even when up to date
    no_pull: bool = False  # fail instead of pulling a missing base
    verify: bool = False  # load the model and check its runtime context


class Builder:
    """Runs plans against one server. Each job uses its own HTTP client (thread safety)."""

    def __init__(
        self,
        host: str | None,
        timeout: float | None,
        options: BuildOptions | None = None,
        *,
        on_event: EventSink = ignore,
        records: BuildRecords | None = None,
    ) -> None:
        self.host = host
        self.timeout = timeout
        self.options = options or BuildOptions()
        self.on_event = on_event
        self.records = records if records is not None else BuildRecords()

    def client(self) -> OllamaClient:
        return OllamaClient(self.host, timeout=self.timeout)

    def run(self, plan: BuildPlan, job: str | None = None) -> BuildOutcome:
        with self.client() as client:
            return _BuildJob(self, client, plan, job).run()


class _BuildJob:
    """One profile's build against one server."""

    def __init__(self, builder: Builder, client: OllamaClient, plan: BuildPlan, job: str | None) -> None:
        self.builder = builder
        self.options = builder.options
        self.client = client
        self.plan = plan
        self.job = job
        self.outcome = BuildOutcome(plan, "created", host=client.display_host)

    def status(self, text: str) -> None:
        self.builder.on_event(Status(text, self.job))

    def drain(self, events: Iterator[dict[str, Any]]) -> None:
        statuses = self.outcome.statuses
        for obj in events:
            event = progress_event(obj, self.job)
            if event is not None:
                self.builder.on_event(event)
            status = obj.get("status")
            if isinstance(status, str) and status and (not statuses or statuses[-1] != status):
                statuses.append(status)

    def run(self) -> BuildOutcome:
        client, plan, outcome = self.client, self.plan, self.outcome
        version = client.require_version()
        requires = plan.request.get("requires")
        if requires and older_than(version, str(requires)):
            # Ollama stores REQUIRES but does not enforce it; say so rather than fail.
            plan.warnings.append(
                Diagnostic(
                    "requires_newer",
                    f"the profile requires Ollama {requires}, the server at {client.display_host} is {version}",
                    field="requires",
                )
            )
        deployed = client.show_or_none(plan.name)
        base_show = client.show_or_none(plan.base_model) if plan.base_model else None
        if deployed is not None:
            tags = client.tags()
            reasons = ["--force"] if self.options.force else self.mismatch(deployed, base_show, tags, version)
            if not reasons:
                outcome.status = "up_to_date"
                self.status("up to date")
                outcome.report = self.report(deployed, tags, base_show)
                return outcome
            outcome.reasons = reasons
        base_show = self.ensure_base(base_show)
        for blob in plan.blobs:
            self.ensure_blob(blob)
        self.status("creating model")
        self.drain(client.create(plan.request))
        self.status("success")
        deployed = client.show(plan.name)
        tags = client.tags()
        self.builder.records.put(
            (find_entry(tags, plan.name) or {}).get("digest"),
            {
                "name": plan.name,
                "host": client.display_host,
                "fingerprint": request_fingerprint(plan.request),
                "base_blobs": modelfile_blobs(base_show)[0] if base_show else [],
            },
        )
        outcome.report = self.report(deployed, tags, base_show)
        return outcome

    def ensure_base(self, base_show: dict[str, Any] | None) -> dict[str, Any] | None:
        """Pull a base model the server lacks (unless --no-pull); its /api/show after."""
        base = self.plan.base_model
        if not base or base_show is not None:
            return base_show
        where = self.client.display_host
        if self.options.no_pull:
            raise ServerError(
                f"base model {base} is not on the server at {where} and --no-pull was given "
                f"(pull it with `ollama pull {base}`, or drop --no-pull)",
                code="base_missing",
            )
        self.status(f"pulling {base}")
        try:
            self.drain(self.client.pull(base))
        except ServerError as exc:
            raise ServerError(
                f"cannot pull the base model {base}: {exc.message}", status=exc.status, code="pull_failed"
            ) from None
        self.outcome.pulled = True
        return self.client.show(base)

    def mismatch(
        self, deployed: dict[str, Any], base_show: dict[str, Any] | None, tags: dict[str, Any], version: str
    ) -> list[str]:
        plan = self.plan
        entry = find_entry(tags, plan.name)
        record = self.builder.records.get((entry or {}).get("digest"))
        if record is not None and record.get("fingerprint") == request_fingerprint(plan.request):
            # Exactly what we created. Only a base model re-pulled since then makes it stale.
            if base_show is None or not plan.base_model:
                return []
            if sorted(record.get("base_blobs") or []) == sorted(modelfile_blobs(base_show)[0]):
                return []
            return [f"the base model {plan.base_model} changed since the last build"]
        request: Mapping[str, Any] = plan.request
        if older_than(version, REQUIRES_SINCE):
            # Servers before REQUIRES existed drop the field: comparing it would rebuild forever.
            request = {k: v for k, v in request.items() if k != "requires"}
        return differences(request, deployed, base_show)

    def ensure_blob(self, blob: Blob) -> None:
        blob.present = self.client.blob_exists(blob.digest)
        if blob.present:
            self.status(f"using existing blob {blob.key} ({blob.digest[:19]})")
            return
        label = f"uploading {blob.key}"

        def sent(n: int) -> None:
            blob.uploaded_bytes = n
            self.builder.on_event(Transfer(f"upload:{blob.digest}", label, n, blob.size, self.job))

        self.client.upload_blob(blob.path, blob.digest, sent)
        blob.uploaded_bytes = max(blob.uploaded_bytes, blob.size)

    def report(
        self, deployed: dict[str, Any], tags: dict[str, Any] | None, base_show: dict[str, Any] | None
    ) -> ModelReport:
        plan = self.plan
        report = build_report(
            deployed,
            name=plan.name,
            host=self.client.display_host,
            tags_entry=find_entry(tags, plan.name),
            profile_parameters=plan.request.get("parameters") or {},
            base_show=base_show if plan.base_model else None,
        )
        if self.options.verify:
            self.status("loading the model to verify")
            report.verification = Verification(verify_runtime(self.client, report))
        else:
            runtime_if_loaded(self.client, report)
        return report


def run_builds(plans: Sequence[BuildPlan], builder: Builder, *, jobs: int = 1) -> list[BuildOutcome | ModelctlError]:
    """Run several builds, ``jobs`` at a time; results (or errors) in input order.

    Workers are daemon threads, so Ctrl-C stops the command at once instead of waiting for
    running uploads or creates to finish. A bug in a worker is re-raised here.
    """
    multi = len(plans) > 1
    results: list[BuildOutcome | ModelctlError | BaseException | None] = [None] * len(plans)

    def one(i: int, plan: BuildPlan) -> None:
        try:
            results[i] = builder.run(plan, plan.name if multi else None)
        except ModelctlError as exc:
            results[i] = exc
        except BaseException as exc:  # handed to the main thread, which raises it
            results[i] = exc

    if jobs <= 1 or len(plans) <= 1:
        for i, plan in enumerate(plans):
            one(i, plan)
    else:
        _in_threads(one, plans, jobs)
    out: list[BuildOutcome | ModelctlError] = []
    for r in results:
        if isinstance(r, (BuildOutcome, ModelctlError)):
            out.append(r)
        elif isinstance(r, BaseException):
            raise r
        else:  # pragma: no cover - every worker stores a result
            raise RuntimeError("a build produced no result")
    return out


def _in_threads(one: Callable[[int, BuildPlan], None], plans: Sequence[BuildPlan], jobs: int) -> None:
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


# -------------------------------------------------------------------------------------------
# The job
# -------------------------------------------------------------------------------------------


@dataclass
class BuildFailure:
    """A profile whose build failed while others finished."""

    name: str
    profile: Path | None
    error: ModelctlError

    def diagnostic(self) -> Diagnostic:
        d = self.error.diagnostic()
        return Diagnostic(d.code, f"{self.name}: {d.message}", d.file, d.line, d.column, d.field)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "profile": str(self.profile) if self.profile else None,
            "error": self.error.diagnostic().to_dict(),
        }


@dataclass
class BuildResult:
    """What ``build`` did for each profile: outcomes (in order) and the builds that failed."""

    dry_run: bool
    outcomes: list[BuildOutcome]
    failures: list[BuildFailure] = field(default_factory=list)

    @property
    def verify_failures(self) -> list[BuildOutcome]:
        return [o for o in self.outcomes if o.verification is not None and not o.verification.ok]

    @property
    def warnings(self) -> list[Diagnostic]:
        """Every outcome's warnings, named by model when there are several."""
        out: list[Diagnostic] = []
        for o in self.outcomes:
            prefix = f"{o.plan.name}: " if len(self.outcomes) > 1 else ""
            out += [Diagnostic(w.code, prefix + w.message, w.file, w.line, w.column, w.field) for w in o.warnings]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "builds": [o.to_dict() for o in self.outcomes],
            "failed": [f.to_dict() for f in self.failures],
        }


def build(
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
    on_event: EventSink = ignore,
) -> BuildResult:
    """Build each profile on the server and report what it made.

    Every profile is loaded, rendered and checked first (ProfileError & co name the problem),
    then the server is asked for its version, failing fast (ServerUnreachable) before
    gigabytes of local files are hashed. When every build fails, their errors are raised
    together; when some finish, the failures are in ``BuildResult.failures``.
    """
    loaded = [load_profile(ref, overrides) for ref in refs]
    names = [lp.profile.name for lp in loaded]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput(f"several profiles create the same model: {', '.join(dupes)}", field="name")
    rendered = [render(lp, template=template, paths="absolute") for lp in loaded]
    if not dry_run:
        with OllamaClient(host, timeout=timeout) as client:
            client.require_version()
    plans = [plan_profile(lp, r, on_event=on_event) for lp, r in zip(loaded, rendered, strict=True)]
    if dry_run:
        return BuildResult(True, [BuildOutcome(p, "planned") for p in plans])
    builder = Builder(host, timeout, BuildOptions(force, no_pull, verify), on_event=on_event)
    results = run_builds(plans, builder, jobs=jobs)
    outcomes = [r for r in results if isinstance(r, BuildOutcome)]
    errors = [(p, r) for p, r in zip(plans, results, strict=True) if isinstance(r, ModelctlError)]
    failures = [BuildFailure(p.name, p.profile_path, e) for p, e in errors]
    if len(failures) == 1 and not outcomes:
        raise failures[0].error
    if failures and not outcomes:
        raise ErrorGroup([f.error for f in failures], [f.diagnostic() for f in failures])
    return BuildResult(False, outcomes, failures)
