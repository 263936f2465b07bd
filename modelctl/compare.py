"""``compare``: the parameter table (no prompts) and the run matrix (with prompts).

Parameter table
    One column per profile; rows for the base model, every parameter any profile sets
    (num_ctx always; the whole catalogue with ``all_params``), system, template, messages,
    adapters, and — when a server answers and the models are built — what the server made
    (quantization, context length trained/configured, embedding length, parameter size).
    Every value carries its origin: this profile, a file it extends, ``--set``, the base
    model on the server, or Ollama's default for the server's version.

Run matrix
    profiles x prompts x seeds (x repeats). Cells run on a thread pool (``parallel``),
    profile by profile so that a model is not reloaded more than needed. Each cell keeps
    the output, metrics, time to first token and assertion results; flags mark
    non-deterministic outputs, reloads and truncation. If the server goes away mid-matrix
    the remaining cells are skipped and what finished is still reported.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelctl import params as P
from modelctl.errors import Diagnostic, ExitCode, ModelctlError, ServerUnreachable
from modelctl.output import human_bytes
from modelctl.prompts import AssertionResult, PromptCase, evaluate
from modelctl.run import RunResult, Target, build_request, execute

if TYPE_CHECKING:  # pragma: no cover
    from modelctl.profile import LoadedProfile
    from modelctl.server import OllamaClient

#: A load longer than this counts as "a load happened" (a warm model reports a few ms of
#: scheduling as load_duration; a real load takes hundreds of ms or more).
RELOAD_THRESHOLD_NS = 100_000_000

#: Runner options: a different value between two requests to the same weights reloads them.
RUNNER_OPTIONS = tuple(p.name for p in P.CATALOGUE if p.level == "load")

FLAG_NON_DETERMINISTIC = "non_deterministic"
FLAG_RELOADED = "reloaded"
FLAG_TRUNCATED = "truncated"
FLAGS = (FLAG_NON_DETERMINISTIC, FLAG_RELOADED, FLAG_TRUNCATED)
FLAG_HELP = {
    FLAG_NON_DETERMINISTIC: "same profile, prompt and seed gave different text",
    FLAG_RELOADED: "the model was loaded again after the first run (runner options differ between "
    "profiles sharing a base, or it was evicted)",
    FLAG_TRUNCATED: "generation stopped at the token limit (done_reason = length)",
}


# =========================================================================== helpers


def _version_tuple(version: str | None) -> tuple[int, int, int] | None:
    if not version:
        return None
    import re

    m = re.match(r"^\s*v?(\d+)\.(\d+)(?:\.(\d+))?", version)
    if not m:
        return None
    t = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    return None if t == (0, 0, 0) else t


def ollama_default(name: str, version: str | None) -> tuple[Any, str]:
    """Ollama's default for a parameter (for ``version`` when known) and how to read it."""
    param = P.BY_NAME[name]
    v = _version_tuple(version)
    if name == "repeat_penalty":
        if v is None:
            return 1.0, "Ollama default since 0.32.10 (1.1 before)"
        if v < (0, 32, 10):
            return 1.1, f"Ollama {version} default (1.0 from 0.32.10)"
        return 1.0, f"Ollama {version} default"
    if name == "draft_num_predict" and v is not None and v < (0, 30, 0):
        return None, f"not in Ollama {version} (added in 0.30.0)"
    where = f"Ollama {version} default" if v is not None else "Ollama default"
    if param.default is None:
        return None, f"{where}: {param.default_note}"
    return param.default, where


