"""The ``compare`` parameter table: one column per profile, every value with its origin.

Rows for the base model, every parameter any profile sets (num_ctx always; the whole
catalogue with ``all_params``), system, template, messages, adapters, and — when a server
answers and the models are built — what the server made (quantization, context length
trained/configured/running, embedding length, parameter size, memory). Every value carries
its origin: this profile, a file it extends, ``--set``, the base model on the server, or
Ollama's default for the server's version.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from modelctl.common.jsontypes import JSONObject
from modelctl.common.units import format_value, human_bytes
from modelctl.errors import Diagnostic, ExitCode, JobResult
from modelctl.jobs.run import Target
from modelctl.jobs.show import deployed_memory
from modelctl.memory.effective import (
    ASSUMED,
    Resolution,
    Resolved,
    ServerContext,
    model_from_show,
    resolve,
    server_context,
    unknown_model,
)
from modelctl.memory.facts import ModelFacts, facts_from_show
from modelctl.ollama.hosts import HostFacts
from modelctl.ollama.server import ServerInfo
from modelctl.ollama.wire import model_key
from modelctl.profile import params as P
from modelctl.profile.profile import LoadedProfile

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.ollama.shapes import ChatMessage, PsResponse, ShowMessage, ShowResponse, TagsEntry
    from modelctl.profile.params import Params

# =========================================================================== helpers


def first_line(text: str, width: int = 48) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def runtime_contexts(ps: PsResponse | None) -> dict[str, int]:
    """Model name -> the context its loaded runner uses (``/api/ps`` ``context_length``)."""
    out: dict[str, int] = {}
    for m in (ps or {}).get("models") or []:
        ctx = m.get("context_length")
        name = m.get("name") or m.get("model")
        if isinstance(ctx, int) and isinstance(name, str):
            out[model_key(name)] = ctx
    return out


# =========================================================================== parameter table


@dataclass
class Column:
    label: str
    ref: str
    profile: str | None  # path of the profile file
    model: str  # the model requests would name
    base: str | None
    built: bool | None = None  # None: not checked (no server)
    ephemeral: bool = False

    def to_dict(self) -> JSONObject:
        return {
            "label": self.label,
            "ref": self.ref,
            "profile": self.profile,
            "model": self.model,
            "base": self.base,
            "built": self.built,
            "ephemeral": self.ephemeral,
        }


@dataclass
class TableCell:
    value: Any
    display: str
    origin: str  # profile | extends | set | base | default | server | unset | unknown
    source: str | None = None  # file (profile/extends), model (base/server), version note (default)

    def tag(self) -> str:
        """A short origin tag for text and markdown ("" when the value speaks for itself)."""
        if self.origin == "extends":
            return Path(self.source).name if self.source else "extends"
        if self.origin == "set":
            return "--set"
        if self.origin == "base":
            return "" if self.value is None else "base model"
        if self.origin == "default":
            return "default"
        return ""

    def to_dict(self) -> JSONObject:
        return {"value": self.value, "display": self.display, "origin": self.origin, "source": self.source}


@dataclass
class TableRow:
    key: str
    label: str
    group: str  # "model" | "parameters" | "prompt" | "server"
    cells: list[TableCell]

    @property
    def differs(self) -> bool:
        # "not built" is not a value: server rows compare the models that exist.
        seen = {
            json.dumps(c.value, sort_keys=True, default=str)
            for c in self.cells
            if not (self.group == "server" and c.display == "not built")
        }
        return len(seen) > 1

    def to_dict(self) -> JSONObject:
        return {
            "key": self.key,
            "label": self.label,
            "group": self.group,
            "differs": self.differs,
            "cells": [c.to_dict() for c in self.cells],
        }


@dataclass
class ParamTable(JobResult):
    columns: list[Column]
    rows: list[TableRow]
    server: ServerInfo
    warnings: list[Diagnostic] = field(default_factory=list)
    # What its server did, when that counts: on a host of several (compare_hosts), unreachable 4 or a
    # failed request 5; one server's table is a note and exit 0 (docs/compare.md).
    server_code: ExitCode = ExitCode.OK

    def outcome_codes(self) -> list[ExitCode]:
        return [self.server_code]

    def to_dict(self) -> JSONObject:
        return {
            "kind": "table",
            "server": self.server.to_dict(),
            "columns": [c.to_dict() for c in self.columns],
            "rows": [r.to_dict() for r in self.rows],
        }


def _origin_of(loaded: LoadedProfile, key: str) -> tuple[str, str | None]:
    src = loaded.origins.get(key)
    if src is None:
        return "default", None
    if src == "--set":
        return "set", None
    try:
        same = Path(src).resolve() == Path(loaded.path).resolve()
    except OSError:
        same = False
    return ("profile", str(loaded.path)) if same else ("extends", src)


def _server_facts(show: ShowResponse | None, tags_entry: TagsEntry | None, name: str) -> ModelFacts | None:
    """What the server made, from ``/api/show`` and the model's ``/api/tags`` entry, read as ``show``
    reads them; None when the model is not built (or no server)."""
    return facts_from_show(show, tags_entry, name=name) if show else None


def build_table(
    targets: Sequence[Target],
    *,
    all_params: bool = False,
    server: ServerInfo | None = None,
    shows: Sequence[ShowResponse | None] | None = None,
    ps: PsResponse | None = None,
    host: HostFacts | None = None,
    tags_entries: Sequence[TagsEntry | None] | None = None,
) -> ParamTable:
    """The parameter table for ``targets`` (profiles or model names).

    ``shows`` holds each column's ``/api/show`` answer (None: not built or no server);
    ``ps`` is the server's ``/api/ps`` answer, whose ``context_length`` is the context a
    loaded model really runs with; ``host`` what an inventory declares of the server (its
    KV cache type, slots, default context: the memory row counts with them); ``tags_entries`` each
    column's ``/api/tags`` entry (the model's size, for a server whose ``/api/show`` lists no tensors).
    """
    server = server or ServerInfo(None)
    shows = list(shows) if shows is not None else [t.show for t in targets]
    entries = list(tags_entries) if tags_entries is not None else [None] * len(targets)
    facts = [_server_facts(s, e, t.model) for s, e, t in zip(shows, entries, targets, strict=True)]
    columns = [
        Column(
            t.label,
            t.ref,
            t.profile_path,
            t.model,
            t.base,
            None if not server.reachable else s is not None,
            t.ephemeral,
        )
        for t, s in zip(targets, shows, strict=True)
    ]
    rows = [_base_row(targets)]
    rows += _parameter_rows(targets, shows, server.version, all_params)
    rows.append(_text_row(targets, shows, "system", lambda v: f"{first_line(v, 40)} ({len(v)} chars)"))
    rows.append(_text_row(targets, shows, "template", lambda v: f"set ({len(v)} chars)"))
    rows.append(_messages_row(targets, shows))
    rows.append(_adapters_row(targets))
    if server.reachable and any(s is not None for s in shows):
        rows += _server_rows(targets, facts, ps, server.version, host or HostFacts())
    return ParamTable(columns, rows, server)


def _base_row(targets: Sequence[Target]) -> TableRow:
    cells = []
    for t in targets:
        if t.loaded is not None:
            origin, src = _origin_of(t.loaded, "from")
            cells.append(TableCell(t.loaded.profile.from_, t.loaded.profile.from_, origin, src))
        else:
            # A plain model: its parent when the server names one, else the model itself.
            base = t.base or t.model
            cells.append(TableCell(base, base, "server", t.model))
    return TableRow("from", "base model", "model", cells)


def _own_parameters(t: Target) -> Params:
    return t.loaded.profile.parameters.as_dict() if t.loaded is not None else dict(t.options)


def _resolution(t: Target, show: ShowResponse | None, server: ServerContext) -> Resolution:
    """Every parameter of a column as the resolver finds it (modelctl.memory.effective): the profile or
    ``--set`` over what the model stores on the server over Ollama's default for the version."""
    name = t.base or t.model
    model = model_from_show(name, show) if show else unknown_model(name, "not built")
    request = dict(t.options) if t.loaded is None else {}
    return resolve(model, server, profile=t.loaded, request=request)


