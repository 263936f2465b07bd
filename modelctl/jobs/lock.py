"""The lock file: what each host made of each profile, for reproducible rebuilds and upstream drift.

``build --lock FILE`` writes (or refreshes) one entry per host and model; ``plan --lock FILE``
reads it and reports *upstream* drift: the base model's digest on the server changed since
(re-pulled), or the server's version did. The format is in docs/lock.md: JSON, keys sorted,
two-space indent, one value per line, so a diff of two lock files reads like a changelog.
Hosts are keyed by :attr:`modelctl.ollama.session.HostSession.key` (an inventory's host name where
there is one, else the URL without credentials).

An entry also keeps the request fingerprint and the model's manifest digest: on another
machine (CI) they prove, like a build record, that the deployed model is exactly what the
locked profile made, even where the server rewrote its weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict, cast

from modelctl.common.files import locked_by_name, read_bounded, write_atomic
from modelctl.common.jsontypes import JSONObject, JSONValue, json_of
from modelctl.common.limits import LOCK_BYTES
from modelctl.errors import InvalidInput
from modelctl.ollama.answers import json_type
from modelctl.ollama.wire import find_entry, modelfile_blobs, parse_parameters

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.ollama.shapes import CreateRequest, ShowResponse, TagsResponse

LOCK_VERSION = 1


class LockBase(TypedDict, total=False):
    """An entry's ``base``: the base model as it was when the model was built (checked when read)."""

    name: str | None
    digest: str | None  # its manifest digest on the host (/api/tags)
    blobs: list[str] | None  # its FROM blobs


#: ``pushed`` of a host: registry name -> {"source", "digest"}, text or null (checked when read).
Pushed = dict[str, str | None]


def text_digest(text: str | None) -> str | None:
    """``sha256:<hex>`` of a system prompt or template (None when there is none)."""
    if not text:
        return None
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class LockEntry:
    """One model on one host, as built (see docs/lock.md for each field)."""

    model: str
    profile: str | None
    model_digest: str | None
    fingerprint: str
    base: LockBase | None  # None for a model from local files
    files: dict[str, dict[str, str]]
    parameters: Mapping[str, JSONValue]  # as the server stored them
    system_digest: str | None
    template_digest: str | None
    quantization: str | None
    context: dict[str, int | None]
    via: str | None = None  # build --via-registry: the registry reference the model came through

    def to_dict(self) -> JSONObject:
        data: JSONObject = {
            "profile": self.profile,
            "model_digest": self.model_digest,
            "fingerprint": self.fingerprint,
            "base": json_of(self.base) if self.base is not None else None,
            "files": self.files,
            "parameters": self.parameters,
            "system_digest": self.system_digest,
            "template_digest": self.template_digest,
            "quantization": self.quantization,
            "context": self.context,
        }
        if self.via is not None:
            data["via"] = self.via
        return data

    @classmethod
    def from_dict(cls, model: str, data: Mapping[str, Any]) -> LockEntry:
        """An entry of a lock file, once :func:`_check_entry` has found its fields of the right kinds."""
        base = data.get("base")
        return cls(
            model=model,
            profile=_opt_str(data.get("profile")),
            model_digest=_opt_str(data.get("model_digest")),
            fingerprint=str(data.get("fingerprint") or ""),
            base=cast("LockBase", dict(base)) if isinstance(base, Mapping) else None,
            files={k: dict(v) for k, v in (data.get("files") or {}).items() if isinstance(v, Mapping)},
            parameters=dict(data.get("parameters") or {}),
            system_digest=_opt_str(data.get("system_digest")),
            template_digest=_opt_str(data.get("template_digest")),
            quantization=_opt_str(data.get("quantization")),
            context=dict(data.get("context") or {}),
            via=_opt_str(data.get("via")),
        )

    def as_record(self) -> dict[str, object]:
        """What :func:`modelctl.jobs.drift.differences` takes as proof of a match."""
        return {"fingerprint": self.fingerprint, "base_blobs": list((self.base or {}).get("blobs") or [])}


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass
class HostLock:
    """One host's part of the lock file."""

    server_version: str | None = None
    models: dict[str, LockEntry] = field(default_factory=dict)
    # ``modelctl push``: the registry names left on the host, each {"source", "digest"} (docs/lock.md)
    pushed: dict[str, Pushed] = field(default_factory=dict)

    def to_dict(self) -> JSONObject:
        data: JSONObject = {
            "server_version": self.server_version,
            "models": {name: e.to_dict() for name, e in sorted(self.models.items())},
        }
        if self.pushed:
            data["pushed"] = {name: dict(p) for name, p in sorted(self.pushed.items())}
        return data