def format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(round(value, 6))
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def first_line(text: str, width: int = 48) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def median(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(statistics.median(vals)) if vals else None


def parse_show_parameters(text: str | None) -> dict[str, Any]:
    """``/api/show`` ``parameters`` as typed values (facts.py owns the parser)."""
    from modelctl.facts import parse_show_parameters as parse

    return parse(text)


def server_facts(show: dict[str, Any] | None) -> dict[str, Any]:
    """What the server made, from ``/api/show``: quantization, context and embedding lengths, size."""
    if not show:
        return {}
    from modelctl.facts import facts_from_show
    from modelctl.memory import estimate_or_none

    try:
        f = facts_from_show(show)
    except ModelctlError:
        return {}
    return {
        "memory": estimate_or_none(f, f.context_configured),
        "quantization": f.quantization,
        "parameter_size": f.parameter_size,
        "context_length_trained": f.context_trained,
        "context_length_configured": f.context_configured,
        "embedding_length": f.embedding_length,
        "architecture": f.architecture,
        "parameters": dict(f.parameters),
    }


# =========================================================================== parameter table


def _model_key(name: str) -> str:
    """Compare model names the way Ollama does: case-insensitive, ``:latest`` implied."""
    n = name.strip().lower()
    return n if ":" in n.rsplit("/", 1)[-1] else n + ":latest"


def runtime_contexts(ps: dict[str, Any] | None) -> dict[str, int]:
    """Model name -> the context its loaded runner uses (``/api/ps`` ``context_length``)."""
    out: dict[str, int] = {}
    for m in (ps or {}).get("models") or []:
        ctx = m.get("context_length")
        name = m.get("name") or m.get("model")
        if isinstance(ctx, int) and isinstance(name, str):
            out[_model_key(name)] = ctx
    return out


@dataclass
class Column:
    label: str
    ref: str
    profile: str | None  # path of the profile file
    model: str  # the model requests would name
    base: str | None
    built: bool | None = None  # None: not checked (no server)
    ephemeral: bool = False

    def to_dict(self) -> dict[str, Any]:
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

    def to_dict(self) -> dict[str, Any]:
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "group": self.group,
            "differs": self.differs,
            "cells": [c.to_dict() for c in self.cells],
        }


@dataclass
class ParamTable:
    columns: list[Column]
    rows: list[TableRow]
    server: dict[str, Any]  # {"host", "reachable", "version"}
    warnings: list[Diagnostic] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "table",
            "server": self.server,
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