def _parameter_rows(
    targets: Sequence[Target], shows: Sequence[ShowResponse | None], version: str | None, all_params: bool
) -> list[TableRow]:
    set_names: set[str] = {"num_ctx"}
    for t in targets:
        set_names.update(_own_parameters(t))
    ctx = server_context(version, reachable=version is not None)
    resolutions = [_resolution(t, s, ctx) for t, s in zip(targets, shows, strict=True)]
    rows = []
    for name in (p.name for p in P.CATALOGUE if all_params or p.name in set_names):
        cells = [_parameter_cell(t, r.options[name]) for t, r in zip(targets, resolutions, strict=True)]
        rows.append(TableRow(f"parameters.{name}", name, "parameters", cells))
    return rows


def _parameter_cell(t: Target, opt: Resolved) -> TableCell:
    """The value the layers give (before Ollama's adjustments) and the table's tag for its source."""
    value, src = opt.requested, opt.source
    if src.kind in ("profile", "extends", "set") and t.loaded is not None:
        origin, where = _origin_of(t.loaded, f"parameters.{opt.name}")
        return TableCell(value, format_value(value), origin, where)
    if src.kind in ("set", "request"):
        return TableCell(value, format_value(value), "set", None)
    if src.kind == "base":
        # Stored with the model on the server: inherited from its base model.
        return TableCell(value, format_value(value), "base", t.base or t.model)
    if opt.name == "num_ctx" and src.basis == ASSUMED:
        return TableCell(None, "auto", "default", src.text)  # the server picks it (OLLAMA_CONTEXT_LENGTH, VRAM)
    return TableCell(value, format_value(value) if value is not None else "unset", "default", src.text)


