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
reported as :mod:`modelctl.common.events`; the result is a :class:`BuildResult`.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypedDict

from modelctl.common.events import EventSink, ProfileDone, Status, Transfer, ignore, progress_event
from modelctl.common.files import (
    check_regular,
    check_writable_regular,
    confinement_root,
    locked_beside,
    open_regular,
    outside,
    read_bounded,
    sha256_file,
    state_dir,
    write_atomic,
)
from modelctl.common.jsontypes import JSONObject, json_of
from modelctl.common.limits import RECORDS_BYTES
from modelctl.common.units import download_size
from modelctl.errors import (
    Diagnostic,
    ErrorGroup,
    ExitCode,
    InvalidInput,
    JobResult,
    ModelctlError,
    ServerError,
    gather,
)
from modelctl.jobs.drift import (
    FEATURE_SINCE,
    Difference,
    differences,
    inherited_parameters,
    request_fingerprint,
    unsupported_fields,
)
from modelctl.jobs.lock import Lock, make_entry, read_lock
from modelctl.jobs.profiles import load_profile
from modelctl.modelfile.grammar import ModelSpec
from modelctl.modelfile.render import Rendered, render
from modelctl.ollama.hosts import HostRef, HostSpec
from modelctl.ollama.registry import http_registry_error, http_registry_hint, is_insecure, registry_of
from modelctl.ollama.session import HostSession, session_for
from modelctl.ollama.wire import find_entry, modelfile_blobs, older_than
from modelctl.profile.names import model_hint
from modelctl.profile.params import typed_parameters
from modelctl.profile.profile import (
    LoadedProfile,
    local_path,
    resolve_path,
    same_local_path,
    split_abstract,
)

if TYPE_CHECKING:  # pragma: no cover
    # the report job (memory estimates, probes) loads only when a report is composed
    from modelctl.jobs.show import ModelReport, Verification
    from modelctl.ollama.shapes import CreateRequest, ProgressLine, PsResponse, ShowResponse, TagsResponse
    from modelctl.profile.params import Params

BlobKind = Literal["files", "adapters", "draft_files"]
Status_ = Literal["created", "up_to_date", "planned"]
_BLOB_KINDS: tuple[BlobKind, ...] = ("files", "adapters", "draft_files")

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

    def to_dict(self) -> JSONObject:
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
    request: CreateRequest
    blobs: list[Blob]
    base_model: str | None
    profile_parameters: Params
    warnings: list[Diagnostic] = field(default_factory=list)


HashProgress = Callable[[Path, int, int], None]


@dataclass
class _LocalFiles:
    """What a Modelfile's paths resolve to, as Ollama's CLI resolves them."""

    from_name: str | None = None  # the FROM model name (the last one wins)
    model: list[Path] = field(default_factory=list)  # every FROM file: weights, projectors
    adapters: list[Path] = field(default_factory=list)
    draft: list[Path] = field(default_factory=list)


#: The digest of a local file that was not read (``plan --no-local-files``): never sent anywhere.
UNREAD = "unread (--no-local-files)"


def _unread_files(spec: ModelSpec, base_dir: Path) -> _LocalFiles:
    """The local paths as the Modelfile names them, none looked at (``--no-local-files``)."""
    out = _LocalFiles()
    for value in spec.froms:
        local = local_path(value, base_dir)
        if local is None:
            out.from_name = value
        else:
            out.model.append(local)
    out.adapters = [local_path(v, base_dir) or (base_dir / v) for v in spec.adapters][-1:]
    out.draft = list(dict.fromkeys(resolve_path(v, base_dir) for v in spec.drafts))
    return out


def _local_files(spec: ModelSpec, base_dir: Path, profile_path: Path | None) -> _LocalFiles:
    out = _LocalFiles()
    where = str(profile_path or "")
    from_paths: list[Path] = []
    root = confinement_root(base_dir)
    for value in spec.froms:
        local = local_path(value, base_dir)
        if local is None:
            out.from_name = value  # the last name wins, like Ollama's CLI
            continue
        if not local.exists():
            raise InvalidInput(f"local model not found: {local}", file=where, field="from")
        from_paths.append(local)
        out.model += _local_model_files(local, root, "from")
    for value in spec.adapters:
        local = local_path(value, base_dir) or (base_dir / value)
        if not local.exists():
            raise InvalidInput(f"adapter not found: {local}", file=where, field="adapters")
        # Each ADAPTER line replaces the previous one (Ollama's CLI), so only the last counts.
        out.adapters = _local_model_files(local, root, "adapters")
    out.draft = _draft_files(spec, base_dir, from_paths, root, where)
    return out