def build_table(
    targets: Sequence[Target],
    *,
    all_params: bool = False,
    server: dict[str, Any] | None = None,
    shows: Sequence[dict[str, Any] | None] | None = None,
    ps: dict[str, Any] | None = None,
) -> ParamTable:
    """The parameter table for ``targets`` (profiles or model names).

    ``shows`` holds each column's ``/api/show`` answer (None: not built or no server);
    ``server`` is ``{"host", "reachable", "version"}``; ``ps`` is the server's ``/api/ps``
    answer, whose ``context_length`` is the context a loaded model really runs with.
    """
    server = server or {"host": None, "reachable": False, "version": None}
    version = server.get("version")
    shows = list(shows) if shows is not None else [t.show for t in targets]
    facts = [server_facts(s) for s in shows]
    columns = [
        Column(
            t.label,
            t.ref,
            t.profile_path,
            t.model,
            t.base,
            None if not server.get("reachable") else shows[i] is not None,
            t.ephemeral,
        )
        for i, t in enumerate(targets)
    ]
    rows: list[TableRow] = []

    # -- base model
    cells = []
    for t in targets:
        if t.loaded is not None:
            origin, src = _origin_of(t.loaded, "from")
            cells.append(TableCell(t.loaded.profile.from_, t.loaded.profile.from_, origin, src))
        else:
            # A plain model: its parent when the server names one, else the model itself.
            base = t.base or t.model
            cells.append(TableCell(base, base, "server", t.model))
    rows.append(TableRow("from", "base model", "model", cells))

    # -- parameters
    set_names: set[str] = {"num_ctx"}
    for t in targets:
        if t.loaded is not None:
            set_names.update(t.loaded.profile.parameters.as_dict())
        else:
            set_names.update(t.options)
    names = [p.name for p in P.CATALOGUE if all_params or p.name in set_names]
    for name in names:
        cells = []
        for t, f in zip(targets, facts, strict=True):
            own = t.loaded.profile.parameters.as_dict() if t.loaded is not None else dict(t.options)
            if name in own:
                if t.loaded is not None:
                    origin, src = _origin_of(t.loaded, f"parameters.{name}")
                else:
                    origin, src = "set", None
                cells.append(TableCell(own[name], format_value(own[name]), origin, src))
                continue
            inherited = (f.get("parameters") or {}).get(name) if f else None
            if inherited is not None:
                # Stored with the model on the server: inherited from its base model.
                cells.append(TableCell(inherited, format_value(inherited), "base", t.base or t.model))
                continue
            value, note = ollama_default(name, version)
            display = format_value(value) if value is not None else ("auto" if name == "num_ctx" else "unset")
            cells.append(TableCell(value, display, "default", note))
        rows.append(TableRow(f"parameters.{name}", name, "parameters", cells))

    # -- system, template, messages, adapters
    def text_row(key: str, label: str, describe: Callable[[str], str], inherited_label: str) -> None:
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
                cells.append(TableCell(None, inherited_label, "base" if t.loaded is not None else origin, t.base))
        rows.append(TableRow(key, label, "prompt", cells))

    text_row("system", "system", lambda v: f"{first_line(v, 40)} ({len(v)} chars)", "inherited")
    text_row("template", "template", lambda v: f"set ({len(v)} chars)", "inherited")

    cells = []
    for t, s in zip(targets, shows, strict=True):
        if t.loaded is not None:
            msgs = [{"role": m.role, "content": m.content} for m in t.loaded.profile.messages]
            origin, src = _origin_of(t.loaded, "messages")
            if not msgs:
                origin, src = "unset", None
        else:
            msgs = list((s or {}).get("messages") or [])
            origin, src = ("server", t.model) if s else ("unknown", None)
        disp = "none" if not msgs else f"{len(msgs)} ({', '.join(m['role'] for m in msgs)})"
        cells.append(TableCell(msgs, disp if len(disp) < 40 else f"{len(msgs)} messages", origin, src))
    rows.append(TableRow("messages", "messages", "prompt", cells))

    cells = []
    for t in targets:
        if t.loaded is not None:
            ads = list(t.loaded.profile.adapters)
            origin, src = _origin_of(t.loaded, "adapters") if ads else ("unset", None)
            cells.append(TableCell(ads, ", ".join(ads) if ads else "none", origin, src))
        else:
            cells.append(TableCell(None, "-", "unknown", None))
    rows.append(TableRow("adapters", "adapters", "prompt", cells))

    # -- what the server made
    if server.get("reachable") and any(s is not None for s in shows):

        def fact_row(key: str, label: str, fn: Callable[[dict[str, Any], Target], Any]) -> None:
            cells = []
            for t, f, s in zip(targets, facts, shows, strict=True):
                if s is None:
                    cells.append(TableCell(None, "not built", "server", t.model))
                    continue
                v = fn(f, t)
                if isinstance(v, tuple):  # (value, display)
                    cells.append(TableCell(v[0], v[1], "server", t.model))
                    continue
                shown = v if isinstance(v, str) else format_value(v)
                cells.append(TableCell(v, shown, "server", t.model))
            rows.append(TableRow(f"server.{key}", label, "server", cells))

        fact_row("quantization", "quantization", lambda f, t: f.get("quantization"))

        running = runtime_contexts(ps)

        def ctx(f: dict[str, Any], t: Target) -> tuple[dict[str, Any], str]:
            trained = f.get("context_length_trained")
            configured = f.get("context_length_configured")
            if configured is None and t.ephemeral:
                configured = t.options.get("num_ctx")
            runtime = running.get(_model_key(t.model))
            tr = str(trained) if trained is not None else "?"
            co = str(configured) if configured is not None else "auto"
            shown = f"{tr} / {co}" + (f" / {runtime} running" if runtime is not None else "")
            return {"trained": trained, "configured": configured, "runtime": runtime}, shown

        fact_row("context_length", "context length", ctx)
        fact_row("embedding_length", "embedding length", lambda f, t: f.get("embedding_length"))
        fact_row("parameter_size", "parameter size", lambda f, t: f.get("parameter_size"))

        def memory(f: dict[str, Any], t: Target) -> tuple[Any, str]:
            est = f.get("memory")
            if not est:
                return None, "-"
            return est["total_bytes"], f"{human_bytes(est['total_bytes'])} at num_ctx {est['num_ctx']}"

        fact_row("memory", "memory (estimate)", memory)
    return ParamTable(columns, rows, server)