def _text_row(
    targets: Sequence[Target],
    shows: Sequence[ShowResponse | None],
    key: Literal["system", "template"],
    describe: Callable[[str], str],
) -> TableRow:
    cells = []
    for t, s in zip(targets, shows, strict=True):
        if t.loaded is not None:
            value = getattr(t.loaded.profile, key)
            origin, src = _origin_of(t.loaded, key)
        else:
            value = (s or {}).get(key) or None
            origin, src = ("server", t.model) if value else ("unknown", None)
        if value:
            cells.append(TableCell(value, describe(value), origin, src))
        else:
            cells.append(TableCell(None, "inherited", "base" if t.loaded is not None else origin, t.base))
    return TableRow(key, key, "prompt", cells)


def _messages_row(targets: Sequence[Target], shows: Sequence[ShowResponse | None]) -> TableRow:
    cells = []
    for t, s in zip(targets, shows, strict=True):
        msgs: list[ChatMessage] | list[ShowMessage]
        if t.loaded is not None:
            msgs = [{"role": m.role, "content": m.content} for m in t.loaded.profile.messages]
            origin, src = _origin_of(t.loaded, "messages") if msgs else ("unset", None)
        else:
            msgs = list((s or {}).get("messages") or [])
            origin, src = ("server", t.model) if s else ("unknown", None)
        disp = "none" if not msgs else f"{len(msgs)} ({', '.join(m['role'] for m in msgs)})"
        cells.append(TableCell(msgs, disp if len(disp) < 40 else f"{len(msgs)} messages", origin, src))
    return TableRow("messages", "messages", "prompt", cells)


def _adapters_row(targets: Sequence[Target]) -> TableRow:
    cells = []
    for t in targets:
        if t.loaded is None:
            cells.append(TableCell(None, "-", "unknown", None))
            continue
        ads = list(t.loaded.profile.adapters)
        origin, src = _origin_of(t.loaded, "adapters") if ads else ("unset", None)
        cells.append(TableCell(ads, ", ".join(ads) if ads else "none", origin, src))
    return TableRow("adapters", "adapters", "prompt", cells)


FactValue = Callable[[ModelFacts, Target], Any]


def _configured_context(f: ModelFacts, t: Target) -> int | None:
    """The num_ctx the model stores, else the one an ephemeral target sends with each request."""
    if f.context_configured is None and t.ephemeral:
        sent = t.options.get("num_ctx")
        return sent if isinstance(sent, int) else None
    return f.context_configured


def _server_rows(
    targets: Sequence[Target],
    facts: Sequence[ModelFacts | None],
    ps: PsResponse | None,
    version: str | None,
    host: HostFacts,
) -> list[TableRow]:
    running = runtime_contexts(ps)

    def context(f: ModelFacts, t: Target) -> tuple[dict[str, int | None], str]:
        configured = _configured_context(f, t)
        runtime = running.get(model_key(t.model))
        tr = str(f.context_trained) if f.context_trained is not None else "?"
        co = str(configured) if configured is not None else "auto"
        shown = f"{tr} / {co}" + (f" / {runtime} running" if runtime is not None else "")
        return {"trained": f.context_trained, "configured": configured, "runtime": runtime}, shown

    def memory(f: ModelFacts, t: Target) -> tuple[Any, str]:
        # show's figure (one function: the host's declared settings, by the rules of the server's version)
        est, why = deployed_memory(f, t.model, _configured_context(f, t) or host.context_length, host, version)
        if est is None:
            return None, f"- ({why})" if why else "-"
        ours = est.ollama_total_bytes
        beside = f" (Ollama's {human_bytes(ours)})" if ours is not None and ours != est.total_bytes else ""
        return est.total_bytes, f"{human_bytes(est.total_bytes)}{beside} at num_ctx {est.num_ctx}"

    fact_rows: list[tuple[str, str, FactValue]] = [
        ("quantization", "quantization", lambda f, t: f.quantization),
        ("context_length", "context length", context),
        ("embedding_length", "embedding length", lambda f, t: f.embedding_length),
        ("parameter_size", "parameter size", lambda f, t: f.parameter_size),
        ("memory", "memory (estimate)", memory),
    ]
    return [_fact_row(targets, facts, key, label, fn) for key, label, fn in fact_rows]


def _fact_row(
    targets: Sequence[Target], facts: Sequence[ModelFacts | None], key: str, label: str, fn: FactValue
) -> TableRow:
    cells = []
    for t, f in zip(targets, facts, strict=True):
        if f is None:
            cells.append(TableCell(None, "not built", "server", t.model))
            continue
        v = fn(f, t)
        if isinstance(v, tuple):  # (value, display)
            cells.append(TableCell(v[0], v[1], "server", t.model))
        else:
            cells.append(TableCell(v, v if isinstance(v, str) else format_value(v), "server", t.model))
    return TableRow(f"server.{key}", label, "server", cells)