@dataclass
class Lock:
    """The whole file: hosts by key, each with its models."""

    path: Path
    hosts: dict[str, HostLock] = field(default_factory=dict)
    found: bool = True  # False: the file does not exist yet (read with ``missing_ok``)
    # This run's entries (host key, server version, entry), laid again over the file as it is
    # when written: another build writing the same lock file meanwhile keeps its entries.
    added: list[tuple[str, str | None, LockEntry]] = field(default_factory=list, repr=False)
    added_pushes: list[tuple[str, str | None, str, Pushed]] = field(default_factory=list, repr=False)

    def host(self, key: str) -> HostLock | None:
        return self.hosts.get(key)

    def entry(self, key: str, model: str) -> LockEntry | None:
        h = self.hosts.get(key)
        return h.models.get(model) if h is not None else None

    def record_for(self, key: str, model: str, model_digest: str | None) -> dict[str, object] | None:
        """The entry as a build record, when it is about exactly this manifest."""
        e = self.entry(key, model)
        if e is None or not model_digest or e.model_digest != model_digest:
            return None
        return e.as_record()

    def put(self, key: str, server_version: str | None, entry: LockEntry) -> None:
        """Record ``entry``; the reference a model was shipped through stays while its digest does."""
        before = self.entry(key, entry.model)
        if entry.via is None and before is not None and before.model_digest == entry.model_digest:
            entry.via = before.via
        self._put(key, server_version, entry)
        self.added.append((key, server_version, entry))

    def put_push(self, key: str, server_version: str | None, reference: str, source: str, digest: str | None) -> None:
        """Record ``reference`` (a ``REGISTRY/NAMESPACE/NAME:TAG`` copy of ``source``) pushed from host ``key``."""
        pushed: Pushed = {"source": source, "digest": digest}
        self.hosts.setdefault(key, HostLock()).pushed[reference] = pushed
        self.added_pushes.append((key, server_version, reference, pushed))

    def _put(self, key: str, server_version: str | None, entry: LockEntry) -> None:
        h = self.hosts.setdefault(key, HostLock())
        h.server_version = server_version
        h.models[entry.model] = entry

    def text(self) -> str:
        data = {
            "lock_version": LOCK_VERSION,
            "hosts": {k: h.to_dict() for k, h in sorted(self.hosts.items())},
        }
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def write(self) -> None:
        """Write this run's entries into the file as it is now: read, change and write under the
        lock named after it (:func:`modelctl.common.files.locked_by_name`, as builds.json is locked), so that builds
        writing one lock file at once keep every entry."""
        try:
            with locked_by_name(self.path):
                current = read_lock(self.path, missing_ok=True)
                for key, server_version, entry in self.added:
                    current._put(key, server_version, entry)
                for key, server_version, reference, pushed in self.added_pushes:
                    h = current.hosts.setdefault(key, HostLock())
                    h.server_version = h.server_version or server_version
                    h.pushed[reference] = pushed
                write_atomic(self.path, current.text())
                self.hosts = current.hosts
        except OSError as exc:
            raise InvalidInput(f"cannot write the lock file: {exc.strerror or exc}", file=str(self.path)) from None