# =========================================================================== run matrix


@dataclass
class Cell:
    """One request of the matrix: profile x prompt x seed x repeat."""

    id: int
    profile: int  # index into the matrix's targets
    prompt: int  # index into the matrix's cases
    seed: int | None  # the --seeds value (None: the profile's own)
    repeat: int  # 1-based
    status: str = "pending"  # pending | ok | error | skipped
    result: RunResult | None = None
    error: Diagnostic | None = None
    assertions: list[AssertionResult] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    order: int | None = None  # execution order (0-based) among cells that ran
    loaded: bool = False  # the server (re)loaded the model for this cell
    started: float | None = None  # seconds since the matrix started
    finished: float | None = None

    @property
    def passed(self) -> bool | None:
        if not self.assertions:
            return None
        return all(a.passed for a in self.assertions)

    def to_dict(self, targets: Sequence[Target], cases: Sequence[PromptCase]) -> dict[str, Any]:
        r = self.result
        return {
            "id": self.id,
            "profile": targets[self.profile].label,
            "prompt": cases[self.prompt].index,
            "prompt_label": cases[self.prompt].label,
            "seed": self.seed,
            "repeat": self.repeat,
            "status": self.status,
            "output": r.text if r else None,
            "eval_count": r.eval_count if r else None,
            "prompt_eval_count": r.metrics.get("prompt_eval_count") if r else None,
            "tokens_per_s": None if r is None or r.tokens_per_s is None else round(r.tokens_per_s, 2),
            "ttft_ms": None if r is None or r.ttft_s is None else round(r.ttft_s * 1000, 3),
            "load_ms": None if r is None or r.load_s is None else round(r.load_s * 1000, 3),
            "total_ms": None
            if r is None or "total_duration" not in r.metrics
            else round(r.metrics["total_duration"] / 1e6, 3),
            "wall_ms": None if r is None else round(r.wall_s * 1000, 3),
            "done_reason": r.done_reason if r else None,
            "assertions": [a.to_dict() for a in self.assertions],
            "passed": self.passed,
            "flags": list(self.flags),
            "loaded": self.loaded,
            "error": self.error.to_dict() if self.error else None,
            "order": self.order,
            "started_ms": None if self.started is None else round(self.started * 1000, 3),
        }


@dataclass
class ProfileSummary:
    label: str
    cells: int
    ok: int
    errors: int
    skipped: int
    median_tokens_per_s: float | None
    median_ttft_ms: float | None
    median_load_ms: float | None
    assertions_passed: int
    assertions_total: int
    flags: dict[str, int]

    @property
    def pass_rate(self) -> float | None:
        return self.assertions_passed / self.assertions_total if self.assertions_total else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.label,
            "cells": self.cells,
            "ok": self.ok,
            "errors": self.errors,
            "skipped": self.skipped,
            "median_tokens_per_s": None if self.median_tokens_per_s is None else round(self.median_tokens_per_s, 2),
            "median_ttft_ms": None if self.median_ttft_ms is None else round(self.median_ttft_ms, 3),
            "median_load_ms": None if self.median_load_ms is None else round(self.median_load_ms, 3),
            "assertions_passed": self.assertions_passed,
            "assertions_total": self.assertions_total,
            "pass_rate": None if self.pass_rate is None else round(self.pass_rate, 4),
            "flags": self.flags,
        }