def _draft_files(spec: ModelSpec, base_dir: Path, from_paths: list[Path], root: Path | None, where: str) -> list[Path]:
    """Every DRAFT line's files, merged (parser/parser.go CreateRequest since v0.30.0): each path must
    exist and must not be a FROM path; a file named twice is sent once."""
    files: dict[Path, None] = {}
    for value in spec.drafts:
        local = resolve_path(value, base_dir)
        if not local.exists():
            raise InvalidInput(f"draft model not found: {local}", file=where, field="draft")
        if any(same_local_path(local, p) for p in from_paths):
            raise InvalidInput(
                f"DRAFT must not reference the same local path as FROM: {local}", file=where, field="draft"
            )
        files.update(dict.fromkeys(_local_model_files(local, root, "draft")))
    return list(files)


def _local_model_files(local: Path, root: Path | None, field_name: str) -> list[Path]:
    """A FROM/ADAPTER/DRAFT path's files: a folder's model files, or the file itself (a regular
    file: never a FIFO or a device), all inside ``root`` when confined (--confine).

    A single file keeps the path as given (Ollama's fileDigestMap), so a link into a download
    cache is sent under its own name, not the cache's hash-named target."""
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


def _unread_blobs(groups: Mapping[BlobKind, list[Path]]) -> list[Blob]:
    return [Blob(kind, p.name, p, 0, UNREAD) for kind, paths in groups.items() for p in paths]


def _hash_callback(blob: Blob, progress: HashProgress) -> Callable[[int], None]:
    return lambda done: progress(blob.path, done, blob.size)


def _create_request(
    spec: ModelSpec,
    name: str,
    from_name: str | None,
    blobs: list[Blob],
    quantize: tuple[str | None, str | None],
    warnings: list[Diagnostic],
) -> CreateRequest:
    """The /api/create JSON, field by field as Ollama's CLI fills it."""
    request: CreateRequest = {"model": name}
    if from_name is not None:
        request["from"] = from_name
    for kind in _BLOB_KINDS:
        digests = {b.key: b.digest for b in blobs if b.kind == kind}
        if digests:
            request[kind] = digests
    texts: tuple[Literal["template"], Literal["system"]] = ("template", "system")
    for key in texts:
        value = spec.template if key == "template" else spec.system
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
    if quantize[0]:
        request["quantize"] = quantize[0]
    if quantize[1]:
        request["draft_quantize"] = quantize[1]
    if spec.requires:
        request["requires"] = spec.requires.removeprefix("v")
    if spec.renderer:
        request["renderer"] = spec.renderer
    if spec.parser:
        request["parser"] = spec.parser
    request["stream"] = True
    return request


def assemble(
    spec: ModelSpec,
    *,
    name: str,
    base_dir: Path,
    quantize: str | None = None,
    draft_quantize: str | None = None,
    profile_path: Path | None = None,
    modelfile: str = "",
    hash_progress: HashProgress | None = None,
    local_files: bool = True,
) -> BuildPlan:
    """Turn a parsed Modelfile into the /api/create request and its blob plan.

    ``base_dir`` is where relative paths resolve (the profile's directory). Local files
    (FROM, ADAPTER, DRAFT) are hashed here, streaming. Nothing is sent.
    """
    warnings: list[Diagnostic] = []
    local = _local_files(spec, base_dir, profile_path) if local_files else _unread_files(spec, base_dir)
    from_name = local.from_name
    if from_name is not None and local.model:
        warnings.append(
            Diagnostic(
                "from_and_files",
                f"both a model name ({from_name}) and local files are given; "
                "the server uses the model name and ignores the files",
                field="from",
            )
        )
    if draft_quantize and not local.draft:
        raise InvalidInput("draft_quantize needs a DRAFT model", field="draft_quantize")
    groups: dict[BlobKind, list[Path]] = {"files": local.model, "adapters": local.adapters, "draft_files": local.draft}
    blobs = _hashed_blobs(groups, hash_progress) if local_files else _unread_blobs(groups)
    request = _create_request(spec, name, from_name, blobs, (quantize, draft_quantize), warnings)
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


def plan_profile(
    loaded: LoadedProfile, rendered: Rendered, *, on_event: EventSink = ignore, local_files: bool = True
) -> BuildPlan:
    """Assemble the request and blob plan of a rendered (and round-trip checked) profile;
    ``local_files=False``: local files are named, not read (their digests are :data:`UNREAD`)."""
    prof = loaded.profile

    def hashing(path: Path, done: int, total: int) -> None:
        on_event(Transfer(f"hash:{path}", f"hashing {path.name}", done, total))

    plan = assemble(
        rendered.spec,
        name=prof.name,
        base_dir=loaded.path.parent,
        quantize=prof.quantize,
        draft_quantize=prof.draft_quantize,
        profile_path=loaded.path,
        modelfile=rendered.text,
        hash_progress=hashing,
        local_files=local_files,
    )
    seen = {(w.code, w.field) for w in loaded.warnings}
    plan.warnings = list(loaded.warnings) + [w for w in plan.warnings if (w.code, w.field) not in seen]
    plan.warnings += rendered.spec.warnings
    return plan


# -------------------------------------------------------------------------------------------
# Build records: proof that a manifest came from a request (when the server rewrote weights)
# -------------------------------------------------------------------------------------------