def read_lock(path: str | os.PathLike[str], *, missing_ok: bool = False) -> Lock:
    """Read a lock file; an absent one is empty with ``missing_ok`` (``build --lock`` creates it).

    Anything but the format of docs/lock.md is an InvalidInput naming the file and the place (a
    line and column for what JSON cannot hold: nesting, huge numbers; else the field)."""
    p = Path(path)
    if missing_ok and not p.exists():
        return Lock(p, found=False)
    data = _decode(read_bounded(p, LOCK_BYTES, what="lock file"), str(p))
    if not isinstance(data, dict) or not isinstance(data.get("hosts", {}), dict):
        raise InvalidInput("the lock file is not a modelctl lock (no `hosts` mapping)", file=str(p), line=1, column=1)
    version = data.get("lock_version")
    if type(version) is not int or version != LOCK_VERSION:  # `true == 1` in Python: a boolean is no version
        raise InvalidInput(
            f"lock_version {_shown(version)} is not one this modelctl reads ({LOCK_VERSION})",
            file=str(p),
            field="lock_version",
        )
    lock = Lock(p)
    for key, host in data["hosts"].items():
        where = f"hosts.{key}"
        if not isinstance(host, dict) or not isinstance(host.get("models", {}), dict):
            raise InvalidInput("not a mapping with a `models` mapping", file=str(p), field=where)
        _check_fields(host, {"server_version": _OPT_STR}, str(p), where)
        h = HostLock(_opt_str(host.get("server_version")), pushed=_pushed(host.get("pushed"), str(p), where))
        for model, entry in host.get("models", {}).items():
            _check_entry(entry, str(p), f"{where}.models.{model}")
            h.models[model] = LockEntry.from_dict(model, entry)
        lock.hosts[str(key)] = h
    return lock


def _pushed(value: object, file: str, where: str) -> dict[str, Pushed]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(_str_or_null_mapping(v) for v in value.values()):
        raise InvalidInput(f"is {_json_kind(value)}, not a mapping of mappings", file=file, field=f"{where}.pushed")
    return {str(k): dict(v) for k, v in value.items()}


def _str_or_null_mapping(value: object) -> bool:
    return isinstance(value, dict) and all(v is None or isinstance(v, str) for v in value.values())


class _BigNumber(ValueError):
    pass


def _small_int(text: str) -> int:
    """A lock holds digests as text and sizes of 64 bits at most: more than 20 digits is damage
    (and converting a 100,000-digit number costs seconds)."""
    if len(text.lstrip("-")) > 20:
        raise _BigNumber(f"an integer of {len(text.lstrip('-')):,} digits (a lock file holds none over 20)")
    return int(text)


_DECODER = json.JSONDecoder(parse_int=_small_int)
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+|[\[\]{}]')
_MAX_DEPTH = 64  # a lock nests 7 levels (hosts.H.models.M.base.blobs[])


def _decode(raw: bytes, file: str) -> Any:
    try:
        return _DECODER.decode(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput("the lock file is not UTF-8 text", file=file) from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"the lock file is not valid JSON: {exc.msg}", file=file, line=exc.lineno, column=exc.colno
        ) from None
    except _BigNumber as exc:
        line, column = _place(raw.decode("utf-8"), lambda tok, depth: tok[-1:].isdigit() and len(tok) > 20)
        raise InvalidInput(f"the lock file has {exc}", file=file, line=line, column=column) from None
    except (RecursionError, MemoryError):
        line, column = _place(raw.decode("utf-8"), lambda tok, depth: depth > _MAX_DEPTH)
        raise InvalidInput(
            f"the lock file nests lists or mappings more than {_MAX_DEPTH} levels deep",
            file=file,
            line=line,
            column=column,
        ) from None


def _place(text: str, found: Any) -> tuple[int | None, int | None]:
    """Line and column of the first JSON token (a string, a number, a bracket) for which
    ``found(token, depth)`` holds; strings are skipped whole, so a bracket in one is not one."""
    depth = 0
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok in "[{":
            depth += 1
        elif tok in "]}":
            depth -= 1
        if not tok.startswith('"') and found(tok, depth):
            before = text[: m.start()]
            return before.count("\n") + 1, m.start() - (before.rfind("\n") + 1) + 1
    return None, None