@dataclass
class Matrix:
    targets: list[Target]
    cases: list[PromptCase]
    seeds: list[int | None]
    repeat: int
    parallel: int
    cells: list[Cell]
    server: dict[str, Any]
    wall_s: float = 0.0
    aborted: ModelctlError | None = None  # the error that stopped the matrix early
    interrupted: bool = False
    warnings: list[Diagnostic] = field(default_factory=list)
    table: ParamTable | None = None

    # -- verdicts
    def summaries(self) -> list[ProfileSummary]:
        out = []
        for i, t in enumerate(self.targets):
            cells = [c for c in self.cells if c.profile == i]
            ok = [c for c in cells if c.status == "ok" and c.result is not None]
            results = [c.result for c in ok if c.result is not None]
            asserts = [a for c in ok for a in c.assertions]
            out.append(
                ProfileSummary(
                    t.label,
                    len(cells),
                    len(ok),
                    sum(1 for c in cells if c.status == "error"),
                    sum(1 for c in cells if c.status == "skipped"),
                    median([r.tokens_per_s for r in results]),
                    median([None if r.ttft_s is None else r.ttft_s * 1000 for r in results]),
                    median([None if r.load_s is None else r.load_s * 1000 for r in results]),
                    sum(1 for a in asserts if a.passed),
                    len(asserts),
                    {f: sum(1 for c in cells if f in c.flags) for f in FLAGS},
                )
            )
        return out

    @property
    def failed_assertions(self) -> int:
        return sum(1 for c in self.cells for a in c.assertions if not a.passed)

    def exit_code(self) -> ExitCode:
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.aborted is not None:
            return self.aborted.exit_code
        errors = [c for c in self.cells if c.status == "error"]
        if errors:
            # A cell failed on the server (not reachable -> 4, refused -> 5).
            codes = {c.error.code for c in errors if c.error is not None}
            return ExitCode.UNREACHABLE if ServerUnreachable.code in codes else ExitCode.SERVER
        if self.failed_assertions:
            return ExitCode.INVALID
        return ExitCode.OK

    def errors(self) -> list[Diagnostic]:
        out: list[Diagnostic] = []
        if self.aborted is not None:
            done = sum(1 for c in self.cells if c.status == "ok")
            out.append(
                Diagnostic(
                    self.aborted.code,
                    f"{self.aborted.message} — stopped after {done} of {len(self.cells)} cells; "
                    "the finished cells are reported",
                )
            )
        seen = set()
        for c in self.cells:
            if c.status == "error" and c.error is not None and c.error.message not in seen:
                seen.add(c.error.message)
                if self.aborted is None or c.error.message != self.aborted.message:
                    out.append(c.error)
        if self.interrupted:
            out.append(Diagnostic("interrupted", "interrupted (Ctrl-C): the finished cells are reported"))
        failed = self.failed_assertions
        if failed:
            total = sum(len(c.assertions) for c in self.cells)
            cells = sum(1 for c in self.cells if c.passed is False)
            msg = f"{failed} of {total} assertions failed in {cells} cell(s)"
            out.append(Diagnostic("check_failed", msg))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "matrix",
            "server": self.server,
            "profiles": [t.to_dict() for t in self.targets],
            "prompts": [c.to_dict() for c in self.cases],
            "seeds": self.seeds,
            "repeat": self.repeat,
            "parallel": self.parallel,
            "wall_ms": round(self.wall_s * 1000, 3),
            "complete": self.aborted is None
            and not self.interrupted
            and all(c.status != "skipped" for c in self.cells),
            "cells": [c.to_dict(self.targets, self.cases) for c in self.cells],
            "summary": [s.to_dict() for s in self.summaries()],
            "flags": {f: FLAG_HELP[f] for f in FLAGS},
            "table": self.table.to_dict() if self.table is not None else None,
        }


def plan_cells(n_targets: int, n_cases: int, seeds: Sequence[int | None], repeat: int) -> list[Cell]:
    """Profile-major order: all of one profile's cells run before the next profile's."""
    cells: list[Cell] = []
    for p in range(n_targets):
        for q in range(n_cases):
            for s in seeds:
                for r in range(1, repeat + 1):
                    cells.append(Cell(len(cells), p, q, s, r))
    return cells