class BuildRecord(TypedDict):
    """What ``builds.json`` keeps of a build (and ``recorded_at``, when it was written)."""

    name: str
    host: str
    fingerprint: str  # drift.request_fingerprint of the request
    base_blobs: list[str]  # the base model's FROM blobs then


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
        self._cache: Mapping[str, object] | None = None  # read once per run
        self.pending: list[tuple[str | None, BuildRecord]] = []  # this run's records, until flush()

    def _read(self) -> dict[str, object]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(read_bounded(self.path, RECORDS_BYTES, what="build records file"))
        except (InvalidInput, ValueError):  # damaged, oversized or not a file: a record only saves a rebuild
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, manifest_digest: str | None) -> dict[str, object] | None:
        """The record of a manifest, as the file has it (its fields are checked where they are read)."""
        if not manifest_digest:
            return None
        with self._lock:
            if self._cache is None:
                self._cache = self._read()
            entry = self._cache.get(manifest_digest)
        return entry if isinstance(entry, dict) else None

    def put(self, manifest_digest: str | None, entry: BuildRecord) -> None:
        self.put_many([(manifest_digest, entry)])

    def add(self, manifest_digest: str | None, entry: BuildRecord) -> None:
        """Keep a record for :meth:`flush` (builds on several hosts, or in threads, add at once)."""
        with self._lock:
            self.pending.append((manifest_digest, entry))

    def flush(self) -> None:
        """Write the records added this run: one read and one atomic write of the file."""
        with self._lock:
            pending, self.pending = self.pending, []
        self.put_many(pending)

    def put_many(self, records: Sequence[tuple[str | None, BuildRecord]]) -> None:
        """Add records and write the file once (atomically, under its lock file)."""
        records = [(d, e) for d, e in records if d]
        if not records:
            return

        def age(k: str) -> float:
            try:
                return float(data[k].get("recorded_at", 0))
            except (TypeError, ValueError):
                return 0.0

        # Read, change and write under a lock file beside builds.json, so that two `modelctl
        # build` processes at once never drop each other's records (the thread lock covers
        # builds running in threads of this process).
        # A FIFO, device or folder as builds.json (or its lock file) is refused before it is opened
        # (InvalidInput), never waited on: the build is done, a record only saves a rebuild later.
        with self._lock, contextlib.suppress(OSError, InvalidInput):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with locked_beside(self.path):
                # Entries that are not records (a damaged or hand-edited file) are dropped.
                data = {k: v for k, v in self._read().items() if isinstance(v, dict)}
                now = time.time()
                for digest, entry in records:
                    data[str(digest)] = {**entry, "recorded_at": now}
                if len(data) > self.MAX_ENTRIES:
                    oldest = sorted(data, key=age)
                    for k in oldest[: len(data) - self.MAX_ENTRIES]:
                        del data[k]
                check_writable_regular(self.path, what="build records file")
                write_atomic(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n")
                self._cache = data


# -------------------------------------------------------------------------------------------
# The verdict: the one rule (modelctl.jobs.drift) applied to what the server says
# -------------------------------------------------------------------------------------------


@dataclass
class Verdict:
    """A profile's request against the model of its name: ``build``'s up-to-date check and
    ``plan``'s diff are this one value, so they cannot disagree."""

    deployed: ShowResponse | None  # the model's /api/show; None: not on the server
    base: ShowResponse | None  # the base model's /api/show (None: no `from`, or not on the server)
    version: str
    differences: list[Difference]
    inherited: Params  # parameters in force only because the base has them: not drift
    manifest_digest: str | None = None

    @property
    def in_sync(self) -> bool:
        return self.deployed is not None and not self.differences


def verdict(plan: BuildPlan, session: HostSession, *, records: BuildRecords, lock: Lock | None = None) -> Verdict:
    """Ask the server (each question once per run, see :class:`HostSession`) and apply the rule.

    A build record of this machine, or else the lock file's entry for this host, proves a
    match where the server rewrote the weights (both are about one manifest digest).
    """
    version = session.version()
    deployed = session.show(plan.name)
    base = session.show(plan.base_model) if plan.base_model else None
    if deployed is None:
        source = plan.base_model or ", ".join(b.key for b in plan.blobs if b.kind == "files") or "its files"
        missing = Difference("model", "+", plan.name, None, f"not on the server: it will be created from {source}")
        return Verdict(None, base, version, [missing], {})
    digest = (find_entry(session.tags(), plan.name) or {}).get("digest")
    record = records.get(digest)
    if record is None and lock is not None:
        record = lock.record_for(session.key, plan.name, digest)
    diffs = differences(plan.request, deployed, base, record=record, version=version)
    return Verdict(deployed, base, version, diffs, inherited_parameters(plan.request, deployed, base), digest)


# -------------------------------------------------------------------------------------------
# Running a build
# -------------------------------------------------------------------------------------------


@dataclass
class Shipped:
    """How a ``--via-registry`` build reached a host: the registry reference it came through, the
    registry's manifest digest, and whether it was built or pushed from this host (every host
    pulls it, the one that pushed too: only the manifest is new there)."""

    reference: str
    digest: str | None
    built_here: bool
    pushed_here: bool = False

    def to_dict(self) -> JSONObject:
        return {
            "reference": self.reference,
            "digest": self.digest,
            "built_here": self.built_here,
            "pushed_here": self.pushed_here,
        }


@dataclass
class BuildOutcome:
    plan: BuildPlan
    status: Status_
    reasons: list[str] = field(default_factory=list)
    pulled: bool = False
    statuses: list[str] = field(default_factory=list)  # pull/create status lines, repeats collapsed
    report: ModelReport | None = None
    host: str = ""
    verdict: Verdict | None = None  # what the server had before (None in a dry run)
    base_show: ShowResponse | None = None
    elapsed: float = 0.0  # seconds from its start to its create's end (or to finding it up to date)
    pull_bytes: int | None = None  # the size of the base model pulled (its layers' totals)
    replaced: bool = False  # a model of its name was on the server before
    shipped: Shipped | None = None  # --via-registry: the reference it came through
    blobs: list[Blob] | None = None  # the local files as sent to this host (None: the plan's, nothing sent)

    @property
    def verb(self) -> str:
        """What happened, in a word for people: created (new), changed (rebuilt), up to date, planned."""
        if self.status == "created":
            return "changed" if self.replaced else "created"
        return {"up_to_date": "up to date", "planned": "planned"}[self.status]

    @property
    def sent_blobs(self) -> list[Blob]:
        """The local files as this host got them (present before, bytes uploaded); the plan's when
        nothing was sent (a dry run)."""
        return self.blobs if self.blobs is not None else self.plan.blobs

    @property
    def uploaded_bytes(self) -> int:
        """Bytes of local files sent to this host (none to a host that pulled it from a registry)."""
        return sum(b.uploaded_bytes for b in self.sent_blobs)

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

    def to_dict(self) -> JSONObject:
        diffs = self.verdict.differences if self.verdict is not None and self.status == "created" else []
        return {
            "profile": str(self.plan.profile_path) if self.plan.profile_path else None,
            "name": self.plan.name,
            "host": self.host,
            "status": self.status,
            "elapsed_s": round(self.elapsed, 3),
            "reasons": self.reasons,
            "differences": [d.to_dict() for d in diffs],
            "pulled": self.pulled,
            "pull_bytes": self.pull_bytes,
            "statuses": self.statuses,
            "request": json_of(self.plan.request),
            "blobs": [b.to_dict() for b in self.sent_blobs],
            "uploaded_bytes": self.uploaded_bytes,
            "report": self.report.to_dict() if self.report is not None else None,
            "verify": self.verification.to_dict() if self.verification is not None else None,
            "registry": self.shipped.to_dict() if self.shipped is not None else None,
        }


@dataclass(kw_only=True, frozen=True)
class BuildOptions:
    """Every setting of a build, once: ``build`` and ``build_hosts`` take this and nothing else
    that says how to build (the host, timeout, session and event sink say where and to whom)."""

    dry_run: bool = False  # plan only: nothing is uploaded or created
    force: bool = False  # re-create even when up to date
    no_pull: bool = False  # fail instead of pulling a missing base
    verify: bool = False  # load the model and check its runtime context
    only_changed: bool = False  # models in sync get no report (no show, tags or ps for them)
    reports: bool | None = None  # compose each model's report (an extra /api/show each, one /api/ps); None: one profile
    jobs: int = 1  # profiles built at once on a host
    overrides: Sequence[str] = ()  # --set values
    template: str | None = None  # a template file replacing the profiles' own
    lock: str | os.PathLike[str] | None = None  # the lock file to read and write (docs/lock.md)
    insecure_registries: Sequence[str] = ()  # registries served over http (HOST or HOST:PORT): pulls say insecure
    via_registry: bool = False  # several hosts: build each profile once, ship it through the inventory's registry

    def on_host(self, plans: int, host: HostRef = None) -> BuildOptions:
        """These options for one host building ``plans`` profiles: ``reports`` decided (None: only
        for one profile), and an inventory host's own insecure registries added."""
        extra = tuple(host.insecure_registries) if isinstance(host, HostSpec) else ()
        reports = plans == 1 if self.reports is None else self.reports
        return replace(self, reports=reports, insecure_registries=(*self.insecure_registries, *extra))


class Builder:
    """Runs plans against one server through one :class:`HostSession` (shared by the jobs)."""

    def __init__(
        self,
        session: HostSession,
        options: BuildOptions | None = None,
        *,
        on_event: EventSink = ignore,
        records: BuildRecords | None = None,
        lock: Lock | None = None,
    ) -> None:
        self.session = session
        self.options = options or BuildOptions(reports=True)
        self.on_event = on_event
        self.records = records if records is not None else BuildRecords()
        self.lock = lock

    def run(self, plan: BuildPlan, job: str | None = None) -> BuildOutcome:
        """Create the model unless it is in sync; the report comes later, from :meth:`finish`."""
        return _BuildJob(self, plan, job).run()

    def finish(self, outcomes: Sequence[BuildOutcome]) -> dict[int, ModelctlError]:
        """After every create: one fresh /api/tags, the build records (added, for the owner of the
        records to flush once), the reports when wanted (and ``--verify``), the lock entries. Returns
        the outcomes (by index) that failed here."""
        session = self.session
        created = [o for o in outcomes if o.status == "created"]
        failed: dict[int, ModelctlError] = {}
        if not outcomes:
            return failed
        tags = session.tags(refresh=bool(created))
        reports = bool(self.options.reports) or self.options.verify
        ps: PsResponse | None = None
        for i, o in enumerate(outcomes):
            try:
                if o.status == "created":
                    self._record(o, tags)
                if reports and (o.status == "created" or not self.options.only_changed):
                    ps = self._report(o, tags, ps)
                if self.lock is not None:
                    self._lock_entry(o, tags)
            except ModelctlError as exc:
                failed[i] = exc
        return failed

    def _record(self, o: BuildOutcome, tags: TagsResponse) -> None:
        plan = o.plan
        self.records.add(
            (find_entry(tags, plan.name) or {}).get("digest"),
            {
                "name": plan.name,
                "host": self.session.display_host,
                "fingerprint": request_fingerprint(plan.request),
                "base_blobs": modelfile_blobs(o.base_show)[0] if o.base_show else [],
            },
        )

    def _report(self, o: BuildOutcome, tags: TagsResponse, ps: PsResponse | None) -> PsResponse | None:
        """Compose ``o.report``; returns the /api/ps answer (asked once, when a report needs it)."""
        from modelctl.jobs.show import apply_runtime, build_report, verify_runtime

        plan, session = o.plan, self.session
        deployed = session.show(plan.name)
        if deployed is None:
            raise ServerError(f"{plan.name} is not on the server at {session.display_host} after creating it")
        base_show = o.base_show if o.status == "created" else (o.verdict.base if o.verdict else None)
        report = build_report(
            deployed,
            name=plan.name,
            host=session.display_host,
            tags_entry=find_entry(tags, plan.name),
            profile_parameters=plan.request.get("parameters") or {},
            base_show=base_show if plan.base_model else None,
            ollama_version=session.version(),
        )
        o.report = report
        if self.options.verify:
            self.on_event(Status("loading the model to verify", plan.name))
            report.verification = verify_runtime(session.client, report, version=session.version())
            return None  # loading changed what /api/ps says
        if ps is None:
            ps = session.client.ps()
        entry = find_entry(ps, plan.name)
        if entry is not None:
            apply_runtime(report, entry, loaded_before=True)
        return ps

    def _lock_entry(self, o: BuildOutcome, tags: TagsResponse) -> None:
        assert self.lock is not None
        plan, session = o.plan, self.session
        deployed = session.show(plan.name)
        if deployed is None:
            return
        base_show = o.base_show if o.status == "created" else (o.verdict.base if o.verdict else None)
        runtime = o.report.facts.context_runtime if o.report is not None else None
        entry = make_entry(
            model=plan.name,
            profile=plan.profile_path,
            lock_dir=self.lock.path.parent,
            request=plan.request,
            fingerprint=request_fingerprint(plan.request),
            deployed=deployed,
            tags=tags,
            base_show=base_show,
            runtime_context=runtime,
        )
        self.lock.put(session.key, session.version(), entry)


class _BuildJob:
    """One profile's build against one server."""

    def __init__(self, builder: Builder, plan: BuildPlan, job: str | None) -> None:
        self.builder = builder
        self.options = builder.options
        self.session = builder.session
        self.client = builder.session.client
        self.plan = plan
        self.job = job
        blobs = [replace(b) for b in plan.blobs]  # this host's: several hosts build one plan at once
        self.outcome = BuildOutcome(plan, "created", host=self.session.display_host, blobs=blobs)

    def status(self, text: str) -> None:
        self.builder.on_event(Status(text, self.job))

    def drain(self, events: Iterator[ProgressLine], pulling: str | None = None) -> None:
        """Report a create or pull stream; for a pull of ``pulling``, say its size once it is known."""
        statuses = self.outcome.statuses
        sizes: dict[str, int] = {}
        for obj in events:
            if pulling is not None:
                self._pull_size(pulling, obj, sizes)
            event = progress_event(obj, self.job)
            if event is not None:
                self.builder.on_event(event)
            status = obj.get("status")
            if isinstance(status, str) and status and (not statuses or statuses[-1] != status):
                statuses.append(status)

    def _pull_size(self, model: str, obj: ProgressLine, sizes: dict[str, int]) -> None:
        """Ollama's pull stream gives each layer's size as its download starts (the weights first, the
        bulk of the model): announce the model with that size before its bytes flow."""
        total, digest = obj.get("total"), obj.get("digest")
        if not isinstance(total, int) or isinstance(total, bool) or total <= 0 or not isinstance(digest, str):
            return
        if not sizes:
            self.status(f"pulling {model}: {download_size(total)}")
        sizes.setdefault(digest, total)
        self.outcome.pull_bytes = sum(sizes.values())

    def run(self) -> BuildOutcome:
        plan, outcome = self.plan, self.outcome
        version = self.session.require_version()
        check_server_version(plan, version, self.session.display_host)
        if self.options.force:
            # Re-created whatever the verdict: the model list says whether it is there, and only the
            # base is asked about (a base the server lacks is pulled).
            outcome.replaced = find_entry(self.session.tags(), plan.name) is not None
            outcome.reasons = ["--force"] if outcome.replaced else []
            base = self.session.show(plan.base_model) if plan.base_model else None
            return self.create(base)
        v = outcome.verdict = verdict(plan, self.session, records=self.builder.records, lock=self.builder.lock)
        outcome.replaced = v.deployed is not None
        if v.deployed is not None:
            if v.in_sync:
                outcome.status = "up_to_date"
                self.status("up to date")
                return outcome
            else:
                outcome.reasons = [d.reason() for d in v.differences]
        return self.create(v.base)

    def create(self, base_show: ShowResponse | None) -> BuildOutcome:
        """Pull a missing base, upload missing blobs, create."""
        plan, outcome = self.plan, self.outcome
        outcome.base_show = self.ensure_base(base_show)
        for blob in outcome.sent_blobs:
            self.ensure_blob(blob)
        self.status("creating model")
        self.drain(self.client.create(plan.request))
        self.session.forget(plan.name)
        self.status("success")
        return outcome

    def ensure_base(self, base_show: ShowResponse | None) -> ShowResponse | None:
        """Pull a base model the server lacks (unless --no-pull); its /api/show after."""
        base = self.plan.base_model
        if not base or base_show is not None:
            return base_show
        where = self.session.display_host
        if self.options.no_pull:
            hint = model_hint(self.client, base, profiles=False)
            raise ServerError(
                f"base model {base} is not on the server at {where} and --no-pull was given"
                + (f": {hint}" if hint else f" (pull it with `ollama pull {base}`, or drop --no-pull)"),
                code="base_missing",
            )
        self.status(f"pulling {base}")
        insecure = is_insecure(base, self.options.insecure_registries)
        try:
            self.drain(self.client.pull(base, insecure=insecure), pulling=base)
        except ServerError as exc:
            hint = self._pull_hint(base, exc.message, insecure=insecure)
            raise ServerError(
                f"cannot pull the base model {base}: {exc.message}" + (f"; {hint}" if hint else ""),
                status=exc.status,
                code="pull_failed",
            ) from None
        self.outcome.pulled = True
        self.session.forget(base)
        return self.client.show(base)

    def _pull_hint(self, base: str, error: str, *, insecure: bool) -> str | None:
        """What to do about a failed pull: the option for a registry served over http, else a did-you-mean."""
        registry = registry_of(base)
        if not insecure and registry is not None and http_registry_error(error):
            return http_registry_hint(registry)
        return model_hint(self.client, base, profiles=False)

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


def version_notes(request: CreateRequest, version: str, where: str) -> list[Diagnostic]:
    """What a server of ``version`` does not store of a request, one warning each (those fields are not
    compared either, see jobs.drift); ``build`` refuses DRAFT on such a server (:func:`check_server_version`)."""
    notes: list[Diagnostic] = []
    requires = request.get("requires")
    if requires and older_than(version, str(requires)):
        # Ollama stores REQUIRES but does not enforce it; say so rather than fail.
        notes.append(
            Diagnostic(
                "requires_newer",
                f"the profile requires Ollama {requires}, the server at {where} is {version}",
                field="requires",
            )
        )
    for key in unsupported_fields(request, version):
        name = "DRAFT" if key.startswith("draft") else key.upper()
        if key == "draft_quantize":
            continue
        notes.append(
            Diagnostic(
                "unsupported_field",
                f"the server at {where} is {version}: {name} needs Ollama {FEATURE_SINCE[key]} "
                "and is ignored there (neither stored nor compared)",
                field="draft" if key == "draft_files" else key,
            )
        )
    return notes


def check_server_version(plan: BuildPlan, version: str, where: str) -> None:
    """Refuse DRAFT on a server that would build the model without it; warn about the rest."""
    if any(k.startswith("draft") for k in unsupported_fields(plan.request, version)):
        raise ServerError(
            f"{plan.name}: DRAFT needs Ollama {FEATURE_SINCE['draft_files']} or newer; the server at {where} is "
            f"{version} and would build the model without its draft (upgrade Ollama, or drop `draft`)",
            code="server_too_old",
        )
    for note in version_notes(plan.request, version, where):
        _warn_once(plan, note)


def _warn_once(plan: BuildPlan, d: Diagnostic) -> None:
    if all((w.code, w.field, w.message) != (d.code, d.field, d.message) for w in plan.warnings):
        plan.warnings.append(d)


@dataclass
class _Done:
    """One build's end: its outcome or its error, and the seconds it took."""

    result: BuildOutcome | ModelctlError
    elapsed: float


def run_builds(plans: Sequence[BuildPlan], builder: Builder, *, jobs: int = 1) -> list[BuildOutcome | ModelctlError]:
    """Run several builds, ``jobs`` at a time; results (or errors) in input order. Each build's end
    is reported as a :class:`~modelctl.common.events.ProfileDone` event as it happens.

    Workers are daemon threads, so Ctrl-C stops the command at once instead of waiting for
    running uploads or creates to finish. A bug in a worker is re-raised here.
    """
    return [d.result for d in _run_timed(plans, builder, jobs)]


def _run_timed(plans: Sequence[BuildPlan], builder: Builder, jobs: int) -> list[_Done]:
    multi = len(plans) > 1
    results: list[_Done | BaseException | None] = [None] * len(plans)

    def one(i: int, plan: BuildPlan) -> None:
        start = time.monotonic()
        try:
            outcome: BuildOutcome | ModelctlError = builder.run(plan, plan.name if multi else None)
        except ModelctlError as exc:
            outcome = exc
        except BaseException as exc:  # handed to the main thread, which raises it
            results[i] = exc
            return
        done = results[i] = _Done(outcome, time.monotonic() - start)
        if isinstance(outcome, BuildOutcome):
            outcome.elapsed = done.elapsed
            builder.on_event(ProfileDone(plan.name, outcome.verb, done.elapsed, of=len(plans)))
        else:
            builder.on_event(ProfileDone(plan.name, "failed", done.elapsed, error=outcome.message, of=len(plans)))

    if jobs <= 1 or len(plans) <= 1:
        for i, plan in enumerate(plans):
            one(i, plan)
    else:
        in_threads(one, plans, jobs)
    out: list[_Done] = []
    for r in results:
        if isinstance(r, _Done):
            out.append(r)
        elif isinstance(r, BaseException):
            raise r
        else:  # pragma: no cover - every worker stores a result
            raise RuntimeError("a build produced no result")
    return out


def in_threads(one: Callable[[int, BuildPlan], None], plans: Sequence[BuildPlan], jobs: int) -> None:
    """``one(i, plan)`` for each plan, ``jobs`` at a time in daemon threads (Ctrl-C stops at once)."""
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
    elapsed: float = 0.0

    def diagnostic(self) -> Diagnostic:
        d = self.error.diagnostic()
        return Diagnostic(d.code, f"{self.name}: {d.message}", d.file, d.line, d.column, d.field)

    def to_dict(self) -> JSONObject:
        return {
            "name": self.name,
            "profile": str(self.profile) if self.profile else None,
            "elapsed_s": round(self.elapsed, 3),
            "error": self.error.diagnostic().to_dict(),
        }


@dataclass
class BuildResult(JobResult):
    """What ``build`` did for each profile: outcomes (in order), the builds that failed, and
    the profiles skipped (abstract ones, with a note each)."""

    dry_run: bool
    outcomes: list[BuildOutcome]
    failures: list[BuildFailure] = field(default_factory=list)
    skipped: list[Diagnostic] = field(default_factory=list)
    lock: str | None = None  # the lock file written
    elapsed: float = 0.0  # the run's wall time, in seconds
    host: str = ""  # the server (credentials removed)

    @property
    def verify_failures(self) -> list[BuildOutcome]:
        return [o for o in self.outcomes if o.verification is not None and o.verification.failed]

    @property
    def warnings(self) -> list[Diagnostic]:
        """The skip notes, then every outcome's warnings, named by model when there are several."""
        out: list[Diagnostic] = list(self.skipped)
        for o in self.outcomes:
            prefix = f"{o.plan.name}: " if len(self.outcomes) > 1 else ""
            out += [Diagnostic(w.code, prefix + w.message, w.file, w.line, w.column, w.field) for w in o.warnings]
        return out

    def outcome_codes(self) -> list[ExitCode]:
        """The failed builds' codes and a failed --verify (6)."""
        codes = [f.error.exit_code for f in self.failures]
        return [*codes, ExitCode.CHECK if self.verify_failures else ExitCode.OK]

    def counts(self) -> dict[str, int]:
        """How many profiles ended each way: created, changed, up to date, planned, failed."""
        out: dict[str, int] = {}
        for verb in [o.verb for o in self.outcomes] + ["failed"] * len(self.failures):
            out[verb] = out.get(verb, 0) + 1
        return out

    def to_dict(self) -> JSONObject:
        return {
            "dry_run": self.dry_run,
            "host": self.host,
            "elapsed_s": round(self.elapsed, 3),
            "summary": {k.replace(" ", "_"): n for k, n in self.counts().items()},
            "builds": [o.to_dict() for o in self.outcomes],
            "failed": [f.to_dict() for f in self.failures],
            "skipped": [{"profile": d.file, "reason": d.message} for d in self.skipped],
            "lock": self.lock,
        }


def load_builds(
    refs: Sequence[str], overrides: Sequence[str] = (), template: str | None = None
) -> tuple[list[tuple[LoadedProfile, Rendered]], list[Diagnostic]]:
    """Every profile loaded, rendered and round-trip checked (every invalid one reported at once),
    and a note for each abstract one; two profiles making the same model are refused."""
    loaded, skipped = split_abstract(load_all(refs, overrides))
    names = [lp.profile.name for lp in loaded]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput(f"several profiles create the same model: {', '.join(dupes)}", field="name")
    return [(lp, render(lp, template=template, paths="absolute")) for lp in loaded], skipped


def load_all(
    refs: Sequence[str],
    overrides: Sequence[str] = (),
    *,
    local_files: bool = True,
    on_loaded: Callable[[LoadedProfile], None] | None = None,
) -> list[LoadedProfile]:
    """Every profile loaded; every invalid one reported at once (no server verdict is wanted
    for a run whose input is broken). ``on_loaded`` sees each profile as soon as it has loaded."""

    def one(ref: str) -> LoadedProfile:
        loaded = load_profile(ref, overrides, local_files=local_files)
        if on_loaded is not None:
            on_loaded(loaded)
        return loaded

    return gather(one, refs)


def build(
    refs: Sequence[str],
    options: BuildOptions | None = None,
    *,
    host: HostRef = None,
    timeout: float | None = None,
    session: HostSession | None = None,
    on_event: EventSink = ignore,
) -> BuildResult:
    """Build each profile on the server and report what it made (``options``: how; see BuildOptions).

    Every profile is loaded, rendered and checked first (ProfileError & co name the problem);
    abstract profiles are skipped with a note. Then the server is asked for its version,
    failing fast (ServerUnreachable) before gigabytes of local files are hashed. A model in
    sync with its profile is left alone (``only_changed``: and not even reported). When every
    build fails, their errors are raised together; when some finish, the failures are in
    ``BuildResult.failures``. ``options.lock`` names a lock file to write (docs/lock.md); ``session``
    is a host session to use (one is opened on ``host`` otherwise). ``options.reports``: compose each
    model's report (an /api/show and /api/ps more); None: only when there is one profile.
    ``options.insecure_registries``: registries served over http (``HOST`` or ``HOST:PORT``; an
    inventory host's own are added), whose base models are pulled with ``insecure: true``.
    """
    started = time.monotonic()
    opts = options or BuildOptions()
    prepared, skipped = load_builds(refs, opts.overrides, opts.template)
    the_lock = read_lock(opts.lock, missing_ok=True) if opts.lock is not None and not opts.dry_run else None
    own = session is None
    s = session if session is not None else session_for(host, timeout=timeout)
    try:
        if not opts.dry_run and prepared:
            s.require_version()
        plans = [plan_profile(lp, r, on_event=on_event) for lp, r in prepared]
        if opts.dry_run:
            return BuildResult(True, [BuildOutcome(p, "planned") for p in plans], skipped=skipped)
        records = BuildRecords()
        result = build_on(
            s, plans, opts.on_host(len(plans), host), skipped=skipped, lock=the_lock, records=records, on_event=on_event
        )
        records.flush()
        if the_lock is not None and result.outcomes:
            the_lock.write()
        if result.failures and not result.outcomes:
            raise (
                result.failures[0].error
                if len(result.failures) == 1
                else ErrorGroup([f.error for f in result.failures], [f.diagnostic() for f in result.failures])
            )
        result.elapsed = time.monotonic() - started
        return result
    finally:
        if own:
            s.close()


def build_on(
    session: HostSession,
    plans: Sequence[BuildPlan],
    options: BuildOptions,
    *,
    skipped: Sequence[Diagnostic] = (),
    lock: Lock | None = None,
    records: BuildRecords | None = None,
    on_event: EventSink = ignore,
) -> BuildResult:
    """Run assembled plans on one host (``options`` as :meth:`BuildOptions.on_host` made them).
    The caller writes ``records`` and ``lock`` (once per run)."""
    started = time.monotonic()
    session.prefetch([m for p in plans for m in ((p.base_model,) if options.force else (p.name, p.base_model))])
    builder = Builder(session, options, on_event=on_event, lock=lock, records=records)
    done = _run_timed(plans, builder, options.jobs)
    results = [d.result for d in done]
    late = builder.finish([r for r in results if isinstance(r, BuildOutcome)])
    ok_index = [i for i, r in enumerate(results) if isinstance(r, BuildOutcome)]
    for k, err in late.items():
        results[ok_index[k]] = err
    failures = [
        BuildFailure(p.name, p.profile_path, r, d.elapsed)
        for p, r, d in zip(plans, results, done, strict=True)
        if isinstance(r, ModelctlError)
    ]
    outcomes = [r for r in results if isinstance(r, BuildOutcome)]
    where = str(lock.path) if lock is not None else None
    elapsed = time.monotonic() - started
    return BuildResult(False, outcomes, failures, list(skipped), where, elapsed, session.display_host)