def _shown(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (bool, int, float, str)) or value is None else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _opt_str_or_none(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _str_mapping(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


_OPT_STR = (_opt_str_or_none, "a string or null")
_ENTRY_FIELDS: dict[str, tuple[Any, str]] = {
    **{k: _OPT_STR for k in ("profile", "model_digest", "fingerprint", "system_digest", "template_digest")},
    "quantization": _OPT_STR,
    "via": _OPT_STR,
    "base": (lambda v: v is None or isinstance(v, dict), "a mapping or null"),
    "files": (
        lambda v: v is None or (isinstance(v, dict) and all(_str_mapping(f) for f in v.values())),
        "a mapping of mappings of text",
    ),
    "parameters": (lambda v: v is None or isinstance(v, dict), "a mapping"),
    "context": (
        lambda v: v is None or (isinstance(v, dict) and all(x is None or type(x) is int for x in v.values())),
        "a mapping of whole numbers or null",
    ),
}
_BASE_FIELDS: dict[str, tuple[Any, str]] = {
    "name": _OPT_STR,
    "digest": _OPT_STR,
    "blobs": (lambda v: v is None or (isinstance(v, list) and all(isinstance(b, str) for b in v)), "a list of text"),
}


def _check_fields(
    data: Mapping[str, object], rules: Mapping[str, tuple[Callable[[Any], bool], str]], file: str, where: str
) -> None:
    for name, (ok, kind) in rules.items():
        if name in data and not ok(data[name]):
            raise InvalidInput(f"is {_json_kind(data[name])}, not {kind}", file=file, field=f"{where}.{name}")


def _check_entry(entry: Any, file: str, where: str) -> None:
    if not isinstance(entry, dict):
        raise InvalidInput(f"is {_json_kind(entry)}, not a mapping", file=file, field=where)
    _check_fields(entry, _ENTRY_FIELDS, file, where)
    if isinstance(entry.get("base"), dict):
        _check_fields(entry["base"], _BASE_FIELDS, file, f"{where}.base")


def _json_kind(value: Any) -> str:
    return json_type(value)


def make_entry(
    *,
    model: str,
    profile: Path | None,
    lock_dir: Path,
    request: CreateRequest,
    fingerprint: str,
    deployed: ShowResponse,
    tags: TagsResponse | None,
    base_show: ShowResponse | None,
    runtime_context: int | None,
) -> LockEntry:
    """The entry for ``model`` as deployed now (its /api/show, the /api/tags list, the base's show)."""
    from modelctl.memory.facts import facts_from_show  # plan imports this module and never writes entries

    facts = facts_from_show(deployed.copy(), None)
    base_name = request.get("from")
    base: LockBase | None = None
    if base_name:
        base = {
            "name": str(base_name),
            "digest": (find_entry(tags, str(base_name)) or {}).get("digest"),
            "blobs": sorted(modelfile_blobs(base_show)[0]) if base_show is not None else [],
        }
    files: dict[str, dict[str, str]] = {}
    for kind, key in _FILE_FIELDS:
        digests = request.get(key)
        if digests:
            files[kind] = dict(sorted(digests.items()))
    return LockEntry(
        model=model,
        profile=_relative(profile, lock_dir) if profile is not None else None,
        model_digest=(find_entry(tags, model) or {}).get("digest"),
        fingerprint=fingerprint,
        base=base,
        files=files,
        parameters=parse_parameters(deployed.get("parameters")),
        system_digest=text_digest(str(deployed.get("system") or "")),
        template_digest=text_digest(str(deployed.get("template") or "")),
        quantization=facts.quantization,
        context={"trained": facts.context_trained, "configured": facts.context_configured, "runtime": runtime_context},
    )


#: An entry's ``files`` keys, and the create request's field each comes from.
_FILE_FIELDS: tuple[tuple[str, Literal["files", "adapters", "draft_files"]], ...] = (
    ("from", "files"),
    ("adapters", "adapters"),
    ("draft", "draft_files"),
)


def _relative(path: Path, lock_dir: Path) -> str:
    try:
        return Path(os.path.relpath(path, lock_dir.resolve())).as_posix()
    except ValueError:  # pragma: no cover - another drive on Windows
        return path.as_posix()