def effective_seed(target: Target, cell_seed: int | None) -> int | None:
    """The seed a cell ran with, when known (an explicit seed, the profile's, or the model's)."""
    if cell_seed is not None:
        return cell_seed
    if "seed" in target.options:
        return int(target.options["seed"])
    if target.loaded is not None:
        s = target.loaded.profile.parameters.as_dict().get("seed")
        if s is not None:
            return int(s)
    if target.show:
        s = parse_show_parameters(target.show.get("parameters")).get("seed")
        if s is not None:
            return int(s)
    return None


def runner_group(target: Target) -> str:
    """Targets in one group share weights on the server (same base), hence one runner."""
    if target.ephemeral:
        return target.model
    return target.base or target.model


def runner_conflicts(targets: Sequence[Target]) -> list[Diagnostic]:
    """Profiles sharing a base whose runner options differ: Ollama reloads between them."""
    groups: dict[str, list[Target]] = {}
    for t in targets:
        groups.setdefault(runner_group(t), []).append(t)
    out = []
    for base, ts in groups.items():
        if len(ts) < 2:
            continue
        for name in RUNNER_OPTIONS:
            vals = [runner_options(t)[name] for t in ts]
            if len({json.dumps(v) for v in vals}) > 1:
                shown = ", ".join(
                    f"{t.label}={format_value(v) if v is not None else 'default'}"
                    for t, v in zip(ts, vals, strict=True)
                )
                out.append(
                    Diagnostic(
                        "runner_options",
                        f"profiles sharing base {base} differ in the runner option {name} ({shown}): "
                        "Ollama reloads the model when requests switch between them",
                        field=f"parameters.{name}",
                    )
                )
    return out


def runner_options(target: Target) -> dict[str, Any]:
    """The runner (load-time) options a target's requests run with, as far as modelctl knows."""
    params: dict[str, Any] = {}
    if target.loaded is not None:
        params.update(target.loaded.profile.parameters.as_dict())
    params.update(target.options)
    return {k: params.get(k) for k in RUNNER_OPTIONS}


def flag_cells(matrix: Matrix) -> None:
    """Set the non-deterministic, reloaded and truncated flags on finished cells.

    A cell *loaded* when its load_duration reached RELOAD_THRESHOLD_NS. The load is a
    *reload* when the same profile ran before (the model was evicted or its runner
    replaced), or when another profile on the same base ran before with different
    runner options (Ollama keys runners by weights and reloads on a runner-option change).
    A profile's first load on a base nobody used yet is a cold start, not a reload.
    """
    ran = sorted(
        (c for c in matrix.cells if c.status == "ok" and c.result is not None),
        key=lambda c: c.order if c.order is not None else 0,
    )
    for c in ran:
        assert c.result is not None
        c.loaded = (c.result.metrics.get("load_duration") or 0) >= RELOAD_THRESHOLD_NS
        if not c.loaded:
            continue
        start = c.started if c.started is not None else 0.0
        target = matrix.targets[c.profile]
        group, opts = runner_group(target), runner_options(target)
        for o in ran:
            if o is c:
                continue
            if o.profile == c.profile:
                # The model was ready (an earlier cell had finished) and yet loaded again.
                if o.finished is not None and o.finished <= start:
                    c.flags.append(FLAG_RELOADED)
                    break
            else:
                other = matrix.targets[o.profile]
                if (
                    runner_group(other) == group
                    and runner_options(other) != opts
                    and o.started is not None
                    and o.started < start
                ):
                    c.flags.append(FLAG_RELOADED)
                    break
    for c in ran:
        assert c.result is not None
        if c.result.done_reason == "length":
            c.flags.append(FLAG_TRUNCATED)
    by_key: dict[tuple[int, int, int], list[Cell]] = {}
    for c in ran:
        seed = effective_seed(matrix.targets[c.profile], c.seed)
        if seed is None or seed < 0:
            continue
        by_key.setdefault((c.profile, c.prompt, seed), []).append(c)
    for group_cells in by_key.values():
        if len({c.result.text for c in group_cells if c.result is not None}) > 1:
            for c in group_cells:
                c.flags.append(FLAG_NON_DETERMINISTIC)
    for c in matrix.cells:
        c.flags.sort(key=FLAGS.index)


class Cancelled(Exception):
    """A cell stopped because the matrix was interrupted or aborted."""


def run_matrix(
    client: OllamaClient,
    targets: Sequence[Target],
    cases: Sequence[PromptCase],
    *,
    seeds: Sequence[int | None] = (None,),
    repeat: int = 1,
    parallel: int = 1,
    server: dict[str, Any] | None = None,
    progress: Callable[[int, int, Cell], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Matrix:
    """Run every cell; never raises for a server failure (the matrix records it).

    KeyboardInterrupt stops scheduling, lets running cells end at their next chunk, and
    returns the matrix with ``interrupted`` set.
    """
    seeds = list(seeds) or [None]
    matrix = Matrix(
        list(targets),
        list(cases),
        seeds,
        repeat,
        parallel,
        plan_cells(len(targets), len(cases), seeds, repeat),
        server or {"host": client.display_host, "reachable": True, "version": None},
    )
    matrix.warnings.extend(runner_conflicts(targets))
    stop = threading.Event()
    order_lock = threading.Lock()
    counter = [0]

    def run_cell(cell: Cell) -> Cell:
        if stop.is_set():
            cell.status = "skipped"
            return cell
        target = matrix.targets[cell.profile]
        case = matrix.cases[cell.prompt]
        body = build_request(target, case.prompt, system=case.system, seed=cell.seed)
        with order_lock:
            cell.order = counter[0]
            counter[0] += 1
            cell.started = clock() - start
        res = RunResult(target.endpoint, target.model)

        def on_token(_piece: str) -> None:
            if stop.is_set():
                raise Cancelled()

        try:
            try:
                execute(client, body, on_token=on_token, clock=clock, result=res)
            finally:
                cell.finished = clock() - start
        except Cancelled:
            cell.status = "skipped"
            cell.result = None
            return cell
        except ServerUnreachable as exc:
            cell.status = "error"
            cell.error = exc.diagnostic()
            if matrix.aborted is None:
                matrix.aborted = exc
            stop.set()
            return cell
        except ModelctlError as exc:
            cell.status = "error"
            cell.error = exc.diagnostic()
            # One request failing is the request's problem; a server that no longer answers
            # at all is everybody's: ask it, and stop the matrix if it is gone.
            try:
                client.version()
            except ModelctlError as gone:
                if matrix.aborted is None:
                    matrix.aborted = gone
                stop.set()
            return cell
        cell.result = res
        cell.status = "ok"
        cell.assertions = evaluate(case.assertions, res.text, res.eval_count)
        return cell

    start = clock()
    total = len(matrix.cells)
    done_lock = threading.Lock()
    done = [0]

    def finish(cell: Cell) -> None:
        with done_lock:
            done[0] += 1
            if progress is not None:
                progress(done[0], total, cell)

    if parallel <= 1:
        # No pool: a thread hand-off per cell costs more than the cell's own bookkeeping.
        try:
            for cell in matrix.cells:
                if stop.is_set():
                    break
                finish(run_cell(cell))
        except KeyboardInterrupt:
            matrix.interrupted = True
            stop.set()
    else:
        pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="compare")
        futures = [pool.submit(lambda c: finish(run_cell(c)), cell) for cell in matrix.cells]
        try:
            # Workers report progress themselves; the main thread only wakes to notice Ctrl-C.
            while wait(futures, timeout=0.5).not_done:
                pass
            for fut in futures:
                fut.result()  # re-raise a bug in a worker instead of hiding it
        except KeyboardInterrupt:
            matrix.interrupted = True
            stop.set()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    for c in matrix.cells:
        if c.status == "pending":
            c.status = "skipped"
    matrix.wall_s = clock() - start
    flag_cells(matrix)
    return matrix
